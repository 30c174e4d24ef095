// Package scheduler runs pipelines: it turns a trigger into a run and its jobs, hands queued jobs
// to agents under leases with fencing numbers, advances the job graph as jobs finish, and
// recovers from lost agents and restarted servers. All of its state lives in the store, so that
// a killed server resumes every run and several servers can share one database.
//
// Job states: pending (waiting for needs) → queued → running (leased) → succeeded, failed,
// timed_out or cancelled; skipped when a need did not succeed or its condition was false;
// interrupted when a deploy job's agent was lost, since deploys are never re-run automatically.
package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/pipeline"
)

// PipelineFile is where a repository keeps its pipeline.
const PipelineFile = ".rampart.yml"

// Repo reads repositories; forge/git implements it.
type Repo interface {
	// ReadFile returns one file at an exact commit (ENOTFOUND when it does not exist).
	ReadFile(ctx context.Context, repoURL, commit, path string, maxBytes int64) ([]byte, error)
	// ResolveRef returns the commit a branch, tag or SHA names.
	ResolveRef(ctx context.Context, repoURL, ref string) (string, error)
	// Branches returns each branch's head commit.
	Branches(ctx context.Context, repoURL string) (map[string]string, error)
}

// SecretResolver hands out the values of secrets; the vault implements it.
type SecretResolver interface {
	// ForJob returns the current value of each named secret visible to a job of projectID
	// deploying to environment ("" for none).
	ForJob(ctx context.Context, projectID int64, environment string, names []string) (map[string]string, error)
}

// DeployGate decides when deploy jobs may run; the deploy package implements it.
type DeployGate interface {
	// Hold records the deployment of a deploy job whose needs are met, inside tx; the job then
	// waits until the gate releases it. A non-empty refusal fails the job instead.
	Hold(ctx context.Context, tx rampart.Tx, run *rampart.Run, job *rampart.Job, environment string) (refusal string, err error)
	// Released returns nil when the deployment of a leased deploy job has been released, which
	// is when the environment's secrets may go to it.
	Released(ctx context.Context, tx rampart.Tx, jobID int64) error
}

// Config configures a Scheduler. Zero durations take the defaults documented on each field.
type Config struct {
	Store rampart.Store
	Repo  Repo
	// Secrets resolves the secrets jobs declare; nil means jobs that declare any fail.
	Secrets SecretResolver
	// Deploys holds deploy jobs until their environment's rules are met; nil queues them like
	// any job (tests of the scheduler alone).
	Deploys DeployGate
	Logger  *slog.Logger
	Now     func() time.Time
	// LeaseTTL is how long a lease lives without a heartbeat; default 30s.
	LeaseTTL time.Duration
	// MaxAttempts is how often a build job is started before a lost agent fails it; default 2
	// (re-queued once).
	MaxAttempts int
	// PollEvery is how often the background loop looks for work (expired leases, polls,
	// schedules) and, without a same-process wake-up, for newly queued jobs; default 1s.
	PollEvery time.Duration
}

// Scheduler is safe for concurrent use.
type Scheduler struct {
	cfg    Config
	store  rampart.Store
	logger *slog.Logger

	mu    sync.Mutex
	wake  chan struct{} // closed and replaced whenever jobs become queued
	masks maskers
}

// New returns a Scheduler.
func New(cfg Config) *Scheduler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 2
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg, store: cfg.Store, logger: cfg.Logger, wake: make(chan struct{})}
}

func (s *Scheduler) now() time.Time { return s.cfg.Now().UTC() }

// LeaseTTL returns how long a lease lives without a heartbeat.
func (s *Scheduler) LeaseTTL() time.Duration { return s.cfg.LeaseTTL }

// notify wakes every Lease call waiting for work.
func (s *Scheduler) notify() {
	s.mu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

func (s *Scheduler) waiter() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wake
}

// Trigger is what starts a run.
type Trigger struct {
	Event       string // rampart.EventPush, …
	Ref         string // full ref, e.g. refs/heads/main
	Branch      string
	Tag         string
	Commit      string
	BaseBranch  string // pull requests: the branch it merges into
	PullRequest int
	FromFork    bool
	TriggeredBy string
	// Rerun skips the "on:" check: retries repeat a run that was already triggered.
	Rerun bool
	// SecurityFix puts the run in the security fast lane, for Incident.
	SecurityFix bool
	Incident    string
	// OnlyJobs keeps only these jobs of the plan, without their needs (rollbacks).
	OnlyJobs []string
	// RollbackOf is the deployment a rollback run redeploys.
	RollbackOf int64
}

// FastLanePriority is the queue priority of the jobs of security-fix runs: above every other.
const FastLanePriority = 100

