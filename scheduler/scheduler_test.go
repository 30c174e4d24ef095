package scheduler_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/store"
)

const threeJobs = `
on: [push, manual]
jobs:
  build:
    steps: [{run: make}]
  test:
    needs: build
    steps: [{run: make test}]
  lint:
    needs: build
    runs-on: [linux]
    steps: [{run: make lint}]
  package:
    needs: [test, lint]
    steps: [{run: make dist}]
    artifacts: [dist/app]
  deploy:
    needs: package
    environment: production
    if: branch == 'release'
    steps: [{run: ./deploy}]
`

// repo makes a git repository with one commit holding files and returns its path and commit.
func repo(t *testing.T, files map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("add", ".")
	run("commit", "-q", "-m", "first")
	return dir, run("rev-parse", "HEAD")
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fixture struct {
	t       *testing.T
	db      rampart.Store
	s       *scheduler.Scheduler
	clock   *clock
	project *rampart.Project
	commit  string
	agents  map[string]*rampart.Agent
}

func newFixture(t *testing.T, pipelineYAML string) *fixture {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir, commit := repo(t, map[string]string{".rampart.yml": pipelineYAML})
	c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	s := scheduler.New(scheduler.Config{Store: db, Repo: git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}, Now: c.Now, LeaseTTL: 30 * time.Second, PollEvery: 10 * time.Millisecond})
	p := &rampart.Project{Name: "web", RepoURL: dir, CreatedAt: c.Now()}
	if err := db.Update(ctx, func(tx rampart.Tx) error { return tx.CreateProject(ctx, p) }); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, s: s, clock: c, project: p, commit: commit, agents: map[string]*rampart.Agent{}}
	return f
}

