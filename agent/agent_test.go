package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// Test credentials of the fake server.
const (
	fakeRegToken   = "rmr_registration"
	fakeCredential = "rma_agentsecret"
	fakeJobToken   = "rmj_jobsecret"
	fakeJobID      = 17
	fakeFence      = 4
)

// fakeServer implements the server side of the agent protocol (protocol.go) for one job: it
// hands the job out on the first lease call and answers later ones with 204. The real server is
// tested against the real agent elsewhere.
type fakeServer struct {
	t   *testing.T
	srv *httptest.Server

	// heartbeat answers a heartbeat; nil means 200 extending the lease by 30 s.
	heartbeat func() (int, any)
	// leaseStatus, when not zero, is the status of every lease answer.
	leaseStatus int
	leaseTTL    time.Duration

	mu          sync.Mutex
	spec        rampart.JobSpec
	leased      bool
	leaseReqs   []rampart.LeaseRequest
	registers   int
	heartbeats  int
	chunks      map[int64][]byte
	artifacts   map[string]string // name → sha256 hex as received
	artifactRaw map[string][]byte
	completes   []rampart.CompleteRequest
	badCalls    []string
	completed   chan struct{}
}

func newFakeServer(t *testing.T, spec rampart.JobSpec) *fakeServer {
	f := &fakeServer{t: t, spec: spec, leaseTTL: 30 * time.Second, chunks: map[int64][]byte{},
		artifacts: map[string]string{}, artifactRaw: map[string][]byte{}, completed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/agents/register", f.register)
	mux.HandleFunc("POST /api/v1/agents/lease", f.lease)
	mux.HandleFunc("POST /api/v1/jobs/{id}/{action}", f.job)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeServer) bad(w http.ResponseWriter, code int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	f.mu.Lock()
	f.badCalls = append(f.badCalls, msg)
	f.mu.Unlock()
	writeJSON(w, code, map[string]string{"error": msg})
}

func (f *fakeServer) register(w http.ResponseWriter, r *http.Request) {
	var req rampart.RegisterRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token != fakeRegToken {
		f.bad(w, http.StatusUnauthorized, "bad registration token")
		return
	}
	f.mu.Lock()
	f.registers++
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, rampart.RegisterResponse{AgentID: 1, Name: req.Name, Credential: fakeCredential, Labels: req.Labels})
}