// ErrNotTriggered is returned by CreateRun when the pipeline's "on:" section does not select the
// trigger; webhooks answer it as "ignored".
var ErrNotTriggered = rampart.Errorf(rampart.EPRECONDITION, "the pipeline does not run for this event").
	WithDetail("see the `on:` section of .rampart.yml")

// CreateRun reads the pipeline at the trigger's commit and creates a run with its jobs. A
// pipeline that does not parse still makes a run, failed with the file's errors as the reason, so
// that the author sees why nothing ran.
func (s *Scheduler) CreateRun(ctx context.Context, actor *rampart.Actor, p *rampart.Project, tr Trigger) (*rampart.Run, error) {
	if tr.Commit == "" {
		return nil, rampart.Errorf(rampart.EINVALID, "no commit to build")
	}
	run := &rampart.Run{
		ProjectID: p.ID, Project: p.Name, Event: tr.Event, Ref: tr.Ref, Branch: tr.Branch, Tag: tr.Tag,
		Commit: tr.Commit, PullRequest: tr.PullRequest, FromFork: tr.FromFork, TriggeredBy: tr.TriggeredBy,
		SecurityFix: tr.SecurityFix, Incident: tr.Incident, RollbackOf: tr.RollbackOf,
		Status: rampart.StatusQueued, CreatedAt: s.now(),
	}
	if !run.SecurityFix {
		run.SecurityFix, run.Incident = s.securityTrailer(ctx, p, tr)
	}
	var plan *pipeline.Plan
	data, err := s.cfg.Repo.ReadFile(ctx, p.RepoURL, tr.Commit, PipelineFile, pipeline.MaxFileSize+1)
	switch {
	case rampart.ErrorCode(err) == rampart.ENOTFOUND:
		s.fail(run, fmt.Sprintf("no %s at commit %s: add one at the repository root (see docs/pipeline.md)", PipelineFile, short(tr.Commit)))
	case err != nil:
		return nil, fmt.Errorf("read %s of %s at %s: %w", PipelineFile, p.Name, short(tr.Commit), err)
	default:
		pl, perr := pipeline.Parse(PipelineFile, data)
		if perr != nil {
			s.fail(run, "invalid pipeline:\n"+perr.Error())
			break
		}
		ev := pipeline.Event{Kind: tr.Event, Branch: tr.Branch, Tag: tr.Tag, Ref: tr.Ref, Commit: tr.Commit, BaseBranch: tr.BaseBranch}
		if !tr.Rerun && !pl.Triggered(ev) {
			if tr.Event == rampart.EventManual {
				return nil, rampart.Errorf(rampart.EPRECONDITION, "the pipeline does not allow manual runs").WithDetail("add `manual: {}` under `on:` in .rampart.yml")
			}
			return nil, ErrNotTriggered
		}
		if plan, perr = pl.Plan(ev); perr != nil {
			s.fail(run, "cannot plan the pipeline: "+perr.Error())
		}
	}
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		if plan != nil {
			if err := s.createJobs(ctx, tx, p, run, plan, tr.OnlyJobs); err != nil {
				return err
			}
		}
		ev := audit.Event(actor, "run.create", fmt.Sprintf("run:%s#%d", p.Name, run.Number), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("event=%s ref=%s commit=%s status=%s", run.Event, run.Ref, run.Commit, run.Status)
		if run.SecurityFix {
			ev.Detail += fmt.Sprintf(" security_fix=true incident=%s", run.Incident)
		}
		if run.RollbackOf != 0 {
			ev.Detail += fmt.Sprintf(" rollback_of=%d", run.RollbackOf)
		}
		return audit.Append(ctx, tx, ev, s.now())
	})
	if err != nil {
		return nil, fmt.Errorf("create run of %s: %w", p.Name, err)
	}
	s.notify()
	return run, nil
}

