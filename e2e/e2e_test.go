package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rampart-e2e-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "rampart")
	build := exec.Command("go", "build", "-o", binary, "../cmd/rampart")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build rampart:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running rampart process with its output.
type proc struct {
	cmd *exec.Cmd
	mu  sync.Mutex
	out bytes.Buffer
}

func (p *proc) Write(b []byte) (int, error) { p.mu.Lock(); defer p.mu.Unlock(); return p.out.Write(b) }
func (p *proc) Output() string              { p.mu.Lock(); defer p.mu.Unlock(); return p.out.String() }

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Wait()
	}
}

func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("process exited with %v after SIGTERM:\n%s", err, p.Output())
		}
	case <-time.After(30 * time.Second):
		t.Errorf("process did not stop within 30s of SIGTERM")
		p.kill()
	}
}

func (p *proc) waitFor(t *testing.T, re string, within time.Duration) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q within %s in output:\n%s", re, within, p.Output())
	return nil
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=dev", "-c", "user.email=dev@example.com", "-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commit(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "change")
	return git(t, dir, "rev-parse", "HEAD")
}

// env is one Rampart installation under test: a server, its admin client, a repository.
type env struct {
	t       *testing.T
	data    string
	addr    string
	url     string
	server  *proc
	admin   *client.Client
	token   string
	repo    string
	work    string
	agents  []*proc
	leaseTT string
	keyFile string // the vault's master key
}

// keygen makes a master key file with the binary, as an operator would.
func keygen(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	if out, err := exec.Command(binary, "vault", "keygen", path).CombinedOutput(); err != nil {
		t.Fatalf("vault keygen: %v %s", err, out)
	}
	return path
}

// newEnv starts a server whose leases live leaseTTL without a heartbeat.
func newEnv(t *testing.T, leaseTTL string) *env {
	e := &env{t: t, data: t.TempDir(), addr: freePort(t), repo: t.TempDir(), work: t.TempDir(), leaseTT: leaseTTL, keyFile: keygen(t)}
	e.url = "http://" + e.addr
	e.startServer()
	git(t, e.repo, "init", "-q")
	return e
}

func (e *env) startServer() {
	e.t.Helper()
	e.server = start(e.t, nil, "server", "--addr", e.addr, "--data-dir", e.data, "--lease-ttl", e.leaseTT, "--master-key-file", e.keyFile)
	e.server.waitFor(e.t, `listening on`, 20*time.Second)
	if e.token == "" {
		m := e.server.waitFor(e.t, `admin token: (rmp_\S+)`, time.Second)
		e.token = m[1]
		e.admin = client.New(e.url, e.token)
	}
}

func (e *env) startAgent(name string) *proc { return e.startAgentCapacity(name, 2) }

// startAgentCapacity starts an agent that runs up to capacity jobs at once.
func (e *env) startAgentCapacity(name string, capacity int) *proc {
	e.t.Helper()
	ctx := context.Background()
	tok, err := e.admin.CreateAgentToken(ctx, nil, "")
	if err != nil {
		e.t.Fatal(err)
	}
	a := start(e.t, nil, "agent", "--server", e.url, "--token", tok.Token, "--name", name, "--capacity", fmt.Sprint(capacity),
		"--credential-file", filepath.Join(e.t.TempDir(), "agent.json"), "--work-dir", e.work)
	e.agents = append(e.agents, a)
	return a
}

