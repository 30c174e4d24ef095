package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/policy"
	"github.com/rampart-ci/rampart/scan"
	"github.com/rampart-ci/rampart/scan/deps"
	"github.com/rampart-ci/rampart/scan/iac"
	"github.com/rampart-ci/rampart/scan/sarif"
	"github.com/rampart-ci/rampart/scan/secrets"
)

// Exit codes of `rampart scan`, which CI scripts branch on.
const (
	exitGateFailed = 1 // findings fail the gate
	exitUsage      = 2 // bad flags or arguments, unreadable input, or the scan could not finish
)

// exitError makes Main return code instead of 1; err, when set, is printed first.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError is an exit-2 error with a message and how to fix it.
func usageError(detail, format string, args ...any) error {
	e := rampart.Errorf(rampart.EINVALID, format, args...)
	if detail != "" {
		e = e.WithDetail("%s", detail)
	}
	return &exitError{code: exitUsage, err: e}
}

// scanOptions are the flags of `rampart scan`.
type scanOptions struct {
	format, output   string
	sbom, sbomOutput string
	sarifFiles       []string
	policyDirs       []string
	gateDir          string
	scanners         []string
	dbDir            string
	noIgnoreFile     bool
}

var scanFormats = []string{"table", "json", "sarif"}

// scannerNames are the values of --scanners; "deps" is accepted for dependencies.
var scannerNames = []string{scan.ScannerSecrets, scan.ScannerDependencies, scan.ScannerIaC}

func (a *App) scanCommand() *cobra.Command {
	var o scanOptions
	cmd := &cobra.Command{
		Use:   "scan [PATH]",
		Short: "Scan a tree for secrets, vulnerable dependencies and IaC problems, and apply the gate",
		Long: `Scan PATH (default: the current directory) with the secret, dependency and IaC scanners in one
pass over its files: in a git work tree the tracked files plus untracked ones that are not ignored,
elsewhere every file; binary files and files over 10 MB are skipped. Findings of other scanners
(CodeQL, Semgrep, gosec, …) are added from SARIF files with --sarif and gated like Rampart's own.

The gate is the default policy (any verified secret; critical or high vulnerabilities that have a
fixed version; high IaC findings; high findings from SARIF) plus the Rego policies of --gate DIR.
Findings listed in PATH/.rampartignore (a fingerprint or rule id per line, with a # reason) are
left out here; the server's gate does not read that file.

Exit status: 0 when the gate passes, 1 when findings fail it, 2 for a usage or input error.`,
		Example: `  rampart scan
  rampart scan ./service --format sarif --output rampart.sarif
  rampart scan --sarif codeql.sarif --sarif gosec.sarif --gate policies/gate
  rampart scan --sbom cyclonedx --sbom-output sbom.cdx.json
  rampart scan --scanners secrets,iac --policy policies/iac`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError("give one directory to scan", "too many arguments: %s", strings.Join(args, " "))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			err := a.runScan(cmd.Context(), root, o)
			var ee *exitError
			if err == nil || errors.As(err, &ee) {
				return err
			}
			if errors.Is(err, context.Canceled) {
				err = rampart.Errorf(rampart.EINVALID, "interrupted")
			}
			return &exitError{code: exitUsage, err: err}
		},
	}
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError("see `rampart scan --help`", "%v", err)
	})
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "table", "report format: table, json or sarif")
	f.StringVarP(&o.output, "output", "o", "", "write the report to FILE instead of standard output")
	f.StringVar(&o.sbom, "sbom", "", "also write a bill of materials of every dependency found: cyclonedx")
	f.StringVar(&o.sbomOutput, "sbom-output", "", "write the SBOM to FILE (default: standard output, when the report goes to --output)")
	f.StringArrayVar(&o.sarifFiles, "sarif", nil, "add the findings of a SARIF 2.1.0 FILE from another scanner (repeatable)")
	f.StringArrayVar(&o.policyDirs, "policy", nil, "add the IaC policies (conftest-style Rego) in DIR (repeatable)")
	f.StringVar(&o.gateDir, "gate", "", "add the gate policies (Rego) in DIR to the default policy")
	f.StringSliceVar(&o.scanners, "scanners", scannerNames, "scanners to run: secrets, dependencies, iac")
	f.StringVar(&o.dbDir, "db", "", "advisory database directory (default: $XDG_CACHE_HOME/rampart/osv)")
	f.BoolVar(&o.noIgnoreFile, "no-ignore-file", false, "do not read PATH/"+policy.IgnoreFileName)
	return cmd
}

