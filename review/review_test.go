package review_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/forge"
	"github.com/rampart-ci/rampart/review"
	"github.com/rampart-ci/rampart/store"
)

// Commits of the fixtures in forge/testdata.
const (
	ghHead  = "b7e1c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9" // head of github pull request #42
	ghOlder = "4c1b2a39d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3" // an earlier head of it
	ghMerge = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6" // its merge commit
	glHead  = "7c3a9e1f5b2d8064a1c3e5f7092b4d6f8a0c2e4b" // head of gitlab merge request !12
	glMerge = "e2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e1b3d5f7a9" // its merge commit
	other   = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" // a commit no pull request knows
)

// hookEvents are the event headers of the fixtures.
var hookEvents = map[string][2]string{
	"github-review-approved.json":          {forge.GitHub, "pull_request_review"},
	"github-review-changes-requested.json": {forge.GitHub, "pull_request_review"},
	"github-review-dismissed.json":         {forge.GitHub, "pull_request_review"},
	"github-pr-merged.json":                {forge.GitHub, "pull_request"},
	"github-pr-opened.json":                {forge.GitHub, "pull_request"},
	"gitlab-mr-approved.json":              {forge.GitLab, "Merge Request Hook"},
	"gitlab-mr-approval-by-author.json":    {forge.GitLab, "Merge Request Hook"},
	"gitlab-mr-unapproved.json":            {forge.GitLab, "Merge Request Hook"},
	"gitlab-mr-merged.json":                {forge.GitLab, "Merge Request Hook"},
	"gitea-pr-approved.json":               {forge.Gitea, "pull_request_approved"},
	"gitea-pr-merged.json":                 {forge.Gitea, "pull_request"},
}

