package rampart

import (
	"context"
	"time"
)

// Finding is a security finding recorded for a job of a run: what `scan:` or `sarif:` in the
// pipeline (or a required scan) found. Secret values are never part of it.
type Finding struct {
	ID           int64     `json:"id"`
	RunID        int64     `json:"run_id"`
	JobID        int64     `json:"job_id"`
	ProjectID    int64     `json:"project_id"`
	Fingerprint  string    `json:"fingerprint"`
	Scanner      string    `json:"scanner"`
	RuleID       string    `json:"rule_id"`
	Severity     string    `json:"severity"`
	File         string    `json:"file"`
	Line         int       `json:"line,omitempty"`
	Message      string    `json:"message"`
	Fix          string    `json:"fix,omitempty"`
	Package      string    `json:"package,omitempty"`
	Version      string    `json:"version,omitempty"`
	FixedVersion string    `json:"fixed_version,omitempty"`
	Tool         string    `json:"tool,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	// Waived is computed when findings are listed: an unexpired waiver covers the fingerprint.
	Waived bool `json:"waived,omitempty"`
}

// Waiver exempts one finding (by fingerprint) of a project from the security gate until it
// expires. Only the security role grants them.
type Waiver struct {
	ID          int64      `json:"id"`
	ProjectID   int64      `json:"project_id"`
	Fingerprint string     `json:"fingerprint"`
	Reason      string     `json:"reason"`
	Approver    string     `json:"approver"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
}

// Active reports whether the waiver counts at now.
func (w *Waiver) Active(now time.Time) bool { return w.RevokedAt == nil && now.Before(w.ExpiresAt) }

// FindingTx stores findings and waivers.
type FindingTx interface {
	// AddFindings stores a job's findings.
	AddFindings(ctx context.Context, fs []*Finding) error
	// ListFindings returns a run's findings, most severe first.
	ListFindings(ctx context.Context, runID int64) ([]*Finding, error)
	// CreateWaiver inserts w and sets w.ID.
	CreateWaiver(ctx context.Context, w *Waiver) error
	// ListWaivers returns a project's waivers, newest first.
	ListWaivers(ctx context.Context, projectID int64) ([]*Waiver, error)
	// RevokeWaiver ends a waiver now.
	RevokeWaiver(ctx context.Context, id int64, at time.Time) error
}
