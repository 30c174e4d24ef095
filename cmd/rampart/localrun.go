package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/executor"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/pipeline"
)

// localRunCommand is `rampart run [DIR]`: a repository's pipeline on this machine with the
// agent's executor, without a server. It builds the committed HEAD, as the server would.
func (a *App) localRunCommand() *cobra.Command {
	var event, sandbox string
	var jobs []string
	cmd := &cobra.Command{
		Use:   "run [DIR]",
		Short: "Run a repository's pipeline locally with the agent's executor (no server needed)",
		Long: `Run the .rampart.yml of the git repository in DIR (default: the current directory) on this
machine, job by job in dependency order, each in a fresh workspace holding the committed HEAD.
Uncommitted changes are not included: commit them first, or they would not be built by the server
either.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "."
			if len(args) == 1 {
				dir = args[0]
			}
			return a.runLocal(cmd.Context(), dir, event, sandbox, jobs)
		},
	}
	cmd.Flags().StringVar(&event, "event", rampart.EventPush, "event to plan for: push, pull_request, schedule or manual")
	cmd.Flags().StringVar(&sandbox, "sandbox", "auto", "auto, bwrap or none")
	cmd.Flags().StringSliceVar(&jobs, "job", nil, "run only these jobs (and nothing that needs others)")
	return cmd
}

func (a *App) runLocal(ctx context.Context, dir, event, sandbox string, only []string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(abs, ".rampart.yml"))
	if err != nil {
		return rampart.Errorf(rampart.EINVALID, "no .rampart.yml in %s", abs).WithDetail("run it in a repository with a pipeline, or give its directory")
	}
	p, err := pipeline.Parse(".rampart.yml", data)
	if err != nil {
		fmt.Fprintln(a.stderr, err)
		return rampart.Errorf(rampart.EINVALID, "the pipeline is not valid").WithDetail("fix the problems above; `rampart pipeline lint` checks the file alone")
	}
	commit, err := git.ResolveRef(ctx, abs, "HEAD")
	if err != nil {
		return err
	}
	branch := ""
	if out, err := exec.CommandContext(ctx, "git", "-C", abs, "symbolic-ref", "--short", "-q", "HEAD").Output(); err == nil {
		branch = strings.TrimSpace(string(out))
	}
	ev := pipeline.Event{Kind: event, Branch: branch, Ref: "refs/heads/" + branch, Commit: commit, BaseBranch: branch}
	plan, err := p.Plan(ev)
	if err != nil {
		return err
	}
	ex, err := executor.New(executor.Config{Sandbox: sandbox, Logger: newLogger(a.stderr, slog.LevelWarn)})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "Running %s at %s (%s) locally\n", abs, short(commit), branch)
	status := map[string]string{}
	failed := 0
	for _, pj := range plan.Jobs {
		reason := pj.Reason
		st := pj.Status
		if len(only) > 0 && !contains(only, pj.Name) {
			st, reason = pipeline.StatusSkipped, "not selected with --job"
		}
		for _, n := range pj.Needs {
			if status[n] != rampart.StatusSucceeded && st != pipeline.StatusSkipped {
				st, reason = pipeline.StatusSkipped, "needs "+n+", which "+status[n]
			}
		}
		if st == pipeline.StatusSkipped {
			status[pj.Name] = rampart.StatusSkipped
			fmt.Fprintf(a.stdout, "── job %s skipped: %s\n", pj.Name, reason)
			continue
		}
		fmt.Fprintf(a.stdout, "── job %s ──\n", pj.Name)
		job := executor.Job{
			ID: pj.Name, Network: pj.Network != pipeline.NetworkNone, Timeout: pj.Timeout,
			Prepare: func(ctx context.Context, ws string) error { return git.Checkout(ctx, abs, commit, ws) },
		}
		for _, st := range pj.Steps {
			job.Steps = append(job.Steps, executor.Step{Name: st.Name, Run: st.Run, Env: st.Env})
		}
		start := time.Now()
		res := ex.Run(ctx, job, a.stdout)
		status[pj.Name] = res.Status
		fmt.Fprintf(a.stdout, "── job %s %s in %s ──\n", pj.Name, res.Status, time.Since(start).Round(time.Millisecond))
		if res.Status != rampart.StatusSucceeded {
			failed++
			if res.Err != nil {
				fmt.Fprintf(a.stdout, "   %v\n", res.Err)
			}
		}
	}
	if failed > 0 {
		return rampart.Errorf(rampart.EPRECONDITION, "%d job(s) did not succeed", failed)
	}
	fmt.Fprintln(a.stdout, "All jobs succeeded.")
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