func (s *Scheduler) fail(run *rampart.Run, reason string) {
	now := s.now()
	run.Status, run.Reason, run.FinishedAt = rampart.StatusFailed, reason, &now
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// createJobs stores the plan's jobs: queued when they need nothing, pending when they wait for
// others, skipped when the plan skips them.
func (s *Scheduler) createJobs(ctx context.Context, tx rampart.Tx, p *rampart.Project, run *rampart.Run, plan *pipeline.Plan, only []string) error {
	for _, pj := range plan.Jobs {
		if len(only) > 0 && !slices.Contains(only, pj.Name) {
			continue
		}
		if len(only) > 0 {
			// A rollback redeploys what an earlier run built: the job's needs ran there.
			pj.Needs = nil
		}
		spec := rampart.JobSpec{
			Project: p.Name, RunID: run.ID, RunNumber: run.Number, Job: pj.Name,
			RepoURL: p.RepoURL, Commit: run.Commit, Ref: run.Ref, Event: run.Event,
			Timeout: int(pj.Timeout / time.Second), Network: pj.Network != pipeline.NetworkNone,
			Artifacts: pj.Artifacts, Labels: pj.RunsOn, Secrets: pj.Secrets, Environment: pj.Environment,
			Scan: pj.Scan, SARIF: pj.SARIF,
		}
		for _, st := range pj.Steps {
			spec.Steps = append(spec.Steps, rampart.StepSpec{Name: st.Name, Run: st.Run, Env: st.Env})
		}
		b, err := json.Marshal(spec)
		if err != nil {
			return fmt.Errorf("encode job %s: %w", pj.Name, err)
		}
		j := &rampart.Job{
			RunID: run.ID, ProjectID: p.ID, Name: pj.Name, Needs: pj.Needs, Labels: pj.RunsOn,
			Spec: string(b), Deploys: pj.Environment != "", Attempt: 1, CreatedAt: s.now(),
		}
		if run.SecurityFix {
			j.Priority = FastLanePriority
		}
		switch {
		case pj.Status == pipeline.StatusSkipped:
			now := s.now()
			j.Status, j.Reason, j.FinishedAt = rampart.StatusSkipped, pj.Reason, &now
		case j.Deploys && s.cfg.Deploys != nil:
			j.Status = rampart.StatusPending // advance hands it to the deploy gate once it has an id
		case len(pj.Needs) == 0:
			j.Status = rampart.StatusQueued
		default:
			j.Status = rampart.StatusPending
		}
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
	}
	if len(p.RequiredScans) > 0 {
		if err := s.createGateJob(ctx, tx, p, run, plan); err != nil {
			return err
		}
	}
	// A plan in which everything is skipped is already finished.
	return s.advance(ctx, tx, run.ID)
}

// GateJob is the name of the job the server adds to every run of a project with required scans.
const GateJob = "security-gate"

// createGateJob adds the project's required scans as a job of their own, which the repository
// cannot remove or weaken: it is not in the pipeline file, and the server judges its findings.
func (s *Scheduler) createGateJob(ctx context.Context, tx rampart.Tx, p *rampart.Project, run *rampart.Run, plan *pipeline.Plan) error {
	name := GateJob
	for taken := true; taken; {
		taken = false
		for _, pj := range plan.Jobs {
			if pj.Name == name {
				// The pipeline has a job of that name; the required one must still run.
				name, taken = name+"-required", true
				break
			}
		}
	}
	spec := rampart.JobSpec{
		Project: p.Name, RunID: run.ID, RunNumber: run.Number, Job: name,
		RepoURL: p.RepoURL, Commit: run.Commit, Ref: run.Ref, Event: run.Event,
		Timeout: 30 * 60, Scan: p.RequiredScans, Required: true,
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return fmt.Errorf("encode job %s: %w", name, err)
	}
	j := &rampart.Job{RunID: run.ID, ProjectID: p.ID, Name: name, Spec: string(b), Status: rampart.StatusQueued, Attempt: 1, CreatedAt: s.now()}
	if run.SecurityFix {
		j.Priority = FastLanePriority
	}
	return tx.CreateJob(ctx, j)
}

// gateRefusal says why a job that ran scans cannot succeed: its agent reported no scan results,
// or the gate failed them. It is "" when the gate passed or the job runs no scans.
func gateRefusal(ctx context.Context, tx rampart.Tx, j *rampart.Job) (string, error) {
	var spec rampart.JobSpec
	if err := json.Unmarshal([]byte(j.Spec), &spec); err != nil {
		return "", fmt.Errorf("decode spec of job %d: %w", j.ID, err)
	}
	if len(spec.Scan) == 0 && len(spec.SARIF) == 0 {
		return "", nil
	}
	results, err := tx.ScanResults(ctx, j.RunID)
	if err != nil {
		return "", err
	}
	for _, r := range results {
		if r.JobID != j.ID {
			continue
		}
		if r.Verdict.Pass {
			return "", nil
		}
		first := ""
		if len(r.Verdict.Failures) > 0 {
			first = ": " + r.Verdict.Failures[0]
		}
		return fmt.Sprintf("security gate failed with %d of %d findings%s; see `rampart findings %s %d`",
			len(r.Verdict.Failures), r.Verdict.Findings, first, spec.Project, spec.RunNumber), nil
	}
	return "the job's scans reported no results to the security gate, so it cannot pass", nil
}

// advance moves a run's graph forward inside tx: pending jobs whose needs all succeeded become
// queued, those with a need that did not succeed are skipped, and a run whose jobs are all
// finished gets its final status. It reports nothing; callers wake leasers afterwards.
func (s *Scheduler) advance(ctx context.Context, tx rampart.Tx, runID int64) error {
	jobs, err := tx.ListJobs(ctx, runID)
	if err != nil {
		return err
	}
	byName := make(map[string]*rampart.Job, len(jobs))
	for _, j := range jobs {
		byName[j.Name] = j
	}
	now := s.now()
	var run *rampart.Run
	// Jobs come in plan order (needs first), so one pass settles chains of skips.
	for _, j := range jobs {
		if j.Status != rampart.StatusPending {
			continue
		}
		ready, blocked := true, ""
		for _, n := range j.Needs {
			need := byName[n]
			switch {
			case need == nil:
				blocked = n + " does not exist"
			case need.Status == rampart.StatusSucceeded:
			case rampart.Terminal(need.Status):
				blocked = fmt.Sprintf("needs %s, which %s", n, strings.ReplaceAll(need.Status, "_", " "))
			default:
				ready = false
			}
			if blocked != "" {
				break
			}
		}
		switch {
		case blocked != "":
			j.Status, j.Reason, j.FinishedAt = rampart.StatusSkipped, blocked, &now
		case ready && j.Deploys && s.cfg.Deploys != nil:
			if run == nil {
				if run, err = tx.RunByID(ctx, runID); err != nil {
					return err
				}
			}
			var spec rampart.JobSpec
			if err := json.Unmarshal([]byte(j.Spec), &spec); err != nil {
				return fmt.Errorf("decode spec of job %d: %w", j.ID, err)
			}
			refusal, err := s.cfg.Deploys.Hold(ctx, tx, run, j, spec.Environment)
			if err != nil {
				return fmt.Errorf("hold deploy job %d: %w", j.ID, err)
			}
			if refusal != "" {
				j.Status, j.Reason, j.FinishedAt = rampart.StatusFailed, refusal, &now
			} else {
				j.Status, j.Reason = rampart.StatusWaiting, "waiting for the rules of environment "+spec.Environment
			}
		case ready:
			j.Status = rampart.StatusQueued
		default:
			continue
		}
		if err := tx.UpdateJob(ctx, j); err != nil {
			return err
		}
	}
	return s.finishRun(ctx, tx, runID, jobs)
}

// Advance moves a run's job graph forward inside tx, as after a job ends: the deploy gate calls
// it after failing a deploy job it refused.
func (s *Scheduler) Advance(ctx context.Context, tx rampart.Tx, runID int64) error {
	return s.advance(ctx, tx, runID)
}

// Wake tells waiting Lease calls that jobs were queued (the deploy gate released some).
func (s *Scheduler) Wake() { s.notify() }

// securityTrailer reads a "Security-Fix: ID" trailer from the commit of a push to a branch that
// one of the project's environments explicitly allows to deploy, which puts the run in the fast
// lane. Pull requests and other branches cannot claim the fast lane.
func (s *Scheduler) securityTrailer(ctx context.Context, p *rampart.Project, tr Trigger) (bool, string) {
	cr, ok := s.cfg.Repo.(interface {
		Commits(ctx context.Context, repoURL, from, to string) ([]*rampart.Commit, error)
	})
	if !ok || tr.Event != rampart.EventPush || tr.FromFork || tr.Branch == "" {
		return false, ""
	}
	allowed := false
	err := s.store.View(ctx, func(tx rampart.Tx) error {
		envs, err := tx.ListEnvironments(ctx, p.ID)
		for _, e := range envs {
			for _, b := range e.Protection.Branches {
				allowed = allowed || pipeline.MatchGlob(b, tr.Branch)
			}
		}
		return err
	})
	if err != nil || !allowed {
		return false, ""
	}
	cs, err := cr.Commits(ctx, p.RepoURL, "", tr.Commit)
	if err != nil || len(cs) == 0 {
		s.logger.Warn("cannot read the commit message for a Security-Fix trailer", "project", p.Name, "commit", tr.Commit, "err", err)
		return false, ""
	}
	return SecurityFixTrailer(cs[0].Message)
}

// SecurityFixTrailer returns the incident id of a "Security-Fix: ID" trailer in a commit
// message: a line of its own in the last paragraph, as git trailers are written.
func SecurityFixTrailer(msg string) (bool, string) {
	paras := strings.Split(strings.TrimSpace(strings.ReplaceAll(msg, "\r\n", "\n")), "\n\n")
	if len(paras) < 2 {
		return false, ""
	}
	for _, line := range strings.Split(paras[len(paras)-1], "\n") {
		key, val, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(key), "Security-Fix") {
			if id := strings.TrimSpace(val); id != "" && len(id) <= 100 {
				return true, id
			}
		}
	}
	return false, ""
}

