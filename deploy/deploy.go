// Package deploy holds environments, their protection rules, deployments and approvals. A job
// that names an environment does not run when its needs are met: it waits, as a deployment,
// until the environment's rules are met — allowed branch, passed security gate, review evidence,
// provenance of its artifacts, N distinct approvers who did not write or start the change, wait
// timer, deployment window, one deployment at a time — and is only then released to the queue.
// Every rule lives on the server; a repository can only name the environment.
//
// Authorization and audit happen here: every decision and refusal is an audit entry written in
// the same transaction as the change.
package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/pipeline"
	"github.com/rampart-ci/rampart/rbac"
)

// DefaultApprovalTTL is how long an approval counts when the environment sets no time.
const DefaultApprovalTTL = 24 * time.Hour

// Commits reads the commits of a repository; forge/git implements it.
type Commits interface {
	// Commits returns the commits in from..to, newest first; with from "" only to.
	Commits(ctx context.Context, repoURL, from, to string) ([]*rampart.Commit, error)
}

// Reviews answers from the git host's review evidence whether a commit was reviewed.
type Reviews interface {
	// Covered reports whether commit is covered by an approving review from someone other than
	// the pull request's author, why not when it is not, and the authors of the pull requests
	// the commit came through (who may not approve its deployment).
	Covered(ctx context.Context, tx rampart.Tx, projectID int64, commit string) (covered bool, why string, prAuthors []string, err error)
}

// Provenance checks that an artifact about to be deployed carries a valid provenance statement
// signed by this server, whose subject is the artifact's content, built at the deployed commit.
type Provenance interface {
	Check(ctx context.Context, tx rampart.Tx, a *rampart.Artifact, commit string) error
}

// Config is what a Service needs. Store and Commits are required; a nil Reviews refuses every
// deployment to an environment that requires review, and a nil Provenance every deployment
// that consumes artifacts (fail closed).
type Config struct {
	Store      rampart.Store
	Commits    Commits
	Reviews    Reviews
	Provenance Provenance
	Logger     *slog.Logger
	Now        func() time.Time
	// Released is called after deployments were released to the queue, to wake agents.
	Released func()
}

// Service is safe for concurrent use.
type Service struct {
	cfg     Config
	advance Advance
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Released == nil {
		cfg.Released = func() {}
	}
	return &Service{cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

var envNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// subject returns the rbac subject of actor in project p, read inside tx.
func subject(ctx context.Context, tx rampart.Tx, actor *rampart.Actor, p *rampart.Project) (rbac.Subject, error) {
	sub := auth.Subject(actor)
	if actor.UserID != 0 {
		role, err := tx.MemberRole(ctx, p.ID, actor.UserID)
		if err != nil {
			return sub, err
		}
		sub.ProjectRole = role
	}
	return sub, nil
}

// authorize checks actor's permission a in project p and audits a refusal.
func (s *Service) authorize(ctx context.Context, actor *rampart.Actor, p *rampart.Project, a rbac.Action, target string) (rbac.Subject, error) {
	if actor == nil {
		return rbac.Subject{}, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	var sub rbac.Subject
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		sub, err = subject(ctx, tx, actor, p)
		return err
	})
	if err != nil {
		return sub, err
	}
	if err := rbac.Check(sub, a, rbac.Resource{}); err != nil {
		return sub, audit.Denied(ctx, s.cfg.Store, actor, string(a), target, err, s.now())
	}
	return sub, nil
}

// CreateEnvironment adds an environment to project p, unprotected until Protect sets rules.
func (s *Service) CreateEnvironment(ctx context.Context, actor *rampart.Actor, p *rampart.Project, name string) (*rampart.Environment, error) {
	target := fmt.Sprintf("environment:%s/%s", p.Name, name)
	if _, err := s.authorize(ctx, actor, p, rbac.EnvManage, target); err != nil {
		return nil, err
	}
	if !envNameRE.MatchString(name) {
		return nil, rampart.Errorf(rampart.EINVALID, "invalid environment name %q", name).
			WithDetail("use lower-case letters, digits, '.', '-' and '_', starting with a letter or digit, as in .rampart.yml")
	}
	now := s.now()
	e := &rampart.Environment{ProjectID: p.ID, Name: name, CreatedAt: now, UpdatedAt: now}
	err := s.cfg.Store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateEnvironment(ctx, e); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Event(actor, "env.create", target, rampart.ResultSuccess), now)
	})
	if rampart.ErrorCode(err) == rampart.ECONFLICT {
		return nil, rampart.Errorf(rampart.ECONFLICT, "environment %q already exists in %s", name, p.Name).WithDetail("change its rules with `rampart env protect`")
	}
	return e, err
}

