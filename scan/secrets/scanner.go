package secrets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/rampart-ci/rampart/scan"
)

// DefaultMaxFileSize is the size above which a Scanner skips a file: such files are data
// (dumps, bundles, fixtures), not configuration or code someone pasted a key into.
const DefaultMaxFileSize = 10 << 20

// binarySniff is how much of a file is checked for a NUL byte, the mark of a binary file.
const binarySniff = 8 << 10

// Config configures a Scanner. The zero Config scans with DefaultRules and DefaultAllowlists.
type Config struct {
	// Rules to run; nil means DefaultRules, and then DefaultAllowlists are added to Allowlists.
	// LoadGitleaksConfig returns rules and allowlists for these two fields.
	Rules []Rule
	// Allowlists apply to every rule (gitleaks' global allowlist).
	Allowlists []Allowlist
	// MaxFileSize in bytes; larger files are skipped. 0 means DefaultMaxFileSize.
	MaxFileSize int
}

// Scanner is the secret scanner of `rampart scan`: it implements scan.Scanner. It is immutable
// and safe for concurrent use; ScanFile may be called from many goroutines at once.
type Scanner struct {
	eng     *engine
	maxSize int
	// pathAllow: the paths of global allowlists that exempt by path alone, applied in Wants.
	pathAllow []*regexp.Regexp
}

// NewScanner compiles the configuration. It fails if a rule or allowlist is invalid, naming it.
func NewScanner(c Config) (*Scanner, error) {
	rules, al := c.Rules, c.Allowlists
	if rules == nil {
		rules, al = DefaultRules(), append(DefaultAllowlists(), al...)
	}
	eng, err := compile(rules, al)
	if err != nil {
		return nil, err
	}
	s := &Scanner{eng: eng, maxSize: c.MaxFileSize}
	if s.maxSize <= 0 {
		s.maxSize = DefaultMaxFileSize
	}
	for _, a := range al {
		if len(a.Paths) > 0 && len(a.Regexes) == 0 && len(a.StopWords) == 0 {
			s.pathAllow = append(s.pathAllow, a.Paths...)
		}
	}
	return s, nil
}

// Name returns scan.ScannerSecrets.
func (s *Scanner) Name() string { return scan.ScannerSecrets }

// skippedRE matches the files the scanner does not read, by name:
//   - lockfiles and checksum files (go.sum, package-lock.json, yarn.lock, pnpm-lock.yaml,
//     Cargo.lock, Gemfile.lock, poetry.lock, Pipfile.lock, composer.lock, …): hashes, not secrets;
//   - minified and generated assets (*.min.js, *.min.css, source maps *.map);
//   - dependency and VCS directories (node_modules/, bower_components/, .git/);
//   - binary formats by extension (images, fonts, audio and video, archives, compiled code,
//     PDF and office documents). Other binary files are recognised by a NUL byte in their
//     first 8 KB when read.
var skippedRE = regexp.MustCompile(`(?i)(?:^|/)(?:go\.sum|go\.work\.sum|package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|` +
	`bun\.lockb?|cargo\.lock|gemfile\.lock|poetry\.lock|pipfile\.lock|composer\.lock|packages\.lock\.json|gradle\.lockfile|mix\.lock|` +
	`pubspec\.lock|flake\.lock|deno\.lock|uv\.lock|podfile\.lock)$|` +
	`[.\-]min\.(?:js|css)$|\.map$|(?:^|/)(?:node_modules|bower_components|\.git)/|` +
	`\.(?:png|jpe?g|gif|bmp|ico|icns|webp|tiff?|psd|heic|avif|svgz|woff2?|ttf|otf|eot|mp[34]|m4a|mov|avi|mkv|webm|wav|flac|ogg|` +
	`zip|gz|tgz|bz2|xz|zst|7z|rar|tar|jar|war|ear|whl|egg|nupkg|deb|rpm|apk|dmg|iso|exe|dll|so|dylib|a|o|obj|lib|class|pyc|pyo|wasm|` +
	`bin|dat|db|sqlite3?|pdf|docx?|xlsx?|pptx?|odt|ods)$`)

// Wants reports whether the scanner reads the file at path: every text file except the ones
// skippedRE lists and the ones a path-only global allowlist exempts; key-store files (a rule
// with a Path and no Regex) are always wanted.
func (s *Scanner) Wants(p string) bool {
	for _, ri := range s.eng.pathOnly {
		if s.eng.rules[ri].Path.MatchString(p) {
			return true
		}
	}
	if skippedRE.MatchString(p) || anyMatch(s.pathAllow, p) {
		return false
	}
	return true
}

