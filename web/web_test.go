package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/secrets"
	"github.com/rampart-ci/rampart/server"
)

// checkPage fails unless p is a page with the page policy, not cacheable, not frameable, and
// holding no trace of the hostile value as markup.
func checkPage(t *testing.T, name string, p *page) {
	t.Helper()
	if got := p.header.Get("Content-Security-Policy"); got != server.PageCSP {
		t.Errorf("%s: Content-Security-Policy %q, want the page policy", name, got)
	}
	if got := p.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control %q, want no-store", name, got)
	}
	if p.header.Get("X-Frame-Options") != "DENY" || p.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("%s: missing X-Frame-Options or X-Content-Type-Options: %v", name, p.header)
	}
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("%s: Content-Type %q", name, p.header.Get("Content-Type"))
	}
	if strings.Contains(p.body, hostile) || strings.Contains(p.body, "<script>alert") {
		t.Errorf("%s: the hostile value came out as markup:\n%s", name, p.body)
	}
	for _, bad := range []string{" style=", "<style", "javascript:", " onclick=", " onload=", " onerror="} {
		if strings.Contains(p.body, bad) {
			t.Errorf("%s: inline style or script %q in page", name, bad)
		}
	}
	if n := strings.Count(p.body, "<script"); n != 1 || !strings.Contains(p.body, `<script src="/static/rampart.js?v=`) {
		t.Errorf("%s: want exactly one script, the static file; found %d", name, n)
	}
}

// seedHostile fills project p with a run whose every free-text field is hostile: a job named
// like a script, a branch, a trigger, a reason, a log and findings full of markup.
func seedHostile(f *fixture) (*rampart.Run, []*rampart.Job) {
	run, jobs := f.seedRun(f.project, func(r *rampart.Run) {
		r.Branch, r.TriggeredBy, r.Reason, r.Status = hostile, hostile, hostile, rampart.StatusFailed
	}, "build", hostile+":build", "deploy:build,"+hostile)
	f.setJobStatus(jobs[0], rampart.StatusRunning)
	f.appendLog(jobs[0], 1, "compiling "+hostile+"\n\x1b[32mok\x1b[0m \x1b[1;31mFAIL\x1b[0m \x1b]8;;http://evil.example\x07link\x1b]8;;\x07\n")
	f.appendLog(jobs[0], 2, "partial line ")
	f.recordFindings(jobs[0], &rampart.Finding{Fingerprint: "fp-1", Scanner: "sarif", RuleID: hostile, Severity: "high", File: hostile, Line: 3,
		Message: hostile, Package: "lodash", Version: "4.17.15", FixedVersion: "4.17.21", Fix: hostile})
	f.recordFindings(jobs[1], &rampart.Finding{Fingerprint: "fp-2", Scanner: "sarif", RuleID: "G101", Severity: "medium", File: "main.go", Line: 9, Message: "hard-coded credentials"})
	return run, jobs
}