// finishRun gives a run its final status once every job has finished.
func (s *Scheduler) finishRun(ctx context.Context, tx rampart.Tx, runID int64, jobs []*rampart.Job) error {
	run, err := tx.RunByID(ctx, runID)
	if err != nil {
		return err
	}
	if rampart.Terminal(run.Status) {
		return nil
	}
	status := rampart.StatusSucceeded
	for _, j := range jobs {
		switch j.Status {
		case rampart.StatusSucceeded, rampart.StatusSkipped:
		case rampart.StatusFailed, rampart.StatusTimedOut:
			if status == rampart.StatusSucceeded {
				status = rampart.StatusFailed
				run.Reason = fmt.Sprintf("job %s %s", j.Name, strings.ReplaceAll(j.Status, "_", " "))
			}
		case rampart.StatusInterrupted:
			status = rampart.StatusInterrupted
			run.Reason = fmt.Sprintf("job %s was interrupted; retry or cancel it", j.Name)
		case rampart.StatusCancelled:
			if status == rampart.StatusSucceeded {
				status = rampart.StatusCancelled
			}
		default:
			return nil // still going
		}
	}
	now := s.now()
	run.Status, run.FinishedAt = status, &now
	if run.StartedAt == nil {
		run.StartedAt = &now
	}
	if err := tx.UpdateRun(ctx, run); err != nil {
		return err
	}
	ev := audit.Event(rampart.SystemActor(), "run.finish", fmt.Sprintf("run:%s#%d", run.Project, run.Number), rampart.ResultSuccess)
	ev.Detail = "status=" + status
	return audit.Append(ctx, tx, ev, now)
}

