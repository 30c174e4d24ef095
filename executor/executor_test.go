package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// output is a concurrency-safe io.Writer for the job output.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// modes lists the sandbox modes to run a test in; bwrap is skipped with a message when missing.
var modes = []string{SandboxNone, SandboxBwrap}

func newExecutor(t testing.TB, mode string, grace time.Duration) *Executor {
	t.Helper()
	e, err := New(Config{Root: t.TempDir(), Sandbox: mode, Logger: testLogger(t), KillGrace: grace})
	if errors.Is(err, ErrSandboxUnavailable) {
		t.Skipf("bubblewrap unavailable, sandbox tests skipped (apt-get install bubblewrap): %v", err)
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func run(t *testing.T, e *Executor, ctx context.Context, job Job) (Result, string) {
	t.Helper()
	var out output
	res := e.Run(ctx, job, &out)
	t.Logf("output:\n%s", out.String())
	return res, out.String()
}

func TestStatuses(t *testing.T) {
	e := newExecutor(t, SandboxNone, time.Second)
	tests := []struct {
		name       string
		steps      []Step
		wantStatus string
		wantSteps  []StepResult // Duration not compared
	}{
		{
			name:       "success",
			steps:      []Step{{Name: "a", Run: "echo hi"}, {Name: "b", Run: "true"}},
			wantStatus: StatusSucceeded,
			wantSteps:  []StepResult{{Name: "a", Status: StatusSucceeded}, {Name: "b", Status: StatusSucceeded}},
		},
		{
			name:       "exit code",
			steps:      []Step{{Name: "a", Run: "exit 3"}},
			wantStatus: StatusFailed,
			wantSteps:  []StepResult{{Name: "a", ExitCode: 3, Status: StatusFailed}},
		},
		{
			name:       "stops at first failure",
			steps:      []Step{{Name: "a", Run: "true"}, {Name: "b", Run: "false"}, {Name: "c", Run: "echo never-runs"}},
			wantStatus: StatusFailed,
			wantSteps: []StepResult{
				{Name: "a", Status: StatusSucceeded},
				{Name: "b", ExitCode: 1, Status: StatusFailed},
				{Name: "c", ExitCode: -1, Status: StatusSkipped},
			},
		},
		{
			name:       "errexit",
			steps:      []Step{{Name: "a", Run: "false\necho after-false"}},
			wantStatus: StatusFailed,
			wantSteps:  []StepResult{{Name: "a", ExitCode: 1, Status: StatusFailed}},
		},
		{
			name:       "pipefail",
			steps:      []Step{{Name: "a", Run: "false | true"}},
			wantStatus: StatusFailed,
			wantSteps:  []StepResult{{Name: "a", ExitCode: 1, Status: StatusFailed}},
		},
		{
			name:       "killed by signal",
			steps:      []Step{{Name: "a", Run: "kill -9 $$"}},
			wantStatus: StatusFailed,
			wantSteps:  []StepResult{{Name: "a", ExitCode: 137, Status: StatusFailed}},
		},
		{
			name:       "no steps",
			wantStatus: StatusSucceeded,
			wantSteps:  []StepResult{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, out := run(t, e, context.Background(), Job{ID: "t", Steps: tt.steps})
			if res.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s (err %v)", res.Status, tt.wantStatus, res.Err)
			}
			if (res.Err == nil) != (tt.wantStatus == StatusSucceeded) {
				t.Errorf("err = %v with status %s", res.Err, res.Status)
			}
			if len(res.Steps) != len(tt.wantSteps) {
				t.Fatalf("steps = %+v, want %+v", res.Steps, tt.wantSteps)
			}
			for i, got := range res.Steps {
				got.Duration = 0
				if got != tt.wantSteps[i] {
					t.Errorf("step %d = %+v, want %+v", i, got, tt.wantSteps[i])
				}
			}
			if strings.Contains(out, "never-runs") || strings.Contains(out, "after-false") {
				t.Errorf("a step ran after a failure")
			}
		})
	}
}

func TestInvalidJob(t *testing.T) {
	e := newExecutor(t, SandboxNone, time.Second)
	tests := []struct {
		name string
		job  Job
	}{
		{"equals in name", Job{Env: map[string]string{"A=B": "x"}}},
		{"empty name", Job{Secrets: map[string]string{"": "x"}}},
		{"NUL in secret", Job{Secrets: map[string]string{"TOKEN": "hunter2\x00"}}},
		{"NUL in step env", Job{Steps: []Step{{Name: "s", Env: map[string]string{"A": "\x00"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := run(t, e, context.Background(), tt.job)
			if res.Status != StatusFailed || !errors.Is(res.Err, ErrInvalidJob) {
				t.Fatalf("got %s, %v; want failed, ErrInvalidJob", res.Status, res.Err)
			}
			if strings.Contains(res.Err.Error(), "hunter2") {
				t.Errorf("error shows a secret value: %v", res.Err)
			}
		})
	}
}

func TestCleanEnvironment(t *testing.T) {
	t.Setenv("RAMPART_TEST_CANARY", "agent-env-leaked")
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newExecutor(t, mode, time.Second)
			var ws string
			job := Job{
				ID:      "env-job",
				Env:     map[string]string{"JOBVAR": "job", "OVERRIDE": "job"},
				Secrets: map[string]string{"TOKEN": "s3cr3t-value", markerVar: "forged"},
				Prepare: func(ctx context.Context, w string) error { ws = w; return nil },
				Steps: []Step{{
					Name: "env",
					Env:  map[string]string{"OVERRIDE": "step"},
					Run:  "env | sort | sed 's/^/ENV /'; [ -d \"$HOME\" ] && [ -w \"$HOME\" ] && [ -d \"$TMPDIR\" ] && echo DIRS-OK",
				}},
			}
			res, out := run(t, e, context.Background(), job)
			if res.Status != StatusSucceeded {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			env := map[string]string{}
			for _, line := range strings.Split(out, "\n") {
				if kv, ok := strings.CutPrefix(line, "ENV "); ok {
					k, v, _ := strings.Cut(kv, "=")
					env[k] = v
				}
			}
			if _, ok := env["RAMPART_TEST_CANARY"]; ok || strings.Contains(out, "agent-env-leaked") {
				t.Errorf("the agent's environment leaked into the step")
			}
			want := map[string]string{
				"PATH":              basePATH,
				"CI":                "true",
				"RAMPART":           "true",
				"LANG":              "C.UTF-8",
				"RAMPART_JOB_ID":    "env-job",
				"RAMPART_WORKSPACE": ws,
				"JOBVAR":            "job",
				"OVERRIDE":          "step",
				"TOKEN":             "s3cr3t-value",
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s = %q, want %q", k, env[k], v)
				}
			}
			if env[markerVar] == "forged" || len(env[markerVar]) != 32 {
				t.Errorf("job could set its own marker: %q", env[markerVar])
			}
			for _, k := range []string{"HOME", "TMPDIR"} {
				if !strings.HasPrefix(env[k], filepath.Dir(ws)+"/") {
					t.Errorf("%s = %q, not in the job directory %s", k, env[k], filepath.Dir(ws))
				}
			}
			if !strings.Contains(out, "DIRS-OK") {
				t.Errorf("HOME or TMPDIR missing or not writable")
			}
		})
	}
}

func TestSecretsNotOnDiskOrCommandLine(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newExecutor(t, mode, time.Second)
			secret := "tok-" + randomHex(8)
			job := Job{
				ID:      "secret",
				Secrets: map[string]string{"TOKEN": secret},
				Steps: []Step{{Name: "look", Run: `
					printenv TOKEN > /dev/null
					if grep -rqF -f <(printenv TOKEN) "$RAMPART_WORKSPACE" "$TMPDIR" "$HOME" ; then echo ON-DISK; fi
					if cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' '\n' | grep -qF -f <(printenv TOKEN); then echo ON-CMDLINE; fi
				`}},
			}
			res, out := run(t, e, context.Background(), job)
			if res.Status != StatusSucceeded {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			if strings.Contains(out, "ON-DISK") || strings.Contains(out, "ON-CMDLINE") || strings.Contains(out, secret) {
				t.Errorf("secret found where it must not be")
			}
			// The host side of it: nothing of the secret under the root while the job ran is
			// checked above; after the job the root is empty anyway.
			assertRootEmpty(t, e)
		})
	}
}

