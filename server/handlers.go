package server

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
)

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func actorOf(r *http.Request) *rampart.Actor { return rampart.ActorFromContext(r.Context()) }

func (s *Server) denied(r *http.Request, actor *rampart.Actor, rt *Route, err error) error {
	return audit.Denied(r.Context(), s.cfg.Store, actor, string(rt.Perm), rt.Method+" "+r.URL.Path, err, time.Now())
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": s.cfg.Version})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Store.Ping(r.Context()); err != nil {
		s.logger.Warn("not ready: database", "err", err)
		return rampart.Errorf(rampart.EUNAVAILABLE, "database unavailable").WithDetail("check the server log and the database")
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// TokenName, when set, also creates an API token of that name (for the CLI); it is returned
	// once in LoginResponse.Token.
	TokenName string `json:"token_name,omitempty"`
}

// LoginResponse is the answer to a sign-in.
type LoginResponse struct {
	User      *rampart.User  `json:"user"`
	CSRFToken string         `json:"csrf_token"`
	ExpiresAt time.Time      `json:"expires_at"`
	Token     string         `json:"token,omitempty"`
	TokenInfo *rampart.Token `json:"token_info,omitempty"`
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	source := clientAddr(r)
	u, err := s.cfg.Auth.Login(r.Context(), req.Username, req.Password, source)
	if err != nil {
		return err
	}
	resp := LoginResponse{User: u}
	if req.TokenName != "" {
		actor := &rampart.Actor{UserID: u.ID, Name: u.Name, Role: u.Role, Source: source}
		if resp.Token, resp.TokenInfo, err = s.cfg.Auth.CreateToken(r.Context(), actor, req.TokenName, "", 0); err != nil {
			return err
		}
	} else {
		id, sess, err := s.cfg.Auth.CreateSession(r.Context(), u, source)
		if err != nil {
			return err
		}
		http.SetCookie(w, &http.Cookie{
			Name: SessionCookie, Value: id, Path: "/", Expires: sess.ExpiresAt,
			HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookies || r.TLS != nil,
		})
		resp.CSRFToken, resp.ExpiresAt = sess.CSRFToken, sess.ExpiresAt
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// LogoutRequest is the body of POST /api/v1/logout; an empty body ends only this credential.
type LogoutRequest struct {
	All bool `json:"all"`
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) error {
	var req LogoutRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	if err := s.cfg.Auth.Logout(r.Context(), actorOf(r), req.All); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// MeResponse describes the caller.
type MeResponse struct {
	User  *rampart.User `json:"user"`
	Scope string        `json:"scope,omitempty"`
	Via   string        `json:"via"` // "token" or "session"
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	a := actorOf(r)
	u, err := s.cfg.Auth.User(r.Context(), a, a.Name)
	if err != nil {
		return err
	}
	via := "token"
	if a.Session != 0 {
		via = "session"
	}
	writeJSON(w, http.StatusOK, MeResponse{User: u, Scope: a.Scope, Via: via})
	return nil
}

func (s *Server) handleUserList(w http.ResponseWriter, r *http.Request) error {
	users, err := s.cfg.Auth.ListUsers(r.Context(), actorOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, users)
	return nil
}

// UserCreateRequest is the body of POST /api/v1/users.
type UserCreateRequest struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
}

func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) error {
	var req UserCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = rampart.RoleMember
	}
	u, err := s.cfg.Auth.CreateUser(r.Context(), actorOf(r), req.Name, req.Role, req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) handleUserGet(w http.ResponseWriter, r *http.Request) error {
	u, err := s.cfg.Auth.User(r.Context(), actorOf(r), r.PathValue("user"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleUserDisable(disabled bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := s.cfg.Auth.SetDisabled(r.Context(), actorOf(r), r.PathValue("user"), disabled); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// IdentitiesRequest is the body of PUT /api/v1/users/{user}/identities, and its answer.
type IdentitiesRequest struct {
	Identities []string `json:"identities"`
}

func (s *Server) handleUserIdentitiesSet(w http.ResponseWriter, r *http.Request) error {
	var req IdentitiesRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ids, err := s.cfg.Auth.SetIdentities(r.Context(), actorOf(r), r.PathValue("user"), req.Identities)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, IdentitiesRequest{Identities: ids})
	return nil
}

func (s *Server) handleUserIdentities(w http.ResponseWriter, r *http.Request) error {
	ids, err := s.cfg.Auth.Identities(r.Context(), actorOf(r), r.PathValue("user"))
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, http.StatusOK, IdentitiesRequest{Identities: ids})
	return nil
}

// PasswordRequest is the body of PUT /api/v1/users/{user}/password. Current is required when
// changing your own password.
type PasswordRequest struct {
	Current  string `json:"current,omitempty"`
	Password string `json:"password"`
}

func (s *Server) handleUserPassword(w http.ResponseWriter, r *http.Request) error {
	var req PasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.cfg.Auth.SetPassword(r.Context(), actorOf(r), r.PathValue("user"), req.Current, req.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleTokenList(w http.ResponseWriter, r *http.Request) error {
	tokens, err := s.cfg.Auth.ListTokens(r.Context(), actorOf(r), r.URL.Query().Get("all") == "true")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, tokens)
	return nil
}

// TokenCreateRequest is the body of POST /api/v1/tokens.
type TokenCreateRequest struct {
	Name  string `json:"name"`
	Scope string `json:"scope,omitempty"`
	// TTL is a Go duration ("720h"); empty means 90 days.
	TTL string `json:"ttl,omitempty"`
}

// TokenCreateResponse carries the token's secret, shown this once.
type TokenCreateResponse struct {
	Token string         `json:"token"`
	Info  *rampart.Token `json:"info"`
}

func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) error {
	var req TokenCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			return rampart.Errorf(rampart.EINVALID, "bad ttl %q", req.TTL).WithDetail("use a duration such as 720h or 30m")
		}
	}
	secret, t, err := s.cfg.Auth.CreateToken(r.Context(), actorOf(r), req.Name, req.Scope, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TokenCreateResponse{Token: secret, Info: t})
	return nil
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return rampart.Errorf(rampart.EINVALID, "bad token id %q", r.PathValue("id")).WithDetail("use the numeric id shown by `rampart token list`")
	}
	if err := s.cfg.Auth.RevokeToken(r.Context(), actorOf(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleProjectList(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Projects.List(r.Context(), actorOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ps)
	return nil
}

// ProjectCreateRequest is the body of POST /api/v1/projects.
type ProjectCreateRequest struct {
	Name    string `json:"name"`
	RepoURL string `json:"repo_url"`
}

func (s *Server) handleProjectCreate(w http.ResponseWriter, r *http.Request) error {
	var req ProjectCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.cfg.Projects.Create(r.Context(), actorOf(r), req.Name, req.RepoURL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// ProjectResponse is a project with its members.
type ProjectResponse struct {
	*rampart.Project
	Members []*rampart.Member `json:"members"`
}

func (s *Server) handleProjectGet(w http.ResponseWriter, r *http.Request) error {
	p, members, err := s.cfg.Projects.Get(r.Context(), actorOf(r), r.PathValue("project"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ProjectResponse{Project: p, Members: members})
	return nil
}

// MemberRequest is the body of PUT /api/v1/projects/{project}/members/{user}.
type MemberRequest struct {
	Role string `json:"role"`
}

func (s *Server) handleMemberSet(w http.ResponseWriter, r *http.Request) error {
	var req MemberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	m, err := s.cfg.Projects.AddMember(r.Context(), actorOf(r), r.PathValue("project"), r.PathValue("user"), req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, m)
	return nil
}

func (s *Server) handleMemberRemove(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Projects.RemoveMember(r.Context(), actorOf(r), r.PathValue("project"), r.PathValue("user")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := rampart.AuditFilter{Limit: 100}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return rampart.Errorf(rampart.EINVALID, "bad after %q", v).WithDetail("give a sequence number")
		}
		f.AfterSeq = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return rampart.Errorf(rampart.EINVALID, "bad limit %q", v).WithDetail("give a number from 1 to 1000")
		}
		f.Limit = n
	}
	var events []*rampart.AuditEvent
	err := s.cfg.Store.View(r.Context(), func(tx rampart.Tx) (err error) {
		events, err = tx.ListAudit(r.Context(), f)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, events)
	return nil
}

func (s *Server) handleAuditVerify(w http.ResponseWriter, r *http.Request) error {
	rep, err := audit.Verify(r.Context(), s.cfg.Store)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request) error {
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return rampart.Errorf(rampart.EINVALID, "bad after %q", v).WithDetail("give a sequence number")
		}
		after = n
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := audit.Export(r.Context(), s.cfg.Store, after, w); err != nil {
		// The status line has gone out; the client sees a truncated stream.
		s.logger.Error("audit export", "err", err, "request_id", requestID(r.Context()))
	}
	return nil
}
