package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

func testFindings(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	j := newJob(r, "scan", rampart.StatusRunning, 0)
	createJobs(t, s, j)
	mk := func(fp, sev, file string, line int) *rampart.Finding {
		return &rampart.Finding{RunID: r.ID, JobID: j.ID, ProjectID: r.ProjectID, Fingerprint: fp, Scanner: "secrets",
			RuleID: "github-token", Severity: sev, File: file, Line: line, Message: "GitHub token", Fix: "revoke it",
			Package: "p", Version: "1", FixedVersion: "2", Tool: "rampart", CreatedAt: at(time.Minute)}
	}
	fs := []*rampart.Finding{mk("a", "low", "b.go", 1), mk("b", "critical", "z.go", 9), mk("c", "high", "a.go", 3), mk("d", "critical", "a.go", 1)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.AddFindings(ctx, fs) })
	for _, f := range fs {
		if f.ID == 0 {
			t.Fatalf("AddFindings left ID 0 for %s", f.Fingerprint)
		}
	}
	var got []*rampart.Finding
	view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		got, err = tx.ListFindings(ctx, r.ID)
		return err
	})
	order := ""
	for _, f := range got {
		order += f.Fingerprint
	}
	if order != "dbca" {
		t.Fatalf("findings in order %q, want most severe first then file and line: dbca", order)
	}
	if g := got[0]; g.Message != "GitHub token" || g.Fix != "revoke it" || g.FixedVersion != "2" || g.Tool != "rampart" || !g.CreatedAt.Equal(at(time.Minute)) {
		t.Fatalf("round trip: %+v", g)
	}
	err := s.Update(context.Background(), func(tx rampart.Tx) error {
		return tx.AddFindings(context.Background(), []*rampart.Finding{{RunID: 99999, JobID: j.ID, ProjectID: r.ProjectID}})
	})
	if rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("finding of an unknown run: %v", err)
	}
}

func testWaivers(t *testing.T, s rampart.Store) {
	p := createProjects(t, s, "web")["web"]
	w1 := &rampart.Waiver{ProjectID: p.ID, Fingerprint: "f1", Reason: "false positive", Approver: "sec", CreatedAt: at(0), ExpiresAt: at(time.Hour)}
	w2 := &rampart.Waiver{ProjectID: p.ID, Fingerprint: "f2", Reason: "fix next sprint", Approver: "sec", CreatedAt: at(time.Minute), ExpiresAt: at(2 * time.Hour)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateWaiver(ctx, w1); err != nil {
			return err
		}
		return tx.CreateWaiver(ctx, w2)
	})
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.RevokeWaiver(ctx, w1.ID, at(time.Minute)) })
	var got []*rampart.Waiver
	view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		got, err = tx.ListWaivers(ctx, p.ID)
		return err
	})
	if len(got) != 2 || got[0].ID != w2.ID || got[1].RevokedAt == nil || !got[1].RevokedAt.Equal(at(time.Minute)) || got[0].RevokedAt != nil {
		t.Fatalf("waivers: %+v", got)
	}
	if got[0].Active(at(3*time.Hour)) || !got[0].Active(at(time.Hour)) || got[1].Active(at(0)) {
		t.Fatal("Active does not follow expiry and revocation")
	}
	err := s.Update(context.Background(), func(tx rampart.Tx) error { return tx.RevokeWaiver(context.Background(), w1.ID, at(0)) })
	if rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("revoking twice: %v", err)
	}
}

func testScanResults(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	a, b := newJob(r, "build", rampart.StatusRunning, 0), newJob(r, "security-gate", rampart.StatusRunning, 0)
	createJobs(t, s, a, b)
	res := &rampart.ScanResult{RunID: r.ID, JobID: b.ID, ProjectID: r.ProjectID, Scanners: []string{"secrets", "dependencies"},
		Verdict:   rampart.GateVerdict{Pass: false, Failures: []string{"x"}, Findings: 3, Counts: map[string]int{"high": 3}},
		Packages:  []*rampart.ScanPackage{{Name: "golang.org/x/net", Version: "0.1.0", Ecosystem: "Go", File: "go.mod", Line: 5}},
		CreatedAt: at(time.Minute)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.PutScanResult(ctx, res) })
	if res.ID == 0 {
		t.Fatal("PutScanResult left ID 0")
	}
	// A second report of the same job replaces the first (an agent retrying its upload).
	again := *res
	again.Verdict = rampart.GateVerdict{Pass: true, Failures: []string{}, Findings: 0}
	again.CreatedAt = at(2 * time.Minute)
	other := &rampart.ScanResult{RunID: r.ID, JobID: a.ID, ProjectID: r.ProjectID, Scanners: []string{"iac"},
		Verdict: rampart.GateVerdict{Pass: true, Failures: []string{}}, CreatedAt: at(time.Minute)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.PutScanResult(ctx, &again); err != nil {
			return err
		}
		return tx.PutScanResult(ctx, other)
	})
	var got []*rampart.ScanResult
	view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
		got, err = tx.ScanResults(ctx, r.ID)
		return err
	})
	if len(got) != 2 {
		t.Fatalf("ScanResults returned %d results, want 2", len(got))
	}
	other.Job, again.Job = "build", "security-gate"
	again.ID = got[1].ID
	wantEqual(t, "ScanResults[0]", got[0], other)
	wantEqual(t, "ScanResults[1] after replacement", got[1], &again)
	err := s.Update(context.Background(), func(tx rampart.Tx) error {
		return tx.PutScanResult(context.Background(), &rampart.ScanResult{RunID: r.ID, JobID: 99999, ProjectID: r.ProjectID})
	})
	if rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("scan result of an unknown job: %v", err)
	}
}
