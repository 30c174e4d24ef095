package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/rampart-ci/rampart"
)

const envSelect = "SELECT id, project_id, name, protection, created_at, updated_at FROM environments"

func scanEnvironment(s scanner) (*rampart.Environment, error) {
	var (
		e                rampart.Environment
		protection       string
		created, updated int64
	)
	if err := s.Scan(&e.ID, &e.ProjectID, &e.Name, &protection, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(protection), &e.Protection); err != nil {
		return nil, fmt.Errorf("decode protection of environment %d: %w", e.ID, err)
	}
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &e, nil
}

// CreateEnvironment implements rampart.DeployTx.
func (t *tx) CreateEnvironment(ctx context.Context, e *rampart.Environment) error {
	prot, err := json.Marshal(e.Protection)
	if err != nil {
		return fmt.Errorf("encode protection of %s: %w", e.Name, err)
	}
	err = t.queryRow(ctx, `INSERT INTO environments (project_id, name, protection, created_at, updated_at)
VALUES (?, ?, ?, ?, ?) RETURNING id`, e.ProjectID, e.Name, string(prot), micros(e.CreatedAt), micros(e.UpdatedAt)).Scan(&e.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "environment %q already exists", e.Name)
	case isForeignKey(err):
		return notFound("project %d", e.ProjectID)
	case err != nil:
		return fmt.Errorf("insert environment %s: %w", e.Name, err)
	}
	return nil
}

// EnvironmentByName implements rampart.DeployTx.
func (t *tx) EnvironmentByName(ctx context.Context, projectID int64, name string) (*rampart.Environment, error) {
	e, err := scanEnvironment(t.queryRow(ctx, envSelect+" WHERE project_id = ? AND name = ?", projectID, name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("environment %q", name)
	case err != nil:
		return nil, fmt.Errorf("select environment %s: %w", name, err)
	}
	return e, nil
}

// ListEnvironments implements rampart.DeployTx.
func (t *tx) ListEnvironments(ctx context.Context, projectID int64) ([]*rampart.Environment, error) {
	es, err := queryAll(ctx, t, scanEnvironment, envSelect+" WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("list environments of project %d: %w", projectID, err)
	}
	return es, nil
}

// UpdateEnvironment implements rampart.DeployTx.
func (t *tx) UpdateEnvironment(ctx context.Context, e *rampart.Environment) error {
	prot, err := json.Marshal(e.Protection)
	if err != nil {
		return fmt.Errorf("encode protection of %s: %w", e.Name, err)
	}
	err = t.execOne(ctx, notFound("environment %d", e.ID), "UPDATE environments SET protection = ?, updated_at = ? WHERE id = ?",
		string(prot), micros(e.UpdatedAt), e.ID)
	return wrapUpdate(err, "update environment %d", e.ID)
}

const deploySelect = `SELECT d.id, d.project_id, p.name, d.environment_id, e.name, d.run_id, r.number, d.job_id, j.name,
d.commit_sha, d.ref, d.artifacts, d.status, d.waiting, d.triggered_by, d.security_fix, d.incident, d.rollback_of,
d.commit_time, d.created_at, d.approved_at, d.started_at, d.finished_at
FROM deployments d JOIN projects p ON p.id = d.project_id JOIN environments e ON e.id = d.environment_id
JOIN runs r ON r.id = d.run_id JOIN jobs j ON j.id = d.job_id`

func scanDeployment(s scanner) (*rampart.Deployment, error) {
	var (
		d                                     rampart.Deployment
		artifacts                             string
		secFix, created                       int64
		commitTime, approved, started, finish sql.NullInt64
	)
	if err := s.Scan(&d.ID, &d.ProjectID, &d.Project, &d.EnvironmentID, &d.Environment, &d.RunID, &d.RunNumber, &d.JobID, &d.Job,
		&d.Commit, &d.Ref, &artifacts, &d.Status, &d.Waiting, &d.TriggeredBy, &secFix, &d.Incident, &d.RollbackOf,
		&commitTime, &created, &approved, &started, &finish); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(artifacts), &d.Artifacts); err != nil {
		return nil, fmt.Errorf("decode artifacts of deployment %d: %w", d.ID, err)
	}
	d.SecurityFix, d.CreatedAt = secFix != 0, fromMicros(created)
	d.CommitTime, d.ApprovedAt, d.StartedAt, d.FinishedAt = fromNullMicros(commitTime), fromNullMicros(approved), fromNullMicros(started), fromNullMicros(finish)
	return &d, nil
}