// Lease waits up to wait for a queued job that agent can run and leases it. It returns nil when
// none came in time.
func (s *Scheduler) Lease(ctx context.Context, agent *rampart.Agent, req rampart.LeaseRequest) (*rampart.Lease, error) {
	wait := time.Duration(req.WaitSeconds) * time.Second
	if wait > 30*time.Second {
		wait = 30 * time.Second
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(s.cfg.PollEvery)
	defer tick.Stop()
	for {
		woken := s.waiter()
		lease, run, err := s.tryLease(ctx, agent, req)
		if err != nil {
			return nil, err
		}
		if lease != nil {
			if err := s.deliverSecrets(ctx, lease, run); err != nil {
				// The job cannot run as written: fail it with the reason and look for another.
				if cerr := s.Complete(ctx, lease.JobID, lease.Fence, rampart.CompleteRequest{Status: rampart.StatusFailed, ExitCode: -1, Reason: rampart.ErrorMessage(err)}); cerr != nil {
					return nil, fmt.Errorf("fail job %d after %v: %w", lease.JobID, err, cerr)
				}
				continue
			}
			return lease, nil
		}
		select {
		case <-woken:
		case <-tick.C:
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// deliverSecrets puts the values of the secrets a leased job declared into its lease — unless the
// run comes from a fork's pull request, whose code nobody with write access has reviewed: such
// runs get no secrets at all, and the job log says so.
func (s *Scheduler) deliverSecrets(ctx context.Context, lease *rampart.Lease, run *rampart.Run) error {
	names := lease.Spec.Secrets
	if len(names) == 0 {
		return nil
	}
	if run.FromFork {
		lease.Withheld, lease.Why = names, "this run comes from a pull request of a fork, which never receives secrets"
		return nil
	}
	if s.cfg.Secrets == nil {
		return rampart.Errorf(rampart.EUNAVAILABLE, "this server has no vault to deliver secrets from")
	}
	if lease.Spec.Environment != "" && s.cfg.Deploys != nil {
		// Environment secrets only once the environment's rules let the deployment go.
		if err := s.store.View(ctx, func(tx rampart.Tx) error { return s.cfg.Deploys.Released(ctx, tx, lease.JobID) }); err != nil {
			return err
		}
	}
	values, err := s.cfg.Secrets.ForJob(ctx, run.ProjectID, lease.Spec.Environment, names)
	if err != nil {
		return err
	}
	lease.Secrets = values
	return nil
}

func (s *Scheduler) tryLease(ctx context.Context, agent *rampart.Agent, req rampart.LeaseRequest) (*rampart.Lease, *rampart.Run, error) {
	token, err := auth.NewSecret(rampart.JobTokenPrefix)
	if err != nil {
		return nil, nil, err
	}
	var (
		lease  *rampart.Lease
		leased *rampart.Run
	)
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		now := s.now()
		a, err := tx.AgentByID(ctx, agent.ID)
		if err != nil {
			return err
		}
		a.LastSeenAt = &now
		if req.Version != "" {
			a.Version = req.Version
		}
		if err := tx.UpdateAgent(ctx, a); err != nil {
			return err
		}
		held, err := tx.RunningJobsOfAgent(ctx, a.ID)
		if err != nil {
			return err
		}
		// Jobs the server thinks the agent runs but the agent does not report were lost with
		// an agent restart: recover them now instead of waiting for their leases to expire.
		running := 0
		for _, j := range held {
			if slices.Contains(req.Running, j.ID) {
				running++
				continue
			}
			if err := s.lost(ctx, tx, j, fmt.Sprintf("agent %s restarted without it", a.Name)); err != nil {
				return err
			}
		}
		capacity := max(min(req.Capacity, a.Capacity), 1)
		if running >= capacity || a.Disabled {
			return nil
		}
		queued, err := tx.QueuedJobs(ctx, 100)
		if err != nil {
			return err
		}
		for _, j := range queued {
			if !hasLabels(a.Labels, j.Labels) {
				continue
			}
			expires := now.Add(s.cfg.LeaseTTL)
			j.Status, j.AgentID, j.Fence = rampart.StatusRunning, a.ID, j.Fence+1
			j.TokenHash, j.LeaseExpiresAt, j.StartedAt = auth.HashSecret(token), &expires, &now
			if err := tx.UpdateJob(ctx, j); err != nil {
				return err
			}
			run, err := tx.RunByID(ctx, j.RunID)
			if err != nil {
				return err
			}
			if run.Status == rampart.StatusQueued {
				run.Status, run.StartedAt = rampart.StatusRunning, &now
				if err := tx.UpdateRun(ctx, run); err != nil {
					return err
				}
			}
			var spec rampart.JobSpec
			if err := json.Unmarshal([]byte(j.Spec), &spec); err != nil {
				return fmt.Errorf("decode spec of job %d: %w", j.ID, err)
			}
			lease, leased = &rampart.Lease{JobID: j.ID, Fence: j.Fence, Token: token, ExpiresAt: expires, Spec: spec}, run
			ev := audit.Event(&rampart.Actor{Name: "agent:" + a.Name, Source: "agent"}, "job.lease", fmt.Sprintf("job:%d", j.ID), rampart.ResultSuccess)
			ev.Detail = fmt.Sprintf("run=%s#%d job=%s attempt=%d fence=%d", run.Project, run.Number, j.Name, j.Attempt, j.Fence)
			if len(spec.Secrets) > 0 {
				// Which secrets went where is what an investigation needs first; values never.
				verb := "secrets"
				if run.FromFork {
					verb = "secrets-withheld"
				}
				ev.Detail += fmt.Sprintf(" %s=%s", verb, strings.Join(spec.Secrets, ","))
			}
			return audit.Append(ctx, tx, ev, now)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("lease a job for agent %s: %w", agent.Name, err)
	}
	return lease, leased, nil
}

// hasLabels reports whether an agent with labels have can run a job that needs want.
func hasLabels(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// errFenced is the answer to any call for a lease that is no longer the job's current one.
var errFenced = rampart.Errorf(rampart.ECONFLICT, "this job's lease is no longer yours").
	WithDetail("the job was re-queued, cancelled or finished after your lease expired; stop it and lease again")

// JobByToken returns the job a job token belongs to, checking that its lease is current: the job
// runs and the fence matches.
func (s *Scheduler) JobByToken(ctx context.Context, token string, fence int64) (*rampart.Job, error) {
	var job *rampart.Job
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		job, err = tx.JobByTokenHash(ctx, auth.HashSecret(token))
		return err
	})
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, errFenced
	} else if err != nil {
		return nil, err
	}
	if job.Status != rampart.StatusRunning || job.Fence != fence {
		return nil, errFenced
	}
	return job, nil
}

// current re-reads a job inside tx and checks that the lease with fence is still its lease.
func current(ctx context.Context, tx rampart.Tx, jobID, fence int64) (*rampart.Job, error) {
	j, err := tx.JobByID(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if j.Status != rampart.StatusRunning || j.Fence != fence {
		return nil, errFenced
	}
	return j, nil
}

// Heartbeat extends a job's lease and says whether it was cancelled.
func (s *Scheduler) Heartbeat(ctx context.Context, jobID, fence int64) (*rampart.HeartbeatResponse, error) {
	var resp *rampart.HeartbeatResponse
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		j, err := current(ctx, tx, jobID, fence)
		if err != nil {
			return err
		}
		expires := s.now().Add(s.cfg.LeaseTTL)
		j.LeaseExpiresAt = &expires
		resp = &rampart.HeartbeatResponse{Cancel: j.CancelRequested, ExpiresAt: expires}
		return tx.UpdateJob(ctx, j)
	})
	return resp, err
}

// AppendLog stores a log chunk of a leased job.
func (s *Scheduler) AppendLog(ctx context.Context, jobID, fence, seq int64, data []byte) error {
	if seq < 1 {
		return rampart.Errorf(rampart.EINVALID, "log sequence numbers start at 1")
	}
	var (
		j   *rampart.Job
		run *rampart.Run
	)
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		if j, err = current(ctx, tx, jobID, fence); err != nil {
			return err
		}
		run, err = tx.RunByID(ctx, j.RunID)
		return err
	})
	if err != nil {
		return err
	}
	m, err := s.maskerFor(ctx, j, run.FromFork)
	if err != nil {
		return fmt.Errorf("mask log of job %d: %w", jobID, err)
	}
	if m != nil {
		data = m.Bytes(data)
	}
	return s.store.Update(ctx, func(tx rampart.Tx) error {
		if _, err := current(ctx, tx, jobID, fence); err != nil {
			return err
		}
		return tx.AppendLog(ctx, &rampart.LogChunk{JobID: jobID, Seq: seq, Data: data, CreatedAt: s.now()})
	})
}

