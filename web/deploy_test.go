package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// addMember makes a user with an organisation role and, unless projectRole is "", a role in p.
func (f *fixture) addMember(name, org, projectRole string) *rampart.Actor {
	f.t.Helper()
	ctx := context.Background()
	u, err := f.auth.CreateUser(ctx, f.admin, name, org, password(name))
	if err != nil {
		f.t.Fatal(err)
	}
	a := &rampart.Actor{UserID: u.ID, Name: u.Name, Role: u.Role, Source: "test"}
	f.users[name] = a
	if projectRole != "" {
		if _, err := f.projects.AddMember(ctx, f.admin, "p", name, projectRole); err != nil {
			f.t.Fatal(err)
		}
	}
	return a
}

// gitIn runs git in dir as author and returns its trimmed output.
func gitIn(t testing.TB, dir, author string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=" + author, "-c", "user.email=" + author + "@example.com"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// environment creates an environment of p through the deploy service, with rules.
func (f *fixture) environment(name string, prot rampart.Protection) *rampart.Environment {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.deploy.CreateEnvironment(ctx, f.admin, f.project, name); err != nil {
		f.t.Fatal(err)
	}
	e, err := f.deploy.Protect(ctx, f.admin, f.project, name, prot)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// seedDeployment stores a run of p at commit with a deploy job held for env, as the scheduler
// and deploy.Service.Hold leave it: the job waiting, the deployment waiting. mod may change the
// run and the deployment before they are stored.
func (f *fixture) seedDeployment(env *rampart.Environment, commit string, mod func(*rampart.Run, *rampart.Deployment)) *rampart.Deployment {
	f.t.Helper()
	now := time.Now()
	run := &rampart.Run{ProjectID: f.project.ID, Event: rampart.EventPush, Ref: "refs/heads/main", Branch: "main", Commit: commit,
		TriggeredBy: "webhook:github", Status: rampart.StatusRunning, CreatedAt: now}
	d := &rampart.Deployment{ProjectID: f.project.ID, EnvironmentID: env.ID, Commit: commit, Ref: run.Ref,
		Status: rampart.DeployWaiting, Waiting: "rules not yet checked", CreatedAt: now}
	if mod != nil {
		mod(run, d)
	}
	d.TriggeredBy, d.SecurityFix, d.Incident = run.TriggeredBy, run.SecurityFix, run.Incident
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		status := rampart.StatusWaiting
		if d.Status != rampart.DeployWaiting {
			status = rampart.StatusSucceeded
		}
		job := &rampart.Job{RunID: run.ID, ProjectID: f.project.ID, Name: "deploy", Spec: "{}", Deploys: true, Status: status, Attempt: 1, CreatedAt: now}
		if err := tx.CreateJob(ctx, job); err != nil {
			return err
		}
		d.RunID, d.JobID = run.ID, job.ID
		if err := tx.CreateDeployment(ctx, d); err != nil {
			return err
		}
		for _, a := range d.Approvals {
			a.DeploymentID = d.ID
			if err := tx.AddApproval(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := f.deploy.Deployment(context.Background(), f.project, d.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return got
}

// TestDeploymentPages renders the deployment pages with hostile values in every free-text
// field — environment name and rules, run trigger, waiting text, artifacts, incident, approval,
// review evidence — and checks their content, escaping and headers.
func TestDeploymentPages(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	f.addMember("relman", rampart.RoleMember, rampart.RoleReleaseManager)
	head := gitIn(t, f.repo, "t", "rev-parse", "HEAD")
	prod := f.environment("production", rampart.Protection{RequiredApprovals: 1, Production: true, RequireGate: true})
	// An environment whose name and rules are hostile, as if written straight into the database.
	var evil *rampart.Environment
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		now := time.Now()
		evil = &rampart.Environment{ProjectID: f.project.ID, Name: hostile, CreatedAt: now, UpdatedAt: now,
			Protection: rampart.Protection{RequiredApprovals: 2, Approvers: []string{hostile}, Branches: []string{hostile}, Windows: []string{hostile}}}
		return tx.CreateEnvironment(ctx, evil)
	})
	finished := time.Now().Add(-time.Hour)
	committed := finished.Add(-90 * time.Minute)
	done := f.seedDeployment(prod, head, func(r *rampart.Run, d *rampart.Deployment) {
		d.Status, d.Waiting, d.CommitTime, d.FinishedAt = rampart.DeploySucceeded, "", &committed, &finished
		d.Approvals = []*rampart.Approval{{UserID: f.users["relman"].UserID, User: "relman", Role: rampart.RoleReleaseManager, Approve: true,
			Comment: "canary green", Commit: head, ArtifactsSum: "x", CreatedAt: finished, ExpiresAt: finished.Add(time.Hour)}}
	})
	waiting := f.seedDeployment(evil, head, func(r *rampart.Run, d *rampart.Deployment) {
		r.TriggeredBy, r.Branch, r.SecurityFix, r.Incident = hostile, hostile, true, hostile
		d.Waiting, d.Ref = hostile, hostile
		d.Artifacts = []rampart.ArtifactRef{{ID: 99, Name: hostile, Digest: "sha256:" + hostile}}
		d.Approvals = []*rampart.Approval{{UserID: 1, User: hostile, Role: hostile, Approve: true, Comment: hostile, Commit: head,
			ArtifactsSum: hostile, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}}
	})
	if err := f.reviews.Record(ctx, rampart.SystemActor(), f.project, &rampart.ReviewEvent{Host: "github", Kind: rampart.ReviewApproved, Number: 7,
		Title: hostile, Author: "t", Reviewer: hostile, Actor: hostile, CommitSHA: head, BaseBranch: "main", HeadBranch: hostile}); err != nil {
		t.Fatal(err)
	}

	admin := f.signIn("admin")
	evilEnv := "/projects/p/environments/" + url.PathEscape(hostile)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/projects/p/deployments", []string{"Deployments of p", "Waiting", pathOf(`href="/projects/p/deployments/%d"`, waiting.ID), "&lt;script&gt;",
			"security fix", "production", "approvals=1", "require-gate", "Deployed now", "relman", "1h 30m", "Add an environment", `name="csrf_token"`}},
		{pathOf("/projects/p/deployments/%d", waiting.ID), []string{"Deployment " + fmt.Sprint(waiting.ID), "security fast lane", "Waiting for:",
			head, "first", "t &lt;t@example.com&gt;", "Review evidence", "approved by &lt;script&gt;", "Security gate", "0 open",
			"sha256:&lt;script&gt;", "made on another set of artifacts", "incident &lt;script&gt;",
			// The admin is not on the environment's approver list, and is told so.
			`id="cannot-decide"`, "the approvers of &lt;script&gt;"}},
		{pathOf("/projects/p/deployments/%d", done.ID), []string{"succeeded", "Commit to production", "1h 30m", "canary green", "release-manager"}},
		{"/projects/p/environments/production", []string{"Environment production", "Deployed now", "Protection rules", `name="required_approvals"`,
			`name="production" type="checkbox" value="1" checked`, `name="require_gate" type="checkbox" value="1" checked`, `name="wait_seconds"`,
			`name="windows"`, `name="approval_ttl_seconds"`, `name="branches"`, `name="tags"`, `name="approvers"`, `name="require_review"`, "Save rules",
			"no earlier successful deployment"}},
		{evilEnv, []string{"Environment &lt;script&gt;", "&lt;script&gt;alert(1)&lt;/script&gt;"}},
		{"/deployments/pending", []string{"Pending approvals", pathOf(`/projects/p/deployments/%d`, waiting.ID), "may decide"}},
		{"/", []string{"Pending approvals for you", pathOf(`/projects/p/deployments/%d`, waiting.ID)}},
	} {
		p := admin.get(tc.path)
		if p.status != 200 {
			t.Errorf("GET %s: %d\n%s", tc.path, p.status, p.body)
			continue
		}
		checkPage(t, tc.path, p)
		for _, w := range tc.want {
			if !strings.Contains(p.body, w) {
				t.Errorf("GET %s: page lacks %q", tc.path, w)
			}
		}
	}
	// The tab and the organisation entry lead there.
	if p := admin.get("/projects/p"); !strings.Contains(p.body, `href="/projects/p/deployments"`) || !strings.Contains(p.body, `href="/deployments/pending"`) {
		t.Error("the runs page lacks the Deployments tab or the Approvals entry")
	}
	// A viewer reads everything and is offered nothing: no decision, no rules form, no
	// rollback, no new environment; the dashboard lists no approvals for them.
	v := f.signIn("viewer")
	for path, absent := range map[string][]string{
		"/projects/p/deployments":                        {"Add an environment"},
		pathOf("/projects/p/deployments/%d", waiting.ID): {`id="approve"`, `id="reject"`, `name="comment"`},
		"/projects/p/environments/production":            {"Save rules", "Roll back", `name="required_approvals"`},
		"/":                                              {"Pending approvals for you"},
		"/deployments/pending":                           {"may decide"},
		pathOf("/projects/p/deployments/%d/x", waiting.ID): nil,
	} {
		p := v.get(path)
		if absent == nil {
			if p.status != 404 {
				t.Errorf("GET %s: %d, want 404", path, p.status)
			}
			continue
		}
		if p.status != 200 {
			t.Errorf("GET %s as viewer: %d", path, p.status)
		}
		for _, a := range absent {
			if strings.Contains(p.body, a) {
				t.Errorf("GET %s as viewer offers %q", path, a)
			}
		}
	}
	if p := v.get(pathOf("/projects/p/deployments/%d", waiting.ID)); !strings.Contains(p.body, `id="cannot-decide"`) {
		t.Error("the viewer is not told why they cannot decide")
	}
	// A member of no project neither sees the pages nor the deployment among pending ones.
	out := f.signIn("outsider")
	if p := out.get(pathOf("/projects/p/deployments/%d", waiting.ID)); p.status != 404 {
		t.Errorf("outsider on the approval page: %d, want 404", p.status)
	}
	if p := out.get("/deployments/pending"); p.status != 200 || strings.Contains(p.body, "/projects/p/") {
		t.Errorf("outsider's pending approvals: %d, shows p's deployment: %v", p.status, strings.Contains(p.body, "/projects/p/"))
	}
	// A deployment of another project is not found under this one.
	if p := admin.get("/projects/p/deployments/999"); p.status != 404 {
		t.Errorf("unknown deployment: %d", p.status)
	}
}

