// Package web is Rampart's browser UI: pages rendered on the server with html/template, one
// stylesheet and one small script embedded in the binary, and live updates of job logs
// (server-sent events) and run graphs (a JSON poll). There is no build step and no framework.
//
// The UI is a set of routes the server registers through the same path as its API routes, so
// that authentication, CSRF checks on unsafe methods and each route's declared permission apply
// before a handler runs. Handlers then decode the form, call the domain service — which checks
// the permission again and audits — and render. Hiding a button from a role that may not use it
// is a courtesy; the refusal happens on the server.
//
// Pages are safe by construction: every value passes through html/template's contextual
// escaping, no page has inline script or style (the server sends a strict Content-Security-
// Policy), every form carries the session's CSRF token, and log output reaches the browser as
// text nodes, never as markup.
//
// Adding a page: write templates/NAME.html defining "content" (it is parsed with layout.html),
// add a handler that calls ui.render, and a Route with the permission it needs. Project pages
// appear as tabs through projectTabs; organisation pages through orgNav.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/rbac"
	"github.com/rampart-ci/rampart/review"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
)

// Pseudo-permissions of routes that need no rbac action. The server maps them onto its own
// (server.Public, server.Authenticated); they are spelled the same.
const (
	// Public routes need no credential: the sign-in page and static files.
	Public rbac.Action = "public"
	// Authenticated routes need any signed-in user and act on the caller's own account.
	Authenticated rbac.Action = "authenticated"
)

// Route is one page or form target of the UI.
type Route struct {
	Method  string
	Pattern string // net/http pattern; project pages have {project}
	// Perm is checked by the server before Handler runs: Public, Authenticated or an rbac
	// action; a project action is checked against the caller's role in {project}.
	Perm rbac.Action
	// OrgScope checks a project action as an organisation-wide one (see server.Route).
	OrgScope bool
	// MaxBody overrides the server's default body limit.
	MaxBody int64
	Handler func(w http.ResponseWriter, r *http.Request) error
}