// runScan is `rampart scan`: everything given is checked before the tree is read, so that a
// mistake costs no scan.
func (a *App) runScan(ctx context.Context, root string, o scanOptions) error {
	// Flags.
	if !slices.Contains(scanFormats, o.format) {
		return usageError("use --format table, json or sarif", "unknown format %q", o.format)
	}
	switch o.sbom {
	case "", "cyclonedx":
	default:
		return usageError("use --sbom cyclonedx", "unknown SBOM format %q", o.sbom)
	}
	if o.sbom == "" && o.sbomOutput != "" {
		return usageError("add --sbom cyclonedx", "--sbom-output without --sbom")
	}
	if o.sbom != "" && o.sbomOutput == "" && o.output == "" {
		return usageError("give --sbom-output FILE (or --output FILE for the report)", "the report and the SBOM cannot both go to standard output")
	}
	want := map[string]bool{}
	for _, s := range o.scanners {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "deps" {
			s = scan.ScannerDependencies
		}
		if !slices.Contains(scannerNames, s) {
			return usageError("use --scanners with secrets, dependencies, iac", "unknown scanner %q", s)
		}
		want[s] = true
	}
	if len(want) == 0 && len(o.sarifFiles) == 0 {
		return usageError("name at least one scanner, or give --sarif files", "nothing to scan with")
	}
	if o.sbom != "" && !want[scan.ScannerDependencies] {
		return usageError("add dependencies to --scanners", "the SBOM lists the packages the dependency scanner finds")
	}
	if len(o.policyDirs) > 0 && !want[scan.ScannerIaC] {
		return usageError("add iac to --scanners", "--policy is for the IaC scanner, which is not selected")
	}
	st, err := os.Stat(root)
	if err != nil || !st.IsDir() {
		return usageError("give the directory to scan", "%s is not a directory", root)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}

	// Inputs: the gate, the ignore file and SARIF files.
	gate, err := policy.DefaultGate()
	if o.gateDir != "" {
		gate, err = policy.LoadGate(o.gateDir)
	}
	if err != nil {
		return err
	}
	var ignore *policy.IgnoreFile
	if !o.noIgnoreFile {
		name := filepath.Join(abs, policy.IgnoreFileName)
		data, err := os.ReadFile(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return rampart.Errorf(rampart.EINVALID, "cannot read %s: %v", name, err)
		default:
			if ignore, err = policy.ParseIgnoreFile(name, bytes.NewReader(data)); err != nil {
				return err
			}
		}
	}
	var ingested []scan.Finding
	for _, name := range o.sarifFiles {
		fs, err := readSARIF(name, abs)
		if err != nil {
			return err
		}
		ingested = append(ingested, fs...)
	}

	// Scanners.
	var scanners []scan.Scanner
	var depScanner *deps.Scanner
	var db *deps.DB
	if want[scan.ScannerSecrets] {
		s, err := secrets.NewScanner(secrets.Config{})
		if err != nil {
			return err
		}
		scanners = append(scanners, s)
	}
	if want[scan.ScannerDependencies] {
		dir := o.dbDir
		if dir == "" {
			if dir, err = deps.DefaultDir(); err != nil {
				return err
			}
		}
		db, err = deps.Open(dir)
		if errors.Is(err, deps.ErrNoDatabase) {
			return rampart.Errorf(rampart.EINVALID, "no advisory database in %s", dir).
				WithDetail("run `rampart db update` (--source DIR, ZIP or URL when offline), give --db DIR, or leave dependencies out with --scanners secrets,iac")
		} else if err != nil {
			return rampart.Errorf(rampart.EINVALID, "cannot open the advisory database in %s: %v", dir, err)
		}
		defer db.Close()
		tree, err := os.OpenRoot(abs)
		if err != nil {
			return err
		}
		defer tree.Close()
		depScanner = deps.New(db, deps.Options{Root: tree.FS()})
		scanners = append(scanners, depScanner)
	}
	if want[scan.ScannerIaC] {
		var opts []iac.Option
		for _, d := range o.policyDirs {
			opts = append(opts, iac.WithPolicies(d))
		}
		s, err := iac.New(ctx, opts...)
		if err != nil {
			return rampart.Errorf(rampart.EINVALID, "IaC policies: %v", err)
		}
		scanners = append(scanners, s)
	}

	// The scan.
	opts := scan.Options{}
	var bar *progressBar
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar = &progressBar{w: a.stderr}
		opts.Progress = bar.update
	}
	var res *scan.Result
	if len(scanners) > 0 {
		res, err = scan.Run(ctx, abs, scanners, opts)
	} else {
		res = &scan.Result{}
	}
	if bar != nil {
		bar.clear()
	}
	if err != nil {
		return err
	}
	findings := append(res.Findings, ingested...)
	scan.Sort(findings)
	kept, ignored := findings, []scan.Finding(nil)
	if ignore != nil {
		kept, ignored = ignore.Apply(findings)
	}
	verdict, err := gate.Evaluate(ctx, kept, nil, time.Now())
	if err != nil {
		return err
	}

	// Notes for people: what was scanned, the database's age, warnings.
	var notes []string
	if db != nil {
		m := db.Meta()
		age := "less than a day old"
		if days := int(time.Since(m.Updated).Hours() / 24); days > 0 {
			age = plural(days, "day") + " old"
		}
		notes = append(notes, fmt.Sprintf("advisory database from %s, %s", m.Updated.UTC().Format(time.DateOnly), age))
	}
	if len(ignored) > 0 {
		notes = append(notes, fmt.Sprintf("%s ignored by %s", plural(len(ignored), "finding"), policy.IgnoreFileName))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}

	// The report.
	out := a.stdout
	var file *os.File
	if o.output != "" {
		if file, err = os.Create(o.output); err != nil {
			return rampart.Errorf(rampart.EINVALID, "cannot write the report: %v", err)
		}
		defer file.Close()
		out = file
	}
	summary := a.stderr
	switch o.format {
	case "table":
		writeTable(out, kept, res.Stats, scanners, ingested, notes)
		summary = out
	case "json":
		if kept == nil {
			kept = []scan.Finding{}
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		err = enc.Encode(kept)
	case "sarif":
		err = sarif.Write(out, kept, version)
	}
	if err == nil && file != nil {
		err = file.Close()
	}
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if o.format != "table" {
		for _, n := range notes {
			fmt.Fprintln(a.stderr, n)
		}
	}

	if o.sbom != "" {
		if err := a.writeSBOM(o.sbomOutput, depScanner.Packages(), filepath.Base(abs)); err != nil {
			return err
		}
	}
	writeVerdict(summary, verdict)
	if !verdict.Pass {
		return &exitError{code: exitGateFailed}
	}
	return nil
}

