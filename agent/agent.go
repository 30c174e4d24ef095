// Package agent is the Rampart build agent: a process on a build machine that registers with a
// server once, then asks it for jobs (it only ever dials out), runs each job with the executor
// in a fresh workspace and sandbox, streams the job's log, uploads its artifacts and reports its
// result.
//
// The agent holds each job under a lease. It extends the lease with heartbeats, and as soon as
// the lease is lost — the server answers a job call with 409 because it gave the job to another
// attempt, or the lease expires without a successful heartbeat — it stops the job and does not
// report a result, so that a stale agent can never overwrite the result of a newer attempt.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
	"github.com/rampart-ci/rampart/executor"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/mask"
)

// Defaults of the zero fields of [Config].
const (
	DefaultCapacity         = 1
	DefaultHeartbeatEvery   = 5 * time.Second
	DefaultLogFlushEvery    = 300 * time.Millisecond
	DefaultMaxArtifactBytes = 100 << 20
)

// leaseWait is how long each lease call waits on the server for a job (the protocol allows 30 s).
const leaseWait = 25

// minLeaseInterval is the least time between two lease calls that found no job.
const minLeaseInterval = time.Second

// Reconnection pauses after failed lease calls: doubling from the first to the last, jittered so
// that agents that lost the same server do not all come back at the same instant.
const (
	reconnectMin = 250 * time.Millisecond
	reconnectMax = 30 * time.Second
)

// Bounds of the end of a job.
const (
	// logFlushTimeout bounds the final upload of a job's log; the lease bounds it too.
	logFlushTimeout = 5 * time.Minute
	// shutdownFlushTimeout bounds the final log upload of a job stopped because the agent stops.
	shutdownFlushTimeout = 10 * time.Second
	// maxReason bounds the reason sent with a result.
	maxReason = 2000
)

// Config configures an [Agent].
type Config struct {
	// Server is the server's base URL, e.g. "https://rampart.example.com". It may be empty when
	// the credential file names the server; when both are given they must agree, because the
	// credential is a secret of that server and must not be sent anywhere else.
	Server string
	// RegistrationToken is the one-time token the agent trades for its credential when it has
	// none yet. It is not needed, and ignored, once a credential is stored.
	RegistrationToken string
	// CredentialFile is where the credential is kept (mode 0600, in a directory of mode 0700).
	// Empty means $XDG_CONFIG_HOME/rampart/agent.json, or ~/.config/rampart/agent.json. Its
	// directory is hidden from sandboxed steps, so it should be a directory of its own.
	CredentialFile string
	// Name is the name the agent registers under. Empty means the host name.
	Name string
	// Labels are the labels the agent claims when it registers; the server may override them.
	Labels []string
	// Capacity is how many jobs the agent runs at once. Zero means DefaultCapacity.
	Capacity int
	// WorkRoot is the directory job workspaces are created in (executor.Config.Root).
	WorkRoot string
	// Sandbox is the executor's sandbox mode: "auto" (empty), "bwrap" or "none".
	Sandbox string
	// Logger receives the agent's own log; nil means slog.Default(). Job output never goes
	// there, only which job ran and how it ended.
	Logger *slog.Logger
	// Version is the agent's version, told to the server.
	Version string
	// HeartbeatEvery is the interval of heartbeats while a job runs. Zero means
	// DefaultHeartbeatEvery. It must be well below the server's lease time.
	HeartbeatEvery time.Duration
	// LogFlushEvery is how long job output may wait before it is uploaded. Zero means
	// DefaultLogFlushEvery.
	LogFlushEvery time.Duration
	// MaxArtifactBytes is the largest artifact file uploaded; larger ones are skipped with a
	// line in the job's log. Zero means DefaultMaxArtifactBytes.
	MaxArtifactBytes int64
}

