package review

import (
	"fmt"
	"slices"
	"strings"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/deploy"
)

// Judge decides from events — the evidence of the pull requests that have commit as a head, a
// reviewed commit or a merge commit, in the order they were stored, as
// rampart.ReviewTx.ReviewEvents returns them — whether commit is covered by review.
//
// commit is covered when a pull request has an approval that counts and is of commit itself,
// or of the head of a merge of that pull request that made commit: its MergeCommitSHA is
// commit, or, for a fast-forward merge, which makes no merge commit, its head is commit. An
// approval of an earlier head does not cover the merge of a later one.
//
// An approval counts unless:
//
//   - its reviewer is, or may be, the pull request's author (rampart.ReviewEvent.SelfReview:
//     when the host's payload gives nothing to compare, it does not count);
//   - it was dismissed: on GitHub a dismissal names the review by ReviewID, whenever it came;
//     on GitLab the same reviewer withdrew their approval ("unapproved") after it;
//   - the same reviewer asked for changes after it, which is their verdict now;
//   - the host did not say which commit was approved (CommitInferred, GitLab and Gitea) and new
//     commits were pushed to the pull request after it was recorded, so that the commit it
//     names may be one the reviewer never saw.
//
// "After" compares the times the host gave when both events have different ones, and else the
// order in which the events were stored.
//
// Why says in words which approval covers the commit, or what is missing. PRAuthors are the
// logins of the authors of every pull request in events, which the commit came through;
// GitLab names an author by id only in events its author made, so a pull request whose
// author's login was never seen adds none.
func Judge(commit string, events []*rampart.ReviewEvent) *rampart.ReviewCoverage {
	out := &rampart.ReviewCoverage{Commit: commit, Events: events}
	if out.Events == nil {
		out.Events = []*rampart.ReviewEvent{}
	}
	prs := group(events)
	var (
		reasons    []string
		mergedAs   bool // some pull request was merged as commit
		candidates int  // approvals of commit or of the head it was merged from
	)
	for _, pr := range prs {
		for _, a := range pr.authors() {
			if !slices.Contains(out.PRAuthors, a) {
				out.PRAuthors = append(out.PRAuthors, a)
			}
		}
	}
	slices.Sort(out.PRAuthors)
	for _, pr := range prs {
		heads := pr.mergeHeads(commit)
		if len(heads) > 0 {
			mergedAs = true
		}
		var approvals []*event
		for _, e := range pr.events {
			if e.Kind == rampart.ReviewApproved && (e.CommitSHA == commit || slices.Contains(heads, e.CommitSHA)) {
				approvals = append(approvals, e)
			}
		}
		candidates += len(approvals)
		for _, a := range approvals {
			if reason := pr.discount(a); reason == "" {
				out.Covered = true
				out.Why = fmt.Sprintf("approved by %s in %s pull request #%d%s", a.Reviewer, pr.host, pr.number, route(commit, a.CommitSHA))
				return out
			}
		}
		switch {
		case len(approvals) == 1 && pr.discount(approvals[0]) == discountSelf:
			reasons = append(reasons, fmt.Sprintf("the only approval is by the pull request's author %s", approvals[0].Reviewer))
		case len(approvals) > 0:
			for _, a := range approvals {
				reasons = appendNew(reasons, fmt.Sprintf("the approval by %s %s", a.Reviewer, pr.discount(a)))
			}
		case len(heads) > 0:
			r := fmt.Sprintf("%s pull request #%d was merged as this commit from head %s, which no review approved", pr.host, pr.number, short(heads[0]))
			if others := pr.approvals(); len(others) > 0 {
				r += fmt.Sprintf(" (it has approvals of other commits only: by %s)", strings.Join(others, ", "))
			}
			reasons = append(reasons, r)
		default:
			r := fmt.Sprintf("%s pull request #%d has no approval of this commit", pr.host, pr.number)
			if others := pr.approvals(); len(others) > 0 {
				r += fmt.Sprintf(" (it has approvals of other commits only: by %s)", strings.Join(others, ", "))
			}
			reasons = append(reasons, r)
		}
	}
	prefix := fmt.Sprintf("no review evidence for commit %s: ", short(commit))
	switch {
	case len(prs) == 0:
		out.Why = prefix + "no pull request was merged as this commit, and no review approved it"
	case !mergedAs && candidates == 0:
		out.Why = prefix + "no pull request was merged as this commit; " + strings.Join(reasons, "; ")
	default:
		out.Why = strings.Join(reasons, "; ")
	}
	return out
}

