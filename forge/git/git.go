// Package git runs the git command-line client on behalf of Rampart: resolving refs and listing
// the branches of a remote repository, reading one file at an exact commit (through a Cache of
// bare repositories), and checking out an exact commit into an empty directory.
//
// Git is always started with explicit arguments, never through a shell, and with an environment
// built from scratch: system and user configuration are ignored (GIT_CONFIG_NOSYSTEM, an empty
// HOME and GIT_CONFIG_GLOBAL=/dev/null), git never prompts for credentials, and only the file,
// https, ssh and http transports are allowed, so that "ext::" and other helpers cannot run
// commands. Repository URLs and refs are checked before they reach git, so that a value such as
// "--upload-pack=…" can never be taken for an option. Credentials embedded in a repository URL
// are only ever passed to git on its command line, never written to a repository's
// configuration, and removed from error messages.
//
// Errors the user can fix (a wrong URL, an unknown ref, a missing file) are *rampart.Error values;
// anything else is an internal error that carries git's standard error output.
package git

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// AllowedProtocols is the value of GIT_ALLOW_PROTOCOL for every git process: the transports
// Rampart lets git use. Anything else, notably "ext::" (which runs a command), is refused by git
// itself even if a URL slipped past CheckURL.
const AllowedProtocols = "file:https:ssh:http"

// maxStderr bounds how much of git's standard error is kept, and maxErrText how much of it goes
// into an error, so that a chatty or hostile server cannot fill memory or logs.
const (
	maxStderr  = 64 << 10
	maxErrText = 2 << 10
)

// maxListOutput bounds the output of ls-remote: far beyond any real repository's refs, small
// enough that a hostile server cannot exhaust memory.
const maxListOutput = 64 << 20

// waitDelay is how long Wait waits for git's children (ssh, remote helpers) to let go of its
// pipes after git was killed.
const waitDelay = 5 * time.Second

// passEnv lists the variables of the server's own environment that git gets: where programs
// are, where temporary files go, and how the network is reached. Everything else — GIT_DIR,
// GIT_CONFIG_PARAMETERS, GIT_SSH_COMMAND set by someone else — is left out on purpose.
var passEnv = [...]string{
	"PATH", "TMPDIR", "SSH_AUTH_SOCK",
	"HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY",
	"https_proxy", "http_proxy", "no_proxy", "all_proxy",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
}

var commitRE = regexp.MustCompile(`^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$`)

// IsCommit reports whether s looks like a full commit id: 40 (SHA-1) or 64 (SHA-256) hex digits.
// Abbreviated ids are not accepted, because a remote cannot be asked about them.
func IsCommit(s string) bool { return commitRE.MatchString(s) }

// CheckURL returns an EINVALID *rampart.Error unless repoURL is a repository address Rampart
// lets git use: an https, http, ssh or file URL, an scp-like "user@host:path", or an absolute
// local path. It refuses values that git could read as an option (a leading "-", also in the
// host or user part), control characters, and remote-helper syntax such as "ext::…".
func CheckURL(repoURL string) error {
	invalid := func(format string, args ...any) error {
		return rampart.Errorf(rampart.EINVALID, format, args...).
			WithDetail("use an https://, ssh:// or file:// URL, user@host:path, or an absolute path")
	}
	switch {
	case repoURL == "":
		return invalid("repository URL is empty")
	case len(repoURL) > 4096:
		return invalid("repository URL is longer than 4096 bytes")
	case strings.HasPrefix(repoURL, "-"):
		return invalid("repository URL %q starts with '-'", redact(repoURL))
	case hasControl(repoURL):
		return invalid("repository URL %q contains control characters", redact(repoURL))
	}
	if scheme, rest, ok := strings.Cut(repoURL, "://"); ok {
		switch strings.ToLower(scheme) {
		case "https", "http", "ssh", "file":
		default:
			return invalid("repository URL scheme %q is not supported", scheme)
		}
		u, err := url.Parse(repoURL)
		if err != nil {
			return invalid("repository URL %q does not parse", redact(repoURL))
		}
		if strings.HasPrefix(rest, "-") || strings.HasPrefix(u.Hostname(), "-") ||
			(u.User != nil && strings.HasPrefix(u.User.Username(), "-")) {
			return invalid("repository URL %q has a host or user starting with '-'", redact(repoURL))
		}
		if !strings.EqualFold(scheme, "file") && u.Host == "" {
			return invalid("repository URL %q has no host", redact(repoURL))
		}
		return nil
	}
	if strings.Contains(repoURL, "::") {
		return invalid("repository URL %q uses a remote helper", redact(repoURL))
	}
	if filepath.IsAbs(repoURL) {
		return nil
	}
	// scp-like syntax: git reads "host:path" as ssh when the colon comes before any slash.
	if i := strings.IndexByte(repoURL, ':'); i > 0 && !strings.Contains(repoURL[:i], "/") {
		host := repoURL[:i]
		if at := strings.LastIndexByte(host, '@'); at >= 0 {
			host = host[at+1:]
		}
		if host == "" || strings.HasPrefix(host, "-") {
			return invalid("repository URL %q has an empty host or one starting with '-'", repoURL)
		}
		return nil
	}
	return invalid("repository URL %q is neither a URL nor an absolute path", redact(repoURL))
}

