package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart/scan"
	"github.com/rampart-ci/rampart/scan/deps"
)

// The planted problems of the scan tests: a GitHub token (a verified secret), a Dockerfile
// whose image runs as root (high IaC finding) and a Go module with a critical advisory that has a
// fixed version.
const (
	plantedToken = "ghp_R7x2Kq9LmN4pT8vW1zY6bC3dF5gH0jJ2kL4m"
	plantedEnv   = "# deploy settings\nREGION=eu-west-1\nGITHUB_TOKEN=" + plantedToken + "\n"
	plantedGoMod = "module example.com/shop\n\ngo 1.22\n\nrequire example.com/vulnerable v1.1.0\n"
	dockerfile   = "FROM alpine:3.20\nRUN adduser -D app\nUSER root\nCMD [\"/bin/sh\"]\n"
	advisory     = `{
  "schema_version": "1.6.0",
  "id": "GO-2099-0001",
  "modified": "2026-11-01T00:00:00Z",
  "published": "2026-10-01T00:00:00Z",
  "aliases": ["CVE-2099-12345"],
  "summary": "Remote code execution in example.com/vulnerable",
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected": [{
    "package": {"ecosystem": "Go", "name": "example.com/vulnerable"},
    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]
  }]
}`
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scanFixture returns a tree with the planted problems and an advisory database.
func scanFixture(t *testing.T) (tree, db string) {
	t.Helper()
	dir := t.TempDir()
	tree, db = filepath.Join(dir, "tree"), filepath.Join(dir, "db")
	writeTree(t, tree, map[string]string{
		"config/deploy.env": plantedEnv,
		"go.mod":            plantedGoMod,
		"Dockerfile":        dockerfile,
		"README.md":         "# shop\n",
	})
	writeTree(t, dir, map[string]string{"osv/GO-2099-0001.json": advisory})
	if _, err := deps.Update(context.Background(), db, filepath.Join(dir, "osv")); err != nil {
		t.Fatal(err)
	}
	return tree, db
}

func TestScanTable(t *testing.T) {
	tree, db := scanFixture(t)
	code, out, errOut := cli(t, "", "scan", tree, "--db", db)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (gate fails)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"CRITICAL (1)", "HIGH (", "go.mod:5", "GO-2099-0001", "fix: upgrade to 1.2.0",
		"config/deploy.env:3", "Dockerfile", "Gate: FAIL", "verified secret",
		"advisory database from ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, plantedToken) || strings.Contains(errOut, plantedToken) {
		t.Error("the secret itself is in the output")
	}
	if strings.Contains(errOut, "\r") {
		t.Error("a progress bar was drawn on a stderr that is not a terminal")
	}
}

func TestScanJSON(t *testing.T) {
	tree, db := scanFixture(t)
	code, out, errOut := cli(t, "", "scan", tree, "--db", db, "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	var fs []scan.Finding
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("--format json is not a JSON array of findings: %v\n%s", err, out)
	}
	scanners := map[string]bool{}
	for _, f := range fs {
		scanners[f.Scanner] = true
		if len(f.Fingerprint) != 32 || f.RuleID == "" || f.Severity.Rank() < 0 || f.Message == "" {
			t.Errorf("incomplete finding %+v", f)
		}
	}
	for _, s := range []string{scan.ScannerSecrets, scan.ScannerDependencies, scan.ScannerIaC} {
		if !scanners[s] {
			t.Errorf("no %s finding in %s", s, out)
		}
	}
	if !strings.Contains(errOut, "advisory database from ") || !strings.Contains(errOut, "Gate: FAIL") {
		t.Errorf("stderr lacks the database age or the verdict:\n%s", errOut)
	}

	// The same tree gives the same fingerprints.
	_, again, _ := cli(t, "", "scan", tree, "--db", db, "--format", "json")
	if again != out {
		t.Error("a second scan of the same tree differs")
	}
}

