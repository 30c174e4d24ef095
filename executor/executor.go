package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Status values of [Result.Status] and [StepResult.Status].
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusTimedOut  = "timed_out"
	StatusCancelled = "cancelled"
	// StatusSkipped is only used for steps: the job stopped before reaching them.
	StatusSkipped = "skipped"
)

// Sandbox modes accepted by [Config.Sandbox].
const (
	// SandboxAuto uses bubblewrap when it is installed and works, and runs steps without a sandbox
	// (logging a warning) otherwise.
	SandboxAuto = "auto"
	// SandboxBwrap requires bubblewrap: [New] fails when it is missing or does not work.
	SandboxBwrap = "bwrap"
	// SandboxNone runs steps directly on the agent machine.
	SandboxNone = "none"
)

// Errors returned by [New] and reported in [Result.Err]; test them with errors.Is.
var (
	// ErrSandboxUnavailable means Sandbox "bwrap" was asked for but bubblewrap is missing or does not
	// work on this machine.
	ErrSandboxUnavailable = errors.New("executor: bubblewrap sandbox unavailable")
	// ErrCleanup means that something of a job may have survived it: a process could not be killed
	// or its job directory could not be removed. An agent should stop taking jobs when it sees it.
	ErrCleanup = errors.New("executor: job cleanup failed")
	// ErrInvalidJob means the job itself is malformed, for instance an environment variable name
	// containing '='.
	ErrInvalidJob = errors.New("executor: invalid job")
)

// Default values of the zero fields of [Config].
const (
	DefaultKillGrace      = 5 * time.Second
	DefaultCollectTimeout = 10 * time.Minute
)

// basePATH is the whole PATH of a step unless the job sets its own: nothing of the agent's PATH is
// inherited, so a step cannot pick up tools (or trojans) from the agent's environment.
const basePATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// markerVar is the environment variable that tags every process of a job.
const markerVar = "RAMPART_JOB_MARKER"

// Config configures an [Executor]. The zero value is usable.
type Config struct {
	// Root is the directory job directories are created in. It is created with mode 0700 if
	// missing and is never removed. Empty means filepath.Join(os.TempDir(), "rampart-work").
	// Several executors, in one process or several, may share a Root.
	Root string
	// Sandbox is one of SandboxAuto (the default when empty), SandboxBwrap and SandboxNone.
	Sandbox string
	// Logger receives the executor's own log records. Nil means slog.Default().
	Logger *slog.Logger
	// KillGrace is how long a cancelled or timed-out step gets between SIGTERM and SIGKILL.
	// Zero or negative means DefaultKillGrace.
	KillGrace time.Duration
	// CollectTimeout bounds Job.Collect, which runs after the job's own Timeout may have expired.
	// Zero or negative means DefaultCollectTimeout.
	CollectTimeout time.Duration
	// ReadOnly lists extra host paths the sandbox shows read-only at the same place, for instance
	// a toolchain under /opt. The sandbox shows /usr, /bin, /sbin, /lib* and /etc without being
	// told. Ignored without a sandbox.
	ReadOnly []string
	// Hide lists host paths the sandbox covers with something empty even though they lie inside a
	// directory it shows, for instance the agent's credentials under /etc/rampart. Ignored without a
	// sandbox.
	Hide []string
}

// Executor runs jobs. Create it with [New]; its methods may be called concurrently.
type Executor struct {
	root           string
	log            *slog.Logger
	killGrace      time.Duration
	collectTimeout time.Duration
	shell          []string // the step's interpreter and its flags; the script follows
	bwrap          string   // path of bubblewrap; empty when steps run without a sandbox
	sandboxNote    string   // for the job output: why the sandbox is or is not used
	readOnly       []string
	hide           []string
}

// Step is one shell script of a job.
type Step struct {
	// Name identifies the step in the output and in [StepResult].
	Name string
	// Run is the script, run by bash with -e and -o pipefail (sh -e when bash is missing).
	Run string
	// Env is added to the job's environment for this step only and overrides it.
	Env map[string]string
}

