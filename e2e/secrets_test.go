package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

// secretForms are the encodings a leaking job prints; none may reach a stored log.
func secretForms(v string) []string {
	return []string{
		v,
		base64.StdEncoding.EncodeToString([]byte(v)),
		base64.StdEncoding.EncodeToString([]byte(v + "\n")),
		base64.RawURLEncoding.EncodeToString([]byte(v)),
		hex.EncodeToString([]byte(v)),
		strings.ToUpper(hex.EncodeToString([]byte(v))),
	}
}

// TestSecretsReachOnlyEntitledJobs is the vault walkthrough: a secret set through the CLI is used
// by the job that declares it (checked by a server that wants exactly that value), shown as ***
// in every form the job prints, withheld from a fork's pull request and from a job that does not
// declare it, absent from the database files in plaintext, still delivered after a key rotation,
// and a server with the wrong master key refuses to start.
func TestSecretsReachOnlyEntitledJobs(t *testing.T) {
	ctx := context.Background()
	const value = "s3cr3t-Deploy-Token-9f8e7d6c"
	var good, bad atomic.Int32
	check := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer "+value {
			good.Add(1)
			fmt.Fprintln(w, "welcome")
			return
		}
		bad.Add(1)
		http.Error(w, "wrong token", http.StatusForbidden)
	}))
	defer check.Close()

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	if out, err := exec.Command(binary, "vault", "keygen", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("vault keygen: %v %s", err, out)
	}
	e := &env{t: t, data: filepath.Join(dir, "data"), addr: freePort(t), repo: t.TempDir(), work: t.TempDir(), leaseTT: "10s"}
	e.url = "http://" + e.addr
	e.startServerArgs("--master-key-file", keyFile)
	git(t, e.repo, "init", "-q", "-b", "main")
	pipeline := fmt.Sprintf(`on: [push, pull_request, manual]
env:
  CHECK_URL: %s
jobs:
  deploy:
    secrets: [DEPLOY_TOKEN]
    steps:
      - run: |
          curl -fsS -H "Authorization: Bearer $DEPLOY_TOKEN" "$CHECK_URL"
          echo "plain: $DEPLOY_TOKEN"
          printf '%%s' "$DEPLOY_TOKEN" | base64
          echo "$DEPLOY_TOKEN" | base64
          printf '%%s' "$DEPLOY_TOKEN" | base64 | tr '+/' '-_' | tr -d '='
          printf '%%s' "$DEPLOY_TOKEN" | xxd -p
          printf '%%s' "$DEPLOY_TOKEN" | xxd -p | tr a-f A-F
          for i in $(seq 0 $((${#DEPLOY_TOKEN}-1))); do printf '%%s' "${DEPLOY_TOKEN:$i:1}"; sleep 0.01; done; echo
          echo "to stderr: $DEPLOY_TOKEN" >&2
  leaky:
    if: branch == 'leak'
    secrets: [DEPLOY_TOKEN]
    steps:
      - run: printf 'token=%%s\n' "$DEPLOY_TOKEN" > deploy.env
    artifacts: [deploy.env]
  other:
    steps:
      - run: echo "other sees [$DEPLOY_TOKEN]"
`, check.URL)
	sha := commit(t, e.repo, map[string]string{".rampart.yml": pipeline})
	if _, err := e.admin.CreateProject(ctx, "web", e.repo); err != nil {
		t.Fatal(err)
	}
	set := exec.Command(binary, "--server", e.url, "--token", e.token, "secret", "set", "web", "DEPLOY_TOKEN")
	set.Stdin = strings.NewReader(value + "\n")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("secret set: %v %s", err, out)
	}
	short := exec.Command(binary, "--server", e.url, "--token", e.token, "secret", "set", "web", "SHORT")
	short.Stdin = strings.NewReader("abc\n")
	if out, err := short.CombinedOutput(); err == nil || !strings.Contains(string(out), "mask") {
		t.Fatalf("a 3-character secret was accepted or refused without saying why: %s", out)
	}
	e.startAgent("a1")

	run1, err := e.admin.StartRun(ctx, "web", "main")
	if err != nil {
		t.Fatal(err)
	}
	r := e.waitRun("web", run1.Number, 60*time.Second)
	if r.Status != rampart.StatusSucceeded || good.Load() != 1 {
		t.Fatalf("run with the secret: %s (%s); the check server saw %d good, %d bad tokens", r.Status, r.Reason, good.Load(), bad.Load())
	}
	logs := map[string]string{}
	for _, j := range r.Jobs {
		var b bytes.Buffer
		if err := e.admin.Log(ctx, j.ID, &b); err != nil {
			t.Fatal(err)
		}
		logs[j.Name] = b.String()
	}
	for _, form := range secretForms(value) {
		if strings.Contains(logs["deploy"], form) {
			t.Errorf("the stored log contains the secret as %q:\n%s", form, logs["deploy"])
		}
	}
	if strings.Count(logs["deploy"], "***") < 7 || !strings.Contains(logs["deploy"], "welcome") {
		t.Errorf("the log should show *** for each printed form and curl's answer:\n%s", logs["deploy"])
	}
	t.Logf("deploy log:\n%s", logs["deploy"])
	if !strings.Contains(logs["other"], "other sees []") {
		t.Errorf("a job that does not declare the secret got it:\n%s", logs["other"])
	}

	// A pull request from a fork gets no secret.
	hook, err := e.admin.RotateWebhookSecret(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if resp := githubPullRequest(t, e.url+hook.URLs["github"], hook.Secret, sha); resp.StatusCode != 201 {
		t.Fatalf("pull request webhook: %d", resp.StatusCode)
	}
	runs, _ := e.admin.ListRuns(ctx, "web", 1)
	r = e.waitRun("web", runs[0].Number, 60*time.Second)
	if !runs[0].FromFork || r.Status != rampart.StatusFailed || good.Load() != 1 {
		t.Fatalf("fork pull request: from_fork=%v status %s; good tokens %d (want still 1)", runs[0].FromFork, r.Status, good.Load())
	}
	for _, j := range r.Jobs {
		if j.Name == "deploy" {
			var b bytes.Buffer
			_ = e.admin.Log(ctx, j.ID, &b)
			if !strings.Contains(b.String(), "DEPLOY_TOKEN not given") {
				t.Errorf("the fork's job log does not say the secret was withheld:\n%s", b.String())
			}
		}
	}

	// The API never answers with the value.
	show, err := e.admin.ShowSecret(ctx, "web", "", "DEPLOY_TOKEN")
	if err != nil || show.Version != 1 {
		t.Fatalf("secret show: %+v %v", show, err)
	}
	var exp bytes.Buffer
	_ = e.admin.ExportAudit(ctx, 0, &exp)
	if strings.Contains(exp.String(), value) {
		t.Error("the audit log contains the secret")
	}

	// Rotation keeps the secret readable by jobs.
	rot, err := e.admin.RotateVault(ctx)
	if err != nil || rot.Rewrapped != 1 {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	run3, err := e.admin.StartRun(ctx, "web", "main")
	if err != nil {
		t.Fatal(err)
	}
	if r := e.waitRun("web", run3.Number, 60*time.Second); r.Status != rampart.StatusSucceeded || good.Load() != 2 {
		t.Fatalf("after rotation: %s (%s), good tokens %d", r.Status, r.Reason, good.Load())
	}
	// The database files hold no plaintext, in any of the forms.
	assertNoPlaintext(t, e.data, value)

	// A job that writes the secret into an artifact keeps it (its choice), and the log says so.
	git(t, e.repo, "branch", "leak")
	run4, err := e.admin.StartRun(ctx, "web", "leak")
	if err != nil {
		t.Fatal(err)
	}
	r = e.waitRun("web", run4.Number, 60*time.Second)
	for _, j := range r.Jobs {
		if j.Name == "leaky" {
			var b bytes.Buffer
			_ = e.admin.Log(ctx, j.ID, &b)
			if j.Status != rampart.StatusSucceeded || !strings.Contains(b.String(), "deploy.env contains the value of a secret") {
				t.Errorf("an artifact holding the secret was not flagged (%s):\n%s", j.Status, b.String())
			}
		}
	}
	e.server.stop(t)

	// A wrong master key refuses to start.
	wrong := filepath.Join(dir, "wrong.key")
	if out, err := exec.Command(binary, "vault", "keygen", wrong).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v %s", err, out)
	}
	out, err := exec.Command(binary, "server", "--addr", freePort(t), "--data-dir", e.data, "--master-key-file", wrong).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "master key does not match") {
		t.Fatalf("server with the wrong key: %v\n%s", err, out)
	}
}

