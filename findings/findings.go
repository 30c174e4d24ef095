// Package findings records the security findings of runs and the waivers that exempt a finding
// from the gate. Waivers are granted only by the security role, always expire, and every grant
// and revocation is audited; the repository has no say in them.
package findings

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/policy"
	"github.com/rampart-ci/rampart/rbac"
	"github.com/rampart-ci/rampart/scan"
	"github.com/rampart-ci/rampart/scan/deps"
)

// MaxWaiver bounds a waiver's life: an exception is re-decided at least every 90 days.
const MaxWaiver = 90 * 24 * time.Hour

// Service records findings and manages waivers. It is safe for concurrent use.
type Service struct {
	store rampart.Store
	now   func() time.Time
	gate  *policy.Gate
	dbDir string
}

// Option configures a Service.
type Option func(*Service)

// WithGate sets the gate policy scan results are judged by; the default policy otherwise.
func WithGate(g *policy.Gate) Option { return func(s *Service) { s.gate = g } }

// WithAdvisoryDB sets the directory of the OSV database (see `rampart db update`) that packages
// from agents are checked against. Without one, a scan that includes dependencies fails the gate:
// unchecked dependencies are not a pass.
func WithAdvisoryDB(dir string) Option { return func(s *Service) { s.dbDir = dir } }

