package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/rbac"
)

// MaxTokenTTL bounds token lifetimes; a token that never expires is a leak waiting to happen.
const MaxTokenTTL = 366 * 24 * time.Hour

// CreateToken creates an API token for the actor and returns its secret, which is shown once and
// stored only as a hash. scope is the token's role ceiling ("" means the actor's own role); it may
// not exceed the actor's role. ttl 0 means 90 days.
func (s *Service) CreateToken(ctx context.Context, actor *rampart.Actor, name, scope string, ttl time.Duration) (string, *rampart.Token, error) {
	if err := s.authorize(ctx, actor, rbac.TokenCreate, rbac.Resource{OwnerID: actor.UserID}, "user:"+actor.Name); err != nil {
		return "", nil, err
	}
	if name == "" || len(name) > 100 {
		return "", nil, rampart.Errorf(rampart.EINVALID, "token name must be 1 to 100 characters").WithDetail("name it after where it is used, e.g. \"ci-deploy\"")
	}
	if scope == "" {
		scope = actor.Role
		if actor.Scope != "" {
			scope = actor.Scope
		}
	}
	if !rbac.ValidScope(scope) {
		return "", nil, rampart.Errorf(rampart.EINVALID, "unknown token scope %q", scope).WithDetail("use admin, security, member or viewer")
	}
	// A token may not be worth more than the credential that made it.
	if outranks(scope, actor.Role) || (actor.Scope != "" && outranks(scope, actor.Scope)) {
		return "", nil, rampart.Errorf(rampart.EFORBIDDEN, "scope %q is above your own", scope).WithDetail("choose a scope no higher than %q", effectiveScope(actor))
	}
	switch {
	case ttl == 0:
		ttl = 90 * 24 * time.Hour
	case ttl < time.Minute || ttl > MaxTokenTTL:
		return "", nil, rampart.Errorf(rampart.EINVALID, "token lifetime %s out of range", ttl).WithDetail("use between 1m and %s", MaxTokenTTL)
	}
	secret, err := NewSecret(TokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	exp := now.Add(ttl)
	t := &rampart.Token{UserID: actor.UserID, UserName: actor.Name, Name: name, Scope: scope, CreatedAt: now, ExpiresAt: &exp}
	ev := audit.Event(actor, "token.create", "", rampart.ResultSuccess)
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateToken(ctx, t, HashSecret(secret)); err != nil {
			return err
		}
		ev.Target = fmt.Sprintf("token:%d", t.ID)
		ev.Detail = fmt.Sprintf("name=%s scope=%s expires=%s", name, scope, exp.UTC().Format(time.RFC3339))
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create token %q: %w", name, err)
	}
	return secret, t, nil
}

// scopeRank orders scopes: a higher one may do at least what a lower one may.
var scopeRank = map[string]int{rampart.RoleViewer: 0, rampart.RoleMember: 1, rampart.RoleSecurity: 2, rampart.RoleAdmin: 3}

func outranks(a, b string) bool { return scopeRank[a] > scopeRank[b] }

func effectiveScope(a *rampart.Actor) string {
	if a.Scope != "" && outranks(a.Role, a.Scope) {
		return a.Scope
	}
	return a.Role
}

// ListTokens returns the actor's tokens, or with all every user's (admins and security only).
func (s *Service) ListTokens(ctx context.Context, actor *rampart.Actor, all bool) ([]*rampart.Token, error) {
	owner := actor.UserID
	if all {
		owner = 0
	}
	if err := s.authorize(ctx, actor, rbac.TokenList, rbac.Resource{OwnerID: owner}, "tokens"); err != nil {
		return nil, err
	}
	var tokens []*rampart.Token
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		tokens, err = tx.ListTokens(ctx, owner)
		return err
	})
	return tokens, err
}

// RevokeToken revokes a token: users their own, admins anyone's.
func (s *Service) RevokeToken(ctx context.Context, actor *rampart.Actor, id int64) error {
	target := fmt.Sprintf("token:%d", id)
	var t *rampart.Token
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		t, err = tx.TokenByID(ctx, id)
		return err
	})
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		// Say the same for someone else's token as for a missing one, after auditing the attempt.
		if aerr := s.authorize(ctx, actor, rbac.TokenRevoke, rbac.Resource{}, target); aerr != nil {
			return aerr
		}
		return rampart.Errorf(rampart.ENOTFOUND, "token %d not found", id).WithDetail("list your tokens with `rampart token list`")
	} else if err != nil {
		return err
	}
	if err := s.authorize(ctx, actor, rbac.TokenRevoke, rbac.Resource{OwnerID: t.UserID}, target); err != nil {
		return err
	}
	if t.RevokedAt != nil {
		return nil
	}
	ev := audit.Event(actor, "token.revoke", target, rampart.ResultSuccess)
	return s.update(ctx, ev, func(tx rampart.Tx) error { return tx.RevokeToken(ctx, id, s.now()) })
}