func TestOutputOrderAndHeaders(t *testing.T) {
	e := newExecutor(t, SandboxNone, time.Second)
	res, out := run(t, e, context.Background(), Job{Steps: []Step{
		{Name: "compile", Run: "echo one; echo two >&2; echo three; echo four >&2"},
		{Name: "test", Run: "echo five >&2; exit 4"},
	}})
	if res.Status != StatusFailed {
		t.Fatalf("status %s", res.Status)
	}
	want := []string{"sandbox: none", "▶ step: compile\none\ntwo\nthree\nfour\n✔ step compile succeeded", "▶ step: test\nfive\n✖ step test failed with exit code 4"}
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("output lacks %q in order", w)
		}
		rest = rest[i+len(w):]
	}
}

// slowWriter is a network log stream on a bad day.
type slowWriter struct {
	output
	delay time.Duration
}

func (s *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.output.Write(p)
}

func TestSlowOutputDoesNotDelayTimeout(t *testing.T) {
	e := newExecutor(t, SandboxNone, 200*time.Millisecond)
	out := &slowWriter{delay: 100 * time.Millisecond}
	start := time.Now()
	res := e.Run(context.Background(), Job{
		Timeout: 500 * time.Millisecond,
		Steps:   []Step{{Name: "chatty", Run: "while :; do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa; done"}},
	}, out)
	if res.Status != StatusTimedOut {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
	// Timeout + grace, plus the pipe's last 64 KiB at 100 ms per 32 KiB write.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Run took %s", d)
	}
}