func (e *env) waitRun(project string, number int64, within time.Duration) *client.RunResponse {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r, err := e.admin.Run(context.Background(), project, number)
		if err == nil && rampart.Terminal(r.Status) {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run #%d not finished within %s: %+v %v\nserver:\n%s", number, within, r, err, e.server.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func githubPush(t *testing.T, url, secret, branch, sha string) *http.Response {
	t.Helper()
	body := fmt.Sprintf(`{"ref":"refs/heads/%s","before":"0000000000000000000000000000000000000000","after":"%s",
"repository":{"full_name":"dev/web","clone_url":"https://example.com/dev/web.git"},"pusher":{"name":"dev"},"sender":{"login":"dev"},
"head_commit":{"id":"%s","message":"change"}}`, branch, sha, sha)
	return githubHook(t, url, secret, "push", body)
}

// githubHook posts a GitHub webhook signed the way GitHub signs: HMAC-SHA256 of the body.
func githubHook(t *testing.T, url, secret, event, body string) *http.Response {
	t.Helper()
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(body))
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", "1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

const pipelineYAML = `on:
  push:
    branches: [main]
  manual: {}
jobs:
  build:
    steps:
      - name: compile
        run: |
          echo "building $RAMPART_JOB_ID"
          mkdir -p out && echo "binary" > out/app
  test:
    needs: build
    steps:
      - run: |
          echo first line
          sleep 1
          echo second line
  lint:
    needs: build
    steps:
      - run: |
          # leave a daemon and files behind: the agent must clean them up
          (setsid sleep 31337 &) ; sleep 31338 &
          echo leftover > /tmp/rampart-e2e-leftover-$RAMPART_JOB_ID
          echo leftover > "$TMPDIR/leftover"
          echo linted
  package:
    needs: [test, lint]
    steps:
      - run: mkdir -p dist && printf 'release\n' > dist/app.tar.gz && echo packaged
    artifacts: [dist/app.tar.gz]
`

// TestPushToArtifact is the walkthrough: a project with a three-stage pipeline, a signed
// GitHub webhook (and a forged one), live logs, the artifact, and nothing left on the agent.
func TestPushToArtifact(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "3s")
	if _, err := e.admin.CreateProject(ctx, "web", e.repo); err != nil {
		t.Fatal(err)
	}
	hook, err := e.admin.RotateWebhookSecret(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	agentProc := e.startAgent("a1")
	sha := commit(t, e.repo, map[string]string{".rampart.yml": pipelineYAML, "main.go": "package main\n"})

	// A forged webhook is refused and audited.
	if resp := githubPush(t, e.url+hook.URLs["github"], "wrong secret", "main", sha); resp.StatusCode != 401 {
		t.Fatalf("forged webhook: %d, want 401", resp.StatusCode)
	}
	if resp := githubPush(t, e.url+hook.URLs["github"], hook.Secret, "main", sha); resp.StatusCode != 201 {
		t.Fatalf("signed webhook: %d, want 201", resp.StatusCode)
	}
	runs, err := e.admin.ListRuns(ctx, "web", 10)
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %v", runs, err)
	}
	// Follow the test job's log live: its two lines arrive one second apart.
	var testJob int64
	deadline := time.Now().Add(30 * time.Second)
	for testJob == 0 && time.Now().Before(deadline) {
		r, _ := e.admin.Run(ctx, "web", 1)
		for _, j := range r.Jobs {
			if j.Name == "test" && j.Status == rampart.StatusRunning {
				testJob = j.ID
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if testJob == 0 {
		t.Fatalf("test job never ran:\nserver:\n%s\nagent:\n%s", e.server.Output(), agentProc.Output())
	}
	pr, pw := io.Pipe()
	var lines []time.Time
	var got strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			got.WriteString(sc.Text() + "\n")
			if t := sc.Text(); t == "first line" || t == "second line" {
				lines = append(lines, time.Now())
			}
		}
	}()
	end, err := e.admin.FollowLog(ctx, testJob, pw)
	pw.Close()
	<-done
	if err != nil || end.Status != rampart.StatusSucceeded {
		t.Fatalf("follow: %+v %v", end, err)
	}
	if len(lines) != 2 || lines[1].Sub(lines[0]) < 500*time.Millisecond {
		t.Fatalf("log lines did not arrive live (%v):\n%s", lines, got.String())
	}

	r := e.waitRun("web", 1, 60*time.Second)
	if r.Status != rampart.StatusSucceeded {
		t.Fatalf("run: %s %s\n%s", r.Status, r.Reason, agentProc.Output())
	}
	arts, err := e.admin.Artifacts(ctx, "web", 1)
	if err != nil || len(arts) != 1 || arts[0].Name != "dist/app.tar.gz" {
		t.Fatalf("artifacts: %+v %v", arts, err)
	}
	var buf bytes.Buffer
	if _, _, err := e.admin.DownloadArtifact(ctx, "web", arts[0].ID, &buf); err != nil || buf.String() != "release\n" {
		t.Fatalf("artifact content %q, %v", buf.String(), err)
	}

	// Nothing of the jobs remains on the agent: no process, no workspace, no temp file.
	assertNothingLeft(t, e.work)

	// The forged webhook was audited as denied.
	var exp bytes.Buffer
	if err := e.admin.ExportAudit(ctx, 0, &exp); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"action":"webhook.receive"[^\n]*"result":"denied"`).Match(exp.Bytes()) {
		t.Fatalf("forged webhook not audited:\n%s", exp.String())
	}
	agentProc.stop(t)
	e.server.stop(t)
}

func assertNothingLeft(t *testing.T, work string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			if cmd := strings.ReplaceAll(string(b), "\x00", " "); strings.Contains(cmd, "sleep 3133") {
				left = append(left, p+": "+cmd)
			}
		}
		entries, _ := os.ReadDir(work)
		for _, en := range entries {
			if !strings.HasPrefix(en.Name(), ".") {
				left = append(left, "workspace "+en.Name())
			}
		}
		tmps, _ := filepath.Glob("/tmp/rampart-e2e-leftover-*")
		left = append(left, tmps...)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left on the agent after the jobs:\n%s", strings.Join(left, "\n"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

const slowPipeline = `jobs:
  slow:
    steps:
      - run: |
          for i in 1 2 3 4 5 6; do echo "tick $i"; sleep 1; done
`

// TestServerKilledMidRun kills the server with SIGKILL while a job runs and restarts it on the
// same data: the agent reconnects and the run finishes.
func TestServerKilledMidRun(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "30s")
	if _, err := e.admin.CreateProject(ctx, "web", e.repo); err != nil {
		t.Fatal(err)
	}
	commit(t, e.repo, map[string]string{".rampart.yml": slowPipeline})
	e.startAgent("a1")
	run, err := e.admin.StartRun(ctx, "web", "main")
	if err != nil {
		t.Fatal(err)
	}
	waitJobStatus(t, e, "web", run.Number, "slow", rampart.StatusRunning)
	time.Sleep(1500 * time.Millisecond)
	e.server.kill()
	time.Sleep(time.Second)
	e.startServer()
	r := e.waitRun("web", run.Number, 60*time.Second)
	if r.Status != rampart.StatusSucceeded || r.Jobs[0].Attempt != 1 {
		t.Fatalf("after server restart: %s (%s), attempt %d", r.Status, r.Reason, r.Jobs[0].Attempt)
	}
	var log bytes.Buffer
	if err := e.admin.Log(ctx, r.Jobs[0].ID, &log); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		if !strings.Contains(log.String(), fmt.Sprintf("tick %d", i)) {
			t.Errorf("log lost tick %d across the restart:\n%s", i, log.String())
		}
	}
}

// TestAgentKilledMidJob kills the agent with SIGKILL while it runs a job: the job is re-queued
// when its lease expires, a second agent runs it, and the first one's step died with it.
func TestAgentKilledMidJob(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "3s")
	if _, err := e.admin.CreateProject(ctx, "web", e.repo); err != nil {
		t.Fatal(err)
	}
	commit(t, e.repo, map[string]string{".rampart.yml": strings.Replace(slowPipeline, "tick $i", "tick $i sleep 31339", 1)})
	first := e.startAgent("a1")
	run, err := e.admin.StartRun(ctx, "web", "main")
	if err != nil {
		t.Fatal(err)
	}
	waitJobStatus(t, e, "web", run.Number, "slow", rampart.StatusRunning)
	first.kill()
	e.startAgent("a2")
	r := e.waitRun("web", run.Number, 60*time.Second)
	if r.Status != rampart.StatusSucceeded || r.Jobs[0].Attempt != 2 {
		t.Fatalf("after agent kill: %s (%s), attempt %d", r.Status, r.Jobs[0].Reason, r.Jobs[0].Attempt)
	}
}

func waitJobStatus(t *testing.T, e *env, project string, number int64, job, status string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := e.admin.Run(context.Background(), project, number)
		if err == nil {
			for _, j := range r.Jobs {
				if j.Name == job && j.Status == status {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("job %s never %s\nserver:\n%s", job, status, e.server.Output())
}

func regexpFind(s, re string) string {
	if m := regexp.MustCompile(re).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}
