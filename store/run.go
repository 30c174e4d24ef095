package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/rampart-ci/rampart"
)

const runSelect = `SELECT r.id, r.project_id, p.name, r.number, r.event, r.ref, r.branch, r.tag, r.commit_sha,
r.pull_request, r.from_fork, r.triggered_by, r.status, r.reason, r.created_at, r.started_at, r.finished_at,
r.security_fix, r.incident, r.rollback_of
FROM runs r JOIN projects p ON p.id = r.project_id`

func scanRun(s scanner) (*rampart.Run, error) {
	var (
		r                   rampart.Run
		fromFork, secFix    int64
		createdAt           int64
		startedAt, finished sql.NullInt64
	)
	if err := s.Scan(&r.ID, &r.ProjectID, &r.Project, &r.Number, &r.Event, &r.Ref, &r.Branch, &r.Tag, &r.Commit,
		&r.PullRequest, &fromFork, &r.TriggeredBy, &r.Status, &r.Reason, &createdAt, &startedAt, &finished,
		&secFix, &r.Incident, &r.RollbackOf); err != nil {
		return nil, err
	}
	r.FromFork, r.SecurityFix = fromFork != 0, secFix != 0
	r.CreatedAt = fromMicros(createdAt)
	r.StartedAt, r.FinishedAt = fromNullMicros(startedAt), fromNullMicros(finished)
	return &r, nil
}

// CreateRun implements rampart.RunTx. It also sets r.Project to the project's name. An unknown
// project is ENOTFOUND.
//
// The number is the project's highest plus one. Update transactions are serialised, and on
// PostgreSQL the project's row is locked as well, so that two transactions never pick one number
// even without the Update lock; the unique (project_id, number) constraint is the last guard.
func (t *tx) CreateRun(ctx context.Context, r *rampart.Run) error {
	var name string
	err := t.queryRow(ctx, "SELECT name FROM projects WHERE id = ?"+t.dialect.forUpdate(t.readOnly), r.ProjectID).Scan(&name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return notFound("project %d", r.ProjectID)
	case err != nil:
		return fmt.Errorf("create run of project %d: %w", r.ProjectID, err)
	}
	var number int64
	if err := t.queryRow(ctx, "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE project_id = ?", r.ProjectID).Scan(&number); err != nil {
		return fmt.Errorf("number run of project %d: %w", r.ProjectID, err)
	}
	var id int64
	err = t.queryRow(ctx, `INSERT INTO runs (project_id, number, event, ref, branch, tag, commit_sha, pull_request, from_fork,
triggered_by, status, reason, created_at, started_at, finished_at, security_fix, incident, rollback_of)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		r.ProjectID, number, r.Event, r.Ref, r.Branch, r.Tag, r.Commit, r.PullRequest, boolInt(r.FromFork),
		r.TriggeredBy, r.Status, r.Reason, micros(r.CreatedAt), nullMicros(r.StartedAt), nullMicros(r.FinishedAt),
		boolInt(r.SecurityFix), r.Incident, r.RollbackOf).Scan(&id)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "run %d of project %q already exists", number, name)
	case err != nil:
		return fmt.Errorf("insert run of project %d: %w", r.ProjectID, err)
	}
	r.ID, r.Number, r.Project = id, number, name
	return nil
}

// RunByID implements rampart.RunTx.
func (t *tx) RunByID(ctx context.Context, id int64) (*rampart.Run, error) {
	r, err := scanRun(t.queryRow(ctx, runSelect+" WHERE r.id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("run %d", id)
	case err != nil:
		return nil, fmt.Errorf("select run %d: %w", id, err)
	}
	return r, nil
}

// RunByNumber implements rampart.RunTx.
func (t *tx) RunByNumber(ctx context.Context, projectID, number int64) (*rampart.Run, error) {
	r, err := scanRun(t.queryRow(ctx, runSelect+" WHERE r.project_id = ? AND r.number = ?", projectID, number))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("run %d of project %d", number, projectID)
	case err != nil:
		return nil, fmt.Errorf("select run %d of project %d: %w", number, projectID, err)
	}
	return r, nil
}

// ListRuns implements rampart.RunTx. Newest means highest id. BeforeID selects runs with a lower
// id, for the next page after a page ending with that run. A negative Limit is EINVALID.
func (t *tx) ListRuns(ctx context.Context, f rampart.RunFilter) ([]*rampart.Run, error) {
	if f.Limit < 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "negative run list limit %d", f.Limit)
	}
	q := runSelect + " WHERE 1 = 1"
	var args []any
	if f.ProjectID != 0 {
		q += " AND r.project_id = ?"
		args = append(args, f.ProjectID)
	}
	if f.BeforeID != 0 {
		q += " AND r.id < ?"
		args = append(args, f.BeforeID)
	}
	q += " ORDER BY r.id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rs, err := queryAll(ctx, t, scanRun, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs of project %d: %w", f.ProjectID, err)
	}
	return rs, nil
}

// UpdateRun implements rampart.RunTx.
func (t *tx) UpdateRun(ctx context.Context, r *rampart.Run) error {
	err := t.execOne(ctx, notFound("run %d", r.ID),
		"UPDATE runs SET status = ?, reason = ?, started_at = ?, finished_at = ? WHERE id = ?",
		r.Status, r.Reason, nullMicros(r.StartedAt), nullMicros(r.FinishedAt), r.ID)
	return wrapUpdate(err, "update run %d", r.ID)
}

// ActiveRuns implements rampart.RunTx. Oldest means lowest id.
func (t *tx) ActiveRuns(ctx context.Context) ([]*rampart.Run, error) {
	rs, err := queryAll(ctx, t, scanRun, runSelect+" WHERE r.status IN (?, ?) ORDER BY r.id",
		rampart.StatusQueued, rampart.StatusRunning)
	if err != nil {
		return nil, fmt.Errorf("list active runs: %w", err)
	}
	return rs, nil
}
