package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/store"
)

const pipelineYAML = `
on: [push, manual]
jobs:
  build:
    steps: [{run: make}]
  deploy:
    needs: build
    environment: production
    secrets: [DEPLOY_TOKEN]
    steps: [{run: ./deploy}]
`

type fixture struct {
	t       *testing.T
	ctx     context.Context
	db      rampart.Store
	sched   *scheduler.Scheduler
	deploys *deploy.Service
	project *rampart.Project
	repo    string
	commit  string
	now     time.Time
	agent   *rampart.Agent
	running []int64
	users   map[string]*rampart.Actor
}

// gitRun runs git in dir as the given author.
func gitRun(t *testing.T, dir, author string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=" + author, "-c", "user.email=" + author + "@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

type vault map[string]string

func (v vault) ForJob(ctx context.Context, projectID int64, env string, names []string) (map[string]string, error) {
	out := map[string]string{}
	for _, n := range names {
		out[n] = v[env+"/"+n]
	}
	return out, nil
}

// newFixture makes a repository whose one commit carol wrote, a project, users and an agent.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := t.TempDir()
	gitRun(t, dir, "carol", "init", "-q")
	if err := os.WriteFile(filepath.Join(dir, ".rampart.yml"), []byte(pipelineYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	gitRun(t, dir, "carol", "add", ".")
	gitRun(t, dir, "carol", "commit", "-q", "-m", "first")
	f := &fixture{t: t, ctx: ctx, db: db, repo: dir, commit: gitRun(t, dir, "carol", "rev-parse", "HEAD"),
		now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), users: map[string]*rampart.Actor{}}
	clock := func() time.Time { return f.now }
	repo := git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}
	f.deploys = deploy.New(deploy.Config{Store: db, Commits: repo, Now: clock, Released: func() { f.sched.Wake() }})
	f.sched = scheduler.New(scheduler.Config{Store: db, Repo: repo, Secrets: vault{"production/DEPLOY_TOKEN": "prod-token-value"},
		Deploys: f.deploys, Now: clock, PollEvery: 10 * time.Millisecond})
	f.deploys.SetAdvance(f.sched.Advance)
	f.project = &rampart.Project{Name: "web", RepoURL: dir, CreatedAt: f.now}
	err = db.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateProject(ctx, f.project); err != nil {
			return err
		}
		for _, u := range []struct{ name, org, project string }{
			{"admin", rampart.RoleAdmin, ""}, {"carol", rampart.RoleMember, rampart.RoleReleaseManager},
			{"rita", rampart.RoleMember, rampart.RoleReleaseManager}, {"ron", rampart.RoleMember, rampart.RoleReleaseManager},
			{"dave", rampart.RoleMember, rampart.RoleDeveloper}, {"sam", rampart.RoleSecurity, ""},
			{"mia", rampart.RoleMember, rampart.RoleMaintainer},
			{"csmith", rampart.RoleMember, rampart.RoleReleaseManager}, // carol again, under another user name
		} {
			user := &rampart.User{Name: u.name, Role: u.org, CreatedAt: f.now, PasswordAt: f.now}
			if err := tx.CreateUser(ctx, user, "x"); err != nil {
				return err
			}
			if u.project != "" {
				if err := tx.SetMember(ctx, &rampart.Member{ProjectID: f.project.ID, UserID: user.ID, Role: u.project, AddedAt: f.now}); err != nil {
					return err
				}
			}
			f.users[u.name] = &rampart.Actor{UserID: user.ID, Name: u.name, Role: u.org, Source: "test"}
			if u.name == "csmith" {
				if err := tx.SetUserIdentities(ctx, user.ID, []string{"carol@example.com"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.sched.CreateAgentToken(ctx, rampart.SystemActor(), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.sched.Register(ctx, rampart.RegisterRequest{Token: tok, Name: "a1", Capacity: 8}, "test")
	if err != nil {
		t.Fatal(err)
	}
	if f.agent, err = f.sched.AuthenticateAgent(ctx, resp.Credential); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) env(p rampart.Protection) {
	f.t.Helper()
	if _, err := f.deploys.CreateEnvironment(f.ctx, f.users["admin"], f.project, "production"); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.deploys.Protect(f.ctx, f.users["admin"], f.project, "production", p); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) run(by string, tr scheduler.Trigger) *rampart.Run {
	f.t.Helper()
	tr.Commit, tr.TriggeredBy = f.commit, by
	if tr.Event == "" {
		tr.Event, tr.Ref, tr.Branch = rampart.EventPush, "refs/heads/main", "main"
	}
	r, err := f.sched.CreateRun(f.ctx, f.users["admin"], f.project, tr)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// lease leases a job for the fixture's agent, which keeps running every job it leased before.
func (f *fixture) lease() *rampart.Lease {
	f.t.Helper()
	l, err := f.sched.Lease(f.ctx, f.agent, rampart.LeaseRequest{Capacity: 8, WaitSeconds: 0, Running: f.running})
	if err != nil {
		f.t.Fatal(err)
	}
	if l != nil {
		f.running = append(f.running, l.JobID)
	}
	return l
}

// buildAndHold runs the build job of run r so that its deploy job waits, and returns the
// deployment.
func (f *fixture) buildAndHold(r *rampart.Run) *rampart.Deployment {
	f.t.Helper()
	l := f.lease()
	for l != nil && (l.Spec.Job != "build" || l.Spec.RunID != r.ID) {
		l = f.lease() // another run's job: keep it leased
	}
	if l == nil {
		f.t.Fatalf("the build job of run #%d was not leased", r.Number)
	}
	if err := f.sched.Complete(f.ctx, l.JobID, l.Fence, rampart.CompleteRequest{Status: rampart.StatusSucceeded}); err != nil {
		f.t.Fatal(err)
	}
	if err := f.deploys.Evaluate(f.ctx); err != nil {
		f.t.Fatal(err)
	}
	_, ds, err := f.deploys.History(f.ctx, f.project, "production", 1)
	if err != nil || len(ds) == 0 || ds[0].RunID != r.ID {
		f.t.Fatalf("deployment of run #%d: %v %+v", r.Number, err, ds)
	}
	return ds[0]
}

func (f *fixture) deployment(id int64) *rampart.Deployment {
	f.t.Helper()
	d, err := f.deploys.Deployment(f.ctx, f.project, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

func (f *fixture) jobStatus(r *rampart.Run, name string) (string, string) {
	f.t.Helper()
	_, jobs, err := f.sched.Run(f.ctx, f.project, r.Number)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Name == name {
			return j.Status, j.Reason
		}
	}
	f.t.Fatalf("no job %s", name)
	return "", ""
}

func TestApprovalsAndSeparationOfDuties(t *testing.T) {
	f := newFixture(t)
	f.env(rampart.Protection{Production: true, RequiredApprovals: 2, Branches: []string{"main"}})
	r := f.run("ron", scheduler.Trigger{})
	d := f.buildAndHold(r)
	if d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "2 more approval") {
		t.Fatalf("deployment: %s %q", d.Status, d.Waiting)
	}
	if st, _ := f.jobStatus(r, "deploy"); st != rampart.StatusWaiting {
		t.Fatalf("deploy job %s, want waiting", st)
	}
	if l := f.lease(); l != nil {
		t.Fatalf("a waiting deploy job was leased: %+v", l)
	}

	for name, want := range map[string]string{
		"carol":  "wrote commit",          // the author, a release manager
		"csmith": "wrote commit",          // the author under another user name, linked by her e-mail
		"ron":    "started run",           // whoever started the run, a release manager
		"dave":   "permission denied",     // a developer
		"mia":    "only release managers", // a maintainer: not on production
		"sam":    "only release managers", // security outside the fast lane
		"admin":  "",                      // admins may
	} {
		_, err := f.deploys.Decide(f.ctx, f.users[name], f.project, d.ID, true, "looks good to me")
		if want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(rampart.ErrorMessage(err)+" "+errDetail(err), want) {
			t.Errorf("%s approving: %v, want forbidden mentioning %q", name, err, want)
		}
	}
	// One approval of two: still waiting. The same person again does not make two.
	if _, err := f.deploys.Decide(f.ctx, f.users["admin"], f.project, d.ID, true, "again"); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "1 more approval") {
		t.Fatalf("after one distinct approver: %s %q", d.Status, d.Waiting)
	}
	if _, err := f.deploys.Decide(f.ctx, f.users["rita"], f.project, d.ID, true, "canary green"); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployQueued {
		t.Fatalf("after two approvers: %s %q", d.Status, d.Waiting)
	}
	l := f.lease()
	if l == nil || l.Spec.Job != "deploy" || l.Secrets["DEPLOY_TOKEN"] != "prod-token-value" {
		t.Fatalf("released deploy job lease: %+v", l)
	}
	if err := f.sched.Complete(f.ctx, l.JobID, l.Fence, rampart.CompleteRequest{Status: rampart.StatusSucceeded}); err != nil {
		t.Fatal(err)
	}
	if err := f.deploys.Evaluate(f.ctx); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeploySucceeded || d.CommitTime == nil {
		t.Fatalf("finished deployment: %+v", d)
	}
	rep, err := audit.Verify(f.ctx, f.db)
	if err != nil || !rep.OK {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}

func errDetail(err error) string {
	if e, ok := err.(*rampart.Error); ok {
		return e.Detail
	}
	return ""
}

func TestApprovalBoundToCommitAndExpires(t *testing.T) {
	f := newFixture(t)
	f.env(rampart.Protection{RequiredApprovals: 1, ApprovalTTLSeconds: 3600})
	r := f.run("dave", scheduler.Trigger{})
	d := f.buildAndHold(r)
	// An approval made on another artifact set does not count: forge one in the store.
	err := f.db.Update(f.ctx, func(tx rampart.Tx) error {
		return tx.AddApproval(f.ctx, &rampart.Approval{DeploymentID: d.ID, UserID: f.users["rita"].UserID, User: "rita", Role: "release-manager",
			Approve: true, Comment: "x", Commit: d.Commit, ArtifactsSum: "0000", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.deploys.Evaluate(f.ctx); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployWaiting {
		t.Fatalf("an approval of another artifact set released the deployment: %s", d.Status)
	}
	// A real approval that then expires before the deployment is evaluated.
	f.env2Wait(t, d)
}

// env2Wait approves with rita, then moves the clock past the approval's life with a wait timer
// in between, so the approval expires while the timer runs.
func (f *fixture) env2Wait(t *testing.T, d *rampart.Deployment) {
	if _, err := f.deploys.Protect(f.ctx, f.users["admin"], f.project, "production", rampart.Protection{RequiredApprovals: 1, ApprovalTTLSeconds: 3600, WaitSeconds: 7200}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.deploys.Decide(f.ctx, f.users["rita"], f.project, d.ID, true, "ship it"); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "wait timer") {
		t.Fatalf("with a wait timer: %s %q", d.Status, d.Waiting)
	}
	f.now = f.now.Add(2*time.Hour + time.Minute)
	if err := f.deploys.Evaluate(f.ctx); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "1 more approval") {
		t.Fatalf("after the approval expired: %s %q", d.Status, d.Waiting)
	}
}

func TestRefusals(t *testing.T) {
	t.Run("branch not allowed", func(t *testing.T) {
		f := newFixture(t)
		f.env(rampart.Protection{Branches: []string{"main", "release/**"}})
		r := f.run("dave", scheduler.Trigger{Event: rampart.EventPush, Ref: "refs/heads/feature", Branch: "feature"})
		d := f.buildAndHold(r)
		if d.Status != rampart.DeployRejected || !strings.Contains(d.Waiting, "branch feature is not allowed") {
			t.Fatalf("deployment from feature: %s %q", d.Status, d.Waiting)
		}
		if st, reason := f.jobStatus(r, "deploy"); st != rampart.StatusFailed || !strings.Contains(reason, "refused") {
			t.Fatalf("deploy job: %s %q", st, reason)
		}
		run, _, _ := f.sched.Run(f.ctx, f.project, r.Number)
		if run.Status != rampart.StatusFailed {
			t.Fatalf("run: %s", run.Status)
		}
	})
	t.Run("manual production release by a developer", func(t *testing.T) {
		f := newFixture(t)
		f.env(rampart.Protection{Production: true})
		r := f.run("dave", scheduler.Trigger{Event: rampart.EventManual, Ref: "refs/heads/main", Branch: "main"})
		d := f.buildAndHold(r)
		if d.Status != rampart.DeployRejected || !strings.Contains(d.Waiting, "release manager") {
			t.Fatalf("manual release by a developer: %s %q", d.Status, d.Waiting)
		}
		r2 := f.run("rita", scheduler.Trigger{Event: rampart.EventManual, Ref: "refs/heads/main", Branch: "main"})
		if d2 := f.buildAndHold(r2); d2.Status != rampart.DeployQueued {
			t.Fatalf("manual release by a release manager: %s %q", d2.Status, d2.Waiting)
		}
	})
	t.Run("gate required without scans", func(t *testing.T) {
		f := newFixture(t)
		f.env(rampart.Protection{RequireGate: true})
		d := f.buildAndHold(f.run("dave", scheduler.Trigger{}))
		if d.Status != rampart.DeployRejected || !strings.Contains(d.Waiting, "no scan job") {
			t.Fatalf("gate without scans: %s %q", d.Status, d.Waiting)
		}
	})
	t.Run("review required without evidence", func(t *testing.T) {
		f := newFixture(t)
		f.env(rampart.Protection{RequireReview: true})
		d := f.buildAndHold(f.run("dave", scheduler.Trigger{}))
		if d.Status != rampart.DeployRejected || !strings.Contains(d.Waiting, "review") {
			t.Fatalf("review without evidence: %s %q", d.Status, d.Waiting)
		}
	})
	t.Run("unknown environment", func(t *testing.T) {
		f := newFixture(t)
		r := f.run("dave", scheduler.Trigger{})
		l := f.lease()
		if err := f.sched.Complete(f.ctx, l.JobID, l.Fence, rampart.CompleteRequest{Status: rampart.StatusSucceeded}); err != nil {
			t.Fatal(err)
		}
		if st, reason := f.jobStatus(r, "deploy"); st != rampart.StatusFailed || !strings.Contains(reason, "env create") {
			t.Fatalf("deploy to an environment that does not exist: %s %q", st, reason)
		}
	})
	t.Run("rejection", func(t *testing.T) {
		f := newFixture(t)
		f.env(rampart.Protection{RequiredApprovals: 1})
		d := f.buildAndHold(f.run("dave", scheduler.Trigger{}))
		if _, err := f.deploys.Decide(f.ctx, f.users["rita"], f.project, d.ID, false, "not during the sale"); err != nil {
			t.Fatal(err)
		}
		if d = f.deployment(d.ID); d.Status != rampart.DeployRejected || !strings.Contains(d.Waiting, "not during the sale") {
			t.Fatalf("rejected: %s %q", d.Status, d.Waiting)
		}
		if _, err := f.deploys.Decide(f.ctx, f.users["ron"], f.project, d.ID, true, "override"); rampart.ErrorCode(err) != rampart.ECONFLICT {
			t.Fatalf("approving a rejected deployment: %v", err)
		}
	})
}

func TestSecretsOnlyAfterRelease(t *testing.T) {
	f := newFixture(t)
	f.env(rampart.Protection{RequiredApprovals: 1})
	r := f.run("dave", scheduler.Trigger{})
	d := f.buildAndHold(r)
	// An attacker with database access queues the waiting job directly: the lease still carries
	// no environment secret, because the deployment was not released.
	err := f.db.Update(f.ctx, func(tx rampart.Tx) error {
		j, err := tx.JobByID(f.ctx, d.JobID)
		if err != nil {
			return err
		}
		j.Status = rampart.StatusQueued
		return tx.UpdateJob(f.ctx, j)
	})
	if err != nil {
		t.Fatal(err)
	}
	if l := f.lease(); l != nil && l.Secrets["DEPLOY_TOKEN"] != "" {
		t.Fatalf("an unreleased deploy job got the environment secret: %+v", l)
	}
	if st, reason := f.jobStatus(r, "deploy"); st != rampart.StatusFailed || !strings.Contains(reason, "not released") {
		t.Fatalf("deploy job queued behind the gate's back: %s %q", st, reason)
	}
}

func TestWindowsAndOneAtATime(t *testing.T) {
	f := newFixture(t)
	// 2026-11-27 is a Friday; the clock says 12:00 UTC.
	f.env(rampart.Protection{Windows: []string{"Sat,Sun 10:00-12:00"}})
	d := f.buildAndHold(f.run("dave", scheduler.Trigger{}))
	if d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "outside the deployment windows") {
		t.Fatalf("outside the window: %s %q", d.Status, d.Waiting)
	}
	f.now = time.Date(2026, 11, 28, 10, 30, 0, 0, time.UTC)
	if err := f.deploys.Evaluate(f.ctx); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployQueued {
		t.Fatalf("inside the window: %s %q", d.Status, d.Waiting)
	}
	// A second run's deployment waits while the first is queued.
	d2 := f.buildAndHold(f.run("dave", scheduler.Trigger{}))
	if d2.Status != rampart.DeployWaiting || !strings.Contains(d2.Waiting, "one at a time") {
		t.Fatalf("second deployment: %s %q", d2.Status, d2.Waiting)
	}
}

func TestSecurityFastLane(t *testing.T) {
	f := newFixture(t)
	f.env(rampart.Protection{Production: true, RequiredApprovals: 2, WaitSeconds: 3600, Windows: []string{"Sat 00:00-01:00"}})
	r := f.run("dave", scheduler.Trigger{SecurityFix: true, Incident: "INC-7"})
	d := f.buildAndHold(r)
	if !d.SecurityFix || d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "one approval by the security role") {
		t.Fatalf("fast-lane deployment: %+v", d)
	}
	if _, err := f.deploys.Decide(f.ctx, f.users["sam"], f.project, d.ID, true, "fix verified against the PoC"); err != nil {
		t.Fatal(err)
	}
	if d = f.deployment(d.ID); d.Status != rampart.DeployQueued {
		t.Fatalf("after one security approval: %s %q", d.Status, d.Waiting)
	}
}

// TestRequiredScansHoldDeployments: a project's required scans hold every deployment until the
// server's gate job has passed, even where the environment does not ask for a gate.
func TestRequiredScansHoldDeployments(t *testing.T) {
	f := newFixture(t)
	f.project.RequiredScans = []string{"secrets"}
	if err := f.db.Update(f.ctx, func(tx rampart.Tx) error { return tx.UpdateProject(f.ctx, f.project) }); err != nil {
		t.Fatal(err)
	}
	f.env(rampart.Protection{})
	d := f.buildAndHold(f.run("dave", scheduler.Trigger{}))
	if d.Status != rampart.DeployWaiting || !strings.Contains(d.Waiting, "security gate") {
		t.Fatalf("deployment while the required gate has not run: %s %q", d.Status, d.Waiting)
	}
}
