package forge

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/forge/git"
)

// ParseReview turns a webhook request from host ("github", "gitlab" or "gitea") into review
// evidence: an approval, a request for changes or a withdrawn approval of a commit, or a pull
// request opened, updated with new commits, or merged. The event type comes from
// X-GitHub-Event, X-Gitlab-Event or X-Gitea-Event, as for Parse; a handler calls Verify once
// and then both Parse (to start runs) and ParseReview (to record evidence) on the same body.
//
// It reads:
//
//   - GitHub: "pull_request_review" with action "submitted" (review.state "approved" or
//     "changes_requested") or "dismissed"; "pull_request" with action "opened", "reopened",
//     "synchronize", or "closed" with merged true.
//   - GitLab: "Merge Request Hook" with action "approved" or "approval" (an approval, whether or
//     not it completed the required ones), "unapproved" or "unapproval" (withdrawn), "merge",
//     "open", "reopen", and "update" when it pushed new commits (oldrev set).
//   - Gitea: "pull_request_approved" and "pull_request_rejected" (also under their longer
//     X-Gitea-Event-Type names); "pull_request" with action "opened", "reopened",
//     "synchronized", or "closed" with merged true.
//
// The event header is not covered by the webhook signature, so what a review says is always
// taken from the signed body (review.state, object_attributes.action, review.type); on Gitea,
// where the body repeats the header's verdict, a body that contradicts the header is refused.
//
// For every other event type and action — pings, pushes, comments, "commented" reviews, edits,
// labels, pull requests closed without merging — ParseReview returns nil and a nil error: there
// is nothing to record. Evidence it does return has passed rampart.ReviewEvent.Validate and
// git.CheckRef on its branches.
//
// ParseReview returns EINVALID for an unknown host, a missing event header, malformed JSON, a
// field of the wrong type, or a payload that lacks a field the evidence needs (the message
// names the host's field, e.g. "review.commit_id"); ETOOLARGE for a body over MaxBodyBytes. Like
// Parse, it does not check where the request came from: call Verify first.
func ParseReview(host string, header http.Header, body []byte) (*rampart.ReviewEvent, error) {
	if len(body) > MaxBodyBytes {
		return nil, tooLarge(len(body))
	}
	var rv *rampart.ReviewEvent
	var err error
	switch host {
	case GitHub:
		rv, err = reviewGitHub(header.Get("X-GitHub-Event"), body)
	case GitLab:
		rv, err = reviewGitLab(header.Get("X-Gitlab-Event"), body)
	case Gitea:
		rv, err = reviewGitea(header.Get("X-Gitea-Event"), body)
	default:
		return nil, unknownHost(host)
	}
	if err != nil || rv == nil {
		return nil, err
	}
	rv.Host = host
	if err := rv.Validate(); err != nil {
		return nil, err
	}
	return rv, nil
}

// hostUser is a user as GitHub and Gitea describe one.
type hostUser struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
}

// hubReviewPayload holds the fields of GitHub's and Gitea's pull request and review events that
// review evidence needs beyond those of prPayload. Times are strings so that a format Rampart
// does not know costs the timestamp, not the evidence.
type hubReviewPayload struct {
	Action      string `json:"action"`
	PullRequest *struct {
		Title          string    `json:"title"`
		HTMLURL        string    `json:"html_url"`
		User           *hostUser `json:"user"`
		Merged         bool      `json:"merged"`
		MergeCommitSHA *string   `json:"merge_commit_sha"`
		MergedBy       *hostUser `json:"merged_by"`
		MergedAt       *string   `json:"merged_at"`
		UpdatedAt      *string   `json:"updated_at"`
	} `json:"pull_request"`
	Review *struct {
		ID          int64     `json:"id"`           // GitHub
		User        *hostUser `json:"user"`         // GitHub
		CommitID    *string   `json:"commit_id"`    // GitHub
		State       string    `json:"state"`        // GitHub
		SubmittedAt *string   `json:"submitted_at"` // GitHub
		Type        string    `json:"type"`         // Gitea
	} `json:"review"`
	Sender *hostUser `json:"sender"`
}

