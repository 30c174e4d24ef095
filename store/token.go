package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
)

const tokenSelect = `SELECT t.id, t.user_id, u.name, t.name, t.scope, t.created_at, t.expires_at, t.last_used_at, t.revoked_at
FROM tokens t JOIN users u ON u.id = t.user_id`

func scanToken(s scanner) (*rampart.Token, error) {
	var (
		tok                            rampart.Token
		createdAt                      int64
		expiresAt, lastUsedAt, revoked sql.NullInt64
	)
	if err := s.Scan(&tok.ID, &tok.UserID, &tok.UserName, &tok.Name, &tok.Scope, &createdAt, &expiresAt, &lastUsedAt, &revoked); err != nil {
		return nil, err
	}
	tok.CreatedAt = fromMicros(createdAt)
	tok.ExpiresAt, tok.LastUsedAt, tok.RevokedAt = fromNullMicros(expiresAt), fromNullMicros(lastUsedAt), fromNullMicros(revoked)
	return &tok, nil
}

// CreateToken implements rampart.TokenTx. A token of a user that does not exist is ENOTFOUND.
func (t *tx) CreateToken(ctx context.Context, tok *rampart.Token, hash string) error {
	err := t.queryRow(ctx, `INSERT INTO tokens (user_id, name, scope, hash, created_at, expires_at, last_used_at, revoked_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		tok.UserID, tok.Name, tok.Scope, hash, micros(tok.CreatedAt),
		nullMicros(tok.ExpiresAt), nullMicros(tok.LastUsedAt), nullMicros(tok.RevokedAt)).Scan(&tok.ID)
	switch {
	case isUnique(err):
		// Two random secrets with one hash: the caller generated a secret badly.
		return rampart.Errorf(rampart.ECONFLICT, "a token with this secret already exists")
	case isForeignKey(err):
		return notFound("user %d", tok.UserID)
	case err != nil:
		return fmt.Errorf("insert token %q of user %d: %w", tok.Name, tok.UserID, err)
	}
	return nil
}

// TokenByHash implements rampart.TokenTx.
func (t *tx) TokenByHash(ctx context.Context, hash string) (*rampart.Token, error) {
	tok, err := scanToken(t.queryRow(ctx, tokenSelect+" WHERE t.hash = ?", hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The hash is not named: it stands for a secret, and messages end up in logs.
		return nil, notFound("token")
	case err != nil:
		return nil, fmt.Errorf("select token by hash: %w", err)
	}
	return tok, nil
}

// TokenByID implements rampart.TokenTx.
func (t *tx) TokenByID(ctx context.Context, id int64) (*rampart.Token, error) {
	tok, err := scanToken(t.queryRow(ctx, tokenSelect+" WHERE t.id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("token %d", id)
	case err != nil:
		return nil, fmt.Errorf("select token %d: %w", id, err)
	}
	return tok, nil
}

// ListTokens implements rampart.TokenTx. Tokens created at the same time are ordered newest id
// first, so that the order is total.
func (t *tx) ListTokens(ctx context.Context, userID int64) ([]*rampart.Token, error) {
	var (
		toks []*rampart.Token
		err  error
	)
	if userID == 0 {
		toks, err = queryAll(ctx, t, scanToken, tokenSelect+" ORDER BY t.created_at DESC, t.id DESC")
	} else {
		toks, err = queryAll(ctx, t, scanToken, tokenSelect+" WHERE t.user_id = ? ORDER BY t.created_at DESC, t.id DESC", userID)
	}
	if err != nil {
		return nil, fmt.Errorf("list tokens of user %d: %w", userID, err)
	}
	return toks, nil
}

// RevokeToken implements rampart.TokenTx. Revoking a revoked token keeps its first revocation
// time, which is the one that matters for an investigation.
func (t *tx) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	err := t.execOne(ctx, notFound("token %d", id),
		"UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", micros(at), id)
	return wrapUpdate(err, "revoke token %d", id)
}

// RevokeUserTokens implements rampart.TokenTx. Already revoked tokens keep their revocation
// time and are not counted; expired tokens are revoked and counted too.
func (t *tx) RevokeUserTokens(ctx context.Context, userID int64, at time.Time) (int, error) {
	n, err := t.execCount(ctx, "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL", micros(at), userID)
	if err != nil {
		return 0, fmt.Errorf("revoke tokens of user %d: %w", userID, err)
	}
	return n, nil
}

// TouchToken implements rampart.TokenTx.
func (t *tx) TouchToken(ctx context.Context, id int64, at time.Time) error {
	err := t.execOne(ctx, notFound("token %d", id), "UPDATE tokens SET last_used_at = ? WHERE id = ?", micros(at), id)
	return wrapUpdate(err, "touch token %d", id)
}
