package store

import (
	"context"
	"fmt"

	"github.com/rampart-ci/rampart"
)

// AuditHead implements rampart.AuditTx. In an Update transaction on PostgreSQL it locks the head
// row; on SQLite the transaction's write lock already excludes other appenders. In a View it
// only reads.
func (t *tx) AuditHead(ctx context.Context) (seq int64, hash string, err error) {
	err = t.queryRow(ctx, "SELECT seq, hash FROM audit_head WHERE id = 1"+t.dialect.forUpdate(t.readOnly)).Scan(&seq, &hash)
	if err != nil {
		// The migration creates the row, so a missing one is damage, not an empty log.
		return 0, "", fmt.Errorf("read audit head: %w", err)
	}
	return seq, hash, nil
}

// InsertAudit implements rampart.AuditTx. It refuses an event that does not directly follow the
// current head (sequence number and previous hash), so that a caller that skipped AuditHead
// cannot fork or break the chain.
func (t *tx) InsertAudit(ctx context.Context, e *rampart.AuditEvent) error {
	res, err := t.exec(ctx, "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?",
		e.Seq, e.Hash, e.Seq-1, e.PrevHash)
	if err != nil {
		return fmt.Errorf("advance audit head to %d: %w", e.Seq, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("advance audit head to %d: %w", e.Seq, err)
	} else if n != 1 {
		return fmt.Errorf("audit event %d does not follow the chain head", e.Seq)
	}
	_, err = t.exec(ctx, `INSERT INTO audit_events (seq, time, actor, action, target, source, result, detail, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, micros(e.Time), e.Actor, e.Action, e.Target, e.Source, e.Result, e.Detail, e.PrevHash, e.Hash)
	if err != nil {
		return fmt.Errorf("insert audit event %d: %w", e.Seq, err)
	}
	return nil
}

// ListAudit implements rampart.AuditTx. A negative Limit is EINVALID.
func (t *tx) ListAudit(ctx context.Context, f rampart.AuditFilter) ([]*rampart.AuditEvent, error) {
	if f.Limit < 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "negative audit list limit %d", f.Limit)
	}
	q := `SELECT seq, time, actor, action, target, source, result, detail, prev_hash, hash
FROM audit_events WHERE seq > ? ORDER BY seq`
	args := []any{f.AfterSeq}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	scan := func(s scanner) (*rampart.AuditEvent, error) {
		var (
			e  rampart.AuditEvent
			at int64
		)
		if err := s.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Target, &e.Source, &e.Result, &e.Detail, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		e.Time = fromMicros(at)
		return &e, nil
	}
	es, err := queryAll(ctx, t, scan, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events after %d: %w", f.AfterSeq, err)
	}
	return es, nil
}
