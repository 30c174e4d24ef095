// Package client is the typed Go client of Rampart's HTTP API. The CLI and the agent talk to the
// server only through it; it never touches the database.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// Client calls one Rampart server. It is safe for concurrent use.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// New returns a client of the server at base (e.g. "http://127.0.0.1:8080") that authenticates
// with token; token may be empty for public calls such as Login.
func New(base, token string) *Client {
	return &Client{base: strings.TrimRight(base, "/"), token: token, http: &http.Client{Timeout: 60 * time.Second}}
}

// WithHTTPClient returns a copy of c that sends requests through hc (custom TLS roots, longer
// timeouts for streams).
func (c *Client) WithHTTPClient(hc *http.Client) *Client {
	cc := *c
	cc.http = hc
	return &cc
}

// codeOf maps HTTP statuses back to error codes.
var codeOf = map[int]string{
	http.StatusBadRequest:            rampart.EINVALID,
	http.StatusUnauthorized:          rampart.EUNAUTHORIZED,
	http.StatusForbidden:             rampart.EFORBIDDEN,
	http.StatusNotFound:              rampart.ENOTFOUND,
	http.StatusConflict:              rampart.ECONFLICT,
	http.StatusGone:                  rampart.EGONE,
	http.StatusPreconditionFailed:    rampart.EPRECONDITION,
	http.StatusRequestEntityTooLarge: rampart.ETOOLARGE,
	http.StatusTooManyRequests:       rampart.ETOOMANY,
	http.StatusServiceUnavailable:    rampart.EUNAVAILABLE,
}