// AddArtifact stores an artifact of a leased job with its signed provenance envelope (nil for
// none), in one transaction: an artifact is never stored without the provenance it was
// uploaded with.
func (s *Scheduler) AddArtifact(ctx context.Context, jobID, fence int64, name, digest string, data, provenance []byte) (*rampart.Artifact, error) {
	var a *rampart.Artifact
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		j, err := current(ctx, tx, jobID, fence)
		if err != nil {
			return err
		}
		if err := tx.PutBlob(ctx, digest, data); err != nil {
			return err
		}
		a = &rampart.Artifact{RunID: j.RunID, JobID: j.ID, Name: name, Digest: digest, Size: int64(len(data)), CreatedAt: s.now()}
		if err := tx.CreateArtifact(ctx, a); err != nil {
			return err
		}
		if provenance == nil {
			return nil
		}
		return tx.SetArtifactProvenance(ctx, a.ID, provenance)
	})
	return a, err
}

// Complete records how a leased job ended, ends its token and advances the run.
func (s *Scheduler) Complete(ctx context.Context, jobID, fence int64, req rampart.CompleteRequest) error {
	switch req.Status {
	case rampart.StatusSucceeded, rampart.StatusFailed, rampart.StatusTimedOut, rampart.StatusCancelled:
	default:
		return rampart.Errorf(rampart.EINVALID, "a job cannot complete as %q", req.Status).WithDetail("use succeeded, failed, timed_out or cancelled")
	}
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		j, err := current(ctx, tx, jobID, fence)
		if err != nil {
			return err
		}
		now := s.now()
		reason := req.Reason
		if run, err := tx.RunByID(ctx, j.RunID); err != nil {
			return err
		} else if m, err := s.maskerFor(ctx, j, run.FromFork); err != nil {
			return err
		} else if m != nil {
			reason = m.String(reason)
		}
		status := req.Status
		if status == rampart.StatusSucceeded {
			// The gate is the server's decision, not the agent's: a job whose scans did
			// not pass fails whatever its steps did.
			refusal, err := gateRefusal(ctx, tx, j)
			if err != nil {
				return err
			}
			if refusal != "" {
				status, reason = rampart.StatusFailed, refusal
			}
		}
		j.Status, j.ExitCode, j.Reason, j.FinishedAt = status, req.ExitCode, truncate(reason, 2000), &now
		j.TokenHash, j.LeaseExpiresAt = "", nil
		if err := tx.UpdateJob(ctx, j); err != nil {
			return err
		}
		ev := audit.Event(&rampart.Actor{Name: fmt.Sprintf("agent:%d", j.AgentID), Source: "agent"}, "job.complete", fmt.Sprintf("job:%d", j.ID), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("status=%s exit=%d", j.Status, j.ExitCode)
		if err := audit.Append(ctx, tx, ev, now); err != nil {
			return err
		}
		return s.advance(ctx, tx, j.RunID)
	})
	if err != nil {
		return err
	}
	s.masks.drop(jobID)
	s.notify()
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lost handles a running job whose agent is gone: a cancelled job ends cancelled, a deploy job
// is interrupted for a person to decide, a build job is re-queued until MaxAttempts and then
// failed. The job's token ends in every case, so the old agent's calls are refused.
func (s *Scheduler) lost(ctx context.Context, tx rampart.Tx, j *rampart.Job, why string) error {
	now := s.now()
	action := "job.requeue"
	j.TokenHash, j.LeaseExpiresAt = "", nil
	switch {
	case j.CancelRequested:
		j.Status, j.Reason, j.FinishedAt, action = rampart.StatusCancelled, "cancelled; "+why, &now, "job.cancel"
	case j.Deploys:
		j.Status, j.FinishedAt, action = rampart.StatusInterrupted, &now, "job.interrupt"
		j.Reason = why + "; deploy jobs are never re-run automatically: retry or cancel the run"
	case j.Attempt < s.cfg.MaxAttempts:
		j.Status, j.AgentID, j.StartedAt = rampart.StatusQueued, 0, nil
		j.Attempt++
		j.Reason = fmt.Sprintf("re-queued (attempt %d of %d): %s", j.Attempt, s.cfg.MaxAttempts, why)
	default:
		j.Status, j.FinishedAt, action = rampart.StatusFailed, &now, "job.fail"
		j.Reason = fmt.Sprintf("failed after %d attempts: %s", j.Attempt, why)
	}
	if err := tx.UpdateJob(ctx, j); err != nil {
		return err
	}
	ev := audit.Event(rampart.SystemActor(), action, fmt.Sprintf("job:%d", j.ID), rampart.ResultSuccess)
	ev.Detail = j.Reason
	if err := audit.Append(ctx, tx, ev, now); err != nil {
		return err
	}
	s.logger.Warn("job lost its agent", "job", j.ID, "name", j.Name, "status", j.Status, "reason", j.Reason)
	return s.advance(ctx, tx, j.RunID)
}

