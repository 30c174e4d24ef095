package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/deploy"
)

func (a *App) envCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "env", Short: "Environments and their protection rules (admins, maintainers)"}
	create := &cobra.Command{
		Use:   "create PROJECT NAME",
		Short: "Add an environment that jobs can deploy to (environment: NAME in .rampart.yml)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			e, err := c.CreateEnvironment(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Environment %s of %s: %s. Set its rules with `rampart env protect %s %s`.\n", e.Name, args[0], e.Rules, args[0], e.Name)
			return nil
		},
	}
	var (
		approvals                              int
		approvers, branches, tags, windows     []string
		production, requireGate, requireReview bool
		wait, approvalTTL                      time.Duration
	)
	protect := &cobra.Command{
		Use:   "protect PROJECT NAME [rules]",
		Short: "Set an environment's protection rules (replaces the previous rules)",
		Long: `Set an environment's protection rules. They replace the previous rules as a whole, and live on
the server only: a pipeline can name the environment, never change its rules.

  --approvals N          N distinct people must approve each deployment
  --approvers LIST       who may approve: roles (release-manager, maintainer, security, admin) or user:NAME
  --production           production-like: only release managers and admins start manual releases or approve
  --branches, --tags     glob patterns of the refs that may deploy (release/**, v*)
  --require-gate         the run's security gate (scans) must have passed
  --require-review       the commit needs an approving review by someone other than its author (from webhooks)
  --wait 10m             wait after the approvals before deploying
  --window "Mon-Fri 09:00-17:00"   when deployments may start (UTC, repeatable)
  --approval-ttl 24h     how long an approval counts

Whoever started the run and the authors of the commits being deployed can never approve it.
A security fix (pipeline run --security-fix) skips the wait timer and windows and accepts one
approval from the security role; scans, reviews and provenance are never skipped.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			p := rampart.Protection{
				RequiredApprovals: approvals, Approvers: splitCommas(approvers), Production: production,
				Branches: splitCommas(branches), Tags: splitCommas(tags), RequireGate: requireGate, RequireReview: requireReview,
				WaitSeconds: int(wait / time.Second), Windows: windows, ApprovalTTLSeconds: int(approvalTTL / time.Second),
			}
			e, err := c.ProtectEnvironment(cmd.Context(), args[0], args[1], p)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Environment %s of %s: %s.\n", e.Name, args[0], e.Rules)
			return nil
		},
	}
	f := protect.Flags()
	f.IntVar(&approvals, "approvals", 0, "distinct approvals each deployment needs")
	f.StringSliceVar(&approvers, "approvers", nil, "who may approve: role names or user:NAME (default: holders of deploy.approve)")
	f.BoolVar(&production, "production", false, "production-like: release managers and admins only")
	f.StringSliceVar(&branches, "branches", nil, "branch patterns allowed to deploy")
	f.StringSliceVar(&tags, "tags", nil, "tag patterns allowed to deploy")
	f.BoolVar(&requireGate, "require-gate", false, "require the run's security gate to have passed")
	f.BoolVar(&requireReview, "require-review", false, "require review evidence from the git host")
	f.DurationVar(&wait, "wait", 0, "wait timer after the approvals")
	f.StringArrayVar(&windows, "window", nil, `deployment window, e.g. "Mon-Fri 09:00-17:00" (UTC; repeatable)`)
	f.DurationVar(&approvalTTL, "approval-ttl", 0, "how long an approval counts (default 24h)")
	list := &cobra.Command{
		Use:   "list PROJECT",
		Short: "List a project's environments, their rules and what is deployed there",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			es, err := c.Environments(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "ENVIRONMENT\tDEPLOYED\tRULES")
			for _, e := range es {
				now := "nothing yet"
				if d := e.Current; d != nil {
					now = fmt.Sprintf("%s (run #%d, %s)", short(d.Commit), d.RunNumber, fmtTime(d.FinishedAt))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Name, now, e.Rules)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(create, protect, list)
	return cmd
}

func splitCommas(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (a *App) deployCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "deploy", Short: "Deployments: history, pending approvals, rollback"}
	var limit int
	history := &cobra.Command{
		Use:   "history PROJECT ENV",
		Short: "What was deployed to an environment, when, by whose approval",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ds, err := c.Deployments(cmd.Context(), args[0], args[1], limit)
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tSTATUS\tRUN\tCOMMIT\tAPPROVED BY\tFINISHED\tCOMMIT→PROD\tNOTE")
			for _, d := range ds {
				fmt.Fprintf(tw, "%d\t%s\t#%d\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.Status, d.RunNumber, short(d.Commit), approvedBy(d),
					fmtTime(d.FinishedAt), leadTime(d), note(d))
			}
			return tw.Flush()
		},
	}
	history.Flags().IntVar(&limit, "limit", 20, "how many deployments")
	pending := &cobra.Command{
		Use:   "pending",
		Short: "Deployments waiting, and what each waits for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ds, err := c.PendingDeployments(cmd.Context())
			if err != nil {
				return err
			}
			if len(ds) == 0 {
				fmt.Fprintln(a.stdout, "No deployment is waiting.")
				return nil
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tPROJECT\tENV\tRUN\tCOMMIT\tSTARTED BY\tWAITING FOR")
			for _, d := range ds {
				fmt.Fprintf(tw, "%d\t%s\t%s\t#%d\t%s\t%s\t%s\n", d.ID, d.Project, d.Environment, d.RunNumber, short(d.Commit), d.TriggeredBy, note(d))
			}
			return tw.Flush()
		},
	}
	show := &cobra.Command{
		Use:   "show DEPLOYMENT",
		Short: "A deployment: what it deploys, its approvals and what it waits for",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNumber(args[0], "deployment id")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.Deployment(cmd.Context(), id)
			if err != nil {
				return err
			}
			a.printDeployment(d)
			return nil
		},
	}
	rollback := &cobra.Command{
		Use:   "rollback PROJECT ENV",
		Short: "Redeploy the environment's previous good deployment, through the same rules",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			run, to, err := c.Rollback(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Run #%d redeploys deployment %d (commit %s) to %s; it goes through the environment's rules again.\n",
				run.Number, to.ID, short(to.Commit), args[1])
			return nil
		},
	}
	cmd.AddCommand(history, pending, show, rollback)
	return cmd
}

func (a *App) printDeployment(d *rampart.Deployment) {
	fmt.Fprintf(a.stdout, "Deployment %d of %s to %s: %s\n", d.ID, d.Project, d.Environment, d.Status)
	fmt.Fprintf(a.stdout, "  run #%d, job %s, commit %s (%s), started by %s\n", d.RunNumber, d.Job, d.Commit, d.Ref, d.TriggeredBy)
	if d.SecurityFix {
		fmt.Fprintf(a.stdout, "  security fix for incident %s\n", d.Incident)
	}
	if d.RollbackOf != 0 {
		fmt.Fprintf(a.stdout, "  rollback to deployment %d\n", d.RollbackOf)
	}
	for _, art := range d.Artifacts {
		fmt.Fprintf(a.stdout, "  artifact %s %s\n", art.Name, art.Digest)
	}
	for _, ap := range d.Approvals {
		verb := "approved"
		if !ap.Approve {
			verb = "rejected"
		}
		fmt.Fprintf(a.stdout, "  %s by %s (%s) at %s: %q\n", verb, ap.User, ap.Role, fmtTime(&ap.CreatedAt), ap.Comment)
	}
	if d.Waiting != "" {
		fmt.Fprintf(a.stdout, "  %s\n", d.Waiting)
	}
	if lt := leadTime(d); lt != "" {
		fmt.Fprintf(a.stdout, "  commit to production: %s\n", lt)
	}
}

func approvedBy(d *rampart.Deployment) string {
	var names []string
	for _, ap := range d.Approvals {
		if ap.Approve {
			names = append(names, ap.User)
		}
	}
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ",")
}

func leadTime(d *rampart.Deployment) string {
	if lt := deploy.LeadTime(d); lt > 0 {
		return lt.Round(time.Second).String()
	}
	return ""
}

func note(d *rampart.Deployment) string {
	var parts []string
	if d.SecurityFix {
		parts = append(parts, "security fix "+d.Incident)
	}
	if d.RollbackOf != 0 {
		parts = append(parts, fmt.Sprintf("rollback to %d", d.RollbackOf))
	}
	if d.Waiting != "" {
		parts = append(parts, d.Waiting)
	}
	return strings.Join(parts, "; ")
}

// decideCommand is `rampart approve` and `rampart reject`.
func (a *App) decideCommand(approve bool) *cobra.Command {
	verb, what := "approve", "Approve"
	if !approve {
		verb, what = "reject", "Reject"
	}
	var comment string
	cmd := &cobra.Command{
		Use:   verb + " DEPLOYMENT --comment TEXT",
		Short: what + " a waiting deployment (the change's authors and whoever started the run cannot)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNumber(args[0], "deployment id")
			if err != nil {
				return err
			}
			if strings.TrimSpace(comment) == "" {
				return rampart.Errorf(rampart.EINVALID, "a decision needs a comment").WithDetail("add --comment \"what you checked\"")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			d, err := c.Decide(cmd.Context(), id, approve, comment)
			if err != nil {
				return err
			}
			a.printDeployment(d)
			return nil
		},
	}
	cmd.Flags().StringVar(&comment, "comment", "", "why (required)")
	return cmd
}