// TestDeployFormsRefusedServerSide posts, by hand and with a valid session and CSRF token, the
// deployment forms a role is not offered — approve, reject, protect, create, rollback. Each is
// refused (403, or 404 for a project the user may not see), says why, and changes nothing:
// the deployment still waits, no decision is stored, the rules stand. Separation of duties
// refuses the author of the commit and the starter of the run whatever their role. Then a
// release manager approves, and the deployment is released.
func TestDeployFormsRefusedServerSide(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	f.addMember("relman", rampart.RoleMember, rampart.RoleReleaseManager)
	f.addMember("alice", rampart.RoleMember, rampart.RoleReleaseManager)
	rules := rampart.Protection{RequiredApprovals: 1, Production: true}
	prod := f.environment("production", rules)
	// The change is alice's commit, and the admin started its run.
	commit := gitIn(t, f.repo, "alice", "commit", "-q", "--allow-empty", "-m", "alice's change")
	commit = gitIn(t, f.repo, "alice", "rev-parse", "HEAD")
	d := f.seedDeployment(prod, commit, func(r *rampart.Run, d *rampart.Deployment) {
		r.Event, r.TriggeredBy = rampart.EventManual, "admin"
	})
	dpath := pathOf("/projects/p/deployments/%d", d.ID)
	decision := url.Values{"comment": {"looks good to me"}}
	protect := url.Values{"required_approvals": {"0"}}
	for _, tc := range []struct {
		user, path string
		form       url.Values
		status     int
		want       string
	}{
		{"dev", dpath + "/approve", decision, 403, "permission denied: deploy.approve"},
		{"dev", dpath + "/reject", decision, 403, "permission denied: deploy.approve"},
		{"viewer", dpath + "/approve", decision, 403, "permission denied: deploy.approve"},
		{"viewer", dpath + "/reject", decision, 403, "permission denied: deploy.approve"},
		{"outsider", dpath + "/approve", decision, 404, ""},
		{"maint", dpath + "/approve", decision, 403, "production is production: only release managers and admins"},
		{"sec", dpath + "/approve", decision, 403, "production is production"},
		{"admin", dpath + "/approve", decision, 403, "you started run #1 (separation of duties"},
		{"alice", dpath + "/approve", decision, 403, "you wrote commit " + commit[:12] + " (separation of duties"},
		{"alice", dpath + "/reject", decision, 403, "separation of duties"},
		{"dev", "/projects/p/environments/production/protection", protect, 403, "permission denied: env.manage"},
		{"viewer", "/projects/p/environments/production/protection", protect, 403, "permission denied: env.manage"},
		{"relman", "/projects/p/environments/production/protection", protect, 403, "permission denied: env.manage"},
		{"sec", "/projects/p/environments/production/protection", protect, 403, "permission denied: env.manage"},
		{"outsider", "/projects/p/environments/production/protection", protect, 404, ""},
		{"dev", "/projects/p/environments", url.Values{"name": {"staging"}}, 403, "permission denied: env.manage"},
		{"dev", "/projects/p/environments/production/rollback", url.Values{}, 403, "permission denied: deploy.rollback"},
		{"viewer", "/projects/p/environments/production/rollback", url.Values{}, 403, "permission denied: deploy.rollback"},
		{"maint", "/projects/p/environments/production/rollback", url.Values{}, 403, "permission denied: deploy.release"},
	} {
		t.Run(tc.user+" "+tc.path, func(t *testing.T) {
			b := f.signIn(tc.user)
			resp := b.post(tc.path, tc.form, true)
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.status, tc.status, resp.body)
			}
			checkPage(t, tc.path, resp)
			if tc.want != "" && !strings.Contains(resp.body, tc.want) {
				t.Errorf("the refusal does not say %q:\n%s", tc.want, resp.body)
			}
		})
	}
	// Nothing changed.
	got, err := f.deploy.Deployment(ctx, f.project, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != rampart.DeployWaiting || len(got.Approvals) != 0 {
		t.Fatalf("after refused forms the deployment is %s with %d decisions", got.Status, len(got.Approvals))
	}
	es, _ := f.deploy.Environments(ctx, f.project)
	if len(es) != 1 || es[0].Protection.RequiredApprovals != 1 || !es[0].Protection.Production {
		t.Fatalf("environments after refused forms: %+v", es[0].Protection)
	}
	if runs, _ := f.sched.Runs(ctx, f.project, 0, 10); len(runs) != 1 {
		t.Fatalf("%d runs after refused forms, want 1 (no rollback run)", len(runs))
	}
	var denied int
	_ = f.db.View(ctx, func(tx rampart.Tx) error {
		events, err := tx.ListAudit(ctx, rampart.AuditFilter{})
		for _, e := range events {
			if e.Result == rampart.ResultDenied {
				denied++
			}
		}
		return err
	})
	if denied < 17 {
		t.Errorf("%d denials audited, want one per refused form", denied)
	}

	// The pages said so before anyone tried: the author and the starter are told why, and
	// those without the permission see no form.
	for user, want := range map[string]string{
		"alice": "you wrote commit " + commit[:10],
		"admin": "you started run #1",
		"maint": "production is production",
		"dev":   "you may not approve or reject deployments in p",
	} {
		p := f.signIn(user).get(dpath)
		if p.status != 200 || !strings.Contains(p.body, want) || strings.Contains(p.body, `id="approve"`) {
			t.Errorf("approval page as %s: %d, says %q: %v, offers approve: %v", user, p.status, want, strings.Contains(p.body, want), strings.Contains(p.body, `id="approve"`))
		}
	}

	// A release manager who neither wrote nor started the change: offered the form, refused
	// without a comment, then approves.
	rm := f.signIn("relman")
	if p := rm.get(dpath); !strings.Contains(p.body, `id="approve"`) || !strings.Contains(p.body, `formaction="`+dpath+`/reject"`) ||
		!strings.Contains(p.body, `<textarea id="comment" name="comment" rows="3" minlength="3" maxlength="2000" required`) {
		t.Fatalf("the release manager is not offered the decision form:\n%s", p.body)
	}
	if p := rm.post(dpath+"/approve", url.Values{"comment": {" "}}, true); p.status != 400 || !strings.Contains(p.body, "comment of 3 to 2000 characters") || !strings.Contains(p.body, `href="`+dpath+`"`) {
		t.Errorf("approval without a comment: %d, want 400 naming the comment with a link back\n%s", p.status, p.body)
	}
	p := rm.post(dpath+"/approve", url.Values{"comment": {"release notes read, canary green"}}, true)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != dpath+"?done=approved" {
		t.Fatalf("release manager approves: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	p = rm.get(p.header.Get("Location"))
	for _, w := range []string{"Your approval is recorded", "release notes read, canary green", "queued", "1 approval that counts"} {
		if !strings.Contains(p.body, w) {
			t.Errorf("approval page after approving lacks %q", w)
		}
	}
	if got, _ := f.deploy.Deployment(ctx, f.project, d.ID); got.Status != rampart.DeployQueued || len(got.Approvals) != 1 || got.Approvals[0].User != "relman" {
		t.Errorf("after the approval the deployment is %s with %+v", got.Status, got.Approvals)
	}
	// Deciding again is refused: it no longer waits.
	if p := rm.post(dpath+"/reject", decision, true); p.status != http.StatusConflict {
		t.Errorf("a second decision: %d, want 409", p.status)
	}
}

// TestEnvironmentForms creates an environment and sets every rule through the forms, as a
// maintainer, and checks what the service stored; bad values come back as errors that link to
// the form.
func TestEnvironmentForms(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	m := f.signIn("maint")
	if p := m.post("/projects/p/environments", url.Values{"name": {"Bad Name"}}, true); p.status != 400 || !strings.Contains(p.body, "invalid environment name") {
		t.Errorf("bad environment name: %d\n%s", p.status, p.body)
	}
	p := m.post("/projects/p/environments", url.Values{"name": {"staging"}}, true)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/projects/p/environments/staging?done=env-created#rules" {
		t.Fatalf("create: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	if p := m.post("/projects/p/environments", url.Values{"name": {"staging"}}, true); p.status != http.StatusConflict {
		t.Errorf("second create: %d, want 409", p.status)
	}
	form := url.Values{"required_approvals": {"2"}, "approvers": {"release-manager, user:alice"}, "production": {"1"},
		"branches": {"main, release/*"}, "tags": {"v*"}, "require_gate": {"1"}, "require_review": {"1"}, "wait_seconds": {"300"},
		"windows": {"Mon-Fri 09:00-17:00\r\nSat 10:00-12:00"}, "approval_ttl_seconds": {"3600"}}
	p = m.post("/projects/p/environments/staging/protection", form, true)
	if p.status != http.StatusSeeOther {
		t.Fatalf("protect: %d\n%s", p.status, p.body)
	}
	es, err := f.deploy.Environments(ctx, f.project)
	if err != nil || len(es) != 1 {
		t.Fatalf("environments: %v %v", es, err)
	}
	want := rampart.Protection{RequiredApprovals: 2, Approvers: []string{"release-manager", "user:alice"}, Production: true,
		Branches: []string{"main", "release/*"}, Tags: []string{"v*"}, RequireGate: true, RequireReview: true, WaitSeconds: 300,
		Windows: []string{"Mon-Fri 09:00-17:00", "Sat 10:00-12:00"}, ApprovalTTLSeconds: 3600}
	if got := es[0].Protection; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored rules\n got %+v\nwant %+v", got, want)
	}
	page := m.get(p.header.Get("Location"))
	for _, w := range []string{"rules are saved", `value="release-manager, user:alice"`, `value="main, release/*"`, "Mon-Fri 09:00-17:00\nSat 10:00-12:00</textarea>", `value="300"`} {
		if !strings.Contains(page.body, w) {
			t.Errorf("environment page lacks %q", w)
		}
	}
	for _, tc := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"required_approvals": {"many"}}, "not a whole number"},
		{url.Values{"required_approvals": {"11"}}, "out of range"},
		{url.Values{"approvers": {"root"}}, "unknown approver"},
		{url.Values{"windows": {"whenever"}}, "window"},
	} {
		p := m.post("/projects/p/environments/staging/protection", tc.form, true)
		if p.status != 400 || !strings.Contains(p.body, tc.want) || !strings.Contains(p.body, `href="/projects/p/environments/staging#rules"`) {
			t.Errorf("rules %v: %d, want 400 saying %q with a link back\n%s", tc.form, p.status, tc.want, p.body)
		}
	}
	// Clearing the form removes every rule.
	if p := m.post("/projects/p/environments/staging/protection", url.Values{}, true); p.status != http.StatusSeeOther {
		t.Fatalf("clear: %d", p.status)
	}
	es, _ = f.deploy.Environments(ctx, f.project)
	if fmt.Sprint(es[0].Protection) != fmt.Sprint(rampart.Protection{}) {
		t.Errorf("rules after clearing: %+v", es[0].Protection)
	}
}