// TestPages renders every page as an admin (and the findings page as security) with hostile
// data in every field, checking each page's status, headers and key content.
func TestPages(t *testing.T) {
	f := newFixture(t, false)
	run, jobs := seedHostile(f)
	// A project whose very name is hostile, as if written straight into the database.
	var evil *rampart.Project
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		evil = &rampart.Project{Name: hostile, RepoURL: "/nowhere", CreatedAt: time.Now()}
		return tx.CreateProject(ctx, evil)
	})
	f.seedRun(evil, nil, "a")
	ctx := context.Background()
	if _, err := f.vault.Set(ctx, f.admin, secrets.SecretRef{Project: "p", Name: "DEPLOY_TOKEN"}, []byte("a value nobody may see")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.vault.Set(ctx, f.admin, secrets.SecretRef{Scope: rampart.ScopeOrg, Name: "ORG_TOKEN"}, []byte("another hidden value")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.sched.CreateAgentToken(ctx, f.admin, []string{"linux"}, time.Hour); err != nil {
		t.Fatal(err)
	}

	admin := f.signIn("admin")
	evilPath := "/projects/" + url.PathEscape(hostile)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/", []string{"Projects", `href="/projects/p"`, "&lt;script&gt;alert(1)&lt;/script&gt;", "2 open"}},
		{"/projects/p", []string{"Runs of p", "Run pipeline", `name="csrf_token"`, "#1", "0123456789", "push"}},
		{pathOf("/projects/p/runs/%d", run.Number), []string{"Job graph", "<svg", `class="node st st-running"`, `class="edge"`, "Run again", "&lt;script&gt;"}},
		{pathOf("/projects/p/jobs/%d", jobs[0].ID), []string{"compiling &lt;script&gt;", `<span class="f2">ok</span>`, `<span class="f1 b">FAIL</span>`, `id="L2"`, `href="?line=2#L2"`, `data-live="true"`, "Download full log", `data-open="true"`}},
		{pathOf("/projects/p/runs/%d/findings", run.Number), []string{"Findings of run", "lodash@4.17.15", "4.17.21", "main.go:9", "Security gate"}},
		{"/projects/p/members", []string{"Members of p", "maint", "maintainer", "Add a member"}},
		{"/projects/p/secrets", []string{"DEPLOY_TOKEN", "Set or rotate a secret", `type="password"`}},
		{"/settings/secrets", []string{"Organisation secrets", "ORG_TOKEN"}},
		{"/settings/agents", []string{"Agents", "Registration tokens", "Create token", "linux"}},
		{"/settings/users", []string{"Users", "sec", "security"}},
		{"/settings/audit", []string{"Audit log", "Verify the chain", "project.create"}},
		{"/settings/audit?verify=1&action=secret.", []string{"The chain is intact", "secret.set"}},
		{evilPath, []string{"Runs of &lt;script&gt;alert(1)&lt;/script&gt;"}},
		{evilPath + "/runs/1", []string{"Run #1"}},
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
		for _, secret := range []string{"a value nobody may see", "another hidden value"} {
			if strings.Contains(p.body, secret) {
				t.Errorf("GET %s shows a secret's value", tc.path)
			}
		}
	}
	// The waive form is offered to security only; the admin sees the findings without it.
	if p := admin.get(pathOf("/projects/p/runs/%d/findings", run.Number)); strings.Contains(p.body, "Waive this finding") {
		t.Error("the admin is offered the waive form, which only security may use")
	}
	sec := f.signIn("sec")
	p := sec.get(pathOf("/projects/p/runs/%d/findings", run.Number))
	checkPage(t, "findings as security", p)
	if !strings.Contains(p.body, "Waive this finding") || !strings.Contains(p.body, `name="fingerprint" value="fp-1"`) {
		t.Errorf("security is not offered the waive form:\n%s", p.body)
	}
	// The status poll is JSON.
	st := admin.get(pathOf("/projects/p/runs/%d/status", run.Number))
	if st.status != 200 || !strings.Contains(st.body, `"status":"running"`) || !strings.Contains(st.body, `"jobs":[`) {
		t.Errorf("run status: %d %s", st.status, st.body)
	}
}

// TestViewerSeesNoActions checks that a viewer is offered no action the server would refuse.
func TestViewerSeesNoActions(t *testing.T) {
	f := newFixture(t, false)
	run, _ := seedHostile(f)
	v := f.signIn("viewer")
	for path, absent := range map[string][]string{
		"/projects/p": {"Run pipeline"},
		pathOf("/projects/p/runs/%d", run.Number):          {"Cancel run", "Run again"},
		pathOf("/projects/p/runs/%d/findings", run.Number): {"Waive this finding", "Revoke"},
		"/projects/p/members":                              {"Add a member", "Remove"},
	} {
		p := v.get(path)
		if p.status != 200 {
			t.Errorf("GET %s as viewer: %d", path, p.status)
		}
		for _, a := range absent {
			if strings.Contains(p.body, a) {
				t.Errorf("GET %s as viewer offers %q", path, a)
			}
		}
	}
	// Viewers may not read secrets' metadata; the tab is not shown and the page is refused.
	if p := v.get("/projects/p"); strings.Contains(p.body, `/projects/p/secrets"`) {
		t.Error("viewer is shown the Secrets tab")
	}
	if p := v.get("/projects/p/secrets"); p.status != http.StatusForbidden || !strings.Contains(p.body, "secret.read") {
		t.Errorf("viewer on secrets: %d, want 403 naming secret.read\n%s", p.status, p.body)
	}
	// A member of no project does not learn that p exists.
	if p := f.signIn("outsider").get("/projects/p"); p.status != http.StatusNotFound {
		t.Errorf("outsider on p: %d, want 404", p.status)
	}
}

