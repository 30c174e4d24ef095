// Package server is Rampart's HTTP API: the route table (each route declares the permission it
// needs), authentication of tokens and sessions, CSRF protection, size limits, JSON errors,
// health and metrics. Handlers decode, call a domain service, encode; the services decide and
// audit.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/provenance"
	"github.com/rampart-ci/rampart/rbac"
	"github.com/rampart-ci/rampart/review"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
	"github.com/rampart-ci/rampart/web"
)

// Pseudo-permissions for routes that need no rbac action.
const (
	// Public routes need no credential: health, metrics, sign-in, and webhooks (which prove
	// themselves with a signature).
	Public rbac.Action = "public"
	// Authenticated routes need any valid credential and act only on the caller's own account.
	Authenticated rbac.Action = "authenticated"
	// AgentAuth routes need an agent credential (the lease call).
	AgentAuth rbac.Action = "agent"
	// JobAuth routes need the job token of a current lease and its fencing number.
	JobAuth rbac.Action = "job"
)

// MaxBodyBytes bounds every request body unless a route sets its own limit.
const MaxBodyBytes = 1 << 20

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "rampart_session"

// Config is what a Server needs. Every field is required unless it says otherwise.
type Config struct {
	Store     rampart.Store
	Auth      *auth.Service
	Projects  *project.Service
	Scheduler *scheduler.Scheduler
	Repo      scheduler.Repo
	Vault     *secrets.Vault
	Findings  *findings.Service
	// Deploy holds environments, deployments and approvals.
	Deploy *deploy.Service
	// Reviews records review evidence from webhooks and checks pushes to protected branches.
	// Optional: when nil, webhooks record no evidence and the review routes answer 412.
	Reviews *review.Service
	// ProvenanceKey signs the provenance of every artifact jobs upload.
	ProvenanceKey *provenance.Key
	// MasterKeyFile is the vault's key file, which rotation adds a key to; "" when the key
	// came from the environment.
	MasterKeyFile string
	Logger        *slog.Logger
	Registry      *prometheus.Registry // optional; a new one is made when nil
	Version       string
	// MaxArtifactBytes bounds one artifact upload; default 100 MiB.
	MaxArtifactBytes int64
	// SecureCookies marks the session cookie Secure; set it when serving HTTPS.
	SecureCookies bool
}

// Server is the HTTP API.
type Server struct {
	cfg     Config
	logger  *slog.Logger
	routes  []*Route
	mux     *http.ServeMux
	metrics *metrics
	web     *web.UI // the browser UI, whose routes are in routes too
}

// Route is one entry of the route table.
type Route struct {
	Method  string
	Pattern string // net/http pattern, e.g. "/api/v1/projects/{project}"
	// Perm is the permission the caller needs, checked before the handler runs: Public,
	// Authenticated, or an rbac action. For project actions the pattern must have {project}.
	Perm rbac.Action
	// Self marks actions whose owner check happens in the service (own tokens, own password): the
	// route lets a caller through for their own resources.
	Self    bool
	Handler func(w http.ResponseWriter, r *http.Request) error
	// MaxBody overrides MaxBodyBytes for this route.
	MaxBody int64
	// ProjectOf names the project of a project action when the path has no {project}.
	ProjectOf func(r *http.Request) (string, error)
	// OrgScope checks a project action (one project roles may hold) as an organisation-wide
	// one: only organisation roles count, because the resource belongs to no project.
	OrgScope bool
	// Web marks a page of the browser UI: it gets the page Content-Security-Policy, and its
	// errors are pages (a missing sign-in redirects to the sign-in page) instead of JSON.
	Web bool
}

// New returns a Server with its routes registered.
func New(cfg Config) *Server {
	if cfg.MaxArtifactBytes <= 0 {
		cfg.MaxArtifactBytes = 100 << 20
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(cfg.Registry)}
	s.routes = s.routeTable()
	s.routes = append(s.routes, s.webRoutes()...)
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.webNotFound(w, r) {
			return
		}
		writeError(w, r, s.logger, rampart.Errorf(rampart.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path).WithDetail("see the API routes in the README"))
	})
	return s
}

// Routes returns the route table, for tests that walk it.
func (s *Server) Routes() []*Route { return s.routes }