// Job is what [Executor.Run] runs.
type Job struct {
	// ID names the job in the job directory's name, in logs and in RAMPART_JOB_ID.
	ID string
	// Steps run in order; the first that fails ends the job.
	Steps []Step
	// Env is the job's environment, already merged with the pipeline's by the caller. It may set
	// PATH, which otherwise is a fixed list of system directories.
	Env map[string]string
	// Secrets are given to every step as environment variables, after (and over) Env and Step.Env.
	// The executor never writes them to disk, to a command line or to a log.
	Secrets map[string]string
	// Network, when false, gives the steps no network at all, loopback to the host included. It
	// needs the sandbox: without one it is ignored with a warning.
	Network bool
	// Timeout bounds the job from the start of Prepare to the end of the last step. Zero or
	// negative means no limit other than the context's.
	Timeout time.Duration
	// Prepare, if not nil, runs before the steps, outside the sandbox, for instance to check out
	// the repository into the (empty) workspace. An error ends the job as failed.
	Prepare func(ctx context.Context, workspace string) error
	// Collect, if not nil, runs after the steps — also after failure, timeout or cancellation —
	// and before the workspace is removed, for instance to upload artifacts. Its context is the
	// one given to Run (so it is already done when the job was cancelled) bounded by
	// Config.CollectTimeout, not by Job.Timeout. By then no process of the job is left, but the
	// workspace is untrusted: it may hold symlinks pointing anywhere. An error makes a job that
	// succeeded fail.
	Collect func(ctx context.Context, workspace string) error
}

// Result is the outcome of a job.
type Result struct {
	// Status is StatusSucceeded, StatusFailed, StatusTimedOut or StatusCancelled.
	Status string
	// Steps has one entry per step of the job, in order, including those skipped.
	Steps []StepResult
	// Err says why the job did not succeed; nil when it did. It wraps ErrCleanup when something
	// of the job may have survived it (and then Status is never StatusSucceeded), ErrInvalidJob
	// for a malformed job, and the errors of Prepare and Collect.
	Err error
	// Duration is the whole time Run took, cleanup included.
	Duration time.Duration
}

// StepResult is the outcome of one step.
type StepResult struct {
	Name string
	// ExitCode is the exit status of the step's shell, 128+n when signal n killed it, and -1 when
	// the step did not run or could not be started.
	ExitCode int
	// Status is one of the Status constants.
	Status string
	// Duration is zero for a skipped step.
	Duration time.Duration
}

// New checks the configuration, creates the Root, chooses the sandbox, and removes what jobs of a
// previous agent process that died left in the Root (directories and marked processes).
// It fails with ErrSandboxUnavailable when cfg.Sandbox is SandboxBwrap and bubblewrap does not
// work.
func New(cfg Config) (*Executor, error) {
	e := &Executor{
		log:            cfg.Logger,
		killGrace:      cfg.KillGrace,
		collectTimeout: cfg.CollectTimeout,
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if e.killGrace <= 0 {
		e.killGrace = DefaultKillGrace
	}
	if e.collectTimeout <= 0 {
		e.collectTimeout = DefaultCollectTimeout
	}
	root := cfg.Root
	if root == "" {
		root = filepath.Join(os.TempDir(), "rampart-work")
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("executor: resolving root %q: %w", cfg.Root, err)
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, fmt.Errorf("executor: creating root: %w", err)
	}
	// The sandbox binds job directories at their host path; resolving symlinks now keeps the
	// path a step sees equal to the one Prepare and Collect see.
	if root, err = filepath.EvalSymlinks(root); err != nil {
		return nil, fmt.Errorf("executor: resolving root: %w", err)
	}
	if err := checkRoot(root); err != nil {
		return nil, err
	}
	e.root = root

	e.shell, err = findShell()
	if err != nil {
		return nil, err
	}
	for _, p := range cfg.ReadOnly {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("executor: read-only path %q is not absolute", p)
		}
		e.readOnly = append(e.readOnly, filepath.Clean(p))
	}
	for _, p := range cfg.Hide {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("executor: hidden path %q is not absolute", p)
		}
		e.hide = append(e.hide, filepath.Clean(p))
	}

	mode := cfg.Sandbox
	if mode == "" {
		mode = SandboxAuto
	}
	switch mode {
	case SandboxNone:
		e.sandboxNote = "none (disabled by configuration)"
	case SandboxAuto, SandboxBwrap:
		path, why := probeBwrap()
		switch {
		case why == "":
			e.bwrap = path
			e.sandboxNote = "bubblewrap"
		case mode == SandboxBwrap:
			return nil, fmt.Errorf("%w: %s", ErrSandboxUnavailable, why)
		default:
			e.sandboxNote = "none (" + why + ")"
			e.log.Warn("executor: steps run without a sandbox", "reason", why)
		}
	default:
		return nil, fmt.Errorf("executor: unknown sandbox mode %q (want %q, %q or %q)",
			cfg.Sandbox, SandboxAuto, SandboxBwrap, SandboxNone)
	}
	e.log.Info("executor: ready", "root", e.root, "sandbox", e.sandboxNote, "shell", e.shell[0])

	e.sweep()
	return e, nil
}