func TestAnonymousIsSentToSignIn(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	for path, want := range map[string]string{
		"/":                     "/login",
		"/projects/p":           "/login?next=%2Fprojects%2Fp",
		"/settings/audit?x=1":   "/login?next=%2Fsettings%2Faudit%3Fx%3D1",
		"/projects/p/jobs/1":    "/login?next=%2Fprojects%2Fp%2Fjobs%2F1",
		"/projects/p/members/x": "", // unknown page: 404 page, not a redirect
	} {
		p := b.get(path)
		if want == "" {
			if p.status != 404 {
				t.Errorf("GET %s: %d, want 404", path, p.status)
			}
			continue
		}
		if p.status != http.StatusSeeOther || p.header.Get("Location") != want {
			t.Errorf("GET %s anonymously: %d to %q, want 303 to %q", path, p.status, p.header.Get("Location"), want)
		}
	}
	if p := b.post("/projects/p/members", url.Values{"user": {"x"}, "role": {"viewer"}}, false); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Errorf("anonymous form post: %d to %q", p.status, p.header.Get("Location"))
	}
	// An expired or forged session cookie is removed and the browser sent to sign in.
	req, _ := http.NewRequest("GET", f.http.URL+"/projects/p", nil)
	req.AddCookie(&http.Cookie{Name: server.SessionCookie, Value: "rms_forged"})
	p := b.do(req)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
		t.Errorf("forged session: %d %q", p.status, p.header.Get("Location"))
	}
	// The API keeps answering JSON.
	req, _ = http.NewRequest("GET", f.http.URL+"/api/v1/me", nil)
	if p := b.do(req); p.status != 401 || !strings.Contains(p.body, `"error"`) {
		t.Errorf("API without credential: %d %s", p.status, p.body)
	}
}