// Handler returns the root handler with the middleware every request passes through.
func (s *Server) Handler() http.Handler {
	return s.withRequestID(securityHeaders(s.mux))
}

func (s *Server) routeTable() []*Route {
	return []*Route{
		{Method: "GET", Pattern: "/healthz", Perm: Public, Handler: s.handleHealth},
		{Method: "GET", Pattern: "/readyz", Perm: Public, Handler: s.handleReady},
		{Method: "POST", Pattern: "/api/v1/login", Perm: Public, Handler: s.handleLogin},
		{Method: "POST", Pattern: "/api/v1/logout", Perm: Authenticated, Handler: s.handleLogout},
		{Method: "GET", Pattern: "/api/v1/me", Perm: Authenticated, Handler: s.handleMe},

		{Method: "GET", Pattern: "/api/v1/users", Perm: rbac.UserList, Handler: s.handleUserList},
		{Method: "POST", Pattern: "/api/v1/users", Perm: rbac.UserCreate, Handler: s.handleUserCreate},
		{Method: "GET", Pattern: "/api/v1/users/{user}", Perm: rbac.UserList, Self: true, Handler: s.handleUserGet},
		{Method: "POST", Pattern: "/api/v1/users/{user}/disable", Perm: rbac.UserDisable, Handler: s.handleUserDisable(true)},
		{Method: "POST", Pattern: "/api/v1/users/{user}/enable", Perm: rbac.UserDisable, Handler: s.handleUserDisable(false)},
		{Method: "PUT", Pattern: "/api/v1/users/{user}/password", Perm: rbac.UserPassword, Self: true, Handler: s.handleUserPassword},
		{Method: "GET", Pattern: "/api/v1/users/{user}/identities", Perm: rbac.UserList, Self: true, Handler: s.handleUserIdentities},
		{Method: "PUT", Pattern: "/api/v1/users/{user}/identities", Perm: rbac.UserIdentity, Handler: s.handleUserIdentitiesSet},

		{Method: "GET", Pattern: "/api/v1/tokens", Perm: rbac.TokenList, Self: true, Handler: s.handleTokenList},
		{Method: "POST", Pattern: "/api/v1/tokens", Perm: rbac.TokenCreate, Handler: s.handleTokenCreate},
		{Method: "DELETE", Pattern: "/api/v1/tokens/{id}", Perm: rbac.TokenRevoke, Self: true, Handler: s.handleTokenRevoke},

		{Method: "GET", Pattern: "/api/v1/projects", Perm: rbac.ProjectList, Handler: s.handleProjectList},
		{Method: "POST", Pattern: "/api/v1/projects", Perm: rbac.ProjectCreate, Handler: s.handleProjectCreate},
		{Method: "GET", Pattern: "/api/v1/projects/{project}", Perm: rbac.ProjectRead, Handler: s.handleProjectGet},
		{Method: "PUT", Pattern: "/api/v1/projects/{project}/members/{user}", Perm: rbac.MemberManage, Handler: s.handleMemberSet},
		{Method: "DELETE", Pattern: "/api/v1/projects/{project}/members/{user}", Perm: rbac.MemberManage, Handler: s.handleMemberRemove},

		{Method: "PUT", Pattern: "/api/v1/projects/{project}", Perm: rbac.ProjectUpdate, Handler: s.handleProjectUpdate},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/webhook", Perm: rbac.ProjectUpdate, Handler: s.handleWebhookSecret},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/runs", Perm: rbac.RunCreate, Handler: s.handleRunCreate},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/runs", Perm: rbac.RunRead, Handler: s.handleRunList},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/runs/{number}", Perm: rbac.RunRead, Handler: s.handleRunGet},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/runs/{number}/cancel", Perm: rbac.RunCancel, Handler: s.handleRunCancel},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/runs/{number}/retry", Perm: rbac.RunCreate, Handler: s.handleRunRetry},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/runs/{number}/artifacts", Perm: rbac.RunRead, Handler: s.handleArtifactList},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/artifacts/{id}", Perm: rbac.RunRead, Handler: s.handleArtifactGet},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/jobs/{id}/logs", Perm: rbac.RunRead, Handler: s.handleLogs},
		{Method: "GET", Pattern: "/api/v1/jobs/{id}/log", Perm: rbac.RunRead, Handler: s.handleLogs, ProjectOf: s.jobProject},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/artifacts/{id}/provenance", Perm: rbac.RunRead, Handler: s.handleArtifactProvenance},
		{Method: "GET", Pattern: "/api/v1/provenance/key", Perm: Public, Handler: s.handleProvenanceKey},

		{Method: "GET", Pattern: "/api/v1/audit", Perm: rbac.AuditRead, Handler: s.handleAuditList},
		{Method: "GET", Pattern: "/api/v1/audit/verify", Perm: rbac.AuditRead, Handler: s.handleAuditVerify},
		{Method: "GET", Pattern: "/api/v1/audit/export", Perm: rbac.AuditRead, Handler: s.handleAuditExport},

		{Method: "PUT", Pattern: "/api/v1/projects/{project}/secrets/{name}", Perm: rbac.SecretWrite, Handler: s.handleSecretSet},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/secrets", Perm: rbac.SecretRead, Handler: s.handleSecretList},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/secrets/{name}", Perm: rbac.SecretRead, Handler: s.handleSecretShow},
		{Method: "DELETE", Pattern: "/api/v1/projects/{project}/secrets/{name}", Perm: rbac.SecretWrite, Handler: s.handleSecretDelete},
		{Method: "PUT", Pattern: "/api/v1/secrets/{name}", Perm: rbac.SecretWriteOrg, Handler: s.handleSecretSet},
		{Method: "GET", Pattern: "/api/v1/secrets", Perm: rbac.SecretRead, OrgScope: true, Handler: s.handleSecretList},
		{Method: "GET", Pattern: "/api/v1/secrets/{name}", Perm: rbac.SecretRead, OrgScope: true, Handler: s.handleSecretShow},
		{Method: "DELETE", Pattern: "/api/v1/secrets/{name}", Perm: rbac.SecretWriteOrg, Handler: s.handleSecretDelete},
		{Method: "POST", Pattern: "/api/v1/vault/rotate", Perm: rbac.VaultRotate, Handler: s.handleVaultRotate},

		{Method: "GET", Pattern: "/api/v1/projects/{project}/runs/{number}/findings", Perm: rbac.RunRead, Handler: s.handleFindingList},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/runs/{number}/gate", Perm: rbac.RunRead, Handler: s.handleRunGate},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/runs/{number}/sbom", Perm: rbac.RunRead, Handler: s.handleRunSBOM},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/waivers", Perm: rbac.RunRead, Handler: s.handleWaiverList},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/waivers", Perm: rbac.FindingWaive, Handler: s.handleWaiverCreate},
		{Method: "DELETE", Pattern: "/api/v1/projects/{project}/waivers/{id}", Perm: rbac.FindingWaive, Handler: s.handleWaiverRevoke},
		{Method: "POST", Pattern: "/api/v1/jobs/{id}/findings", Perm: JobAuth, Handler: s.handleJobFindings, MaxBody: 16 << 20},

		{Method: "GET", Pattern: "/api/v1/projects/{project}/environments", Perm: rbac.RunRead, Handler: s.handleEnvList},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/environments", Perm: rbac.EnvManage, Handler: s.handleEnvCreate},
		{Method: "PUT", Pattern: "/api/v1/projects/{project}/environments/{env}/protection", Perm: rbac.EnvManage, Handler: s.handleEnvProtect},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/environments/{env}/deployments", Perm: rbac.RunRead, Handler: s.handleDeployHistory},
		{Method: "POST", Pattern: "/api/v1/projects/{project}/environments/{env}/rollback", Perm: rbac.DeployRollback, Handler: s.handleDeployRollback},
		{Method: "GET", Pattern: "/api/v1/deployments/pending", Perm: Authenticated, Handler: s.handleDeployPending},
		{Method: "GET", Pattern: "/api/v1/deployments/{id}", Perm: rbac.RunRead, ProjectOf: s.deploymentProject, Handler: s.handleDeployGet},
		{Method: "POST", Pattern: "/api/v1/deployments/{id}/approve", Perm: rbac.DeployApprove, ProjectOf: s.deploymentProject, Handler: s.handleDeployDecide(true)},
		{Method: "POST", Pattern: "/api/v1/deployments/{id}/reject", Perm: rbac.DeployApprove, ProjectOf: s.deploymentProject, Handler: s.handleDeployDecide(false)},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/reviews", Perm: rbac.RunRead, Handler: s.handleReviews},
		{Method: "GET", Pattern: "/api/v1/projects/{project}/violations", Perm: rbac.RunRead, Handler: s.handleViolations},

		{Method: "POST", Pattern: "/api/v1/agent-tokens", Perm: rbac.AgentManage, Handler: s.handleAgentTokenCreate},
		{Method: "GET", Pattern: "/api/v1/agents", Perm: rbac.AgentList, Handler: s.handleAgentList},
		{Method: "PUT", Pattern: "/api/v1/agents/{agent}", Perm: rbac.AgentManage, Handler: s.handleAgentUpdate},

		{Method: "POST", Pattern: "/api/v1/hooks/{host}/{project}", Perm: Public, Handler: s.handleWebhook, MaxBody: 5 << 20},
		{Method: "POST", Pattern: "/api/v1/agents/register", Perm: Public, Handler: s.handleAgentRegister},
		{Method: "POST", Pattern: "/api/v1/agents/lease", Perm: AgentAuth, Handler: s.handleAgentLease},
		{Method: "POST", Pattern: "/api/v1/jobs/{id}/heartbeat", Perm: JobAuth, Handler: s.handleJobHeartbeat},
		{Method: "POST", Pattern: "/api/v1/jobs/{id}/logs", Perm: JobAuth, Handler: s.handleJobLogs, MaxBody: rampart.MaxLogChunk},
		{Method: "POST", Pattern: "/api/v1/jobs/{id}/artifacts", Perm: JobAuth, Handler: s.handleJobArtifact, MaxBody: s.cfg.MaxArtifactBytes},
		{Method: "POST", Pattern: "/api/v1/jobs/{id}/complete", Perm: JobAuth, Handler: s.handleJobComplete},
		{Method: "GET", Pattern: "/api/v1/jobs/{id}/inputs/{artifact}", Perm: JobAuth, Handler: s.handleJobInput},
	}
}

