package rampart

import (
	"net/url"
	"strings"
	"time"
)

// Kinds of review evidence. The first three are reviews, made by a Reviewer on a commit; the
// others describe the pull request itself.
const (
	// ReviewApproved: Reviewer approved the pull request at CommitSHA.
	ReviewApproved = "approved"
	// ReviewChangesRequested: Reviewer asked for changes at CommitSHA (GitHub "changes_requested",
	// Gitea "rejected"). It does not withdraw earlier approvals by others.
	ReviewChangesRequested = "changes_requested"
	// ReviewDismissed: an approval of Reviewer no longer counts — dismissed by Actor on GitHub
	// (ReviewID names which review), withdrawn by Reviewer themselves on GitLab ("unapproved",
	// "unapproval").
	ReviewDismissed = "dismissed"
	// PullRequestOpened: the pull request was opened or reopened with head CommitSHA.
	PullRequestOpened = "opened"
	// PullRequestUpdated: new commits were pushed; CommitSHA is the new head. Approvals of earlier
	// heads do not cover it.
	PullRequestUpdated = "updated"
	// PullRequestMerged: the pull request was merged into BaseBranch; MergeCommitSHA is the
	// commit the merge made there.
	PullRequestMerged = "merged"
)

// ReviewEvent is one piece of review evidence from a git host's webhook: who approved (or asked
// for changes on, or withdrew an approval of) which commit of which pull request, and which pull
// requests were opened, updated and merged. The deploy gate uses it to refuse commits that no
// one other than their author approved (DESIGN.md, invariant 5 and 8).
//
// A ReviewEvent says only what the host's signed payload said. It does not say whether the
// reviewer may approve (the host lets anyone with read access submit an "approving" review on
// GitHub): checking the reviewer against the project's members, refusing self-review (see
// SelfReview) and counting distinct approvers is the gate's job. Logins can be renamed and
// then taken by someone else; the numeric ids cannot, so compare those when both are known.
//
// Fields name the host fields they come from as github / gitlab / gitea. "pr" is the payload's
// pull_request object (GitHub, Gitea), "oa" GitLab's object_attributes.
type ReviewEvent struct {
	// Host is the git host that sent the webhook: "github", "gitlab" or "gitea".
	Host string `json:"host"`
	// Repository is the clone URL the payload names (repository.clone_url / project.git_http_url
	// / repository.clone_url), for information: the project is known from the webhook URL and
	// secret, never from this field.
	Repository string `json:"repository"`
	// Kind is one of ReviewApproved, ReviewChangesRequested, ReviewDismissed, PullRequestOpened,
	// PullRequestUpdated and PullRequestMerged.
	Kind string `json:"kind"`
	// Number is the pull (merge) request number within its repository: pr.number / oa.iid /
	// number. Always positive.
	Number int `json:"number"`
	// Title is the pull request's title (pr.title / oa.title / pr.title), for display only:
	// control characters are replaced and it is cut to MaxReviewTitle bytes.
	Title string `json:"title,omitempty"`
	// URL is the pull request's web page (pr.html_url / oa.url / pr.html_url); always http or
	// https, or "".
	URL string `json:"url,omitempty"`
	// Author is the login of the pull request's author: pr.user.login / see below /
	// pr.user.login. GitLab's merge request payloads name the author by id only
	// (oa.author_id), so on GitLab Author is user.username when user.id equals oa.author_id
	// (the merge request's own open and update events, a self-approval) and "" otherwise; a
	// consumer that needs the name can remember it from those events, keyed by AuthorID.
	Author string `json:"author,omitempty"`
	// AuthorID is the host's numeric id of the author: pr.user.id / oa.author_id / pr.user.id;
	// 0 when the payload has none.
	AuthorID int64 `json:"author_id,omitempty"`
	// Reviewer is the login of whoever made the review, for review kinds only ("" otherwise):
	// review.user.login / user.username / sender.login (Gitea sends the reviewer as sender).
	Reviewer string `json:"reviewer,omitempty"`
	// ReviewerID is the host's numeric id of Reviewer: review.user.id / user.id / sender.id.
	ReviewerID int64 `json:"reviewer_id,omitempty"`
	// ReviewID is GitHub's review.id, which a later dismissal names; 0 on GitLab and Gitea, whose
	// payloads identify no review.
	ReviewID int64 `json:"review_id,omitempty"`
	// Actor is the login of whoever caused the event: sender.login / user.username /
	// sender.login; for merges the merger (pr.merged_by.login on GitHub and Gitea). For a
	// GitHub dismissal it is who dismissed, which may differ from Reviewer.
	Actor string `json:"actor,omitempty"`
	// CommitSHA is the full commit SHA, in lower case, that the event is about: for reviews the
	// commit reviewed, for the other kinds the pull request's head. GitHub names the reviewed
	// commit (review.commit_id); GitLab and Gitea do not, and CommitSHA is then the head when
	// the host sent the webhook (oa.last_commit.id / pr.head.sha), with CommitInferred set.
	CommitSHA string `json:"commit_sha"`
	// CommitInferred is true for reviews whose CommitSHA is the head at sending time rather than
	// a commit the host says was reviewed. A push racing the review can make that a commit the
	// reviewer never saw, so a strict gate confirms such approvals with the host's API, or
	// accepts them only when no PullRequestUpdated for the pull request is recorded after them.
	CommitInferred bool `json:"commit_inferred,omitempty"`
	// MergeCommitSHA is, for PullRequestMerged, the commit the merge put on BaseBranch:
	// pr.merge_commit_sha / oa.merge_commit_sha / pr.merge_commit_sha. It is "" for other kinds,
	// and also for a GitLab fast-forward merge, which sends none: BaseBranch then points at
	// CommitSHA itself.
	MergeCommitSHA string `json:"merge_commit_sha,omitempty"`
	// BaseBranch is the branch the pull request merges into: pr.base.ref / oa.target_branch /
	// pr.base.ref.
	BaseBranch string `json:"base_branch"`
	// HeadBranch is the head branch as named in the head repository (pr.head.ref /
	// oa.source_branch / pr.head.ref), which may be a fork's: never match branch rules on it.
	HeadBranch string `json:"head_branch"`
	// HeadRepoFork is true when the head lives in another repository than the base, or the
	// payload does not prove that it does not (the same rule as forge.Event.FromFork).
	HeadRepoFork bool `json:"head_repo_fork,omitempty"`
	// At is when the host says the event happened: review.submitted_at for GitHub reviews (for
	// a dismissal, when the dismissed review was submitted: GitHub sends no dismissal time),
	// pr.merged_at for merges on GitHub and Gitea, and otherwise the pull request's updated_at
	// (pr.updated_at / oa.updated_at). It is the zero time when the payload has none in a form
	// Rampart knows. A signed body can be replayed later, so At orders evidence but never
	// proves it is recent.
	At time.Time `json:"at"`
}

