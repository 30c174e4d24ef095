package forge

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// reviewFixtures are the payloads under testdata/ that carry review evidence, written field for
// field after the hosts' documented payloads (GitHub's webhook reference, GitLab's
// hook_data builders, Gitea's services/webhook notifier and modules/structs).
var reviewFixtures = []fixture{
	{GitHub, "pull_request_review", "github-review-approved.json"},
	{GitHub, "pull_request_review", "github-review-changes-requested.json"},
	{GitHub, "pull_request_review", "github-review-dismissed.json"},
	{GitHub, "pull_request", "github-pr-merged.json"},
	{GitLab, "Merge Request Hook", "gitlab-mr-approved.json"},
	{GitLab, "Merge Request Hook", "gitlab-mr-approval-by-author.json"},
	{GitLab, "Merge Request Hook", "gitlab-mr-unapproved.json"},
	{GitLab, "Merge Request Hook", "gitlab-mr-merged.json"},
	{Gitea, "pull_request_approved", "gitea-pr-approved.json"},
	{Gitea, "pull_request_rejected", "gitea-pr-rejected.json"},
	{Gitea, "pull_request", "gitea-pr-merged.json"},
}

// Commits of the fixtures.
const (
	ghHead    = "b7e1c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9"
	ghOlder   = "4c1b2a39d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3"
	ghMerge   = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
	glHead    = "7c3a9e1f5b2d8064a1c3e5f7092b4d6f8a0c2e4b"
	glMerge   = "e2b4d6f8a0c1e3a5c7e9b1d3f5a7c9e1b3d5f7a9"
	giteaHead = "3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"
	giteaMrg  = "8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// del, as a value for patch, deletes the key.
type del struct{}

// patch returns a fixture with the value at a dotted path (e.g. "review.user.login") set, or
// deleted for del{}. Numbers keep their exact text.
func patch(t testing.TB, file string, edits ...any) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(readFixture(t, file)))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		path := strings.Split(edits[i].(string), ".")
		m := doc
		for _, k := range path[:len(path)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				t.Fatalf("%s: no object at %q in %s", file, k, edits[i])
			}
			m = next
		}
		last := path[len(path)-1]
		if _, ok := edits[i+1].(del); ok {
			if _, ok := m[last]; !ok {
				t.Fatalf("%s: nothing to delete at %s", file, edits[i])
			}
			delete(m, last)
		} else {
			m[last] = edits[i+1]
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseReviewFixtures(t *testing.T) {
	ghBase := rampart.ReviewEvent{
		Host: GitHub, Repository: "https://github.com/acme/web.git", Number: 42,
		Title: "Rotate the signing key every 90 days", URL: "https://github.com/acme/web/pull/42",
		Author: "hubot", AuthorID: 1055, BaseBranch: "main", HeadBranch: "key-rotation",
	}
	gh := func(f func(e *rampart.ReviewEvent)) *rampart.ReviewEvent { e := ghBase; f(&e); return &e }
	glBase := rampart.ReviewEvent{
		Host: GitLab, Repository: "https://gitlab.example.com/acme/billing.git", Number: 12,
		Title: "Update VAT rates for 2025", URL: "https://gitlab.example.com/acme/billing/-/merge_requests/12",
		AuthorID: 4, CommitSHA: glHead, BaseBranch: "main", HeadBranch: "vat-rates-2025",
	}
	gl := func(f func(e *rampart.ReviewEvent)) *rampart.ReviewEvent { e := glBase; f(&e); return &e }
	giteaBase := rampart.ReviewEvent{
		Host: Gitea, Repository: "https://gitea.example.org/infra/terraform.git", Number: 5,
		Title: "Pin the AWS provider to 5.x", URL: "https://gitea.example.org/infra/terraform/pulls/5",
		Author: "ops", AuthorID: 9, CommitSHA: giteaHead, BaseBranch: "main", HeadBranch: "pin-provider",
	}
	gt := func(f func(e *rampart.ReviewEvent)) *rampart.ReviewEvent { e := giteaBase; f(&e); return &e }

	want := map[string]*rampart.ReviewEvent{
		"github-review-approved.json": gh(func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.ReviewID, e.Actor = rampart.ReviewApproved, "octocat", 583231, 2093874561, "octocat"
			e.CommitSHA, e.At = ghHead, utc("2024-06-05T10:21:44Z")
		}),
		"github-review-changes-requested.json": gh(func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.ReviewID, e.Actor = rampart.ReviewChangesRequested, "mona-sec", 9919, 2093811002, "mona-sec"
			e.CommitSHA, e.At = ghOlder, utc("2024-06-04T15:02:09Z")
		}),
		"github-review-dismissed.json": gh(func(e *rampart.ReviewEvent) { // dismissed by an admin
			e.Kind, e.Reviewer, e.ReviewerID, e.ReviewID, e.Actor = rampart.ReviewDismissed, "octocat", 583231, 2093874561, "lisa-admin"
			e.CommitSHA, e.At = ghHead, utc("2024-06-05T10:21:44Z")
		}),
		"github-pr-merged.json": gh(func(e *rampart.ReviewEvent) {
			e.Kind, e.Actor, e.CommitSHA, e.MergeCommitSHA = rampart.PullRequestMerged, "octocat", ghHead, ghMerge
			e.At = utc("2024-06-05T11:02:17Z")
		}),
		"github-pr-opened.json": gh(func(e *rampart.ReviewEvent) {
			e.Kind, e.Actor, e.CommitSHA, e.At = rampart.PullRequestOpened, "hubot", ghHead, utc("2024-06-04T09:10:11Z")
		}),
		"github-pr-fork-synchronize.json": {
			Host: GitHub, Repository: "https://github.com/acme/web.git", Kind: rampart.PullRequestUpdated, Number: 57,
			Title: "Add a healthcheck endpoint", Author: "stranger", AuthorID: 7654321, Actor: "stranger",
			CommitSHA: "e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5", BaseBranch: "main", HeadBranch: "main", HeadRepoFork: true,
		},
		"gitlab-mr-approved.json": gl(func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.Actor = rampart.ReviewApproved, "rchen", 27, "rchen"
			e.CommitInferred, e.At = true, utc("2024-06-10T09:12:45Z")
		}),
		"gitlab-mr-approval-by-author.json": gl(func(e *rampart.ReviewEvent) { // allowed by the project's GitLab settings
			e.Kind, e.Reviewer, e.ReviewerID, e.Actor, e.Author = rampart.ReviewApproved, "jdoe", 4, "jdoe", "jdoe"
			e.CommitInferred, e.At = true, utc("2024-06-10T08:41:03Z")
		}),
		"gitlab-mr-unapproved.json": gl(func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.Actor = rampart.ReviewDismissed, "rchen", 27, "rchen"
			e.CommitInferred, e.At = true, utc("2024-06-10T09:30:27Z")
		}),
		"gitlab-mr-merged.json": gl(func(e *rampart.ReviewEvent) {
			e.Kind, e.Actor, e.MergeCommitSHA, e.At = rampart.PullRequestMerged, "rchen", glMerge, utc("2024-06-10T09:45:51Z")
		}),
		"gitlab-mr-open-fork.json": {
			Host: GitLab, Repository: "https://gitlab.example.com/acme/billing.git", Kind: rampart.PullRequestOpened, Number: 7,
			Title: "Fix rounding of tax amounts", URL: "https://gitlab.example.com/acme/billing/-/merge_requests/7",
			Author: "sam", AuthorID: 31, Actor: "sam", CommitSHA: "c0ffee1234567890abcdef1234567890abcdef12",
			BaseBranch: "main", HeadBranch: "fix-rounding", HeadRepoFork: true, At: utc("2024-06-06T14:00:00Z"),
		},
		"gitea-pr-approved.json": gt(func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.Actor = rampart.ReviewApproved, "kim", 14, "kim"
			e.CommitInferred, e.At = true, utc("2024-06-12T08:03:11Z")
		}),
		"gitea-pr-rejected.json": gt(func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.Actor = rampart.ReviewChangesRequested, "lee", 17, "lee"
			e.CommitInferred, e.At = true, utc("2024-06-12T07:58:40Z")
		}),
		"gitea-pr-merged.json": gt(func(e *rampart.ReviewEvent) {
			e.Kind, e.Actor, e.MergeCommitSHA, e.At = rampart.PullRequestMerged, "kim", giteaMrg, utc("2024-06-12T08:15:27Z")
		}),
		"gitea-pr.json": {
			Host: Gitea, Repository: "https://gitea.example.org/infra/terraform.git", Kind: rampart.PullRequestUpdated, Number: 3,
			Title: "Move state to the new bucket", Author: "ops", AuthorID: 9, Actor: "ops",
			CommitSHA: "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d", BaseBranch: "main", HeadBranch: "state-bucket",
			At: utc("2024-06-07T09:15:00Z"),
		},
		// Pushes and pings are no review evidence.
		"github-push-branch.json": nil, "github-push-tag.json": nil, "github-push-delete.json": nil, "github-ping.json": nil,
		"gitlab-push.json": nil, "gitlab-tag-push.json": nil, "gitea-push.json": nil,
	}
	for _, f := range append(append([]fixture{}, reviewFixtures...), fixtures...) {
		t.Run(f.file, func(t *testing.T) {
			w, ok := want[f.file]
			if !ok {
				t.Fatalf("no expected evidence for %s", f.file)
			}
			got, err := ParseReview(f.host, eventHeader(f.host, f.event), readFixture(t, f.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("ParseReview =\n%+v\nwant\n%+v", got, w)
			}
		})
	}
}