// New returns a Service; now defaults to time.Now.
func New(store rampart.Store, now func() time.Time, opts ...Option) *Service {
	if now == nil {
		now = time.Now
	}
	s := &Service{store: store, now: now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Limits of one scan report: a scan with more is broken or hostile.
const (
	MaxFindings = 10000
	MaxPackages = 50000
	maxText     = 2000
)

// Record judges and stores the scan report of a job: packages are checked against the server's
// advisory database, every finding goes through the gate with the project's active waivers, and
// the findings, the verdict and the packages (the run's SBOM) are stored with an audit entry. The
// caller has checked the job's lease. A report sent again for the same job replaces the first.
func (s *Service) Record(ctx context.Context, job *rampart.Job, rep *rampart.ScanReport) (*rampart.GateVerdict, error) {
	if len(rep.Findings) > MaxFindings {
		return nil, rampart.Errorf(rampart.ETOOLARGE, "%d findings in one report", len(rep.Findings)).WithDetail("send at most %d", MaxFindings)
	}
	if len(rep.Packages) > MaxPackages {
		return nil, rampart.Errorf(rampart.ETOOLARGE, "%d packages in one report", len(rep.Packages)).WithDetail("send at most %d", MaxPackages)
	}
	// The job's spec, not the agent, says which scans must be in the report: a report that
	// leaves one out would pass the gate unchecked.
	var spec rampart.JobSpec
	if err := json.Unmarshal([]byte(job.Spec), &spec); err != nil {
		return nil, fmt.Errorf("decode spec of job %d: %w", job.ID, err)
	}
	want := slices.Clone(spec.Scan)
	if len(spec.SARIF) > 0 {
		want = append(want, scan.ScannerSARIF)
	}
	for _, w := range want {
		if !slices.Contains(rep.Scanners, w) {
			return nil, rampart.Errorf(rampart.EINVALID, "the report of job %d has no %s results", job.ID, w).
				WithDetail("the job's scans are %s; send the results of each", strings.Join(want, ", "))
		}
	}
	now := s.now()
	var findings []scan.Finding
	for i, f := range rep.Findings {
		sf, err := fromReport(f)
		if err != nil {
			return nil, rampart.Errorf(rampart.EINVALID, "finding %d: %v", i, err).WithDetail("findings need a fingerprint, scanner, rule_id, file and a known severity")
		}
		findings = append(findings, sf)
	}
	verdict := &rampart.GateVerdict{Failures: []string{}}
	if slices.Contains(rep.Scanners, scan.ScannerDependencies) {
		fs, notes, err := s.matchPackages(ctx, rep.Packages)
		switch {
		case errors.Is(err, deps.ErrNoDatabase):
			verdict.Failures = append(verdict.Failures, "dependencies were not checked: the server has no advisory database; "+
				"run `rampart db update` as the user the server runs as (or give the server --advisory-db DIR)")
		case err != nil:
			return nil, fmt.Errorf("check the packages of job %d: %w", job.ID, err)
		}
		findings = append(findings, fs...)
		verdict.Warnings = append(verdict.Warnings, notes...)
	}
	scan.Sort(findings)

	waivers, err := s.ActiveWaivers(ctx, job.ProjectID)
	if err != nil {
		return nil, err
	}
	var ws []policy.Waiver
	for _, w := range waivers {
		ws = append(ws, policy.WaiverOf(w))
	}
	gate := s.gate
	if gate == nil {
		if gate, err = policy.DefaultGate(); err != nil {
			return nil, err
		}
	}
	v, err := gate.Evaluate(ctx, findings, ws, now)
	if err != nil {
		return nil, fmt.Errorf("evaluate the gate for job %d: %w", job.ID, err)
	}
	verdict.Failures = append(verdict.Failures, v.Failures...)
	verdict.Warnings = append(verdict.Warnings, v.Warnings...)
	verdict.Warnings = append(verdict.Warnings, clip(rep.Warnings, 100)...)
	verdict.Waived = v.Waived
	verdict.Pass = len(verdict.Failures) == 0
	verdict.Findings = len(findings)
	verdict.Counts = map[string]int{}
	stored := make([]*rampart.Finding, len(findings))
	for i, f := range findings {
		verdict.Counts[string(f.Severity)]++
		stored[i] = toStored(f, job, now)
	}
	pkgs := make([]*rampart.ScanPackage, 0, len(rep.Packages))
	for _, p := range rep.Packages {
		if p != nil && p.Name != "" && p.Ecosystem != "" {
			pkgs = append(pkgs, p)
		}
	}
	result := &rampart.ScanResult{RunID: job.RunID, JobID: job.ID, ProjectID: job.ProjectID, Scanners: rep.Scanners,
		Verdict: *verdict, Packages: pkgs, CreatedAt: now}
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		// The lease checked when the request came may have ended while packages were matched:
		// a late report of a superseded attempt must not replace the current one's.
		cur, err := tx.JobByID(ctx, job.ID)
		if err != nil {
			return err
		}
		if cur.Status != rampart.StatusRunning || cur.Fence != job.Fence {
			return rampart.Errorf(rampart.ECONFLICT, "job %d's lease is no longer yours", job.ID).WithDetail("stop the job; its result is not wanted")
		}
		if err := tx.DeleteFindingsOfJob(ctx, job.ID); err != nil {
			return err
		}
		if err := tx.AddFindings(ctx, stored); err != nil {
			return err
		}
		if err := tx.PutScanResult(ctx, result); err != nil {
			return err
		}
		result := rampart.ResultSuccess
		if !verdict.Pass {
			result = rampart.ResultFailure
		}
		ev := audit.Event(&rampart.Actor{Name: fmt.Sprintf("agent:%d", job.AgentID), Source: "agent"}, "gate.evaluate", fmt.Sprintf("job:%d", job.ID), result)
		ev.Detail = fmt.Sprintf("findings=%d failures=%d waived=%d packages=%d scanners=%s", len(stored), len(verdict.Failures), len(verdict.Waived), len(pkgs), strings.Join(rep.Scanners, ","))
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return nil, err
	}
	return verdict, nil
}

// matchPackages checks packages against the advisory database.
func (s *Service) matchPackages(ctx context.Context, in []*rampart.ScanPackage) ([]scan.Finding, []string, error) {
	if s.dbDir == "" {
		return nil, nil, deps.ErrNoDatabase
	}
	db, err := deps.Open(s.dbDir)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	sc := deps.New(db, deps.Options{Now: s.now})
	ps := make([]deps.Package, 0, len(in))
	for _, p := range in {
		if p == nil || p.Name == "" || p.Ecosystem == "" {
			continue
		}
		ps = append(ps, deps.Package{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem, File: p.File, Line: p.Line, PURL: p.PURL, Constraint: p.Constraint})
	}
	sc.AddPackages(ps)
	fs, err := sc.Finish(ctx)
	if err != nil {
		return nil, nil, err
	}
	m := db.Meta()
	notes := append([]string{fmt.Sprintf("advisory database of %s", m.Updated.UTC().Format(time.DateOnly))}, sc.Warnings()...)
	return fs, notes, nil
}

// fromReport checks a finding an agent reported and turns it into the gate's type.
func fromReport(f *rampart.Finding) (scan.Finding, error) {
	if f == nil {
		return scan.Finding{}, errors.New("empty")
	}
	sev, err := scan.ParseSeverity(f.Severity)
	switch {
	case err != nil:
		return scan.Finding{}, err
	case f.Fingerprint == "" || len(f.Fingerprint) > 128:
		return scan.Finding{}, errors.New("missing or overlong fingerprint")
	case f.Scanner == "" || f.RuleID == "" || f.File == "":
		return scan.Finding{}, errors.New("missing scanner, rule_id or file")
	}
	return scan.Finding{
		Fingerprint: f.Fingerprint, Scanner: clipText(f.Scanner), RuleID: clipText(f.RuleID), Severity: sev,
		File: clipText(f.File), Line: max(f.Line, 0), Message: clipText(f.Message), Fix: clipText(f.Fix),
		Package: clipText(f.Package), Version: clipText(f.Version), FixedVersion: clipText(f.FixedVersion), Tool: clipText(f.Tool),
	}, nil
}

func toStored(f scan.Finding, job *rampart.Job, now time.Time) *rampart.Finding {
	return &rampart.Finding{
		RunID: job.RunID, JobID: job.ID, ProjectID: job.ProjectID, Fingerprint: f.Fingerprint, Scanner: f.Scanner,
		RuleID: f.RuleID, Severity: string(f.Severity), File: f.File, Line: f.Line, Message: f.Message, Fix: f.Fix,
		Package: f.Package, Version: f.Version, FixedVersion: f.FixedVersion, Tool: f.Tool, CreatedAt: now,
	}
}

func clipText(s string) string {
	if len(s) <= maxText {
		return s
	}
	return strings.ToValidUTF8(s[:maxText], "") + "…"
}

func clip(ss []string, n int) []string {
	if len(ss) > n {
		ss = ss[:n]
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clipText(s)
	}
	return out
}

// ScanResults returns the gate results of a run's jobs.
func (s *Service) ScanResults(ctx context.Context, run *rampart.Run) ([]*rampart.ScanResult, error) {
	var rs []*rampart.ScanResult
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		rs, err = tx.ScanResults(ctx, run.ID)
		return err
	})
	return rs, err
}