func TestSignIn(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	lp := b.get("/login?next=/projects/p")
	checkPage(t, "sign-in page", lp)
	if lp.status != 200 || !strings.Contains(lp.body, `autocomplete="current-password"`) || !strings.Contains(lp.body, `value="/projects/p"`) {
		t.Fatalf("sign-in page: %d\n%s", lp.status, lp.body)
	}
	var loginCookie *http.Cookie
	for _, c := range lp.cookie {
		if c.Name == "rampart_login" {
			loginCookie = c
		}
	}
	if loginCookie == nil || !loginCookie.HttpOnly || loginCookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in form cookie %+v: want HttpOnly, SameSite=Strict", loginCookie)
	}
	token := loginTokenRE.FindStringSubmatch(lp.body)[1]
	form := func(user, pw, tok, next string) url.Values {
		return url.Values{"username": {user}, "password": {pw}, "login_token": {tok}, "next": {next}}
	}
	// Wrong password: the page says so, nothing else, and sets no session.
	p := b.post("/login", form("maint", "wrong password!", token, ""), false)
	if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "wrong user name or password") {
		t.Errorf("wrong password: %d\n%s", p.status, p.body)
	}
	// Login CSRF: a form posted from another site carries no sign-in cookie.
	other := f.browser()
	if p := other.post("/login", form("maint", password("maint"), token, ""), false); p.status != http.StatusForbidden || hasCookie(p, server.SessionCookie) {
		t.Errorf("sign-in without the form's cookie: %d, session set %v", p.status, hasCookie(p, server.SessionCookie))
	}
	if p := b.post("/login", form("maint", password("maint"), "AAAAAAAAAAAAAAAAAAAAAAAAAA", ""), false); p.status != http.StatusForbidden {
		t.Errorf("sign-in with a wrong form token: %d, want 403", p.status)
	}
	// An open redirect is refused: next= must be a path here.
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"} {
		b := f.browser()
		tok := loginTokenRE.FindStringSubmatch(b.get("/login").body)[1]
		p := b.post("/login", form("maint", password("maint"), tok, next), false)
		if p.status != http.StatusSeeOther || p.header.Get("Location") != "/" {
			t.Errorf("next=%q: %d to %q, want 303 to /", next, p.status, p.header.Get("Location"))
		}
	}
	// Success: a fresh session cookie with the foundation's attributes, and back to next.
	p = b.post("/login", form("maint", password("maint"), token, "/projects/p"), false)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/projects/p" {
		t.Fatalf("sign in: %d to %q\n%s", p.status, p.header.Get("Location"), p.body)
	}
	var sess *http.Cookie
	for _, c := range p.cookie {
		if c.Name == server.SessionCookie {
			sess = c
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || !strings.HasPrefix(sess.Value, "rms_") {
		t.Fatalf("session cookie %+v", sess)
	}
	home := b.get("/")
	if home.status != 200 || !strings.Contains(home.body, "maint") || !strings.Contains(home.body, "Sign out") {
		t.Fatalf("dashboard after sign-in: %d", home.status)
	}
	b.csrf = csrfRE.FindStringSubmatch(home.body)[1]
	// Sign-out needs the CSRF token, ends the session and clears the cookie.
	if p := b.post("/logout", nil, false); p.status != http.StatusForbidden {
		t.Errorf("sign-out without CSRF token: %d, want 403", p.status)
	}
	p = b.post("/logout", nil, true)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.header.Get("Location"), "/login") {
		t.Fatalf("sign out: %d %q", p.status, p.header.Get("Location"))
	}
	req, _ := http.NewRequest("GET", f.http.URL+"/", nil)
	req.AddCookie(sess)
	if p := b.do(req); p.status != http.StatusSeeOther {
		t.Errorf("the session still works after signing out: %d", p.status)
	}
	// The audit log recorded the sign-ins, the failure and the sign-out.
	var events []*rampart.AuditEvent
	_ = f.db.View(context.Background(), func(tx rampart.Tx) (err error) {
		events, err = tx.ListAudit(context.Background(), rampart.AuditFilter{})
		return err
	})
	seen := map[string]bool{}
	for _, e := range events {
		if e.Target == "user:maint" {
			seen[e.Action+"/"+e.Result] = true
		}
	}
	for _, want := range []string{"auth.login/failure", "auth.login/success", "session.create/success", "auth.logout/success"} {
		if !seen[want] {
			t.Errorf("audit log lacks %s for maint: %v", want, seen)
		}
	}
}

func hasCookie(p *page, name string) bool {
	for _, c := range p.cookie {
		if c.Name == name && c.Value != "" {
			return true
		}
	}
	return false
}

// TestCSRF posts the member form with the session cookie but without, or with a wrong, CSRF
// token: both are refused and change nothing; the right token works.
func TestCSRF(t *testing.T) {
	f := newFixture(t, false)
	b := f.signIn("maint")
	role := func() string {
		_, ms, err := f.projects.Get(context.Background(), f.admin, "p")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.UserName == "target" {
				return m.Role
			}
		}
		return ""
	}
	form := url.Values{"user": {"target"}, "role": {"developer"}}
	if p := b.post("/projects/p/members", form, false); p.status != http.StatusForbidden || !strings.Contains(p.body, "CSRF") {
		t.Errorf("form without CSRF token: %d\n%s", p.status, p.body)
	}
	bad := url.Values{"user": {"target"}, "role": {"developer"}, "csrf_token": {"not the token"}}
	if p := b.post("/projects/p/members", bad, false); p.status != http.StatusForbidden {
		t.Errorf("form with a wrong CSRF token: %d", p.status)
	}
	// Another user's token is a wrong token too.
	other := f.signIn("dev")
	if p := b.post("/projects/p/members", url.Values{"user": {"target"}, "role": {"developer"}, "csrf_token": {other.csrf}}, false); p.status != http.StatusForbidden {
		t.Errorf("form with another session's CSRF token: %d", p.status)
	}
	if r := role(); r != "" {
		t.Fatalf("refused forms changed the membership: target is %q", r)
	}
	if p := b.post("/projects/p/members", form, true); p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "done=member-set") {
		t.Fatalf("form with CSRF token: %d\n%s", p.status, p.body)
	}
	if r := role(); r != "developer" {
		t.Fatalf("target's role after the form: %q", r)
	}
}

