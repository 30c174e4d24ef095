package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
	"github.com/rampart-ci/rampart/pipeline"
)

func parseNumber(s, what string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || n < 1 {
		return 0, rampart.Errorf(rampart.EINVALID, "bad %s %q", what, s).WithDetail("give a number such as 12")
	}
	return n, nil
}

func (a *App) pipelineCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "pipeline", Short: "Lint pipelines, start, list, show, cancel and retry runs"}
	lint := &cobra.Command{
		Use:   "lint [FILE]",
		Short: "Check a .rampart.yml file (default ./.rampart.yml) and print every problem with file:line:column",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := ".rampart.yml"
			if len(args) == 1 {
				file = args[0]
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return rampart.Errorf(rampart.EINVALID, "cannot read %s: %v", file, errors.Unwrap(err)).WithDetail("give the path of a pipeline file")
			}
			p, err := pipeline.Parse(file, data)
			if err != nil {
				fmt.Fprintln(a.stderr, err)
				return rampart.Errorf(rampart.EINVALID, "%s is not a valid pipeline", file)
			}
			fmt.Fprintf(a.stdout, "%s: ok (%d jobs)\n", file, len(p.Jobs))
			return nil
		},
	}
	var ref, incident string
	var follow, securityFix bool
	run := &cobra.Command{
		Use:   "run PROJECT [--ref REF] [--security-fix --incident ID]",
		Short: "Start a run of a project's pipeline at a branch, tag or commit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			if securityFix && strings.TrimSpace(incident) == "" {
				return rampart.Errorf(rampart.EINVALID, "a security fix needs the incident it fixes").WithDetail("add --incident ID")
			}
			r, err := c.StartRunWith(cmd.Context(), args[0], client.RunOptions{Ref: ref, SecurityFix: securityFix, Incident: incident})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Run #%d of %s at %s: %s\n", r.Number, r.Project, short(r.Commit), r.Status)
			if r.SecurityFix {
				fmt.Fprintf(a.stdout, "Security fast lane for incident %s: its jobs go first; deployments skip wait timers and windows and take one security approval.\n", r.Incident)
			}
			if r.Reason != "" {
				fmt.Fprintln(a.stdout, r.Reason)
			}
			if !follow {
				return nil
			}
			return a.followRun(cmd.Context(), c, args[0], r.Number)
		},
	}
	run.Flags().StringVar(&ref, "ref", "", "branch, tag or commit to build (default: the repository's HEAD)")
	run.Flags().BoolVarP(&follow, "follow", "f", false, "follow the run's logs until it ends")
	run.Flags().BoolVar(&securityFix, "security-fix", false, "security fast lane: jobs jump the queue; deployments skip wait timers and windows and accept one security approval")
	run.Flags().StringVar(&incident, "incident", "", "the incident a --security-fix run fixes")
	var limit int
	list := &cobra.Command{
		Use:   "list PROJECT",
		Short: "List a project's runs, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			runs, err := c.ListRuns(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "RUN\tSTATUS\tEVENT\tREF\tCOMMIT\tBY\tCREATED")
			for _, r := range runs {
				fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Number, r.Status, r.Event, r.Ref, short(r.Commit), r.TriggeredBy, fmtTime(&r.CreatedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().IntVar(&limit, "limit", 20, "how many runs")
	show := &cobra.Command{
		Use:   "show PROJECT NUMBER",
		Short: "Show a run and its jobs",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseNumber(args[1], "run number")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			r, err := c.Run(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Run #%d of %s: %s\nEvent: %s %s at %s, by %s\n", r.Number, r.Project, r.Status, r.Event, r.Ref, r.Commit, r.TriggeredBy)
			if r.Reason != "" {
				fmt.Fprintf(a.stdout, "Reason: %s\n", r.Reason)
			}
			fmt.Fprintln(a.stdout)
			tw := a.table()
			fmt.Fprintln(tw, "JOB ID\tNAME\tSTATUS\tNEEDS\tATTEMPT\tREASON")
			for _, j := range r.Jobs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", j.ID, j.Name, j.Status, strings.Join(j.Needs, ","), j.Attempt, j.Reason)
			}
			return tw.Flush()
		},
	}
	runAction := func(use, short string, retry bool) *cobra.Command {
		return &cobra.Command{
			Use:   use + " PROJECT NUMBER",
			Short: short,
			Args:  cobra.ExactArgs(2),
			RunE: func(cmd *cobra.Command, args []string) error {
				n, err := parseNumber(args[1], "run number")
				if err != nil {
					return err
				}
				c, err := a.client()
				if err != nil {
					return err
				}
				if retry {
					r, err := c.RetryRun(cmd.Context(), args[0], n)
					if err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "Run #%d started (retry of #%d).\n", r.Number, n)
					return nil
				}
				if err := c.CancelRun(cmd.Context(), args[0], n); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "Run #%d cancelled.\n", n)
				return nil
			},
		}
	}
	cmd.AddCommand(lint, run, list, show, runAction("cancel", "Cancel a queued or running run", false), runAction("retry", "Start the run again at the same commit", true))
	return cmd
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// followRun prints each job's log in turn as the run progresses.
func (a *App) followRun(ctx context.Context, c *client.Client, project string, number int64) error {
	followed := map[int64]bool{}
	for {
		r, err := c.Run(ctx, project, number)
		if err != nil {
			return err
		}
		next := (*rampart.Job)(nil)
		for _, j := range r.Jobs {
			if !followed[j.ID] && (j.Status == rampart.StatusRunning || rampart.Terminal(j.Status) && j.Status != rampart.StatusSkipped) {
				next = j
				break
			}
		}
		if next == nil {
			if rampart.Terminal(r.Status) {
				fmt.Fprintf(a.stdout, "Run #%d %s\n", r.Number, r.Status)
				if r.Status != rampart.StatusSucceeded {
					return rampart.Errorf(rampart.EPRECONDITION, "run #%d %s", r.Number, r.Status).WithDetail("%s", r.Reason)
				}
				return nil
			}
			if err := sleepCtx(ctx); err != nil {
				return err
			}
			continue
		}
		followed[next.ID] = true
		fmt.Fprintf(a.stdout, "── job %s (%d) ──\n", next.Name, next.ID)
		end, err := c.FollowLog(ctx, next.ID, a.stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "── job %s %s ──\n", next.Name, end.Status)
	}
}

