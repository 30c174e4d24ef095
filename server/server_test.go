package server_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/rbac"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
	"github.com/rampart-ci/rampart/server"
	"github.com/rampart-ci/rampart/store"
)

type fixture struct {
	t     *testing.T
	db    rampart.Store
	auth  *auth.Service
	srv   *server.Server
	http  *httptest.Server
	admin *rampart.Actor
	users map[string]*rampart.Actor
}

// subjects are the users the route walk tries, one per organisation role and one per project
// role in project p (members by organisation role).
var subjects = []struct{ name, org, project string }{
	{"admin", rampart.RoleAdmin, ""},
	{"sec", rampart.RoleSecurity, ""},
	{"outsider", rampart.RoleMember, ""},
	{"viewer", rampart.RoleMember, rampart.RoleViewer},
	{"dev", rampart.RoleMember, rampart.RoleDeveloper},
	{"maint", rampart.RoleMember, rampart.RoleMaintainer},
	{"relman", rampart.RoleMember, rampart.RoleReleaseManager},
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(db, logger, auth.Config{Params: auth.Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, _, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.Authenticate(ctx, tok, "test")
	if err != nil {
		t.Fatal(err)
	}
	projects := project.New(db, nil)
	repo := git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}
	key := make([]byte, secrets.KeySize)
	_, _ = rand.Read(key)
	keys, err := secrets.NewLocalKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	vault, err := secrets.New(ctx, db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	var sched *scheduler.Scheduler
	deploys := deploy.New(deploy.Config{Store: db, Commits: repo, Logger: logger, Released: func() { sched.Wake() }})
	sched = scheduler.New(scheduler.Config{Store: db, Repo: repo, Secrets: vault, Deploys: deploys, Logger: logger})
	deploys.SetAdvance(sched.Advance)
	srv := server.New(server.Config{Store: db, Auth: a, Projects: projects, Scheduler: sched, Repo: repo, Vault: vault,
		Findings: findings.New(db, nil), Deploy: deploys, Logger: logger, Version: "test"})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	f := &fixture{t: t, db: db, auth: a, srv: srv, http: hs, admin: admin, users: map[string]*rampart.Actor{"admin": admin}}
	p, err := projects.Create(ctx, admin, "p", gitRepoWithPipeline(t))
	if err != nil {
		t.Fatal(err)
	}
	// Deployment 1, waiting, so that routes by deployment id find a project.
	err = db.Update(ctx, func(tx rampart.Tx) error {
		now := time.Now()
		env := &rampart.Environment{ProjectID: p.ID, Name: "production", CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateEnvironment(ctx, env); err != nil {
			return err
		}
		run := &rampart.Run{ProjectID: p.ID, Event: rampart.EventManual, Ref: "refs/heads/main", Branch: "main", Commit: strings.Repeat("a", 40),
			TriggeredBy: "admin", Status: rampart.StatusRunning, CreatedAt: now}
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		// The job has ended, so that log routes answer at once instead of following it.
		job := &rampart.Job{RunID: run.ID, ProjectID: p.ID, Name: "deploy", Spec: "{}", Deploys: true, Status: rampart.StatusCancelled, Attempt: 1, CreatedAt: now, FinishedAt: &now}
		if err := tx.CreateJob(ctx, job); err != nil {
			return err
		}
		return tx.CreateDeployment(ctx, &rampart.Deployment{ProjectID: p.ID, EnvironmentID: env.ID, RunID: run.ID, JobID: job.ID,
			Commit: run.Commit, Ref: run.Ref, Status: rampart.DeployWaiting, TriggeredBy: "admin", CreatedAt: now})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(subjects[1:], struct{ name, org, project string }{"target", rampart.RoleMember, rampart.RoleDeveloper}) {
		u, err := a.CreateUser(ctx, admin, s.name, s.org, "password of "+s.name)
		if err != nil {
			t.Fatal(err)
		}
		f.users[s.name] = &rampart.Actor{UserID: u.ID, Name: u.Name, Role: u.Role, Source: "test"}
		if s.project != "" {
			if _, err := projects.AddMember(ctx, admin, "p", s.name, s.project); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// token returns a fresh API token of a user, so that a request that revokes its own credential
// does not disturb the next one.
func (f *fixture) token(name string) (string, int64) {
	f.t.Helper()
	secret, tok, err := f.auth.CreateToken(context.Background(), f.users[name], "walk", "", 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return secret, tok.ID
}

func (f *fixture) do(method, path, token, body string, hdr map[string]string) (*http.Response, server.ErrorResponse) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.http.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb server.ErrorResponse
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		// A page of the web UI: its errors are pages under the page policy.
		if csp := resp.Header.Get("Content-Security-Policy"); csp != server.PageCSP {
			f.t.Errorf("%s %s: page with Content-Security-Policy %q", method, path, csp)
		}
		if resp.StatusCode >= 400 {
			eb.Error = pageError.FindString(string(b))
		}
		return resp, eb
	}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(b, &eb); err != nil || eb.Error == "" {
			f.t.Errorf("%s %s: error answer %d is not {\"error\": …}: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp, eb
}

// noRedirects shows redirects to the tests instead of following them: pages answer a missing
// sign-in with one.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// pageError finds the message of an error page.
var pageError = regexp.MustCompile(`<strong>[^<]*</strong>`)

// publicRoutes is every route reachable without a credential. Adding one is a decision: write it here.
var publicRoutes = []string{"GET /healthz", "GET /readyz", "POST /api/v1/login",
	"POST /api/v1/hooks/{host}/{project}", "POST /api/v1/agents/register",
	// The web UI's sign-in page and its static files.
	"GET /login", "POST /login", "GET /static/{file...}",
	// The provenance public key: whoever verifies an artifact needs it, signed in or not.
	"GET /api/v1/provenance/key"}

// TestEveryRouteDeclaresAKnownPermission fails for a route without a permission, with an
// unknown one, or public without being listed above.
func TestEveryRouteDeclaresAKnownPermission(t *testing.T) {
	f := newFixture(t)
	known := rbac.Actions()
	for _, rt := range f.srv.Routes() {
		name := rt.Method + " " + rt.Pattern
		switch {
		case rt.Perm == "":
			t.Errorf("%s declares no permission", name)
		case rt.Perm == server.Public:
			if !slices.Contains(publicRoutes, name) {
				t.Errorf("%s is public but not in publicRoutes", name)
			}
		case rt.Perm == server.Authenticated, rt.Perm == server.AgentAuth, rt.Perm == server.JobAuth:
		case !slices.Contains(known, rt.Perm):
			t.Errorf("%s declares unknown permission %q", name, rt.Perm)
		case rbac.IsProjectAction(rt.Perm) && !strings.Contains(rt.Pattern, "{project}") && rt.ProjectOf == nil && !rt.OrgScope:
			t.Errorf("%s needs project permission %s but has no {project}", name, rt.Perm)
		}
	}
}

// TestRouteRoleMatrix walks every route × every role and checks the answer against rbac: a
// role the table does not allow must be refused (403, or 404 where it may not even see the
// project), and a role it allows must get past authorization.
func TestRouteRoleMatrix(t *testing.T) {
	for _, rt := range newFixture(t).srv.Routes() {
		if rt.Perm == server.Public {
			continue
		}
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			f := newFixture(t)
			// Without a credential every non-public route answers 401, and every page sends the
			// browser to the sign-in page.
			path := strings.NewReplacer("{project}", "p", "{user}", "target", "{id}", "1", "{number}", "1", "{agent}", "a1", "{host}", "github", "{name}", "DEPLOY_TOKEN", "{$}", "").Replace(rt.Pattern)
			resp, _ := f.do(rt.Method, path, "", body(rt.Method), nil)
			switch {
			case rt.Web && (resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login")):
				// Pages send a browser without a session to the sign-in page.
				t.Errorf("anonymous page: status %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
			case !rt.Web && resp.StatusCode != http.StatusUnauthorized:
				t.Errorf("anonymous: status %d, want 401", resp.StatusCode)
			}
			for _, s := range subjects {
				tok, tokID := f.token(s.name)
				user, id := "target", int64(1)
				if rt.Self {
					user, id = s.name, tokID
					// Revoking: aim at a second token of one's own, not the one in use.
					if rt.Method == "DELETE" {
						_, id = f.token(s.name)
					}
				}
				path := strings.NewReplacer("{project}", "p", "{user}", user, "{id}", fmt.Sprint(id), "{number}", "1", "{agent}", "a1", "{name}", "DEPLOY_TOKEN", "{$}", "").Replace(rt.Pattern)
				resp, eb := f.do(rt.Method, path, tok, body(rt.Method), nil)
				sub := rbac.Subject{UserID: f.users[s.name].UserID, Role: s.org, ProjectRole: s.project}
				if rt.OrgScope {
					sub.ProjectRole = "" // the resource belongs to no project
				}
				res := rbac.Resource{}
				if rt.Self {
					res.OwnerID = sub.UserID
				}
				allowed := rt.Perm == server.Authenticated || rbac.Can(sub, rt.Perm, res)
				canSee := rbac.Can(sub, rbac.ProjectRead, rbac.Resource{})
				machine := rt.Perm == server.AgentAuth || rt.Perm == server.JobAuth
				switch {
				case machine && resp.StatusCode != 401:
					t.Errorf("%s: a user token on an agent route got %d, want 401", s.name, resp.StatusCode)
				case machine:
				case allowed && (resp.StatusCode == 401 || resp.StatusCode == 403):
					t.Errorf("%s (%s/%s) allowed by rbac but refused: %d %s", s.name, s.org, s.project, resp.StatusCode, eb.Error)
				case allowed && resp.StatusCode >= 500:
					t.Errorf("%s: server error %d %s", s.name, resp.StatusCode, eb.Error)
				case !allowed && rbac.IsProjectAction(rt.Perm) && !rt.OrgScope && !canSee && resp.StatusCode != 404:
					t.Errorf("%s (%s/%s) may not see the project but got %d, want 404", s.name, s.org, s.project, resp.StatusCode)
				case !allowed && (!rbac.IsProjectAction(rt.Perm) || rt.OrgScope || canSee) && resp.StatusCode != 403:
					t.Errorf("%s (%s/%s) not allowed but got %d, want 403", s.name, s.org, s.project, resp.StatusCode)
				}
			}
		})
	}
}

func body(method string) string {
	if method == "POST" || method == "PUT" {
		return "{}"
	}
	return ""
}

func TestBadInputGetsClearErrors(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.token("admin")
	for _, tc := range []struct {
		name, method, path, body string
		hdr                      map[string]string
		status                   int
		errContains              string
	}{
		{"unknown field", "POST", "/api/v1/users", `{"name":"x","role":"member","password":"long enough pw","admin":true}`, nil, 400, "unknown field"},
		{"not json", "POST", "/api/v1/users", `name=x`, nil, 400, "bad JSON"},
		{"two values", "POST", "/api/v1/users", `{} {}`, nil, 400, "more than one"},
		{"wrong type", "POST", "/api/v1/users", `{"name":1}`, nil, 400, "bad JSON"},
		{"form content type", "POST", "/api/v1/users", `{}`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 400, "content type"},
		{"too large", "POST", "/api/v1/users", `{"name":"` + strings.Repeat("a", 2<<20) + `"}`, nil, 413, "larger than"},
		{"bad user name", "POST", "/api/v1/users", `{"name":"Robert'); DROP TABLE users;--","role":"member","password":"long enough pw"}`, nil, 400, "invalid user name"},
		{"bad role", "POST", "/api/v1/users", `{"name":"x","role":"root","password":"long enough pw"}`, nil, 400, "unknown role"},
		{"short password", "POST", "/api/v1/users", `{"name":"x","role":"member","password":"pw"}`, nil, 400, "too short"},
		{"duplicate user", "POST", "/api/v1/users", `{"name":"target","role":"member","password":"long enough pw"}`, nil, 409, "already exists"},
		{"unknown route", "GET", "/api/v1/nothing", ``, nil, 404, "no such endpoint"},
		{"bad token id", "DELETE", "/api/v1/tokens/abc", ``, nil, 400, "bad token id"},
		{"bad audit limit", "GET", "/api/v1/audit?limit=100000", ``, nil, 400, "bad limit"},
		{"unsupported auth", "GET", "/api/v1/me", ``, map[string]string{"Authorization": "Basic YTpi"}, 401, "unsupported Authorization"},
		{"garbage token", "GET", "/api/v1/me", ``, map[string]string{"Authorization": "Bearer rmp_nope"}, 401, "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, eb := f.do(tc.method, tc.path, tok, tc.body, tc.hdr)
			if resp.StatusCode != tc.status || !strings.Contains(eb.Error, tc.errContains) {
				t.Fatalf("got %d %q (%s), want %d containing %q", resp.StatusCode, eb.Error, eb.Detail, tc.status, tc.errContains)
			}
			if eb.Detail == "" && tc.status != 404 {
				t.Errorf("error %q has no detail saying how to fix it", eb.Error)
			}
		})
	}
	// Nothing of the refused requests was written.
	resp, _ := f.do("GET", "/api/v1/users/x", tok, "", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("user x exists after refused requests: %d", resp.StatusCode)
	}
}

func TestSessionCookieNeedsCSRFToken(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.do("POST", "/api/v1/login", "", `{"username":"maint","password":"password of maint"}`, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == server.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite=Strict", cookie)
	}
	var lr server.LoginResponse
	login := func() {
		req, _ := http.NewRequest("POST", f.http.URL+"/api/v1/login", strings.NewReader(`{"username":"maint","password":"password of maint"}`))
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		_ = json.NewDecoder(r.Body).Decode(&lr)
		for _, c := range r.Cookies() {
			if c.Name == server.SessionCookie {
				if c.Value == cookie.Value {
					t.Fatal("a new sign-in reused the session id")
				}
				cookie = c
			}
		}
	}
	login()
	cookieHdr := map[string]string{"Cookie": server.SessionCookie + "=" + cookie.Value}
	if r, _ := f.do("GET", "/api/v1/me", "", "", cookieHdr); r.StatusCode != 200 {
		t.Fatalf("GET with session: %d", r.StatusCode)
	}
	put := func(csrf string) int {
		h := map[string]string{"Cookie": cookieHdr["Cookie"]}
		if csrf != "" {
			h["X-CSRF-Token"] = csrf
		}
		r, _ := f.do("PUT", "/api/v1/projects/p/members/target", "", `{"role":"viewer"}`, h)
		return r.StatusCode
	}
	if got := put(""); got != 403 {
		t.Fatalf("unsafe request without CSRF token: %d, want 403", got)
	}
	if got := put("wrong"); got != 403 {
		t.Fatalf("unsafe request with wrong CSRF token: %d, want 403", got)
	}
	if got := put(lr.CSRFToken); got != 200 {
		t.Fatalf("unsafe request with CSRF token: %d, want 200", got)
	}
	if r, _ := f.do("POST", "/api/v1/logout", "", "", map[string]string{"Cookie": cookieHdr["Cookie"], "X-CSRF-Token": lr.CSRFToken}); r.StatusCode != 204 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r, _ := f.do("GET", "/api/v1/me", "", "", cookieHdr); r.StatusCode != 401 {
		t.Fatalf("session after logout: %d, want 401", r.StatusCode)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if r, _ := f.do("GET", p, "", "", nil); r.StatusCode != 200 {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	resp, err := http.Get(f.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `rampart_http_requests_total{code="200",route="GET /healthz"}`) {
		t.Fatalf("metrics lack request counter:\n%.2000s", b)
	}
	if r, _ := f.do("GET", "/healthz", "", "", nil); r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("missing security headers or request id: %v", r.Header)
	}
}

// gitRepoWithPipeline makes a real repository whose pipeline allows manual runs.
func gitRepoWithPipeline(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".rampart.yml"), []byte("on: [push, manual]\njobs:\n  build:\n    steps: [{run: 'true'}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "x"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return dir
}