// agent registers an agent with labels through a real registration token.
func (f *fixture) agent(name string, labels ...string) *rampart.Agent {
	f.t.Helper()
	ctx := context.Background()
	tok, _, err := f.s.CreateAgentToken(ctx, rampart.SystemActor(), labels, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.s.Register(ctx, rampart.RegisterRequest{Token: tok, Name: name, Capacity: 64}, "test")
	if err != nil {
		f.t.Fatal(err)
	}
	a, err := f.s.AuthenticateAgent(ctx, resp.Credential)
	if err != nil {
		f.t.Fatal(err)
	}
	f.agents[name] = a
	return a
}

func (f *fixture) run(branch string) *rampart.Run {
	f.t.Helper()
	r, err := f.s.CreateRun(context.Background(), rampart.SystemActor(), f.project, scheduler.Trigger{
		Event: rampart.EventPush, Ref: "refs/heads/" + branch, Branch: branch, Commit: f.commit, TriggeredBy: "test",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *fixture) lease(a *rampart.Agent, running ...int64) *rampart.Lease {
	f.t.Helper()
	l, err := f.s.Lease(context.Background(), a, rampart.LeaseRequest{Capacity: 4, Running: running})
	if err != nil {
		f.t.Fatal(err)
	}
	return l
}

func (f *fixture) jobs(r *rampart.Run) map[string]*rampart.Job {
	f.t.Helper()
	_, jobs, err := f.s.Run(context.Background(), f.project, r.Number)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]*rampart.Job{}
	for _, j := range jobs {
		out[j.Name] = j
	}
	return out
}

func (f *fixture) status(r *rampart.Run) string {
	f.t.Helper()
	run, _, err := f.s.Run(context.Background(), f.project, r.Number)
	if err != nil {
		f.t.Fatal(err)
	}
	return run.Status
}

func (f *fixture) complete(l *rampart.Lease, status string) {
	f.t.Helper()
	if err := f.s.Complete(context.Background(), l.JobID, l.Fence, rampart.CompleteRequest{Status: status}); err != nil {
		f.t.Fatal(err)
	}
}

func wantStatuses(t *testing.T, got map[string]*rampart.Job, want map[string]string) {
	t.Helper()
	for name, st := range want {
		if got[name] == nil || got[name].Status != st {
			t.Errorf("job %s: %+v, want %s", name, got[name], st)
		}
	}
}

func TestGraphAdvances(t *testing.T) {
	f := newFixture(t, threeJobs)
	a := f.agent("a1", "linux")
	r := f.run("main")
	wantStatuses(t, f.jobs(r), map[string]string{"build": "queued", "test": "pending", "lint": "pending", "package": "pending", "deploy": "skipped"})

	l := f.lease(a)
	if l == nil || l.Spec.Job != "build" || l.Spec.Commit != f.commit || !strings.HasPrefix(l.Token, rampart.JobTokenPrefix) {
		t.Fatalf("lease: %+v", l)
	}
	if got := f.status(r); got != rampart.StatusRunning {
		t.Fatalf("run status after lease: %s", got)
	}
	f.complete(l, rampart.StatusSucceeded)
	wantStatuses(t, f.jobs(r), map[string]string{"build": "succeeded", "test": "queued", "lint": "queued"})

	l1 := f.lease(a, l.JobID)
	l2 := f.lease(a, l1.JobID)
	if l1 == nil || l2 == nil || l1.JobID == l2.JobID {
		t.Fatalf("two leases: %+v %+v", l1, l2)
	}
	names := map[string]*rampart.Lease{l1.Spec.Job: l1, l2.Spec.Job: l2}
	f.complete(names["test"], rampart.StatusFailed)
	f.complete(names["lint"], rampart.StatusSucceeded)
	got := f.jobs(r)
	wantStatuses(t, got, map[string]string{"test": "failed", "lint": "succeeded", "package": "skipped"})
	if !strings.Contains(got["package"].Reason, "needs test") {
		t.Errorf("package skip reason %q", got["package"].Reason)
	}
	if st := f.status(r); st != rampart.StatusFailed {
		t.Fatalf("run status %s, want failed", st)
	}
	// The finished job's token is gone: late calls are refused.
	if _, err := f.s.JobByToken(context.Background(), l.Token, l.Fence); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("token after completion: %v", err)
	}
	rep, err := audit.Verify(context.Background(), f.db)
	if err != nil || !rep.OK {
		t.Fatalf("audit: %+v %v", rep, err)
	}
}

func TestLabelsMustMatch(t *testing.T) {
	f := newFixture(t, "jobs:\n  gpu:\n    runs-on: [linux, gpu]\n    steps: [{run: nvidia-smi}]\n")
	plain := f.agent("plain", "linux")
	f.run("main")
	if l := f.lease(plain); l != nil {
		t.Fatalf("agent without gpu leased %+v", l)
	}
	gpu := f.agent("big", "linux", "gpu", "x86")
	if l := f.lease(gpu); l == nil {
		t.Fatal("agent with the labels got nothing")
	}
}

// TestFencing kills an agent (its lease expires), re-queues the job to a second agent, and shows
// that the first agent's late calls cannot touch the new attempt.
func TestFencing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "jobs:\n  build:\n    steps: [{run: make}]\n")
	a1, a2 := f.agent("a1"), f.agent("a2")
	r := f.run("main")
	old := f.lease(a1)
	f.clock.Add(31 * time.Second)
	if err := f.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	j := f.jobs(r)["build"]
	if j.Status != rampart.StatusQueued || j.Attempt != 2 || !strings.Contains(j.Reason, "re-queued") {
		t.Fatalf("after expiry: %+v", j)
	}
	fresh := f.lease(a2)
	if fresh == nil || fresh.JobID != old.JobID || fresh.Fence <= old.Fence {
		t.Fatalf("second lease %+v after %+v", fresh, old)
	}
	for name, call := range map[string]func() error{
		"heartbeat": func() error { _, err := f.s.Heartbeat(ctx, old.JobID, old.Fence); return err },
		"logs":      func() error { return f.s.AppendLog(ctx, old.JobID, old.Fence, 1, []byte("stale")) },
		"complete": func() error {
			return f.s.Complete(ctx, old.JobID, old.Fence, rampart.CompleteRequest{Status: rampart.StatusFailed})
		},
		"token": func() error { _, err := f.s.JobByToken(ctx, old.Token, fresh.Fence); return err },
	} {
		if err := call(); rampart.ErrorCode(err) != rampart.ECONFLICT {
			t.Errorf("stale %s: %v, want conflict", name, err)
		}
	}
	if _, err := f.s.JobByToken(ctx, fresh.Token, fresh.Fence); err != nil {
		t.Fatalf("current token refused: %v", err)
	}
	// Heartbeats keep the new lease alive past the old TTL.
	for range 3 {
		f.clock.Add(20 * time.Second)
		if _, err := f.s.Heartbeat(ctx, fresh.JobID, fresh.Fence); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if j := f.jobs(r)["build"]; j.Status != rampart.StatusRunning {
		t.Fatalf("heartbeated job: %s", j.Status)
	}
	// The second agent dies too: the job fails with the reason, it is not re-queued again.
	f.clock.Add(31 * time.Second)
	if err := f.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if j := f.jobs(r)["build"]; j.Status != rampart.StatusFailed || !strings.Contains(j.Reason, "after 2 attempts") {
		t.Fatalf("after second expiry: %+v", j)
	}
	if st := f.status(r); st != rampart.StatusFailed {
		t.Fatalf("run: %s", st)
	}
}

