package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/web"
)

// PageCSP is the Content-Security-Policy of web pages: scripts, styles and connections only
// from this server and only from files (no inline script or style, no eval), no plugins, no
// framing, forms only to this server.
const PageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// webRoutes builds the web UI and turns its routes into server routes, so that they pass
// through the same authentication, CSRF and permission checks as the API.
func (s *Server) webRoutes() []*Route {
	s.web = web.New(web.Config{
		Store: s.cfg.Store, Auth: s.cfg.Auth, Projects: s.cfg.Projects, Scheduler: s.cfg.Scheduler, Repo: s.cfg.Repo,
		Findings: s.cfg.Findings, Vault: s.cfg.Vault, Logger: s.logger, Version: s.cfg.Version,
		Deploy: s.cfg.Deploy, Reviews: s.cfg.Reviews,
		CookieName: SessionCookie, SecureCookies: s.cfg.SecureCookies, ClientAddr: clientAddr,
	})
	var out []*Route
	for _, wr := range s.web.Routes() {
		rt := &Route{Method: wr.Method, Pattern: wr.Pattern, Perm: wr.Perm, OrgScope: wr.OrgScope, Handler: wr.Handler, MaxBody: wr.MaxBody, Web: true}
		switch wr.Perm {
		case web.Public:
			rt.Perm = Public
		case web.Authenticated:
			rt.Perm = Authenticated
		case AgentAuth, JobAuth:
			panic(fmt.Sprintf("web route %s %s: pages are for people, not %s credentials", wr.Method, wr.Pattern, wr.Perm))
		}
		out = append(out, rt)
	}
	return out
}

// serveWeb serves a page: the page policy instead of the API's, and errors as pages — a
// missing sign-in as a redirect to the sign-in page, a refusal as a page naming the permission.
func (s *Server) serveWeb(w http.ResponseWriter, r *http.Request, rt *Route) {
	w.Header().Set("Content-Security-Policy", PageCSP)
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error("panic in page handler", "route", rt.Method+" "+rt.Pattern, "panic", p, "request_id", requestID(r.Context()))
			s.webError(w, r, fmt.Errorf("panic: %v", p))
		}
	}()
	if err := s.serve(w, r, rt); err != nil {
		s.webError(w, r, err)
	}
}

func (s *Server) webError(w http.ResponseWriter, r *http.Request, err error) {
	if rec, ok := w.(*statusRecorder); ok && rec.wrote {
		// A stream had started; the client sees it end.
		s.logger.Warn("page failed after answering", "path", r.URL.Path, "err", err, "request_id", requestID(r.Context()))
		return
	}
	code := rampart.ErrorCode(err)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = rampart.Errorf(rampart.ETOOLARGE, "the form is larger than %d bytes", mbe.Limit).WithDetail("send less")
		code = rampart.ETOOLARGE
	}
	if code == rampart.EFORBIDDEN && strings.Contains(rampart.ErrorMessage(err), "CSRF token") {
		// checkCSRF speaks to API clients; a person meets it with a form from before their
		// current session, or one another site sent.
		err = rampart.Errorf(rampart.EFORBIDDEN, "this form is out of date or was sent from another site (CSRF token missing or wrong)").
			WithDetail("reload the page and send the form again")
	}
	if code == rampart.EUNAUTHORIZED {
		s.toLogin(w, r)
		return
	}
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if actorOf(r) == nil {
		// serve added the caller to its own copy of the request: find them again, so that the
		// error page keeps the navigation and the sign-out form of every other page.
		if actor, sess, err := s.authenticate(r); err == nil {
			ctx := rampart.NewContextWithActor(r.Context(), actor)
			if sess != nil {
				ctx = web.NewContextWithSession(ctx, sess)
			}
			r = r.WithContext(ctx)
		}
	}
	if code == rampart.EINTERNAL {
		s.logger.ErrorContext(r.Context(), "internal error", "request_id", requestID(r.Context()), "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.web.RenderError(w, r, status, err, requestID(r.Context()))
}

// toLogin sends a browser without a valid session to the sign-in page, which brings it back
// here afterwards (for pages; a form cannot be re-sent). A stale session cookie is removed.
func (s *Server) toLogin(w http.ResponseWriter, r *http.Request) {
	to := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/" {
		to += "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	if _, err := r.Cookie(SessionCookie); err == nil {
		http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookies || r.TLS != nil})
		if !strings.Contains(to, "?") {
			to += "?done=session-expired"
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// webNotFound answers an unknown path outside the API with a page, for browsers; it reports
// whether it did.
func (s *Server) webNotFound(w http.ResponseWriter, r *http.Request) bool {
	if s.web == nil || strings.HasPrefix(r.URL.Path, "/api/") || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	w.Header().Set("Content-Security-Policy", PageCSP)
	s.web.RenderError(w, r, http.StatusNotFound, rampart.Errorf(rampart.ENOTFOUND, "there is no page at %s", r.URL.Path), requestID(r.Context()))
	return true
}