func reviewGitHub(typ string, body []byte) (*rampart.ReviewEvent, error) {
	switch typ {
	case "":
		return nil, missingType("X-GitHub-Event")
	case "pull_request_review":
		var p hubReviewPayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		if p.Review == nil {
			return nil, reviewMissing("review")
		}
		var kind string
		switch p.Action {
		case "submitted":
			switch strings.ToLower(p.Review.State) {
			case "approved":
				kind = rampart.ReviewApproved
			case "changes_requested":
				kind = rampart.ReviewChangesRequested
			default: // "commented": no verdict
				return nil, nil
			}
		case "dismissed":
			kind = rampart.ReviewDismissed
		default: // "edited" changes the text only
			return nil, nil
		}
		rv, err := hubEvidence(typ, body, &p, kind)
		if err != nil {
			return nil, err
		}
		r := p.Review
		switch {
		case r.User == nil || r.User.Login == "":
			return nil, reviewMissing("review.user.login")
		case r.CommitID == nil || *r.CommitID == "":
			return nil, reviewMissing("review.commit_id")
		case r.ID <= 0:
			return nil, reviewMissing("review.id")
		}
		if rv.CommitSHA, err = reviewCommit("review.commit_id", *r.CommitID); err != nil {
			return nil, err
		}
		rv.Reviewer, rv.ReviewerID, rv.ReviewID = r.User.Login, r.User.ID, r.ID
		rv.At = reviewTime(r.SubmittedAt)
		return rv, nil
	case "pull_request":
		return hubPullRequest(typ, body, "synchronize")
	default: // ping, push, issue_comment, pull_request_review_comment, …
		return reviewIgnore(body)
	}
}

func reviewGitea(typ string, body []byte) (*rampart.ReviewEvent, error) {
	switch typ {
	case "":
		return nil, missingType("X-Gitea-Event")
	case "pull_request_approved", "pull_request_review_approved",
		"pull_request_rejected", "pull_request_review_rejected":
		var p hubReviewPayload
		if err := decode(body, &p); err != nil {
			return nil, err
		}
		if p.Review == nil || p.Review.Type == "" {
			return nil, reviewMissing("review.type")
		}
		var kind string
		switch p.Review.Type {
		case "pull_request_review_approved":
			kind = rampart.ReviewApproved
		case "pull_request_review_rejected":
			kind = rampart.ReviewChangesRequested
		default:
			return nil, reviewMismatch(typ, p.Review.Type)
		}
		// The header is unsigned: a captured "rejected" body replayed as "approved" must not
		// turn into an approval, nor the reverse.
		if strings.HasSuffix(typ, "_approved") != (kind == rampart.ReviewApproved) {
			return nil, reviewMismatch(typ, p.Review.Type)
		}
		rv, err := hubEvidence(typ, body, &p, kind)
		if err != nil {
			return nil, err
		}
		// Gitea sends the reviewer as the sender and does not say which commit was reviewed.
		if p.Sender == nil || p.Sender.Login == "" {
			return nil, reviewMissing("sender.login")
		}
		rv.Reviewer, rv.ReviewerID, rv.Actor = p.Sender.Login, p.Sender.ID, p.Sender.Login
		rv.CommitInferred = true
		return rv, nil
	case "pull_request":
		return hubPullRequest(typ, body, "synchronized")
	default: // push, issue_comment, pull_request_comment (a review comment), …
		return reviewIgnore(body)
	}
}

// hubPullRequest reads a GitHub or Gitea pull_request event, whose new-commits action is named
// synchronize.
func hubPullRequest(typ string, body []byte, synchronize string) (*rampart.ReviewEvent, error) {
	var p hubReviewPayload
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	var kind string
	switch p.Action {
	case "opened", "reopened":
		kind = rampart.PullRequestOpened
	case synchronize:
		kind = rampart.PullRequestUpdated
	case "closed":
		if p.PullRequest == nil || !p.PullRequest.Merged {
			return nil, nil
		}
		kind = rampart.PullRequestMerged
	default:
		return nil, nil
	}
	rv, err := hubEvidence(typ, body, &p, kind)
	if err != nil || kind != rampart.PullRequestMerged {
		return rv, err
	}
	pr := p.PullRequest
	// An open pull request carries the sha of the host's test merge in merge_commit_sha too,
	// which is why it is read for merged pull requests only.
	if pr.MergeCommitSHA == nil || *pr.MergeCommitSHA == "" {
		return nil, reviewMissing("pull_request.merge_commit_sha")
	}
	if rv.MergeCommitSHA, err = reviewCommit("pull_request.merge_commit_sha", *pr.MergeCommitSHA); err != nil {
		return nil, err
	}
	if pr.MergedBy != nil && pr.MergedBy.Login != "" {
		rv.Actor = pr.MergedBy.Login
	}
	if pr.MergedAt != nil {
		rv.At = reviewTime(pr.MergedAt)
	}
	return rv, nil
}