// route says how an approval of head covers commit.
func route(commit, head string) string {
	if head == commit {
		return ", of this commit"
	}
	return fmt.Sprintf(", merged as this commit from the approved head %s", short(head))
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// event is a piece of evidence with its place in the order of storing.
type event struct {
	*rampart.ReviewEvent
	seq int
}

// after reports whether a happened after b: by the host's times when both have different
// ones, else by the order of storing.
func (a *event) after(b *event) bool {
	if !a.At.IsZero() && !b.At.IsZero() && !a.At.Equal(b.At) {
		return a.At.After(b.At)
	}
	return a.seq > b.seq
}

// sameReviewer reports whether a and b were made by one person: by id when both have one,
// else by login.
func sameReviewer(a, b *event) bool {
	if a.ReviewerID != 0 && b.ReviewerID != 0 {
		return a.ReviewerID == b.ReviewerID
	}
	return a.Reviewer != "" && strings.EqualFold(a.Reviewer, b.Reviewer)
}

// pullRequest is the evidence of one pull request.
type pullRequest struct {
	host, repository string
	number           int
	events           []*event
}

// group sorts events into pull requests, in the order each pull request first appears.
func group(events []*rampart.ReviewEvent) []*pullRequest {
	type key struct {
		host, repository string
		number           int
	}
	index := map[key]*pullRequest{}
	var prs []*pullRequest
	for i, e := range events {
		k := key{e.Host, e.Repository, e.Number}
		pr, ok := index[k]
		if !ok {
			pr = &pullRequest{host: e.Host, repository: e.Repository, number: e.Number}
			index[k] = pr
			prs = append(prs, pr)
		}
		pr.events = append(pr.events, &event{ReviewEvent: e, seq: i})
	}
	return prs
}

// mergeHeads returns the heads of the merges of pr that made commit.
func (pr *pullRequest) mergeHeads(commit string) []string {
	var heads []string
	for _, e := range pr.events {
		if e.Kind == rampart.PullRequestMerged && (e.MergeCommitSHA == commit || (e.MergeCommitSHA == "" && e.CommitSHA == commit)) {
			heads = appendNew(heads, e.CommitSHA)
		}
	}
	return heads
}

// authors returns the logins of pr's author that its events name.
func (pr *pullRequest) authors() []string {
	var out []string
	for _, e := range pr.events {
		if e.Author != "" {
			out = appendNew(out, e.Author)
		}
	}
	return out
}

// approvals lists the approvals of pr, as "octocat at 4c1b2a39d8e7".
func (pr *pullRequest) approvals() []string {
	var out []string
	for _, e := range pr.events {
		if e.Kind == rampart.ReviewApproved {
			out = appendNew(out, e.Reviewer+" at "+short(e.CommitSHA))
		}
	}
	return out
}

// discountSelf is the reason a self-approval does not count.
const discountSelf = "is by the pull request's author"

// discount returns why approval a of pr does not count, completing "the approval by X …", or
// "" when it counts.
func (pr *pullRequest) discount(a *event) string {
	if a.SelfReview() {
		if (a.ReviewerID != 0 && a.AuthorID != 0) || (a.Reviewer != "" && a.Author != "") {
			return discountSelf
		}
		return "cannot be told apart from one by the pull request's author: the host's payload gives no ids or logins of both to compare"
	}
	for _, e := range pr.events {
		switch {
		case e.Kind == rampart.ReviewDismissed && a.ReviewID != 0 && e.ReviewID == a.ReviewID:
			if e.Actor != "" && !strings.EqualFold(e.Actor, a.Reviewer) {
				return "was dismissed by " + e.Actor
			}
			return "was dismissed"
		case e.Kind == rampart.ReviewDismissed && a.ReviewID == 0 && e.ReviewID == 0 && sameReviewer(e, a) && e.after(a):
			return "was withdrawn"
		case e.Kind == rampart.ReviewChangesRequested && sameReviewer(e, a) && e.after(a):
			return "was followed by their request for changes"
		}
	}
	if a.CommitInferred {
		for _, e := range pr.events {
			if e.seq > a.seq && (e.Kind == rampart.PullRequestUpdated || (e.Kind == rampart.PullRequestOpened && e.CommitSHA != a.CommitSHA)) {
				return fmt.Sprintf("may be of a commit the reviewer never saw: %s does not say which commit was approved, and new commits (head %s) were pushed after it was recorded",
					pr.host, short(e.CommitSHA))
			}
		}
	}
	return ""
}

var _ deploy.Reviews = (*Service)(nil)
