package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/policy"
	"github.com/rampart-ci/rampart/scan"
)

var now = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func finding(scanner, rule string, sev scan.Severity, fp string) scan.Finding {
	return scan.Finding{Fingerprint: fp, Scanner: scanner, RuleID: rule, Severity: sev, File: "src/app.go", Line: 3, Message: "something " + rule}
}

func evaluate(t *testing.T, g *policy.Gate, fs []scan.Finding, ws []policy.Waiver) *policy.Verdict {
	t.Helper()
	v, err := g.Evaluate(context.Background(), fs, ws, now)
	if err != nil {
		t.Fatal(err)
	}
	if v.Pass != (len(v.Failures) == 0) {
		t.Fatalf("Pass %v with failures %q", v.Pass, v.Failures)
	}
	return v
}

func TestDefaultPolicy(t *testing.T) {
	g, err := policy.DefaultGate()
	if err != nil {
		t.Fatal(err)
	}
	dep := func(sev scan.Severity, fixed string) scan.Finding {
		f := finding(scan.ScannerDependencies, "GHSA-xxxx-yyyy-zzzz", sev, "fp-dep")
		f.Package, f.Version, f.FixedVersion, f.File, f.Line = "golang.org/x/crypto", "v0.29.0", fixed, "go.mod", 0
		return f
	}
	sarifFinding := func(sev scan.Severity) scan.Finding {
		f := finding(scan.ScannerSARIF, "G101", sev, "fp-sarif")
		f.Tool = "gosec"
		return f
	}
	tests := []struct {
		name string
		f    scan.Finding
		fail string // substring of the one failure; "" for a pass
	}{
		{"verified secret", finding(scan.ScannerSecrets, "github-token", scan.High, "fp-sec"), "fp-sec: verified secret (github-token) in src/app.go:3"},
		{"critical secret", finding(scan.ScannerSecrets, "private-key", scan.Critical, "fp-sec"), "verified secret (private-key)"},
		{"unverified secret", finding(scan.ScannerSecrets, "generic-password", scan.Medium, "fp-sec"), ""},
		{"critical vulnerability with a fix", dep(scan.Critical, "v0.31.0"), "fp-dep: critical vulnerability GHSA-xxxx-yyyy-zzzz in golang.org/x/crypto v0.29.0 (go.mod): upgrade to v0.31.0"},
		{"high vulnerability with a fix", dep(scan.High, "v0.31.0"), "fp-dep: high vulnerability"},
		{"critical vulnerability without a fix", dep(scan.Critical, ""), ""},
		{"medium vulnerability with a fix", dep(scan.Medium, "v0.31.0"), ""},
		{"high IaC finding", finding(scan.ScannerIaC, "KSV017", scan.High, "fp-iac"), "fp-iac: high IaC finding KSV017 in src/app.go:3: something KSV017"},
		{"critical IaC finding", finding(scan.ScannerIaC, "KSV017", scan.Critical, "fp-iac"), "critical IaC finding"},
		{"medium IaC finding", finding(scan.ScannerIaC, "KSV001", scan.Medium, "fp-iac"), ""},
		{"high SARIF finding", sarifFinding(scan.High), "fp-sarif: high finding G101 of gosec in src/app.go:3"},
		{"medium SARIF finding", sarifFinding(scan.Medium), ""},
		{"info", finding(scan.ScannerIaC, "DS026", scan.Info, "fp-info"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := evaluate(t, g, []scan.Finding{tt.f}, nil)
			switch {
			case tt.fail == "" && !v.Pass:
				t.Errorf("failed: %q", v.Failures)
			case tt.fail != "" && (len(v.Failures) != 1 || !strings.Contains(v.Failures[0], tt.fail)):
				t.Errorf("failures %q, want one containing %q", v.Failures, tt.fail)
			}
		})
	}
	t.Run("no findings", func(t *testing.T) {
		if v := evaluate(t, g, nil, nil); !v.Pass || v.Failures == nil {
			t.Errorf("verdict %+v, want a pass with an empty list of failures", v)
		}
	})
}