// hubEvidence builds what GitHub's and Gitea's pull request payloads have in common. Branches,
// head commit, number and the fork rule come from prPayload, exactly as Parse reads them.
func hubEvidence(typ string, body []byte, p *hubReviewPayload, kind string) (*rampart.ReviewEvent, error) {
	var base prPayload
	if err := decode(body, &base); err != nil {
		return nil, err
	}
	ev := base.event(typ)
	pr := p.PullRequest
	switch {
	case pr == nil:
		return nil, reviewMissing("pull_request")
	case ev.PullRequest == 0:
		return nil, reviewMissing("pull_request.number")
	case ev.Commit == "":
		return nil, reviewMissing("pull_request.head.sha")
	case ev.Branch == "":
		return nil, reviewMissing("pull_request.head.ref")
	case ev.BaseBranch == "":
		return nil, reviewMissing("pull_request.base.ref")
	case pr.User == nil || pr.User.Login == "":
		return nil, reviewMissing("pull_request.user.login")
	}
	if err := reviewCheck(ev); err != nil {
		return nil, err
	}
	return &rampart.ReviewEvent{
		Repository:   ev.Repo,
		Kind:         kind,
		Number:       ev.PullRequest,
		Title:        reviewTitle(pr.Title),
		URL:          pr.HTMLURL,
		Author:       pr.User.Login,
		AuthorID:     pr.User.ID,
		Actor:        ev.Sender,
		CommitSHA:    ev.Commit,
		BaseBranch:   ev.BaseBranch,
		HeadBranch:   ev.Branch,
		HeadRepoFork: ev.FromFork,
		At:           reviewTime(pr.UpdatedAt),
	}, nil
}

func reviewGitLab(typ string, body []byte) (*rampart.ReviewEvent, error) {
	switch typ {
	case "":
		return nil, missingType("X-Gitlab-Event")
	case gitlabMergeRequest:
	default: // Push Hook, Note Hook, System Hook, …
		return reviewIgnore(body)
	}
	ev, err := parseGitLab(typ, body)
	if err != nil {
		return nil, err
	}
	var p struct {
		User *struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		} `json:"user"`
		Attrs *struct {
			Title          string  `json:"title"`
			URL            string  `json:"url"`
			AuthorID       int64   `json:"author_id"`
			MergeCommitSHA *string `json:"merge_commit_sha"`
			UpdatedAt      *string `json:"updated_at"`
		} `json:"object_attributes"`
	}
	if err := decode(body, &p); err != nil {
		return nil, err
	}
	var kind string
	switch ev.Action {
	case "approved", "approval":
		kind = rampart.ReviewApproved
	case "unapproved", "unapproval":
		kind = rampart.ReviewDismissed
	case "merge":
		kind = rampart.PullRequestMerged
	case "open", "reopen":
		kind = rampart.PullRequestOpened
	case "update":
		if ev.Kind != rampart.EventPullRequest { // no new commits: a title or label edit
			return nil, nil
		}
		kind = rampart.PullRequestUpdated
	default: // close, …
		return nil, nil
	}
	a := p.Attrs
	switch {
	case a == nil:
		return nil, reviewMissing("object_attributes")
	case ev.PullRequest == 0:
		return nil, reviewMissing("object_attributes.iid")
	case ev.Commit == "":
		return nil, reviewMissing("object_attributes.last_commit.id")
	case ev.Branch == "":
		return nil, reviewMissing("object_attributes.source_branch")
	case ev.BaseBranch == "":
		return nil, reviewMissing("object_attributes.target_branch")
	case a.AuthorID == 0:
		// The only trace of the author in the payload: without it self-approval cannot be told.
		return nil, reviewMissing("object_attributes.author_id")
	}
	if err := reviewCheck(ev); err != nil {
		return nil, err
	}
	rv := &rampart.ReviewEvent{
		Repository:   ev.Repo,
		Kind:         kind,
		Number:       ev.PullRequest,
		Title:        reviewTitle(a.Title),
		URL:          a.URL,
		AuthorID:     a.AuthorID,
		Actor:        ev.Sender,
		CommitSHA:    ev.Commit,
		BaseBranch:   ev.BaseBranch,
		HeadBranch:   ev.Branch,
		HeadRepoFork: ev.FromFork,
		At:           reviewTime(a.UpdatedAt),
	}
	// The author's name is in the payload only when the acting user is the author, as for
	// the merge request's own open and update events; ids make the match exact.
	if p.User != nil && p.User.ID != 0 && p.User.ID == a.AuthorID {
		rv.Author = p.User.Username
	}
	if rv.IsReview() {
		// The acting user is the one who approved or withdrew; the id is what can be compared
		// with author_id, as the author's name is not in the payload.
		switch {
		case p.User == nil || p.User.Username == "":
			return nil, reviewMissing("user.username")
		case p.User.ID == 0:
			return nil, reviewMissing("user.id")
		}
		rv.Reviewer, rv.ReviewerID = p.User.Username, p.User.ID
		rv.CommitInferred = true
	}
	// A fast-forward merge makes no merge commit, and GitLab sends merge_commit_sha null.
	if kind == rampart.PullRequestMerged && a.MergeCommitSHA != nil && *a.MergeCommitSHA != "" {
		if rv.MergeCommitSHA, err = reviewCommit("object_attributes.merge_commit_sha", *a.MergeCommitSHA); err != nil {
			return nil, err
		}
	}
	return rv, nil
}

