package store

import (
	"context"
	"fmt"
	"time"
)

// RecordLoginFailure implements rampart.LoginFailureTx.
func (t *tx) RecordLoginFailure(ctx context.Context, user, source string, at time.Time) error {
	if _, err := t.exec(ctx, "INSERT INTO login_failures (user_name, source, at) VALUES (?, ?, ?)", user, source, micros(at)); err != nil {
		return fmt.Errorf("record login failure of user %q from %s: %w", user, source, err)
	}
	return nil
}

// CountLoginFailures implements rampart.LoginFailureTx. since is inclusive.
func (t *tx) CountLoginFailures(ctx context.Context, user, source string, since time.Time) (byUser, bySource int, err error) {
	// Two subqueries rather than one scan with CASE, so that each uses its own index.
	err = t.queryRow(ctx, `SELECT
	(SELECT COUNT(*) FROM login_failures WHERE user_name = ? AND at >= ?),
	(SELECT COUNT(*) FROM login_failures WHERE source = ? AND at >= ?)`,
		user, micros(since), source, micros(since)).Scan(&byUser, &bySource)
	if err != nil {
		return 0, 0, fmt.Errorf("count login failures of user %q and from %s: %w", user, source, err)
	}
	return byUser, bySource, nil
}

// ClearLoginFailures implements rampart.LoginFailureTx.
func (t *tx) ClearLoginFailures(ctx context.Context, user string, before time.Time) error {
	if _, err := t.exec(ctx, "DELETE FROM login_failures WHERE user_name = ? OR at < ?", user, micros(before)); err != nil {
		return fmt.Errorf("clear login failures of user %q: %w", user, err)
	}
	return nil
}