func TestOutputWriterErrorDoesNotStallStep(t *testing.T) {
	e := newExecutor(t, SandboxNone, time.Second)
	res := e.Run(context.Background(), Job{Steps: []Step{{Name: "big", Run: "head -c 1000000 /dev/zero"}}}, failingWriter{})
	if res.Status != StatusSucceeded {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("connection reset") }

// markedProcs lists the processes whose environment holds key=value.
// It reads /proc itself rather than trusting findMarked, the code under test.
func markedProcs(key, value string) []int {
	names, _ := filepath.Glob("/proc/[0-9]*/environ")
	var pids []int
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			continue
		}
		if bytes.Contains(append([]byte{0}, b...), []byte("\x00"+key+"="+value+"\x00")) {
			pid, _ := strconv.Atoi(strings.Split(n, "/")[2])
			pids = append(pids, pid)
		}
	}
	return pids
}

func assertRootEmpty(t *testing.T, e *Executor) {
	t.Helper()
	ents, err := os.ReadDir(e.root)
	if err != nil {
		t.Fatalf("root: %v", err)
	}
	if len(ents) != 0 {
		var names []string
		for _, ent := range ents {
			names = append(names, ent.Name())
		}
		t.Errorf("root not empty after the job: %v", names)
	}
}

func TestNothingRemains(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newExecutor(t, mode, time.Second)
			tag := randomHex(8)
			hostTmp := filepath.Join(os.TempDir(), "rampart-leak-"+tag)
			t.Cleanup(func() { os.Remove(hostTmp) })
			var ws string
			job := Job{
				ID:  "leaky",
				Env: map[string]string{"LEAK_TAG": tag, "HOST_TMP": hostTmp},
				Prepare: func(ctx context.Context, w string) error {
					ws = w
					return os.WriteFile(filepath.Join(w, "checkout.txt"), []byte("src"), 0o644)
				},
				Steps: []Step{
					{Name: "daemons", Run: `
						sleep 1000 &
						setsid sleep 1000 &
						setsid nohup sleep 1000 > /dev/null 2>&1 &
						( ( sleep 1000 & ) & )
						echo leak > "$HOST_TMP"
						echo leak > "$TMPDIR/leak"
						echo leak > "$HOME/.netrc"
						mkdir -p deep/er && touch deep/er/file
						chmod 000 deep/er; chmod 500 deep; chmod 400 checkout.txt
					`},
					// A daemon started in one step is gone before the next starts.
					{Name: "check", Run: `
						for p in /proc/[0-9]*; do
							if cat $p/environ 2>/dev/null | tr "\0" "\n" | grep -qx "LEAK_TAG=$LEAK_TAG" && [ "${p#/proc/}" != $$ ] && [ "$(cat $p/comm)" = sleep ]; then
								echo "SURVIVOR $p"
							fi
						done
						sleep 1000 &
					`},
				},
			}
			start := time.Now()
			res, out := run(t, e, context.Background(), job)
			if res.Status != StatusSucceeded {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("job took %s: something waited for a leftover process", d)
			}
			if strings.Contains(out, "SURVIVOR") {
				t.Errorf("a daemon of step 1 survived into step 2")
			}
			if pids := markedProcs("LEAK_TAG", tag); len(pids) > 0 {
				t.Errorf("processes of the job survived it: %v", pids)
			}
			if _, err := os.Lstat(filepath.Dir(ws)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("job directory %s still exists (%v)", filepath.Dir(ws), err)
			}
			assertRootEmpty(t, e)
			_, err := os.Stat(hostTmp)
			switch {
			case e.Sandboxed() && err == nil:
				t.Errorf("a write to /tmp inside the sandbox reached the host's /tmp")
			case !e.Sandboxed() && err == nil:
				t.Logf("without a sandbox /tmp is the host's: %s survives the job (documented limit)", hostTmp)
			}
		})
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	const grace = 500 * time.Millisecond
	tests := []struct {
		name       string
		run        string
		cancelAt   time.Duration // 0: rely on the timeout
		wantStatus string
		maxTime    time.Duration
	}{
		{"timeout sleep", "sleep 100", 0, StatusTimedOut, 300*time.Millisecond + grace + time.Second},
		{"timeout ignores SIGTERM", "trap '' TERM; while :; do sleep 0.05 || true; done", 0, StatusTimedOut, 300*time.Millisecond + grace + time.Second},
		{"timeout with daemon", "setsid sleep 1000 & sleep 100", 0, StatusTimedOut, 300*time.Millisecond + grace + time.Second},
		{"cancel", "sleep 100", 300 * time.Millisecond, StatusCancelled, 300*time.Millisecond + grace + time.Second},
	}
	for _, mode := range modes {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				e := newExecutor(t, mode, grace)
				tag := randomHex(8)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				job := Job{
					Env:   map[string]string{"TAG": tag},
					Steps: []Step{{Name: "slow", Run: tt.run}, {Name: "after", Run: "true"}},
				}
				if tt.cancelAt > 0 {
					time.AfterFunc(tt.cancelAt, cancel)
				} else {
					job.Timeout = 300 * time.Millisecond
				}
				start := time.Now()
				res, _ := run(t, e, ctx, job)
				elapsed := time.Since(start)
				if res.Status != tt.wantStatus {
					t.Errorf("status = %s, want %s (%v)", res.Status, tt.wantStatus, res.Err)
				}
				if res.Steps[0].Status != tt.wantStatus || res.Steps[1].Status != StatusSkipped {
					t.Errorf("steps = %+v", res.Steps)
				}
				if elapsed > tt.maxTime {
					t.Errorf("took %s, want at most %s", elapsed, tt.maxTime)
				}
				if pids := markedProcs("TAG", tag); len(pids) > 0 {
					t.Errorf("processes survived: %v", pids)
				}
				assertRootEmpty(t, e)
			})
		}
	}
}