func TestDeployJobsAreNeverRerun(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "jobs:\n  deploy:\n    environment: production\n    steps: [{run: ./deploy}]\n")
	a := f.agent("a1")
	r := f.run("main")
	f.lease(a)
	f.clock.Add(31 * time.Second)
	if err := f.s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	j := f.jobs(r)["deploy"]
	if j.Status != rampart.StatusInterrupted || !strings.Contains(j.Reason, "never re-run") {
		t.Fatalf("deploy after lost agent: %+v", j)
	}
	if l := f.lease(a); l != nil {
		t.Fatalf("interrupted deploy leased again: %+v", l)
	}
	if st := f.status(r); st != rampart.StatusInterrupted {
		t.Fatalf("run: %s", st)
	}
}

func TestAgentRestartRecoversItsJobs(t *testing.T) {
	f := newFixture(t, "jobs:\n  build:\n    steps: [{run: make}]\n")
	a := f.agent("a1")
	r := f.run("main")
	first := f.lease(a)
	// The agent comes back without the job: it is re-queued at once and leased again.
	second := f.lease(a)
	if second == nil || second.JobID != first.JobID || second.Fence != first.Fence+1 {
		t.Fatalf("after restart: %+v (first %+v)", second, first)
	}
	if j := f.jobs(r)["build"]; j.Attempt != 2 {
		t.Fatalf("attempt %d, want 2", j.Attempt)
	}
}

func TestCancel(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, threeJobs)
	a := f.agent("a1", "linux")
	r := f.run("main")
	l := f.lease(a)
	user := &rampart.Actor{Name: "alice", Source: "test"}
	if err := f.s.Cancel(ctx, user, r); err != nil {
		t.Fatal(err)
	}
	wantStatuses(t, f.jobs(r), map[string]string{"build": "running", "test": "cancelled", "package": "cancelled"})
	hb, err := f.s.Heartbeat(ctx, l.JobID, l.Fence)
	if err != nil || !hb.Cancel {
		t.Fatalf("heartbeat after cancel: %+v %v", hb, err)
	}
	f.complete(l, rampart.StatusCancelled)
	if st := f.status(r); st != rampart.StatusCancelled {
		t.Fatalf("run: %s", st)
	}
	if err := f.s.Cancel(ctx, user, r); rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("cancelling a finished run: %v", err)
	}
}

func TestBadPipelineFailsTheRunWithTheErrors(t *testing.T) {
	f := newFixture(t, "jobs:\n  build:\n    stepz: [{run: make}]\n")
	r := f.run("main")
	if r.Status != rampart.StatusFailed || !strings.Contains(r.Reason, ".rampart.yml:3:5") || !strings.Contains(r.Reason, "steps") {
		t.Fatalf("run %+v", r)
	}
}

func TestRegistrationTokenIsSingleUse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, threeJobs)
	tok, _, err := f.s.CreateAgentToken(ctx, rampart.SystemActor(), []string{"trusted"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.s.Register(ctx, rampart.RegisterRequest{Token: tok, Name: "a1", Labels: []string{"gpu", "prod"}, Capacity: 1}, "x")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(resp.Labels, ",") != "trusted" {
		t.Fatalf("labels %v: the admin's labels must win over the claimed ones", resp.Labels)
	}
	if _, err := f.s.Register(ctx, rampart.RegisterRequest{Token: tok, Name: "a2", Capacity: 1}, "x"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("second use: %v", err)
	}
	tok2, _, _ := f.s.CreateAgentToken(ctx, rampart.SystemActor(), nil, time.Minute)
	f.clock.Add(2 * time.Minute)
	if _, err := f.s.Register(ctx, rampart.RegisterRequest{Token: tok2, Name: "a3", Capacity: 1}, "x"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("expired token: %v", err)
	}
	if _, err := f.s.AuthenticateAgent(ctx, "rma_forged"); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("forged credential: %v", err)
	}
	// Disabling an agent ends its credential at once.
	disabled := true
	if _, err := f.s.UpdateAgent(ctx, rampart.SystemActor(), "a1", scheduler.AgentUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.AuthenticateAgent(ctx, resp.Credential); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Fatalf("disabled agent: %v", err)
	}
}