// Config is what the UI needs. Every field is required unless it says otherwise.
type Config struct {
	Store     rampart.Store
	Auth      *auth.Service
	Projects  *project.Service
	Scheduler *scheduler.Scheduler
	// Repo resolves the ref of a run started by hand. When it also reads commits (it meets
	// deploy.Commits, as forge/git's Repo does), the approval page shows the commit's author
	// and message.
	Repo     scheduler.Repo
	Findings *findings.Service
	Vault    *secrets.Vault
	// Deploy holds environments, deployments and approvals; it decides and audits every
	// deployment action the pages offer.
	Deploy *deploy.Service
	// Reviews is the review evidence from git hosts, shown on the approval page. Optional: when
	// nil, the page says what the deployment's rules say about review and nothing more.
	Reviews *review.Service
	Logger  *slog.Logger
	Version string // shown in the footer; optional
	// CookieName is the session cookie's name; the server reads the same cookie.
	CookieName string
	// SecureCookies marks cookies Secure even when the request did not arrive over TLS (a TLS
	// proxy in front); requests over TLS always get Secure cookies.
	SecureCookies bool
	// ClientAddr returns the address a request came from, as the server determines it for rate
	// limits and the audit log; default: the host of RemoteAddr.
	ClientAddr func(r *http.Request) string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// UI serves the web interface. It is safe for concurrent use.
type UI struct {
	cfg    Config
	logger *slog.Logger
	pages  map[string]*template.Template
	static fs.FS
	// assetVersion is a digest of the static files, appended to their URLs so that browsers may
	// cache them for a year and still get a new version at once.
	assetVersion string
	logs         *logIndexes
	bufs         sync.Pool
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the UI. It panics if an embedded template does not parse, which tests catch.
func New(cfg Config) *UI {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ClientAddr == nil {
		cfg.ClientAddr = remoteHost
	}
	if cfg.CookieName == "" {
		cfg.CookieName = "rampart_session"
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(fmt.Sprintf("web: static files: %v", err))
	}
	ui := &UI{cfg: cfg, logger: cfg.Logger, static: static, logs: newLogIndexes(256)}
	ui.bufs.New = func() any { return new(bytes.Buffer) }
	ui.assetVersion = digestFS(static)
	ui.pages = ui.parsePages()
	return ui
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// digestFS returns a short digest of every file in fsys.
func digestFS(fsys fs.FS) string {
	h := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (ui *UI) parsePages() map[string]*template.Template {
	layout, err := template.New("layout.html").Funcs(ui.funcs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		panic(fmt.Sprintf("web: parse layout: %v", err))
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" {
			continue
		}
		t := template.Must(layout.Clone())
		if _, err := t.ParseFS(templateFS, n); err != nil {
			panic(fmt.Sprintf("web: parse %s: %v", n, err))
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages
}

// Routes returns the UI's routes for the server to register.
func (ui *UI) Routes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/static/{file...}", Perm: Public, Handler: ui.handleStatic},
		{Method: "GET", Pattern: "/login", Perm: Public, Handler: ui.handleLoginPage},
		{Method: "POST", Pattern: "/login", Perm: Public, Handler: ui.handleLogin},
		{Method: "POST", Pattern: "/logout", Perm: Authenticated, Handler: ui.handleLogout},
		{Method: "GET", Pattern: "/{$}", Perm: rbac.ProjectList, Handler: ui.handleDashboard},

		{Method: "GET", Pattern: "/projects/{project}", Perm: rbac.RunRead, Handler: ui.handleRuns},
		{Method: "POST", Pattern: "/projects/{project}/runs", Perm: rbac.RunCreate, Handler: ui.handleRunCreate},
		{Method: "GET", Pattern: "/projects/{project}/runs/{number}", Perm: rbac.RunRead, Handler: ui.handleRun},
		{Method: "GET", Pattern: "/projects/{project}/runs/{number}/status", Perm: rbac.RunRead, Handler: ui.handleRunStatus},
		{Method: "POST", Pattern: "/projects/{project}/runs/{number}/cancel", Perm: rbac.RunCancel, Handler: ui.handleRunCancel},
		{Method: "POST", Pattern: "/projects/{project}/runs/{number}/retry", Perm: rbac.RunCreate, Handler: ui.handleRunRetry},
		{Method: "GET", Pattern: "/projects/{project}/jobs/{id}", Perm: rbac.RunRead, Handler: ui.handleJob},
		{Method: "GET", Pattern: "/projects/{project}/jobs/{id}/stream", Perm: rbac.RunRead, Handler: ui.handleJobStream},

		{Method: "GET", Pattern: "/projects/{project}/runs/{number}/findings", Perm: rbac.RunRead, Handler: ui.handleFindings},
		{Method: "POST", Pattern: "/projects/{project}/waivers", Perm: rbac.FindingWaive, Handler: ui.handleWaive},
		{Method: "POST", Pattern: "/projects/{project}/waivers/{id}/revoke", Perm: rbac.FindingWaive, Handler: ui.handleWaiverRevoke},

		{Method: "GET", Pattern: "/projects/{project}/members", Perm: rbac.ProjectRead, Handler: ui.handleMembers},
		{Method: "POST", Pattern: "/projects/{project}/members", Perm: rbac.MemberManage, Handler: ui.handleMemberSet},
		{Method: "POST", Pattern: "/projects/{project}/members/{user}/remove", Perm: rbac.MemberManage, Handler: ui.handleMemberRemove},
		{Method: "GET", Pattern: "/projects/{project}/secrets", Perm: rbac.SecretRead, Handler: ui.handleSecrets},
		{Method: "POST", Pattern: "/projects/{project}/secrets", Perm: rbac.SecretWrite, Handler: ui.handleSecretSet},
		{Method: "POST", Pattern: "/projects/{project}/secrets/{name}/delete", Perm: rbac.SecretWrite, Handler: ui.handleSecretDelete},

		{Method: "GET", Pattern: "/projects/{project}/deployments", Perm: rbac.RunRead, Handler: ui.handleDeployments},
		{Method: "GET", Pattern: "/projects/{project}/deployments/{id}", Perm: rbac.RunRead, Handler: ui.handleDeployment},
		{Method: "POST", Pattern: "/projects/{project}/deployments/{id}/approve", Perm: rbac.DeployApprove, Handler: ui.handleDecide(true)},
		{Method: "POST", Pattern: "/projects/{project}/deployments/{id}/reject", Perm: rbac.DeployApprove, Handler: ui.handleDecide(false)},
		{Method: "GET", Pattern: "/projects/{project}/environments/{env}", Perm: rbac.RunRead, Handler: ui.handleEnvironment},
		{Method: "POST", Pattern: "/projects/{project}/environments", Perm: rbac.EnvManage, Handler: ui.handleEnvCreate},
		{Method: "POST", Pattern: "/projects/{project}/environments/{env}/protection", Perm: rbac.EnvManage, Handler: ui.handleEnvProtect},
		{Method: "POST", Pattern: "/projects/{project}/environments/{env}/rollback", Perm: rbac.DeployRollback, Handler: ui.handleRollback},
		{Method: "GET", Pattern: "/deployments/pending", Perm: Authenticated, Handler: ui.handlePending},

		{Method: "GET", Pattern: "/settings/secrets", Perm: rbac.SecretRead, OrgScope: true, Handler: ui.handleSecrets},
		{Method: "POST", Pattern: "/settings/secrets", Perm: rbac.SecretWriteOrg, Handler: ui.handleSecretSet},
		{Method: "POST", Pattern: "/settings/secrets/{name}/delete", Perm: rbac.SecretWriteOrg, Handler: ui.handleSecretDelete},
		{Method: "GET", Pattern: "/settings/agents", Perm: rbac.AgentList, Handler: ui.handleAgents},
		{Method: "POST", Pattern: "/settings/agents/tokens", Perm: rbac.AgentManage, Handler: ui.handleAgentTokenCreate},
		{Method: "POST", Pattern: "/settings/agents/{agent}", Perm: rbac.AgentManage, Handler: ui.handleAgentUpdate},
		{Method: "GET", Pattern: "/settings/users", Perm: rbac.UserList, Handler: ui.handleUsers},
		{Method: "GET", Pattern: "/settings/audit", Perm: rbac.AuditRead, Handler: ui.handleAudit},
	}
}

type sessionKey struct{}

// NewContextWithSession returns a copy of ctx carrying the browser session the request was
// authenticated with, whose CSRF token the UI puts into every form it renders.
func NewContextWithSession(ctx context.Context, s *rampart.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

func csrfToken(r *http.Request) string {
	if s, ok := r.Context().Value(sessionKey{}).(*rampart.Session); ok && s != nil {
		return s.CSRFToken
	}
	return ""
}

func actorOf(r *http.Request) *rampart.Actor { return rampart.ActorFromContext(r.Context()) }

// navItem is an entry of the organisation navigation, shown to those who hold Perm.
type navItem struct {
	Name, Path string
	Perm       rbac.Action // "" for everyone signed in
}

var orgNav = []navItem{
	{Name: "Dashboard", Path: "/"},
	{Name: "Approvals", Path: "/deployments/pending"},
	{Name: "Agents", Path: "/settings/agents", Perm: rbac.AgentList},
	{Name: "Secrets", Path: "/settings/secrets", Perm: rbac.SecretRead},
	{Name: "Users", Path: "/settings/users", Perm: rbac.UserList},
	{Name: "Audit log", Path: "/settings/audit", Perm: rbac.AuditRead},
}

// tab is a page of a project, shown to those who hold Perm in it.
type tab struct {
	Name, Path string
	Perm       rbac.Action
}

var projectTabs = []tab{
	{Name: "Runs", Path: "", Perm: rbac.RunRead},
	{Name: "Deployments", Path: "/deployments", Perm: rbac.RunRead},
	{Name: "Members", Path: "/members", Perm: rbac.ProjectRead},
	{Name: "Secrets", Path: "/secrets", Perm: rbac.SecretRead},
}

// page is what every template gets: the layout's data and the page's own in Data.
type page struct {
	Title   string
	Actor   *rampart.Actor
	CSRF    string
	Project *rampart.Project
	Tab     string // the current project tab's name, or the current nav entry's
	Version string
	Assets  string // the static files' version
	Notice  string // a one-line confirmation of what just happened
	Data    any

	sub rbac.Subject
}

// Can reports whether the viewer may take action a here; templates use it to offer only what
// the server would allow. It is not the control: the server refuses regardless.
func (p *page) Can(a string) bool { return rbac.Can(p.sub, rbac.Action(a), rbac.Resource{}) }

// Nav returns the organisation navigation entries the viewer may use.
func (p *page) Nav() []navItem {
	var out []navItem
	for _, n := range orgNav {
		if n.Perm == "" || rbac.Can(auth.Subject(p.Actor), n.Perm, rbac.Resource{}) {
			out = append(out, n)
		}
	}
	return out
}

// Tabs returns the project tabs the viewer may use.
func (p *page) Tabs() []tab {
	var out []tab
	for _, t := range projectTabs {
		if p.Can(string(t.Perm)) {
			out = append(out, t)
		}
	}
	return out
}

// newPage starts the data of a page for r. With a project, the viewer's role in it is looked up
// so that Can answers for that project.
func (ui *UI) newPage(r *http.Request, title string, p *rampart.Project) (*page, error) {
	a := actorOf(r)
	pg := &page{Title: title, Actor: a, CSRF: csrfToken(r), Project: p, Version: ui.cfg.Version, Assets: ui.assetVersion, sub: auth.Subject(a)}
	if p != nil && a != nil && !a.Internal {
		err := ui.cfg.Store.View(r.Context(), func(tx rampart.Tx) (err error) {
			pg.sub.ProjectRole, err = tx.MemberRole(r.Context(), p.ID, a.UserID)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("role of %s in %s: %w", a.Name, p.Name, err)
		}
	}
	if n := r.URL.Query().Get("done"); n != "" {
		pg.Notice = notices[n]
	}
	return pg, nil
}

// notices are the confirmations a redirect after a form may ask for with ?done=; only these
// fixed texts can appear, so the parameter cannot put words into a page.
var notices = map[string]string{
	"waived":          "The finding is waived.",
	"waiver-revoked":  "The waiver is revoked.",
	"member-set":      "The member's role is saved.",
	"member-removed":  "The member is removed.",
	"secret-set":      "The secret is saved as a new version. Jobs that start from now on get it.",
	"secret-deleted":  "The secret and all its versions are deleted.",
	"run-cancelled":   "Cancellation requested: jobs not yet started end now, running ones at their next heartbeat.",
	"agent-updated":   "The agent is updated.",
	"env-created":     "The environment is created. It has no rules yet: set them below before anything deploys to it.",
	"env-protected":   "The environment's rules are saved. They apply to every deployment still waiting, and to new ones.",
	"approved":        "Your approval is recorded, bound to this commit and these artifacts.",
	"rejected":        "Your rejection is recorded: the deployment will not run.",
	"rollback":        "Rollback started: this run redeploys the previous good deployment, through the environment's rules again.",
	"signed-out":      "You are signed out.",
	"session-expired": "Your session ended. Sign in again.",
}

// render executes page template name into a buffer and then writes it, so that a template error
// becomes a clean error page instead of half a page.
func (ui *UI) render(w http.ResponseWriter, status int, name string, p *page) error {
	t, ok := ui.pages[name]
	if !ok {
		return fmt.Errorf("web: no template %q", name)
	}
	buf := ui.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() < 1<<20 {
			ui.bufs.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, "layout.html", p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Pages show who may do what, secrets' metadata and logs: never keep them in any cache.
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// errorData is the data of the error page.
type errorData struct {
	Status    int
	Heading   string
	Message   string
	Detail    string
	RequestID string
	Back      string
	// Permission marks a refusal for want of a permission, which the page explains.
	Permission bool
}

// backError carries the page a refused form came from, so that the error page links back to it.
type backError struct {
	err  error
	back string
}

func (e *backError) Error() string { return e.err.Error() }
func (e *backError) Unwrap() error { return e.err }

// withBack returns err with a link back to the page at back; nil stays nil.
func withBack(err error, back string) error {
	if err == nil {
		return nil
	}
	return &backError{err: err, back: back}
}

var headings = map[int]string{
	http.StatusBadRequest:            "That did not work",
	http.StatusForbidden:             "You do not have permission to do this",
	http.StatusNotFound:              "Not found",
	http.StatusConflict:              "That conflicts with what exists",
	http.StatusPreconditionFailed:    "Not possible now",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusInternalServerError:   "Something went wrong on the server",
}

// RenderError answers with an error page for err with the given status. Internal errors show
// only "internal error" and the request id, which finds the log line; the server has logged
// them. The page names what was wrong and, from the error's detail, how to fix it — for a
// refused permission, which action was missing and who holds it.
func (ui *UI) RenderError(w http.ResponseWriter, r *http.Request, status int, err error, requestID string) {
	d := errorData{Status: status, Heading: headings[status], Message: rampart.ErrorMessage(err), Detail: rampart.ErrorDetail(err), RequestID: requestID}
	if d.Heading == "" {
		d.Heading = http.StatusText(status)
	}
	var be *backError
	if errors.As(err, &be) {
		d.Back = be.back
	} else if r.Method == http.MethodGet {
		d.Back = "/"
	} else if up := path.Dir(r.URL.EscapedPath()); status == http.StatusForbidden && up != "/" {
		// A refused form: the page its action belongs to, e.g. …/deployments/7 for
		// …/deployments/7/approve.
		d.Back = up
	}
	d.Permission = strings.HasPrefix(d.Message, "permission denied")
	a := actorOf(r)
	p := &page{Title: d.Heading, Actor: a, CSRF: csrfToken(r), Version: ui.cfg.Version, Assets: ui.assetVersion, sub: auth.Subject(a), Data: d}
	if rerr := ui.render(w, status, "error", p); rerr != nil {
		ui.logger.Error("render error page", "err", rerr, "request_id", requestID)
		http.Error(w, rampart.ErrorMessage(err), status)
	}
}

// handleStatic serves the embedded stylesheet and script. A request carrying the current
// version may be cached for a year; any other only revalidated.
func (ui *UI) handleStatic(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	fi, err := fs.Stat(ui.static, name)
	if err != nil || fi.IsDir() || !fs.ValidPath(name) {
		return rampart.Errorf(rampart.ENOTFOUND, "no static file %q", name)
	}
	if r.URL.Query().Get("v") == ui.assetVersion {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("ETag", `"`+ui.assetVersion+`"`)
	http.ServeFileFS(w, r, ui.static, name)
	return nil
}

// formValue returns a trimmed form field, refusing very long ones.
func formValue(r *http.Request, name string, max int) (string, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if len(v) > max {
		return "", rampart.Errorf(rampart.EINVALID, "%s is longer than %d characters", name, max).WithDetail("shorten it")
	}
	return v, nil
}

// seeOther answers a form post with a redirect to the page that shows its result.
func seeOther(w http.ResponseWriter, r *http.Request, to string) error {
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}
