// Package forge connects Rampart to git hosts ("forges"): it verifies that a webhook request
// really comes from the host (Verify) and turns its payload into an Event (Parse), for GitHub,
// GitLab and Gitea. Running git itself lives in the subpackage forge/git.
//
// Verify must be called, and must succeed, before Parse is trusted: Parse checks the shape of a
// payload, not where it came from. Both are pure functions of their arguments and may be called
// concurrently.
package forge

import (
	"github.com/rampart-ci/rampart"
)

// Hosts, as named in Verify and Parse.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Gitea  = "gitea"
)

// MaxBodyBytes is the largest webhook body Verify and Parse accept. GitHub caps its payloads at
// 25 MB, but a push carries at most a few thousand commits' metadata; 5 MiB is plenty for the
// events Rampart acts on and bounds the memory a request can take. Handlers should read at most
// MaxBodyBytes+1 bytes (http.MaxBytesReader) so that Verify and Parse can say ETOOLARGE.
const MaxBodyBytes = 5 << 20

// Event is what Rampart needs from a webhook: which commit to build, and on behalf of what.
//
// Parse fills it only from the payload. Kind is "" for events Rampart does not act on: pings,
// issues, branch and tag deletions, pull-request actions that do not change code. Callers start
// a run only when Kind is non-empty.
type Event struct {
	// Kind is rampart.EventPush or rampart.EventPullRequest, or "" for an event to ignore.
	Kind string
	// Type is the host's own name for the event, e.g. "push" or "Merge Request Hook", for logs.
	Type string
	// Ref is the full ref to fetch: refs/heads/…, refs/tags/… for pushes; for pull requests the
	// ref the host keeps in the base repository for the head (refs/pull/N/head on GitHub and
	// Gitea, refs/merge-requests/N/head on GitLab), which can be fetched even from a fork.
	Ref string
	// Branch is the pushed branch. For a pull request it is the head branch as named in the
	// head repository, which may be a fork: it is not a branch of this repository, and
	// branch-protection rules must never be matched against it (use BaseBranch and FromFork).
	Branch string
	// Tag is the pushed tag, for tag pushes.
	Tag string
	// Commit is the full commit SHA to build, in lower case: the new tip of a pushed branch, the
	// commit an (annotated) tag points to, or a pull request's head commit. "" when Deleted.
	Commit string
	// BaseBranch is the branch a pull request wants to merge into.
	BaseBranch string
	// PullRequest is the pull (merge) request number; 0 for pushes.
	PullRequest int
	// FromFork is true when a pull request's head lives in another repository than its base —
	// code from outside the project, which gets no secrets. When the payload does not say
	// which repository the head is in (GitHub sends null when the fork was deleted), it is true.
	FromFork bool
	// Deleted is true for a push that deleted a branch or tag; Kind is then "".
	Deleted bool
	// Repo is the clone URL the payload names, for information only: builds always fetch from
	// the project's configured URL.
	Repo string
	// Sender is the user name of whoever caused the event on the host.
	Sender string
	// Action is the pull-request action (opened, synchronize, reopened, closed, open, update…),
	// also when it made Kind "".
	Action string
}

// unknownHost is the error for a host name Rampart does not support.
func unknownHost(host string) error {
	return rampart.Errorf(rampart.EINVALID, "unknown git host %q", host).
		WithDetail("use one of github, gitlab or gitea")
}

// tooLarge is the error for a body over MaxBodyBytes.
func tooLarge(n int) error {
	return rampart.Errorf(rampart.ETOOLARGE, "webhook body of %d bytes is larger than the limit of %d", n, MaxBodyBytes).
		WithDetail("send only push and pull request events to Rampart")
}