// Agent is a build agent. Create it with [New] and start it with [Agent.Run].
type Agent struct {
	cfg      Config
	log      *slog.Logger
	exec     *executor.Executor
	credFile string

	mu      sync.Mutex
	running map[int64]*job // by job id
	broken  error          // a job's cleanup failed: take no more jobs
}

// New checks cfg, fills in its defaults and prepares the executor, which also removes what jobs
// of a previous agent process that died left in WorkRoot. It does not contact the server.
func New(cfg Config) (*Agent, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("agent: capacity %d is negative", cfg.Capacity)
	} else if cfg.Capacity == 0 {
		cfg.Capacity = DefaultCapacity
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = DefaultHeartbeatEvery
	}
	if cfg.LogFlushEvery <= 0 {
		cfg.LogFlushEvery = DefaultLogFlushEvery
	}
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = DefaultMaxArtifactBytes
	}
	if cfg.Server != "" {
		u, err := url.Parse(cfg.Server)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("agent: server address %q is not an http:// or https:// URL", cfg.Server)
		}
		cfg.Server = strings.TrimRight(cfg.Server, "/")
	}
	if cfg.Name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("agent: no name given and the host name is unknown: %w", err)
		}
		cfg.Name = h
	}
	credFile := cfg.CredentialFile
	if credFile == "" {
		var err error
		if credFile, err = defaultCredentialFile(); err != nil {
			return nil, err
		}
	}
	credFile, err := filepath.Abs(credFile)
	if err != nil {
		return nil, fmt.Errorf("agent: resolving credential file path: %w", err)
	}
	ex, err := executor.New(executor.Config{
		Root:    cfg.WorkRoot,
		Sandbox: cfg.Sandbox,
		Logger:  cfg.Logger,
		// The credential is the agent's, not the job's: a sandboxed step must not read it.
		Hide: []string{filepath.Dir(credFile)},
	})
	if err != nil {
		return nil, fmt.Errorf("agent: preparing executor: %w", err)
	}
	return &Agent{cfg: cfg, log: cfg.Logger, exec: ex, credFile: credFile, running: make(map[int64]*job)}, nil
}

