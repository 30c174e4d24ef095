package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/mask"
	"github.com/rampart-ci/rampart/scan"
	"github.com/rampart-ci/rampart/scan/deps"
	"github.com/rampart-ci/rampart/scan/iac"
	"github.com/rampart-ci/rampart/scan/sarif"
	"github.com/rampart-ci/rampart/scan/secrets"
)

// maxLoggedFindings bounds the findings written into the job log; all of them go to the server.
const maxLoggedFindings = 50

// scanJob runs the scans a job asks for over its workspace after the steps, sends the report to
// the server and writes the gate's verdict into the job log. The server, not the agent, decides:
// it checks the packages against its advisory database, applies the project's waivers and fails
// the job at completion when the gate failed. The workspace is untrusted: the scan follows no
// symbolic links and SARIF files are opened inside the workspace only. A repository's
// .rampartignore is not read: only waivers on the server excuse findings in a pipeline.
func scanJob(ctx context.Context, ws string, spec rampart.JobSpec, m *mask.Masker, out io.Writer,
	report func(context.Context, *rampart.ScanReport) (*rampart.GateVerdict, error)) error {
	start := time.Now()
	rep := &rampart.ScanReport{Findings: []*rampart.Finding{}}
	var scanners []scan.Scanner
	var depScanner *deps.Scanner
	tree, err := os.OpenRoot(ws)
	if err != nil {
		return fmt.Errorf("scan: open the workspace: %w", err)
	}
	defer tree.Close()
	for _, name := range spec.Scan {
		switch name {
		case scan.ScannerSecrets:
			s, err := secrets.NewScanner(secrets.Config{})
			if err != nil {
				return fmt.Errorf("scan: secrets: %w", err)
			}
			scanners = append(scanners, s)
		case scan.ScannerDependencies:
			// Extraction only: the server matches the packages against its database.
			depScanner = deps.New(nil, deps.Options{Root: tree.FS()})
			scanners = append(scanners, extractOnly{depScanner})
		case scan.ScannerIaC:
			s, err := iac.New(ctx)
			if err != nil {
				return fmt.Errorf("scan: IaC rules: %w", err)
			}
			scanners = append(scanners, s)
		default:
			return fmt.Errorf("scan: unknown scanner %q (use secrets, dependencies or iac)", name)
		}
		rep.Scanners = append(rep.Scanners, name)
	}
	var found []scan.Finding
	if len(scanners) > 0 {
		res, err := scan.Run(ctx, ws, scanners, scan.Options{})
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		found = res.Findings
		rep.Warnings = res.Warnings
		fmt.Fprintf(out, "scan: %s over %d files (%s) in %s\n", strings.Join(spec.Scan, ", "), res.Stats.Files,
			byteSize(res.Stats.Bytes), time.Since(start).Round(time.Millisecond))
	}
	if depScanner != nil {
		for _, p := range depScanner.Packages() {
			rep.Packages = append(rep.Packages, &rampart.ScanPackage{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem,
				File: p.File, Line: p.Line, PURL: p.PURL, Constraint: p.Constraint})
		}
		fmt.Fprintf(out, "scan: %d packages found, sent to the server to check against its advisory database\n", len(rep.Packages))
	}
	if len(spec.SARIF) > 0 {
		rep.Scanners = append(rep.Scanners, scan.ScannerSARIF)
		for _, name := range spec.SARIF {
			fs, err := readWorkspaceSARIF(tree, ws, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "scan: %d findings read from %s\n", len(fs), name)
			found = append(found, fs...)
		}
	}
	for _, f := range found {
		rep.Findings = append(rep.Findings, reportFinding(f, m))
	}
	for i, w := range rep.Warnings {
		rep.Warnings[i] = maskString(m, w)
	}

	v, err := report(ctx, rep)
	if err != nil {
		return fmt.Errorf("scan: send the findings to the server: %w", err)
	}
	writeVerdict(out, spec, rep, v)
	return nil
}

// extractOnly lists the packages of a dependency scanner without a database: its Finish reports
// nothing, since the server does the matching.
type extractOnly struct{ *deps.Scanner }

func (extractOnly) Finish(context.Context) ([]scan.Finding, error) { return nil, nil }

// readWorkspaceSARIF reads a SARIF file a step wrote, refusing paths that leave the workspace
// (through .. or a symbolic link).
func readWorkspaceSARIF(tree *os.Root, ws, name string) ([]scan.Finding, error) {
	clean := path.Clean(strings.TrimPrefix(name, "./"))
	f, err := tree.Open(clean)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sarif: %s does not exist: the steps must write it before the job ends", name)
		}
		return nil, fmt.Errorf("sarif: cannot open %s inside the workspace: %w", name, err)
	}
	defer f.Close()
	fs, err := sarif.Options{Root: ws}.Read(f, name)
	if err != nil {
		return nil, fmt.Errorf("sarif: %w", err)
	}
	return fs, nil
}

// reportFinding turns a finding into the protocol's, masked: a SARIF file written by another
// tool may quote a secret the job was given.
func reportFinding(f scan.Finding, m *mask.Masker) *rampart.Finding {
	return &rampart.Finding{
		Fingerprint: f.Fingerprint, Scanner: f.Scanner, RuleID: f.RuleID, Severity: string(f.Severity),
		File: f.File, Line: f.Line, Message: maskString(m, f.Message), Fix: maskString(m, f.Fix),
		Package: f.Package, Version: f.Version, FixedVersion: f.FixedVersion, Tool: f.Tool,
	}
}

func maskString(m *mask.Masker, s string) string {
	if m == nil {
		return s
	}
	return m.String(s)
}

// writeVerdict prints what the gate decided, with the findings that decided it.
func writeVerdict(out io.Writer, spec rampart.JobSpec, rep *rampart.ScanReport, v *rampart.GateVerdict) {
	sevs := []string{"critical", "high", "medium", "low", "info"}
	var counts []string
	for _, s := range sevs {
		if n := v.Counts[s]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, s))
		}
	}
	summary := "no findings"
	if len(counts) > 0 {
		summary = fmt.Sprintf("%d findings (%s)", v.Findings, strings.Join(counts, ", "))
	}
	fmt.Fprintf(out, "scan: %s\n", summary)
	shown := slices.Clone(rep.Findings)
	slices.SortStableFunc(shown, func(a, b *rampart.Finding) int {
		return scan.Severity(b.Severity).Rank() - scan.Severity(a.Severity).Rank()
	})
	for i, f := range shown {
		if i == maxLoggedFindings {
			fmt.Fprintf(out, "  … and %d more: see `rampart findings %s %d`\n", len(shown)-i, spec.Project, spec.RunNumber)
			break
		}
		loc := f.File
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		fmt.Fprintf(out, "  %-8s %-28s %s  %s [%s]\n", f.Severity, f.RuleID, loc, oneLine(f.Message), f.Fingerprint)
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(out, "scan: note: %s\n", oneLine(w))
	}
	if len(v.Waived) > 0 {
		fmt.Fprintf(out, "gate: %d findings excused by waivers\n", len(v.Waived))
	}
	if v.Pass {
		fmt.Fprintf(out, "gate: passed\n")
		return
	}
	fmt.Fprintf(out, "gate: FAILED\n")
	for _, f := range v.Failures {
		fmt.Fprintf(out, "  - %s\n", oneLine(f))
	}
	fmt.Fprintf(out, "gate: fix the findings, or ask a security user to waive one: rampart waiver add %s FINGERPRINT --reason … --expires 720h\n", spec.Project)
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
