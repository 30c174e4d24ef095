package server_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/review"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/server"
	"github.com/rampart-ci/rampart/store"
)

// fixtureMerge is the merge commit of forge/testdata/github-pr-merged.json.
const fixtureMerge = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"

// reviewServer is a server with a review service that checks pushes at once, project "web"
// on a real repository whose main branch an environment requiring review deploys from.
type reviewServer struct {
	t      *testing.T
	db     rampart.Store
	url    string
	token  string // the admin's
	secret string // the project's webhook secret
	head   string // the repository's head commit
}

func newReviewServer(t *testing.T) *reviewServer {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := auth.New(db, logger, auth.Config{Params: auth.Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, _, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.Authenticate(ctx, tok, "test")
	if err != nil {
		t.Fatal(err)
	}
	projects := project.New(db, nil)
	repo := git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}
	sched := scheduler.New(scheduler.Config{Store: db, Repo: repo, Logger: logger})
	srv := server.New(server.Config{
		Store: db, Auth: a, Projects: projects, Scheduler: sched, Repo: repo, Findings: findings.New(db, nil),
		Reviews: review.New(review.Config{Store: db, Logger: logger}), Logger: logger, Version: "test",
	})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	dir := gitRepoWithPipeline(t)
	p, err := projects.Create(ctx, admin, "web", dir)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := projects.RotateWebhookSecret(ctx, admin, "web")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx rampart.Tx) error {
		return tx.CreateEnvironment(ctx, &rampart.Environment{ProjectID: p.ID, Name: "production",
			Protection: rampart.Protection{RequireReview: true, Branches: []string{"main"}}, CreatedAt: time.Now(), UpdatedAt: time.Now()})
	})
	if err != nil {
		t.Fatal(err)
	}
	head, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return &reviewServer{t: t, db: db, url: hs.URL, token: tok, secret: secret, head: strings.TrimSpace(string(head))}
}