// Run registers the agent if it has no credential yet, then asks the server for jobs and runs
// them, up to Capacity at once, until ctx is done. Then it stops asking, cancels the running
// jobs, waits until they are cleaned up, and returns nil. Jobs stopped that way are not
// reported: the server re-queues (or, for deployments, marks interrupted) them when their
// lease expires.
//
// While the server is unreachable or failing, Run retries with growing pauses. It returns an
// error when the agent cannot register, when the server refuses its credential (revoked: the
// agent must register again), or when a job could not be cleaned up, since later jobs would not
// start from a clean machine.
func (a *Agent) Run(ctx context.Context) error {
	cred, err := a.credential(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	c := client.New(cred.Server, cred.Credential)
	a.log.Info("agent: started", "agent", cred, "capacity", a.cfg.Capacity, "sandboxed", a.exec.Sandboxed())

	jobsCtx, cancelJobs := context.WithCancel(ctx)
	defer cancelJobs()
	var wg sync.WaitGroup
	err = a.leaseLoop(ctx, jobsCtx, c, &wg)
	if a.brokenErr() == nil {
		// A broken agent lets its running jobs finish; otherwise they stop with the agent.
		cancelJobs()
	}
	wg.Wait()
	if err != nil {
		return err
	}
	if err := a.brokenErr(); err != nil {
		return err
	}
	a.log.Info("agent: stopped")
	return nil
}

// credential loads the stored credential, or registers and stores a new one.
func (a *Agent) credential(ctx context.Context) (*credential, error) {
	cred, err := loadCredential(a.credFile)
	switch {
	case err == nil:
		if a.cfg.Server != "" && a.cfg.Server != strings.TrimRight(cred.Server, "/") {
			return nil, fmt.Errorf("agent: the credential in %s belongs to %s, not to %s; "+
				"start the agent with the server it registered with, or delete the file and register with %s",
				a.credFile, cred.Server, a.cfg.Server, a.cfg.Server)
		}
		if a.cfg.RegistrationToken != "" {
			a.log.Info("agent: already registered; registration token ignored", "credential_file", a.credFile)
		}
		return cred, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if a.cfg.RegistrationToken == "" {
		return nil, fmt.Errorf("%w: %s does not exist and no registration token was given; "+
			"ask an administrator for an agent registration token and start the agent with it", errNoCredential, a.credFile)
	}
	if a.cfg.Server == "" {
		return nil, fmt.Errorf("agent: cannot register: no server address given")
	}
	c := client.New(a.cfg.Server, "")
	req := rampart.RegisterRequest{
		Token:    a.cfg.RegistrationToken,
		Name:     a.cfg.Name,
		Labels:   a.cfg.Labels,
		Capacity: a.cfg.Capacity,
		Version:  a.cfg.Version,
	}
	b := backoff{min: reconnectMin, max: reconnectMax}
	var resp *rampart.RegisterResponse
	for {
		resp, err = c.Register(ctx, req)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("agent: registering: %w", ctx.Err())
		}
		if !transient(err) {
			return nil, fmt.Errorf("agent: registering with %s: %w", a.cfg.Server, err)
		}
		if b.cur == 0 {
			a.log.Warn("agent: cannot register yet; retrying", "server", a.cfg.Server, "err", err)
		}
		if !sleepCtx(ctx, b.next()) {
			return nil, fmt.Errorf("agent: registering: %w", ctx.Err())
		}
	}
	if !strings.HasPrefix(resp.Credential, rampart.AgentCredentialPrefix) {
		return nil, fmt.Errorf("agent: registering with %s: the answer holds no agent credential; is this a Rampart server?", a.cfg.Server)
	}
	cred = &credential{Server: a.cfg.Server, AgentID: resp.AgentID, Name: cmp.Or(resp.Name, a.cfg.Name), Credential: resp.Credential}
	if err := saveCredential(a.credFile, cred); err != nil {
		// The registration token is spent; without the file the credential is lost too.
		return nil, fmt.Errorf("%w; the registration token is used up: delete agent %q on the server and register again with a new token", err, resp.Name)
	}
	a.log.Info("agent: registered", "agent", cred, "labels", resp.Labels, "credential_file", a.credFile)
	return cred, nil
}

// leaseLoop asks for jobs while the agent has free capacity and starts each in a goroutine
// counted by wg, until ctx is done or it must stop.
func (a *Agent) leaseLoop(ctx, jobsCtx context.Context, c *client.Client, wg *sync.WaitGroup) error {
	slots := make(chan struct{}, a.cfg.Capacity)
	b := backoff{min: reconnectMin, max: reconnectMax}
	failures := 0
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if a.brokenErr() != nil {
			return nil
		}
		asked := time.Now()
		lease, err := c.Lease(ctx, rampart.LeaseRequest{
			Running:     a.runningIDs(),
			Capacity:    a.cfg.Capacity,
			WaitSeconds: leaseWait,
			Version:     a.cfg.Version,
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			<-slots
			if rampart.ErrorCode(err) == rampart.EUNAUTHORIZED {
				return fmt.Errorf("agent: the server refused the agent's credential (the agent was deleted or its credential revoked): %w; "+
					"delete %s and register the agent again with a new registration token", err, a.credFile)
			}
			if failures == 0 {
				a.log.Warn("agent: asking for jobs failed; retrying with backoff", "err", err)
			}
			failures++
			if !sleepCtx(ctx, b.next()) {
				return nil
			}
			continue
		}
		if failures > 0 {
			a.log.Info("agent: server reachable again", "failed_attempts", failures)
			failures = 0
		}
		b.reset()
		if lease == nil {
			<-slots
			// A server that answers "no job" at once instead of holding the call must not
			// turn the agent into a busy loop.
			if time.Since(asked) < minLeaseInterval && !sleepCtx(ctx, minLeaseInterval-time.Since(asked)) {
				return nil
			}
			continue
		}
		j, ok := a.addJob(c, lease)
		if !ok {
			<-slots
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			a.runJob(jobsCtx, j)
		}()
	}
}

// addJob records a leased job as running; it refuses a job that already runs here, which a
// confused server could hand out twice.
func (a *Agent) addJob(c *client.Client, lease *rampart.Lease) (*job, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.running[lease.JobID]; dup {
		a.log.Error("agent: server leased a job that already runs here; ignored", "job_id", lease.JobID, "fence", lease.Fence)
		return nil, false
	}
	j := &job{lease: lease, jc: c.Job(lease), expires: lease.ExpiresAt}
	a.running[lease.JobID] = j
	return j, true
}

func (a *Agent) removeJob(id int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.running, id)
}