func TestScanSARIF(t *testing.T) {
	tree, db := scanFixture(t)
	report := filepath.Join(t.TempDir(), "rampart.sarif")
	code, out, errOut := cli(t, "", "scan", tree, "--db", db, "--format", "sarif", "--output", report)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, errOut)
	}
	if out != "" {
		t.Errorf("stdout not empty with --output: %q", out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name  string            `json:"name"`
					Rules []json.RawMessage `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID              string            `json:"ruleId"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(data, &log); err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || log.Runs[0].Tool.Driver.Name != "rampart" {
		t.Fatalf("not a SARIF 2.1.0 log of rampart: %.300s", data)
	}
	if len(log.Runs[0].Results) < 3 || len(log.Runs[0].Tool.Driver.Rules) == 0 {
		t.Errorf("runs[0]: %d results, %d rules", len(log.Runs[0].Results), len(log.Runs[0].Tool.Driver.Rules))
	}
	for _, r := range log.Runs[0].Results {
		if len(r.PartialFingerprints["rampart/v1"]) != 32 {
			t.Errorf("result %s has no rampart/v1 fingerprint", r.RuleID)
		}
	}

	// Rampart's own SARIF ingested again is gated the same way.
	clean := t.TempDir()
	code, out, errOut = cli(t, "", "scan", clean, "--scanners", "secrets", "--sarif", report)
	if code != 1 || !strings.Contains(out, "verified secret") {
		t.Errorf("ingesting rampart's SARIF: exit %d\n%s%s", code, out, errOut)
	}
}

func TestScanSBOM(t *testing.T) {
	tree, db := scanFixture(t)
	dir := t.TempDir()
	sbom := filepath.Join(dir, "sbom.cdx.json")
	code, _, errOut := cli(t, "", "scan", tree, "--db", db, "--format", "json", "--output", filepath.Join(dir, "report.json"),
		"--sbom", "cyclonedx", "--sbom-output", sbom)
	if code != 1 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	data, err := os.ReadFile(sbom)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat  string `json:"bomFormat"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	if err := json.Unmarshal(data, &bom); err != nil || bom.BOMFormat != "CycloneDX" {
		t.Fatalf("not a CycloneDX SBOM (%v): %.300s", err, data)
	}
	found := false
	for _, c := range bom.Components {
		found = found || c.Name == "example.com/vulnerable" && strings.TrimPrefix(c.Version, "v") == "1.1.0"
	}
	if !found {
		t.Errorf("the SBOM lacks example.com/vulnerable v1.1.0: %s", data)
	}
}

func TestScanPass(t *testing.T) {
	tree := t.TempDir()
	writeTree(t, tree, map[string]string{"main.go": "package main\n\nfunc main() {}\n"})
	code, out, errOut := cli(t, "", "scan", tree, "--scanners", "secrets,iac")
	if code != 0 || !strings.Contains(out, "No findings.") || !strings.Contains(out, "Gate: pass") {
		t.Errorf("clean tree: exit %d\n%s%s", code, out, errOut)
	}
}

func TestScanIgnoreFileAndGate(t *testing.T) {
	tree, db := scanFixture(t)
	writeTree(t, tree, map[string]string{
		".rampartignore": "# local exceptions\nrule:github-pat  # test token, revoked\nGO-2099-0001     # not reachable from our code\nRIAC-DF-002 # base image setup\n",
	})
	code, out, errOut := cli(t, "", "scan", tree, "--db", db)
	if code != 0 {
		t.Fatalf("with the ignore file: exit %d, want 0\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "ignored by .rampartignore") {
		t.Errorf("the table does not say findings were ignored:\n%s", out)
	}
	if code, _, _ := cli(t, "", "scan", tree, "--db", db, "--no-ignore-file"); code != 1 {
		t.Errorf("--no-ignore-file: exit %d, want 1", code)
	}

	// A custom gate policy fails what the default lets pass.
	gate := t.TempDir()
	writeTree(t, gate, map[string]string{"strict.rego": `package team

deny contains msg if {
	some f in input.findings
	f.severity == "info"
	msg := sprintf("%s: not even info findings (%s)", [f.fingerprint, f.rule_id])
}
`})
	code, out, _ = cli(t, "", "scan", tree, "--db", db, "--gate", gate)
	if code != 1 || !strings.Contains(out, "not even info findings (RIAC-DF-012)") {
		t.Errorf("custom gate: exit %d\n%s", code, out)
	}
}

func TestScanIngestSARIF(t *testing.T) {
	tree := t.TempDir()
	writeTree(t, tree, map[string]string{"main.go": "package main\n"})
	report := filepath.Join(t.TempDir(), "gosec.sarif")
	writeTree(t, filepath.Dir(report), map[string]string{"gosec.sarif": `{"version": "2.1.0", "runs": [{
		"tool": {"driver": {"name": "gosec", "rules": [{"id": "G101", "defaultConfiguration": {"level": "error"}}]}},
		"results": [{"ruleId": "G101", "message": {"text": "Potential hardcoded credentials"},
			"locations": [{"physicalLocation": {"artifactLocation": {"uri": "main.go"}, "region": {"startLine": 1}}}]}]}]}`})
	code, out, errOut := cli(t, "", "scan", tree, "--scanners", "secrets", "--sarif", report)
	if code != 1 || !strings.Contains(out, "gosec/G101") || !strings.Contains(out, "high finding G101 of gosec in main.go:1") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}

func TestScanUsageErrors(t *testing.T) {
	tree, db := scanFixture(t)
	bad := filepath.Join(t.TempDir(), "bad.sarif")
	writeTree(t, filepath.Dir(bad), map[string]string{"bad.sarif": "{\"version\": \"2.1.0\",\n \"runs\": [}"})
	badGate := t.TempDir()
	writeTree(t, badGate, map[string]string{"g.rego": "package x\ndeny contains msg if {"})
	badIgnore := t.TempDir()
	writeTree(t, badIgnore, map[string]string{".rampartignore": "G101\n"})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"scan", tree, "--format", "xml"}, `unknown format "xml"`},
		{"unknown flag", []string{"scan", tree, "--bogus"}, "unknown flag: --bogus"},
		{"two paths", []string{"scan", tree, tree}, "too many arguments"},
		{"missing path", []string{"scan", filepath.Join(tree, "nope")}, "is not a directory"},
		{"unknown scanner", []string{"scan", tree, "--scanners", "secrets,malware"}, `unknown scanner "malware"`},
		{"bad SARIF", []string{"scan", tree, "--db", db, "--sarif", bad}, "bad.sarif:2:11: not valid JSON"},
		{"missing SARIF", []string{"scan", tree, "--db", db, "--sarif", bad + ".missing"}, "cannot read SARIF file"},
		{"bad gate policy", []string{"scan", tree, "--db", db, "--gate", badGate}, "invalid gate policy"},
		{"bad ignore file", []string{"scan", badIgnore, "--scanners", "secrets"}, `"G101" has no reason`},
		{"no database", []string{"scan", tree, "--db", t.TempDir()}, "no advisory database"},
		{"SBOM and report on stdout", []string{"scan", tree, "--db", db, "--sbom", "cyclonedx"}, "cannot both go to standard output"},
		{"SBOM without dependencies", []string{"scan", tree, "--scanners", "secrets", "--sbom", "cyclonedx", "--sbom-output", "x"}, "the SBOM lists the packages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := cli(t, "", tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q\n%s", code, errOut, tt.want, out)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		if code, out, _ := cli(t, "", "scan", "--help"); code != 0 || !strings.Contains(out, "Exit status") {
			t.Errorf("scan --help: exit %d", code)
		}
	})
	t.Run("other commands keep exit 1", func(t *testing.T) {
		if code, _, _ := cli(t, "", "no-such-command"); code != 1 {
			t.Errorf("unknown command: exit %d, want 1", code)
		}
		if code, _, _ := cli(t, "", "version", "--bogus"); code != 1 {
			t.Errorf("unknown flag of another command: exit %d, want 1", code)
		}
	})
}

func TestProgressBar(t *testing.T) {
	var buf strings.Builder
	bar := &progressBar{w: &buf}
	bar.update(scan.Progress{Files: 5, TotalFiles: 10, Bytes: 2048})
	bar.update(scan.Progress{Files: 6, TotalFiles: 10, Bytes: 4096})  // within 100ms: not drawn
	bar.update(scan.Progress{Files: 10, TotalFiles: 10, Bytes: 8192}) // the end is always drawn
	bar.clear()
	got := buf.String()
	for _, want := range []string{"[===============               ] 5/10 files, 2.0 kB", "10/10 files, 8.0 kB", "\r\033[K"} {
		if !strings.Contains(got, want) {
			t.Errorf("bar output %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "6/10") {
		t.Errorf("bar drawn more than ten times a second: %q", got)
	}
}

func TestScanIaCPolicy(t *testing.T) {
	tree := t.TempDir()
	writeTree(t, tree, map[string]string{"deploy/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: app
          image: registry.example.com/web:1.4.2
`})
	policies := t.TempDir()
	writeTree(t, policies, map[string]string{"labels.rego": `package main

deny contains msg if {
	input.kind == "Deployment"
	not input.metadata.labels.team
	msg := sprintf("Deployment %s has no team label", [input.metadata.name])
}
`})
	code, out, errOut := cli(t, "", "scan", tree, "--scanners", "iac", "--policy", policies)
	if code != 1 || !strings.Contains(out, "Deployment web has no team label") {
		t.Errorf("--policy: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = cli(t, "", "scan", tree, "--scanners", "secrets", "--policy", policies)
	if code != 2 || !strings.Contains(errOut, "--policy is for the IaC scanner") {
		t.Errorf("--policy without iac: exit %d, %s", code, errOut)
	}
}
