package rampart_test

import (
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

// Commits of github pull request #42 in forge/testdata: its head and its merge commit.
const (
	ghHead  = "b7e1c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9"
	ghMerge = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
)

// validApproval returns a complete GitHub approval; each case spoils one thing.
func validApproval() *rampart.ReviewEvent {
	return &rampart.ReviewEvent{
		Host: "github", Repository: "https://github.com/acme/web.git", Kind: rampart.ReviewApproved, Number: 42,
		Title: "Rotate the signing key", URL: "https://github.com/acme/web/pull/42",
		Author: "hubot", AuthorID: 1055, Reviewer: "octocat", ReviewerID: 583231, ReviewID: 2093874561,
		Actor: "octocat", CommitSHA: ghHead, BaseBranch: "main", HeadBranch: "key-rotation",
	}
}

func TestReviewEventValidate(t *testing.T) {
	if err := validApproval().Validate(); err != nil {
		t.Fatalf("valid approval refused: %v", err)
	}
	for _, tc := range []struct {
		name  string
		spoil func(e *rampart.ReviewEvent)
	}{
		{"unknown kind", func(e *rampart.ReviewEvent) { e.Kind = "lgtm" }},
		{"no kind", func(e *rampart.ReviewEvent) { e.Kind = "" }},
		{"no host", func(e *rampart.ReviewEvent) { e.Host = "" }},
		{"zero number", func(e *rampart.ReviewEvent) { e.Number = 0 }},
		{"negative number", func(e *rampart.ReviewEvent) { e.Number = -1 }},
		{"short commit", func(e *rampart.ReviewEvent) { e.CommitSHA = ghHead[:12] }},
		{"upper-case commit", func(e *rampart.ReviewEvent) { e.CommitSHA = strings.ToUpper(ghHead) }},
		{"commit is a ref", func(e *rampart.ReviewEvent) { e.CommitSHA = "refs/heads/main" }},
		{"no commit", func(e *rampart.ReviewEvent) { e.CommitSHA = "" }},
		{"merge commit on an approval", func(e *rampart.ReviewEvent) { e.MergeCommitSHA = ghMerge }},
		{"approval without reviewer", func(e *rampart.ReviewEvent) { e.Reviewer = "" }},
		{"merge with a reviewer", func(e *rampart.ReviewEvent) { e.Kind = rampart.PullRequestMerged }},
		{"update with an inferred review commit", func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.ReviewID, e.CommitInferred = rampart.PullRequestUpdated, "", 0, 0, true
		}},
		{"merge with a bad merge commit", func(e *rampart.ReviewEvent) {
			e.Kind, e.Reviewer, e.ReviewerID, e.ReviewID, e.MergeCommitSHA = rampart.PullRequestMerged, "", 0, 0, "HEAD"
		}},
		{"no author at all", func(e *rampart.ReviewEvent) { e.Author, e.AuthorID = "", 0 }},
		{"negative author id", func(e *rampart.ReviewEvent) { e.AuthorID = -1055 }},
		{"no base branch", func(e *rampart.ReviewEvent) { e.BaseBranch = "" }},
		{"no head branch", func(e *rampart.ReviewEvent) { e.HeadBranch = "" }},
		{"javascript URL", func(e *rampart.ReviewEvent) { e.URL = "javascript:alert(1)" }},
		{"data URL", func(e *rampart.ReviewEvent) { e.URL = "data:text/html,<script>alert(1)</script>" }},
		{"scheme-relative URL", func(e *rampart.ReviewEvent) { e.URL = "//evil.example/pull/42" }},
		{"URL without host", func(e *rampart.ReviewEvent) { e.URL = "https:///pull/42" }},
		{"control character in title", func(e *rampart.ReviewEvent) { e.Title = "fix\x1b]0;pwned\x07" }},
		{"overlong title", func(e *rampart.ReviewEvent) { e.Title = strings.Repeat("x", rampart.MaxReviewTitle+1) }},
		{"newline in reviewer", func(e *rampart.ReviewEvent) { e.Reviewer = "octocat\nadmin" }},
		{"newline in author", func(e *rampart.ReviewEvent) { e.Author = "hubot\r" }},
		{"DEL in actor", func(e *rampart.ReviewEvent) { e.Actor = "x\x7f" }},
		{"overlong repository", func(e *rampart.ReviewEvent) { e.Repository = "https://x/" + strings.Repeat("a", 2000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := validApproval()
			tc.spoil(e)
			err := e.Validate()
			if rampart.ErrorCode(err) != rampart.EINVALID {
				t.Fatalf("Validate = %v, want EINVALID", err)
			}
			if rampart.ErrorDetail(err) == "" {
				t.Errorf("%v does not say how to fix it", err)
			}
		})
	}
	for _, kind := range []string{rampart.PullRequestOpened, rampart.PullRequestUpdated, rampart.PullRequestMerged} {
		e := validApproval()
		e.Kind, e.Reviewer, e.ReviewerID, e.ReviewID = kind, "", 0, 0
		if err := e.Validate(); err != nil {
			t.Errorf("%s event refused: %v", kind, err)
		}
	}
	gitlab := validApproval()
	gitlab.Author, gitlab.CommitInferred, gitlab.URL = "", true, ""
	if err := gitlab.Validate(); err != nil {
		t.Errorf("approval naming the author by id only refused: %v", err)
	}
}

func TestReviewEventSelfReview(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		author, reviewer     string
		authorID, reviewerID int64
		kind                 string
		want                 bool
	}{
		{name: "different people", author: "hubot", reviewer: "octocat", authorID: 1, reviewerID: 2, want: false},
		{name: "same id", author: "hubot", reviewer: "hubot", authorID: 1, reviewerID: 1, want: true},
		{name: "same id after a rename", author: "hubot", reviewer: "hubot-new", authorID: 1, reviewerID: 1, want: true},
		{name: "name taken over by someone else", author: "hubot", reviewer: "hubot", authorID: 1, reviewerID: 2, want: false},
		{name: "ids only (GitLab), same", reviewer: "jdoe", authorID: 4, reviewerID: 4, want: true},
		{name: "ids only (GitLab), different", reviewer: "rchen", authorID: 4, reviewerID: 27, want: false},
		{name: "logins only, same but for case", author: "HuBot", reviewer: "hubot", want: true},
		{name: "logins only, different", author: "hubot", reviewer: "octocat", want: false},
		{name: "one id missing falls back to logins", author: "hubot", reviewer: "hubot", authorID: 1, want: true},
		{name: "nothing to compare fails closed", reviewer: "octocat", reviewerID: 2, want: true},
		{name: "GitLab author id but reviewer id missing fails closed", reviewer: "jdoe", authorID: 4, want: true},
		{name: "not a review", author: "hubot", kind: rampart.PullRequestMerged, want: false},
		{name: "dismissal of own review", author: "hubot", reviewer: "hubot", kind: rampart.ReviewDismissed, want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &rampart.ReviewEvent{Kind: rampart.ReviewApproved, Author: tc.author, AuthorID: tc.authorID,
				Reviewer: tc.reviewer, ReviewerID: tc.reviewerID}
			if tc.kind != "" {
				e.Kind = tc.kind
			}
			if got := e.SelfReview(); got != tc.want {
				t.Errorf("SelfReview = %v, want %v", got, tc.want)
			}
		})
	}
}