// runningIDs lists the running jobs for the server, which counts them against the capacity.
func (a *Agent) runningIDs() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	ids := make([]int64, 0, len(a.running))
	for id := range a.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (a *Agent) brokenErr() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.broken
}

// job is one leased job while it runs.
type job struct {
	lease *rampart.Lease
	jc    *client.JobClient
	log   *slog.Logger

	cancelRun context.CancelCauseFunc // stops the steps
	endAPI    context.CancelCauseFunc // stops every job call
	lost      atomic.Bool             // the lease is lost: the job is no longer ours
	cancelled atomic.Bool             // the server asked to cancel the job

	mu      sync.Mutex
	expires time.Time // of the lease, as the last heartbeat answered

	masker *mask.Masker // of the job's secrets; nil when it has none
}

// Causes of a job's stop, as the executor's error and the job's reason show them.
var (
	errCancelRequested = errors.New("cancelled on the server")
	errLeaseLost       = errors.New("lease lost")
)

func (j *job) expiry() time.Time {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.expires
}

// lose stops the job at once because its lease is gone: another attempt may own it now, so
// nothing more may be said about it to the server, its result least of all.
func (j *job) lose(why error) {
	if j.lost.CompareAndSwap(false, true) {
		j.log.Warn("agent: lease lost; job stopped, its result will not be reported", "err", why)
		j.cancelRun(errLeaseLost)
		j.endAPI(why)
	}
}