// checkRoot refuses a root that someone else could tamper with: on a shared machine another user
// may have created /tmp/rampart-work first, and whoever owns the root can swap a job directory
// for a symlink between its creation and its use.
func checkRoot(root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("executor: checking root: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("executor: root %s is not a directory", root)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("executor: root %s belongs to uid %d, not to this agent's uid %d", root, st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(root, 0o700); err != nil {
			return fmt.Errorf("executor: restricting root permissions: %w", err)
		}
	}
	return nil
}

// findShell prefers bash for pipefail and falls back to any POSIX sh. Absolute paths keep the
// choice independent of the agent's PATH and valid inside the sandbox, which shows /usr and /bin.
func findShell() ([]string, error) {
	for _, p := range []string{"/usr/bin/bash", "/bin/bash"} {
		if isExecutable(p) {
			return []string{p, "-e", "-o", "pipefail", "-c"}, nil
		}
	}
	for _, p := range []string{"/usr/bin/sh", "/bin/sh"} {
		if isExecutable(p) {
			return []string{p, "-e", "-c"}, nil
		}
	}
	return nil, errors.New("executor: no shell found (looked for bash and sh in /usr/bin and /bin)")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// Sandboxed reports whether steps run inside bubblewrap.
func (e *Executor) Sandboxed() bool { return e.bwrap != "" }

// Run runs job and reports its result; it never panics because of the job's hooks.
//
// out receives the combined stdout and stderr of the steps while they run, in the order the
// steps wrote them, plus short lines of the executor's own (sandbox, step start, exit code).
// Writes to out happen from one goroutine at a time. A slow out slows the steps down (their
// output pipe fills up) but never delays their termination on cancellation or timeout. When out
// returns an error the rest of the output is discarded and the job goes on; a nil out discards
// everything. Run returns only after its last write to out returned.
//
// Cancelling ctx ends the job with StatusCancelled, and exceeding job.Timeout with
// StatusTimedOut. When Run returns, every process of the job has been killed and its job
// directory removed, unless Result.Err wraps ErrCleanup.
func (e *Executor) Run(ctx context.Context, job Job, out io.Writer) (res Result) {
	start := time.Now()
	log := e.log.With("job", job.ID)
	w := &outWriter{w: out, log: log}
	res.Steps = make([]StepResult, len(job.Steps))
	for i, st := range job.Steps {
		res.Steps[i] = StepResult{Name: st.Name, ExitCode: -1, Status: StatusSkipped}
	}
	defer func() { res.Duration = time.Since(start) }()

	if err := validateJob(&job); err != nil {
		res.Status, res.Err = StatusFailed, err
		w.printf("✖ invalid job: %v\n", err)
		return res
	}

	jobCtx := ctx
	if job.Timeout > 0 {
		var cancel context.CancelFunc
		jobCtx, cancel = context.WithTimeout(ctx, job.Timeout)
		defer cancel()
	}

	jd, err := e.createJobDir(job.ID)
	if err != nil {
		res.Status, res.Err = StatusFailed, err
		w.printf("✖ %v\n", err)
		return res
	}
	log = log.With("dir", jd.dir)
	// Cleanup runs last, whatever happened before, a panic of the executor itself included.
	defer func() {
		if err := e.destroyJobDir(jd, log); err != nil {
			log.Error("executor: job left traces on the agent", "err", err)
			res.Err = errors.Join(res.Err, err)
			if res.Status == StatusSucceeded || res.Status == "" {
				res.Status = StatusFailed
			}
		}
	}()

	w.printf("sandbox: %s\n", e.sandboxNote)
	switch {
	case e.bwrap != "" && !job.Network:
		w.printf("network: none\n")
	case e.bwrap != "":
		w.printf("network: host\n")
	case !job.Network:
		w.printf("network: host (not isolated: no sandbox)\n")
		log.Warn("executor: job asked for no network but runs without a sandbox; network not isolated")
	}
	log.Info("executor: job started", "sandbox", e.bwrap != "", "network", job.Network, "steps", len(job.Steps))

	res.Status, res.Err = e.runJob(ctx, jobCtx, &job, jd, w, log, res.Steps)

	if job.Collect != nil {
		cctx, cancel := context.WithTimeout(ctx, e.collectTimeout)
		err := callHook(cctx, "collect", job.Collect, jd.ws)
		cancel()
		if err != nil {
			w.printf("✖ collect: %v\n", err)
			res.Err = errors.Join(res.Err, err)
			if res.Status == StatusSucceeded {
				res.Status = StatusFailed
			}
		}
	}
	log.Info("executor: job finished", "status", res.Status, "duration", time.Since(start))
	return res
}

// runJob runs Prepare and the steps; it fills steps in and returns the job's status and error.
func (e *Executor) runJob(ctx, jobCtx context.Context, job *Job, jd *jobDir, w *outWriter, log *slog.Logger, steps []StepResult) (string, error) {
	if job.Prepare != nil {
		if err := callHook(jobCtx, "prepare", job.Prepare, jd.ws); err != nil {
			w.printf("✖ prepare: %v\n", err)
			if st := ctxStatus(ctx, jobCtx); st != "" {
				return st, errors.Join(ctxError(ctx, jobCtx, job.Timeout), err)
			}
			return StatusFailed, err
		}
	}
	env := e.baseEnv(job, jd)
	for i, st := range job.Steps {
		if s := ctxStatus(ctx, jobCtx); s != "" {
			return s, ctxError(ctx, jobCtx, job.Timeout)
		}
		steps[i] = e.runStep(ctx, jobCtx, job, st, env, jd, w, log)
		switch steps[i].Status {
		case StatusSucceeded:
		case StatusTimedOut, StatusCancelled:
			return steps[i].Status, ctxError(ctx, jobCtx, job.Timeout)
		default:
			if steps[i].ExitCode < 0 {
				return StatusFailed, fmt.Errorf("executor: step %q could not start", st.Name)
			}
			return StatusFailed, fmt.Errorf("executor: step %q exited with code %d", st.Name, steps[i].ExitCode)
		}
	}
	return StatusSucceeded, nil
}

// ctxStatus tells a cancellation by the caller from the job's own timeout; "" when neither.
func ctxStatus(ctx, jobCtx context.Context) string {
	switch {
	case ctx.Err() != nil:
		return StatusCancelled
	case jobCtx.Err() != nil:
		return StatusTimedOut
	}
	return ""
}

func ctxError(ctx, jobCtx context.Context, timeout time.Duration) error {
	if ctx.Err() != nil {
		return fmt.Errorf("executor: job cancelled: %w", context.Cause(ctx))
	}
	return fmt.Errorf("executor: job timed out after %s: %w", timeout, context.Cause(jobCtx))
}

// callHook turns a panic of the caller's hook into an error so that cleanup still runs and the
// agent keeps working.
func callHook(ctx context.Context, name string, fn func(context.Context, string) error, ws string) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("executor: %s panicked: %v", name, p)
		}
	}()
	if err := fn(ctx, ws); err != nil {
		return fmt.Errorf("executor: %s: %w", name, err)
	}
	return nil
}

