// Package rampart holds Rampart's domain: the types every other package shares (users, projects,
// tokens, audit events, …), the error codes, and the interfaces the packages meet at. It imports
// only the standard library; dependencies point toward it.
package rampart

import (
	"context"
	"time"
)

// Organisation roles. Every user has exactly one.
const (
	RoleAdmin    = "admin"    // manages users, agents and every project
	RoleSecurity = "security" // reads everything, owns findings, waivers and the audit log
	RoleMember   = "member"   // works in the projects they are a member of
)

// Project roles. A user has at most one per project.
const (
	RoleViewer         = "viewer"          // reads runs, logs and artifacts
	RoleDeveloper      = "developer"       // starts, cancels and retries runs
	RoleMaintainer     = "maintainer"      // manages the project's settings and members
	RoleReleaseManager = "release-manager" // starts and approves production releases
)

// OrgRoles lists the organisation roles, most powerful first.
func OrgRoles() []string { return []string{RoleAdmin, RoleSecurity, RoleMember} }

// ProjectRoles lists the project roles.
func ProjectRoles() []string {
	return []string{RoleViewer, RoleDeveloper, RoleMaintainer, RoleReleaseManager}
}

// IsOrgRole reports whether r names an organisation role.
func IsOrgRole(r string) bool { return r == RoleAdmin || r == RoleSecurity || r == RoleMember }

// IsProjectRole reports whether r names a project role.
func IsProjectRole(r string) bool {
	return r == RoleViewer || r == RoleDeveloper || r == RoleMaintainer || r == RoleReleaseManager
}

// User is an account. Its password hash is never part of this type; see Credentials.
type User struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"` // organisation role
	Disabled   bool      `json:"disabled"`
	CreatedAt  time.Time `json:"created_at"`
	PasswordAt time.Time `json:"password_changed_at"`
}

// Project is a repository that Rampart builds.
type Project struct {
	ID      int64  `json:"id"`
	Name    string `json:"name"`
	RepoURL string `json:"repo_url"`
	// PollSeconds is how often the server polls the repository's branches for new commits, as a
	// fallback for webhooks; 0 turns polling off.
	PollSeconds int `json:"poll_seconds,omitempty"`
	// RequiredScans are the built-in scanners ("secrets", "dependencies", "iac") the server runs
	// as a security gate job in every run of the project, whatever its .rampart.yml says.
	RequiredScans []string  `json:"required_scans,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// Member is a user's role in a project.
type Member struct {
	ProjectID int64     `json:"project_id"`
	UserID    int64     `json:"user_id"`
	UserName  string    `json:"user"`
	Role      string    `json:"role"`
	AddedAt   time.Time `json:"added_at"`
}

// Token is the metadata of an API token. The secret itself is shown once at creation and only its
// SHA-256 is stored.
type Token struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	UserName   string     `json:"user"`
	Name       string     `json:"name"`
	Scope      string     `json:"scope"` // a role ceiling: admin, security, member or viewer
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Active reports whether the token may still be used at now.
func (t *Token) Active(now time.Time) bool {
	return t.RevokedAt == nil && (t.ExpiresAt == nil || now.Before(*t.ExpiresAt))
}

// Session is a browser sign-in. The id is a secret and is stored as its SHA-256 only.
type Session struct {
	ID        int64     `json:"id"`
	UserID    int64     `json:"user_id"`
	CSRFToken string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Source    string    `json:"source"`
}

// Audit results.
const (
	ResultSuccess = "success"
	ResultDenied  = "denied"
	ResultFailure = "failure"
)

// AuditEvent is one entry of the append-only, hash-chained audit log.
type AuditEvent struct {
	Seq      int64     `json:"seq"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`  // user name, "agent:NAME", "system" or "anonymous"
	Action   string    `json:"action"` // e.g. "user.create", "auth.login"
	Target   string    `json:"target"` // e.g. "user:alice", "project:web"
	Source   string    `json:"source"` // client address, or "local"
	Result   string    `json:"result"` // success, denied or failure
	Detail   string    `json:"detail,omitempty"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// AuditFilter selects audit events; zero fields select everything.
type AuditFilter struct {
	AfterSeq int64
	Limit    int
}

// Actor is who performs an action: a signed-in user with their organisation role, the
// project roles they hold, and the ceiling of the token they used.
type Actor struct {
	UserID   int64
	Name     string
	Role     string // organisation role
	Scope    string // role ceiling of the token used; "" for a session
	TokenID  int64  // 0 for a session
	Session  int64  // 0 for a token
	Source   string // client address
	Internal bool   // Rampart itself (first start, migrations); bypasses RBAC
}

// SystemActor is Rampart acting on its own behalf, e.g. creating the first admin.
func SystemActor() *Actor { return &Actor{Name: "system", Source: "local", Internal: true} }

type actorKey struct{}

// NewContextWithActor returns a copy of ctx that carries a.
func NewContextWithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor carried by ctx, or nil.
func ActorFromContext(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey{}).(*Actor)
	return a
}