// runJob runs one leased job to its end and reports it, unless the lease was lost.
func (a *Agent) runJob(ctx context.Context, j *job) {
	defer a.removeJob(j.lease.JobID)
	spec := j.lease.Spec
	j.log = a.log.With("job_id", j.lease.JobID, "project", spec.Project, "run", spec.RunNumber, "job", spec.Job)
	j.log.Info("agent: job started", "fence", j.lease.Fence, "commit", spec.Commit, "steps", len(spec.Steps))

	// Job calls outlive the agent's own shutdown a little (to upload the end of the log), but
	// never the lease.
	apiCtx, endAPI := context.WithCancelCause(context.WithoutCancel(ctx))
	defer endAPI(nil)
	runCtx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	j.cancelRun, j.endAPI = cancelRun, endAPI

	logs := newLogStream(apiCtx, func(ctx context.Context, seq int64, data []byte) error {
		err := j.jc.UploadLog(ctx, seq, data)
		if leaseLost(err) {
			j.lose(err)
		}
		return err
	}, a.cfg.LogFlushEvery, j.log).start()

	stopBeats := make(chan struct{})
	beatsDone := make(chan struct{})
	go func() {
		defer close(beatsDone)
		// A lease shorter than three heartbeat intervals would expire between beats: beat
		// faster for servers configured with short leases.
		every := a.cfg.HeartbeatEvery
		if ttl := time.Until(j.expiry()); ttl > 0 && ttl/3 < every {
			every = max(ttl/3, 200*time.Millisecond)
		}
		j.heartbeats(apiCtx, stopBeats, every, logs)
	}()
	stopHeartbeats := sync.OnceFunc(func() { close(stopBeats); <-beatsDone })
	defer stopHeartbeats()

	// Everything the job prints passes the masker before it reaches the log stream; the server
	// masks again before storing.
	out, closeMask, err := maskedOutput(j, logs)
	if err != nil {
		fmt.Fprintf(logs, "[rampart: %v]\n", err)
		a.finish(apiCtx, j, executor.Result{Status: rampart.StatusFailed, Err: err}, logs, stopHeartbeats)
		return
	}
	if len(j.lease.Withheld) > 0 {
		fmt.Fprintf(out, "secrets: %s not given to this job: %s\n", strings.Join(j.lease.Withheld, ", "), j.lease.Why)
	}
	res := a.exec.Run(runCtx, a.executorJob(j, out), out)
	closeMask()

	switch {
	case j.lost.Load():
		stopHeartbeats()
		_ = logs.Close(apiCtx) // apiCtx is done: this only ends the upload goroutine
		j.log.Warn("agent: job abandoned", "status", res.Status, "duration", res.Duration.Round(time.Millisecond))
	case ctx.Err() != nil:
		fmt.Fprintf(logs, "[rampart: the agent is shutting down; the job was stopped and the server will re-queue it]\n")
		fctx, cancel := context.WithTimeout(apiCtx, shutdownFlushTimeout)
		if err := logs.Close(fctx); err != nil {
			j.log.Warn("agent: end of job log not uploaded", "err", err)
		}
		cancel()
		stopHeartbeats()
		j.log.Warn("agent: job stopped by agent shutdown; result not reported", "status", res.Status, "duration", res.Duration.Round(time.Millisecond))
	default:
		a.finish(apiCtx, j, res, logs, stopHeartbeats)
		j.log.Info("agent: job finished", "status", res.Status, "duration", res.Duration.Round(time.Millisecond))
	}
	if errors.Is(res.Err, executor.ErrCleanup) {
		a.mu.Lock()
		if a.broken == nil {
			a.broken = fmt.Errorf("agent: job %d may have left files or processes on this machine (%w); no more jobs are taken: "+
				"inspect %s and the process list, then restart the agent", j.lease.JobID, res.Err, a.cfg.WorkRoot)
		}
		a.mu.Unlock()
		j.log.Error("agent: job cleanup failed; taking no more jobs", "err", res.Err)
	}
}

