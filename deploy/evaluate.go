package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/pipeline"
	"github.com/rampart-ci/rampart/rbac"
)

// Advance moves a run's job graph forward after a deploy job was failed or released; the
// scheduler implements it.
type Advance func(ctx context.Context, tx rampart.Tx, runID int64) error

// SetAdvance sets how runs move on after a refusal. It must be called once, before Evaluate.
func (s *Service) SetAdvance(a Advance) { s.advance = a }

// Evaluate checks every active deployment against its environment's rules: it releases those
// whose rules are met to the queue, refuses those a rule refuses for good (failing their job),
// and follows released ones to their end. The server calls it every second and after each
// decision; it is safe to call from several servers at once.
func (s *Service) Evaluate(ctx context.Context) error {
	var ds []*rampart.Deployment
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		ds, err = tx.ActiveDeployments(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("evaluate deployments: %w", err)
	}
	released := false
	for _, d := range ds {
		r, err := s.evaluate(ctx, d)
		if err != nil {
			return fmt.Errorf("evaluate deployment %d: %w", d.ID, err)
		}
		released = released || r
	}
	if released {
		s.cfg.Released()
	}
	return nil
}

// Background runs Evaluate every interval until ctx ends.
func (s *Service) Background(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.Evaluate(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("deploy: evaluate", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// evaluate checks one deployment. Git is read before the transaction, never inside it.
func (s *Service) evaluate(ctx context.Context, snapshot *rampart.Deployment) (released bool, err error) {
	var commitTime *time.Time
	if snapshot.CommitTime == nil && s.cfg.Commits != nil {
		commitTime = s.commitTime(ctx, snapshot)
	}
	err = s.cfg.Store.Update(ctx, func(tx rampart.Tx) error {
		d, err := tx.DeploymentByID(ctx, snapshot.ID)
		if err != nil {
			return err
		}
		if d.CommitTime == nil && commitTime != nil {
			// Stored at once, whatever happens next, so that git is read once per deployment.
			d.CommitTime = commitTime
			if err := tx.UpdateDeployment(ctx, d); err != nil {
				return err
			}
		}
		job, err := tx.JobByID(ctx, d.JobID)
		if err != nil {
			return err
		}
		switch d.Status {
		case rampart.DeployQueued, rampart.DeployRunning:
			return s.follow(ctx, tx, d, job)
		case rampart.DeployWaiting:
			released, err = s.check(ctx, tx, d, job)
			return err
		}
		return nil
	})
	return released, err
}

func (s *Service) commitTime(ctx context.Context, d *rampart.Deployment) *time.Time {
	var repoURL string
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		p, err := tx.ProjectByID(ctx, d.ProjectID)
		if err == nil {
			repoURL = p.RepoURL
		}
		return err
	}); err != nil {
		return nil
	}
	cs, err := s.cfg.Commits.Commits(ctx, repoURL, "", d.Commit)
	if err != nil || len(cs) == 0 {
		// Tried again at the next evaluation; the lead time stays unknown meanwhile.
		s.cfg.Logger.Debug("deploy: cannot read the commit time", "deployment", d.ID, "err", err)
		return nil
	}
	t := cs[0].Time
	return &t
}

// follow moves a released deployment along with its job.
func (s *Service) follow(ctx context.Context, tx rampart.Tx, d *rampart.Deployment, job *rampart.Job) error {
	now := s.now()
	switch {
	case job.Status == rampart.StatusRunning && d.Status == rampart.DeployQueued:
		d.Status, d.StartedAt = rampart.DeployRunning, job.StartedAt
		return tx.UpdateDeployment(ctx, d)
	case !rampart.Terminal(job.Status):
		return nil
	}
	d.FinishedAt = job.FinishedAt
	if d.FinishedAt == nil {
		d.FinishedAt = &now
	}
	result := rampart.ResultSuccess
	switch job.Status {
	case rampart.StatusSucceeded:
		d.Status = rampart.DeploySucceeded
	case rampart.StatusCancelled:
		d.Status, result = rampart.DeployCancelled, rampart.ResultFailure
	default:
		d.Status, result = rampart.DeployFailed, rampart.ResultFailure
	}
	if err := tx.UpdateDeployment(ctx, d); err != nil {
		return err
	}
	ev := audit.Event(rampart.SystemActor(), "deploy.finish", fmt.Sprintf("deployment:%d", d.ID), result)
	ev.Detail = fmt.Sprintf("env=%s commit=%s status=%s", d.Environment, d.Commit, d.Status)
	if lead := LeadTime(d); lead > 0 {
		ev.Detail += fmt.Sprintf(" commit_to_production=%s", lead.Round(time.Second))
	}
	if d.SecurityFix {
		ev.Detail += fmt.Sprintf(" security_fix=true incident=%s", d.Incident)
	}
	return audit.Append(ctx, tx, ev, now)
}

// LeadTime is the time from the deployed commit to the end of its deployment, when both are
// known.
func LeadTime(d *rampart.Deployment) time.Duration {
	if d.CommitTime == nil || d.FinishedAt == nil {
		return 0
	}
	return d.FinishedAt.Sub(*d.CommitTime)
}

// check evaluates a waiting deployment's rules in order: refusals first (they never change), then
// what it waits for. It releases the deployment when nothing is left.
func (s *Service) check(ctx context.Context, tx rampart.Tx, d *rampart.Deployment, job *rampart.Job) (bool, error) {
	now := s.now()
	if rampart.Terminal(job.Status) {
		// The run was cancelled while the deployment waited.
		d.Status, d.Waiting, d.FinishedAt = rampart.DeployCancelled, "the run was cancelled: "+job.Reason, &now
		return false, tx.UpdateDeployment(ctx, d)
	}
	if job.Status != rampart.StatusWaiting {
		return false, nil
	}
	run, err := tx.RunByID(ctx, d.RunID)
	if err != nil {
		return false, err
	}
	env, err := tx.EnvironmentByName(ctx, d.ProjectID, d.Environment)
	if err != nil {
		return false, err
	}
	rules := env.Protection
	refuse := func(why string) (bool, error) { return false, s.refuse(ctx, tx, d, job, why) }
	wait := func(why string) (bool, error) {
		if d.Waiting == why {
			return false, nil
		}
		d.Waiting = why
		return false, tx.UpdateDeployment(ctx, d)
	}

	// Where the change comes from.
	if run.FromFork {
		return refuse("a pull request from a fork never deploys")
	}
	if len(rules.Branches) > 0 || len(rules.Tags) > 0 {
		switch {
		case run.Event == rampart.EventPullRequest:
			return refuse(fmt.Sprintf("%s allows deployments from branches %s only, not from pull requests", env.Name, list(rules.Branches)))
		case run.Tag != "" && matchAny(rules.Tags, run.Tag):
		case run.Tag == "" && run.Branch != "" && matchAny(rules.Branches, run.Branch):
		default:
			ref := "branch " + run.Branch
			if run.Tag != "" {
				ref = "tag " + run.Tag
			}
			return refuse(fmt.Sprintf("%s is not allowed to deploy to %s (allowed branches: %s; tags: %s)", ref, env.Name, list(rules.Branches), list(rules.Tags)))
		}
	}
	if rules.Production && (run.Event == rampart.EventManual || run.RollbackOf != 0) {
		if ok, err := mayRelease(ctx, tx, run); err != nil {
			return false, err
		} else if !ok {
			return refuse(fmt.Sprintf("%s is production: a manual release must be started by a release manager or an admin, and %s is neither",
				env.Name, starter(run)))
		}
	}

	// Gates: the environment's rule, or the project's required scans, which no deployment may
	// outrun.
	p, err := tx.ProjectByID(ctx, d.ProjectID)
	if err != nil {
		return false, err
	}
	if rules.RequireGate || len(p.RequiredScans) > 0 {
		gated := run
		if run.RollbackOf != 0 {
			// A rollback redeploys what an earlier run built and gated.
			orig, err := tx.DeploymentByID(ctx, run.RollbackOf)
			if err != nil {
				return false, err
			}
			if gated, err = tx.RunByID(ctx, orig.RunID); err != nil {
				return false, err
			}
		}
		why, waiting, err := gate(ctx, tx, gated)
		if err != nil {
			return false, err
		}
		switch {
		case waiting:
			return wait(why)
		case why != "":
			return refuse(why)
		}
	}
	if rules.RequireReview {
		if s.cfg.Reviews == nil {
			return refuse(env.Name + " requires review evidence, and this server records none")
		}
		covered, why, _, err := s.cfg.Reviews.Covered(ctx, tx, d.ProjectID, d.Commit)
		if err != nil {
			return false, err
		}
		if !covered {
			return refuse(fmt.Sprintf("commit %s is not covered by an approving review from someone other than its author: %s", short(d.Commit), why))
		}
	}
	if run.RollbackOf == 0 {
		refs, err := inputs(ctx, tx, run)
		if err != nil {
			return false, err
		}
		d.Artifacts = refs // approvals bound to another set stop counting below
	}

	// Approvals.
	approvals, err := tx.ListApprovals(ctx, d.ID)
	if err != nil {
		return false, err
	}
	sum := ArtifactsSum(d.Artifacts)
	approvers, securityApproved := map[string]bool{}, false
	for _, a := range approvals {
		if !now.Before(a.ExpiresAt) || a.Commit != d.Commit || a.ArtifactsSum != sum {
			continue // expired, or made on another commit or artifact set
		}
		if !a.Approve {
			return refuse(fmt.Sprintf("rejected by %s: %s", a.User, a.Comment))
		}
		approvers[a.User] = true
		securityApproved = securityApproved || a.Role == rampart.RoleSecurity
	}
	fastLane := d.SecurityFix && securityApproved
	if need := rules.RequiredApprovals - len(approvers); need > 0 && !fastLane {
		who := "holders of deploy.approve"
		if rules.Production {
			who = "release managers or admins"
		}
		if len(rules.Approvers) > 0 {
			who = strings.Join(rules.Approvers, ", ")
		}
		why := fmt.Sprintf("waiting for %d more approval(s) from %s (%d of %d)", need, who, len(approvers), rules.RequiredApprovals)
		if d.SecurityFix {
			why += "; as a security fix, one approval by the security role is enough"
		}
		return wait(why)
	}
	if d.ApprovedAt == nil {
		d.ApprovedAt = &now
		ev := audit.Event(rampart.SystemActor(), "deploy.approved", fmt.Sprintf("deployment:%d", d.ID), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("env=%s commit=%s approvers=%s fast_lane=%t", env.Name, d.Commit, strings.Join(sortedKeys(approvers), ","), fastLane)
		if err := audit.Append(ctx, tx, ev, now); err != nil {
			return false, err
		}
		if err := tx.UpdateDeployment(ctx, d); err != nil {
			return false, err
		}
	}

	// Timing: skipped by the security fast lane.
	if !d.SecurityFix {
		if until := d.ApprovedAt.Add(time.Duration(rules.WaitSeconds) * time.Second); now.Before(until) {
			return wait("wait timer until " + until.Format(time.RFC3339))
		}
		ok, err := inWindows(rules.Windows, now)
		if err != nil {
			return false, err
		}
		if !ok {
			return wait("outside the deployment windows " + strings.Join(rules.Windows, "; ") + " (UTC)")
		}
	}
	active, err := tx.ActiveDeployments(ctx)
	if err != nil {
		return false, err
	}
	for _, o := range active {
		if o.EnvironmentID == d.EnvironmentID && o.ID != d.ID && (o.Status == rampart.DeployQueued || o.Status == rampart.DeployRunning) {
			return wait(fmt.Sprintf("deployment %d (run #%d) to %s is in progress: one at a time", o.ID, o.RunNumber, env.Name))
		}
	}

	// Provenance, last: it reads every artifact, which is worth doing once, when everything
	// else lets the deployment go (the inputs route checks again as the agent downloads).
	for _, ref := range d.Artifacts {
		a, err := tx.ArtifactByID(ctx, ref.ID)
		if err != nil {
			return refuse(fmt.Sprintf("artifact %s is gone: %s", ref.Name, rampart.ErrorMessage(err)))
		}
		if a.Digest != ref.Digest {
			return refuse(fmt.Sprintf("artifact %s changed since the deployment was recorded (%s, now %s)", ref.Name, ref.Digest, a.Digest))
		}
		if s.cfg.Provenance == nil {
			return refuse("this server cannot check the provenance of artifacts, so it deploys none")
		}
		if err := s.cfg.Provenance.Check(ctx, tx, a, d.Commit); err != nil {
			return refuse(fmt.Sprintf("artifact %s has no valid provenance from this server: %s", ref.Name, rampart.ErrorMessage(err)))
		}
	}

	// Release.
	d.Status, d.Waiting = rampart.DeployQueued, ""
	job.Status = rampart.StatusQueued
	if err := tx.UpdateJob(ctx, job); err != nil {
		return false, err
	}
	if err := tx.UpdateDeployment(ctx, d); err != nil {
		return false, err
	}
	ev := audit.Event(rampart.SystemActor(), "deploy.release", fmt.Sprintf("deployment:%d", d.ID), rampart.ResultSuccess)
	ev.Detail = fmt.Sprintf("env=%s run=%s#%d job=%s commit=%s artifacts=%s security_fix=%t", env.Name, run.Project, run.Number, job.Name, d.Commit, sum[:16], d.SecurityFix)
	return true, audit.Append(ctx, tx, ev, now)
}

// refuse ends a deployment that a rule refuses for good and fails its job with the reason.
func (s *Service) refuse(ctx context.Context, tx rampart.Tx, d *rampart.Deployment, job *rampart.Job, why string) error {
	now := s.now()
	d.Status, d.Waiting, d.FinishedAt = rampart.DeployRejected, why, &now
	if err := tx.UpdateDeployment(ctx, d); err != nil {
		return err
	}
	job.Status, job.Reason, job.FinishedAt = rampart.StatusFailed, fmt.Sprintf("deployment to %s refused: %s", d.Environment, why), &now
	if err := tx.UpdateJob(ctx, job); err != nil {
		return err
	}
	ev := audit.Event(rampart.SystemActor(), "deploy.refuse", fmt.Sprintf("deployment:%d", d.ID), rampart.ResultDenied)
	ev.Detail = fmt.Sprintf("env=%s run=%s#%d commit=%s: %s", d.Environment, d.Project, d.RunNumber, d.Commit, why)
	if err := audit.Append(ctx, tx, ev, now); err != nil {
		return err
	}
	s.cfg.Logger.Warn("deployment refused", "deployment", d.ID, "env", d.Environment, "why", why)
	if s.advance == nil {
		return nil
	}
	return s.advance(ctx, tx, d.RunID)
}

// gate judges the run's security gate: why it fails, or that it is still running.
func gate(ctx context.Context, tx rampart.Tx, run *rampart.Run) (why string, waiting bool, err error) {
	jobs, err := tx.ListJobs(ctx, run.ID)
	if err != nil {
		return "", false, err
	}
	results, err := tx.ScanResults(ctx, run.ID)
	if err != nil {
		return "", false, err
	}
	byJob := map[int64]*rampart.ScanResult{}
	for _, r := range results {
		byJob[r.JobID] = r
	}
	scans := 0
	for _, j := range jobs {
		var spec rampart.JobSpec
		if err := json.Unmarshal([]byte(j.Spec), &spec); err != nil {
			return "", false, fmt.Errorf("decode spec of job %d: %w", j.ID, err)
		}
		if len(spec.Scan) == 0 && len(spec.SARIF) == 0 {
			continue
		}
		scans++
		switch {
		case !rampart.Terminal(j.Status):
			return fmt.Sprintf("waiting for the security gate (job %s is %s)", j.Name, j.Status), true, nil
		case j.Status == rampart.StatusSkipped:
			return fmt.Sprintf("the security gate did not run: job %s was skipped", j.Name), false, nil
		case byJob[j.ID] == nil:
			return fmt.Sprintf("the security gate has no result from job %s (%s)", j.Name, j.Status), false, nil
		case !byJob[j.ID].Verdict.Pass:
			return fmt.Sprintf("the security gate failed in job %s (%d failing findings)", j.Name, len(byJob[j.ID].Verdict.Failures)), false, nil
		}
	}
	if scans == 0 {
		return "the environment requires a passed security gate and the run has no scan job: add scan: to a job or set the project's required scans", false, nil
	}
	return "", false, nil
}

// mayRelease reports whether the person who started a manual run may release to production.
func mayRelease(ctx context.Context, tx rampart.Tx, run *rampart.Run) (bool, error) {
	u, err := tx.UserByName(ctx, starter(run))
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if u.Disabled {
		return false, nil
	}
	sub := rbac.Subject{UserID: u.ID, Role: u.Role}
	if sub.ProjectRole, err = tx.MemberRole(ctx, run.ProjectID, u.ID); err != nil {
		return false, err
	}
	return rbac.Can(sub, rbac.DeployRelease, rbac.Resource{}), nil
}

// starter is the user who started a run: TriggeredBy without what follows the name
// ("alice (retry of #3)").
func starter(run *rampart.Run) string {
	name, _, _ := strings.Cut(run.TriggeredBy, " ")
	return name
}

func matchAny(patterns []string, name string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return pipeline.MatchGlob(p, name) })
}

func list(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
