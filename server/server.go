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
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/rbac"
)

// Pseudo-permissions for routes that need no rbac action.
const (
	// Public routes need no credential: health, metrics, sign-in, and webhooks (which prove
	// themselves with a signature).
	Public rbac.Action = "public"
	// Authenticated routes need any valid credential and act only on the caller's own account.
	Authenticated rbac.Action = "authenticated"
)

// MaxBodyBytes bounds every request body unless a route sets its own limit.
const MaxBodyBytes = 1 << 20

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "rampart_session"

// Config is what a Server needs. Every field is required unless it says otherwise.
type Config struct {
	Store    rampart.Store
	Auth     *auth.Service
	Projects *project.Service
	Logger   *slog.Logger
	Registry *prometheus.Registry // optional; a new one is made when nil
	Version  string
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
}

// New returns a Server with its routes registered.
func New(cfg Config) *Server {
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, mux: http.NewServeMux(), metrics: newMetrics(cfg.Registry)}
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
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
		{"GET", "/healthz", Public, false, s.handleHealth},
		{"GET", "/readyz", Public, false, s.handleReady},
		{"POST", "/api/v1/login", Public, false, s.handleLogin},
		{"POST", "/api/v1/logout", Authenticated, false, s.handleLogout},
		{"GET", "/api/v1/me", Authenticated, false, s.handleMe},

		{"GET", "/api/v1/users", rbac.UserList, false, s.handleUserList},
		{"POST", "/api/v1/users", rbac.UserCreate, false, s.handleUserCreate},
		{"GET", "/api/v1/users/{user}", rbac.UserList, true, s.handleUserGet},
		{"POST", "/api/v1/users/{user}/disable", rbac.UserDisable, false, s.handleUserDisable(true)},
		{"POST", "/api/v1/users/{user}/enable", rbac.UserDisable, false, s.handleUserDisable(false)},
		{"PUT", "/api/v1/users/{user}/password", rbac.UserPassword, true, s.handleUserPassword},

		{"GET", "/api/v1/tokens", rbac.TokenList, true, s.handleTokenList},
		{"POST", "/api/v1/tokens", rbac.TokenCreate, false, s.handleTokenCreate},
		{"DELETE", "/api/v1/tokens/{id}", rbac.TokenRevoke, true, s.handleTokenRevoke},

		{"GET", "/api/v1/projects", rbac.ProjectList, false, s.handleProjectList},
		{"POST", "/api/v1/projects", rbac.ProjectCreate, false, s.handleProjectCreate},
		{"GET", "/api/v1/projects/{project}", rbac.ProjectRead, false, s.handleProjectGet},
		{"PUT", "/api/v1/projects/{project}/members/{user}", rbac.MemberManage, false, s.handleMemberSet},
		{"DELETE", "/api/v1/projects/{project}/members/{user}", rbac.MemberManage, false, s.handleMemberRemove},

		{"GET", "/api/v1/audit", rbac.AuditRead, false, s.handleAuditList},
		{"GET", "/api/v1/audit/verify", rbac.AuditRead, false, s.handleAuditVerify},
		{"GET", "/api/v1/audit/export", rbac.AuditRead, false, s.handleAuditExport},
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
		r.Body = http.MaxBytesReader(rec, r.Body, MaxBodyBytes)
		if err := s.serve(rec, r, rt); err != nil {
			writeError(rec, r, s.logger, err)
		}
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, rt *Route) error {
	if rt.Perm == Public {
		return rt.Handler(w, r)
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
	switch {
	case rt.Perm == Authenticated:
	case rbac.IsProjectAction(rt.Perm):
		// Projects.Authorize looks up the caller's role in the project and audits a refusal.
		if _, err := s.cfg.Projects.Authorize(r.Context(), actor, rt.Perm, r.PathValue("project")); err != nil {
			return err
		}
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