func TestWaivers(t *testing.T) {
	g, err := policy.DefaultGate()
	if err != nil {
		t.Fatal(err)
	}
	secret := finding(scan.ScannerSecrets, "aws-access-key-id", scan.High, "aaaa")
	other := finding(scan.ScannerSecrets, "github-token", scan.High, "bbbb")
	valid := policy.Waiver{Fingerprint: "aaaa", Reason: "rotated, history rewrite pending", Approver: "alice", Expires: now.Add(24 * time.Hour)}
	expired := valid
	expired.Expires = now.Add(-time.Hour)
	forever := valid
	forever.Expires = time.Time{}

	t.Run("valid", func(t *testing.T) {
		v := evaluate(t, g, []scan.Finding{secret}, []policy.Waiver{valid})
		if !v.Pass || !slices.Equal(v.Waived, []string{"aaaa"}) {
			t.Errorf("verdict %+v, want a pass with aaaa waived", v)
		}
	})
	t.Run("only its finding", func(t *testing.T) {
		v := evaluate(t, g, []scan.Finding{secret, other}, []policy.Waiver{valid})
		if v.Pass || len(v.Failures) != 1 || !strings.HasPrefix(v.Failures[0], "bbbb:") {
			t.Errorf("verdict %+v, want bbbb to fail alone", v)
		}
	})
	for name, w := range map[string]policy.Waiver{"expired": expired, "without expiry": forever} {
		t.Run(name, func(t *testing.T) {
			v := evaluate(t, g, []scan.Finding{secret}, []policy.Waiver{w})
			if v.Pass || len(v.Waived) != 0 {
				t.Errorf("verdict %+v, want a failure", v)
			}
			if len(v.Warnings) != 1 || !strings.HasPrefix(v.Warnings[0], "aaaa: the waiver") {
				t.Errorf("warnings %q, want one about the waiver", v.Warnings)
			}
		})
	}
	t.Run("stored waivers", func(t *testing.T) {
		stored := &rampart.Waiver{Fingerprint: "aaaa", Reason: "r", Approver: "sec", ExpiresAt: now.Add(time.Hour)}
		if !policy.WaiverOf(stored).Active(now) {
			t.Error("an unexpired stored waiver does not count")
		}
		revoked := now.Add(-time.Minute)
		stored.RevokedAt = &revoked
		if policy.WaiverOf(stored).Active(now) {
			t.Error("a revoked waiver still counts")
		}
	})
	t.Run("expires at now", func(t *testing.T) {
		w := valid
		w.Expires = now
		if v := evaluate(t, g, []scan.Finding{secret}, []policy.Waiver{w}); v.Pass {
			t.Error("a waiver expiring now still counts")
		}
	})
}

