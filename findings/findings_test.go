package findings_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/policy"
	"github.com/rampart-ci/rampart/store"
)

func TestWaiversAreForSecurityOnlyAndExpire(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	svc := findings.New(db, clock)
	p := &rampart.Project{Name: "web", RepoURL: "/x", CreatedAt: now}
	run := &rampart.Run{Event: rampart.EventPush, Commit: "0123456789abcdef0123456789abcdef01234567", Status: rampart.StatusRunning, CreatedAt: now}
	job := &rampart.Job{Name: "scan", Status: rampart.StatusRunning, Spec: "{}", Attempt: 1, CreatedAt: now}
	err = db.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		run.ProjectID = p.ID
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		job.RunID, job.ProjectID = run.ID, p.ID
		return tx.CreateJob(ctx, job)
	})
	if err != nil {
		t.Fatal(err)
	}
	report := &rampart.ScanReport{Scanners: []string{"secrets", "sarif"}, Findings: []*rampart.Finding{
		{Fingerprint: "fp1", Scanner: "secrets", RuleID: "github-token", Severity: "high", File: "a.go", Line: 3, Message: "GitHub token"},
		{Fingerprint: "fp2", Scanner: "sarif", RuleID: "G101", Severity: "critical", File: "go.mod", Message: "x", Tool: "gosec"},
	}}
	v, err := svc.Record(ctx, job, report)
	if err != nil {
		t.Fatal(err)
	}
	if v.Pass || len(v.Failures) != 2 || v.Findings != 2 || v.Counts["critical"] != 1 {
		t.Fatalf("verdict on a token and a critical SARIF finding: %+v", v)
	}
	sec := &rampart.Actor{UserID: 2, Name: "sec", Role: rampart.RoleSecurity}
	for _, a := range []*rampart.Actor{
		{UserID: 1, Name: "admin", Role: rampart.RoleAdmin},
		{UserID: 3, Name: "maint", Role: rampart.RoleMember},
		{UserID: 2, Name: "sec", Role: rampart.RoleSecurity, Scope: rampart.RoleViewer},
	} {
		if _, err := svc.Waive(ctx, a, p, "fp1", "test fixture, not a real key", 24*time.Hour); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
			t.Errorf("%s (%s, scope %q) waived: %v", a.Name, a.Role, a.Scope, err)
		}
	}
	if _, err := svc.Waive(ctx, sec, p, "fp1", "short", 24*time.Hour); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("a waiver without a real reason: %v", err)
	}
	if _, err := svc.Waive(ctx, sec, p, "fp1", "test fixture, not a real key", 365*24*time.Hour); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("a year-long waiver: %v", err)
	}
	w, err := svc.Waive(ctx, sec, p, "fp1", "test fixture, not a real key", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := svc.List(ctx, run)
	if err != nil || len(fs) != 2 || fs[0].Fingerprint != "fp2" || fs[0].Waived || !fs[1].Waived {
		t.Fatalf("findings after waiver: %+v %v", fs, err)
	}
	// The same report again, now that fp1 is waived: only the critical finding fails the gate,
	// and the stored findings are replaced, not doubled.
	v, err = svc.Record(ctx, job, report)
	if err != nil || v.Pass || len(v.Failures) != 1 || !strings.Contains(v.Failures[0], "fp2") || len(v.Waived) != 1 {
		t.Fatalf("verdict with fp1 waived: %+v %v", v, err)
	}
	if fs, _ := svc.List(ctx, run); len(fs) != 2 {
		t.Fatalf("a repeated report left %d findings, want 2", len(fs))
	}
	// Dependencies without an advisory database on the server fail closed.
	v, err = svc.Record(ctx, job, &rampart.ScanReport{Scanners: []string{"dependencies"},
		Packages: []*rampart.ScanPackage{{Name: "lodash", Version: "4.17.15", Ecosystem: "npm", File: "package-lock.json"}}})
	if err != nil || v.Pass || !strings.Contains(strings.Join(v.Failures, " "), "no advisory database") {
		t.Fatalf("dependencies without a database: %+v %v", v, err)
	}
	// Findings an agent cannot have made are refused, and change nothing.
	for name, f := range map[string]*rampart.Finding{
		"no fingerprint":   {Scanner: "secrets", RuleID: "x", Severity: "high", File: "a"},
		"unknown severity": {Fingerprint: "f", Scanner: "secrets", RuleID: "x", Severity: "urgent", File: "a"},
		"no file":          {Fingerprint: "f", Scanner: "secrets", RuleID: "x", Severity: "high"},
	} {
		if _, err := svc.Record(ctx, job, &rampart.ScanReport{Findings: []*rampart.Finding{f}}); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	report = &rampart.ScanReport{Scanners: []string{"secrets", "sarif"}, Findings: report.Findings}
	if _, err := svc.Record(ctx, job, report); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Hour)
	if fs, _ := svc.List(ctx, run); fs[1].Waived {
		t.Fatal("an expired waiver still counts")
	}
	now = now.Add(-25 * time.Hour)
	if err := svc.Revoke(ctx, sec, p, w.ID); err != nil {
		t.Fatal(err)
	}
	if fs, _ := svc.List(ctx, run); fs[1].Waived {
		t.Fatal("a revoked waiver still counts")
	}
	rep, err := audit.Verify(ctx, db)
	if err != nil || !rep.OK || rep.Events < 6 {
		t.Fatalf("audit: %+v %v (want findings.record, 3 refusals, waive, unwaive)", rep, err)
	}
}

