// Package auth is who you are: accounts with argon2id passwords, sign-in with rate limiting,
// browser sessions, and API tokens with expiry and a role ceiling. Every change and every
// authentication event is audited in the same transaction as the change it records.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/rbac"
)

// Config tunes a Service. Zero fields take the defaults documented on each.
type Config struct {
	Params        Params        // password hashing cost; default DefaultParams
	SessionTTL    time.Duration // browser session lifetime; default 12h
	FailureWindow time.Duration // how far back failed sign-ins count; default 15m
	MaxPerUser    int           // failed sign-ins per user name within the window; default 5
	MaxPerSource  int           // failed sign-ins per client address within the window; default 20
	Now           func() time.Time
}

// Service manages accounts, sessions and tokens. It is safe for concurrent use.
type Service struct {
	store  rampart.Store
	logger *slog.Logger
	cfg    Config
	// dummyHash is verified against when a user does not exist, so that a sign-in for an unknown
	// name takes as long as one with a wrong password.
	dummyHash string
}

// New returns a Service on store.
func New(store rampart.Store, logger *slog.Logger, cfg Config) (*Service, error) {
	if cfg.Params == (Params{}) {
		cfg.Params = DefaultParams
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.FailureWindow <= 0 {
		cfg.FailureWindow = 15 * time.Minute
	}
	if cfg.MaxPerUser <= 0 {
		cfg.MaxPerUser = 5
	}
	if cfg.MaxPerSource <= 0 {
		cfg.MaxPerSource = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dummy, err := HashPassword("not a password of anyone", cfg.Params)
	if err != nil {
		return nil, err
	}
	return &Service{store: store, logger: logger, cfg: cfg, dummyHash: dummy}, nil
}

var userNameRE = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,62}$`)

// ValidUserName returns an EINVALID error unless name is a valid user name.
func ValidUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return rampart.Errorf(rampart.EINVALID, "invalid user name %q", name).
			WithDetail("use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter")
	}
	return nil
}

// Subject turns an actor into the rbac subject for a resource outside any project.
func Subject(a *rampart.Actor) rbac.Subject {
	if a == nil {
		return rbac.Subject{}
	}
	return rbac.Subject{UserID: a.UserID, Role: a.Role, Scope: a.Scope, Internal: a.Internal}
}

func (s *Service) now() time.Time { return s.cfg.Now() }

// authorize checks a against the actor and records a refusal.
func (s *Service) authorize(ctx context.Context, actor *rampart.Actor, a rbac.Action, r rbac.Resource, target string) error {
	if actor == nil {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in").WithDetail("sign in with `rampart login` or send an API token as `Authorization: Bearer …`")
	}
	if err := rbac.Check(Subject(actor), a, r); err != nil {
		return audit.Denied(ctx, s.store, actor, string(a), target, err, s.now())
	}
	return nil
}

// update runs fn in a transaction and appends ev to the audit chain in the same transaction.
func (s *Service) update(ctx context.Context, ev *rampart.AuditEvent, fn func(tx rampart.Tx) error) error {
	return s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return audit.Append(ctx, tx, ev, s.now())
	})
}

// Bootstrap creates the first admin when there are no users at all, with a generated password
// and an admin API token, and returns them; created is false (and nothing is returned) when any
// user exists. There are no default credentials: the secrets exist only in this return value.
func (s *Service) Bootstrap(ctx context.Context) (password, token string, created bool, err error) {
	if password, err = NewPassword(); err != nil {
		return "", "", false, err
	}
	hash, err := HashPassword(password, s.cfg.Params)
	if err != nil {
		return "", "", false, err
	}
	if token, err = NewSecret(TokenPrefix); err != nil {
		return "", "", false, err
	}
	actor := rampart.SystemActor()
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		n, err := tx.CountUsers(ctx)
		if err != nil || n > 0 {
			return err
		}
		u := &rampart.User{Name: "admin", Role: rampart.RoleAdmin, CreatedAt: s.now(), PasswordAt: s.now()}
		if err := tx.CreateUser(ctx, u, hash); err != nil {
			return err
		}
		t := &rampart.Token{UserID: u.ID, Name: "bootstrap", Scope: rampart.RoleAdmin, CreatedAt: s.now()}
		if err := tx.CreateToken(ctx, t, HashSecret(token)); err != nil {
			return err
		}
		if err := audit.Append(ctx, tx, audit.Event(actor, "user.create", "user:admin", rampart.ResultSuccess), s.now()); err != nil {
			return err
		}
		created = true
		return audit.Append(ctx, tx, audit.Event(actor, "token.create", fmt.Sprintf("token:%d", t.ID), rampart.ResultSuccess), s.now())
	})
	if err != nil || !created {
		return "", "", false, err
	}
	return password, token, true, nil
}

// CreateUser adds an account with an organisation role and an initial password.
func (s *Service) CreateUser(ctx context.Context, actor *rampart.Actor, name, role, password string) (*rampart.User, error) {
	target := "user:" + name
	if err := s.authorize(ctx, actor, rbac.UserCreate, rbac.Resource{}, target); err != nil {
		return nil, err
	}
	if err := ValidUserName(name); err != nil {
		return nil, err
	}
	if !rampart.IsOrgRole(role) {
		return nil, rampart.Errorf(rampart.EINVALID, "unknown role %q", role).
			WithDetail("organisation roles are %s", strings.Join(rampart.OrgRoles(), ", "))
	}
	if err := CheckPasswordPolicy(password); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password, s.cfg.Params)
	if err != nil {
		return nil, err
	}
	u := &rampart.User{Name: name, Role: role, CreatedAt: s.now(), PasswordAt: s.now()}
	ev := audit.Event(actor, "user.create", target, rampart.ResultSuccess)
	ev.Detail = "role=" + role
	err = s.update(ctx, ev, func(tx rampart.Tx) error {
		if err := tx.CreateUser(ctx, u, hash); err != nil {
			if rampart.ErrorCode(err) == rampart.ECONFLICT {
				return rampart.Errorf(rampart.ECONFLICT, "user %q already exists", name).WithDetail("choose another name, or list users with `rampart user list`")
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// MaxIdentities bounds the git identities of one user.
const MaxIdentities = 20

// SetIdentities replaces the git and git-host identities of a user: the e-mail addresses and
// author names their commits carry and their logins on git hosts. Separation of duties reads them
// to recognise a user's own commits and pull requests, so only admins set them.
func (s *Service) SetIdentities(ctx context.Context, actor *rampart.Actor, name string, identities []string) ([]string, error) {
	target := "user:" + name
	if err := s.authorize(ctx, actor, rbac.UserIdentity, rbac.Resource{}, target); err != nil {
		return nil, err
	}
	if len(identities) > MaxIdentities {
		return nil, rampart.Errorf(rampart.EINVALID, "%d identities; at most %d", len(identities), MaxIdentities)
	}
	var ids []string
	for _, id := range identities {
		id = strings.ToLower(strings.TrimSpace(id))
		if id == "" || len(id) > 200 || strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return nil, rampart.Errorf(rampart.EINVALID, "bad identity %q", id).WithDetail("give e-mail addresses, git author names or git-host logins of up to 200 characters")
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ev := audit.Event(actor, "user.identities", target, rampart.ResultSuccess)
	ev.Detail = "identities=" + strings.Join(ids, ",")
	err := s.update(ctx, ev, func(tx rampart.Tx) error {
		u, err := tx.UserByName(ctx, name)
		if err != nil {
			return err
		}
		return tx.SetUserIdentities(ctx, u.ID, ids)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// Identities returns a user's git identities; admins and security may read anyone's, users their
// own.
func (s *Service) Identities(ctx context.Context, actor *rampart.Actor, name string) ([]string, error) {
	u, err := s.User(ctx, actor, name)
	if err != nil {
		return nil, err
	}
	var ids []string
	err = s.store.View(ctx, func(tx rampart.Tx) (err error) {
		ids, err = tx.UserIdentities(ctx, u.ID)
		return err
	})
	return ids, err
}

// ListUsers returns every user.
func (s *Service) ListUsers(ctx context.Context, actor *rampart.Actor) ([]*rampart.User, error) {
	if err := s.authorize(ctx, actor, rbac.UserList, rbac.Resource{}, "users"); err != nil {
		return nil, err
	}
	var users []*rampart.User
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		users, err = tx.ListUsers(ctx)
		return err
	})
	return users, err
}

// User returns one user; anyone signed in may look themselves up.
func (s *Service) User(ctx context.Context, actor *rampart.Actor, name string) (*rampart.User, error) {
	var u *rampart.User
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		u, err = tx.UserByName(ctx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if actor == nil || actor.UserID != u.ID {
		if err := s.authorize(ctx, actor, rbac.UserList, rbac.Resource{}, "user:"+name); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// SetDisabled disables or re-enables an account. Disabling ends the user's sessions and revokes
// their tokens in the same transaction, so that nothing they hold works a moment later.
func (s *Service) SetDisabled(ctx context.Context, actor *rampart.Actor, name string, disabled bool) error {
	target := "user:" + name
	action := map[bool]string{true: "user.disable", false: "user.enable"}[disabled]
	if err := s.authorize(ctx, actor, rbac.UserDisable, rbac.Resource{}, target); err != nil {
		return err
	}
	if disabled && actor.Name == name {
		return rampart.Errorf(rampart.EINVALID, "you cannot disable yourself").WithDetail("ask another admin to do it, so that an admin always remains")
	}
	ev := audit.Event(actor, action, target, rampart.ResultSuccess)
	return s.update(ctx, ev, func(tx rampart.Tx) error {
		u, err := tx.UserByName(ctx, name)
		if err != nil {
			return err
		}
		if err := tx.SetUserDisabled(ctx, u.ID, disabled); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		ended, err := s.endCredentials(ctx, tx, u.ID)
		ev.Detail = ended
		return err
	})
}

// endCredentials ends every session and token of a user and says how many.
func (s *Service) endCredentials(ctx context.Context, tx rampart.Tx, userID int64) (string, error) {
	sessions, err := tx.DeleteUserSessions(ctx, userID)
	if err != nil {
		return "", err
	}
	tokens, err := tx.RevokeUserTokens(ctx, userID, s.now())
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("ended %d sessions, revoked %d tokens", sessions, tokens), nil
}

// SetPassword changes a user's password: users their own (proving the current one), admins
// anyone's. Every session and token of that user ends, including the one making the change: a
// password change is what people do when they fear a credential leaked.
func (s *Service) SetPassword(ctx context.Context, actor *rampart.Actor, name, current, password string) error {
	target := "user:" + name
	var u *rampart.User
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		u, err = tx.UserByName(ctx, name)
		return err
	})
	if err != nil {
		return err
	}
	if err := s.authorize(ctx, actor, rbac.UserPassword, rbac.Resource{OwnerID: u.ID}, target); err != nil {
		return err
	}
	if err := CheckPasswordPolicy(password); err != nil {
		return err
	}
	if actor.UserID == u.ID {
		if ok, err := s.checkPassword(ctx, u.ID, current); err != nil {
			return err
		} else if !ok {
			err := rampart.Errorf(rampart.EFORBIDDEN, "current password is wrong").WithDetail("give your current password to set a new one; an admin can reset it for you")
			return audit.Denied(ctx, s.store, actor, "user.password", target, err, s.now())
		}
	}
	hash, err := HashPassword(password, s.cfg.Params)
	if err != nil {
		return err
	}
	ev := audit.Event(actor, "user.password", target, rampart.ResultSuccess)
	return s.update(ctx, ev, func(tx rampart.Tx) error {
		if err := tx.SetPassword(ctx, u.ID, hash, s.now()); err != nil {
			return err
		}
		ended, err := s.endCredentials(ctx, tx, u.ID)
		ev.Detail = ended
		return err
	})
}

func (s *Service) checkPassword(ctx context.Context, userID int64, pw string) (bool, error) {
	var hash string
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		hash, err = tx.PasswordHash(ctx, userID)
		return err
	})
	if err != nil {
		return false, err
	}
	return VerifyPassword(hash, pw)
}

// errBadLogin is the one answer to every failed sign-in, so that it does not tell whether the
// user exists or is disabled.
var errBadLogin = rampart.Errorf(rampart.EUNAUTHORIZED, "wrong user name or password").
	WithDetail("check both; after repeated failures sign-in is paused for a while")

// Login checks a user name and password from source. Failures are counted per user name and per
// source; past either limit sign-in is refused without checking the password until the window
// passes, and the refusal is audited.
func (s *Service) Login(ctx context.Context, name, password, source string) (*rampart.User, error) {
	now := s.now()
	target := "user:" + name
	if len(name) > 64 || len(password) > MaxPasswordLength {
		return nil, errBadLogin
	}
	var (
		u                *rampart.User
		hash             string
		byUser, bySource int
	)
	err := s.store.View(ctx, func(tx rampart.Tx) error {
		var err error
		byUser, bySource, err = tx.CountLoginFailures(ctx, name, source, now.Add(-s.cfg.FailureWindow))
		if err != nil {
			return err
		}
		u, err = tx.UserByName(ctx, name)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			u = nil
			return nil
		} else if err != nil {
			return err
		}
		hash, err = tx.PasswordHash(ctx, u.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("login %q: %w", name, err)
	}
	anon := &rampart.Actor{Name: name, Source: source}
	if byUser >= s.cfg.MaxPerUser || bySource >= s.cfg.MaxPerSource {
		ev := audit.Event(anon, "auth.login", target, rampart.ResultDenied)
		ev.Detail = fmt.Sprintf("rate limited: %d recent failures for this user, %d from this address", byUser, bySource)
		if err := audit.Record(ctx, s.store, ev, now); err != nil {
			return nil, fmt.Errorf("audit rate-limited login: %w", err)
		}
		return nil, rampart.Errorf(rampart.ETOOMANY, "too many failed sign-ins").
			WithDetail("wait %s and try again, or ask an admin to reset your password", s.cfg.FailureWindow)
	}
	if hash == "" {
		hash = s.dummyHash
	}
	ok, verr := VerifyPassword(hash, password)
	if verr != nil {
		s.logger.Error("verify password", "user", name, "err", verr)
	}
	if !ok || u == nil || u.Disabled {
		reason := "wrong password"
		switch {
		case u == nil:
			reason = "no such user"
		case u.Disabled && ok:
			reason = "user disabled"
		}
		ev := audit.Event(anon, "auth.login", target, rampart.ResultFailure)
		ev.Detail = reason
		err := s.store.Update(context.WithoutCancel(ctx), func(tx rampart.Tx) error {
			if err := tx.RecordLoginFailure(ctx, name, source, now); err != nil {
				return err
			}
			return audit.Append(ctx, tx, ev, now)
		})
		if err != nil {
			return nil, fmt.Errorf("record failed login: %w", err)
		}
		return nil, errBadLogin
	}
	ev := audit.Event(&rampart.Actor{Name: u.Name, Source: source}, "auth.login", target, rampart.ResultSuccess)
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.ClearLoginFailures(ctx, name, now.Add(-s.cfg.FailureWindow)); err != nil {
			return err
		}
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return nil, fmt.Errorf("record login: %w", err)
	}
	return u, nil
}

// CreateSession starts a browser session for u and returns its secret id (for the cookie) and the
// session, whose CSRFToken the page must echo on every unsafe request.
func (s *Service) CreateSession(ctx context.Context, u *rampart.User, source string) (string, *rampart.Session, error) {
	id, err := NewSecret(SessionPrefix)
	if err != nil {
		return "", nil, err
	}
	csrf, err := NewSecret("")
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	sess := &rampart.Session{UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL), Source: source}
	ev := audit.Event(&rampart.Actor{Name: u.Name, Source: source}, "session.create", "user:"+u.Name, rampart.ResultSuccess)
	err = s.update(ctx, ev, func(tx rampart.Tx) error {
		if err := tx.DeleteExpiredSessions(ctx, now); err != nil {
			return err
		}
		return tx.CreateSession(ctx, sess, HashSecret(id))
	})
	if err != nil {
		return "", nil, fmt.Errorf("create session for %q: %w", u.Name, err)
	}
	return id, sess, nil
}

// errBadCredential is the one answer to every unusable token or session.
var errBadCredential = rampart.Errorf(rampart.EUNAUTHORIZED, "invalid, expired or revoked credential").
	WithDetail("sign in again with `rampart login`, or create a new token")

// Authenticate resolves an API token or a session id to the actor it speaks for. Disabled users,
// expired and revoked tokens and expired sessions are refused.
func (s *Service) Authenticate(ctx context.Context, secret, source string) (*rampart.Actor, *rampart.Session, error) {
	now := s.now()
	hash := HashSecret(secret)
	var (
		actor *rampart.Actor
		sess  *rampart.Session
		touch int64
	)
	err := s.store.View(ctx, func(tx rampart.Tx) error {
		var userID int64
		switch {
		case strings.HasPrefix(secret, TokenPrefix):
			t, err := tx.TokenByHash(ctx, hash)
			if err != nil {
				return err
			}
			if !t.Active(now) {
				return errBadCredential
			}
			userID = t.UserID
			actor = &rampart.Actor{TokenID: t.ID, Scope: t.Scope}
			// Recording every use would make every request a write; a minute's precision is enough.
			if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > time.Minute {
				touch = t.ID
			}
		case strings.HasPrefix(secret, SessionPrefix):
			var err error
			if sess, err = tx.SessionByHash(ctx, hash); err != nil {
				return err
			}
			if !now.Before(sess.ExpiresAt) {
				return errBadCredential
			}
			userID = sess.UserID
			actor = &rampart.Actor{Session: sess.ID}
		default:
			return errBadCredential
		}
		u, err := tx.UserByID(ctx, userID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return errBadCredential
		}
		actor.UserID, actor.Name, actor.Role, actor.Source = u.ID, u.Name, u.Role, source
		return nil
	})
	if err != nil {
		if code := rampart.ErrorCode(err); code == rampart.ENOTFOUND || code == rampart.EUNAUTHORIZED {
			return nil, nil, errBadCredential
		}
		return nil, nil, fmt.Errorf("authenticate: %w", err)
	}
	if touch != 0 {
		if err := s.store.Update(ctx, func(tx rampart.Tx) error { return tx.TouchToken(ctx, touch, now) }); err != nil {
			s.logger.Warn("record token use", "token", touch, "err", err)
		}
	}
	return actor, sess, nil
}

// Logout ends the credential the actor used — their session, or the token of this request — or,
// with all, every session and token the user has.
func (s *Service) Logout(ctx context.Context, actor *rampart.Actor, all bool) error {
	if actor == nil || actor.Internal {
		return rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	ev := audit.Event(actor, "auth.logout", "user:"+actor.Name, rampart.ResultSuccess)
	return s.update(ctx, ev, func(tx rampart.Tx) error {
		switch {
		case all:
			ended, err := s.endCredentials(ctx, tx, actor.UserID)
			ev.Detail = ended
			return err
		case actor.Session != 0:
			return tx.DeleteSession(ctx, actor.Session)
		case actor.TokenID != 0:
			return tx.RevokeToken(ctx, actor.TokenID, s.now())
		}
		return errors.New("logout: actor has neither session nor token")
	})
}