// executorJob turns the leased spec into the executor's job. Nothing of the agent's own
// environment is passed on: the executor builds each step's environment from scratch.
func (a *Agent) executorJob(j *job, logs io.Writer) executor.Job {
	spec := j.lease.Spec
	steps := make([]executor.Step, len(spec.Steps))
	for i, s := range spec.Steps {
		steps[i] = executor.Step{Name: s.Name, Run: s.Run, Env: s.Env}
	}
	env := map[string]string{
		"RAMPART_PROJECT":    spec.Project,
		"RAMPART_RUN_ID":     strconv.FormatInt(spec.RunID, 10),
		"RAMPART_RUN_NUMBER": strconv.FormatInt(spec.RunNumber, 10),
		"RAMPART_JOB":        spec.Job,
		"RAMPART_COMMIT":     spec.Commit,
		"RAMPART_REF":        spec.Ref,
		"RAMPART_EVENT":      spec.Event,
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	col := &collector{
		maxBytes: a.cfg.MaxArtifactBytes,
		out:      logs,
		upload:   j.jc.UploadArtifact,
		onLost:   j.lose,
		masker:   j.masker,
	}
	return executor.Job{
		ID:      strconv.FormatInt(j.lease.JobID, 10),
		Steps:   steps,
		Env:     env,
		Secrets: j.lease.Secrets,
		Network: spec.Network,
		Timeout: time.Duration(spec.Timeout) * time.Second,
		Prepare: func(ctx context.Context, ws string) error {
			if err := git.Checkout(ctx, spec.RepoURL, spec.Commit, ws); err != nil {
				// Not the URL: it may carry credentials; git's own errors show it redacted.
				return fmt.Errorf("checking out commit %s: %w", spec.Commit, err)
			}
			return downloadInputs(ctx, j.jc, j.lease.Inputs, ws, logs)
		},
		Collect: func(ctx context.Context, ws string) error {
			if len(spec.Artifacts) == 0 && len(spec.Scan) == 0 && len(spec.SARIF) == 0 {
				return nil
			}
			if ctx.Err() != nil {
				// Cancelled or lost: nobody wants the artifacts or findings of this attempt.
				fmt.Fprintf(logs, "artifacts and scans: skipped, the job was stopped\n")
				return nil
			}
			if len(spec.Artifacts) > 0 {
				col.ws = ws
				if err := col.collect(ctx, spec.Artifacts); err != nil {
					return err
				}
			}
			if len(spec.Scan) == 0 && len(spec.SARIF) == 0 {
				return nil
			}
			return scanJob(ctx, ws, spec, j.masker, logs, func(ctx context.Context, rep *rampart.ScanReport) (*rampart.GateVerdict, error) {
				v, err := j.jc.ReportScan(ctx, rep)
				if leaseLost(err) {
					j.lose(err)
				}
				return v, err
			})
		},
	}
}

// finish uploads the rest of the log and reports the result, unless the lease is lost first.
// Heartbeats go on while the log is uploaded and stop before Complete, whose retries then last
// until the lease expires at the latest.
func (a *Agent) finish(apiCtx context.Context, j *job, res executor.Result, logs *logStream, stopHeartbeats func()) {
	fctx, cancel := context.WithTimeout(apiCtx, logFlushTimeout)
	err := logs.Close(fctx)
	cancel()
	if err != nil && !j.lost.Load() {
		j.log.Warn("agent: job log not fully uploaded", "err", err)
	}
	stopHeartbeats()
	if j.lost.Load() {
		return
	}
	req := completeRequest(res, j.cancelled.Load())
	if j.masker != nil {
		req.Reason = j.masker.String(req.Reason)
	}
	cctx, cancel := context.WithDeadline(apiCtx, j.expiry())
	defer cancel()
	b := backoff{min: reconnectMin, max: 5 * time.Second}
	for attempt := 1; ; attempt++ {
		err := j.jc.Complete(cctx, req)
		switch {
		case err == nil:
			return
		case leaseLost(err):
			// Also what a retry gets when an earlier attempt went through but its answer was lost.
			j.log.Warn("agent: result refused: lease superseded or job already completed", "err", err)
			return
		case cctx.Err() != nil:
			j.log.Error("agent: result not reported before the lease expired", "err", err)
			return
		case !transient(err):
			j.log.Error("agent: server refused the job's result", "err", err)
			return
		}
		if attempt == 1 {
			j.log.Warn("agent: reporting the result failed; retrying until the lease expires", "err", err)
		}
		if !sleepCtx(cctx, b.next()) {
			j.log.Error("agent: result not reported before the lease expired", "err", err)
			return
		}
	}
}

// completeRequest turns the executor's result into the protocol's.
func completeRequest(res executor.Result, cancelRequested bool) rampart.CompleteRequest {
	req := rampart.CompleteRequest{Status: res.Status, ExitCode: -1}
	for _, s := range res.Steps {
		req.Steps = append(req.Steps, rampart.StepResult{
			Name:       s.Name,
			Status:     s.Status,
			ExitCode:   s.ExitCode,
			DurationMS: s.Duration.Milliseconds(),
		})
		if s.Status != executor.StatusSkipped {
			req.ExitCode = s.ExitCode // of the last step that ran; -1 when none did
		}
	}
	switch {
	case res.Status == executor.StatusCancelled && cancelRequested:
		req.Reason = errCancelRequested.Error()
	case res.Err != nil:
		req.Reason = res.Err.Error()
	}
	if len(req.Reason) > maxReason {
		req.Reason = strings.ToValidUTF8(req.Reason[:maxReason], "") + "…"
	}
	return req
}

// heartbeats extends the lease every interval until stop is closed. It cancels the job when the
// server asks to, and loses it when the server refuses the lease or the lease expires without a
// successful heartbeat.
func (j *job) heartbeats(ctx context.Context, stop <-chan struct{}, every time.Duration, out io.Writer) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		exp := j.expiry()
		if !time.Now().Before(exp) {
			j.lose(fmt.Errorf("lease expired at %s without a successful heartbeat", exp.Format(time.RFC3339)))
			return
		}
		expired := time.NewTimer(time.Until(exp))
		select {
		case <-stop:
			expired.Stop()
			return
		case <-ctx.Done():
			expired.Stop()
			return
		case <-expired.C:
			continue // the check above loses the job
		case <-t.C:
			expired.Stop()
		}
		hctx, cancel := context.WithDeadline(ctx, exp)
		resp, err := j.jc.Heartbeat(hctx)
		cancel()
		switch {
		case err == nil:
			if failing {
				j.log.Info("agent: heartbeats work again")
				failing = false
			}
			if !resp.ExpiresAt.IsZero() {
				j.mu.Lock()
				j.expires = resp.ExpiresAt
				j.mu.Unlock()
			}
			if resp.Cancel && j.cancelled.CompareAndSwap(false, true) {
				j.log.Info("agent: job cancelled on the server")
				fmt.Fprintf(out, "[rampart: job cancelled on the server]\n")
				j.cancelRun(errCancelRequested)
			}
		case leaseLost(err):
			j.lose(err)
			return
		case ctx.Err() != nil:
			return
		default:
			if !failing {
				j.log.Warn("agent: heartbeat failed; retrying until the lease expires", "err", err, "expires", exp)
				failing = true
			}
		}
	}
}