func TestHooks(t *testing.T) {
	tests := []struct {
		name       string
		steps      []Step
		prepareErr error
		collect    func(ctx context.Context, ws string) error
		wantStatus string
		wantErr    string
		artifact   bool // the steps copy input.txt to artifact.txt
	}{
		{
			name:       "collect after success",
			steps:      []Step{{Name: "build", Run: "cat input.txt > artifact.txt"}},
			wantStatus: StatusSucceeded,
			artifact:   true,
		},
		{
			name:       "collect after failure",
			steps:      []Step{{Name: "build", Run: "cat input.txt > artifact.txt; exit 1"}},
			wantStatus: StatusFailed,
			artifact:   true,
		},
		{
			name:       "prepare fails",
			steps:      []Step{{Name: "build", Run: "echo never > artifact.txt"}},
			prepareErr: errors.New("clone failed"),
			wantStatus: StatusFailed,
			wantErr:    "clone failed",
		},
		{
			name:       "collect fails",
			steps:      []Step{{Name: "build", Run: "true"}},
			collect:    func(context.Context, string) error { return errors.New("upload failed") },
			wantStatus: StatusFailed,
			wantErr:    "upload failed",
		},
		{
			name:       "collect panics",
			steps:      []Step{{Name: "build", Run: "true"}},
			collect:    func(context.Context, string) error { panic("boom") },
			wantStatus: StatusFailed,
			wantErr:    "collect panicked: boom",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newExecutor(t, SandboxNone, time.Second)
			var prepared, collected string
			var artifact []byte
			job := Job{
				Steps: tt.steps,
				Prepare: func(ctx context.Context, ws string) error {
					prepared = ws
					if ents, err := os.ReadDir(ws); err != nil || len(ents) != 0 {
						return fmt.Errorf("workspace not empty: %v %v", ents, err)
					}
					if err := os.WriteFile(filepath.Join(ws, "input.txt"), []byte("from prepare"), 0o600); err != nil {
						return err
					}
					return tt.prepareErr
				},
				Collect: func(ctx context.Context, ws string) error {
					collected = ws
					artifact, _ = os.ReadFile(filepath.Join(ws, "artifact.txt"))
					if tt.collect != nil {
						return tt.collect(ctx, ws)
					}
					return nil
				},
			}
			res, _ := run(t, e, context.Background(), job)
			if res.Status != tt.wantStatus {
				t.Errorf("status = %s, want %s (%v)", res.Status, tt.wantStatus, res.Err)
			}
			if tt.wantErr != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want it to mention %q", res.Err, tt.wantErr)
			}
			if prepared == "" || collected != prepared {
				t.Errorf("prepare saw %q, collect saw %q", prepared, collected)
			}
			if tt.artifact && string(artifact) != "from prepare" {
				t.Errorf("collect saw artifact %q", artifact)
			}
			if tt.prepareErr != nil && artifact != nil {
				t.Errorf("steps ran after prepare failed")
			}
			assertRootEmpty(t, e)
		})
	}
}