// fixture parses a webhook fixture of forge/testdata with ParseReview, after setting the values
// at dotted paths given as pairs in edits (nil deletes).
func fixture(t *testing.T, file string, edits ...any) *rampart.ReviewEvent {
	t.Helper()
	hook, ok := hookEvents[file]
	if !ok {
		t.Fatalf("no event header for %s", file)
	}
	body, err := os.ReadFile(filepath.Join("..", "forge", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if len(edits) > 0 {
		body = patch(t, body, edits...)
	}
	h := http.Header{}
	switch hook[0] {
	case forge.GitHub:
		h.Set("X-GitHub-Event", hook[1])
	case forge.GitLab:
		h.Set("X-Gitlab-Event", hook[1])
	case forge.Gitea:
		h.Set("X-Gitea-Event", hook[1])
	}
	e, err := forge.ParseReview(hook[0], h, body)
	if err != nil || e == nil {
		t.Fatalf("ParseReview %s: %v, %v", file, e, err)
	}
	return e
}

func patch(t *testing.T, body []byte, edits ...any) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		path := strings.Split(edits[i].(string), ".")
		m := doc
		for _, k := range path[:len(path)-1] {
			m = m[k].(map[string]any)
		}
		if edits[i+1] == nil {
			delete(m, path[len(path)-1])
		} else {
			m[path[len(path)-1]] = edits[i+1]
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	t     *testing.T
	db    rampart.Store
	svc   *review.Service
	p     *rampart.Project
	clock *clock
	hook  *rampart.Actor
}

// newEnv opens a fresh store with project "web" and a review service with the given grace.
func newEnv(t *testing.T, grace time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "r.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, db: db, clock: &clock{now: time.Date(2024, 6, 5, 12, 0, 0, 0, time.UTC)},
		hook: &rampart.Actor{Name: "webhook:github", Source: "192.0.2.1"}}
	e.svc = review.New(review.Config{Store: db, Grace: grace, Now: e.clock.Now})
	e.p = &rampart.Project{Name: "web", RepoURL: "https://github.com/acme/web.git", CreatedAt: e.clock.Now()}
	e.update(func(tx rampart.Tx) error { return tx.CreateProject(ctx, e.p) })
	return e
}

func (e *env) update(fn func(tx rampart.Tx) error) {
	e.t.Helper()
	if err := e.db.Update(context.Background(), fn); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) record(evs ...*rampart.ReviewEvent) {
	e.t.Helper()
	for _, ev := range evs {
		if err := e.svc.Record(context.Background(), e.hook, e.p, ev); err != nil {
			e.t.Fatalf("Record %s: %v", review.Describe(ev), err)
		}
	}
}

func (e *env) covered(commit string) (bool, string, []string) {
	e.t.Helper()
	var (
		ok      bool
		why     string
		authors []string
	)
	err := e.db.View(context.Background(), func(tx rampart.Tx) (err error) {
		ok, why, authors, err = e.svc.Covered(context.Background(), tx, e.p.ID, commit)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ok, why, authors
}

func (e *env) audit(action string) []*rampart.AuditEvent {
	e.t.Helper()
	var out []*rampart.AuditEvent
	err := e.db.View(context.Background(), func(tx rampart.Tx) error {
		all, err := tx.ListAudit(context.Background(), rampart.AuditFilter{})
		for _, a := range all {
			if a.Action == action {
				out = append(out, a)
			}
		}
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func TestCovered(t *testing.T) {
	for _, tc := range []struct {
		name    string
		events  func(t *testing.T) []*rampart.ReviewEvent
		commit  string
		covered bool
		why     []string // words why must contain
		authors []string
	}{
		{
			name: "approval by another user covers the reviewed commit",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-review-approved.json")}
			},
			commit:  ghHead,
			covered: true, why: []string{"approved by octocat", "#42"}, authors: []string{"hubot"},
		},
		{
			name: "merged pull request covers its merge commit",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-review-approved.json"), fixture(t, "github-pr-merged.json")}
			},
			commit:  ghMerge,
			covered: true, why: []string{"approved by octocat", "merged as this commit", ghHead[:12]}, authors: []string{"hubot"},
		},
		{
			name: "merge arriving before the approval",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-pr-merged.json"), fixture(t, "github-review-approved.json")}
			},
			commit: ghMerge, covered: true, authors: []string{"hubot"},
		},
		{
			name: "self-approval does not count",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "github-review-approved.json", "review.user", map[string]any{"login": "hubot", "id": 1055}),
					fixture(t, "github-pr-merged.json"),
				}
			},
			commit: ghMerge, why: []string{"the only approval is by the pull request's author hubot"}, authors: []string{"hubot"},
		},
		{
			name: "GitLab self-approval does not count",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "gitlab-mr-approval-by-author.json"), fixture(t, "gitlab-mr-merged.json")}
			},
			commit: glMerge, why: []string{"the only approval is by the pull request's author jdoe"}, authors: []string{"jdoe"},
		},
		{
			name: "logins decide when ids are missing",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-review-approved.json", "pull_request.user", map[string]any{"login": "hubot"}, "review.user", map[string]any{"login": "octocat"})}
			},
			commit: ghHead, covered: true, authors: []string{"hubot"},
		},
		{
			name: "self-ness that cannot be decided does not count",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				// GitLab names the author by id only; without the reviewer's id nothing compares.
				e := fixture(t, "gitlab-mr-approved.json")
				e.ReviewerID = 0
				return []*rampart.ReviewEvent{e, fixture(t, "gitlab-mr-merged.json")}
			},
			commit: glMerge, why: []string{"the approval by rchen cannot be told apart from one by the pull request's author"},
		},
		{
			name: "dismissed approval does not count",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "github-review-approved.json"), fixture(t, "github-review-dismissed.json"), fixture(t, "github-pr-merged.json"),
				}
			},
			commit: ghMerge, why: []string{"the approval by octocat was dismissed by lisa-admin"},
		},
		{
			name: "dismissal delivered before the approval",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-review-dismissed.json"), fixture(t, "github-review-approved.json")}
			},
			commit: ghHead, why: []string{"dismissed"},
		},
		{
			name: "dismissal of another review leaves the approval standing",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "github-review-approved.json"), fixture(t, "github-review-dismissed.json", "review.id", 1),
					fixture(t, "github-pr-merged.json"),
				}
			},
			commit: ghMerge, covered: true,
		},
		{
			name: "approval of an older head does not cover the merge of a newer head",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "github-review-approved.json", "review.commit_id", ghOlder), fixture(t, "github-pr-merged.json"),
				}
			},
			commit: ghMerge, why: []string{"merged as this commit from head " + ghHead[:12], "no review approved", "approvals of other commits only: by octocat at " + ghOlder[:12]},
		},
		{
			name: "request for changes after the approval by the same reviewer",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "github-review-approved.json"),
					fixture(t, "github-review-changes-requested.json", "review.user", map[string]any{"login": "octocat", "id": 583231},
						"review.commit_id", ghHead, "review.submitted_at", "2024-06-05T10:30:00Z"),
					fixture(t, "github-pr-merged.json"),
				}
			},
			commit: ghMerge, why: []string{"the approval by octocat was followed by their request for changes"},
		},
		{
			name: "request for changes by someone else does not withdraw an approval",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "github-review-approved.json"),
					fixture(t, "github-review-changes-requested.json", "review.commit_id", ghHead, "review.submitted_at", "2024-06-05T10:30:00Z"),
					fixture(t, "github-pr-merged.json"),
				}
			},
			commit: ghMerge, covered: true,
		},
		{
			name: "GitLab approval covers the merge",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "gitlab-mr-approved.json"), fixture(t, "gitlab-mr-merged.json")}
			},
			commit: glMerge, covered: true, why: []string{"approved by rchen", "gitlab pull request #12"},
		},
		{
			name: "GitLab approval then unapproved",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "gitlab-mr-approved.json"), fixture(t, "gitlab-mr-unapproved.json"), fixture(t, "gitlab-mr-merged.json")}
			},
			commit: glMerge, why: []string{"the approval by rchen was withdrawn"},
		},
		{
			name: "GitLab approved again after unapproving",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{
					fixture(t, "gitlab-mr-approved.json"), fixture(t, "gitlab-mr-unapproved.json"),
					fixture(t, "gitlab-mr-approved.json", "object_attributes.updated_at", "2024-06-10 09:40:00 UTC"),
					fixture(t, "gitlab-mr-merged.json"),
				}
			},
			commit: glMerge, covered: true,
		},
		{
			name: "GitLab fast-forward merge covers the head",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "gitlab-mr-approved.json"), fixture(t, "gitlab-mr-merged.json", "object_attributes.merge_commit_sha", nil)}
			},
			commit: glHead, covered: true,
		},
		{
			name: "inferred approval followed by new commits",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				approved := fixture(t, "gitlab-mr-approved.json")
				update := *approved
				update.Kind, update.Reviewer, update.ReviewerID, update.CommitInferred, update.Actor = rampart.PullRequestUpdated, "", 0, false, "jdoe"
				return []*rampart.ReviewEvent{approved, &update}
			},
			commit: glHead, why: []string{"the approval by rchen may be of a commit the reviewer never saw"},
		},
		{
			name: "Gitea approval covers the merge",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "gitea-pr-approved.json"), fixture(t, "gitea-pr-merged.json")}
			},
			commit: "8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a", covered: true, authors: []string{"ops"},
		},
		{
			name: "pull request opened without an approval",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-pr-opened.json")}
			},
			commit: ghHead, why: []string{"no review evidence for commit " + ghHead[:12], "no pull request was merged as this commit", "#42 has no approval"},
			authors: []string{"hubot"},
		},
		{
			name: "no evidence at all",
			events: func(t *testing.T) []*rampart.ReviewEvent {
				return []*rampart.ReviewEvent{fixture(t, "github-review-approved.json")}
			},
			commit: other, why: []string{"no review evidence for commit " + other[:12] + ": no pull request was merged as this commit"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0)
			e.record(tc.events(t)...)
			ok, why, authors := e.covered(tc.commit)
			t.Logf("covered %v: %s", ok, why)
			if ok != tc.covered {
				t.Errorf("covered = %v (%s), want %v", ok, why, tc.covered)
			}
			for _, w := range tc.why {
				if !strings.Contains(why, w) {
					t.Errorf("why %q does not say %q", why, w)
				}
			}
			if why == "" {
				t.Error("no why")
			}
			if tc.authors != nil && !slices.Equal(authors, tc.authors) {
				t.Errorf("pull request authors = %v, want %v", authors, tc.authors)
			}
		})
	}
}