// Protect replaces an environment's protection rules.
func (s *Service) Protect(ctx context.Context, actor *rampart.Actor, p *rampart.Project, name string, prot rampart.Protection) (*rampart.Environment, error) {
	target := fmt.Sprintf("environment:%s/%s", p.Name, name)
	if _, err := s.authorize(ctx, actor, p, rbac.EnvManage, target); err != nil {
		return nil, err
	}
	if err := validProtection(&prot); err != nil {
		return nil, err
	}
	var e *rampart.Environment
	err := s.cfg.Store.Update(ctx, func(tx rampart.Tx) (err error) {
		if e, err = tx.EnvironmentByName(ctx, p.ID, name); err != nil {
			return err
		}
		e.Protection, e.UpdatedAt = prot, s.now()
		if err := tx.UpdateEnvironment(ctx, e); err != nil {
			return err
		}
		ev := audit.Event(actor, "env.protect", target, rampart.ResultSuccess)
		ev.Detail = Describe(prot)
		return audit.Append(ctx, tx, ev, e.UpdatedAt)
	})
	if err != nil {
		return nil, err
	}
	return e, nil
}

func validProtection(p *rampart.Protection) error {
	switch {
	case p.RequiredApprovals < 0 || p.RequiredApprovals > 10:
		return rampart.Errorf(rampart.EINVALID, "required approvals %d out of range", p.RequiredApprovals).WithDetail("use 0 to 10")
	case p.WaitSeconds < 0 || p.WaitSeconds > 30*24*3600:
		return rampart.Errorf(rampart.EINVALID, "wait timer %ds out of range", p.WaitSeconds).WithDetail("use 0 to 30 days")
	case p.ApprovalTTLSeconds < 0 || p.ApprovalTTLSeconds > 30*24*3600:
		return rampart.Errorf(rampart.EINVALID, "approval lifetime %ds out of range", p.ApprovalTTLSeconds).WithDetail("use up to 30 days; 0 means 24 hours")
	}
	for _, a := range p.Approvers {
		if name, ok := strings.CutPrefix(a, "user:"); ok {
			if name == "" {
				return rampart.Errorf(rampart.EINVALID, "approver %q names no user", a)
			}
			continue
		}
		if !rampart.IsProjectRole(a) && !rampart.IsOrgRole(a) {
			return rampart.Errorf(rampart.EINVALID, "unknown approver %q", a).WithDetail("use role names (release-manager, maintainer, security, admin) or user:NAME")
		}
	}
	for _, g := range append(slices.Clone(p.Branches), p.Tags...) {
		if err := pipeline.CheckGlob(g); err != nil {
			return rampart.Errorf(rampart.EINVALID, "bad branch or tag pattern %q: %v", g, err)
		}
	}
	for _, w := range p.Windows {
		if _, err := parseWindow(w); err != nil {
			return err
		}
	}
	return nil
}

// Describe puts an environment's rules in words, for the audit log, the API and the UI.
func Describe(p rampart.Protection) string {
	var parts []string
	if p.Production {
		parts = append(parts, "production")
	}
	if p.RequiredApprovals > 0 {
		who := "deploy.approve holders"
		if p.Production {
			who = "release managers or admins"
		}
		if len(p.Approvers) > 0 {
			who = strings.Join(p.Approvers, ",")
		}
		parts = append(parts, fmt.Sprintf("approvals=%d by %s", p.RequiredApprovals, who))
	}
	if len(p.Branches) > 0 {
		parts = append(parts, "branches="+strings.Join(p.Branches, ","))
	}
	if len(p.Tags) > 0 {
		parts = append(parts, "tags="+strings.Join(p.Tags, ","))
	}
	if p.RequireGate {
		parts = append(parts, "require-gate")
	}
	if p.RequireReview {
		parts = append(parts, "require-review")
	}
	if p.WaitSeconds > 0 {
		parts = append(parts, fmt.Sprintf("wait=%ds", p.WaitSeconds))
	}
	if len(p.Windows) > 0 {
		parts = append(parts, "windows="+strings.Join(p.Windows, ";"))
	}
	if len(parts) == 0 {
		return "unprotected"
	}
	return strings.Join(parts, " ")
}