func (e *env) startServerArgs(extra ...string) {
	e.t.Helper()
	args := append([]string{"server", "--addr", e.addr, "--data-dir", e.data, "--lease-ttl", e.leaseTT}, extra...)
	e.server = start(e.t, nil, args...)
	e.server.waitFor(e.t, `listening on`, 20*time.Second)
	m := e.server.waitFor(e.t, `admin token: (rmp_\S+)`, time.Second)
	e.token = m[1]
	e.admin = client.New(e.url, e.token)
}

func githubPullRequest(t *testing.T, url, secret, sha string) *http.Response {
	t.Helper()
	body := fmt.Sprintf(`{"action":"opened","number":7,"pull_request":{"number":7,
"head":{"ref":"feature","sha":"%s","repo":{"full_name":"mallory/web","fork":true}},
"base":{"ref":"main","sha":"%s","repo":{"full_name":"dev/web"}}},
"repository":{"full_name":"dev/web"},"sender":{"login":"mallory"}}`, sha, sha)
	return githubHook(t, url, secret, "pull_request", body)
}

// assertNoPlaintext reads the database files byte by byte for the value and its encodings.
func assertNoPlaintext(t *testing.T, dataDir, value string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dataDir, "rampart.db*"))
	if len(files) == 0 {
		t.Fatal("no database files found")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, form := range secretForms(value) {
			if bytes.Contains(b, []byte(form)) {
				t.Errorf("%s contains the secret as %q", filepath.Base(f), form)
			}
		}
	}
}