// ActiveWaivers returns the fingerprints of a project's unexpired, unrevoked waivers.
func (s *Service) ActiveWaivers(ctx context.Context, projectID int64) (map[string]*rampart.Waiver, error) {
	var ws []*rampart.Waiver
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		ws, err = tx.ListWaivers(ctx, projectID)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := map[string]*rampart.Waiver{}
	for _, w := range ws {
		if w.Active(now) {
			out[w.Fingerprint] = w
		}
	}
	return out, nil
}

// List returns a run's findings, marking those an active waiver covers.
func (s *Service) List(ctx context.Context, run *rampart.Run) ([]*rampart.Finding, error) {
	var fs []*rampart.Finding
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		fs, err = tx.ListFindings(ctx, run.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	active, err := s.ActiveWaivers(ctx, run.ProjectID)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		f.Waived = active[f.Fingerprint] != nil
	}
	return fs, nil
}

// Waivers lists a project's waivers, newest first.
func (s *Service) Waivers(ctx context.Context, p *rampart.Project) ([]*rampart.Waiver, error) {
	var ws []*rampart.Waiver
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		ws, err = tx.ListWaivers(ctx, p.ID)
		return err
	})
	return ws, err
}

// Waive exempts a finding of project p from the gate until ttl has passed. Only the security
// role may; a reason is required.
func (s *Service) Waive(ctx context.Context, actor *rampart.Actor, p *rampart.Project, fingerprint, reason string, ttl time.Duration) (*rampart.Waiver, error) {
	target := "project:" + p.Name
	if err := rbac.Check(auth.Subject(actor), rbac.FindingWaive, rbac.Resource{}); err != nil {
		return nil, audit.Denied(ctx, s.store, actor, string(rbac.FindingWaive), target, err, s.now())
	}
	switch {
	case fingerprint == "" || len(fingerprint) > 128:
		return nil, rampart.Errorf(rampart.EINVALID, "give the finding's fingerprint").WithDetail("`rampart findings PROJECT RUN` lists them")
	case len(reason) < 10 || len(reason) > 2000:
		return nil, rampart.Errorf(rampart.EINVALID, "a waiver needs a reason of 10 to 2000 characters").WithDetail("say why the finding is acceptable, e.g. \"test fixture, not a real key\"")
	case ttl <= 0 || ttl > MaxWaiver:
		return nil, rampart.Errorf(rampart.EINVALID, "waiver lifetime %s out of range", ttl).WithDetail("waivers expire within 90 days (e.g. --expires 720h)")
	}
	now := s.now()
	w := &rampart.Waiver{ProjectID: p.ID, Fingerprint: fingerprint, Reason: reason, Approver: actor.Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateWaiver(ctx, w); err != nil {
			return err
		}
		ev := audit.Event(actor, "finding.waive", target, rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("fingerprint=%s expires=%s reason=%q", fingerprint, w.ExpiresAt.UTC().Format(time.RFC3339), reason)
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Revoke ends a waiver of project p now.
func (s *Service) Revoke(ctx context.Context, actor *rampart.Actor, p *rampart.Project, id int64) error {
	target := "project:" + p.Name
	if err := rbac.Check(auth.Subject(actor), rbac.FindingWaive, rbac.Resource{}); err != nil {
		return audit.Denied(ctx, s.store, actor, string(rbac.FindingWaive), target, err, s.now())
	}
	return s.store.Update(ctx, func(tx rampart.Tx) error {
		ws, err := tx.ListWaivers(ctx, p.ID)
		if err != nil {
			return err
		}
		found := false
		for _, w := range ws {
			found = found || w.ID == id
		}
		if !found {
			return rampart.Errorf(rampart.ENOTFOUND, "waiver %d not found in %s", id, p.Name)
		}
		if err := tx.RevokeWaiver(ctx, id, s.now()); err != nil {
			return err
		}
		ev := audit.Event(actor, "finding.unwaive", target, rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("waiver=%d", id)
		return audit.Append(ctx, tx, ev, s.now())
	})
}