// TestParseReviewSelfApproval checks that an approval by the pull request's own author is
// parsed like any other — refusing it is the deploy gate's job — and carries what the gate
// needs to see it.
func TestParseReviewSelfApproval(t *testing.T) {
	for _, tc := range []struct {
		name, host, event string
		body              []byte
		self              bool
	}{
		{name: "gitlab author approves own MR", host: GitLab, event: "Merge Request Hook",
			body: readFixture(t, "gitlab-mr-approval-by-author.json"), self: true},
		{name: "gitlab someone else approves", host: GitLab, event: "Merge Request Hook",
			body: readFixture(t, "gitlab-mr-approved.json")},
		{name: "github author approves own PR", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.user.login", "hubot", "review.user.id", 1055), self: true},
		{name: "github author renamed, same id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.user.login", "hubot-2", "review.user.id", 1055), self: true},
		{name: "github login differs only in case", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.user.login", "HuBot", "review.user.id", 0,
				"pull_request.user.id", 0), self: true},
		{name: "github someone else approves", host: GitHub, event: "pull_request_review",
			body: readFixture(t, "github-review-approved.json")},
		{name: "gitea author approves own PR", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "sender.login", "ops", "sender.id", 9), self: true},
		{name: "gitea someone else approves", host: Gitea, event: "pull_request_approved",
			body: readFixture(t, "gitea-pr-approved.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv, err := ParseReview(tc.host, eventHeader(tc.host, tc.event), tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if rv.Kind != rampart.ReviewApproved || rv.Reviewer == "" || (rv.Author == "" && rv.AuthorID == 0) {
				t.Fatalf("approval without reviewer or author: %+v", rv)
			}
			// GitLab names the author by id only; the others by login, and ids where they have them.
			if tc.host == GitLab && (rv.AuthorID == 0 || rv.ReviewerID == 0) || tc.host != GitLab && rv.Author == "" {
				t.Errorf("author and reviewer cannot be compared: %+v", rv)
			}
			if rv.SelfReview() != tc.self {
				t.Errorf("SelfReview = %v, want %v (%+v)", rv.SelfReview(), tc.self, rv)
			}
		})
	}
}