// wrap turns a route into a handler: metrics, panic recovery, body limit, authentication, CSRF,
// and the route's declared permission, in that order.
func (s *Server) wrap(rt *Route) http.Handler {
	label := rt.Method + " " + rt.Pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				s.logger.Error("panic in handler", "route", label, "panic", p, "request_id", requestID(r.Context()))
				if !rec.wrote {
					writeError(rec, r, s.logger, fmt.Errorf("panic: %v", p))
				}
			}
			s.metrics.observe(label, rec.status, time.Since(start))
		}()
		limit := int64(MaxBodyBytes)
		if rt.MaxBody > 0 {
			limit = rt.MaxBody
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		if rt.Web {
			s.serveWeb(rec, r, rt)
			return
		}
		if err := s.serve(rec, r, rt); err != nil {
			writeError(rec, r, s.logger, err)
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt *Route) error {
	switch rt.Perm {
	case Public:
		return rt.Handler(w, r)
	case AgentAuth:
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		agent, err := s.cfg.Scheduler.AuthenticateAgent(r.Context(), strings.TrimSpace(token))
		if err != nil {
			return err
		}
		return rt.Handler(w, r.WithContext(context.WithValue(r.Context(), agentKey{}, agent)))
	case JobAuth:
		job, err := s.authenticateJob(r)
		if err != nil {
			return err
		}
		return rt.Handler(w, r.WithContext(context.WithValue(r.Context(), jobKey{}, job)))
	}
	actor, sess, err := s.authenticate(r)
	if err != nil {
		return err
	}
	if sess != nil && !safeMethod(r.Method) {
		if err := checkCSRF(r, sess); err != nil {
			return err
		}
	}
	r = r.WithContext(rampart.NewContextWithActor(r.Context(), actor))
	if sess != nil {
		r = r.WithContext(web.NewContextWithSession(r.Context(), sess))
	}
	switch {
	case rt.Perm == Authenticated:
	case rbac.IsProjectAction(rt.Perm) && !rt.OrgScope:
		name := r.PathValue("project")
		if rt.ProjectOf != nil {
			var err error
			if name, err = rt.ProjectOf(r); err != nil {
				return err
			}
		}
		// Projects.Authorize looks up the caller's role in the project and audits a refusal.
		p, err := s.cfg.Projects.Authorize(r.Context(), actor, rt.Perm, name)
		if err != nil {
			return err
		}
		r = r.WithContext(context.WithValue(r.Context(), projectKey{}, p))
	default:
		res := rbac.Resource{}
		if rt.Self {
			res.OwnerID = actor.UserID
		}
		if err := rbac.Check(auth.Subject(actor), rt.Perm, res); err != nil {
			return s.denied(r, actor, rt, err)
		}
	}
	return rt.Handler(w, r)
}

type (
	agentKey   struct{}
	jobKey     struct{}
	projectKey struct{}
)

func agentOf(r *http.Request) *rampart.Agent { return r.Context().Value(agentKey{}).(*rampart.Agent) }
func jobOf(r *http.Request) *rampart.Job     { return r.Context().Value(jobKey{}).(*rampart.Job) }

// authenticateJob checks a job call: the job token must be the current lease's, for the job in
// the path, with the lease's fencing number.
func (s *Server) authenticateJob(r *http.Request) (*rampart.Job, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !strings.HasPrefix(token, rampart.JobTokenPrefix) {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "job calls need the job token").WithDetail("send `Authorization: Bearer <job token from the lease>`")
	}
	fence, err := strconv.ParseInt(r.Header.Get(rampart.FenceHeader), 10, 64)
	if err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "missing or bad %s header", rampart.FenceHeader).WithDetail("send the fence number from the lease")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "bad job id %q", r.PathValue("id"))
	}
	job, err := s.cfg.Scheduler.JobByToken(r.Context(), token, fence)
	if err != nil {
		return nil, err
	}
	if job.ID != id {
		return nil, rampart.Errorf(rampart.EFORBIDDEN, "this job token is for another job").WithDetail("use each lease's token for its own job only")
	}
	return job, nil
}

