package web_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/review"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
	"github.com/rampart-ci/rampart/server"
	"github.com/rampart-ci/rampart/store"
)

// hostile is a value that must come out of every page as text, never as markup.
const hostile = `<script>alert(1)</script>`

// fixture is a whole server on SQLite with users of every kind and a project "p".
type fixture struct {
	t        testing.TB
	db       rampart.Store
	auth     *auth.Service
	projects *project.Service
	sched    *scheduler.Scheduler
	findings *findings.Service
	vault    *secrets.Vault
	deploy   *deploy.Service
	reviews  *review.Service
	srv      *server.Server
	http     *httptest.Server
	admin    *rampart.Actor
	users    map[string]*rampart.Actor
	project  *rampart.Project
	repo     string
}

// fixtureUsers are the accounts every fixture has: name, organisation role, role in "p".
var fixtureUsers = []struct{ name, org, project string }{
	{"sec", rampart.RoleSecurity, ""},
	{"outsider", rampart.RoleMember, ""},
	{"viewer", rampart.RoleMember, rampart.RoleViewer},
	{"dev", rampart.RoleMember, rampart.RoleDeveloper},
	{"maint", rampart.RoleMember, rampart.RoleMaintainer},
	{"target", rampart.RoleMember, ""},
}

func password(name string) string { return "password of " + name }

func newFixture(t testing.TB, tls bool) *fixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(db, logger, auth.Config{Params: auth.Params{Memory: 64, Time: 1, Threads: 1}, MaxPerUser: 1000, MaxPerSource: 1000})
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
	// The bootstrap password is random; give the admin a known one for signing in.
	if err := a.SetPassword(ctx, rampart.SystemActor(), "admin", "", password("admin")); err != nil {
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
	// The deploy gate and the scheduler call each other, wired as cmd/rampart/serve.go does.
	// It signs no provenance: a deployment that consumes artifacts is refused here.
	reviews := review.New(review.Config{Store: db, Logger: logger})
	var sched *scheduler.Scheduler
	deploys := deploy.New(deploy.Config{Store: db, Commits: repo, Reviews: reviews, Logger: logger, Released: func() { sched.Wake() }})
	sched = scheduler.New(scheduler.Config{Store: db, Repo: repo, Secrets: vault, Deploys: deploys, Logger: logger})
	deploys.SetAdvance(sched.Advance)
	fs := findings.New(db, nil)
	srv := server.New(server.Config{Store: db, Auth: a, Projects: projects, Scheduler: sched, Repo: repo, Vault: vault,
		Findings: fs, Deploy: deploys, Reviews: reviews, Logger: logger, Version: "test"})
	var hs *httptest.Server
	if tls {
		hs = httptest.NewTLSServer(srv.Handler())
	} else {
		hs = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(hs.Close)
	f := &fixture{t: t, db: db, auth: a, projects: projects, sched: sched, findings: fs, vault: vault, deploy: deploys, reviews: reviews, srv: srv, http: hs,
		admin: admin, users: map[string]*rampart.Actor{"admin": admin}}
	f.repo = gitRepo(t, "on: [push, manual]\njobs:\n  build:\n    steps: [{run: 'echo built'}]\n")
	if f.project, err = projects.Create(ctx, admin, "p", f.repo); err != nil {
		t.Fatal(err)
	}
	for _, u := range fixtureUsers {
		user, err := a.CreateUser(ctx, admin, u.name, u.org, password(u.name))
		if err != nil {
			t.Fatal(err)
		}
		f.users[u.name] = &rampart.Actor{UserID: user.ID, Name: user.Name, Role: user.Role, Source: "test"}
		if u.project != "" {
			if _, err := projects.AddMember(ctx, admin, "p", u.name, u.project); err != nil {
				t.Fatal(err)
			}
		}
	}
	return f
}

// gitRepo makes a repository with one commit holding pipeline as .rampart.yml.
func gitRepo(t testing.TB, pipeline string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".rampart.yml"), []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "first"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	return dir
}

func (f *fixture) update(fn func(ctx context.Context, tx rampart.Tx) error) {
	f.t.Helper()
	ctx := context.Background()
	if err := f.db.Update(ctx, func(tx rampart.Tx) error { return fn(ctx, tx) }); err != nil {
		f.t.Fatal(err)
	}
}