// CreateDeployment implements rampart.DeployTx.
func (t *tx) CreateDeployment(ctx context.Context, d *rampart.Deployment) error {
	arts, err := json.Marshal(nonNilRefs(d.Artifacts))
	if err != nil {
		return fmt.Errorf("encode artifacts of deployment: %w", err)
	}
	err = t.queryRow(ctx, `INSERT INTO deployments (project_id, environment_id, run_id, job_id, commit_sha, ref, artifacts, status,
waiting, triggered_by, security_fix, incident, rollback_of, commit_time, created_at, approved_at, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.ProjectID, d.EnvironmentID, d.RunID, d.JobID, d.Commit, d.Ref, string(arts), d.Status, d.Waiting, d.TriggeredBy,
		boolInt(d.SecurityFix), d.Incident, d.RollbackOf, nullMicros(d.CommitTime), micros(d.CreatedAt),
		nullMicros(d.ApprovedAt), nullMicros(d.StartedAt), nullMicros(d.FinishedAt)).Scan(&d.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "job %d already has a deployment", d.JobID)
	case isForeignKey(err):
		return notFound("project %d, environment %d, run %d or job %d", d.ProjectID, d.EnvironmentID, d.RunID, d.JobID)
	case err != nil:
		return fmt.Errorf("insert deployment of job %d: %w", d.JobID, err)
	}
	return nil
}

func nonNilRefs(rs []rampart.ArtifactRef) []rampart.ArtifactRef {
	if rs == nil {
		return []rampart.ArtifactRef{}
	}
	return rs
}

// DeploymentByID implements rampart.DeployTx.
func (t *tx) DeploymentByID(ctx context.Context, id int64) (*rampart.Deployment, error) {
	d, err := scanDeployment(t.queryRow(ctx, deploySelect+" WHERE d.id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("deployment %d", id)
	case err != nil:
		return nil, fmt.Errorf("select deployment %d: %w", id, err)
	}
	return d, nil
}

// DeploymentByJob implements rampart.DeployTx.
func (t *tx) DeploymentByJob(ctx context.Context, jobID int64) (*rampart.Deployment, error) {
	d, err := scanDeployment(t.queryRow(ctx, deploySelect+" WHERE d.job_id = ?", jobID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("deployment of job %d", jobID)
	case err != nil:
		return nil, fmt.Errorf("select deployment of job %d: %w", jobID, err)
	}
	return d, nil
}

// UpdateDeployment implements rampart.DeployTx.
func (t *tx) UpdateDeployment(ctx context.Context, d *rampart.Deployment) error {
	arts, err := json.Marshal(nonNilRefs(d.Artifacts))
	if err != nil {
		return fmt.Errorf("encode artifacts of deployment %d: %w", d.ID, err)
	}
	err = t.execOne(ctx, notFound("deployment %d", d.ID), `UPDATE deployments SET artifacts = ?, status = ?, waiting = ?,
commit_time = ?, approved_at = ?, started_at = ?, finished_at = ? WHERE id = ?`,
		string(arts), d.Status, d.Waiting, nullMicros(d.CommitTime), nullMicros(d.ApprovedAt), nullMicros(d.StartedAt),
		nullMicros(d.FinishedAt), d.ID)
	return wrapUpdate(err, "update deployment %d", d.ID)
}

// ListDeployments implements rampart.DeployTx.
func (t *tx) ListDeployments(ctx context.Context, environmentID int64, limit int) ([]*rampart.Deployment, error) {
	q, args := deploySelect+" WHERE d.environment_id = ? ORDER BY d.id DESC", []any{environmentID}
	if limit > 0 {
		q, args = q+" LIMIT ?", append(args, limit)
	}
	ds, err := queryAll(ctx, t, scanDeployment, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deployments of environment %d: %w", environmentID, err)
	}
	return ds, nil
}

// ActiveDeployments implements rampart.DeployTx.
func (t *tx) ActiveDeployments(ctx context.Context) ([]*rampart.Deployment, error) {
	ds, err := queryAll(ctx, t, scanDeployment, deploySelect+" WHERE d.status IN (?, ?, ?) ORDER BY d.id",
		rampart.DeployWaiting, rampart.DeployQueued, rampart.DeployRunning)
	if err != nil {
		return nil, fmt.Errorf("list active deployments: %w", err)
	}
	return ds, nil
}

func scanApproval(s scanner) (*rampart.Approval, error) {
	var (
		a                rampart.Approval
		approve          int64
		created, expires int64
	)
	if err := s.Scan(&a.ID, &a.DeploymentID, &a.UserID, &a.User, &a.Role, &approve, &a.Comment, &a.Commit, &a.ArtifactsSum,
		&created, &expires); err != nil {
		return nil, err
	}
	a.Approve, a.CreatedAt, a.ExpiresAt = approve != 0, fromMicros(created), fromMicros(expires)
	return &a, nil
}

// AddApproval implements rampart.DeployTx.
func (t *tx) AddApproval(ctx context.Context, a *rampart.Approval) error {
	err := t.queryRow(ctx, `INSERT INTO approvals (deployment_id, user_id, user_name, role, approve, comment, commit_sha,
artifacts_sum, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.DeploymentID, a.UserID, a.User, a.Role, boolInt(a.Approve), a.Comment, a.Commit, a.ArtifactsSum,
		micros(a.CreatedAt), micros(a.ExpiresAt)).Scan(&a.ID)
	switch {
	case isForeignKey(err):
		return notFound("deployment %d", a.DeploymentID)
	case err != nil:
		return fmt.Errorf("insert approval of deployment %d: %w", a.DeploymentID, err)
	}
	return nil
}

// ListApprovals implements rampart.DeployTx.
func (t *tx) ListApprovals(ctx context.Context, deploymentID int64) ([]*rampart.Approval, error) {
	as, err := queryAll(ctx, t, scanApproval, `SELECT id, deployment_id, user_id, user_name, role, approve, comment, commit_sha,
artifacts_sum, created_at, expires_at FROM approvals WHERE deployment_id = ? ORDER BY id`, deploymentID)
	if err != nil {
		return nil, fmt.Errorf("list approvals of deployment %d: %w", deploymentID, err)
	}
	return as, nil
}
