package scheduler_test

import (
	"context"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scheduler"
)

// TestGateDecidesScanJobs attacks the gate from the agent's side: an agent reporting success for
// a job whose scans failed the gate, or that never reported scan results, does not make it
// succeed. And a project's required scans add a gate job the pipeline cannot remove, even when
// the pipeline has a job of the same name.
func TestGateDecidesScanJobs(t *testing.T) {
	f := newFixture(t, `
on: [push]
jobs:
  lint:
    scan: [secrets]
    steps: [{run: make lint}]
  security-gate:
    steps: [{run: echo "I am not the gate"}]
`)
	ctx := context.Background()
	f.project.RequiredScans = []string{"secrets", "dependencies"}
	if err := f.db.Update(ctx, func(tx rampart.Tx) error { return tx.UpdateProject(ctx, f.project) }); err != nil {
		t.Fatal(err)
	}
	a := f.agent("a1")
	r := f.run("main")
	jobs := f.jobs(r)
	gate := jobs[scheduler.GateJob+"-required"]
	if gate == nil || gate.Status != rampart.StatusQueued {
		t.Fatalf("required gate job: %+v (jobs %v)", gate, jobs)
	}

	leases := map[string]*rampart.Lease{}
	var running []int64
	for range 3 {
		l := f.lease(a, running...)
		leases[l.Spec.Job] = l
		running = append(running, l.JobID)
	}
	if g := leases[scheduler.GateJob+"-required"]; g == nil || !g.Spec.Required || strings.Join(g.Spec.Scan, ",") != "secrets,dependencies" {
		t.Fatalf("gate job spec: %+v", g)
	}

	// lint: the gate failed, the agent says succeeded.
	lint := f.jobs(r)["lint"]
	put := func(j *rampart.Job, pass bool) {
		t.Helper()
		err := f.db.Update(ctx, func(tx rampart.Tx) error {
			return tx.PutScanResult(ctx, &rampart.ScanResult{RunID: j.RunID, JobID: j.ID, ProjectID: f.project.ID, Scanners: []string{"secrets"},
				Verdict: rampart.GateVerdict{Pass: pass, Failures: []string{"github-pat in a.env (fp1)"}, Findings: 1}, CreatedAt: f.clock.Now()})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(lint, false)
	f.complete(leases["lint"], rampart.StatusSucceeded)
	// The required gate: no scan results at all.
	f.complete(leases[scheduler.GateJob+"-required"], rampart.StatusSucceeded)
	// The pipeline's own job named security-gate has no scans: its result stands.
	f.complete(leases["security-gate"], rampart.StatusSucceeded)

	got := f.jobs(r)
	if j := got["lint"]; j.Status != rampart.StatusFailed || !strings.Contains(j.Reason, "security gate failed") || !strings.Contains(j.Reason, "github-pat") {
		t.Errorf("lint with a failed gate: %s (%s)", j.Status, j.Reason)
	}
	if j := got[scheduler.GateJob+"-required"]; j.Status != rampart.StatusFailed || !strings.Contains(j.Reason, "no results") {
		t.Errorf("gate job without results: %s (%s)", j.Status, j.Reason)
	}
	if j := got["security-gate"]; j.Status != rampart.StatusSucceeded {
		t.Errorf("pipeline job named security-gate: %s (%s)", j.Status, j.Reason)
	}
	if st := f.status(r); st != rampart.StatusFailed {
		t.Errorf("run status %s, want failed", st)
	}

	// A passing verdict lets the job succeed.
	r2 := f.run("main")
	l := f.lease(a)
	for l != nil && l.Spec.Job != "lint" {
		l = f.lease(a, l.JobID)
	}
	if l == nil {
		t.Fatal("lint of the second run not leased")
	}
	put(f.jobs(r2)["lint"], true)
	f.complete(l, rampart.StatusSucceeded)
	if j := f.jobs(r2)["lint"]; j.Status != rampart.StatusSucceeded {
		t.Errorf("lint with a passing gate: %s (%s)", j.Status, j.Reason)
	}
}