// errorBody is the server's error answer.
type errorBody struct {
	Error     string `json:"error"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

// request sends one call and returns the response for the caller to read and close. Non-2xx
// answers become *rampart.Error with the server's message and detail.
func (c *Client) request(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.send(req)
}

// send authenticates req with the client's token, sends it and returns the response for the
// caller to read and close. Non-2xx answers become *rampart.Error with the server's message and
// detail. Callers that need other bodies or headers than request's (raw uploads, the fencing
// header) build req themselves.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &rampart.Error{Code: rampart.EUNAVAILABLE, Message: fmt.Sprintf("cannot reach the Rampart server at %s", c.base),
			Detail: fmt.Sprintf("%v; check the address given to `rampart login --server` or RAMPART_SERVER, and that the server runs", errors.Unwrap(err))}
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = fmt.Sprintf("server answered %s", resp.Status)
		}
		code, ok := codeOf[resp.StatusCode]
		if !ok {
			code = rampart.EINTERNAL
		}
		detail := eb.Detail
		if eb.RequestID != "" && code == rampart.EINTERNAL {
			detail = strings.TrimSpace(detail + " request id " + eb.RequestID + ": the server log has the cause")
		}
		return nil, &rampart.Error{Code: code, Message: eb.Error, Detail: detail}
	}
	return resp, nil
}

// do sends one call and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.request(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

func esc(s string) string { return url.PathEscape(s) }

// LoginRequest and the other request and response types mirror the server's.
type (
	LoginRequest struct {
		Username  string `json:"username"`
		Password  string `json:"password"`
		TokenName string `json:"token_name,omitempty"`
	}
	LoginResponse struct {
		User      *rampart.User  `json:"user"`
		CSRFToken string         `json:"csrf_token"`
		Token     string         `json:"token,omitempty"`
		TokenInfo *rampart.Token `json:"token_info,omitempty"`
	}
	MeResponse struct {
		User  *rampart.User `json:"user"`
		Scope string        `json:"scope,omitempty"`
		Via   string        `json:"via"`
	}
	TokenCreateResponse struct {
		Token string         `json:"token"`
		Info  *rampart.Token `json:"info"`
	}
	ProjectResponse struct {
		rampart.Project
		Members []*rampart.Member `json:"members"`
	}
	// AuditReport is the result of a chain verification.
	AuditReport struct {
		OK        bool   `json:"ok"`
		Events    int64  `json:"events"`
		HeadSeq   int64  `json:"head_seq"`
		BrokenSeq int64  `json:"broken_seq,omitempty"`
		Reason    string `json:"reason,omitempty"`
	}
)

// Login signs in with a password and creates an API token named tokenName for this client.
func (c *Client) Login(ctx context.Context, user, password, tokenName string) (*LoginResponse, error) {
	var out LoginResponse
	err := c.do(ctx, "POST", "/api/v1/login", LoginRequest{Username: user, Password: password, TokenName: tokenName}, &out)
	return &out, err
}

// Logout revokes the token this client uses, or with all every session and token of the user.
func (c *Client) Logout(ctx context.Context, all bool) error {
	return c.do(ctx, "POST", "/api/v1/logout", map[string]bool{"all": all}, nil)
}

// Me describes the caller.
func (c *Client) Me(ctx context.Context) (*MeResponse, error) {
	var out MeResponse
	return &out, c.do(ctx, "GET", "/api/v1/me", nil, &out)
}

// Health returns the server's health answer.
func (c *Client) Health(ctx context.Context) (map[string]string, error) {
	var out map[string]string
	return out, c.do(ctx, "GET", "/healthz", nil, &out)
}

// CreateUser adds an account.
func (c *Client) CreateUser(ctx context.Context, name, role, password string) (*rampart.User, error) {
	var out rampart.User
	return &out, c.do(ctx, "POST", "/api/v1/users", map[string]string{"name": name, "role": role, "password": password}, &out)
}

// ListUsers returns every user.
func (c *Client) ListUsers(ctx context.Context) ([]*rampart.User, error) {
	var out []*rampart.User
	return out, c.do(ctx, "GET", "/api/v1/users", nil, &out)
}

// SetUserDisabled disables or enables an account.
func (c *Client) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	return c.do(ctx, "POST", "/api/v1/users/"+esc(name)+"/"+verb, nil, nil)
}

// SetPassword changes a password; current is needed for your own.
func (c *Client) SetPassword(ctx context.Context, name, current, password string) error {
	return c.do(ctx, "PUT", "/api/v1/users/"+esc(name)+"/password", map[string]string{"current": current, "password": password}, nil)
}

// CreateToken creates an API token; ttl may be empty (90 days) or a Go duration.
func (c *Client) CreateToken(ctx context.Context, name, scope, ttl string) (*TokenCreateResponse, error) {
	var out TokenCreateResponse
	return &out, c.do(ctx, "POST", "/api/v1/tokens", map[string]string{"name": name, "scope": scope, "ttl": ttl}, &out)
}

// ListTokens lists the caller's tokens, or with all everyone's.
func (c *Client) ListTokens(ctx context.Context, all bool) ([]*rampart.Token, error) {
	var out []*rampart.Token
	path := "/api/v1/tokens"
	if all {
		path += "?all=true"
	}
	return out, c.do(ctx, "GET", path, nil, &out)
}

// RevokeToken revokes a token by id.
func (c *Client) RevokeToken(ctx context.Context, id int64) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", id), nil, nil)
}

// CreateProject adds a project.
func (c *Client) CreateProject(ctx context.Context, name, repoURL string) (*rampart.Project, error) {
	var out rampart.Project
	return &out, c.do(ctx, "POST", "/api/v1/projects", map[string]string{"name": name, "repo_url": repoURL}, &out)
}

// ListProjects lists the projects the caller can see.
func (c *Client) ListProjects(ctx context.Context) ([]*rampart.Project, error) {
	var out []*rampart.Project
	return out, c.do(ctx, "GET", "/api/v1/projects", nil, &out)
}

// Project returns a project with its members.
func (c *Client) Project(ctx context.Context, name string) (*ProjectResponse, error) {
	var out ProjectResponse
	return &out, c.do(ctx, "GET", "/api/v1/projects/"+esc(name), nil, &out)
}

// SetMember gives user a role in a project.
func (c *Client) SetMember(ctx context.Context, project, user, role string) (*rampart.Member, error) {
	var out rampart.Member
	return &out, c.do(ctx, "PUT", "/api/v1/projects/"+esc(project)+"/members/"+esc(user), map[string]string{"role": role}, &out)
}

// RemoveMember takes user out of a project.
func (c *Client) RemoveMember(ctx context.Context, project, user string) error {
	return c.do(ctx, "DELETE", "/api/v1/projects/"+esc(project)+"/members/"+esc(user), nil, nil)
}

// VerifyAudit asks the server to verify the audit chain.
func (c *Client) VerifyAudit(ctx context.Context) (*AuditReport, error) {
	var out AuditReport
	return &out, c.do(ctx, "GET", "/api/v1/audit/verify", nil, &out)
}

// ExportAudit streams the audit log after sequence number after as JSON lines into w.
func (c *Client) ExportAudit(ctx context.Context, after int64, w io.Writer) error {
	resp, err := c.request(ctx, "GET", fmt.Sprintf("/api/v1/audit/export?after=%d", after), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read audit export: %w", err)
	}
	return nil
}

// Identities returns the git and git-host identities linked to a user.
func (c *Client) Identities(ctx context.Context, user string) ([]string, error) {
	var out struct {
		Identities []string `json:"identities"`
	}
	err := c.do(ctx, "GET", "/api/v1/users/"+esc(user)+"/identities", nil, &out)
	return out.Identities, err
}

// SetIdentities replaces the git and git-host identities linked to a user (admins).
func (c *Client) SetIdentities(ctx context.Context, user string, identities []string) ([]string, error) {
	if identities == nil {
		identities = []string{}
	}
	var out struct {
		Identities []string `json:"identities"`
	}
	err := c.do(ctx, "PUT", "/api/v1/users/"+esc(user)+"/identities", map[string][]string{"identities": identities}, &out)
	return out.Identities, err
}