// authenticate reads the credential of r: a bearer token, or else the session cookie.
func (s *Server) authenticate(r *http.Request) (*rampart.Actor, *rampart.Session, error) {
	source := clientAddr(r)
	if h := r.Header.Get("Authorization"); h != "" {
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, nil, rampart.Errorf(rampart.EUNAUTHORIZED, "unsupported Authorization header").WithDetail("send `Authorization: Bearer <token>`")
		}
		actor, _, err := s.cfg.Auth.Authenticate(r.Context(), strings.TrimSpace(token), source)
		return actor, nil, err
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return s.cfg.Auth.Authenticate(r.Context(), c.Value, source)
	}
	return nil, nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in").
		WithDetail("send an API token as `Authorization: Bearer <token>`, or sign in with `rampart login`")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF requires requests authenticated by cookie to echo the session's CSRF token in a
// header, which a page of another origin cannot read or set.
func checkCSRF(r *http.Request, sess *rampart.Session) error {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.FormValue("csrf_token")
	}
	if got == "" || !constantTimeEqual(got, sess.CSRFToken) {
		return rampart.Errorf(rampart.EFORBIDDEN, "missing or wrong CSRF token").
			WithDetail("send the csrf_token from sign-in in the X-CSRF-Token header; API clients should use a bearer token instead of the cookie")
	}
	return nil
}

// clientAddr is the address requests came from. Forwarding headers are not trusted: anyone could
// set them, and the address is what rate limits and the audit log rely on.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decode reads a JSON body into v, refusing unknown fields, trailing data and non-JSON content.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return rampart.Errorf(rampart.EINVALID, "unsupported content type %q", ct).WithDetail("send JSON with Content-Type: application/json")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		if errors.Is(err, io.EOF) {
			return rampart.Errorf(rampart.EINVALID, "empty request body").WithDetail("send a JSON object")
		}
		return rampart.Errorf(rampart.EINVALID, "bad JSON body: %s", strings.TrimPrefix(err.Error(), "json: ")).WithDetail("check the field names and types against the API documentation")
	}
	if dec.More() {
		return rampart.Errorf(rampart.EINVALID, "bad JSON body: more than one value").WithDetail("send exactly one JSON object")
	}
	return nil
}

// requestID returns the id the request was given by withRequestID.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

type requestIDKey struct{}

func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// securityHeaders sets the headers every answer carries. The API returns JSON only; the web UI
// (a later package) sets its own Content-Security-Policy for pages.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (exports, live logs) push data through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rampart_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "rampart_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, fmt.Sprint(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
