package rampart

import (
	"context"
	"time"
)

// ViolationUnreviewedPush is the Kind of a Violation recorded for a push of a commit, to a
// branch that an environment requiring review deploys from, that no review evidence covers.
const ViolationUnreviewedPush = "unreviewed-push"

// Violation is a breach of a project's policy that Rampart saw but could not prevent, such as a
// push straight to a protected branch: the git host decides what may be pushed, so Rampart
// records the fact, audits it, and refuses to deploy the commit.
type Violation struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Kind      string `json:"kind"` // ViolationUnreviewedPush
	// Ref is the full ref the violation happened on, e.g. "refs/heads/main".
	Ref string `json:"ref"`
	// Commit is the full commit SHA concerned.
	Commit string `json:"commit"`
	// Detail says in words what happened and what was missing.
	Detail    string    `json:"detail"`
	CreatedAt time.Time `json:"created_at"`
}

// PushCheck is a push to a protected branch whose review evidence is still to be checked. The
// check waits a grace period because a git host may deliver the webhook of the merge that made
// the commit after the push's own; kept in the store, pending checks outlive a server restart.
type PushCheck struct {
	ID        int64  `json:"id"`
	ProjectID int64  `json:"project_id"`
	Branch    string `json:"branch"`
	Commit    string `json:"commit"`
	// Pusher is the git host's login of whoever pushed, as the push webhook said; "" if unknown.
	Pusher    string    `json:"pusher,omitempty"`
	DueAt     time.Time `json:"due_at"`
	CreatedAt time.Time `json:"created_at"`
}

// ReviewCoverage is what Rampart knows of a commit's review: whether an approving review by
// someone other than the pull request's author covers it, why or why not in words, who wrote
// the pull requests it came through, and the evidence itself. With Commit "" it is a listing of
// a project's most recent evidence, newest first, and the other fields are empty.
type ReviewCoverage struct {
	Commit    string         `json:"commit,omitempty"`
	Covered   bool           `json:"covered"`
	Why       string         `json:"why,omitempty"`
	PRAuthors []string       `json:"pr_authors,omitempty"`
	Events    []*ReviewEvent `json:"events"`
}

// ReviewTx stores review evidence from git hosts, pushes waiting for their review check, and
// policy violations.
type ReviewTx interface {
	// AddReviewEvent stores e as evidence of project projectID and reports whether it was new:
	// an event equal in every field to one the project already has (the same delivery body sent
	// twice, a redelivery, a replay) is stored once, and added is false for the copy.
	AddReviewEvent(ctx context.Context, projectID int64, e *ReviewEvent) (added bool, err error)
	// ReviewEvents returns the events of project projectID whose CommitSHA or MergeCommitSHA is
	// commit, together with every event of the pull requests those belong to (same host,
	// repository and number), in the order they were stored.
	ReviewEvents(ctx context.Context, projectID int64, commit string) ([]*ReviewEvent, error)
	// ListReviewEvents returns a project's most recently stored events, newest first, at most
	// limit (0: all).
	ListReviewEvents(ctx context.Context, projectID int64, limit int) ([]*ReviewEvent, error)

	// AddPushCheck inserts c and sets c.ID. A check of the same project, branch and commit that
	// is still pending is kept instead (added false), so that a redelivered push waits once.
	AddPushCheck(ctx context.Context, c *PushCheck) (added bool, err error)
	// DuePushChecks returns pending checks due at or before now, oldest due first, at most limit
	// (0: all).
	DuePushChecks(ctx context.Context, now time.Time, limit int) ([]*PushCheck, error)
	// DeletePushCheck removes a pending check; ENOTFOUND when it is gone, e.g. because another
	// server took it.
	DeletePushCheck(ctx context.Context, id int64) error

	// AddViolation inserts v and sets v.ID, unless the project already has a violation of the
	// same kind, ref and commit (added false, v.ID unset): one breach is recorded once however
	// often its webhook is delivered.
	AddViolation(ctx context.Context, v *Violation) (added bool, err error)
	// ListViolations returns a project's violations, newest first, at most limit (0: all).
	ListViolations(ctx context.Context, projectID int64, limit int) ([]*Violation, error)
}