// MaxReviewTitle bounds ReviewEvent.Title in bytes.
const MaxReviewTitle = 1024

// maxReviewText bounds the other text fields of a ReviewEvent in bytes.
const maxReviewText = 1024

// IsReview reports whether e is a review (approved, changes requested or dismissed), which has
// a Reviewer, rather than an event of the pull request itself.
func (e *ReviewEvent) IsReview() bool {
	switch e.Kind {
	case ReviewApproved, ReviewChangesRequested, ReviewDismissed:
		return true
	}
	return false
}

// SelfReview reports whether the reviewer is, or may be, the pull request's author. It compares
// the numeric ids when both are known, else the logins (case-insensitively: hosts treat
// logins so). When neither pair can be compared it returns true, so that a gate asking "is
// this someone else's approval?" fails closed. It is false for events that are not reviews.
func (e *ReviewEvent) SelfReview() bool {
	if !e.IsReview() {
		return false
	}
	if e.ReviewerID != 0 && e.AuthorID != 0 {
		return e.ReviewerID == e.AuthorID
	}
	if e.Reviewer != "" && e.Author != "" {
		return strings.EqualFold(e.Reviewer, e.Author)
	}
	return true
}

// Validate returns an EINVALID *Error unless e is complete and safe to store and show: a known
// Kind, a positive Number, full lower-case commit SHAs, a reviewer exactly for review kinds, an
// author login or id, branches, a merge commit only for merges, an http(s) URL, and text
// fields without control characters and within length limits. It does not check branch names
// against git's ref rules; forge does that before it builds an event.
func (e *ReviewEvent) Validate() error {
	bad := func(format string, args ...any) error {
		return Errorf(EINVALID, "review event: "+format, args...).
			WithDetail("the git host's webhook payload is incomplete or malformed; send the host's own payload unchanged")
	}
	switch e.Kind {
	case ReviewApproved, ReviewChangesRequested, ReviewDismissed,
		PullRequestOpened, PullRequestUpdated, PullRequestMerged:
	default:
		return bad("unknown kind %.40q", e.Kind)
	}
	if e.Host == "" {
		return bad("no host")
	}
	if e.Number <= 0 {
		return bad("pull request number %d is not positive", e.Number)
	}
	if !IsCommitSHA(e.CommitSHA) {
		return bad("commit %.80q is not a full lower-case commit SHA", e.CommitSHA)
	}
	if e.Kind == PullRequestMerged {
		if e.MergeCommitSHA != "" && !IsCommitSHA(e.MergeCommitSHA) {
			return bad("merge commit %.80q is not a full lower-case commit SHA", e.MergeCommitSHA)
		}
	} else if e.MergeCommitSHA != "" {
		return bad("merge commit on a %s event", e.Kind)
	}
	if e.IsReview() {
		if e.Reviewer == "" {
			return bad("%s review without a reviewer", e.Kind)
		}
	} else if e.Reviewer != "" || e.ReviewerID != 0 || e.ReviewID != 0 || e.CommitInferred {
		return bad("%s event with review fields", e.Kind)
	}
	if e.Author == "" && e.AuthorID == 0 {
		return bad("no pull request author")
	}
	if e.AuthorID < 0 || e.ReviewerID < 0 || e.ReviewID < 0 {
		return bad("negative id")
	}
	if e.BaseBranch == "" || e.HeadBranch == "" {
		return bad("no base or head branch")
	}
	if e.URL != "" {
		u, err := url.Parse(e.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return bad("pull request URL %.80q is not an http(s) URL", e.URL)
		}
	}
	if len(e.Title) > MaxReviewTitle || hasControlChar(e.Title) {
		return bad("title is too long or contains control characters")
	}
	for _, f := range []struct{ name, value string }{
		{"host", e.Host}, {"repository", e.Repository}, {"author", e.Author}, {"reviewer", e.Reviewer},
		{"actor", e.Actor}, {"base branch", e.BaseBranch}, {"head branch", e.HeadBranch}, {"URL", e.URL},
	} {
		if len(f.value) > maxReviewText || hasControlChar(f.value) {
			return bad("%s %.40q is too long or contains control characters", f.name, f.value)
		}
	}
	return nil
}

// IsCommitSHA reports whether s is a full SHA-1 or SHA-256 commit id in lower-case hex. Upper case
// is refused so that one commit has one spelling in the database.
func IsCommitSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hasControlChar reports whether s contains an ASCII control character, which could forge log
// lines or terminal output.
func hasControlChar(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