// Environments lists a project's environments with the deployment currently on each.
func (s *Service) Environments(ctx context.Context, p *rampart.Project) ([]*rampart.Environment, error) {
	var es []*rampart.Environment
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		es, err = tx.ListEnvironments(ctx, p.ID)
		return err
	})
	return es, err
}

// History returns an environment's deployments, newest first.
func (s *Service) History(ctx context.Context, p *rampart.Project, env string, limit int) (*rampart.Environment, []*rampart.Deployment, error) {
	var (
		e  *rampart.Environment
		ds []*rampart.Deployment
	)
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		if e, err = tx.EnvironmentByName(ctx, p.ID, env); err != nil {
			return err
		}
		if ds, err = tx.ListDeployments(ctx, e.ID, limit); err != nil {
			return err
		}
		for _, d := range ds {
			if d.Approvals, err = tx.ListApprovals(ctx, d.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return e, ds, err
}

// Deployment returns one deployment of project p with its approvals.
func (s *Service) Deployment(ctx context.Context, p *rampart.Project, id int64) (*rampart.Deployment, error) {
	var d *rampart.Deployment
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		if d, err = tx.DeploymentByID(ctx, id); err != nil {
			return err
		}
		if d.ProjectID != p.ID {
			return rampart.Errorf(rampart.ENOTFOUND, "deployment %d not found in %s", id, p.Name)
		}
		d.Approvals, err = tx.ListApprovals(ctx, d.ID)
		return err
	})
	return d, err
}

// DeploymentProject returns the project name of a deployment, for routes that address a
// deployment by id alone.
func (s *Service) DeploymentProject(ctx context.Context, id int64) (string, error) {
	var name string
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		d, err := tx.DeploymentByID(ctx, id)
		if err != nil {
			return err
		}
		name = d.Project
		return nil
	})
	return name, err
}