// CheckRef returns an EINVALID *rampart.Error unless ref is a safe git ref or branch name: it
// follows the rules of git check-ref-format (no "..", no "@{", no control characters, spaces or
// any of ~^:?*[\, no component starting with "." or ending in ".lock") and does not start with
// "-", so that git cannot take it for an option.
func CheckRef(ref string) error {
	bad := func(why string) error {
		return rampart.Errorf(rampart.EINVALID, "invalid ref %q: %s", ref, why).
			WithDetail("give a branch name, a tag name, a full ref such as refs/heads/main, or a full commit SHA")
	}
	switch {
	case ref == "":
		return bad("empty")
	case len(ref) > 1024:
		return bad("longer than 1024 bytes")
	case ref[0] == '-':
		return bad("starts with '-'")
	case ref == "@":
		return bad(`"@" is not a ref`)
	case strings.Contains(ref, ".."):
		return bad(`contains ".."`)
	case strings.Contains(ref, "@{"):
		return bad(`contains "@{"`)
	case strings.Contains(ref, "//"), strings.HasPrefix(ref, "/"), strings.HasSuffix(ref, "/"):
		return bad("has an empty path component")
	case strings.HasSuffix(ref, "."):
		return bad(`ends with "."`)
	}
	for _, r := range ref {
		if r < 0x20 || r == 0x7f {
			return bad("contains a control character")
		}
		if strings.ContainsRune(" ~^:?*[\\", r) {
			return bad(fmt.Sprintf("contains %q", r))
		}
	}
	for part := range strings.SplitSeq(ref, "/") {
		if strings.HasPrefix(part, ".") {
			return bad(`has a component starting with "."`)
		}
		if strings.HasSuffix(part, ".lock") {
			return bad(`has a component ending in ".lock"`)
		}
	}
	return nil
}

func checkCommit(commit string) error {
	if !IsCommit(commit) {
		return rampart.Errorf(rampart.EINVALID, "invalid commit %q", commit).
			WithDetail("give the full 40- or 64-character commit SHA")
	}
	return nil
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// redact removes the user information (a user name can be a token, too) from a URL so that it
// can appear in messages and logs.
func redact(repoURL string) string {
	u, err := url.Parse(repoURL)
	if err != nil || u.User == nil || u.Scheme == "" {
		return repoURL
	}
	u.User = url.User("xxxxx")
	return u.String()
}

// redactText removes repoURL's user information wherever it appears in s, e.g. in git's stderr.
func redactText(s, repoURL string) string {
	u, err := url.Parse(repoURL)
	if err != nil || u.User == nil {
		return s
	}
	if info := u.User.String(); info != "" {
		s = strings.ReplaceAll(s, info+"@", "xxxxx@")
	}
	return s
}

// command is one git invocation.
type command struct {
	args    []string  // after "git"
	gitDir  string    // GIT_DIR, if any
	workDir string    // GIT_WORK_TREE and working directory, if any
	stdin   io.Reader // nil: no input
	maxOut  int64     // bound on standard output; 0: maxListOutput
	repoURL string    // removed from error text when it holds credentials
}

// exitError is git ending with an error: the command, its exit status and standard error.
type exitError struct {
	args   []string
	err    error
	stderr string
}

func (e *exitError) Error() string {
	if e.stderr == "" {
		return fmt.Sprintf("git %s: %v", subcommand(e.args), e.err)
	}
	return fmt.Sprintf("git %s: %v: %s", subcommand(e.args), e.err, e.stderr)
}

// subcommand returns the git command in args, skipping "-c name=value" settings before it.
func subcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-c":
			i++
		case !strings.HasPrefix(args[i], "-"):
			return args[i]
		}
	}
	return "(none)"
}

func (e *exitError) Unwrap() error { return e.err }

var errOutputTooLarge = errors.New("git: output too large")