// TestFormsRefusedServerSide posts, by hand, the forms a role is not offered — waive, set a
// secret, change a member — with a valid session and CSRF token. Every one is refused with 403
// (404 for a project the user may not see), names the missing permission, and changes nothing.
func TestFormsRefusedServerSide(t *testing.T) {
	f := newFixture(t, false)
	run, _ := seedHostile(f)
	ctx := context.Background()
	p := f.project
	waive := url.Values{"fingerprint": {"fp-1"}, "reason": {"looks fine to me, honestly"}, "days": {"90"}, "run": {fmt.Sprint(run.Number)}}
	secret := url.Values{"name": {"STOLEN"}, "value": {"attacker controlled value"}}
	member := url.Values{"user": {"dev"}, "role": {"maintainer"}}
	for _, tc := range []struct {
		user, path string
		form       url.Values
		status     int
		perm       string
	}{
		{"dev", "/projects/p/waivers", waive, 403, "finding.waive"},
		{"viewer", "/projects/p/waivers", waive, 403, "finding.waive"},
		{"maint", "/projects/p/waivers", waive, 403, "finding.waive"},
		{"admin", "/projects/p/waivers", waive, 403, "finding.waive"},
		{"dev", "/projects/p/secrets", secret, 403, "secret.write"},
		{"viewer", "/projects/p/secrets", secret, 403, "secret.write"},
		{"outsider", "/projects/p/secrets", secret, 404, ""},
		{"dev", "/settings/secrets", secret, 403, "secret.write_org"},
		{"sec", "/settings/secrets", secret, 403, "secret.write_org"},
		{"dev", "/projects/p/members", member, 403, "member.manage"},
		{"viewer", "/projects/p/members", member, 403, "member.manage"},
		{"sec", "/projects/p/members", member, 403, "member.manage"},
		{"dev", "/projects/p/members/maint/remove", url.Values{}, 403, "member.manage"},
		{"viewer", "/projects/p/runs", url.Values{"ref": {"main"}}, 403, "run.create"},
		{"viewer", pathOf("/projects/p/runs/%d/cancel", run.Number), url.Values{}, 403, "run.cancel"},
		{"dev", "/settings/agents/tokens", url.Values{"ttl": {"1h"}}, 403, "agent.manage"},
		{"sec", "/settings/agents/tokens", url.Values{"ttl": {"1h"}}, 403, "agent.manage"},
	} {
		t.Run(tc.user+" "+tc.path, func(t *testing.T) {
			b := f.signIn(tc.user)
			resp := b.post(tc.path, tc.form, true)
			if resp.status != tc.status {
				t.Fatalf("status %d, want %d\n%s", resp.status, tc.status, resp.body)
			}
			checkPage(t, tc.path, resp)
			if tc.perm != "" && !strings.Contains(resp.body, "permission denied: "+tc.perm) {
				t.Errorf("the refusal does not name %s:\n%s", tc.perm, resp.body)
			}
		})
	}
	// Nothing changed: no waiver, no secret, no membership change, no run, no token.
	ws, _ := f.findings.Waivers(ctx, p)
	if len(ws) != 0 {
		t.Errorf("waivers after refused forms: %+v", ws)
	}
	list, _ := f.vault.List(ctx, f.admin, secrets.ListFilter{})
	if len(list) != 0 {
		t.Errorf("secrets after refused forms: %+v", list)
	}
	_, ms, _ := f.projects.Get(ctx, f.admin, "p")
	for _, m := range ms {
		if (m.UserName == "dev" && m.Role != rampart.RoleDeveloper) || m.UserName == "maint" && m.Role != rampart.RoleMaintainer {
			t.Errorf("membership changed: %s is %s", m.UserName, m.Role)
		}
	}
	if len(ms) != 3 {
		t.Errorf("members after refused forms: %d, want 3", len(ms))
	}
	runs, _ := f.sched.Runs(ctx, p, 0, 10)
	if len(runs) != 1 || runs[0].Status != rampart.StatusFailed {
		t.Errorf("runs after refused forms: %d", len(runs))
	}
	// Each refusal is in the audit log.
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
	if denied < 16 {
		t.Errorf("%d denials audited, want one per refused form", denied)
	}

	// And the same forms work for those who hold the permission.
	sec := f.signIn("sec")
	if resp := sec.post("/projects/p/waivers", url.Values{"fingerprint": {"fp-1"}, "reason": {"x"}, "days": {"30"}, "run": {fmt.Sprint(run.Number)}}, true); resp.status != 400 || !strings.Contains(resp.body, "10 to 2000 characters") || !strings.Contains(resp.body, "/findings") {
		t.Errorf("waiver with a short reason: %d, want 400 with a link back\n%s", resp.status, resp.body)
	}
	resp := sec.post("/projects/p/waivers", waive, true)
	if resp.status != http.StatusSeeOther {
		t.Fatalf("security waives: %d\n%s", resp.status, resp.body)
	}
	if resp := sec.get(resp.header.Get("Location") + "&show=all"); !strings.Contains(resp.body, "Waived by sec") || !strings.Contains(resp.body, "The finding is waived.") {
		t.Errorf("findings page after waiving lacks the waiver:\n%s", resp.body)
	}
	maint := f.signIn("maint")
	if resp := maint.post("/projects/p/secrets", url.Values{"name": {"DEPLOY_TOKEN"}, "value": {"short"}}, true); resp.status != 400 || !strings.Contains(resp.body, "too short") {
		t.Errorf("short secret: %d", resp.status)
	}
	if resp := maint.post("/projects/p/secrets", url.Values{"name": {"DEPLOY_TOKEN"}, "value": {"a long enough value"}}, true); resp.status != http.StatusSeeOther {
		t.Fatalf("maintainer sets a secret: %d\n%s", resp.status, resp.body)
	}
	if resp := maint.get("/projects/p/secrets"); !strings.Contains(resp.body, "DEPLOY_TOKEN") || strings.Contains(resp.body, "a long enough value") {
		t.Errorf("secrets page after setting: value shown or name missing")
	}
}

