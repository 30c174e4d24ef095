package rampart

import (
	"context"
	"time"
)

// Store is Rampart's persistence: SQLite (embedded) or PostgreSQL, behind one contract that
// store/storetest checks on both. Every read and write happens inside a transaction so that a
// change and its audit entry commit together or not at all.
//
// Methods return *Error with ENOTFOUND when a looked-up row does not exist and ECONFLICT when a
// unique name is taken; any other error is internal.
type Store interface {
	// Update runs fn in a read-write transaction, committed if fn returns nil and rolled back
	// otherwise. Update transactions are serialised with each other.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Tx is one transaction of a Store. It must not be used after the function it was passed to
// returns, nor from several goroutines at once.
type Tx interface {
	UserTx
	TokenTx
	SessionTx
	LoginFailureTx
	ProjectTx
	AuditTx
	RunTx
	JobTx
	AgentTx
	LogTx
	ArtifactTx
	CursorTx
	SecretTx
	FindingTx
	DeployTx
	ReviewTx
}

// UserTx stores accounts.
type UserTx interface {
	// CreateUser inserts u with the given password hash and sets u.ID.
	CreateUser(ctx context.Context, u *User, passwordHash string) error
	UserByID(ctx context.Context, id int64) (*User, error)
	UserByName(ctx context.Context, name string) (*User, error)
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]*User, error)
	CountUsers(ctx context.Context) (int, error)
	// PasswordHash returns the stored password hash of a user.
	PasswordHash(ctx context.Context, userID int64) (string, error)
	SetPassword(ctx context.Context, userID int64, passwordHash string, at time.Time) error
	SetUserDisabled(ctx context.Context, userID int64, disabled bool) error
	SetUserRole(ctx context.Context, userID int64, role string) error
	// SetUserIdentities replaces the git and git-host identities of a user (lower-case e-mail
	// addresses, author names, logins); ECONFLICT when one belongs to another user.
	SetUserIdentities(ctx context.Context, userID int64, identities []string) error
	// UserIdentities returns a user's identities, sorted.
	UserIdentities(ctx context.Context, userID int64) ([]string, error)
}

// TokenTx stores API tokens by the SHA-256 of their secret.
type TokenTx interface {
	// CreateToken inserts t with the hash of its secret and sets t.ID.
	CreateToken(ctx context.Context, t *Token, hash string) error
	TokenByHash(ctx context.Context, hash string) (*Token, error)
	TokenByID(ctx context.Context, id int64) (*Token, error)
	// ListTokens returns the tokens of a user, or of every user when userID is 0, newest first.
	ListTokens(ctx context.Context, userID int64) ([]*Token, error)
	RevokeToken(ctx context.Context, id int64, at time.Time) error
	// RevokeUserTokens revokes every active token of a user and returns how many it revoked.
	RevokeUserTokens(ctx context.Context, userID int64, at time.Time) (int, error)
	TouchToken(ctx context.Context, id int64, at time.Time) error
}

// SessionTx stores browser sessions by the SHA-256 of their id.
type SessionTx interface {
	// CreateSession inserts s with the hash of its id and sets s.ID.
	CreateSession(ctx context.Context, s *Session, hash string) error
	SessionByHash(ctx context.Context, hash string) (*Session, error)
	DeleteSession(ctx context.Context, id int64) error
	// DeleteUserSessions ends every session of a user and returns how many it ended.
	DeleteUserSessions(ctx context.Context, userID int64) (int, error)
	DeleteExpiredSessions(ctx context.Context, now time.Time) error
}

// LoginFailureTx counts failed sign-ins for rate limiting, shared by every server replica.
type LoginFailureTx interface {
	RecordLoginFailure(ctx context.Context, user, source string, at time.Time) error
	// CountLoginFailures counts failures since a time for the user name and for the source address.
	CountLoginFailures(ctx context.Context, user, source string, since time.Time) (byUser, bySource int, err error)
	// ClearLoginFailures forgets the failures of a user name (after a successful sign-in) and
	// those older than before.
	ClearLoginFailures(ctx context.Context, user string, before time.Time) error
}

// ProjectTx stores projects and their members.
type ProjectTx interface {
	// CreateProject inserts p and sets p.ID.
	CreateProject(ctx context.Context, p *Project) error
	ProjectByName(ctx context.Context, name string) (*Project, error)
	ProjectByID(ctx context.Context, id int64) (*Project, error)
	// ListProjects returns every project ordered by name.
	ListProjects(ctx context.Context) ([]*Project, error)
	// ListProjectsOfUser returns the projects a user is a member of, ordered by name.
	ListProjectsOfUser(ctx context.Context, userID int64) ([]*Project, error)
	// SetMember adds a member or changes their role.
	SetMember(ctx context.Context, m *Member) error
	// RemoveMember removes a member; ENOTFOUND if they were not one.
	RemoveMember(ctx context.Context, projectID, userID int64) error
	// ListMembers returns a project's members ordered by user name.
	ListMembers(ctx context.Context, projectID int64) ([]*Member, error)
	// MemberRole returns a user's role in a project, or "" when they are not a member.
	MemberRole(ctx context.Context, projectID, userID int64) (string, error)
	// UpdateProject writes a project's repository URL and polling interval.
	UpdateProject(ctx context.Context, p *Project) error
	// WebhookSecret returns the secret that signs a project's webhooks ("" when none is set).
	WebhookSecret(ctx context.Context, projectID int64) (string, error)
	SetWebhookSecret(ctx context.Context, projectID int64, secret string) error
}

// AuditTx stores the audit chain. The audit package computes sequence numbers and hashes; the
// store keeps the events and the chain head.
type AuditTx interface {
	// AuditHead returns the sequence number and hash of the last event (0 and "" when the log is
	// empty) and holds the chain's lock until the transaction ends, so that appends from
	// concurrent transactions, even on several servers, form one chain.
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	// InsertAudit stores e as given and makes it the chain head.
	InsertAudit(ctx context.Context, e *AuditEvent) error
	// ListAudit returns events in sequence order.
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEvent, error)
}