func TestCoveredBadCommit(t *testing.T) {
	e := newEnv(t, 0)
	for _, c := range []string{"", "main", ghHead[:12]} {
		if ok, why, _ := e.covered(c); ok || why == "" {
			t.Errorf("Covered(%q) = %v, %q", c, ok, why)
		}
	}
	// Commits are compared in lower case, as the evidence stores them.
	e.record(fixture(t, "github-review-approved.json"))
	if ok, why, _ := e.covered(strings.ToUpper(ghHead)); !ok {
		t.Errorf("upper-case commit not covered: %s", why)
	}
}

func TestRecordDeduplicatesAndAudits(t *testing.T) {
	e := newEnv(t, 0)
	approval := fixture(t, "github-review-approved.json")
	e.record(approval, fixture(t, "github-review-approved.json"), fixture(t, "github-pr-merged.json"))
	cov, err := e.svc.Reviews(context.Background(), e.p, ghMerge)
	if err != nil {
		t.Fatal(err)
	}
	if len(cov.Events) != 2 || !cov.Covered {
		t.Fatalf("Reviews = %+v, want 2 events and covered", cov)
	}
	audits := e.audit("review.record")
	if len(audits) != 2 {
		t.Fatalf("%d review.record entries, want 2 (the copy is not audited)", len(audits))
	}
	a := audits[0]
	if a.Actor != "webhook:github" || a.Source != "192.0.2.1" || a.Target != "project:web" || a.Result != rampart.ResultSuccess ||
		!strings.Contains(a.Detail, "approved by octocat") || !strings.Contains(a.Detail, ghHead[:12]) || !strings.Contains(a.Detail, "author hubot") {
		t.Errorf("audit entry %+v does not say who approved what", a)
	}
	recent, err := e.svc.Reviews(context.Background(), e.p, "")
	if err != nil || len(recent.Events) != 2 || recent.Events[0].Kind != rampart.PullRequestMerged {
		t.Errorf("recent evidence = %+v, %v; want the merge first", recent, err)
	}

	bad := *approval
	bad.CommitSHA = "HEAD"
	if err := e.svc.Record(context.Background(), e.hook, e.p, &bad); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("invalid event: %v, want EINVALID", err)
	}
	if _, err := e.svc.Reviews(context.Background(), e.p, "abc"); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("Reviews of a short commit: %v, want EINVALID", err)
	}
}

