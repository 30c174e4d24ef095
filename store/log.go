package store

import (
	"context"
	"fmt"

	"github.com/rampart-ci/rampart"
)

// AppendLog implements rampart.LogTx. The first chunk stored under a sequence number stays, and
// a later one with the same number is ignored whatever its data. A sequence number below 1 is
// EINVALID and an unknown job ENOTFOUND.
func (t *tx) AppendLog(ctx context.Context, c *rampart.LogChunk) error {
	if c.Seq < 1 {
		return rampart.Errorf(rampart.EINVALID, "log chunk sequence number %d of job %d is below 1", c.Seq, c.JobID)
	}
	_, err := t.exec(ctx, `INSERT INTO log_chunks (job_id, seq, data, created_at) VALUES (?, ?, ?, ?)
ON CONFLICT (job_id, seq) DO NOTHING`, c.JobID, c.Seq, nonNil(c.Data), micros(c.CreatedAt))
	switch {
	case isForeignKey(err):
		return notFound("job %d", c.JobID)
	case err != nil:
		return fmt.Errorf("append log chunk %d of job %d: %w", c.Seq, c.JobID, err)
	}
	return nil
}

// ListLogs implements rampart.LogTx. A negative limit is EINVALID. Empty data reads back as an
// empty, non-nil slice.
func (t *tx) ListLogs(ctx context.Context, jobID, afterSeq int64, limit int) ([]*rampart.LogChunk, error) {
	if limit < 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "negative log chunk limit %d", limit)
	}
	q := "SELECT job_id, seq, data, created_at FROM log_chunks WHERE job_id = ? AND seq > ? ORDER BY seq"
	args := []any{jobID, afterSeq}
	if limit > 0 {
		q += " LIMIT ?"
		args = append(args, limit)
	}
	scan := func(s scanner) (*rampart.LogChunk, error) {
		var (
			c         rampart.LogChunk
			createdAt int64
		)
		if err := s.Scan(&c.JobID, &c.Seq, &c.Data, &createdAt); err != nil {
			return nil, err
		}
		c.Data = nonNil(c.Data)
		c.CreatedAt = fromMicros(createdAt)
		return &c, nil
	}
	cs, err := queryAll(ctx, t, scan, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list log chunks of job %d after %d: %w", jobID, afterSeq, err)
	}
	return cs, nil
}

// nonNil returns b, or an empty slice for nil: the drivers store a nil slice as NULL and may read
// an empty value back as nil.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
