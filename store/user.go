package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
)

const userColumns = "id, name, role, disabled, created_at, password_at"

func scanUser(s scanner) (*rampart.User, error) {
	var (
		u                     rampart.User
		disabled              int64
		createdAt, passwordAt int64
	)
	if err := s.Scan(&u.ID, &u.Name, &u.Role, &disabled, &createdAt, &passwordAt); err != nil {
		return nil, err
	}
	u.Disabled = disabled != 0
	u.CreatedAt, u.PasswordAt = fromMicros(createdAt), fromMicros(passwordAt)
	return &u, nil
}

// CreateUser implements rampart.UserTx.
func (t *tx) CreateUser(ctx context.Context, u *rampart.User, passwordHash string) error {
	err := t.queryRow(ctx, `INSERT INTO users (name, role, disabled, password_hash, created_at, password_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		u.Name, u.Role, boolInt(u.Disabled), passwordHash, micros(u.CreatedAt), micros(u.PasswordAt)).Scan(&u.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "user %q already exists", u.Name)
	case err != nil:
		return fmt.Errorf("insert user %q: %w", u.Name, err)
	}
	return nil
}

// UserByID implements rampart.UserTx.
func (t *tx) UserByID(ctx context.Context, id int64) (*rampart.User, error) {
	u, err := scanUser(t.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("user %d", id)
	case err != nil:
		return nil, fmt.Errorf("select user %d: %w", id, err)
	}
	return u, nil
}

// UserByName implements rampart.UserTx.
func (t *tx) UserByName(ctx context.Context, name string) (*rampart.User, error) {
	u, err := scanUser(t.queryRow(ctx, "SELECT "+userColumns+" FROM users WHERE name = ?", name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("user %q", name)
	case err != nil:
		return nil, fmt.Errorf("select user %q: %w", name, err)
	}
	return u, nil
}

// ListUsers implements rampart.UserTx.
func (t *tx) ListUsers(ctx context.Context) ([]*rampart.User, error) {
	us, err := queryAll(ctx, t, scanUser, "SELECT "+userColumns+" FROM users ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// CountUsers implements rampart.UserTx.
func (t *tx) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := t.queryRow(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// PasswordHash implements rampart.UserTx.
func (t *tx) PasswordHash(ctx context.Context, userID int64) (string, error) {
	var h string
	err := t.queryRow(ctx, "SELECT password_hash FROM users WHERE id = ?", userID).Scan(&h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", notFound("user %d", userID)
	case err != nil:
		return "", fmt.Errorf("select password of user %d: %w", userID, err)
	}
	return h, nil
}

// SetPassword implements rampart.UserTx.
func (t *tx) SetPassword(ctx context.Context, userID int64, passwordHash string, at time.Time) error {
	err := t.execOne(ctx, notFound("user %d", userID),
		"UPDATE users SET password_hash = ?, password_at = ? WHERE id = ?", passwordHash, micros(at), userID)
	return wrapUpdate(err, "set password of user %d", userID)
}

// SetUserDisabled implements rampart.UserTx.
func (t *tx) SetUserDisabled(ctx context.Context, userID int64, disabled bool) error {
	err := t.execOne(ctx, notFound("user %d", userID),
		"UPDATE users SET disabled = ? WHERE id = ?", boolInt(disabled), userID)
	return wrapUpdate(err, "set disabled of user %d", userID)
}

// SetUserRole implements rampart.UserTx.
func (t *tx) SetUserRole(ctx context.Context, userID int64, role string) error {
	err := t.execOne(ctx, notFound("user %d", userID),
		"UPDATE users SET role = ? WHERE id = ?", role, userID)
	return wrapUpdate(err, "set role of user %d", userID)
}

// wrapUpdate adds what was being done to a database error, and leaves a *rampart.Error (such as
// execOne's not-found) as it is: its message already says what happened.
func wrapUpdate(err error, format string, args ...any) error {
	var re *rampart.Error
	if err == nil || errors.As(err, &re) {
		return err
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// SetUserIdentities implements rampart.UserTx.
func (t *tx) SetUserIdentities(ctx context.Context, userID int64, identities []string) error {
	if _, err := t.exec(ctx, "DELETE FROM user_identities WHERE user_id = ?", userID); err != nil {
		return fmt.Errorf("clear identities of user %d: %w", userID, err)
	}
	for _, id := range identities {
		_, err := t.exec(ctx, "INSERT INTO user_identities (user_id, identity) VALUES (?, ?)", userID, id)
		switch {
		case isUnique(err):
			return rampart.Errorf(rampart.ECONFLICT, "the identity %q belongs to another user", id).
				WithDetail("an identity links one user only: remove it from the other user first (rampart user identities OTHER --set …)")
		case isForeignKey(err):
			return notFound("user %d", userID)
		case err != nil:
			return fmt.Errorf("add identity of user %d: %w", userID, err)
		}
	}
	return nil
}

// UserIdentities implements rampart.UserTx.
func (t *tx) UserIdentities(ctx context.Context, userID int64) ([]string, error) {
	rows, err := t.query(ctx, "SELECT identity FROM user_identities WHERE user_id = ? ORDER BY identity", userID)
	if err != nil {
		return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("list identities of user %d: %w", userID, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
