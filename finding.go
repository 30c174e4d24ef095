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

// ScanPackage is one dependency an agent found in a lockfile or manifest of a job's workspace.
// The server matches it against its advisory database and lists it in the run's SBOM.
type ScanPackage struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Ecosystem string `json:"ecosystem"`
	File      string `json:"file"`
	Line      int    `json:"line,omitempty"`
	PURL      string `json:"purl,omitempty"`
	// Constraint is set when the manifest names a range instead of one version.
	Constraint string `json:"constraint,omitempty"`
}

// ScanReport is what an agent sends after running a job's scans (POST /api/v1/jobs/{id}/findings):
// the findings of the scanners that run on the agent and of the SARIF files, and the packages
// for the server to check against its advisory database.
type ScanReport struct {
	Scanners []string       `json:"scanners"` // the scanners that ran, e.g. secrets, dependencies, iac, sarif
	Findings []*Finding     `json:"findings"`
	Packages []*ScanPackage `json:"packages,omitempty"`
	Warnings []string       `json:"warnings,omitempty"`
}

// GateVerdict is the security gate's decision on one job's scan results.
type GateVerdict struct {
	Pass bool `json:"pass"`
	// Failures say which findings fail the gate, each naming the finding's fingerprint.
	Failures []string `json:"failures"`
	Warnings []string `json:"warnings,omitempty"`
	// Waived are the fingerprints an active waiver excused.
	Waived   []string       `json:"waived,omitempty"`
	Findings int            `json:"findings"`
	Counts   map[string]int `json:"counts,omitempty"` // by severity
}

// ScanResult is the stored outcome of one job's scans: the gate verdict and the packages that
// make the run's SBOM.
type ScanResult struct {
	ID        int64          `json:"id"`
	RunID     int64          `json:"run_id"`
	JobID     int64          `json:"job_id"`
	ProjectID int64          `json:"project_id"`
	Job       string         `json:"job,omitempty"`
	Scanners  []string       `json:"scanners"`
	Verdict   GateVerdict    `json:"verdict"`
	Packages  []*ScanPackage `json:"packages,omitempty"`
	// PackageCount is len(Packages) where an answer leaves the packages out.
	PackageCount int       `json:"package_count"`
	CreatedAt    time.Time `json:"created_at"`
}

// FindingTx stores findings and waivers.
type FindingTx interface {
	// AddFindings stores a job's findings.
	AddFindings(ctx context.Context, fs []*Finding) error
	// DeleteFindingsOfJob removes a job's findings, before a repeated report replaces them.
	DeleteFindingsOfJob(ctx context.Context, jobID int64) error
	// ListFindings returns a run's findings, most severe first.
	ListFindings(ctx context.Context, runID int64) ([]*Finding, error)
	// CreateWaiver inserts w and sets w.ID.
	CreateWaiver(ctx context.Context, w *Waiver) error
	// ListWaivers returns a project's waivers, newest first.
	ListWaivers(ctx context.Context, projectID int64) ([]*Waiver, error)
	// RevokeWaiver ends a waiver now.
	RevokeWaiver(ctx context.Context, id int64, at time.Time) error
	// PutScanResult stores a job's scan result, replacing an earlier one of the same job, and
	// sets r.ID.
	PutScanResult(ctx context.Context, r *ScanResult) error
	// ScanResults returns the scan results of a run's jobs, in job order.
	ScanResults(ctx context.Context, runID int64) ([]*ScanResult, error)
}