// TestRollbackForm rolls an environment back from its page: the run it starts redeploys the
// previous good deployment's commit.
func TestRollbackForm(t *testing.T) {
	f := newFixture(t, false)
	ctx := context.Background()
	staging := f.environment("staging", rampart.Protection{})
	first := gitIn(t, f.repo, "t", "rev-parse", "HEAD")
	second := gitIn(t, f.repo, "bob", "commit", "-q", "--allow-empty", "-m", "second")
	second = gitIn(t, f.repo, "bob", "rev-parse", "HEAD")
	now := time.Now()
	for _, c := range []string{first, second} {
		f.seedDeployment(staging, c, func(r *rampart.Run, d *rampart.Deployment) {
			d.Status, d.Waiting, d.FinishedAt = rampart.DeploySucceeded, "", &now
		})
	}
	m := f.signIn("maint")
	page := m.get("/projects/p/environments/staging")
	if !strings.Contains(page.body, "Roll back to run #1") || !strings.Contains(page.body, `action="/projects/p/environments/staging/rollback"`) {
		t.Fatalf("environment page lacks the rollback form:\n%s", page.body)
	}
	p := m.post("/projects/p/environments/staging/rollback", nil, true)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/projects/p/runs/3?done=rollback" {
		t.Fatalf("rollback: %d %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	run, _, err := f.sched.Run(ctx, f.project, 3)
	if err != nil || run.Commit != first || run.RollbackOf == 0 {
		t.Fatalf("rollback run: %+v %v", run, err)
	}
	if p := m.get(p.header.Get("Location")); !strings.Contains(p.body, "Rollback started") {
		t.Error("the run page does not confirm the rollback")
	}
}
