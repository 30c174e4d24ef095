package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
)

// CreateSession implements rampart.SessionTx. A session of a user that does not exist is
// ENOTFOUND.
func (t *tx) CreateSession(ctx context.Context, s *rampart.Session, hash string) error {
	err := t.queryRow(ctx, `INSERT INTO sessions (user_id, hash, csrf_token, created_at, expires_at, source)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		s.UserID, hash, s.CSRFToken, micros(s.CreatedAt), micros(s.ExpiresAt), s.Source).Scan(&s.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "a session with this id already exists")
	case isForeignKey(err):
		return notFound("user %d", s.UserID)
	case err != nil:
		return fmt.Errorf("insert session of user %d: %w", s.UserID, err)
	}
	return nil
}

// SessionByHash implements rampart.SessionTx. It returns expired sessions too; the caller
// decides what expiry means.
func (t *tx) SessionByHash(ctx context.Context, hash string) (*rampart.Session, error) {
	var (
		s                    rampart.Session
		createdAt, expiresAt int64
	)
	err := t.queryRow(ctx, "SELECT id, user_id, csrf_token, created_at, expires_at, source FROM sessions WHERE hash = ?", hash).
		Scan(&s.ID, &s.UserID, &s.CSRFToken, &createdAt, &expiresAt, &s.Source)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("session")
	case err != nil:
		return nil, fmt.Errorf("select session by hash: %w", err)
	}
	s.CreatedAt, s.ExpiresAt = fromMicros(createdAt), fromMicros(expiresAt)
	return &s, nil
}

// DeleteSession implements rampart.SessionTx. A session that does not exist is ENOTFOUND.
func (t *tx) DeleteSession(ctx context.Context, id int64) error {
	err := t.execOne(ctx, notFound("session %d", id), "DELETE FROM sessions WHERE id = ?", id)
	return wrapUpdate(err, "delete session %d", id)
}

// DeleteUserSessions implements rampart.SessionTx.
func (t *tx) DeleteUserSessions(ctx context.Context, userID int64) (int, error) {
	n, err := t.execCount(ctx, "DELETE FROM sessions WHERE user_id = ?", userID)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of user %d: %w", userID, err)
	}
	return n, nil
}

// DeleteExpiredSessions implements rampart.SessionTx. A session expires at its ExpiresAt: one
// whose ExpiresAt equals now is deleted, as Token.Active treats tokens.
func (t *tx) DeleteExpiredSessions(ctx context.Context, now time.Time) error {
	if _, err := t.exec(ctx, "DELETE FROM sessions WHERE expires_at <= ?", micros(now)); err != nil {
		return fmt.Errorf("delete expired sessions: %w", err)
	}
	return nil
}
