package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

// freshDatabase creates an empty PostgreSQL database for one test and returns its URL.
func freshDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("RAMPART_TEST_DATABASE_URL")
	if base == "" {
		t.Skip("set RAMPART_TEST_DATABASE_URL (see .ci/postgres) to run the two-server test on PostgreSQL")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "e2e_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

// TestTwoServersOnePostgres runs two server processes on one database with agents split
// between them, and checks that every job ran exactly once.
func TestTwoServersOnePostgres(t *testing.T) {
	ctx := context.Background()
	dbURL := freshDatabase(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q")
	var yaml strings.Builder
	yaml.WriteString("on: [manual]\njobs:\n")
	const jobs = 24
	for i := range jobs {
		fmt.Fprintf(&yaml, "  j%d:\n    steps: [{run: 'echo job %d; sleep 0.3'}]\n", i, i)
	}
	commit(t, repo, map[string]string{".rampart.yml": yaml.String()})

	var servers []*proc
	var urls []string
	keyFile := keygen(t) // one vault, one key, however many servers
	// One provenance key too: what one server signed, the other's deploy gate must accept.
	provKey := filepath.Join(t.TempDir(), "provenance.key")
	for i := range 2 {
		addr := freePort(t)
		p := start(t, nil, "server", "--addr", addr, "--data-dir", filepath.Join(t.TempDir(), fmt.Sprint(i)), "--database-url", dbURL,
			"--master-key-file", keyFile, "--provenance-key-file", provKey)
		p.waitFor(t, "listening on", 20*time.Second)
		servers = append(servers, p)
		urls = append(urls, "http://"+addr)
	}
	var token string
	for _, p := range servers {
		if m := regexpFind(p.Output(), `admin token: (rmp_\S+)`); m != "" {
			if token != "" {
				t.Fatal("both servers created a first admin")
			}
			token = m
		}
	}
	if token == "" {
		t.Fatal("no server printed the first admin's token")
	}
	var pubKeys []string
	for _, u := range urls {
		resp, err := http.Get(u + "/api/v1/provenance/key")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pubKeys = append(pubKeys, string(b))
	}
	if pubKeys[0] == "" || pubKeys[0] != pubKeys[1] {
		t.Fatalf("the two servers sign provenance with different keys:\n%s\n%s", pubKeys[0], pubKeys[1])
	}
	admin := client.New(urls[0], token)
	if _, err := admin.CreateProject(ctx, "web", repo); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	for i := range 4 {
		tok, err := admin.CreateAgentToken(ctx, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		start(t, nil, "agent", "--server", urls[i%2], "--token", tok.Token, "--name", fmt.Sprintf("a%d", i), "--capacity", "2",
			"--credential-file", filepath.Join(t.TempDir(), "agent.json"), "--work-dir", work, "--sandbox", "none")
	}
	run, err := client.New(urls[1], token).StartRun(ctx, "web", "")
	if err != nil {
		t.Fatal(err)
	}
	var r *client.RunResponse
	deadline := time.Now().Add(90 * time.Second)
	for {
		if r, err = admin.Run(ctx, "web", run.Number); err == nil && rampart.Terminal(r.Status) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("run did not finish: %+v %v", r, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.Status != rampart.StatusSucceeded {
		t.Fatalf("run %s: %s", r.Status, r.Reason)
	}
	agentsUsed := map[int64]bool{}
	for _, j := range r.Jobs {
		if j.Attempt != 1 || j.Fence != 1 {
			t.Errorf("job %s: attempt %d, fence %d; want each job leased exactly once", j.Name, j.Attempt, j.Fence)
		}
		agentsUsed[j.AgentID] = true
	}
	var exp strings.Builder
	if err := admin.ExportAudit(ctx, 0, &exp); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(exp.String(), `"action":"job.lease"`); n != jobs {
		t.Errorf("%d job.lease audit events, want %d", n, jobs)
	}
	rep, err := admin.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain across two servers: %+v %v", rep, err)
	}
	t.Logf("%d jobs on %d agents through 2 servers", jobs, len(agentsUsed))
}