// TestJobLogPages checks the log window: the tail by default, pages from a line, the page
// around a linked line, and a job whose output has no newline for megabytes.
func TestJobLogPages(t *testing.T) {
	f := newFixture(t, false)
	_, jobs := f.seedRun(f.project, nil, "build", "huge")
	var sb strings.Builder
	seq := int64(0)
	for i := 1; i <= 2500; i++ {
		fmt.Fprintf(&sb, "line %d %s\n", i, strings.Repeat("-", 100)) // ~270 KB: several index points
		if i%300 == 0 {                                               // chunks end mid-line too
			sb.WriteString("half ")
			seq++
			f.appendLog(jobs[0], seq, sb.String())
			sb.Reset()
			sb.WriteString("of a line\n")
		}
	}
	seq++
	f.appendLog(jobs[0], seq, sb.String())
	f.setJobStatus(jobs[0], rampart.StatusSucceeded)
	b := f.signIn("viewer")
	base := pathOf("/projects/p/jobs/%d", jobs[0].ID)
	total := 2500 + 8 // eight "half of a line" lines
	for _, tc := range []struct {
		query       string
		first, last int
		want        []string
	}{
		{"", total - 999, total, []string{`data-live="false"`, `href="?from=1"`, "Previous page", "line 2500 -"}},
		{"?from=1", 1, 1000, []string{">line 1 -", "Next page", "half of a line"}},
		{"?from=1700", 1700, 2508, []string{`id="L1700"><a class="ln" href="?line=1700#L1700">1700</a><span class="lt">line 1695 -`, "line 2500 -"}},
		{"?line=1234", 1134, 2133, []string{`class="line target" id="L1234"><a class="ln" href="?line=1234#L1234">1234</a><span class="lt">line 1230 -`}},
	} {
		p := b.get(base + tc.query)
		checkPage(t, base+tc.query, p)
		if n := strings.Count(p.body, `class="line`); n != tc.last-tc.first+1 {
			t.Errorf("%s: %d lines, want %d", tc.query, n, tc.last-tc.first+1)
		}
		for _, w := range append(tc.want, pathOf(`id="L%d"`, tc.first), pathOf(`id="L%d"`, tc.last)) {
			if !strings.Contains(p.body, w) {
				t.Errorf("%s: page lacks %q", tc.query, w)
			}
		}
		if strings.Contains(p.body, pathOf(`id="L%d"`, tc.last+1)) || strings.Contains(p.body, pathOf(`id="L%d"`, tc.first-1)) {
			t.Errorf("%s: page shows lines outside %d–%d", tc.query, tc.first, tc.last)
		}
	}
	// 3 MiB without a newline: shown cut, the page stays small.
	f.appendLog(jobs[1], 1, strings.Repeat("x", 3<<20))
	p := b.get(pathOf("/projects/p/jobs/%d", jobs[1].ID))
	if p.status != 200 || len(p.body) > 100<<10 || !strings.Contains(p.body, `class="line cut"`) {
		t.Errorf("huge line: %d, %d bytes", p.status, len(p.body))
	}
}

