package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

// randomToken returns a GitHub-token-shaped value made at run time, so that this file holds no
// credential for Rampart's own scan of its repository to find.
func randomToken(prefix string, n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// TestRequiredScansGate is the gate's walkthrough with real processes: a project requires
// secret, dependency and IaC scans; the repository's pipeline does not mention them; the run
// fails its security gate on a planted token, a vulnerable lodash and a public S3 bucket; a
// developer cannot waive; a security user waives each failing finding and the retried run
// passes, with its SBOM and the waived findings shown.
func TestRequiredScansGate(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "10s")
	// The server's advisory database: osv.dev's format, from the dependency scanner's test data.
	advisories := filepath.Join(t.TempDir(), "osv")
	if out, err := exec.Command(binary, "db", "update", "--db", advisories, "--source", "../scan/deps/testdata/osv").CombinedOutput(); err != nil {
		t.Fatalf("db update: %v\n%s", err, out)
	}
	e.server.stop(t)
	e.server = start(t, nil, "server", "--addr", e.addr, "--data-dir", e.data, "--lease-ttl", e.leaseTT,
		"--master-key-file", e.keyFile, "--advisory-db", advisories)
	e.server.waitFor(t, `listening on`, 20*time.Second)

	token := randomToken("ghp_", 36)
	commit(t, e.repo, map[string]string{
		".rampart.yml": `on: [push, manual]
jobs:
  build:
    steps:
      - run: echo built
  lint:
    scan: [secrets]
    sarif: [gosec.sarif]
    steps:
      - run: |
          cat > gosec.sarif <<'EOF'
          {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "gosec", "rules": [{"id": "G101"}]}},
            "results": [{"ruleId": "G101", "level": "error", "message": {"text": "Potential hardcoded credentials"},
              "locations": [{"physicalLocation": {"artifactLocation": {"uri": "main.go"}, "region": {"startLine": 3}}}]}]}]}
          EOF
`,
		"config/deploy.env": "GITHUB_TOKEN=" + token + "\n",
		// Look-alikes that must not be findings: a placeholder and a variable reference.
		"config/example.env": "GITHUB_TOKEN=${GITHUB_TOKEN}\nPASSWORD=changeme\n",
		"package-lock.json": `{
  "name": "web", "version": "1.0.0", "lockfileVersion": 3, "requires": true,
  "packages": {
    "": {"name": "web", "version": "1.0.0", "dependencies": {"lodash": "4.17.15"}},
    "node_modules/lodash": {"version": "4.17.15", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.15.tgz"}
  }
}
`,
		"infra/site.tf": "resource \"aws_s3_bucket_acl\" \"site\" {\n  bucket = \"example-site\"\n  acl    = \"public-read\"\n}\n",
	})
	if _, err := e.admin.CreateProject(ctx, "web", e.repo); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "--server", e.url, "--token", e.token, "project", "set", "web", "--required-scans", "secrets,dependencies,iac").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "required scans secrets, dependencies, iac") {
		t.Fatalf("project set --required-scans: %v\n%s", err, out)
	}
	e.startAgent("a1")

	run1, err := e.admin.StartRun(ctx, "web", "main")
	if err != nil {
		t.Fatal(err)
	}
	r1 := e.waitRun("web", run1.Number, 90*time.Second)
	if r1.Status != rampart.StatusFailed {
		t.Fatalf("run with planted findings: %s (%s), want failed by the gate", r1.Status, r1.Reason)
	}
	var gateJob *rampart.Job
	for _, j := range r1.Jobs {
		switch j.Name {
		case "build":
			if j.Status != rampart.StatusSucceeded {
				t.Errorf("build job %s: %s", j.Status, j.Reason)
			}
		case "security-gate":
			gateJob = j
		case "lint":
			if j.Status != rampart.StatusFailed || !strings.Contains(j.Reason, "security gate failed") {
				t.Errorf("lint job with a high SARIF finding: %s (%s)", j.Status, j.Reason)
			}
		}
	}
	if gateJob == nil || gateJob.Status != rampart.StatusFailed || !strings.Contains(gateJob.Reason, "security gate failed") {
		t.Fatalf("the server did not add a failing security-gate job: %+v", gateJob)
	}
	var logBuf bytes.Buffer
	if err := e.admin.Log(ctx, gateJob.ID, &logBuf); err != nil {
		t.Fatal(err)
	}
	if log := logBuf.String(); !strings.Contains(log, "gate: FAILED") || strings.Contains(log, token) {
		t.Fatalf("gate job log lacks the verdict or shows the token:\n%s", log)
	}

	fs, err := e.admin.Findings(ctx, "web", run1.Number)
	if err != nil {
		t.Fatal(err)
	}
	rules := map[string]*rampart.Finding{}
	for _, f := range fs {
		rules[f.RuleID] = f
		if strings.Contains(f.Message, token) {
			t.Errorf("finding %s shows the token", f.RuleID)
		}
		if f.File == "config/example.env" {
			t.Errorf("false positive on a look-alike: %+v", f)
		}
	}
	for _, want := range []string{"github-pat", "GHSA-35jh-r3h4-6jhm", "G101"} {
		if rules[want] == nil {
			t.Errorf("no %s finding; got %v", want, keys(rules))
		}
	}
	if f := rules["GHSA-35jh-r3h4-6jhm"]; f != nil && (f.FixedVersion != "4.17.21" || f.File != "package-lock.json") {
		t.Errorf("lodash finding: %+v", f)
	}
	iac := 0
	for _, f := range fs {
		if f.Scanner == "iac" && f.File == "infra/site.tf" {
			iac++
		}
	}
	if iac == 0 {
		t.Errorf("no IaC finding on the public bucket; got %v", keys(rules))
	}

	// `rampart findings` shows the verdict and exits 1; the SBOM lists lodash.
	sbom := filepath.Join(t.TempDir(), "sbom.json")
	cmd := exec.Command(binary, "--server", e.url, "--token", e.token, "findings", "web", "1", "--sbom", sbom)
	out, err = cmd.CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "Gate of job security-gate") || !strings.Contains(string(out), "Gate of job lint") || !strings.Contains(string(out), "FAILED") {
		t.Fatalf("findings exit %d:\n%s", code, out)
	}
	var bom struct {
		Components []struct{ Name, Version, Purl string }
	}
	mustReadJSON(t, sbom, &bom)
	if len(bom.Components) == 0 || !strings.HasPrefix(bom.Components[0].Purl, "pkg:npm/lodash@4.17.15") {
		t.Fatalf("SBOM components: %+v", bom.Components)
	}

	// A developer cannot waive; a security user can.
	gate, err := e.admin.Gate(ctx, "web", run1.Number)
	if err != nil || len(gate) != 2 {
		t.Fatalf("gate results: %v %+v", err, gate)
	}
	var failures []string
	for _, g := range gate {
		failures = append(failures, g.Verdict.Failures...)
	}
	failing := failingFingerprints(fs, failures)
	if len(failing) < 4 {
		t.Fatalf("failing fingerprints %v from %v", failing, failures)
	}
	dev := userClient(t, e, "dana", "member")
	if _, err := e.admin.SetMember(ctx, "web", "dana", "developer"); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Waive(ctx, "web", failing[0], "I would like to ship today", "24h"); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Fatalf("developer waiver: %v, want forbidden", err)
	}
	sec := userClient(t, e, "sam", "security")
	for _, fp := range failing {
		if _, err := sec.Waive(ctx, "web", fp, "accepted in the e2e test of the gate", "24h"); err != nil {
			t.Fatalf("security waiver of %s: %v", fp, err)
		}
	}

	run2, err := e.admin.RetryRun(ctx, "web", run1.Number)
	if err != nil {
		t.Fatal(err)
	}
	r2 := e.waitRun("web", run2.Number, 90*time.Second)
	if r2.Status != rampart.StatusSucceeded {
		t.Fatalf("run after waivers: %s (%s)\n%+v", r2.Status, r2.Reason, r2.Jobs)
	}
	out, err = exec.Command(binary, "--server", e.url, "--token", e.token, "findings", "web", "2").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(waived)") || !strings.Contains(string(out), "passed") {
		t.Fatalf("findings of the passing run: %v\n%s", err, out)
	}
}

// failingFingerprints returns the fingerprints of findings that a gate failure message names.
func failingFingerprints(fs []*rampart.Finding, failures []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, f := range fs {
		for _, msg := range failures {
			if strings.Contains(msg, f.Fingerprint) && !seen[f.Fingerprint] {
				seen[f.Fingerprint] = true
				out = append(out, f.Fingerprint)
			}
		}
	}
	return out
}

// userClient creates a user with an organisation role and returns a client signed in as them.
func userClient(t *testing.T, e *env, name, role string) *client.Client {
	t.Helper()
	ctx := context.Background()
	const password = "correct horse battery staple 42"
	if _, err := e.admin.CreateUser(ctx, name, role, password); err != nil {
		t.Fatal(err)
	}
	c := client.New(e.url, "")
	lr, err := c.Login(ctx, name, password, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	return client.New(e.url, lr.Token)
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func mustReadJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, b)
	}
}
