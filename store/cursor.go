package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Cursor implements rampart.CursorTx.
func (t *tx) Cursor(ctx context.Context, key string) (string, error) {
	var value string
	err := t.queryRow(ctx, "SELECT value FROM cursors WHERE key = ?", key).Scan(&value)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("select cursor %q: %w", key, err)
	}
	return value, nil
}

// SetCursor implements rampart.CursorTx. Setting "" is allowed and reads back as a missing key
// does.
func (t *tx) SetCursor(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, "INSERT INTO cursors (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	if err != nil {
		return fmt.Errorf("set cursor %q: %w", key, err)
	}
	return nil
}