// seedRun stores a run of p with the given jobs (name → needs) directly, as if a pipeline had
// made it, and returns it with its jobs in order.
func (f *fixture) seedRun(p *rampart.Project, mod func(*rampart.Run), jobs ...string) (*rampart.Run, []*rampart.Job) {
	f.t.Helper()
	run := &rampart.Run{ProjectID: p.ID, Event: rampart.EventPush, Ref: "refs/heads/main", Branch: "main",
		Commit: "0123456789abcdef0123456789abcdef01234567", TriggeredBy: "webhook:github", Status: rampart.StatusRunning, CreatedAt: time.Now()}
	if mod != nil {
		mod(run)
	}
	var out []*rampart.Job
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		for _, spec := range jobs {
			name, needs, _ := strings.Cut(spec, ":")
			j := &rampart.Job{RunID: run.ID, ProjectID: p.ID, Name: name, Status: rampart.StatusQueued, Spec: "{}", Attempt: 1, CreatedAt: time.Now()}
			if needs != "" {
				j.Needs, j.Status = strings.Split(needs, ","), rampart.StatusPending
			}
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	return run, out
}

func (f *fixture) appendLog(job *rampart.Job, seq int64, data string) {
	f.t.Helper()
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		return tx.AppendLog(ctx, &rampart.LogChunk{JobID: job.ID, Seq: seq, Data: []byte(data), CreatedAt: time.Now()})
	})
}

func (f *fixture) setJobStatus(job *rampart.Job, status string) {
	f.t.Helper()
	f.update(func(ctx context.Context, tx rampart.Tx) error {
		j, err := tx.JobByID(ctx, job.ID)
		if err != nil {
			return err
		}
		j.Status = status
		now := time.Now()
		if rampart.Terminal(status) {
			j.FinishedAt = &now
		}
		if status == rampart.StatusRunning {
			j.StartedAt = &now
		}
		return tx.UpdateJob(ctx, j)
	})
}

// recordFindings stores findings of a job the way a scanning agent's report does: through the
// findings service, which judges them with the gate.
func (f *fixture) recordFindings(job *rampart.Job, fs ...*rampart.Finding) {
	f.t.Helper()
	// The findings service takes reports only from a running job's current lease, as an agent
	// sends them: run the job for the report, then put its status back.
	var cur *rampart.Job
	f.update(func(ctx context.Context, tx rampart.Tx) (err error) {
		cur, err = tx.JobByID(ctx, job.ID)
		return err
	})
	was := cur.Status
	if was != rampart.StatusRunning {
		f.setJobStatus(job, rampart.StatusRunning)
		cur.Status = rampart.StatusRunning
	}
	if _, err := f.findings.Record(context.Background(), cur, &rampart.ScanReport{Scanners: []string{"sarif"}, Findings: fs}); err != nil {
		f.t.Fatal(err)
	}
	if was != rampart.StatusRunning {
		f.setJobStatus(job, was)
	}
}

// browser is a signed-in (or anonymous) web client: it keeps cookies and does not follow
// redirects, so that tests see them.
type browser struct {
	f    *fixture
	c    *http.Client
	csrf string
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *f.http.Client() // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{f: f, c: &c}
}

type page struct {
	status int
	body   string
	header http.Header
	cookie []*http.Cookie
}

func (b *browser) do(req *http.Request) *page {
	b.f.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return &page{status: resp.StatusCode, body: string(body), header: resp.Header, cookie: resp.Cookies()}
}

func (b *browser) get(path string) *page {
	b.f.t.Helper()
	req, _ := http.NewRequest("GET", b.f.http.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

// post sends a form; with csrf the session's token is added as the forms of the UI do.
func (b *browser) post(path string, form url.Values, csrf bool) *page {
	b.f.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if csrf {
		form.Set("csrf_token", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.f.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var (
	loginTokenRE = regexp.MustCompile(`name="login_token" value="([^"]+)"`)
	csrfRE       = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
)

// signIn signs in through the sign-in form and keeps the session's CSRF token from a page.
func (f *fixture) signIn(name string) *browser {
	f.t.Helper()
	b := f.browser()
	lp := b.get("/login")
	m := loginTokenRE.FindStringSubmatch(lp.body)
	if lp.status != 200 || m == nil {
		f.t.Fatalf("sign-in page: %d, token %v\n%s", lp.status, m, lp.body)
	}
	resp := b.post("/login", url.Values{"username": {name}, "password": {password(name)}, "login_token": {m[1]}}, false)
	if resp.status != http.StatusSeeOther {
		f.t.Fatalf("sign in as %s: %d\n%s", name, resp.status, resp.body)
	}
	home := b.get("/")
	m = csrfRE.FindStringSubmatch(home.body)
	if home.status != 200 || m == nil {
		f.t.Fatalf("dashboard after sign-in: %d\n%s", home.status, home.body)
	}
	b.csrf = html.UnescapeString(m[1])
	return b
}

func pathOf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
