package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
)

const reviewSelect = `SELECT host, repository, kind, number, title, url, author, author_id, reviewer, reviewer_id,
review_id, actor, commit_sha, commit_inferred, merge_commit_sha, base_branch, head_branch, head_repo_fork, at
FROM review_events`

func scanReviewEvent(s scanner) (*rampart.ReviewEvent, error) {
	var (
		e              rampart.ReviewEvent
		inferred, fork int64
		at             sql.NullInt64
	)
	if err := s.Scan(&e.Host, &e.Repository, &e.Kind, &e.Number, &e.Title, &e.URL, &e.Author, &e.AuthorID, &e.Reviewer,
		&e.ReviewerID, &e.ReviewID, &e.Actor, &e.CommitSHA, &inferred, &e.MergeCommitSHA, &e.BaseBranch, &e.HeadBranch,
		&fork, &at); err != nil {
		return nil, err
	}
	e.CommitInferred, e.HeadRepoFork = inferred != 0, fork != 0
	if at.Valid {
		e.At = fromMicros(at.Int64)
	}
	return &e, nil
}

// reviewDigest is the key that de-duplicates review events: the SHA-256 of the event's JSON,
// with its time as the store keeps it, so that an event read back and added again is a copy.
func reviewDigest(e *rampart.ReviewEvent) (string, error) {
	c := *e
	if !c.At.IsZero() {
		c.At = c.At.UTC().Truncate(time.Microsecond)
	}
	b, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// AddReviewEvent implements rampart.ReviewTx.
func (t *tx) AddReviewEvent(ctx context.Context, projectID int64, e *rampart.ReviewEvent) (bool, error) {
	digest, err := reviewDigest(e)
	if err != nil {
		return false, fmt.Errorf("digest review event: %w", err)
	}
	var at sql.NullInt64
	if !e.At.IsZero() {
		at = sql.NullInt64{Int64: micros(e.At), Valid: true}
	}
	var id int64
	err = t.queryRow(ctx, `INSERT INTO review_events (project_id, digest, host, repository, kind, number, title, url, author,
author_id, reviewer, reviewer_id, review_id, actor, commit_sha, commit_inferred, merge_commit_sha, base_branch, head_branch,
head_repo_fork, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (project_id, digest) DO NOTHING RETURNING id`,
		projectID, digest, e.Host, e.Repository, e.Kind, e.Number, e.Title, e.URL, e.Author, e.AuthorID, e.Reviewer,
		e.ReviewerID, e.ReviewID, e.Actor, e.CommitSHA, boolInt(e.CommitInferred), e.MergeCommitSHA, e.BaseBranch,
		e.HeadBranch, boolInt(e.HeadRepoFork), at).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows): // the same event is stored already
		return false, nil
	case isForeignKey(err):
		return false, notFound("project %d", projectID)
	case err != nil:
		return false, fmt.Errorf("insert review event of project %d: %w", projectID, err)
	}
	return true, nil
}

// ReviewEvents implements rampart.ReviewTx.
func (t *tx) ReviewEvents(ctx context.Context, projectID int64, commit string) ([]*rampart.ReviewEvent, error) {
	if commit == "" {
		return nil, nil
	}
	es, err := queryAll(ctx, t, scanReviewEvent, reviewSelect+` WHERE project_id = ? AND (host, repository, number) IN (
SELECT host, repository, number FROM review_events WHERE project_id = ? AND (commit_sha = ? OR merge_commit_sha = ?))
ORDER BY id`, projectID, projectID, commit, commit)
	if err != nil {
		return nil, fmt.Errorf("list review events of commit %s: %w", commit, err)
	}
	return es, nil
}

// ListReviewEvents implements rampart.ReviewTx.
func (t *tx) ListReviewEvents(ctx context.Context, projectID int64, limit int) ([]*rampart.ReviewEvent, error) {
	q, args := reviewSelect+" WHERE project_id = ? ORDER BY id DESC", []any{projectID}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	es, err := queryAll(ctx, t, scanReviewEvent, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list review events of project %d: %w", projectID, err)
	}
	return es, nil
}

const pushCheckSelect = "SELECT id, project_id, branch, commit_sha, pusher, due_at, created_at FROM push_checks"

func scanPushCheck(s scanner) (*rampart.PushCheck, error) {
	var (
		c            rampart.PushCheck
		due, created int64
	)
	if err := s.Scan(&c.ID, &c.ProjectID, &c.Branch, &c.Commit, &c.Pusher, &due, &created); err != nil {
		return nil, err
	}
	c.DueAt, c.CreatedAt = fromMicros(due), fromMicros(created)
	return &c, nil
}

// AddPushCheck implements rampart.ReviewTx.
func (t *tx) AddPushCheck(ctx context.Context, c *rampart.PushCheck) (bool, error) {
	err := t.queryRow(ctx, `INSERT INTO push_checks (project_id, branch, commit_sha, pusher, due_at, created_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, branch, commit_sha) DO NOTHING RETURNING id`,
		c.ProjectID, c.Branch, c.Commit, c.Pusher, micros(c.DueAt), micros(c.CreatedAt)).Scan(&c.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case isForeignKey(err):
		return false, notFound("project %d", c.ProjectID)
	case err != nil:
		return false, fmt.Errorf("insert push check of %s: %w", c.Branch, err)
	}
	return true, nil
}

// DuePushChecks implements rampart.ReviewTx.
func (t *tx) DuePushChecks(ctx context.Context, now time.Time, limit int) ([]*rampart.PushCheck, error) {
	q, args := pushCheckSelect+" WHERE due_at <= ? ORDER BY due_at, id", []any{micros(now)}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	cs, err := queryAll(ctx, t, scanPushCheck, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list due push checks: %w", err)
	}
	return cs, nil
}

// DeletePushCheck implements rampart.ReviewTx.
func (t *tx) DeletePushCheck(ctx context.Context, id int64) error {
	err := t.execOne(ctx, notFound("push check %d", id), "DELETE FROM push_checks WHERE id = ?", id)
	return wrapUpdate(err, "delete push check %d", id)
}

const violationSelect = "SELECT id, project_id, kind, ref, commit_sha, detail, created_at FROM violations"

func scanViolation(s scanner) (*rampart.Violation, error) {
	var (
		v       rampart.Violation
		created int64
	)
	if err := s.Scan(&v.ID, &v.ProjectID, &v.Kind, &v.Ref, &v.Commit, &v.Detail, &created); err != nil {
		return nil, err
	}
	v.CreatedAt = fromMicros(created)
	return &v, nil
}

// AddViolation implements rampart.ReviewTx.
func (t *tx) AddViolation(ctx context.Context, v *rampart.Violation) (bool, error) {
	err := t.queryRow(ctx, `INSERT INTO violations (project_id, kind, ref, commit_sha, detail, created_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, kind, ref, commit_sha) DO NOTHING RETURNING id`,
		v.ProjectID, v.Kind, v.Ref, v.Commit, v.Detail, micros(v.CreatedAt)).Scan(&v.ID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case isForeignKey(err):
		return false, notFound("project %d", v.ProjectID)
	case err != nil:
		return false, fmt.Errorf("insert violation on %s: %w", v.Ref, err)
	}
	return true, nil
}

// ListViolations implements rampart.ReviewTx.
func (t *tx) ListViolations(ctx context.Context, projectID int64, limit int) ([]*rampart.Violation, error) {
	q, args := violationSelect+" WHERE project_id = ? ORDER BY id DESC", []any{projectID}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	vs, err := queryAll(ctx, t, scanViolation, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list violations of project %d: %w", projectID, err)
	}
	return vs, nil
}