func TestParseReviewVariants(t *testing.T) {
	for _, tc := range []struct {
		name, host, event string
		body              []byte
		kind              string // "" for no evidence
		check             func(t *testing.T, rv *rampart.ReviewEvent)
	}{
		{name: "github approval of an older commit binds to that commit, not the head", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", ghOlder), kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.CommitSHA != ghOlder || rv.CommitInferred {
					t.Errorf("CommitSHA %s inferred %v, want %s as stated", rv.CommitSHA, rv.CommitInferred, ghOlder)
				}
			}},
		{name: "github commented review is no verdict", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.state", "commented")},
		{name: "github edited review is ignored", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "action", "edited")},
		{name: "github unknown review state is no approval", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.state", "approved ")},
		{name: "github upper-case state", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.state", "APPROVED"), kind: rampart.ReviewApproved},
		{name: "github upper-case commit is stored in lower case", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", strings.ToUpper(ghHead)), kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.CommitSHA != ghHead {
					t.Errorf("CommitSHA %s", rv.CommitSHA)
				}
			}},
		{name: "github SHA-256 repository", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", strings.Repeat("ab", 32)), kind: rampart.ReviewApproved},
		{name: "github unparseable time costs the time only", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.submitted_at", "yesterday"), kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if !rv.At.IsZero() {
					t.Errorf("At = %v", rv.At)
				}
			}},
		{name: "github review on a fork PR", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.head.repo", nil), kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if !rv.HeadRepoFork {
					t.Error("head repository unknown but HeadRepoFork false")
				}
			}},
		{name: "github title with control characters is cleaned", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.title", "Rotate\nkeys\x1b[31m "+strings.Repeat("é", 600)),
			kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if !strings.HasPrefix(rv.Title, "Rotate keys [31m é") || len(rv.Title) > rampart.MaxReviewTitle {
					t.Errorf("Title %q (%d bytes)", rv.Title[:20], len(rv.Title))
				}
			}},
		{name: "github closed without merge", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "pull_request.merged", false)},
		{name: "github merged PR labeled later is no merge", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "action", "labeled")},
		{name: "github merge without merged_by falls back to sender", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "pull_request.merged_by", nil, "sender.login", "web-flow"), kind: rampart.PullRequestMerged,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.Actor != "web-flow" {
					t.Errorf("Actor %q", rv.Actor)
				}
			}},
		{name: "github open PR's test merge commit is not a merge", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "action", "reopened", "pull_request.merged", false), kind: rampart.PullRequestOpened,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.MergeCommitSHA != "" {
					t.Errorf("MergeCommitSHA %q on an open PR", rv.MergeCommitSHA)
				}
			}},
		{name: "github synchronize", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-opened.json", "action", "synchronize"), kind: rampart.PullRequestUpdated},
		{name: "github review comment event is ignored", host: GitHub, event: "pull_request_review_comment",
			body: readFixture(t, "github-review-approved.json")},
		{name: "gitlab individual approval", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.action", "approval"), kind: rampart.ReviewApproved},
		{name: "gitlab individual unapproval", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-unapproved.json", "object_attributes.action", "unapproval"), kind: rampart.ReviewDismissed},
		{name: "gitlab close is ignored", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.action", "close")},
		{name: "gitlab update without new commits is ignored", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.action", "update")},
		{name: "gitlab update with new commits", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.action", "update",
				"object_attributes.oldrev", "95790bf891e76fee5e1747ab589903a6a1f80f22"), kind: rampart.PullRequestUpdated,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.Reviewer != "" || rv.CommitInferred {
					t.Errorf("update carries review fields: %+v", rv)
				}
				if rv.Author != "" { // pushed by rchen, not the author
					t.Errorf("Author %q guessed from another user", rv.Author)
				}
			}},
		{name: "gitlab update by the author names the author", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approval-by-author.json", "object_attributes.action", "update",
				"object_attributes.oldrev", "95790bf891e76fee5e1747ab589903a6a1f80f22"), kind: rampart.PullRequestUpdated,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.Author != "jdoe" || rv.AuthorID != 4 {
					t.Errorf("Author %q (%d)", rv.Author, rv.AuthorID)
				}
			}},
		{name: "gitlab fast-forward merge has no merge commit", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-merged.json", "object_attributes.merge_commit_sha", nil), kind: rampart.PullRequestMerged,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if rv.MergeCommitSHA != "" || rv.CommitSHA != glHead {
					t.Errorf("merge %q head %q", rv.MergeCommitSHA, rv.CommitSHA)
				}
			}},
		{name: "gitlab approval of an MR from a fork", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.source_project_id", 88), kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if !rv.HeadRepoFork {
					t.Error("HeadRepoFork false")
				}
			}},
		{name: "gitlab RFC 3339 time", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.updated_at", "2024-06-10T11:12:45+02:00"), kind: rampart.ReviewApproved,
			check: func(t *testing.T, rv *rampart.ReviewEvent) {
				if !rv.At.Equal(utc("2024-06-10T09:12:45Z")) {
					t.Errorf("At %v", rv.At)
				}
			}},
		{name: "gitlab system hook is ignored", host: GitLab, event: "System Hook",
			body: readFixture(t, "gitlab-mr-approved.json")},
		{name: "gitea long event type name", host: Gitea, event: "pull_request_review_approved",
			body: readFixture(t, "gitea-pr-approved.json"), kind: rampart.ReviewApproved},
		{name: "gitea review comment is ignored", host: Gitea, event: "pull_request_comment",
			body: patch(t, "gitea-pr-approved.json", "review.type", "pull_request_review_comment")},
		{name: "gitea closed without merge", host: Gitea, event: "pull_request",
			body: patch(t, "gitea-pr-merged.json", "pull_request.merged", false)},
		{name: "gitea reopened", host: Gitea, event: "pull_request",
			body: patch(t, "gitea-pr.json", "action", "reopened"), kind: rampart.PullRequestOpened},
		{name: "gitea review request is ignored", host: Gitea, event: "pull_request",
			body: patch(t, "gitea-pr.json", "action", "review_requested")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv, err := ParseReview(tc.host, eventHeader(tc.host, tc.event), tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.kind == "" {
				if rv != nil {
					t.Fatalf("got evidence %+v, want none", rv)
				}
				return
			}
			if rv == nil || rv.Kind != tc.kind {
				t.Fatalf("got %+v, want Kind %q", rv, tc.kind)
			}
			if tc.check != nil {
				tc.check(t, rv)
			}
		})
	}
}