// validateJob rejects names that execve would refuse or, worse, misread: an '=' in a name would
// let a variable masquerade as another one.
func validateJob(job *Job) error {
	check := func(where string, env map[string]string) error {
		for k, v := range env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return fmt.Errorf("%w: %s: bad environment variable name %q", ErrInvalidJob, where, k)
			}
			if strings.ContainsRune(v, 0) {
				// The value may be a secret: name the variable only.
				return fmt.Errorf("%w: %s: value of %s contains a NUL byte", ErrInvalidJob, where, k)
			}
		}
		return nil
	}
	if err := check("job env", job.Env); err != nil {
		return err
	}
	if err := check("secrets", job.Secrets); err != nil {
		return err
	}
	for _, st := range job.Steps {
		if err := check(fmt.Sprintf("step %q env", st.Name), st.Env); err != nil {
			return err
		}
		if strings.ContainsRune(st.Run, 0) {
			return fmt.Errorf("%w: step %q: script contains a NUL byte", ErrInvalidJob, st.Name)
		}
	}
	return nil
}

// baseEnv is the environment every step of the job starts from, before the step's own Env.
func (e *Executor) baseEnv(job *Job, jd *jobDir) map[string]string {
	env := map[string]string{
		"PATH":              basePATH,
		"HOME":              jd.home,
		"TMPDIR":            jd.tmp,
		"LANG":              "C.UTF-8",
		"CI":                "true",
		"RAMPART":           "true",
		"RAMPART_JOB_ID":    job.ID,
		"RAMPART_WORKSPACE": jd.ws,
	}
	for k, v := range job.Env {
		env[k] = v
	}
	return env
}

// stepEnv returns the environment of one step as execve wants it, sorted for reproducibility.
// The marker comes last so that nothing the job sets can remove it.
func stepEnv(base map[string]string, st Step, secrets map[string]string, marker string) []string {
	env := make(map[string]string, len(base)+len(st.Env)+len(secrets)+1)
	for k, v := range base {
		env[k] = v
	}
	for k, v := range st.Env {
		env[k] = v
	}
	for k, v := range secrets {
		env[k] = v
	}
	env[markerVar] = marker
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}