// readSARIF reads a SARIF file given with --sarif.
func readSARIF(name, root string) ([]scan.Finding, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, rampart.Errorf(rampart.EINVALID, "cannot read SARIF file %s: %v", name, err)
	}
	defer f.Close()
	return sarif.Options{Root: root}.Read(f, name)
}

func (a *App) writeSBOM(name string, pkgs []deps.Package, project string) error {
	bom := deps.CycloneDX(pkgs, deps.SBOM{Name: project})
	if name == "" || name == "-" {
		return deps.WriteCycloneDX(a.stdout, bom)
	}
	f, err := os.Create(name)
	if err != nil {
		return rampart.Errorf(rampart.EINVALID, "cannot write the SBOM: %v", err)
	}
	if err := deps.WriteCycloneDX(f, bom); err != nil {
		f.Close()
		return fmt.Errorf("write the SBOM: %w", err)
	}
	return f.Close()
}

// writeTable writes findings grouped by severity, most severe first, with counts.
func writeTable(w io.Writer, findings []scan.Finding, st scan.Stats, scanners []scan.Scanner, ingested []scan.Finding, notes []string) {
	counts := map[scan.Severity]int{}
	for _, f := range findings {
		counts[f.Severity]++
	}
	for _, sev := range scan.Severities() {
		if counts[sev] == 0 {
			continue
		}
		fmt.Fprintf(w, "%s (%d)\n", strings.ToUpper(string(sev)), counts[sev])
		var group []scan.Finding
		whereW, ruleW := 0, 0
		for _, f := range findings {
			if f.Severity == sev {
				group = append(group, f)
				whereW = max(whereW, min(utf8.RuneCountInString(location(f)), 60))
				ruleW = max(ruleW, min(utf8.RuneCountInString(ruleName(f)), 32))
			}
		}
		for _, f := range group {
			fmt.Fprintf(w, "  %-*s  %-*s  %s\n", whereW, location(f), ruleW, ruleName(f), oneLine(f.Message, 160))
			detail := "id " + short(f.Fingerprint)
			if f.Fix != "" {
				detail = "fix: " + oneLine(f.Fix, 140) + " · " + detail
			}
			fmt.Fprintf(w, "      %s\n", detail)
		}
		fmt.Fprintln(w)
	}
	if len(findings) == 0 {
		fmt.Fprintln(w, "No findings.")
	} else {
		var parts []string
		for _, sev := range scan.Severities() {
			if counts[sev] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[sev], sev))
			}
		}
		fmt.Fprintf(w, "%s: %s\n", plural(len(findings), "finding"), strings.Join(parts, ", "))
	}
	var names []string
	for _, s := range scanners {
		names = append(names, s.Name())
	}
	if len(ingested) > 0 {
		names = append(names, "SARIF")
	}
	fmt.Fprintf(w, "Scanned %s (%s) in %s with %s", plural(st.Files, "file"), humanBytes(st.Bytes), st.Duration.Round(time.Millisecond), strings.Join(names, ", "))
	if n := skippedTotal(st); n > 0 {
		fmt.Fprintf(w, "; skipped %d (%s)", n, skippedSummary(st))
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

// location is "file:line", the file, or "-" for a finding about the whole tree.
func location(f scan.Finding) string {
	switch {
	case f.File == "":
		return "-"
	case f.Line > 0:
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

// ruleName is the rule id, with the tool of a SARIF finding.
func ruleName(f scan.Finding) string {
	if f.Tool != "" {
		return f.Tool + "/" + f.RuleID
	}
	return f.RuleID
}

// writeVerdict says whether the gate passed and why not.
func writeVerdict(w io.Writer, v *policy.Verdict) {
	if v.Pass {
		fmt.Fprintln(w, "Gate: pass")
	} else {
		fmt.Fprintf(w, "Gate: FAIL (%s)\n", plural(len(v.Failures), "failure"))
		for _, f := range v.Failures {
			fmt.Fprintf(w, "  ✗ %s\n", f)
		}
	}
	for _, m := range v.Warnings {
		fmt.Fprintf(w, "  ! %s\n", m)
	}
}

func skippedTotal(st scan.Stats) int {
	n := 0
	for reason, c := range st.Skipped {
		if reason != scan.SkipUnwanted {
			n += c
		}
	}
	return n
}

func skippedSummary(st scan.Stats) string {
	var parts []string
	for _, reason := range slices.Sorted(maps.Keys(st.Skipped)) {
		if reason != scan.SkipUnwanted && st.Skipped[reason] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", st.Skipped[reason], reason))
		}
	}
	return strings.Join(parts, ", ")
}

// oneLine folds whitespace (SARIF messages span lines) and cuts s to n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressBar draws the scan's progress on a terminal, at most ten times a second.
type progressBar struct {
	w    io.Writer
	mu   sync.Mutex
	last time.Time
	drew bool
}

func (p *progressBar) update(pr scan.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < 100*time.Millisecond && pr.Files != pr.TotalFiles {
		return
	}
	p.last = time.Now()
	const width = 30
	done := width
	if pr.TotalFiles > 0 {
		done = width * pr.Files / pr.TotalFiles
	}
	fmt.Fprintf(p.w, "\r\033[Kscanning [%s%s] %d/%d files, %s", strings.Repeat("=", done), strings.Repeat(" ", width-done), pr.Files, pr.TotalFiles, humanBytes(pr.Bytes))
	p.drew = true
}

func (p *progressBar) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drew {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