// Sweep recovers every job whose lease expired. The background loop calls it; tests call it
// directly.
func (s *Scheduler) Sweep(ctx context.Context) error {
	n := 0
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		jobs, err := tx.ExpiredLeases(ctx, s.now())
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if err := s.lost(ctx, tx, j, fmt.Sprintf("agent %d stopped answering (lease expired)", j.AgentID)); err != nil {
				return err
			}
		}
		n = len(jobs)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep expired leases: %w", err)
	}
	if n > 0 {
		s.notify()
	}
	return nil
}

// Cancel cancels a run: jobs not yet started end at once; running jobs are told through their
// next heartbeat and end when their agent reports back (or their lease expires).
func (s *Scheduler) Cancel(ctx context.Context, actor *rampart.Actor, run *rampart.Run) error {
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		r, err := tx.RunByID(ctx, run.ID)
		if err != nil {
			return err
		}
		if rampart.Terminal(r.Status) {
			return rampart.Errorf(rampart.ECONFLICT, "run #%d already %s", r.Number, r.Status).WithDetail("only queued and running runs can be cancelled")
		}
		jobs, err := tx.ListJobs(ctx, r.ID)
		if err != nil {
			return err
		}
		now := s.now()
		for _, j := range jobs {
			switch j.Status {
			case rampart.StatusPending, rampart.StatusQueued, rampart.StatusWaiting:
				j.Status, j.Reason, j.FinishedAt = rampart.StatusCancelled, "cancelled by "+actor.Name, &now
			case rampart.StatusRunning:
				j.CancelRequested = true
			default:
				continue
			}
			if err := tx.UpdateJob(ctx, j); err != nil {
				return err
			}
		}
		r.Reason = "cancelled by " + actor.Name
		if err := tx.UpdateRun(ctx, r); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, audit.Event(actor, "run.cancel", fmt.Sprintf("run:%s#%d", r.Project, r.Number), rampart.ResultSuccess), now); err != nil {
			return err
		}
		return s.advance(ctx, tx, r.ID)
	})
	return err
}

