package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/rampart-ci/rampart"
)

// tx is the rampart.Tx that Update and View pass to their functions. Its queries are written
// with ? placeholders and rebound for the dialect as they run.
type tx struct {
	tx       *sql.Tx
	dialect  dialect
	readOnly bool
}

func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.dialect.rebind(query), args...)
}

func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.dialect.rebind(query), args...)
}

func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.dialect.rebind(query), args...)
}

// execOne runs a statement meant to change exactly one row and returns notFound when it
// changed none.
func (t *tx) execOne(ctx context.Context, notFound *rampart.Error, query string, args ...any) error {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// execCount runs a statement and returns how many rows it changed.
func (t *tx) execCount(ctx context.Context, query string, args ...any) (int, error) {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs query and scans each row with scan.
func queryAll[T any](ctx context.Context, t *tx, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := t.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// notFound returns a not-found error naming what was missing, e.g. notFound("user %q", name).
func notFound(format string, args ...any) *rampart.Error {
	return rampart.Errorf(rampart.ENOTFOUND, "%s not found", fmt.Sprintf(format, args...))
}

var _ rampart.Tx = (*tx)(nil)

// Lists of strings (a job's needs and labels, an agent's labels) are stored as JSON arrays. An
// empty list is stored as "[]" and, like a nil one, reads back as nil.

func marshalList(list []string) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

func unmarshalList(text string) ([]string, error) {
	var list []string
	if err := json.Unmarshal([]byte(text), &list); err != nil {
		return nil, fmt.Errorf("decode list %q: %w", text, err)
	}
	if len(list) == 0 {
		return nil, nil
	}
	return list, nil
}