func (f *fakeServer) lease(w http.ResponseWriter, r *http.Request) {
	if f.leaseStatus != 0 {
		writeJSON(w, f.leaseStatus, map[string]string{"error": "refused"})
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+fakeCredential {
		f.bad(w, http.StatusUnauthorized, "lease without the agent credential")
		return
	}
	var req rampart.LeaseRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.WaitSeconds < 1 || req.WaitSeconds > 30 || req.Capacity < 1 {
		f.bad(w, http.StatusBadRequest, "bad lease request")
		return
	}
	f.mu.Lock()
	f.leaseReqs = append(f.leaseReqs, req)
	first := !f.leased
	f.leased = true
	f.mu.Unlock()
	if first {
		writeJSON(w, http.StatusOK, rampart.Lease{JobID: fakeJobID, Fence: fakeFence, Token: fakeJobToken,
			ExpiresAt: time.Now().Add(f.leaseTTL), Spec: f.spec})
		return
	}
	// A short wait instead of the long poll keeps the tests quick.
	select {
	case <-time.After(20 * time.Millisecond):
	case <-r.Context().Done():
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *fakeServer) job(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("id") != strconv.Itoa(fakeJobID) || r.Header.Get("Authorization") != "Bearer "+fakeJobToken ||
		r.Header.Get(rampart.FenceHeader) != strconv.Itoa(fakeFence) {
		f.bad(w, http.StatusUnauthorized, "job call %s without job token or fence", r.URL)
		return
	}
	f.mu.Lock()
	done := len(f.completes) > 0
	f.mu.Unlock()
	if done {
		f.bad(w, http.StatusConflict, "job call %s after complete", r.URL)
		return
	}
	switch r.PathValue("action") {
	case "heartbeat":
		f.mu.Lock()
		f.heartbeats++
		f.mu.Unlock()
		if f.heartbeat != nil {
			code, body := f.heartbeat()
			writeJSON(w, code, body)
			return
		}
		writeJSON(w, http.StatusOK, rampart.HeartbeatResponse{ExpiresAt: time.Now().Add(f.leaseTTL)})
	case "logs":
		seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
		data, _ := io.ReadAll(r.Body)
		if err != nil || seq < 1 || len(data) > rampart.MaxLogChunk || r.Header.Get("Content-Type") != "application/octet-stream" {
			f.bad(w, http.StatusBadRequest, "bad log chunk")
			return
		}
		f.mu.Lock()
		if _, ok := f.chunks[seq]; !ok {
			f.chunks[seq] = data
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	case "artifacts":
		name := r.URL.Query().Get("name")
		data, _ := io.ReadAll(r.Body)
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != r.Header.Get(rampart.DigestHeader) || name == "" {
			f.bad(w, http.StatusBadRequest, "artifact %q: digest mismatch", name)
			return
		}
		f.mu.Lock()
		f.artifacts[name] = r.Header.Get(rampart.DigestHeader)
		f.artifactRaw[name] = data
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	case "complete":
		var req rampart.CompleteRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.bad(w, http.StatusBadRequest, "bad complete")
			return
		}
		f.mu.Lock()
		f.completes = append(f.completes, req)
		if len(f.completes) == 1 {
			close(f.completed)
		}
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		f.bad(w, http.StatusNotFound, "no such call %s", r.URL)
	}
}

// log returns the stored log; seqs must be 1..n.
func (f *fakeServer) log(t *testing.T) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for seq := int64(1); seq <= int64(len(f.chunks)); seq++ {
		c, ok := f.chunks[seq]
		if !ok {
			t.Fatalf("log seqs not contiguous: %d missing of %d", seq, len(f.chunks))
		}
		b.Write(c)
	}
	return b.String()
}

// jobGone reports whether the agent has asked for a job again since it got the one job: with
// capacity 1, it asks only once that job is over.
func (f *fakeServer) jobGone() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.leaseReqs) >= 2
}

// gitRepo makes a repository with one commit and returns its path and the commit id.
func gitRepo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("hello from the repository\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", "README")
	git("commit", "-q", "-m", "first")
	return dir, git("rev-parse", "HEAD")
}

