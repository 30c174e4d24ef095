package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// server runs `rampart up` through Main on a free port and returns its URL and first-start output.
func startUp(t *testing.T, dataDir string) (url string, out *syncBuffer, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	out = &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"up", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, strings.NewReader(""), pw, io.Discard)
		pw.Close()
	}()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if m := regexp.MustCompile(`listening on (http\S+)`).FindStringSubmatch(line); m != nil {
				urlc <- m[1]
			}
		}
	}()
	select {
	case url = <-urlc:
	case code := <-done:
		t.Fatalf("rampart up exited with %d before listening: %s", code, out.String())
	case <-time.After(20 * time.Second):
		t.Fatal("rampart up did not start in 20s")
	}
	return url, out, func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("rampart up exited with %d after SIGTERM-equivalent", code)
			}
		case <-time.After(20 * time.Second):
			t.Error("rampart up did not shut down in 20s")
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) WriteString(x string) { s.mu.Lock(); defer s.mu.Unlock(); s.b.WriteString(x) }
func (s *syncBuffer) String() string       { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// cli runs one command through Main and returns its exit code, stdout and stderr.
func cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func mustCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, stdin, args...)
	if code != 0 {
		t.Fatalf("rampart %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// TestWalkthrough follows the README's CLI walkthrough against a real server, then tampers with
// the audit log the way an intruder with database access would.
func TestWalkthrough(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RAMPART_CONFIG", filepath.Join(dir, "config", "credentials.json"))
	t.Setenv("RAMPART_SERVER", "")
	t.Setenv("RAMPART_TOKEN", "")
	data := filepath.Join(dir, "data")
	url, out, stop := startUp(t, data)

	pw := regexp.MustCompile(`(?m)^admin password: (\S+)$`).FindStringSubmatch(out.String())
	tok := regexp.MustCompile(`(?m)^admin token: (rmp_\S+)$`).FindStringSubmatch(out.String())
	if pw == nil || tok == nil {
		t.Fatalf("first start did not print the admin password and token:\n%s", out)
	}

	mustCLI(t, "", "login", "--server", url, "--token", tok[1])
	st, err := os.Stat(filepath.Join(dir, "config", "credentials.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v; want 0600", err, st.Mode())
	}
	if got := mustCLI(t, "", "whoami"); !strings.Contains(got, "admin") {
		t.Fatalf("whoami: %q", got)
	}
	alicePW := "alice's long passphrase"
	mustCLI(t, alicePW+"\n", "user", "add", "alice", "--role", "member", "--password-stdin")
	if got := mustCLI(t, "", "user", "add", "bob"); !regexp.MustCompile(`password: \S{20,}`).MatchString(got) {
		t.Fatalf("user add without a password should print a generated one: %q", got)
	}
	mustCLI(t, "", "project", "create", "web", "--repo", "/srv/git/web.git")
	mustCLI(t, "", "project", "member", "add", "web", "alice", "developer")
	if got := mustCLI(t, "", "project", "show", "web"); !strings.Contains(got, "alice") || !strings.Contains(got, "developer") {
		t.Fatalf("project show: %q", got)
	}
	ciToken := strings.TrimSpace(mustCLI(t, "", "token", "create", "ci", "--scope", "viewer", "--ttl", "24h"))
	if !strings.HasPrefix(ciToken, "rmp_") {
		t.Fatalf("token create printed %q", ciToken)
	}
	if got := mustCLI(t, "", "token", "list"); !strings.Contains(got, "ci") || !strings.Contains(got, "viewer") {
		t.Fatalf("token list: %q", got)
	}

	// alice logs in with her password and sees only her project; she cannot add users.
	mustCLI(t, alicePW+"\n", "login", "--server", url, "--user", "alice")
	if got := mustCLI(t, "", "project", "list"); !strings.Contains(got, "web") {
		t.Fatalf("alice's projects: %q", got)
	}
	code, _, errOut := cli(t, "", "user", "add", "mallory", "--role", "admin")
	if code == 0 || !strings.Contains(errOut, "permission denied") {
		t.Fatalf("alice adding a user: exit %d, %q", code, errOut)
	}
	// The viewer-scoped token can read but not change.
	code, _, errOut = cli(t, "", "--token", ciToken, "project", "create", "x", "--repo", "/x")
	if code == 0 || !strings.Contains(errOut, "permission denied") {
		t.Fatalf("viewer token creating a project: exit %d, %q", code, errOut)
	}

	// Back as admin: disable bob, verify and export the audit log.
	mustCLI(t, pw[1]+"\n", "login", "--server", url, "--user", "admin")
	mustCLI(t, "", "user", "disable", "bob")
	if got := mustCLI(t, "", "audit", "verify"); !strings.Contains(got, "intact") {
		t.Fatalf("audit verify: %q", got)
	}
	export := mustCLI(t, "", "audit", "export")
	for _, action := range []string{`"user.create"`, `"project.create"`, `"member.set"`, `"token.create"`, `"auth.login"`, `"user.disable"`} {
		if !strings.Contains(export, action) {
			t.Errorf("audit export lacks %s", action)
		}
	}
	if !strings.Contains(export, `"result":"denied"`) {
		t.Error("audit export lacks alice's denied request")
	}

	// An intruder edits one audit row directly in the database.
	db, err := sql.Open("sqlite", filepath.Join(data, "rampart.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_events SET actor = 'nobody' WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, _, errOut = cli(t, "", "audit", "verify")
	if code == 0 || !strings.Contains(errOut, "broken at entry 5") {
		t.Fatalf("verify after tampering: exit %d, %q", code, errOut)
	}
	stop()

	// A second start prints no credentials and keeps the data.
	url, out, stop = startUp(t, data)
	defer stop()
	if strings.Contains(out.String(), "admin password") || strings.Contains(out.String(), "admin token") {
		t.Fatalf("second start printed credentials:\n%s", out)
	}
	t.Setenv("RAMPART_SERVER", url)
	if got := mustCLI(t, "", "project", "list"); !strings.Contains(got, "web") {
		t.Fatalf("projects after restart: %q", got)
	}
}

func TestCLIErrorsSayHowToFix(t *testing.T) {
	t.Setenv("RAMPART_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	t.Setenv("RAMPART_SERVER", "")
	t.Setenv("RAMPART_TOKEN", "")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"not logged in", []string{"project", "list"}, "rampart login --server"},
		{"login without server", []string{"login", "--token", "x"}, "--server"},
		{"unreachable server", []string{"--server", "http://127.0.0.1:1", "--token", "rmp_x", "project", "list"}, "cannot reach"},
		{"bad token id", []string{"--server", "http://127.0.0.1:1", "--token", "rmp_x", "token", "revoke", "abc"}, "numeric ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := cli(t, "", tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", code, errOut, tc.want)
			}
		})
	}
}
