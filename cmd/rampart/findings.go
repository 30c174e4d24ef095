package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"

	"github.com/spf13/cobra"
)

func (a *App) findingsCommand() *cobra.Command {
	var sbomFile string
	cmd := &cobra.Command{
		Use:   "findings PROJECT RUN [--sbom FILE]",
		Short: "List the security findings of a run, most severe first, with waived ones marked, and the gate's verdict",
		Long: `List the security findings of a run, most severe first, with waived ones marked, and the
security gate's verdict on each scan job. --sbom FILE also writes the run's CycloneDX SBOM.

Exit status: 0 when every scan job passed the gate (or the run has none), 1 when one failed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := parseNumber(args[1], "run number")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			fs, err := c.Findings(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			gate, err := c.Gate(cmd.Context(), args[0], n)
			if err != nil {
				return err
			}
			if sbomFile != "" {
				f, err := os.Create(sbomFile)
				if err != nil {
					return rampart.Errorf(rampart.EINVALID, "cannot write the SBOM: %v", err)
				}
				err = c.SBOM(cmd.Context(), args[0], n, f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return err
				}
			}
			if len(fs) == 0 {
				fmt.Fprintf(a.stdout, "Run #%d has no findings.\n", n)
			} else {
				tw := a.table()
				fmt.Fprintln(tw, "SEVERITY\tRULE\tLOCATION\tMESSAGE\tFIX\tFINGERPRINT")
				for _, f := range fs {
					sev := f.Severity
					if f.Waived {
						sev += " (waived)"
					}
					loc := f.File
					if f.Line > 0 {
						loc += ":" + strconv.Itoa(f.Line)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sev, f.RuleID, loc, f.Message, f.Fix, f.Fingerprint)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			failed := false
			for _, g := range gate {
				verdict := "passed"
				if !g.Verdict.Pass {
					verdict, failed = "FAILED", true
				}
				fmt.Fprintf(a.stdout, "\nGate of job %s (%s): %s — %d findings, %d waived, %d packages\n",
					g.Job, strings.Join(g.Scanners, ", "), verdict, g.Verdict.Findings, len(g.Verdict.Waived), g.PackageCount)
				for _, f := range g.Verdict.Failures {
					fmt.Fprintf(a.stdout, "  - %s\n", f)
				}
				for _, w := range g.Verdict.Warnings {
					fmt.Fprintf(a.stdout, "  note: %s\n", w)
				}
			}
			if failed {
				return &exitError{code: exitGateFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&sbomFile, "sbom", "", "write the run's CycloneDX SBOM to FILE")
	return cmd
}

func (a *App) waiverCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "waiver", Short: "Exempt findings from the security gate, for a while (security role)"}
	var reason string
	var expires time.Duration
	add := &cobra.Command{
		Use:   "add PROJECT FINGERPRINT --reason TEXT --expires 720h",
		Short: "Waive one finding of a project until the waiver expires (at most 90 days)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			w, err := c.Waive(cmd.Context(), args[0], args[1], reason, expires.String())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Waiver %d for %s granted by %s until %s.\n", w.ID, w.Fingerprint, w.Approver, fmtTime(&w.ExpiresAt))
			return nil
		},
	}
	add.Flags().StringVar(&reason, "reason", "", "why the finding is acceptable (required)")
	add.Flags().DurationVar(&expires, "expires", 30*24*time.Hour, "how long the waiver lasts")
	list := &cobra.Command{
		Use:   "list PROJECT",
		Short: "List a project's waivers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			ws, err := c.Waivers(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "ID\tFINGERPRINT\tSTATUS\tEXPIRES\tBY\tREASON")
			now := time.Now()
			for _, w := range ws {
				status := "active"
				switch {
				case w.RevokedAt != nil:
					status = "revoked"
				case !w.Active(now):
					status = "expired"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", w.ID, w.Fingerprint, status, fmtTime(&w.ExpiresAt), w.Approver, w.Reason)
			}
			return tw.Flush()
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke PROJECT ID",
		Short: "End a waiver now",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseNumber(args[1], "waiver id")
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.RevokeWaiver(cmd.Context(), args[0], id); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Waiver %d revoked.\n", id)
			return nil
		},
	}
	cmd.AddCommand(add, list, revoke)
	return cmd
}
