package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// severityRank orders severities in SQL so that the most severe come first.
func severityRank(s string) int {
	switch s {
	case "critical":
		return 4
	case "high":
		return 3
	case "medium":
		return 2
	case "low":
		return 1
	}
	return 0
}

// AddFindings implements rampart.FindingTx.
func (t *tx) AddFindings(ctx context.Context, fs []*rampart.Finding) error {
	for _, f := range fs {
		err := t.queryRow(ctx, `INSERT INTO findings (run_id, job_id, project_id, fingerprint, scanner, rule_id, severity,
severity_rank, file, line, message, fix, package, version, fixed_version, tool, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			f.RunID, f.JobID, f.ProjectID, f.Fingerprint, f.Scanner, f.RuleID, f.Severity, severityRank(f.Severity),
			f.File, f.Line, f.Message, f.Fix, f.Package, f.Version, f.FixedVersion, f.Tool, micros(f.CreatedAt)).Scan(&f.ID)
		switch {
		case isForeignKey(err):
			return notFound("run %d, job %d or project %d", f.RunID, f.JobID, f.ProjectID)
		case err != nil:
			return fmt.Errorf("insert finding %s of job %d: %w", f.RuleID, f.JobID, err)
		}
	}
	return nil
}

// DeleteFindingsOfJob implements rampart.FindingTx.
func (t *tx) DeleteFindingsOfJob(ctx context.Context, jobID int64) error {
	if _, err := t.exec(ctx, "DELETE FROM findings WHERE job_id = ?", jobID); err != nil {
		return fmt.Errorf("delete findings of job %d: %w", jobID, err)
	}
	return nil
}

// ListFindings implements rampart.FindingTx.
func (t *tx) ListFindings(ctx context.Context, runID int64) ([]*rampart.Finding, error) {
	rows, err := t.query(ctx, `SELECT id, run_id, job_id, project_id, fingerprint, scanner, rule_id, severity, file, line,
message, fix, package, version, fixed_version, tool, created_at FROM findings WHERE run_id = ?
ORDER BY severity_rank DESC, file, line, id`, runID)
	if err != nil {
		return nil, fmt.Errorf("list findings of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []*rampart.Finding
	for rows.Next() {
		var (
			f  rampart.Finding
			at int64
		)
		if err := rows.Scan(&f.ID, &f.RunID, &f.JobID, &f.ProjectID, &f.Fingerprint, &f.Scanner, &f.RuleID, &f.Severity,
			&f.File, &f.Line, &f.Message, &f.Fix, &f.Package, &f.Version, &f.FixedVersion, &f.Tool, &at); err != nil {
			return nil, fmt.Errorf("list findings of run %d: %w", runID, err)
		}
		f.CreatedAt = fromMicros(at)
		out = append(out, &f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list findings of run %d: %w", runID, err)
	}
	return out, nil
}

// CreateWaiver implements rampart.FindingTx.
func (t *tx) CreateWaiver(ctx context.Context, w *rampart.Waiver) error {
	err := t.queryRow(ctx, `INSERT INTO waivers (project_id, fingerprint, reason, approver, created_at, expires_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		w.ProjectID, w.Fingerprint, w.Reason, w.Approver, micros(w.CreatedAt), micros(w.ExpiresAt)).Scan(&w.ID)
	switch {
	case isForeignKey(err):
		return notFound("project %d", w.ProjectID)
	case err != nil:
		return fmt.Errorf("insert waiver for %s: %w", w.Fingerprint, err)
	}
	return nil
}

// ListWaivers implements rampart.FindingTx.
func (t *tx) ListWaivers(ctx context.Context, projectID int64) ([]*rampart.Waiver, error) {
	rows, err := t.query(ctx, `SELECT id, project_id, fingerprint, reason, approver, created_at, expires_at, revoked_at
FROM waivers WHERE project_id = ? ORDER BY id DESC`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list waivers of project %d: %w", projectID, err)
	}
	defer rows.Close()
	var out []*rampart.Waiver
	for rows.Next() {
		var (
			w                rampart.Waiver
			created, expires int64
			revoked          = nullMicros(nil)
		)
		if err := rows.Scan(&w.ID, &w.ProjectID, &w.Fingerprint, &w.Reason, &w.Approver, &created, &expires, &revoked); err != nil {
			return nil, fmt.Errorf("list waivers of project %d: %w", projectID, err)
		}
		w.CreatedAt, w.ExpiresAt, w.RevokedAt = fromMicros(created), fromMicros(expires), fromNullMicros(revoked)
		out = append(out, &w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list waivers of project %d: %w", projectID, err)
	}
	return out, nil
}

// RevokeWaiver implements rampart.FindingTx.
func (t *tx) RevokeWaiver(ctx context.Context, id int64, at time.Time) error {
	return t.execOne(ctx, notFound("waiver %d", id), "UPDATE waivers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", micros(at), id)
}

// PutScanResult implements rampart.FindingTx.
func (t *tx) PutScanResult(ctx context.Context, r *rampart.ScanResult) error {
	verdict, err := json.Marshal(r.Verdict)
	if err != nil {
		return fmt.Errorf("encode verdict of job %d: %w", r.JobID, err)
	}
	pkgs, err := json.Marshal(r.Packages)
	if err != nil {
		return fmt.Errorf("encode packages of job %d: %w", r.JobID, err)
	}
	err = t.queryRow(ctx, `INSERT INTO scan_results (run_id, job_id, project_id, scanners, pass, verdict, packages, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id) DO UPDATE SET scanners = excluded.scanners, pass = excluded.pass, verdict = excluded.verdict,
packages = excluded.packages, created_at = excluded.created_at
RETURNING id`,
		r.RunID, r.JobID, r.ProjectID, strings.Join(r.Scanners, ","), boolInt(r.Verdict.Pass), string(verdict), string(pkgs),
		micros(r.CreatedAt)).Scan(&r.ID)
	switch {
	case isForeignKey(err):
		return notFound("run %d, job %d or project %d", r.RunID, r.JobID, r.ProjectID)
	case err != nil:
		return fmt.Errorf("store scan result of job %d: %w", r.JobID, err)
	}
	return nil
}

// ScanResults implements rampart.FindingTx.
func (t *tx) ScanResults(ctx context.Context, runID int64) ([]*rampart.ScanResult, error) {
	rows, err := t.query(ctx, `SELECT s.id, s.run_id, s.job_id, s.project_id, j.name, s.scanners, s.verdict, s.packages, s.created_at
FROM scan_results s JOIN jobs j ON j.id = s.job_id WHERE s.run_id = ? ORDER BY s.job_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("list scan results of run %d: %w", runID, err)
	}
	defer rows.Close()
	var out []*rampart.ScanResult
	for rows.Next() {
		var (
			r                       rampart.ScanResult
			scanners, verdict, pkgs string
			created                 int64
		)
		if err := rows.Scan(&r.ID, &r.RunID, &r.JobID, &r.ProjectID, &r.Job, &scanners, &verdict, &pkgs, &created); err != nil {
			return nil, fmt.Errorf("list scan results of run %d: %w", runID, err)
		}
		r.Scanners, r.CreatedAt = splitList(scanners), fromMicros(created)
		if err := json.Unmarshal([]byte(verdict), &r.Verdict); err != nil {
			return nil, fmt.Errorf("decode verdict of job %d: %w", r.JobID, err)
		}
		if err := json.Unmarshal([]byte(pkgs), &r.Packages); err != nil {
			return nil, fmt.Errorf("decode packages of job %d: %w", r.JobID, err)
		}
		out = append(out, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list scan results of run %d: %w", runID, err)
	}
	return out, nil
}