func TestParseReviewErrors(t *testing.T) {
	for _, tc := range []struct {
		name, host, event string
		body              []byte
		code              string
		says              string // the message must contain it, e.g. the missing field
	}{
		{name: "unknown host", host: "bitbucket", event: "pullrequest:approved", body: []byte(`{}`), code: rampart.EINVALID, says: "bitbucket"},
		{name: "too large", host: GitHub, event: "pull_request_review", body: make([]byte, MaxBodyBytes+1), code: rampart.ETOOLARGE},
		{name: "no event header", host: GitHub, body: readFixture(t, "github-review-approved.json"), code: rampart.EINVALID, says: "X-GitHub-Event"},
		{name: "no gitea event header", host: Gitea, body: readFixture(t, "gitea-pr-approved.json"), code: rampart.EINVALID, says: "X-Gitea-Event"},
		{name: "malformed JSON", host: GitHub, event: "pull_request_review", body: []byte(`{"action": "submitted",`), code: rampart.EINVALID, says: "malformed"},
		{name: "not JSON, ignored type", host: GitLab, event: "Note Hook", body: []byte(`payload=%7B%7D`), code: rampart.EINVALID, says: "not JSON"},

		// GitHub reviews.
		{name: "github review without commit_id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", del{}), code: rampart.EINVALID, says: "review.commit_id"},
		{name: "github review with null commit_id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", nil), code: rampart.EINVALID, says: "review.commit_id"},
		{name: "github review with short commit_id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", "b7e1c2d"), code: rampart.EINVALID, says: "review.commit_id"},
		{name: "github review with a ref as commit_id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", "refs/heads/main"), code: rampart.EINVALID, says: "review.commit_id"},
		{name: "github review with numeric commit_id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.commit_id", 42), code: rampart.EINVALID, says: "malformed"},
		{name: "github review without reviewer", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.user", nil), code: rampart.EINVALID, says: "review.user.login"},
		{name: "github review with empty reviewer login", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.user.login", ""), code: rampart.EINVALID, says: "review.user.login"},
		{name: "github review without id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.id", del{}), code: rampart.EINVALID, says: "review.id"},
		{name: "github review id as string", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.id", "2093874561"), code: rampart.EINVALID, says: "malformed"},
		{name: "github review object missing", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review", del{}), code: rampart.EINVALID, says: "review"},
		{name: "github dismissal without commit_id", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-dismissed.json", "review.commit_id", del{}), code: rampart.EINVALID, says: "review.commit_id"},
		{name: "github review without pull request", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request", del{}), code: rampart.EINVALID, says: "pull_request"},
		{name: "github review without PR author", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.user", nil), code: rampart.EINVALID, says: "pull_request.user.login"},
		{name: "github review without PR number", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.number", del{}), code: rampart.EINVALID, says: "pull_request.number"},
		{name: "github PR number as string", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.number", "42"), code: rampart.EINVALID, says: "malformed"},
		{name: "github negative PR number", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.number", -42), code: rampart.EINVALID, says: "negative"},
		{name: "github review without head sha", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.head.sha", del{}), code: rampart.EINVALID, says: "pull_request.head.sha"},
		{name: "github review without base ref", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.base.ref", ""), code: rampart.EINVALID, says: "pull_request.base.ref"},
		{name: "github option as head branch", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.head.ref", "--upload-pack=touch /tmp/x"), code: rampart.EINVALID, says: "branch"},
		{name: "github reviewer login with a newline", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "review.user.login", "octocat\nAPPROVED by admin"), code: rampart.EINVALID, says: "reviewer"},
		{name: "github javascript URL", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request.html_url", "javascript:alert(document.cookie)"), code: rampart.EINVALID, says: "URL"},
		{name: "github pull_request is an array", host: GitHub, event: "pull_request_review",
			body: patch(t, "github-review-approved.json", "pull_request", []any{}), code: rampart.EINVALID, says: "malformed"},

		// GitHub merges.
		{name: "github merge without merge_commit_sha", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "pull_request.merge_commit_sha", nil), code: rampart.EINVALID, says: "pull_request.merge_commit_sha"},
		{name: "github merge with a bad merge_commit_sha", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "pull_request.merge_commit_sha", "HEAD"), code: rampart.EINVALID, says: "pull_request.merge_commit_sha"},
		{name: "github merged as string", host: GitHub, event: "pull_request",
			body: patch(t, "github-pr-merged.json", "pull_request.merged", "true"), code: rampart.EINVALID, says: "malformed"},

		// GitLab.
		{name: "gitlab approval without author_id", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.author_id", del{}), code: rampart.EINVALID, says: "object_attributes.author_id"},
		{name: "gitlab approval without user id", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "user.id", del{}), code: rampart.EINVALID, says: "user.id"},
		{name: "gitlab approval without user", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "user", del{}), code: rampart.EINVALID, says: "user.username"},
		{name: "gitlab unapproval without username", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-unapproved.json", "user.username", ""), code: rampart.EINVALID, says: "user.username"},
		{name: "gitlab approval without last commit", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.last_commit", nil), code: rampart.EINVALID, says: "object_attributes.last_commit.id"},
		{name: "gitlab approval without iid", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.iid", del{}), code: rampart.EINVALID, says: "object_attributes.iid"},
		{name: "gitlab iid as string", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.iid", "12"), code: rampart.EINVALID, says: "malformed"},
		{name: "gitlab author_id as string", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.author_id", "4"), code: rampart.EINVALID, says: "malformed"},
		{name: "gitlab approval without target branch", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.target_branch", del{}), code: rampart.EINVALID, says: "object_attributes.target_branch"},
		{name: "gitlab short last commit", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-approved.json", "object_attributes.last_commit.id", "7c3a9e1"), code: rampart.EINVALID, says: "commit"},
		{name: "gitlab bad merge commit", host: GitLab, event: "Merge Request Hook",
			body: patch(t, "gitlab-mr-merged.json", "object_attributes.merge_commit_sha", "e2b4d6f8"), code: rampart.EINVALID, says: "object_attributes.merge_commit_sha"},
		{name: "gitlab object_attributes missing", host: GitLab, event: "Merge Request Hook",
			body: []byte(`{"object_kind":"merge_request","object_attributes":{"action":"approved"}}`), code: rampart.EINVALID, says: "object_attributes.iid"},

		// Gitea.
		{name: "gitea approval without review", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "review", nil), code: rampart.EINVALID, says: "review.type"},
		{name: "gitea rejected body sent as approved", host: Gitea, event: "pull_request_approved",
			body: readFixture(t, "gitea-pr-rejected.json"), code: rampart.EINVALID, says: "review.type"},
		{name: "gitea approved body sent as rejected", host: Gitea, event: "pull_request_rejected",
			body: readFixture(t, "gitea-pr-approved.json"), code: rampart.EINVALID, says: "review.type"},
		{name: "gitea review comment sent as approved", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "review.type", "pull_request_review_comment"), code: rampart.EINVALID, says: "review.type"},
		{name: "gitea approval without sender", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "sender", nil), code: rampart.EINVALID, says: "sender.login"},
		{name: "gitea approval without PR author", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "pull_request.user", nil), code: rampart.EINVALID, says: "pull_request.user.login"},
		{name: "gitea approval without head sha", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "pull_request.head.sha", ""), code: rampart.EINVALID, says: "pull_request.head.sha"},
		{name: "gitea merge without merge_commit_sha", host: Gitea, event: "pull_request",
			body: patch(t, "gitea-pr-merged.json", "pull_request.merge_commit_sha", nil), code: rampart.EINVALID, says: "pull_request.merge_commit_sha"},
		{name: "gitea review.type as number", host: Gitea, event: "pull_request_approved",
			body: patch(t, "gitea-pr-approved.json", "review.type", 1), code: rampart.EINVALID, says: "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rv, err := ParseReview(tc.host, eventHeader(tc.host, tc.event), tc.body)
			if rampart.ErrorCode(err) != tc.code {
				t.Fatalf("ParseReview = %+v, %v; want code %s", rv, err, tc.code)
			}
			if rv != nil {
				t.Errorf("evidence %+v returned with an error", rv)
			}
			if !strings.Contains(rampart.ErrorMessage(err), tc.says) {
				t.Errorf("message %q does not say %q", rampart.ErrorMessage(err), tc.says)
			}
			if rampart.ErrorDetail(err) == "" {
				t.Errorf("error %v does not say how to fix it", err)
			}
		})
	}
}

// signed returns the headers with which host would deliver body signed with secret.
func signed(host, event, secret string, body []byte) http.Header {
	h := eventHeader(host, event)
	switch host {
	case GitHub:
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	case Gitea:
		h.Set("X-Gitea-Signature", hmacHex(secret, body))
		h.Set("X-Hub-Signature-256", "sha256="+hmacHex(secret, body))
	case GitLab:
		h.Set("X-Gitlab-Token", secret)
	}
	return h
}

// TestVerifyReviewWebhooks checks that Verify, which knows nothing of event types, accepts review
// webhooks signed with the project's secret and refuses them otherwise — forged approvals
// above all.
func TestVerifyReviewWebhooks(t *testing.T) {
	const secret = "s3cr3t-webhook-key"
	for _, f := range reviewFixtures {
		t.Run(f.file, func(t *testing.T) {
			body := readFixture(t, f.file)
			if err := Verify(f.host, signed(f.host, f.event, secret, body), body, secret); err != nil {
				t.Fatalf("authentic webhook refused: %v", err)
			}
			forged := signed(f.host, f.event, "attacker-guess", body)
			if err := Verify(f.host, forged, body, secret); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
				t.Errorf("webhook signed with another secret: Verify = %v", err)
			}
			if err := Verify(f.host, eventHeader(f.host, f.event), body, secret); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
				t.Errorf("unsigned webhook: Verify = %v", err)
			}
			if f.host == GitLab {
				return // GitLab sends its token, not a signature of the body
			}
			// An attacker who captured a signed delivery swaps in another commit to approve.
			tampered := bytes.Replace(body, []byte(`"sha": "`), []byte(`"sha": "0`), 1)
			if bytes.Equal(tampered, body) {
				t.Fatal("fixture has no head sha to tamper with")
			}
			if err := Verify(f.host, signed(f.host, f.event, secret, body), tampered, secret); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
				t.Errorf("tampered body: Verify = %v", err)
			}
		})
	}
}

// TestReviewEventHeaderIsNotTrusted replays signed bodies under another event header, which the
// signature does not cover: Verify accepts them, so ParseReview must not turn them into
// approvals.
func TestReviewEventHeaderIsNotTrusted(t *testing.T) {
	const secret = "s3cr3t-webhook-key"
	for _, tc := range []struct {
		name, host, file, sentAs string
		code                     string // "" when the replay must give no evidence at all
	}{
		{name: "gitea rejection replayed as approval", host: Gitea, file: "gitea-pr-rejected.json", sentAs: "pull_request_approved", code: rampart.EINVALID},
		{name: "gitea merge replayed as approval", host: Gitea, file: "gitea-pr-merged.json", sentAs: "pull_request_approved", code: rampart.EINVALID},
		{name: "github merge replayed as review", host: GitHub, file: "github-pr-merged.json", sentAs: "pull_request_review", code: rampart.EINVALID},
		{name: "github changes requested replayed as pull_request", host: GitHub, file: "github-review-changes-requested.json", sentAs: "pull_request"},
		{name: "gitlab approval replayed as system hook", host: GitLab, file: "gitlab-mr-approved.json", sentAs: "System Hook"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := readFixture(t, tc.file)
			h := signed(tc.host, tc.sentAs, secret, body)
			if err := Verify(tc.host, h, body, secret); err != nil {
				t.Fatalf("Verify = %v; the header is expected to be unsigned", err)
			}
			rv, err := ParseReview(tc.host, h, body)
			if rampart.ErrorCode(err) != tc.code || rv != nil {
				t.Fatalf("ParseReview = %+v, %v; want no evidence and code %q", rv, err, tc.code)
			}
		})
	}
}
