package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
)

const jobSelect = `SELECT id, run_id, project_id, name, status, needs, labels, spec, deploys, priority, attempt,
agent_id, fence, token_hash, lease_expires_at, cancel_requested, exit_code, reason, created_at, started_at, finished_at
FROM jobs`

func scanJob(s scanner) (*rampart.Job, error) {
	var (
		j                            rampart.Job
		needs, labels                string
		deploys, cancel              int64
		tokenHash                    sql.NullString
		createdAt                    int64
		lease, startedAt, finishedAt sql.NullInt64
	)
	if err := s.Scan(&j.ID, &j.RunID, &j.ProjectID, &j.Name, &j.Status, &needs, &labels, &j.Spec, &deploys, &j.Priority, &j.Attempt,
		&j.AgentID, &j.Fence, &tokenHash, &lease, &cancel, &j.ExitCode, &j.Reason, &createdAt, &startedAt, &finishedAt); err != nil {
		return nil, err
	}
	var err error
	if j.Needs, err = unmarshalList(needs); err != nil {
		return nil, fmt.Errorf("job %d needs: %w", j.ID, err)
	}
	if j.Labels, err = unmarshalList(labels); err != nil {
		return nil, fmt.Errorf("job %d labels: %w", j.ID, err)
	}
	j.Deploys, j.CancelRequested = deploys != 0, cancel != 0
	j.TokenHash = tokenHash.String
	j.LeaseExpiresAt = fromNullMicros(lease)
	j.CreatedAt = fromMicros(createdAt)
	j.StartedAt, j.FinishedAt = fromNullMicros(startedAt), fromNullMicros(finishedAt)
	return &j, nil
}

// nullString stores "" as NULL, for columns where only real values must be unique.
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// CreateJob implements rampart.JobTx. An unknown run or project is ENOTFOUND; a token hash held
// by another job is ECONFLICT.
func (t *tx) CreateJob(ctx context.Context, j *rampart.Job) error {
	needs, err := marshalList(j.Needs)
	if err != nil {
		return fmt.Errorf("create job %q: needs: %w", j.Name, err)
	}
	labels, err := marshalList(j.Labels)
	if err != nil {
		return fmt.Errorf("create job %q: labels: %w", j.Name, err)
	}
	err = t.queryRow(ctx, `INSERT INTO jobs (run_id, project_id, name, status, needs, labels, spec, deploys, priority, attempt,
agent_id, fence, token_hash, lease_expires_at, cancel_requested, exit_code, reason, created_at, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		j.RunID, j.ProjectID, j.Name, j.Status, needs, labels, j.Spec, boolInt(j.Deploys), j.Priority, j.Attempt,
		j.AgentID, j.Fence, nullString(j.TokenHash), nullMicros(j.LeaseExpiresAt), boolInt(j.CancelRequested), j.ExitCode, j.Reason,
		micros(j.CreatedAt), nullMicros(j.StartedAt), nullMicros(j.FinishedAt)).Scan(&j.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "a job with this token already exists")
	case isForeignKey(err):
		return notFound("run %d or project %d", j.RunID, j.ProjectID)
	case err != nil:
		return fmt.Errorf("insert job %q of run %d: %w", j.Name, j.RunID, err)
	}
	return nil
}

// JobByID implements rampart.JobTx.
func (t *tx) JobByID(ctx context.Context, id int64) (*rampart.Job, error) {
	j, err := scanJob(t.queryRow(ctx, jobSelect+" WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("job %d", id)
	case err != nil:
		return nil, fmt.Errorf("select job %d: %w", id, err)
	}
	return j, nil
}

// JobByTokenHash implements rampart.JobTx. The empty hash finds no job.
func (t *tx) JobByTokenHash(ctx context.Context, hash string) (*rampart.Job, error) {
	if hash == "" {
		return nil, notFound("job token")
	}
	j, err := scanJob(t.queryRow(ctx, jobSelect+" WHERE token_hash = ?", hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The hash is not named: it stands for a secret.
		return nil, notFound("job token")
	case err != nil:
		return nil, fmt.Errorf("select job by token hash: %w", err)
	}
	return j, nil
}

// ListJobs implements rampart.JobTx. Creation order is id order.
func (t *tx) ListJobs(ctx context.Context, runID int64) ([]*rampart.Job, error) {
	js, err := queryAll(ctx, t, scanJob, jobSelect+" WHERE run_id = ? ORDER BY id", runID)
	if err != nil {
		return nil, fmt.Errorf("list jobs of run %d: %w", runID, err)
	}
	return js, nil
}

// UpdateJob implements rampart.JobTx. A token hash held by another job is ECONFLICT.
func (t *tx) UpdateJob(ctx context.Context, j *rampart.Job) error {
	err := t.execOne(ctx, notFound("job %d", j.ID), `UPDATE jobs SET status = ?, attempt = ?, agent_id = ?, fence = ?,
token_hash = ?, lease_expires_at = ?, cancel_requested = ?, exit_code = ?, reason = ?, started_at = ?, finished_at = ?
WHERE id = ?`,
		j.Status, j.Attempt, j.AgentID, j.Fence, nullString(j.TokenHash), nullMicros(j.LeaseExpiresAt), boolInt(j.CancelRequested),
		j.ExitCode, j.Reason, nullMicros(j.StartedAt), nullMicros(j.FinishedAt), j.ID)
	if isUnique(err) {
		return rampart.Errorf(rampart.ECONFLICT, "another job holds this token")
	}
	return wrapUpdate(err, "update job %d", j.ID)
}

// QueuedJobs implements rampart.JobTx. Oldest means lowest id. A limit of 0 returns no jobs; a
// negative one is EINVALID. In a View nothing is locked.
func (t *tx) QueuedJobs(ctx context.Context, limit int) ([]*rampart.Job, error) {
	switch {
	case limit < 0:
		return nil, rampart.Errorf(rampart.EINVALID, "negative queued job limit %d", limit)
	case limit == 0:
		return nil, nil
	}
	js, err := queryAll(ctx, t, scanJob, jobSelect+" WHERE status = ? ORDER BY priority DESC, id LIMIT ?"+
		t.dialect.forUpdateSkipLocked(t.readOnly), rampart.StatusQueued, limit)
	if err != nil {
		return nil, fmt.Errorf("list queued jobs: %w", err)
	}
	return js, nil
}

// ExpiredLeases implements rampart.JobTx, oldest lease first. A lease ending exactly at now has
// ended, as a token expiring at now is no longer active. On PostgreSQL an Update locks the rows,
// so that a heartbeat extending a lease meanwhile is either seen or waits.
func (t *tx) ExpiredLeases(ctx context.Context, now time.Time) ([]*rampart.Job, error) {
	js, err := queryAll(ctx, t, scanJob, jobSelect+" WHERE status = ? AND lease_expires_at <= ? ORDER BY lease_expires_at, id"+
		t.dialect.forUpdate(t.readOnly), rampart.StatusRunning, micros(now))
	if err != nil {
		return nil, fmt.Errorf("list expired leases: %w", err)
	}
	return js, nil
}

// RunningJobsOfAgent implements rampart.JobTx, in id order.
func (t *tx) RunningJobsOfAgent(ctx context.Context, agentID int64) ([]*rampart.Job, error) {
	js, err := queryAll(ctx, t, scanJob, jobSelect+" WHERE agent_id = ? AND status = ? ORDER BY id", agentID, rampart.StatusRunning)
	if err != nil {
		return nil, fmt.Errorf("list running jobs of agent %d: %w", agentID, err)
	}
	return js, nil
}