// TestLogStream follows a running job's log over server-sent events: lines come as they are
// stored, a line split across chunks continues, and the stream ends with the job.
func TestLogStream(t *testing.T) {
	f := newFixture(t, false)
	_, jobs := f.seedRun(f.project, nil, "build")
	job := jobs[0]
	f.setJobStatus(job, rampart.StatusRunning)
	f.appendLog(job, 1, "one\ntw")
	b := f.signIn("viewer")
	page := b.get(pathOf("/projects/p/jobs/%d", job.ID))
	if !strings.Contains(page.body, `data-after="1"`) || !strings.Contains(page.body, `data-live="true"`) {
		t.Fatalf("live job page lacks its stream position:\n%s", page.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.http.URL+pathOf("/projects/p/jobs/%d/stream?after=1", job.ID), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("Content-Security-Policy") != server.PageCSP {
		t.Fatalf("stream: %d %v", resp.StatusCode, resp.Header)
	}
	events := make(chan string, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev strings.Builder
		for sc.Scan() {
			if sc.Text() == "" {
				events <- ev.String()
				ev.Reset()
				continue
			}
			ev.WriteString(sc.Text() + "\n")
		}
	}()
	next := func() string {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatal("stream ended early")
			}
			return e
		case <-ctx.Done():
			t.Fatal("no event within the deadline")
		}
		return ""
	}
	f.appendLog(job, 2, "o\nthree \x1b[31m<b>red</b>\x1b[0m\n")
	e := next()
	for _, want := range []string{"id: 2\n", "event: lines\n", `{"n":2,"s":[{"t":"o"}]}`, `{"n":3,"s":[{"t":"three "},{"t":"\u003cb\u003ered\u003c/b\u003e","c":"f1"}]}`} {
		if !strings.Contains(e, want) {
			t.Errorf("event lacks %q:\n%s", want, e)
		}
	}
	f.setJobStatus(job, rampart.StatusSucceeded)
	e = next()
	if !strings.Contains(e, "event: end\n") || !strings.Contains(e, `"status":"succeeded"`) {
		t.Errorf("want the end event, got:\n%s", e)
	}
	if _, ok := <-events; ok {
		t.Error("the stream went on after the end event")
	}
	// Resuming in the middle (as EventSource does with Last-Event-ID after a lost connection)
	// continues with the right line numbers.
	f.appendLog(job, 3, "four\n")
	req, _ = http.NewRequest("GET", f.http.URL+pathOf("/projects/p/jobs/%d/stream", job.ID), nil)
	req.Header.Set("Last-Event-ID", "1")
	again := b.do(req)
	for _, want := range []string{`{"n":2,"s":[{"t":"o"}]}`, `{"n":4,"s":[{"t":"four"}]}`, "event: end"} {
		if !strings.Contains(again.body, want) {
			t.Errorf("resumed stream lacks %q:\n%s", want, again.body)
		}
	}
}