// limitedBuffer keeps at most max bytes. Past that it fails the write, which makes git stop
// with a broken pipe, unless truncate is set, in which case the rest is dropped silently.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int64
	truncate bool
	exceeded bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	room := b.max - int64(b.buf.Len())
	if int64(len(p)) <= room {
		return b.buf.Write(p)
	}
	b.exceeded = true
	if room > 0 {
		b.buf.Write(p[:room])
	}
	if b.truncate {
		return len(p), nil
	}
	return 0, errOutputTooLarge
}

// run runs git with c's arguments in a clean environment and returns its standard output.
func run(ctx context.Context, c command) ([]byte, error) {
	home, err := os.MkdirTemp("", "rampart-git-home-")
	if err != nil {
		return nil, fmt.Errorf("git: make empty home: %w", err)
	}
	defer os.RemoveAll(home)

	cmd := exec.CommandContext(ctx, "git", c.args...)
	cmd.Env = environ(home)
	// Outside of any repository by default, so that git never picks up the configuration of a
	// repository that happens to contain the server's working directory.
	cmd.Dir = home
	if c.gitDir != "" {
		cmd.Env = append(cmd.Env, "GIT_DIR="+c.gitDir)
	}
	if c.workDir != "" {
		cmd.Dir = c.workDir
		cmd.Env = append(cmd.Env, "GIT_WORK_TREE="+c.workDir)
	}
	cmd.Stdin = c.stdin
	maxOut := c.maxOut
	if maxOut <= 0 {
		maxOut = maxListOutput
	}
	stdout := &limitedBuffer{max: maxOut}
	stderr := &limitedBuffer{max: maxStderr, truncate: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = waitDelay
	setProcessGroup(cmd)

	err = cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		return nil, fmt.Errorf("git %s: %w", subcommand(c.args), ctxErr)
	}
	if stdout.exceeded {
		return nil, fmt.Errorf("git %s: more than %d bytes of output: %w", subcommand(c.args), maxOut, errOutputTooLarge)
	}
	if err != nil {
		text := strings.TrimSpace(redactText(stderr.buf.String(), c.repoURL))
		if len(text) > maxErrText {
			text = text[:maxErrText] + "…"
		}
		return nil, &exitError{args: c.args, err: err, stderr: text}
	}
	return stdout.buf.Bytes(), nil
}

// environ returns git's whole environment: a few variables passed through (passEnv) and the
// settings that make git ignore local configuration and never wait for a person.
func environ(home string) []string {
	env := []string{
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ALLOW_PROTOCOL=" + AllowedProtocols,
		"GIT_CEILING_DIRECTORIES=" + filepath.Dir(home),
		"GIT_SSH_COMMAND=ssh -o BatchMode=yes",
		"GIT_NO_REPLACE_OBJECTS=1",
		// Messages in English, so that classify can recognise them.
		"LC_ALL=C",
		"LANG=C",
	}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// classify turns a failed git call on repoURL into a *rampart.Error when git's message says
// something the user can fix, keeping the internal cause; anything else is returned wrapped.
// notFound is the error for a ref or commit the repository does not have.
func classify(err error, repoURL string, notFound *rampart.Error) error {
	var ee *exitError
	if !errors.As(err, &ee) {
		return err
	}
	shown := redact(repoURL)
	s := strings.ToLower(ee.stderr)
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return true
			}
		}
		return false
	}
	var uerr *rampart.Error
	switch {
	case has("transport '") && has("not allowed"):
		uerr = rampart.Errorf(rampart.EINVALID, "git may not use the protocol of %s", shown).
			WithDetail("use an https://, ssh:// or file:// URL")
	case notFound != nil && has("not our ref", "couldn't find remote ref", "unadvertised object",
		"no such remote ref", "bad object", "not a valid object"):
		uerr = notFound
	case has("authentication failed", "could not read username", "could not read password",
		"terminal prompts disabled", "permission denied", "host key verification failed",
		"returned error: 401", "returned error: 403"):
		uerr = rampart.Errorf(rampart.EINVALID, "the git host refused access to %s", shown).
			WithDetail("give the Rampart server read access to the repository (a deploy key, or a token in the URL)")
	case has("repository not found", "does not appear to be a git repository", "not found",
		"returned error: 404", "no such file or directory"):
		uerr = rampart.Errorf(rampart.EINVALID, "repository %s not found", shown).
			WithDetail("check the project's repository URL")
	case has("could not resolve host", "connection refused", "timed out", "network is unreachable",
		"connection reset", "unable to access", "early eof", "remote end hung up",
		"could not read from remote repository", "returned error: 5"):
		uerr = rampart.Errorf(rampart.EUNAVAILABLE, "cannot reach %s", shown).
			WithDetail("check that the git host is up and reachable from the Rampart server, then try again")
	default:
		return err
	}
	return fmt.Errorf("%w: %w", uerr, err)
}
