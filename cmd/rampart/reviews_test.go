package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// TestReviewsAndViolations runs the two commands against a stand-in for the API and checks
// what they ask for and print.
func TestReviewsAndViolations(t *testing.T) {
	const (
		head  = "b7e1c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9"
		merge = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
	)
	at := time.Date(2024, 6, 5, 10, 21, 44, 0, time.UTC)
	approved := &rampart.ReviewEvent{Host: "github", Kind: rampart.ReviewApproved, Number: 42, Author: "hubot", AuthorID: 1055,
		Reviewer: "octocat", ReviewerID: 583231, CommitSHA: head, BaseBranch: "main", HeadBranch: "x", At: at}
	merged := &rampart.ReviewEvent{Host: "github", Kind: rampart.PullRequestMerged, Number: 42, Author: "hubot", AuthorID: 1055,
		CommitSHA: head, MergeCommitSHA: merge, BaseBranch: "main", HeadBranch: "x", At: at.Add(time.Hour)}
	gitlab := &rampart.ReviewEvent{Host: "gitlab", Kind: rampart.ReviewDismissed, Number: 12, AuthorID: 4,
		Reviewer: "rchen", ReviewerID: 27, CommitSHA: head, CommitInferred: true, BaseBranch: "main", HeadBranch: "y"}
	var queries []string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/projects/web/reviews", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		cov := rampart.ReviewCoverage{Events: []*rampart.ReviewEvent{gitlab, merged, approved}}
		if c := r.URL.Query().Get("commit"); c != "" {
			cov = rampart.ReviewCoverage{Commit: c, Covered: false, Why: "the approval by octocat was dismissed by lisa-admin",
				PRAuthors: []string{"hubot"}, Events: []*rampart.ReviewEvent{approved, merged}}
		}
		_ = json.NewEncoder(w).Encode(cov)
	})
	mux.HandleFunc("GET /api/v1/projects/web/violations", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		_ = json.NewEncoder(w).Encode([]*rampart.Violation{{ID: 1, ProjectID: 1, Kind: rampart.ViolationUnreviewedPush,
			Ref: "refs/heads/main", Commit: merge, Detail: "commit 9f8e7d6c5b4a was pushed to protected branch main by mallory without review evidence",
			CreatedAt: at}})
	})
	mux.HandleFunc("GET /api/v1/projects/empty/violations", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("[]"))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	t.Setenv("RAMPART_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	t.Setenv("RAMPART_SERVER", hs.URL)
	t.Setenv("RAMPART_TOKEN", "rmp_test")

	out := mustCLI(t, "", "reviews", "web")
	for _, want := range []string{"KIND", "REVIEWER", "github#42", "octocat", "hubot", "id:4", head[:12] + " -> " + merge[:12], head[:12] + "?", "dismissed"} {
		if !strings.Contains(out, want) {
			t.Errorf("reviews lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "covered") {
		t.Errorf("a listing says nothing of coverage:\n%s", out)
	}
	out = mustCLI(t, "", "reviews", "web", "--commit", merge)
	for _, want := range []string{"NOT covered: the approval by octocat was dismissed by lisa-admin", "may not approve its deployment: hubot"} {
		if !strings.Contains(out, want) {
			t.Errorf("reviews --commit lacks %q:\n%s", want, out)
		}
	}
	out = mustCLI(t, "", "violations", "web", "--limit", "5")
	for _, want := range []string{"unreviewed-push", "refs/heads/main", merge[:12], "by mallory"} {
		if !strings.Contains(out, want) {
			t.Errorf("violations lacks %q:\n%s", want, out)
		}
	}
	if got := mustCLI(t, "", "violations", "empty"); !strings.Contains(got, "No policy violations") {
		t.Errorf("violations of a clean project: %q", got)
	}
	if want := []string{"", "commit=" + merge, "limit=5"}; strings.Join(queries, "|") != strings.Join(want, "|") {
		t.Errorf("queries %q, want %q", queries, want)
	}
}