// protect adds an environment that requires review for deployments from main and release/*.
func (e *env) protect(requireReview bool) {
	e.update(func(tx rampart.Tx) error {
		return tx.CreateEnvironment(context.Background(), &rampart.Environment{
			ProjectID: e.p.ID, Name: "production", CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
			Protection: rampart.Protection{RequireReview: requireReview, Branches: []string{"main", "release/*"}},
		})
	})
}

func (e *env) violations() []*rampart.Violation {
	e.t.Helper()
	vs, err := e.svc.Violations(context.Background(), e.p, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return vs
}

func TestCheckPushAtOnce(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, 0)
	e.protect(true)
	e.record(fixture(t, "github-review-approved.json"), fixture(t, "github-pr-merged.json"))

	// The merge of a reviewed pull request, and branches nothing protects, are fine.
	for _, push := range [][2]string{{"main", ghMerge}, {"feature/x", other}, {"release/1.x/hotfix", other}} {
		if err := e.svc.CheckPush(ctx, e.p, push[0], push[1], "octocat"); err != nil {
			t.Fatal(err)
		}
	}
	if vs := e.violations(); len(vs) != 0 {
		t.Fatalf("violations %+v, want none", vs)
	}
	// A commit pushed straight to main is a violation, recorded once however often it is delivered.
	for range 2 {
		if err := e.svc.CheckPush(ctx, e.p, "release/2.0", other, "mallory"); err != nil {
			t.Fatal(err)
		}
	}
	vs := e.violations()
	if len(vs) != 1 {
		t.Fatalf("violations %+v, want one", vs)
	}
	v := vs[0]
	if v.Kind != rampart.ViolationUnreviewedPush || v.Ref != "refs/heads/release/2.0" || v.Commit != other ||
		!strings.Contains(v.Detail, "by mallory") || !strings.Contains(v.Detail, "no pull request was merged as this commit") {
		t.Errorf("violation %+v", v)
	}
	audits := e.audit("policy.violation")
	if len(audits) != 1 || audits[0].Result != rampart.ResultDenied || audits[0].Target != "project:web" ||
		!strings.Contains(audits[0].Detail, "unreviewed-push") || !strings.Contains(audits[0].Detail, other[:12]) {
		t.Errorf("policy.violation audit entries %+v", audits)
	}
	if err := e.svc.CheckPush(ctx, e.p, "main", "not-a-sha", ""); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("CheckPush with a bad commit: %v, want EINVALID", err)
	}
}

func TestCheckPushNeedsRequireReview(t *testing.T) {
	e := newEnv(t, 0)
	e.protect(false)
	if err := e.svc.CheckPush(context.Background(), e.p, "main", other, "mallory"); err != nil {
		t.Fatal(err)
	}
	if vs := e.violations(); len(vs) != 0 {
		t.Fatalf("violations %+v without require-review", vs)
	}
}

// TestCheckPushGrace: the merge webhook may come after the push's; the check waits, in the
// store, so that another service on the same database (a restarted server) makes it.
func TestCheckPushGrace(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, review.DefaultGrace)
	e.protect(true)
	if err := e.svc.CheckPush(ctx, e.p, "main", ghMerge, "octocat"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.CheckPush(ctx, e.p, "main", other, "mallory"); err != nil {
		t.Fatal(err)
	}
	e.record(fixture(t, "github-review-approved.json"), fixture(t, "github-pr-merged.json")) // late
	if err := e.svc.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if vs := e.violations(); len(vs) != 0 {
		t.Fatalf("violations %+v before the grace period ended", vs)
	}

	// "Restart": a new service on the same database makes the due checks.
	e.clock.Add(review.DefaultGrace)
	restarted := review.New(review.Config{Store: e.db, Grace: review.DefaultGrace, Now: e.clock.Now, Every: 10 * time.Millisecond})
	bgCtx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- restarted.Background(bgCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(e.violations()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	vs := e.violations()
	if len(vs) != 1 || vs[0].Commit != other {
		t.Fatalf("violations %+v, want one for %s only", vs, other)
	}
	// Done checks are gone: sweeping again records nothing new.
	if err := restarted.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(e.audit("policy.violation")); n != 1 {
		t.Errorf("%d policy.violation entries, want 1", n)
	}
}