// Retry starts a new run of the same commit and event as run.
func (s *Scheduler) Retry(ctx context.Context, actor *rampart.Actor, p *rampart.Project, run *rampart.Run) (*rampart.Run, error) {
	return s.CreateRun(ctx, actor, p, Trigger{
		Event: run.Event, Ref: run.Ref, Branch: run.Branch, Tag: run.Tag, Commit: run.Commit,
		PullRequest: run.PullRequest, FromFork: run.FromFork, Rerun: true, SecurityFix: run.SecurityFix, Incident: run.Incident,
		TriggeredBy: fmt.Sprintf("%s (retry of #%d)", actor.Name, run.Number),
	})
}

// StartRollback starts a run at the commit of deployment d with only d's job, which deploys d's
// artifacts again through the environment's rules.
func (s *Scheduler) StartRollback(ctx context.Context, actor *rampart.Actor, p *rampart.Project, d *rampart.Deployment) (*rampart.Run, error) {
	branch, _ := strings.CutPrefix(d.Ref, "refs/heads/")
	tag, _ := strings.CutPrefix(d.Ref, "refs/tags/")
	if strings.HasPrefix(d.Ref, "refs/tags/") {
		branch = ""
	} else {
		tag = ""
	}
	return s.CreateRun(ctx, actor, p, Trigger{
		Event: rampart.EventManual, Ref: d.Ref, Branch: branch, Tag: tag, Commit: d.Commit, Rerun: true,
		OnlyJobs: []string{d.Job}, RollbackOf: d.ID,
		TriggeredBy: fmt.Sprintf("%s (rollback of %s to deployment %d)", actor.Name, d.Environment, d.ID),
	})
}