// Pending returns the waiting deployments of the projects actor can read, oldest first.
func (s *Service) Pending(ctx context.Context, actor *rampart.Actor) ([]*rampart.Deployment, error) {
	var out []*rampart.Deployment
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		ds, err := tx.ActiveDeployments(ctx)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Status != rampart.DeployWaiting {
				continue
			}
			p, err := tx.ProjectByID(ctx, d.ProjectID)
			if err != nil {
				return err
			}
			sub, err := subject(ctx, tx, actor, p)
			if err != nil {
				return err
			}
			if rbac.Can(sub, rbac.RunRead, rbac.Resource{}) {
				if d.Approvals, err = tx.ListApprovals(ctx, d.ID); err != nil {
					return err
				}
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}

// ArtifactsSum is what an approval is bound to besides the commit: a digest of the set of
// artifact names and digests.
func ArtifactsSum(refs []rampart.ArtifactRef) string {
	ds := make([]string, 0, len(refs))
	for _, r := range refs {
		ds = append(ds, r.Name+"\x00"+r.Digest)
	}
	sort.Strings(ds)
	sum := sha256.Sum256([]byte(strings.Join(ds, "\n")))
	return hex.EncodeToString(sum[:])
}

// inputs returns the artifacts a deployment consumes: a rollback's are those of the deployment
// it redeploys; otherwise every artifact the run's jobs uploaded.
func inputs(ctx context.Context, tx rampart.Tx, run *rampart.Run) ([]rampart.ArtifactRef, error) {
	if run.RollbackOf != 0 {
		d, err := tx.DeploymentByID(ctx, run.RollbackOf)
		if err != nil {
			return nil, err
		}
		return d.Artifacts, nil
	}
	arts, err := tx.ListArtifacts(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	refs := make([]rampart.ArtifactRef, 0, len(arts))
	for _, a := range arts {
		refs = append(refs, rampart.ArtifactRef{ID: a.ID, Name: a.Name, Digest: a.Digest})
	}
	return refs, nil
}

// Deployed reads an environment's history (newest first): current is what runs there now, the
// latest successful deployment, and previous what a rollback goes back to, the successful one
// before it that deployed another commit or other artifacts. Either may be nil.
func Deployed(history []*rampart.Deployment) (current, previous *rampart.Deployment) {
	for _, d := range history {
		if d.Status != rampart.DeploySucceeded {
			continue
		}
		if current == nil {
			current = d
		} else if d.Commit != current.Commit || ArtifactsSum(d.Artifacts) != ArtifactsSum(current.Artifacts) {
			return current, d
		}
	}
	return current, nil
}

// Inputs returns the artifacts the deploy job jobID may consume: those of its deployment, once
// the deployment is released (EFORBIDDEN before). The lease of a deploy job carries them.
func (s *Service) Inputs(ctx context.Context, jobID int64) ([]rampart.ArtifactRef, *rampart.Deployment, error) {
	var d *rampart.Deployment
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		if err := s.Released(ctx, tx, jobID); err != nil {
			return err
		}
		d, err = tx.DeploymentByJob(ctx, jobID)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return d.Artifacts, d, nil
}

// Hold is called by the scheduler, inside its transaction, when a deploy job's needs are met.
// It records the deployment and keeps the job waiting; the deployment is released by Evaluate.
// A job naming an environment the project does not have fails: an unknown name would otherwise
// deploy without any rule.
func (s *Service) Hold(ctx context.Context, tx rampart.Tx, run *rampart.Run, job *rampart.Job, environment string) (string, error) {
	now := s.now()
	env, err := tx.EnvironmentByName(ctx, run.ProjectID, environment)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return fmt.Sprintf("environment %q does not exist in %s: an admin or maintainer creates it with `rampart env create %s %s` and sets its rules with `rampart env protect`",
			environment, run.Project, run.Project, environment), nil
	} else if err != nil {
		return "", err
	}
	refs, err := inputs(ctx, tx, run)
	if err != nil {
		return "", err
	}
	d := &rampart.Deployment{
		ProjectID: run.ProjectID, Project: run.Project, EnvironmentID: env.ID, Environment: env.Name,
		RunID: run.ID, RunNumber: run.Number, JobID: job.ID, Job: job.Name, Commit: run.Commit, Ref: run.Ref,
		Artifacts: refs, Status: rampart.DeployWaiting, Waiting: "rules not yet checked", TriggeredBy: run.TriggeredBy,
		SecurityFix: run.SecurityFix, Incident: run.Incident, RollbackOf: run.RollbackOf, CreatedAt: now,
	}
	if err := tx.CreateDeployment(ctx, d); err != nil {
		return "", err
	}
	ev := audit.Event(rampart.SystemActor(), "deploy.hold", fmt.Sprintf("deployment:%d", d.ID), rampart.ResultSuccess)
	ev.Detail = fmt.Sprintf("run=%s#%d job=%s env=%s commit=%s security_fix=%t", run.Project, run.Number, job.Name, env.Name, run.Commit, run.SecurityFix)
	return "", audit.Append(ctx, tx, ev, now)
}

// Released reports whether a leased deploy job's deployment has been released, which is when
// the environment's secrets may go to it.
func (s *Service) Released(ctx context.Context, tx rampart.Tx, jobID int64) error {
	d, err := tx.DeploymentByJob(ctx, jobID)
	if err != nil {
		return fmt.Errorf("deployment of job %d: %w", jobID, err)
	}
	if d.Status != rampart.DeployQueued && d.Status != rampart.DeployRunning {
		return rampart.Errorf(rampart.EFORBIDDEN, "deployment %d is %s, not released", d.ID, d.Status).
			WithDetail("environment secrets are released only after the environment's rules are met")
	}
	return nil
}
