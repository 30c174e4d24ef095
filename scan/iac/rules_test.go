package iac

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rampart-ci/rampart/scan"
)

// fixtureExt is the extension of the fixtures of each kind under testdata/<kind>/<rule id>/.
var fixtureExt = map[Kind]string{
	KindKubernetes: "yaml", KindTerraform: "tf", KindDockerfile: "Dockerfile", KindActions: "yml", KindARM: "json",
}

var (
	builtinOnce    sync.Once
	builtinScanner *Scanner
	builtinErr     error
)

// testScanner returns a Scanner with the built-in rules, compiled once for all tests.
func testScanner(t testing.TB) *Scanner {
	t.Helper()
	builtinOnce.Do(func() { builtinScanner, builtinErr = New(context.Background()) })
	if builtinErr != nil {
		t.Fatal(builtinErr)
	}
	return builtinScanner
}

func scanFixture(t *testing.T, s *Scanner, path string) []scan.Finding {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := s.ScanFile(context.Background(), scan.File{Path: filepath.ToSlash(path), Data: data})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, f := range fs {
		if f.RuleID == RuleParseError {
			t.Fatalf("%s: %s", path, f.Message)
		}
	}
	return fs
}

// TestRuleFixtures runs every built-in rule on its fixtures: fail.<ext> must produce exactly
// one finding of the rule, at the line written in the expect file; pass.<ext> none.
func TestRuleFixtures(t *testing.T) {
	s := testScanner(t)
	for _, r := range s.Rules() {
		t.Run(r.ID, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join("testdata", string(r.Kind), r.ID)
			ext := fixtureExt[r.Kind]
			b, err := os.ReadFile(filepath.Join(dir, "expect"))
			if err != nil {
				t.Fatal(err)
			}
			var line int
			if _, err := fmt.Sscanf(string(b), "line %d", &line); err != nil {
				t.Fatalf("expect: %v", err)
			}

			var got []scan.Finding
			for _, f := range scanFixture(t, s, filepath.Join(dir, "fail."+ext)) {
				if f.RuleID == r.ID {
					got = append(got, f)
				}
			}
			if len(got) != 1 {
				t.Fatalf("fail.%s: want 1 finding of %s, got %d: %+v", ext, r.ID, len(got), got)
			}
			f := got[0]
			if f.Line != line {
				t.Errorf("fail.%s: line %d, want %d (%s)", ext, f.Line, line, f.Message)
			}
			if f.Severity != r.Severity || f.Fix != r.Fix || f.Message == "" || f.Fingerprint == "" || f.Scanner != scan.ScannerIaC {
				t.Errorf("fail.%s: incomplete finding %+v", ext, f)
			}

			for _, f := range scanFixture(t, s, filepath.Join(dir, "pass."+ext)) {
				if f.RuleID == r.ID {
					t.Errorf("pass.%s: unexpected finding at line %d: %s", ext, f.Line, f.Message)
				}
			}
		})
	}
}

// TestRuleCatalogue checks the size and shape of the rule set: at least 60 rules, the minimum
// per kind, complete metadata, and fixtures for every rule and a rule for every fixture.
func TestRuleCatalogue(t *testing.T) {
	s := testScanner(t)
	rules := s.Rules()
	if len(rules) < 60 {
		t.Errorf("%d rules, want at least 60", len(rules))
	}
	perKind := map[Kind]int{}
	ids := map[string]bool{}
	for _, r := range rules {
		perKind[r.Kind]++
		ids[r.ID] = true
		if r.Title == "" || r.Description == "" || r.Fix == "" || r.Severity.Rank() < 0 {
			t.Errorf("%s: incomplete metadata %+v", r.ID, r)
		}
		if !strings.HasPrefix(r.Package, "rampart.iac."+string(r.Kind)+".") {
			t.Errorf("%s: package %s", r.ID, r.Package)
		}
		dir := filepath.Join("testdata", string(r.Kind), r.ID)
		for _, name := range []string{"fail." + fixtureExt[r.Kind], "pass." + fixtureExt[r.Kind], "expect"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s: %v", r.ID, err)
			}
		}
	}
	minimum := map[Kind]int{KindKubernetes: 20, KindTerraform: 15, KindDockerfile: 10, KindActions: 8, KindARM: 5}
	for k, n := range minimum {
		if perKind[k] < n {
			t.Errorf("%s: %d rules, want at least %d", k, perKind[k], n)
		}
	}
	t.Logf("rules: %d total, %v", len(rules), perKind)
	for k := range fixtureExt {
		entries, _ := os.ReadDir(filepath.Join("testdata", string(k)))
		for _, e := range entries {
			if e.IsDir() && strings.HasPrefix(e.Name(), "RIAC-") && !ids[e.Name()] {
				t.Errorf("testdata/%s/%s: no such rule", k, e.Name())
			}
		}
	}
}