// TestNoJobLeasedTwice runs two schedulers — two servers — on one database with many agents
// leasing at once, and checks every job went to exactly one agent.
func TestNoJobLeasedTwice(t *testing.T) {
	ctx := context.Background()
	var yaml strings.Builder
	yaml.WriteString("jobs:\n")
	const n = 30
	for i := range n {
		fmt.Fprintf(&yaml, "  j%d:\n    steps: [{run: 'true'}]\n", i)
	}
	f := newFixture(t, yaml.String())
	f.run("main")
	second := scheduler.New(scheduler.Config{Store: f.db, Repo: git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}, PollEvery: 10 * time.Millisecond})
	servers := []*scheduler.Scheduler{f.s, second}
	var agents []*rampart.Agent
	for i := range 6 {
		agents = append(agents, f.agent(fmt.Sprintf("a%d", i)))
	}
	var mu sync.Mutex
	taken := map[int64]string{}
	var wg sync.WaitGroup
	for i, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int64
			for {
				l, err := servers[i%2].Lease(ctx, a, rampart.LeaseRequest{Capacity: 64, Running: mine})
				if err != nil {
					t.Error(err)
					return
				}
				if l == nil {
					return
				}
				mine = append(mine, l.JobID)
				mu.Lock()
				if prev, dup := taken[l.JobID]; dup {
					t.Errorf("job %d leased by %s and %s", l.JobID, prev, a.Name)
				}
				taken[l.JobID] = a.Name
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(taken) != n {
		t.Fatalf("%d of %d jobs leased", len(taken), n)
	}
}

func TestPollStartsRunsForMovedBranches(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "on: [push]\njobs:\n  build:\n    steps: [{run: make}]\n")
	f.project.PollSeconds = 10
	// First poll only remembers the branches.
	if err := f.s.Poll(ctx, f.project); err != nil {
		t.Fatal(err)
	}
	if runs, _ := f.s.Runs(ctx, f.project, 0, 10); len(runs) != 0 {
		t.Fatalf("first poll started %d runs", len(runs))
	}
	next := commitFile(t, f.project.RepoURL, "a.txt", "1")
	// Not due yet: nothing happens within the interval.
	if err := f.s.Poll(ctx, f.project); err != nil {
		t.Fatal(err)
	}
	if runs, _ := f.s.Runs(ctx, f.project, 0, 10); len(runs) != 0 {
		t.Fatalf("poll before its interval started %d runs", len(runs))
	}
	f.clock.Add(11 * time.Second)
	if err := f.s.Poll(ctx, f.project); err != nil {
		t.Fatal(err)
	}
	runs, _ := f.s.Runs(ctx, f.project, 0, 10)
	if len(runs) != 1 || runs[0].Commit != next || runs[0].Branch != "main" || runs[0].TriggeredBy != "poll" {
		t.Fatalf("runs after a new commit: %+v", runs)
	}
	f.clock.Add(11 * time.Second)
	if err := f.s.Poll(ctx, f.project); err != nil {
		t.Fatal(err)
	}
	if runs, _ := f.s.Runs(ctx, f.project, 0, 10); len(runs) != 1 {
		t.Fatalf("an unchanged branch started another run: %d", len(runs))
	}
}

func TestScheduleFiresOncePerDueTime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "on:\n  schedule:\n    - cron: '0 * * * *'\njobs:\n  nightly:\n    steps: [{run: make}]\n")
	count := func() int {
		runs, err := f.s.Runs(ctx, f.project, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		return len(runs)
	}
	if err := f.s.Schedule(ctx, f.project); err != nil { // 12:00: first sight
		t.Fatal(err)
	}
	f.clock.Add(30 * time.Minute) // 12:30: not due
	_ = f.s.Schedule(ctx, f.project)
	if n := count(); n != 0 {
		t.Fatalf("runs before the hour: %d", n)
	}
	f.clock.Add(31 * time.Minute) // 13:01: due
	second := scheduler.New(scheduler.Config{Store: f.db, Repo: git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}, Now: f.clock.Now})
	for _, s := range []*scheduler.Scheduler{f.s, second, f.s} {
		if err := s.Schedule(ctx, f.project); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(); n != 1 {
		t.Fatalf("runs after the hour with two servers looking: %d, want 1", n)
	}
	runs, _ := f.s.Runs(ctx, f.project, 0, 1)
	if runs[0].Event != rampart.EventSchedule {
		t.Fatalf("event %q", runs[0].Event)
	}
}

func commitFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "."}, {"commit", "-q", "-m", "more"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
