// Package audit keeps Rampart's audit log: an append-only chain of events in which each entry's
// hash covers the one before it, so that editing, deleting or reordering any row directly in the
// database is found by Verify. Changes append their event in the same transaction as the change
// itself, so that if the audit write fails, the change fails too.
package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/rampart-ci/rampart"
)

// Event returns an audit event for an action taken by actor on target. A nil actor is recorded as
// "anonymous".
func Event(actor *rampart.Actor, action, target, result string) *rampart.AuditEvent {
	e := &rampart.AuditEvent{Actor: "anonymous", Action: action, Target: target, Result: result}
	if actor != nil {
		e.Actor, e.Source = actor.Name, actor.Source
	}
	return e
}

// Append adds e to the chain within tx, filling in its sequence number, time, previous hash and
// hash. It must run inside an Update transaction: the head lock it takes serialises appends.
func Append(ctx context.Context, tx rampart.AuditTx, e *rampart.AuditEvent, now time.Time) error {
	seq, prev, err := tx.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("read audit head: %w", err)
	}
	e.Seq = seq + 1
	// The store keeps microseconds; hash what will be read back.
	e.Time = now.UTC().Truncate(time.Microsecond)
	e.PrevHash = prev
	e.Hash = Hash(e)
	if err := tx.InsertAudit(ctx, e); err != nil {
		return fmt.Errorf("append audit event %d (%s): %w", e.Seq, e.Action, err)
	}
	return nil
}

// Record appends e in a transaction of its own. It is for events that are not part of a change —
// a denied request, a failed sign-in — and it detaches from ctx's cancellation so that a client
// hanging up cannot prevent its own denial from being recorded.
func Record(ctx context.Context, store rampart.Store, e *rampart.AuditEvent, now time.Time) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return store.Update(ctx, func(tx rampart.Tx) error { return Append(ctx, tx, e, now) })
}

// hashed is the canonical form of an event: fixed field order, UTC time with microseconds.
type hashed struct {
	Seq      int64  `json:"seq"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	Action   string `json:"action"`
	Target   string `json:"target"`
	Source   string `json:"source"`
	Result   string `json:"result"`
	Detail   string `json:"detail"`
	PrevHash string `json:"prev_hash"`
}

// Hash returns the hex SHA-256 of e's canonical form, which includes the previous event's hash.
func Hash(e *rampart.AuditEvent) string {
	b, err := json.Marshal(hashed{
		Seq: e.Seq, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"),
		Actor: e.Actor, Action: e.Action, Target: e.Target, Source: e.Source,
		Result: e.Result, Detail: e.Detail, PrevHash: e.PrevHash,
	})
	if err != nil {
		// Marshalling a struct of strings and an int cannot fail.
		panic(fmt.Sprintf("audit: marshal event: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Report is the outcome of Verify.
type Report struct {
	OK      bool  `json:"ok"`
	Events  int64 `json:"events"`   // events checked
	HeadSeq int64 `json:"head_seq"` // sequence number the chain head records
	// BrokenSeq is the first entry that does not fit the chain (0 when OK), and Reason says how.
	BrokenSeq int64  `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

// pageSize bounds memory while verifying a long log.
const pageSize = 1000

// Verify walks the whole chain and reports the first entry that was edited, deleted, inserted or
// moved: a sequence gap, a hash that does not match the entry's content, a previous-hash link that
// does not match its predecessor, or a chain that ends before or after its recorded head. Events
// appended while it runs are verified too.
func Verify(ctx context.Context, store rampart.Store) (*Report, error) {
	rep := &Report{}
	var (
		prevSeq  int64
		prevHash string
	)
	for {
		var (
			page     []*rampart.AuditEvent
			headHash string
		)
		// The head is read with each page so that the last, short page and the head are one
		// snapshot: events appended meanwhile are then part of both or of neither.
		err := store.View(ctx, func(tx rampart.Tx) error {
			var err error
			if rep.HeadSeq, headHash, err = tx.AuditHead(ctx); err != nil {
				return err
			}
			page, err = tx.ListAudit(ctx, rampart.AuditFilter{AfterSeq: prevSeq, Limit: pageSize})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("verify audit chain after entry %d: %w", prevSeq, err)
		}
		for _, e := range page {
			switch {
			case e.Seq != prevSeq+1:
				return rep.broken(prevSeq+1, fmt.Sprintf("entry %d is missing (the next entry is %d): deleted or renumbered", prevSeq+1, e.Seq)), nil
			case e.PrevHash != prevHash:
				return rep.broken(e.Seq, fmt.Sprintf("entry %d does not link to entry %d: entries were reordered, deleted or inserted", e.Seq, prevSeq)), nil
			case Hash(e) != e.Hash:
				return rep.broken(e.Seq, fmt.Sprintf("entry %d was modified: its content does not match its hash", e.Seq)), nil
			}
			prevSeq, prevHash = e.Seq, e.Hash
			rep.Events++
		}
		if len(page) == pageSize {
			continue
		}
		switch {
		case prevSeq < rep.HeadSeq:
			return rep.broken(prevSeq+1, fmt.Sprintf("the chain ends at entry %d but its head records %d: the last entries were deleted", prevSeq, rep.HeadSeq)), nil
		case prevSeq > rep.HeadSeq:
			return rep.broken(rep.HeadSeq+1, fmt.Sprintf("entries after the recorded head %d exist: they were written outside Rampart", rep.HeadSeq)), nil
		case prevHash != headHash:
			return rep.broken(prevSeq, fmt.Sprintf("entry %d does not match the hash its head records: it was replaced", prevSeq)), nil
		}
		rep.OK = true
		return rep, nil
	}
}

func (r *Report) broken(seq int64, reason string) *Report {
	r.BrokenSeq, r.Reason = seq, reason
	return r
}

// Export writes every event after afterSeq to w as JSON lines, in sequence order, for SIEM import.
func Export(ctx context.Context, store rampart.Store, afterSeq int64, w io.Writer) error {
	enc := json.NewEncoder(w)
	for {
		var page []*rampart.AuditEvent
		err := store.View(ctx, func(tx rampart.Tx) error {
			var err error
			page, err = tx.ListAudit(ctx, rampart.AuditFilter{AfterSeq: afterSeq, Limit: pageSize})
			return err
		})
		if err != nil {
			return fmt.Errorf("export audit log after %d: %w", afterSeq, err)
		}
		for _, e := range page {
			if err := enc.Encode(e); err != nil {
				return fmt.Errorf("export audit event %d: %w", e.Seq, err)
			}
			afterSeq = e.Seq
		}
		if len(page) < pageSize {
			return nil
		}
	}
}

// Denied records that actor was refused action on target and returns err, the refusal, so that a
// service can write `return audit.Denied(...)`. A failure to record is returned instead: a refusal
// that cannot be audited is still a refusal, but the operator must know the log is failing.
func Denied(ctx context.Context, store rampart.Store, actor *rampart.Actor, action, target string, err error, now time.Time) error {
	e := Event(actor, action, target, rampart.ResultDenied)
	e.Detail = rampart.ErrorMessage(err)
	if rerr := Record(ctx, store, e, now); rerr != nil {
		return fmt.Errorf("%w (and recording the refusal failed: %v)", err, rerr)
	}
	return err
}