// transient reports whether a failed call may succeed if tried again: the server was
// unreachable, failing or busy.
func transient(err error) bool {
	switch rampart.ErrorCode(err) {
	case rampart.EUNAVAILABLE, rampart.EINTERNAL, rampart.ETOOMANY:
		return true
	}
	return false
}

// leaseLost reports whether a job call failed because the job is no longer this agent's: the
// lease was superseded (409), or the job token expired or the job vanished.
func leaseLost(err error) bool {
	switch rampart.ErrorCode(err) {
	case rampart.ECONFLICT, rampart.EUNAUTHORIZED, rampart.EFORBIDDEN, rampart.ENOTFOUND, rampart.EGONE:
		return true
	}
	return false
}

// backoff yields growing, jittered pauses between retries. The zero value of cur starts at min.
type backoff struct {
	min, max, cur time.Duration
}

// next returns the next pause: the current step, doubled each time up to max, of which a random
// half is added to the other half ("equal jitter"), so that pauses still grow but clients that
// failed together spread out.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(b.cur*2, b.max)
	}
	half := b.cur / 2
	return half + rand.N(b.cur-half+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx pauses for d; it returns false, early, when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// maskedOutput wraps the job's log in a masker of its secrets. The returned close flushes what
// the masker held back; call it when the job has written its last byte. A job whose secrets
// cannot be masked does not run: its output would leak them.
func maskedOutput(j *job, logs io.Writer) (io.Writer, func(), error) {
	if len(j.lease.Secrets) == 0 {
		return logs, func() {}, nil
	}
	values := make([]string, 0, len(j.lease.Secrets))
	for _, v := range j.lease.Secrets {
		values = append(values, v)
	}
	m, err := mask.New(values)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot mask this job's secrets, so it does not run: %v", err)
	}
	j.masker = m
	w := mask.NewWriter(m, logs)
	return w, func() { _ = w.Close() }, nil
}