func (a *App) logsCommand() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs JOB",
		Short: "Print a job's log (-f: follow it live until the job ends)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNumber(args[0], "job id")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if !follow {
				return c.Log(cmd.Context(), id, a.stdout)
			}
			end, err := c.FollowLog(cmd.Context(), id, a.stdout)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "job %d %s\n", id, end.Status)
			if end.Status != rampart.StatusSucceeded {
				return rampart.Errorf(rampart.EPRECONDITION, "job %d %s", id, end.Status).WithDetail("%s", end.Reason)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "stream the log live until the job ends")
	return cmd
}

func (a *App) artifactCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "artifact", Short: "List and download a run's artifacts"}
	list := &cobra.Command{
		Use:   "list PROJECT RUN",
		Short: "List a run's artifacts",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseNumber(args[1], "run number")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			arts, err := c.Artifacts(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tJOB\tNAME\tSIZE\tDIGEST")
			for _, x := range arts {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\n", x.ID, x.JobID, x.Name, x.Size, x.Digest)
			}
			return tw.Flush()
		},
	}
	var out, provenanceOut string
	get := &cobra.Command{
		Use:   "get PROJECT ID [-o FILE] [--provenance FILE]",
		Short: "Download an artifact (default: to a file named like it in the current directory)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNumber(args[1], "artifact id")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			path := out
			var w io.Writer = a.stdout
			var tmp *os.File
			if path != "-" {
				// The name comes from the server only after the download starts.
				dir := "."
				if path != "" {
					dir = filepath.Dir(path)
				}
				if tmp, err = os.CreateTemp(dir, ".rampart-artifact-*"); err != nil {
					return fmt.Errorf("create a file in %s: %w", dir, err)
				}
				defer os.Remove(tmp.Name())
				w = tmp
			}
			name, digest, err := c.DownloadArtifact(cmd.Context(), args[0], id, w)
			if err != nil {
				return err
			}
			if provenanceOut != "" {
				if err := a.saveProvenance(cmd.Context(), c, args[0], id, provenanceOut); err != nil {
					return err
				}
			}
			if tmp == nil {
				return nil
			}
			if err := tmp.Close(); err != nil {
				return fmt.Errorf("write artifact: %w", err)
			}
			if path == "" {
				path = filepath.Base(name)
				if path == "." || path == "/" || path == ".." {
					path = fmt.Sprintf("artifact-%d", id)
				}
			}
			if err := os.Rename(tmp.Name(), path); err != nil {
				return fmt.Errorf("save %s: %w", path, err)
			}
			fmt.Fprintf(a.stderr, "Saved %s (sha256 %s)\n", path, digest)
			return nil
		},
	}
	get.Flags().StringVarP(&out, "output", "o", "", "file to write, - for stdout")
	get.Flags().StringVar(&provenanceOut, "provenance", "", "also save the artifact's signed provenance (DSSE envelope) to this file, for `rampart artifact verify`")
	cmd.AddCommand(list, get, a.artifactVerifyCommand())
	return cmd
}

// sleepCtx waits a moment between polls, or until ctx ends.
func sleepCtx(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(500 * time.Millisecond):
		return nil
	}
}