// hook sends a fixture of forge/testdata, with the values at dotted paths in edits replaced,
// as host signs it with secret, and returns the status and the decoded answer.
func (rs *reviewServer) hook(host, event, file, secret string, edits ...any) (int, map[string]any) {
	rs.t.Helper()
	body, err := os.ReadFile(filepath.Join("..", "forge", "testdata", file))
	if err != nil {
		rs.t.Fatal(err)
	}
	if len(edits) > 0 {
		var doc map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			rs.t.Fatal(err)
		}
		for i := 0; i+1 < len(edits); i += 2 {
			path := strings.Split(edits[i].(string), ".")
			m := doc
			for _, k := range path[:len(path)-1] {
				m = m[k].(map[string]any)
			}
			m[path[len(path)-1]] = edits[i+1]
		}
		if body, err = json.Marshal(doc); err != nil {
			rs.t.Fatal(err)
		}
	}
	req, _ := http.NewRequest("POST", rs.url+"/api/v1/hooks/"+host+"/web", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	switch host {
	case "github":
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		req.Header.Set("X-GitHub-Event", event)
		req.Header.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	case "gitlab":
		req.Header.Set("X-Gitlab-Event", event)
		req.Header.Set("X-Gitlab-Token", secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// get decodes the answer of an API GET as the admin.
func (rs *reviewServer) get(path string, v any) int {
	rs.t.Helper()
	req, _ := http.NewRequest("GET", rs.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+rs.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			rs.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func (rs *reviewServer) audit(action string) []*rampart.AuditEvent {
	rs.t.Helper()
	var out []*rampart.AuditEvent
	err := rs.db.View(context.Background(), func(tx rampart.Tx) error {
		all, err := tx.ListAudit(context.Background(), rampart.AuditFilter{})
		for _, e := range all {
			if e.Action == action {
				out = append(out, e)
			}
		}
		return err
	})
	if err != nil {
		rs.t.Fatal(err)
	}
	return out
}

// TestWebhookRecordsReviewEvidence sends the hosts' real payloads, signed, and reads the
// evidence and the verdict back through the API.
func TestWebhookRecordsReviewEvidence(t *testing.T) {
	rs := newReviewServer(t)

	// A forged review is refused and records nothing.
	if code, _ := rs.hook("github", "pull_request_review", "github-review-approved.json", "wrong secret"); code != http.StatusUnauthorized {
		t.Fatalf("forged review: %d, want 401", code)
	}
	for _, f := range []string{"github-review-approved.json", "github-pr-merged.json", "github-review-approved.json"} {
		event := "pull_request_review"
		if strings.Contains(f, "-pr-") {
			event = "pull_request"
		}
		code, out := rs.hook("github", event, f, rs.secret)
		if code != http.StatusAccepted || out["status"] != "recorded" {
			t.Fatalf("%s: %d %v, want 202 recorded", f, code, out)
		}
	}
	var cov rampart.ReviewCoverage
	if code := rs.get("/api/v1/projects/web/reviews?commit="+fixtureMerge, &cov); code != 200 {
		t.Fatalf("GET reviews: %d", code)
	}
	if !cov.Covered || len(cov.Events) != 2 || !strings.Contains(cov.Why, "approved by octocat") || len(cov.PRAuthors) != 1 || cov.PRAuthors[0] != "hubot" {
		t.Errorf("reviews of the merge commit = %+v", cov)
	}
	if n := len(rs.audit("review.record")); n != 2 {
		t.Errorf("%d review.record audit entries, want 2 (the redelivery changes nothing)", n)
	}
	var recent rampart.ReviewCoverage
	if code := rs.get("/api/v1/projects/web/reviews", &recent); code != 200 || len(recent.Events) != 2 {
		t.Errorf("GET reviews without a commit: %d, %d events", code, len(recent.Events))
	}
	if code := rs.get("/api/v1/projects/web/reviews?commit=HEAD", &cov); code != http.StatusBadRequest {
		t.Errorf("GET reviews of a ref: %d, want 400", code)
	}

	// GitLab: an approval, then withdrawn.
	for _, f := range []string{"gitlab-mr-approved.json", "gitlab-mr-unapproved.json", "gitlab-mr-merged.json"} {
		if code, out := rs.hook("gitlab", "Merge Request Hook", f, rs.secret); code != http.StatusAccepted {
			t.Fatalf("%s: %d %v", f, code, out)
		}
	}
	if code := rs.get("/api/v1/projects/web/reviews?commit=e2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e1b3d5f7a9", &cov); code != 200 {
		t.Fatalf("GET reviews: %d", code)
	}
	if cov.Covered || !strings.Contains(cov.Why, "the approval by rchen was withdrawn") {
		t.Errorf("withdrawn GitLab approval: %+v", cov)
	}
}

// TestWebhookPushToProtectedBranch: an unreviewed push to main is a violation, visible in the
// API and audited; a push to another branch is not. (review's tests cover reviewed pushes.)
func TestWebhookPushToProtectedBranch(t *testing.T) {
	rs := newReviewServer(t)
	push := func(branch string) {
		t.Helper()
		code, out := rs.hook("github", "push", "github-push-branch.json", rs.secret,
			"ref", "refs/heads/"+branch, "after", rs.head, "head_commit.id", rs.head)
		if code != http.StatusCreated {
			t.Fatalf("push to %s: %d %v, want 201 (a run)", branch, code, out)
		}
	}
	var vs []*rampart.Violation
	push("feature")
	if code := rs.get("/api/v1/projects/web/violations", &vs); code != 200 || len(vs) != 0 {
		t.Fatalf("violations after a push to an unprotected branch: %d %+v", code, vs)
	}
	push("main")
	if code := rs.get("/api/v1/projects/web/violations", &vs); code != 200 || len(vs) != 1 {
		t.Fatalf("violations after an unreviewed push to main: %d %+v", code, vs)
	}
	v := vs[0]
	if v.Kind != rampart.ViolationUnreviewedPush || v.Ref != "refs/heads/main" || v.Commit != rs.head ||
		!strings.Contains(v.Detail, "by octocat") || !strings.Contains(v.Detail, "no review evidence") {
		t.Errorf("violation %+v", v)
	}
	audits := rs.audit("policy.violation")
	if len(audits) != 1 || audits[0].Result != rampart.ResultDenied || audits[0].Target != "project:web" {
		t.Errorf("policy.violation audit entries: %+v", audits)
	}

	// Evidence that comes later shows in the API; the violation recorded stays.
	commit := rs.head
	if code, out := rs.hook("github", "pull_request_review", "github-review-approved.json", rs.secret,
		"review.commit_id", commit); code != http.StatusAccepted {
		t.Fatalf("approval: %d %v", code, out)
	}
	var cov rampart.ReviewCoverage
	if code := rs.get("/api/v1/projects/web/reviews?commit="+commit, &cov); code != 200 || !cov.Covered {
		t.Fatalf("reviews of the approved commit: %d %+v", code, cov)
	}
	if code := rs.get("/api/v1/projects/web/violations?limit=5", &vs); code != 200 || len(vs) != 1 {
		t.Errorf("violations: %d %+v", code, vs)
	}
	if code := rs.get("/api/v1/projects/web/violations?limit=0", &vs); code != http.StatusBadRequest {
		t.Errorf("violations?limit=0: %d, want 400", code)
	}
}