// TestStaticFiles checks the cache policy of the static files and that nothing else is served.
func TestStaticFiles(t *testing.T) {
	f := newFixture(t, false)
	b := f.browser()
	lp := b.get("/login")
	v := regexpFind(lp.body, `rampart\.css\?v=([0-9a-f]+)`)
	p := b.get("/static/rampart.css?v=" + v)
	if p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") || !strings.Contains(p.header.Get("Cache-Control"), "immutable") {
		t.Errorf("stylesheet: %d %v", p.status, p.header)
	}
	if p := b.get("/static/rampart.js"); p.status != 200 || p.header.Get("Cache-Control") != "no-cache" || !strings.Contains(p.header.Get("Content-Type"), "javascript") {
		t.Errorf("script without version: %d %v", p.status, p.header)
	}
	for _, path := range []string{"/static/", "/static/../web.go", "/static/nothing.js", "/static/%2e%2e/web.go"} {
		// The mux answers a path with ".." with a redirect to the cleaned path, which is no file.
		if p := b.get(path); p.status == 200 || strings.Contains(p.body, "package web") {
			t.Errorf("GET %s: %d, want no file", path, p.status)
		}
	}
}

// TestHSTSUnderTLS checks that pages served over TLS carry HSTS and Secure cookies.
func TestHSTSUnderTLS(t *testing.T) {
	f := newFixture(t, true)
	b := f.browser()
	p := b.get("/login")
	if !strings.Contains(p.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS over TLS: %v", p.header)
	}
	for _, c := range p.cookie {
		if !c.Secure {
			t.Errorf("cookie %s not Secure over TLS", c.Name)
		}
	}
	b = f.signIn("maint")
	if p := b.get("/projects/p"); p.status != 200 || !strings.Contains(p.header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("page over TLS: %d %v", p.status, p.header)
	}
}

func regexpFind(s, re string) string {
	if m := regexp.MustCompile(re).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// TestLogStreamSkipsAhead follows a log that is megabytes behind: the stream says which lines
// it skipped and sends the last part, so that the browser never receives the whole log.
func TestLogStreamSkipsAhead(t *testing.T) {
	f := newFixture(t, false)
	_, jobs := f.seedRun(f.project, nil, "build")
	job := jobs[0]
	f.setJobStatus(job, rampart.StatusRunning)
	line := strings.Repeat("x", 1000) + "\n"
	chunk := strings.Repeat(line, 64)        // 64 KB
	for seq := int64(1); seq <= 160; seq++ { // 10 MB
		f.appendLog(job, seq, chunk)
	}
	f.setJobStatus(job, rampart.StatusSucceeded)
	b := f.signIn("viewer")
	req, _ := http.NewRequest("GET", f.http.URL+pathOf("/projects/p/jobs/%d/stream?after=0", job.ID), nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var n int
	var skip, end bool
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 8<<20)
	for sc.Scan() {
		n += len(sc.Bytes())
		switch sc.Text() {
		case "event: skip":
			skip = true
		case "event: end":
			end = true
		}
	}
	if !skip || !end {
		t.Fatalf("skip event %v, end event %v", skip, end)
	}
	if n > 3<<20 {
		t.Fatalf("the stream sent %d bytes of a 10 MB log", n)
	}
}
