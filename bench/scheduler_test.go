package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/agent"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/client"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/server"
	"github.com/rampart-ci/rampart/store"
)

type rig struct {
	admin *client.Client
	sched *scheduler.Scheduler
	db    rampart.Store
}

// newRig starts a server on SQLite with agents agents (sandbox as given) and a project "p" whose
// pipeline is yaml.
func newRig(b *testing.B, agents int, sandbox, yaml string) *rig {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	logger := slog.New(slog.DiscardHandler)
	dir := b.TempDir()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "r.db"), logger)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	a, err := auth.New(db, logger, auth.Config{})
	if err != nil {
		b.Fatal(err)
	}
	_, token, _, err := a.Bootstrap(ctx)
	if err != nil {
		b.Fatal(err)
	}
	repo := git.Repo{Cache: &git.Cache{Dir: filepath.Join(dir, "cache")}}
	sched := scheduler.New(scheduler.Config{Store: db, Repo: repo, Logger: logger})
	projects := project.New(db, nil)
	srv := server.New(server.Config{Store: db, Auth: a, Projects: projects, Scheduler: sched, Repo: repo, Logger: logger})
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(hs.Close)
	go func() { _ = sched.Background(ctx) }()

	src := filepath.Join(dir, "src")
	_ = os.MkdirAll(src, 0o755)
	_ = os.WriteFile(filepath.Join(src, ".rampart.yml"), []byte(yaml), 0o644)
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "x"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=b", "-c", "user.email=b@e", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	admin := client.New(hs.URL, token)
	if _, err := admin.CreateProject(ctx, "p", src); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range agents {
		tok, err := admin.CreateAgentToken(ctx, nil, "")
		if err != nil {
			b.Fatal(err)
		}
		ag, err := agent.New(agent.Config{
			Server: hs.URL, RegistrationToken: tok.Token, Name: fmt.Sprintf("bench-%d", i), Capacity: 1,
			CredentialFile: filepath.Join(dir, fmt.Sprintf("agent-%d.json", i)), WorkRoot: filepath.Join(dir, fmt.Sprintf("work-%d", i)),
			Sandbox: sandbox, Logger: logger,
		})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = ag.Run(ctx) }()
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
	return &rig{admin: admin, sched: sched, db: db}
}

func (r *rig) waitRun(b *testing.B, number int64) *client.RunResponse {
	for {
		run, err := r.admin.Run(context.Background(), "p", number)
		if err != nil {
			b.Fatal(err)
		}
		if rampart.Terminal(run.Status) {
			if run.Status != rampart.StatusSucceeded {
				b.Fatalf("run #%d %s: %s", number, run.Status, run.Reason)
			}
			return run
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkJobStartLatency measures the time from a job becoming runnable (its run created) to
// its first step starting on an idle agent, which the step itself records.
func BenchmarkJobStartLatency(b *testing.B) {
	for _, sandbox := range []string{"none", "auto"} {
		b.Run("sandbox="+sandbox, func(b *testing.B) {
			r := newRig(b, 1, sandbox, "on: [manual]\njobs:\n  j:\n    steps: [{run: 'date +%s%N'}]\n")
			ctx := context.Background()
			var total time.Duration
			b.ResetTimer()
			for range b.N {
				// Let the agent settle into its long-poll, as an idle agent would be.
				time.Sleep(50 * time.Millisecond)
				start := time.Now()
				run, err := r.admin.StartRun(ctx, "p", "main")
				if err != nil {
					b.Fatal(err)
				}
				done := r.waitRun(b, run.Number)
				var log strings.Builder
				if err := r.admin.Log(ctx, done.Jobs[0].ID, &log); err != nil {
					b.Fatal(err)
				}
				var ns int64
				for _, line := range strings.Split(log.String(), "\n") {
					if n, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64); err == nil && n > 1e18 {
						ns = n
					}
				}
				if ns == 0 {
					b.Fatalf("no timestamp in log:\n%s", log.String())
				}
				total += time.Unix(0, ns).Sub(start)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first-step")
		})
	}
}

// BenchmarkTrivialJobThroughput pushes runs of 20 trivial jobs through one server with 4 agents
// and reports jobs per second.
func BenchmarkTrivialJobThroughput(b *testing.B) {
	var yaml strings.Builder
	yaml.WriteString("on: [manual]\njobs:\n")
	const jobs = 20
	for i := range jobs {
		fmt.Fprintf(&yaml, "  j%d:\n    steps: [{run: 'true'}]\n", i)
	}
	for _, sandbox := range []string{"none", "auto"} {
		b.Run("sandbox="+sandbox, func(b *testing.B) {
			r := newRig(b, 4, sandbox, yaml.String())
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				run, err := r.admin.StartRun(ctx, "p", "main")
				if err != nil {
					b.Fatal(err)
				}
				r.waitRun(b, run.Number)
			}
			b.ReportMetric(float64(b.N*jobs)/time.Since(start).Seconds(), "jobs/s")
		})
	}
}