// startAgent runs an agent against f until the returned stop function is called; stop returns
// Run's error.
func startAgent(t *testing.T, f *fakeServer) (stop func() error, credFile string, logs *logBuffer) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	log, lb := testLogger(t)
	credFile = filepath.Join(t.TempDir(), "conf", "agent.json")
	a, err := New(Config{
		Server:            f.srv.URL,
		RegistrationToken: fakeRegToken,
		CredentialFile:    credFile,
		Name:              "test-agent",
		Labels:            []string{"linux"},
		WorkRoot:          t.TempDir(),
		Sandbox:           sandboxMode,
		Logger:            log,
		Version:           "test",
		HeartbeatEvery:    50 * time.Millisecond,
		LogFlushEvery:     20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return after cancellation")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return stop, credFile, lb
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgentRunsJob(t *testing.T) {
	repo, commit := gitRepo(t)
	t.Setenv("RAMPART_AGENT_ONLY", "must-not-reach-steps")
	f := newFakeServer(t, rampart.JobSpec{
		Project: "demo", RunID: 3, RunNumber: 9, Job: "build", RepoURL: repo, Commit: commit,
		Env: map[string]string{"GREETING": "hi"},
		Steps: []rampart.StepSpec{
			{Name: "print", Run: `cat README; echo "greeting=$GREETING project=$RAMPART_PROJECT"; env | grep -c RAMPART_AGENT_ONLY || true; for i in $(seq 1 20000); do echo "line $i"; done`},
			{Name: "artifact", Run: `mkdir -p out/sub && printf 'artifact content\n' > out/report.txt && printf x > out/sub/b.bin && ln -s /etc/passwd out/evil`},
		},
		Artifacts: []string{"out"},
		Timeout:   60,
	})
	stop, credFile, _ := startAgent(t, f)
	select {
	case <-f.completed:
	case <-time.After(60 * time.Second):
		t.Fatal("job never completed")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	f.mu.Lock()
	completes, bad, arts := f.completes, f.badCalls, f.artifacts
	f.mu.Unlock()
	if len(bad) > 0 {
		t.Errorf("protocol violations: %q", bad)
	}
	if len(completes) != 1 {
		t.Fatalf("Complete called %d times, want once", len(completes))
	}
	c := completes[0]
	if c.Status != rampart.StatusSucceeded || c.ExitCode != 0 || len(c.Steps) != 2 ||
		c.Steps[0].Status != rampart.StatusSucceeded || c.Steps[1].Name != "artifact" {
		t.Errorf("result = %+v", c)
	}

	log := f.log(t)
	if n := len(f.chunks); n < 3 {
		t.Errorf("log came in %d chunks; want it split into several", n)
	}
	for _, want := range []string{"hello from the repository\n", "greeting=hi project=demo\n0\n"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	// Every line, in order.
	idx := 0
	for i := 1; i <= 20000; i++ {
		line := fmt.Sprintf("line %d\n", i)
		j := strings.Index(log[idx:], line)
		if j < 0 {
			t.Fatalf("log lacks %q after position %d", line, idx)
		}
		idx += j + len(line)
	}

	sum := sha256.Sum256([]byte("artifact content\n"))
	want := map[string]string{"out/report.txt": hex.EncodeToString(sum[:]), "out/sub/b.bin": sha256hex("x")}
	if fmt.Sprint(arts) != fmt.Sprint(want) {
		t.Errorf("artifacts = %v, want %v", arts, want)
	}
	if !strings.Contains(log, "out/evil refused: a symlink") {
		t.Errorf("log does not mention the refused symlink")
	}

	fi, err := os.Stat(credFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credential file: %v, %v", fi, err)
	}
	if f.registers != 1 {
		t.Errorf("registered %d times", f.registers)
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestAgentStopsJobWhenLeaseLost checks the fencing rule: once the job is no longer the agent's,
// it stops the job at once and never reports a result.
func TestAgentStopsJobWhenLeaseLost(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat func() (int, any)
		ttl       time.Duration
	}{
		{"heartbeat refused with 409", func() (int, any) {
			return http.StatusConflict, map[string]string{"error": "lease superseded"}
		}, 30 * time.Second},
		{"lease expired without successful heartbeat", func() (int, any) {
			return http.StatusServiceUnavailable, map[string]string{"error": "down"}
		}, 1500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo, commit := gitRepo(t)
			f := newFakeServer(t, rampart.JobSpec{
				Project: "demo", Job: "slow", RepoURL: repo, Commit: commit,
				Steps:     []rampart.StepSpec{{Name: "sleep", Run: "echo started; sleep 60; echo never"}, {Name: "after", Run: "mkdir out; echo x > out/x"}},
				Artifacts: []string{"out"},
			})
			f.heartbeat, f.leaseTTL = tt.heartbeat, tt.ttl
			stop, _, logs := startAgent(t, f)
			start := time.Now()
			waitFor(t, "the job to be dropped", f.jobGone)
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("job stopped only after %s", d)
			}
			if err := stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if len(f.completes) != 0 {
				t.Errorf("Complete was called after the lease was lost: %+v", f.completes)
			}
			if len(f.artifacts) != 0 {
				t.Errorf("artifacts uploaded after the lease was lost: %v", f.artifacts)
			}
			if !strings.Contains(logs.String(), "lease lost") {
				t.Errorf("agent log does not say the lease was lost")
			}
		})
	}
}

func TestAgentJobCancelledOnServer(t *testing.T) {
	repo, commit := gitRepo(t)
	f := newFakeServer(t, rampart.JobSpec{
		Project: "demo", Job: "slow", RepoURL: repo, Commit: commit,
		Steps: []rampart.StepSpec{{Name: "sleep", Run: "echo started; sleep 60"}, {Name: "never", Run: "true"}},
	})
	var mu sync.Mutex
	beats := 0
	f.heartbeat = func() (int, any) {
		mu.Lock()
		defer mu.Unlock()
		beats++
		return http.StatusOK, rampart.HeartbeatResponse{Cancel: beats >= 3, ExpiresAt: time.Now().Add(30 * time.Second)}
	}
	stop, _, _ := startAgent(t, f)
	select {
	case <-f.completed:
	case <-time.After(30 * time.Second):
		t.Fatal("job never completed")
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	log := f.log(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.completes) != 1 {
		t.Fatalf("Complete called %d times", len(f.completes))
	}
	c := f.completes[0]
	if c.Status != rampart.StatusCancelled || c.Reason != "cancelled on the server" ||
		c.Steps[0].Status != rampart.StatusCancelled || c.Steps[1].Status != rampart.StatusSkipped {
		t.Errorf("result = %+v", c)
	}
	if !strings.Contains(log, "started\n") || !strings.Contains(log, "[rampart: job cancelled on the server]") {
		t.Errorf("log = %q", log)
	}
}

func TestAgentShutdownStopsJob(t *testing.T) {
	repo, commit := gitRepo(t)
	f := newFakeServer(t, rampart.JobSpec{
		Project: "demo", Job: "slow", RepoURL: repo, Commit: commit,
		Steps: []rampart.StepSpec{{Name: "sleep", Run: "echo started; sleep 60"}},
	})
	stop, _, _ := startAgent(t, f)
	waitFor(t, "the job to start", func() bool { return strings.Contains(f.log(t), "started\n") })
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	log := f.log(t)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.completes) != 0 {
		t.Errorf("a job stopped by shutdown was reported: %+v", f.completes)
	}
	if !strings.Contains(log, "agent is shutting down") {
		t.Errorf("log does not say why the job stopped")
	}
}

func TestAgentCredentialRevoked(t *testing.T) {
	f := newFakeServer(t, rampart.JobSpec{})
	f.leaseStatus = http.StatusUnauthorized
	log, _ := testLogger(t)
	credFile := filepath.Join(t.TempDir(), "conf", "agent.json")
	a, err := New(Config{Server: f.srv.URL, RegistrationToken: fakeRegToken, CredentialFile: credFile, Name: "test-agent",
		WorkRoot: t.TempDir(), Sandbox: sandboxMode, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// Run returns by itself once the server refuses the credential; the deadline only bounds a
	// broken agent that would not.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = a.Run(ctx)
	if ctx.Err() != nil {
		t.Fatal("Run did not return after the server refused the agent credential")
	}
	f.mu.Lock()
	registers := f.registers
	f.mu.Unlock()
	if registers != 1 {
		t.Errorf("registered %d times, want 1", registers)
	}
	if err == nil || !strings.Contains(err.Error(), "register the agent again") || !strings.Contains(err.Error(), credFile) {
		t.Errorf("Run = %v, want an error telling to re-register", err)
	}
}

func TestAgentNeedsCredentialOrToken(t *testing.T) {
	log, _ := testLogger(t)
	a, err := New(Config{Server: "http://127.0.0.1:1", CredentialFile: filepath.Join(t.TempDir(), "agent.json"),
		WorkRoot: t.TempDir(), Sandbox: "none", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(context.Background())
	if !errors.Is(err, errNoCredential) || !strings.Contains(err.Error(), "registration token") {
		t.Errorf("Run = %v", err)
	}
}

func TestAgentRefusesCredentialOfOtherServer(t *testing.T) {
	log, _ := testLogger(t)
	p := filepath.Join(t.TempDir(), "agent.json")
	if err := saveCredential(p, &credential{Server: "https://a.example.com", AgentID: 1, Credential: "rma_x"}); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Server: "https://b.example.com", CredentialFile: p, WorkRoot: t.TempDir(), Sandbox: "none", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !regexp.MustCompile(`belongs to https://a.example.com`).MatchString(err.Error()) {
		t.Errorf("Run = %v", err)
	}
}

// sandboxMode is the executor's sandbox in these tests: without one they run anywhere; the
// executor's own tests cover the sandbox.
const sandboxMode = "none"