func writePolicy(t *testing.T, dir, name, src string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCustomPolicy(t *testing.T) {
	dir := t.TempDir()
	// A stricter team policy: no medium secrets either, a cap on waivers, and a warning for
	// any finding in a test directory.
	writePolicy(t, dir, "team.rego", `package team

deny contains msg if {
	some f in input.findings
	f.scanner == "secrets"
	f.severity == "medium"
	msg := sprintf("%s: no secrets of any kind (%s)", [f.fingerprint, f.rule_id])
}

deny contains {"msg": msg} if {
	count(input.waived) > 1
	msg := sprintf("%d findings waived; at most 1", [count(input.waived)])
}

warn contains msg if {
	some f in input.findings
	startswith(f.file, "testdata/")
	msg := sprintf("%s: finding in test data", [f.fingerprint])
}
`)
	// A rule added to the default package, using its helpers.
	writePolicy(t, dir, "extra.rego", `package rampart.gate

deny contains msg if {
	some f in input.findings
	f.scanner == "dependencies"
	at_least(f, "critical")
	msg := sprintf("%s: critical vulnerability without a fix in %s", [f.fingerprint, where(f)])
}
`)
	writePolicy(t, dir, "team_test.rego", `package team_test
this is not parsed: tests of policies are for opa test`)
	writePolicy(t, dir, "README.md", "not a policy")

	g, err := policy.LoadGate(dir)
	if err != nil {
		t.Fatal(err)
	}
	medium := finding(scan.ScannerSecrets, "generic-password", scan.Medium, "m1")
	medium.File = "testdata/x.env"
	dep := finding(scan.ScannerDependencies, "GHSA-1", scan.Critical, "d1")
	v := evaluate(t, g, []scan.Finding{medium, dep}, nil)
	want := []string{
		"d1: critical vulnerability without a fix in src/app.go:3",
		"m1: no secrets of any kind (generic-password)",
	}
	if !slices.Equal(v.Failures, want) {
		t.Errorf("failures %q, want %q", v.Failures, want)
	}
	if !slices.Equal(v.Warnings, []string{"m1: finding in test data"}) {
		t.Errorf("warnings %q", v.Warnings)
	}

	ws := []policy.Waiver{
		{Fingerprint: "m1", Expires: now.Add(time.Hour)},
		{Fingerprint: "d1", Expires: now.Add(time.Hour)},
	}
	v = evaluate(t, g, []scan.Finding{medium, dep}, ws)
	if !slices.Equal(v.Failures, []string{"2 findings waived; at most 1"}) {
		t.Errorf("with waivers: failures %q", v.Failures)
	}
	// The default policy still holds with custom ones.
	v = evaluate(t, g, []scan.Finding{finding(scan.ScannerSecrets, "github-token", scan.High, "s1")}, nil)
	if v.Pass {
		t.Error("the default policy does not apply next to custom ones")
	}
}

func TestLoadGateErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"syntax", "package x\n\ndeny contains msg if {\n  msg := \n}\n", "bad.rego:5: unexpected } token"},
		{"unsafe", "package x\n\ndeny contains msg if {\n  input.findings[_].severity == \"high\"\n}\n", "bad.rego:3: var msg is unsafe"},
		{"network", "package x\n\ndeny contains msg if {\n  r := http.send({\"method\": \"get\", \"url\": \"https://example.com\"})\n  msg := r.body\n}\n", "undefined function http.send"},
		{"conflict with the default", "package rampart.gate\n\nat_least(f) if f.severity\n", "at_least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writePolicy(t, dir, "bad.rego", tt.src)
			_, err := policy.LoadGate(dir)
			if rampart.ErrorCode(err) != rampart.EINVALID || !strings.Contains(rampart.ErrorMessage(err), tt.want) {
				t.Errorf("err = %v, want EINVALID containing %q", err, tt.want)
			}
		})
	}
	t.Run("empty directory", func(t *testing.T) {
		if _, err := policy.LoadGate(t.TempDir()); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("err = %v, want EINVALID", err)
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		if _, err := policy.LoadGate(filepath.Join(t.TempDir(), "nope")); rampart.ErrorCode(err) != rampart.EINVALID {
			t.Errorf("err = %v, want EINVALID", err)
		}
	})
	t.Run("rule that is not a set", func(t *testing.T) {
		dir := t.TempDir()
		writePolicy(t, dir, "bool.rego", "package x\n\ndeny if { count(input.findings) > 0 }\n")
		g, err := policy.LoadGate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Evaluate(context.Background(), []scan.Finding{finding("iac", "r", scan.Low, "f")}, nil, now); err == nil {
			t.Error("a boolean deny rule was taken for a verdict")
		}
	})
	t.Run("conflicting values", func(t *testing.T) {
		dir := t.TempDir()
		writePolicy(t, dir, "rank.rego", "package rampart.gate\n\nrank := {\"critical\": 0}\n")
		g, err := policy.LoadGate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Evaluate(context.Background(), []scan.Finding{finding("iac", "r", scan.Critical, "f")}, nil, now); err == nil {
			t.Error("a policy redefining the default's severity ranks was evaluated")
		}
	})
	t.Run("failing builtin", func(t *testing.T) {
		dir := t.TempDir()
		writePolicy(t, dir, "b.rego", "package x\n\ndeny contains msg if {\n  some f in input.findings\n  n := to_number(f.rule_id)\n  msg := sprintf(\"%d\", [n])\n}\n")
		g, err := policy.LoadGate(dir)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Evaluate(context.Background(), []scan.Finding{finding("iac", "not-a-number", scan.Low, "f")}, nil, now); err == nil {
			t.Error("a policy error was taken for a pass")
		}
	})
}