// reviewCheck runs the checks Parse makes on an Event, adding the advice that check's errors
// lack.
func reviewCheck(ev *Event) error {
	err := ev.check()
	var e *rampart.Error
	if errors.As(err, &e) && e.Detail == "" {
		return e.WithDetail("the git host sent a branch, commit or number Rampart cannot use safely; send the host's own payload unchanged")
	}
	return err
}

// reviewIgnore is the answer for an event type that carries no review evidence, after checking
// that the body is JSON at all.
func reviewIgnore(body []byte) (*rampart.ReviewEvent, error) {
	if !json.Valid(body) {
		return nil, rampart.Errorf(rampart.EINVALID, "malformed webhook payload: not JSON").
			WithDetail("set the webhook's content type to application/json in the git host")
	}
	return nil, nil
}

// reviewMissing is the error for a payload without a field that review evidence needs.
func reviewMissing(field string) error {
	return rampart.Errorf(rampart.EINVALID, "webhook payload has no %s", field).
		WithDetail("Rampart needs it to record review evidence; point the git host's webhook at Rampart directly, with content type application/json")
}

// reviewMismatch is the error for a Gitea review whose body contradicts its event header.
func reviewMismatch(typ, reviewType string) error {
	return rampart.Errorf(rampart.EINVALID, "webhook event %.60q does not match the payload's review.type %.60q", typ, reviewType).
		WithDetail("the event header is not signed; only the git host's own, unaltered requests are accepted")
}

// reviewCommit checks that value, read from field, is a full commit SHA and returns it in lower
// case.
func reviewCommit(field, value string) (string, error) {
	if !git.IsCommit(value) {
		return "", rampart.Errorf(rampart.EINVALID, "webhook payload: %s %.80q is not a full commit SHA", field, value).
			WithDetail("the git host must send the full 40- or 64-character commit id")
	}
	return strings.ToLower(value), nil
}

// reviewTitle makes a pull request title safe to store and show: control characters become
// spaces and it is cut, on a character boundary, to rampart.MaxReviewTitle bytes. A title is
// for display only, so a strange one must not cost the evidence.
func reviewTitle(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > rampart.MaxReviewTitle {
		cut := rampart.MaxReviewTitle
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.TrimSpace(s)
}

// reviewTime parses a host's time, in UTC, or returns the zero time for none or an unknown form.
// Hosts write RFC 3339 (GitHub, Gitea, GitLab's documentation) or, in GitLab's real payloads,
// "2024-06-10 09:12:45 UTC".
func reviewTime(s *string) time.Time {
	if s == nil {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05 UTC", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, *s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