func TestReadOnlyWorkspaceIsRemoved(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			e := newExecutor(t, mode, time.Second)
			res, _ := run(t, e, context.Background(), Job{Steps: []Step{{Name: "lock", Run: `
				mkdir -p a/b/c; touch a/b/c/f a/f; ln -s / a/root-link
				chmod 000 a/b/c; chmod 000 a/b; chmod 555 a
				chmod -R a-w "$TMPDIR" "$HOME"
				chmod 500 "$RAMPART_WORKSPACE"
			`}}})
			if res.Status != StatusSucceeded {
				t.Fatalf("status %s: %v", res.Status, res.Err)
			}
			assertRootEmpty(t, e)
		})
	}
}

func TestRemoveTreeWithoutPermissions(t *testing.T) {
	// As root the kernel ignores permission bits, so this only tests something for other users;
	// the sandbox tests above cover root.
	if os.Geteuid() == 0 {
		t.Skip("permission bits do not bind root")
	}
	dir := filepath.Join(t.TempDir(), "job")
	for _, d := range []string{"a/b/c"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "a/b/c/f"), nil, 0o400)
	os.Chmod(filepath.Join(dir, "a/b/c"), 0)
	os.Chmod(filepath.Join(dir, "a/b"), 0)
	os.Chmod(filepath.Join(dir, "a"), 0o500)
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
}