// ScanFile reports the credentials in one file. Files larger than the configured maximum and
// binary files are skipped (only path rules apply to them). Line and Column are 1-based; the
// column counts bytes. Snippet is the line, cut to about 160 bytes around the secret, with
// every secret in it redacted; Identity is the SHA-256 of the secret, and the fingerprint is
// computed from it, so it survives lines moving and never contains the secret.
func (s *Scanner) ScanFile(ctx context.Context, f scan.File) ([]scan.Finding, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []scan.Finding
	occ := map[string]int{}
	add := func(fd scan.Finding) {
		key := fd.RuleID + "\x00" + fd.Identity
		fd.SetFingerprint(occ[key])
		occ[key]++
		out = append(out, fd)
	}
	for _, ri := range s.eng.pathOnly {
		r := &s.eng.rules[ri]
		if !r.Path.MatchString(f.Path) || s.pathAllowed(f.Path) {
			continue
		}
		add(scan.Finding{Scanner: scan.ScannerSecrets, RuleID: r.ID, Severity: severity(r), File: f.Path,
			Message: r.Description, Fix: fixAdvice, Identity: identity(f.Data)})
	}
	data := f.Data
	if len(data) > s.maxSize || bytes.IndexByte(data[:min(len(data), binarySniff)], 0) >= 0 {
		return out, nil
	}
	ms := s.eng.find(data, f.Path, nil)
	line, lineStart, pos := 1, 0, 0
	for i, m := range ms {
		// Matches are ordered by start: count lines incrementally.
		if n := bytes.Count(data[pos:m.start], nl); n > 0 {
			line += n
			lineStart = bytes.LastIndexByte(data[:m.start], '\n') + 1
		}
		pos = m.start
		r := &s.eng.rules[m.rule]
		add(scan.Finding{
			Scanner:  scan.ScannerSecrets,
			RuleID:   r.ID,
			Severity: severity(r),
			File:     f.Path,
			Line:     line,
			Column:   m.start - lineStart + 1,
			Message:  r.Description,
			Fix:      fixAdvice,
			Snippet:  snippet(data, lineStart, ms, i),
			Identity: identity(data[m.start:m.end]),
		})
	}
	return out, nil
}

var nl = []byte{'\n'}

// Finish does nothing: secrets are found file by file.
func (s *Scanner) Finish(context.Context) ([]scan.Finding, error) { return nil, nil }

func (s *Scanner) pathAllowed(p string) bool {
	t := target{path: p}
	for i := range s.eng.global {
		a := &s.eng.global[i]
		if len(a.Paths) > 0 && len(a.Regexes) == 0 && len(a.StopWords) == 0 && t.allowed(a) {
			return true
		}
	}
	return false
}

const fixAdvice = "revoke the credential, store its replacement in the vault (rampart secret set) and deliver it to the job as a secret; deleting it from the file does not remove it from the repository's history"

func severity(r *compiledRule) scan.Severity {
	if r.Severity == "" {
		return scan.High
	}
	return r.Severity
}

// identity is the hex SHA-256 of a secret: it identifies the finding across line shifts without
// containing the secret.
func identity(secret []byte) string {
	sum := sha256.Sum256(secret)
	return hex.EncodeToString(sum[:])
}

// maxSnippet is the longest snippet, in bytes, kept around the secret on long lines.
const maxSnippet = 160

// snippet returns the line on which all[i] starts, cut to maxSnippet bytes around it, with
// every secret in it (all[i]'s and its neighbours') replaced by its redaction. It reads only
// the bytes it shows: many findings on one long line cost linear time.
func snippet(data []byte, lineStart int, all []match, i int) string {
	m := all[i]
	from := max(lineStart, m.start-maxSnippet/4)
	to := min(len(data), from+maxSnippet)
	if nl := bytes.IndexByte(data[m.start:to], '\n'); nl >= 0 {
		to = m.start + nl
	}
	from = max(lineStart, min(from, to-maxSnippet)) // the room left of the secret when the line ends early
	lo, hi := i, i+1
	for lo > 0 && all[lo-1].end > from {
		lo--
	}
	for hi < len(all) && all[hi].start < to {
		hi++
	}
	var b strings.Builder
	at := from
	for _, o := range all[lo:hi] {
		s, e := max(o.start, from), min(o.end, to)
		if e <= s || s < at {
			continue
		}
		b.Write(data[at:s])
		b.WriteString(Redact(string(data[o.start:o.end])))
		at = e
	}
	b.Write(data[at:to])
	line := b.String()
	// Equal copies of the secret that no rule matched (an allowlisted context, say).
	if secret := string(data[m.start:m.end]); len(secret) >= 4 && !strings.Contains(secret, "\n") {
		line = strings.ReplaceAll(line, secret, Redact(secret))
	}
	// Whole characters only.
	for len(line) > 0 && !utf8.RuneStart(line[0]) {
		line = line[1:]
	}
	if r, size := utf8.DecodeLastRuneInString(line); r == utf8.RuneError && size <= 1 && len(line) > 0 {
		line = strings.TrimRightFunc(line[:len(line)-1], func(r rune) bool { return r == utf8.RuneError })
	}
	return strings.ToValidUTF8(strings.TrimSpace(strings.TrimSuffix(line, "\r")), "\uFFFD")
}

// Rules returns the scanner's rules, in order (for listing them).
func (s *Scanner) Rules() []Rule {
	out := make([]Rule, len(s.eng.rules))
	for i := range s.eng.rules {
		out[i] = s.eng.rules[i].Rule
	}
	return out
}

var _ scan.Scanner = (*Scanner)(nil)