// TestServerGatePolicy: a custom gate given to the service decides pipeline verdicts on top of
// the default policy, as `rampart server --gate-policy` configures it.
func TestServerGatePolicy(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	gate, err := policy.NewGate([]policy.Module{{Name: "team.rego", Source: `package team

deny contains msg if {
	some f in input.findings
	f.severity == "low"
	msg := sprintf("%s: our team allows no low findings either", [f.fingerprint])
}
`}})
	if err != nil {
		t.Fatal(err)
	}
	svc := findings.New(db, nil, findings.WithGate(gate))
	job := makeJob(t, db)
	rep := &rampart.ScanReport{Scanners: []string{"sarif"}, Findings: []*rampart.Finding{
		{Fingerprint: "low1", Scanner: "sarif", RuleID: "G104", Severity: "low", File: "a.go", Tool: "gosec"}}}
	v, err := svc.Record(ctx, job, rep)
	if err != nil || v.Pass || len(v.Failures) != 1 || !strings.Contains(v.Failures[0], "our team") {
		t.Fatalf("custom gate verdict: %+v %v", v, err)
	}
	v, err = findings.New(db, nil).Record(ctx, job, rep)
	if err != nil || !v.Pass {
		t.Fatalf("default gate on a low finding: %+v %v", v, err)
	}
}

// makeJob stores a project, a run and a running job, and returns the job.
func makeJob(t *testing.T, db rampart.Store) *rampart.Job {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	p := &rampart.Project{Name: "web", RepoURL: "/x", CreatedAt: now}
	run := &rampart.Run{Event: rampart.EventPush, Commit: "0123456789abcdef0123456789abcdef01234567", Status: rampart.StatusRunning, CreatedAt: now}
	job := &rampart.Job{Name: "scan", Status: rampart.StatusRunning, Spec: "{}", Attempt: 1, CreatedAt: now}
	err := db.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		run.ProjectID = p.ID
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		job.RunID, job.ProjectID = run.ID, p.ID
		return tx.CreateJob(ctx, job)
	})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

// TestReportMustCoverTheJobsScans attacks the gate from the agent's side: a report that leaves
// out a scan the job asked for, or that comes from a superseded lease, is refused.
func TestReportMustCoverTheJobsScans(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	job := makeJob(t, db)
	job.Spec = `{"scan":["secrets","dependencies"]}`
	job.Fence = 1
	if err := db.Update(ctx, func(tx rampart.Tx) error { return tx.UpdateJob(ctx, job) }); err != nil {
		t.Fatal(err)
	}
	svc := findings.New(db, nil)
	_, err = svc.Record(ctx, job, &rampart.ScanReport{Scanners: []string{"secrets"}})
	if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(err.Error(), "dependencies") {
		t.Fatalf("a report without the dependency scan: %v", err)
	}
	stale := *job
	stale.Fence = 0
	_, err = svc.Record(ctx, &stale, &rampart.ScanReport{Scanners: []string{"secrets", "dependencies"}})
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("a report of a superseded lease: %v", err)
	}
	if rs, _ := svc.ScanResults(ctx, &rampart.Run{ID: job.RunID}); len(rs) != 0 {
		t.Fatalf("a refused report was stored: %+v", rs)
	}
}