func TestSweepAbandonedJob(t *testing.T) {
	root := t.TempDir()
	// What an agent killed with SIGKILL in the middle of a job leaves: the lock, the directory,
	// and a daemon carrying the marker.
	marker := randomHex(16)
	dir := filepath.Join(root, "dead-job-1234")
	if err := os.MkdirAll(filepath.Join(dir, "ws", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "ws"), 0o500)
	if err := os.WriteFile(dir+lockSuffix, []byte(marker), 0o600); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command("sleep", "1000")
	daemon.Env = []string{markerVar + "=" + marker}
	daemon.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { daemon.Wait(); close(exited) }()
	t.Cleanup(func() { daemon.Process.Kill() })

	// A live job of another executor sharing the root must be left alone.
	other, err := New(Config{Root: root, Sandbox: SandboxNone, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	live, err := other.createJobDir("live")
	if err != nil {
		t.Fatal(err)
	}

	e, err := New(Config{Root: root, Sandbox: SandboxNone, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(2 * time.Second):
		t.Errorf("the abandoned job's daemon is still alive")
	}
	for _, p := range []string{dir, dir + lockSuffix} {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists (%v)", p, err)
		}
	}
	if _, err := os.Stat(live.ws); err != nil {
		t.Errorf("the live job's workspace was swept: %v", err)
	}
	if err := other.destroyJobDir(live, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	assertRootEmpty(t, e)
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"unknown sandbox", Config{Sandbox: "docker"}, true},
		{"relative read-only path", Config{Sandbox: SandboxNone, ReadOnly: []string{"opt"}}, true},
		{"relative hidden path", Config{Sandbox: SandboxNone, Hide: []string{"etc/rampart"}}, true},
		{"none", Config{Sandbox: SandboxNone}, false},
		{"auto", Config{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Root = filepath.Join(t.TempDir(), "new", "root")
			tt.cfg.Logger = testLogger(t)
			_, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil {
				fi, err := os.Stat(tt.cfg.Root)
				if err != nil || fi.Mode().Perm() != 0o700 {
					t.Errorf("root: %v, %v", fi, err)
				}
			}
		})
	}
}

func TestRootPermissions(t *testing.T) {
	t.Run("loose permissions tightened", func(t *testing.T) {
		root := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(root, 0o777) // past the umask
		if _, err := New(Config{Root: root, Sandbox: SandboxNone, Logger: testLogger(t)}); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(root); fi.Mode().Perm() != 0o700 {
			t.Errorf("root mode %v", fi.Mode().Perm())
		}
	})
	t.Run("root of another user refused", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown")
		}
		root := filepath.Join(t.TempDir(), "root")
		if err := os.Mkdir(root, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(root, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		if _, err := New(Config{Root: root, Sandbox: SandboxNone, Logger: testLogger(t)}); err == nil {
			t.Fatal("New accepted a root owned by another user")
		}
	})
}

func TestNoSandboxNetworkWarning(t *testing.T) {
	e := newExecutor(t, SandboxNone, time.Second)
	_, out := run(t, e, context.Background(), Job{Network: false})
	if !strings.Contains(out, "sandbox: none") || !strings.Contains(out, "network: host (not isolated") {
		t.Errorf("output does not say the job is not isolated")
	}
}

func BenchmarkRunTrivialJob(b *testing.B) {
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			e, err := New(Config{Root: b.TempDir(), Sandbox: mode, Logger: slog.New(slog.DiscardHandler)})
			if errors.Is(err, ErrSandboxUnavailable) {
				b.Skip("bubblewrap unavailable")
			}
			if err != nil {
				b.Fatal(err)
			}
			job := Job{ID: "bench", Steps: []Step{{Name: "true", Run: "true"}}}
			for b.Loop() {
				if res := e.Run(context.Background(), job, io.Discard); res.Status != StatusSucceeded {
					b.Fatalf("status %s: %v", res.Status, res.Err)
				}
			}
		})
	}
}

// listen starts a TCP listener on the host's loopback that accepts and closes connections.
func listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}
