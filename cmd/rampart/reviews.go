package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
)

func (a *App) reviewsCommand() *cobra.Command {
	var commit string
	cmd := &cobra.Command{
		Use:   "reviews PROJECT [--commit SHA]",
		Short: "Show the review evidence the git host sent: approvals, dismissals, merges",
		Long: `Show the review evidence of a project that the git host's webhooks sent: who approved, asked for
changes on or withdrew an approval of which commit of which pull request, and which pull requests
were merged as which commits. Without --commit it lists the latest evidence, newest first.

A commit marked ? is the pull request's head when the host sent the webhook: GitLab and Gitea do
not say which commit a review saw. A merge shows its head -> the commit it made.

With --commit SHA (the full commit id) it shows the evidence of that commit and whether it is
covered by an approving review from someone other than the pull request's author, as the
require-review rule of environments asks, and if not, why not.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			cov, err := c.Reviews(cmd.Context(), args[0], strings.TrimSpace(commit))
			if err != nil {
				return err
			}
			if len(cov.Events) == 0 {
				fmt.Fprintln(a.stdout, "No review evidence.")
			} else {
				tw := a.table()
				fmt.Fprintln(tw, "KIND\tPR\tREVIEWER\tAUTHOR\tCOMMIT\tTIME")
				for _, e := range cov.Events {
					fmt.Fprintf(tw, "%s\t%s#%d\t%s\t%s\t%s\t%s\n", e.Kind, e.Host, e.Number, dash(e.Reviewer), reviewAuthor(e),
						reviewCommits(e), fmtTime(&e.At))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			if cov.Commit == "" {
				return nil
			}
			if cov.Covered {
				fmt.Fprintf(a.stdout, "\nCommit %s is covered: %s.\n", short(cov.Commit), cov.Why)
			} else {
				fmt.Fprintf(a.stdout, "\nCommit %s is NOT covered: %s.\n", short(cov.Commit), cov.Why)
			}
			if len(cov.PRAuthors) > 0 {
				fmt.Fprintf(a.stdout, "Pull request authors, who may not approve its deployment: %s\n", strings.Join(cov.PRAuthors, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&commit, "commit", "", "full commit SHA whose evidence and coverage to show")
	return cmd
}

func (a *App) violationsCommand() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "violations PROJECT",
		Short: "List a project's policy violations, such as unreviewed pushes to protected branches",
		Long: `List a project's policy violations, newest first. A push of a commit without review evidence to a
branch that an environment requiring review deploys from (env protect --require-review
--branches …) is one; each is also in the audit log as policy.violation.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			vs, err := c.Violations(cmd.Context(), args[0], limit)
			if err != nil {
				return err
			}
			if len(vs) == 0 {
				fmt.Fprintln(a.stdout, "No policy violations.")
				return nil
			}
			tw := a.table()
			fmt.Fprintln(tw, "TIME\tKIND\tREF\tCOMMIT\tDETAIL")
			for _, v := range vs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", fmtTime(&v.CreatedAt), v.Kind, v.Ref, short(v.Commit), v.Detail)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "show at most this many (1-1000; default 100)")
	return cmd
}

// reviewAuthor names a pull request's author: the login, else the host's id.
func reviewAuthor(e *rampart.ReviewEvent) string {
	switch {
	case e.Author != "":
		return e.Author
	case e.AuthorID != 0:
		return fmt.Sprintf("id:%d", e.AuthorID)
	}
	return "-"
}

// reviewCommits is the commit an event is about, and for merges the merge commit it made.
func reviewCommits(e *rampart.ReviewEvent) string {
	s := short(e.CommitSHA)
	if e.CommitInferred {
		s += "?"
	}
	if e.MergeCommitSHA != "" {
		s += " -> " + short(e.MergeCommitSHA)
	}
	return s
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
