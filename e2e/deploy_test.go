package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // to tamper with the server's database as an attacker with disk access would

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
)

// commitAs commits files on branch as author (name and e-mail author@example.com) with msg.
func commitAs(t *testing.T, dir, author, branch, msg string, files map[string]string) string {
	t.Helper()
	gitAs := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=" + author, "-c", "user.email=" + author + "@example.com",
			"-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		gitAs("init", "-q", "-b", branch)
	}
	if cur := gitAs("symbolic-ref", "--short", "HEAD"); cur != branch {
		if out, err := exec.Command("git", "-C", dir, "rev-parse", "--verify", "-q", branch).CombinedOutput(); err == nil && len(out) > 0 {
			gitAs("checkout", "-q", branch)
		} else {
			gitAs("checkout", "-q", "-b", branch)
		}
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitAs("add", ".")
	gitAs("commit", "-q", "--allow-empty", "-m", msg)
	return gitAs("rev-parse", "HEAD")
}

// githubReview posts GitHub's real pull_request_review payload (forge/testdata), with the pull
// request's number, author, head commit and the reviewer set for this test.
func githubReview(t *testing.T, url, secret string, number int, author, reviewer, commit string) {
	t.Helper()
	raw, err := os.ReadFile("../forge/testdata/github-review-approved.json")
	if err != nil {
		t.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	review, pr := p["review"].(map[string]any), p["pull_request"].(map[string]any)
	review["commit_id"] = commit
	review["id"] = float64(number*1000 + len(reviewer))
	review["user"].(map[string]any)["login"] = reviewer
	review["user"].(map[string]any)["id"] = float64(1000 + len(reviewer))
	pr["number"] = float64(number)
	pr["user"].(map[string]any)["login"] = author
	pr["user"].(map[string]any)["id"] = float64(2000 + len(author))
	pr["head"].(map[string]any)["sha"] = commit
	p["sender"].(map[string]any)["login"] = reviewer
	body, _ := json.Marshal(p)
	resp := githubHook(t, url, secret, "pull_request_review", string(body))
	if resp.StatusCode >= 300 {
		t.Fatalf("review webhook: %s", resp.Status)
	}
}

// waitDeployment waits until the deployment of a run is in one of statuses.
func waitDeployment(t *testing.T, c *client.Client, run int64, within time.Duration, statuses ...string) *rampart.Deployment {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ds, err := c.Deployments(context.Background(), "web", "production", 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.RunNumber == run {
				for _, s := range statuses {
					if d.Status == s {
						return d
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("deployment of run #%d is %s (%s), want %v", run, d.Status, d.Waiting, statuses)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no deployment of run #%d within %s", run, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func jobNamed(r *client.RunResponse, name string) *rampart.Job {
	for _, j := range r.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// TestProtectedDeployments is the walkthrough with real server and agent processes:
// a production deploy waits for approval; self-approval is refused; a release manager's approval
// lets it run and releases the environment secret; a branch outside the allowed list, an
// unreviewed commit and a tampered artifact are refused; a rollback redeploys the previous good
// deployment; a security fix overtakes a queue of 20 jobs and reaches production with one
// security approval.
func TestProtectedDeployments(t *testing.T) {
	ctx := context.Background()
	const token = "prod-deploy-token-7Hq2Lx9w"
	var (
		mu       sync.Mutex
		deployed []string // commits the deploy target accepted
		refused  int
	)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			refused++
			http.Error(w, "wrong token", http.StatusForbidden)
			return
		}
		deployed = append(deployed, r.URL.Query().Get("commit"))
		fmt.Fprintln(w, "deployed")
	}))
	defer target.Close()
	deployedCommits := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), deployed...) }

	e := newEnv(t, "10s")
	// Pushes to protected branches are checked for review evidence at once, not after 30 s.
	e.server.stop(t)
	e.server = start(t, nil, "server", "--addr", e.addr, "--data-dir", e.data, "--lease-ttl", e.leaseTT,
		"--master-key-file", e.keyFile, "--review-grace", "0s")
	e.server.waitFor(t, `listening on`, 20*time.Second)
	pipeline := fmt.Sprintf(`on: [push, manual]
env:
  TARGET: %s
jobs:
  build:
    steps:
      - run: echo "app built from $RAMPART_COMMIT" > app.txt
    artifacts: [app.txt]
  deploy:
    needs: build
    environment: production
    secrets: [DEPLOY_TOKEN]
    steps:
      - run: |
          cat app.txt
          echo "token: $DEPLOY_TOKEN"
          curl -fsS -H "Authorization: Bearer $DEPLOY_TOKEN" "$TARGET/deploy?commit=$RAMPART_COMMIT"
`, target.URL)
	c1 := commitAs(t, e.repo, "carol", "main", "first release", map[string]string{".rampart.yml": pipeline})
	if _, err := e.admin.CreateProject(ctx, "web", e.repo); err != nil {
		t.Fatal(err)
	}
	hook, err := e.admin.RotateWebhookSecret(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	hookURL := e.url + hook.URLs["github"]
	users := map[string]*client.Client{}
	for _, u := range []struct{ name, org, project string }{
		{"rita", "member", "release-manager"}, {"ron", "member", "release-manager"}, {"carol", "member", "release-manager"},
		{"dave", "member", "developer"}, {"sam", "security", ""},
	} {
		users[u.name] = userClient(t, e, u.name, u.org)
		if u.project != "" {
			if _, err := e.admin.SetMember(ctx, "web", u.name, u.project); err != nil {
				t.Fatal(err)
			}
		}
	}
	cli := func(as string, args ...string) (string, error) {
		tok := e.token
		if as != "admin" {
			lr, err := client.New(e.url, "").Login(ctx, as, "correct horse battery staple 42", "cli")
			if err != nil {
				t.Fatal(err)
			}
			tok = lr.Token
		}
		out, err := exec.Command(binary, append([]string{"--server", e.url, "--token", tok}, args...)...).CombinedOutput()
		return string(out), err
	}
	rules := []string{"env", "protect", "web", "production", "--production", "--approvals", "1", "--branches", "main", "--require-review"}
	for _, args := range [][]string{{"env", "create", "web", "production"}, rules} {
		if out, err := cli("admin", args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	set := exec.Command(binary, "--server", e.url, "--token", e.token, "secret", "set", "web", "DEPLOY_TOKEN", "--env", "production")
	set.Stdin = strings.NewReader(token + "\n")
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("secret set: %v %s", err, out)
	}
	agent := e.startAgent("a1")

	// 1. A reviewed commit: waits for approval; its author and a developer cannot approve; a
	// release manager can, and the deploy job gets the secret and the artifact.
	githubReview(t, hookURL, hook.Secret, 41, "carol", "rita", c1)
	if resp := githubPush(t, hookURL, hook.Secret, "main", c1); resp.StatusCode >= 300 {
		t.Fatalf("push webhook: %s", resp.Status)
	}
	d1 := waitDeployment(t, e.admin, 1, 60*time.Second, rampart.DeployWaiting)
	for d1.Waiting == "rules not yet checked" {
		time.Sleep(100 * time.Millisecond)
		d1 = waitDeployment(t, e.admin, 1, time.Second, rampart.DeployWaiting)
	}
	if !strings.Contains(d1.Waiting, "1 more approval") {
		t.Fatalf("deployment 1 waits for %q", d1.Waiting)
	}
	if out, err := cli("admin", "deploy", "pending"); err != nil || !strings.Contains(out, "approval") {
		t.Fatalf("deploy pending: %v\n%s", err, out)
	}
	if _, err := users["carol"].Decide(ctx, d1.ID, true, "my own change, trust me"); rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "wrote commit") {
		t.Fatalf("self-approval: %v", err)
	}
	if _, err := users["dave"].Decide(ctx, d1.ID, true, "I am a developer"); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Fatalf("developer approval: %v", err)
	}
	if got := deployedCommits(); len(got) != 0 {
		t.Fatalf("deployed before approval: %v", got)
	}
	if out, err := cli("rita", "approve", fmt.Sprint(d1.ID), "--comment", "release notes read, canary green"); err != nil {
		t.Fatalf("approve: %v\n%s", err, out)
	}
	r1 := e.waitRun("web", 1, 60*time.Second)
	if r1.Status != rampart.StatusSucceeded {
		t.Fatalf("run 1: %s (%s) %+v\nagent:\n%s", r1.Status, r1.Reason, r1.Jobs, agent.Output())
	}
	var log bytes.Buffer
	if err := e.admin.Log(ctx, jobNamed(r1, "deploy").ID, &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "app built from "+c1) || strings.Contains(log.String(), token) || !strings.Contains(log.String(), "token: ***") {
		t.Fatalf("deploy log (artifact delivered, secret masked?):\n%s", log.String())
	}
	if got := deployedCommits(); len(got) != 1 || got[0] != c1 {
		t.Fatalf("deployed %v, want [%s]", got, c1)
	}
	waitDeployment(t, e.admin, 1, 10*time.Second, rampart.DeploySucceeded)

	// 2. A branch outside the allowed list.
	c2 := commitAs(t, e.repo, "carol", "feature", "experiment", map[string]string{"x.txt": "x"})
	githubPush(t, hookURL, hook.Secret, "feature", c2)
	r2 := e.waitRun("web", 2, 60*time.Second)
	if j := jobNamed(r2, "deploy"); r2.Status != rampart.StatusFailed || j == nil || !strings.Contains(j.Reason, "branch feature is not allowed") {
		t.Fatalf("feature branch run: %s %+v", r2.Status, j)
	}

	// 3. An unreviewed commit on main.
	c3 := commitAs(t, e.repo, "carol", "main", "unreviewed", map[string]string{"y.txt": "y"})
	githubPush(t, hookURL, hook.Secret, "main", c3)
	r3 := e.waitRun("web", 3, 60*time.Second)
	if j := jobNamed(r3, "deploy"); r3.Status != rampart.StatusFailed || j == nil || !strings.Contains(j.Reason, "not covered by an approving review") {
		t.Fatalf("unreviewed run: %s %+v", r3.Status, j)
	}

	// The unreviewed push to the protected branch is a policy violation; the reviewed one and
	// the push to an unprotected branch are not.
	vs, err := e.admin.Violations(ctx, "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Commit != c3 || vs[0].Ref != "main" && vs[0].Ref != "refs/heads/main" {
		t.Fatalf("violations: %+v (want one, for %s)", vs, c3)
	}
	if out, err := cli("admin", "violations", "web"); err != nil || !strings.Contains(out, c3[:12]) {
		t.Fatalf("rampart violations: %v\n%s", err, out)
	}

	// 4. A second good deployment, reviewed by ron, approved by rita.
	c4 := commitAs(t, e.repo, "carol", "main", "second release", map[string]string{"z.txt": "z"})
	githubReview(t, hookURL, hook.Secret, 44, "carol", "ron", c4)
	githubPush(t, hookURL, hook.Secret, "main", c4)
	d4 := waitDeployment(t, e.admin, 4, 60*time.Second, rampart.DeployWaiting)
	if _, err := users["rita"].Decide(ctx, d4.ID, true, "second release approved"); err != nil {
		t.Fatal(err)
	}
	if r4 := e.waitRun("web", 4, 60*time.Second); r4.Status != rampart.StatusSucceeded {
		t.Fatalf("run 4: %s (%s)", r4.Status, r4.Reason)
	}
	waitDeployment(t, e.admin, 4, 10*time.Second, rampart.DeploySucceeded)

	// 5. Rollback to the previous good deployment (c1), through the same rules: rita starts it,
	// so ron approves.
	out, err := cli("rita", "deploy", "rollback", "web", "production")
	if err != nil || !strings.Contains(out, "Run #5 redeploys deployment "+fmt.Sprint(d1.ID)) {
		t.Fatalf("rollback: %v\n%s", err, out)
	}
	d5 := waitDeployment(t, e.admin, 5, 60*time.Second, rampart.DeployWaiting)
	if d5.RollbackOf != d1.ID || d5.Commit != c1 {
		t.Fatalf("rollback deployment: %+v", d5)
	}
	if _, err := users["rita"].Decide(ctx, d5.ID, true, "rolling back my own"); rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Fatalf("the starter of a rollback approved it: %v", err)
	}
	if _, err := users["ron"].Decide(ctx, d5.ID, true, "rollback approved"); err != nil {
		t.Fatal(err)
	}
	if r5 := e.waitRun("web", 5, 60*time.Second); r5.Status != rampart.StatusSucceeded {
		t.Fatalf("rollback run: %s (%s) %+v", r5.Status, r5.Reason, r5.Jobs)
	}
	if got := deployedCommits(); len(got) != 3 || got[2] != c1 {
		t.Fatalf("deployed %v, want c1, c4, c1", got)
	}
	if out, err := cli("admin", "deploy", "history", "web", "production"); err != nil || !strings.Contains(out, fmt.Sprintf("rollback to %d", d1.ID)) {
		t.Fatalf("history: %v\n%s", err, out)
	}

	// 6. A tampered artifact: someone with access to the database swaps the built file.
	if _, err := users["rita"].StartRun(ctx, "web", "main"); err != nil {
		t.Fatal(err)
	}
	d6 := waitDeployment(t, e.admin, 6, 60*time.Second, rampart.DeployWaiting)
	if len(d6.Artifacts) != 1 {
		t.Fatalf("deployment 6 artifacts: %+v", d6.Artifacts)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(e.data, "rampart.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE blobs SET data = ? WHERE digest = ?", []byte("echo pwned\n"), d6.Artifacts[0].Digest); err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if _, err := users["ron"].Decide(ctx, d6.ID, true, "looks fine"); err != nil && rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatal(err)
	}
	r6 := e.waitRun("web", 6, 60*time.Second)
	if j := jobNamed(r6, "deploy"); r6.Status != rampart.StatusFailed || j == nil || !strings.Contains(j.Reason, "provenance") {
		t.Fatalf("tampered artifact run: %s %+v", r6.Status, j)
	}
	var auditLog bytes.Buffer
	if err := e.admin.ExportAudit(ctx, 0, &auditLog); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(auditLog.String(), "deploy.refuse") || !strings.Contains(auditLog.String(), "provenance") {
		t.Fatal("the provenance refusal is not in the audit log")
	}
	if got := deployedCommits(); len(got) != 3 {
		t.Fatalf("the tampered artifact was deployed: %v", got)
	}

	// 7. The security fast lane: a queue of 20 jobs waits for the only agent; a fix with a
	// Security-Fix trailer on main overtakes it, skips the wait timer and the deployment window,
	// and reaches production with one approval from the security role.
	agent.stop(t)
	slow := "on: [manual]\njobs:\n"
	for i := range 20 {
		slow += fmt.Sprintf("  j%02d:\n    steps: [{run: sleep 1}]\n", i)
	}
	busyRepo := t.TempDir()
	commitAs(t, busyRepo, "dave", "main", "busy", map[string]string{".rampart.yml": slow})
	if _, err := e.admin.CreateProject(ctx, "busy", busyRepo); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.StartRun(ctx, "busy", "main"); err != nil {
		t.Fatal(err)
	}
	strict := append(rules, "--wait", "1h", "--window", "Sat 03:00-03:01")
	if out, err := cli("admin", strict...); err != nil {
		t.Fatalf("protect: %v\n%s", err, out)
	}
	c7 := commitAs(t, e.repo, "carol", "main", "fix: escape the template input\n\nSecurity-Fix: INC-9", map[string]string{"fix.txt": "fixed"})
	githubReview(t, hookURL, hook.Secret, 47, "carol", "ron", c7)
	githubPush(t, hookURL, hook.Secret, "main", c7)
	time.Sleep(300 * time.Millisecond) // the queue is in place before the agent comes
	e.startAgentCapacity("a2", 1)
	d7 := waitDeployment(t, e.admin, 7, 60*time.Second, rampart.DeployWaiting)
	if !d7.SecurityFix || d7.Incident != "INC-9" {
		t.Fatalf("fast-lane deployment: %+v", d7)
	}
	if _, err := users["sam"].Decide(ctx, d7.ID, true, "fix verified against the exploit"); err != nil {
		t.Fatal(err)
	}
	d7 = waitDeployment(t, e.admin, 7, 60*time.Second, rampart.DeploySucceeded)
	busy, err := e.admin.Run(ctx, "busy", 1)
	if err != nil {
		t.Fatal(err)
	}
	started := 0
	for _, j := range busy.Jobs {
		if j.StartedAt != nil && j.StartedAt.Before(*d7.FinishedAt) {
			started++
		}
	}
	if started >= 10 {
		t.Fatalf("%d of the 20 queued jobs started before the security fix reached production", started)
	}
	if got := deployedCommits(); len(got) != 4 || got[3] != c7 {
		t.Fatalf("deployed %v, want the fix last", got)
	}
	lead := d7.FinishedAt.Sub(*d7.CommitTime)
	t.Logf("security fix: commit to production in %s; %d of 20 queued jobs started before it", lead.Round(time.Millisecond), started)
	_ = e.admin.CancelRun(ctx, "busy", 1)
	if refusedCalls := func() int { mu.Lock(); defer mu.Unlock(); return refused }(); refusedCalls != 0 {
		t.Fatalf("the deploy target saw %d calls with a wrong token", refusedCalls)
	}
	rep, err := e.admin.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
}
