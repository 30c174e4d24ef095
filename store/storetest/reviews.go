package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// Commits of the review evidence below.
const (
	revHead   = "b7e1c2d3a4f5e6d7c8b9a0f1e2d3c4b5a6f7e8d9"
	revOlder  = "4c1b2a39d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3"
	revMerge  = "9f8e7d6c5b4a39281706f5e4d3c2b1a0f9e8d7c6"
	revOther  = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	revSHA256 = "7c3a9e1f5b2d8064a1c3e5f7092b4d6f8a0c2e4b7c3a9e1f5b2d8064a1c3e5f7"
)

// reviewEvent returns an event of pull request number of acme/web on GitHub.
func reviewEvent(kind string, number int, commit string, d time.Duration) *rampart.ReviewEvent {
	e := &rampart.ReviewEvent{
		Host: "github", Repository: "https://github.com/acme/web.git", Kind: kind, Number: number,
		Title: "Rotate the key", URL: "https://github.com/acme/web/pull/42", Author: "hubot", AuthorID: 1055,
		Actor: "hubot", CommitSHA: commit, BaseBranch: "main", HeadBranch: "key-rotation", At: at(d),
	}
	switch kind {
	case rampart.ReviewApproved, rampart.ReviewChangesRequested, rampart.ReviewDismissed:
		e.Reviewer, e.ReviewerID, e.ReviewID, e.Actor = "octocat", 583231, 2093874561, "octocat"
	}
	return e
}

func testReviews(t *testing.T, s rampart.Store) {
	ps := createProjects(t, s, "web", "api")
	web, api := ps["web"], ps["api"]

	opened := reviewEvent(rampart.PullRequestOpened, 42, revOlder, 0)
	updated := reviewEvent(rampart.PullRequestUpdated, 42, revHead, time.Minute)
	approved := reviewEvent(rampart.ReviewApproved, 42, revHead, 2*time.Minute)
	merged := reviewEvent(rampart.PullRequestMerged, 42, revHead, 3*time.Minute)
	merged.MergeCommitSHA = revMerge
	// Everything a GitLab event may leave out: no author login, no review id, no time; and
	// every flag set.
	gitlab := &rampart.ReviewEvent{
		Host: "gitlab", Repository: "https://gitlab.example.com/acme/web.git", Kind: rampart.ReviewApproved, Number: 42,
		AuthorID: 4, Reviewer: "rchen", ReviewerID: 27, CommitSHA: revSHA256, CommitInferred: true,
		BaseBranch: "main", HeadBranch: "fork-main", HeadRepoFork: true,
	}
	// Another pull request, and the same number in another repository: neither belongs to #42.
	unrelated := reviewEvent(rampart.PullRequestOpened, 43, revOther, 0)
	otherRepo := reviewEvent(rampart.PullRequestOpened, 42, revOther, 0)
	otherRepo.Repository = "https://github.com/acme/other.git"

	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, e := range []*rampart.ReviewEvent{opened, updated, approved, merged, gitlab, unrelated, otherRepo} {
			added, err := tx.AddReviewEvent(ctx, web.ID, e)
			if err != nil {
				return err
			}
			if !added {
				t.Errorf("first %s event not added", e.Kind)
			}
		}
		// The same evidence again, even with nanoseconds the store does not keep, is a copy;
		// in another project it is not.
		again := *approved
		again.At = approved.At.Add(300 * time.Nanosecond)
		added, err := tx.AddReviewEvent(ctx, web.ID, &again)
		if err != nil {
			return err
		}
		if added {
			t.Error("the same event was added twice")
		}
		if added, err = tx.AddReviewEvent(ctx, api.ID, approved); err != nil || !added {
			t.Errorf("the same event in another project: added %v, %v", added, err)
		}
		return nil
	})
	// A foreign-key error ends a PostgreSQL transaction: each in a transaction of its own.
	missing := func(what string, fn func(ctx context.Context, tx rampart.Tx) error) {
		t.Helper()
		ctx := t.Context()
		err := s.Update(ctx, func(tx rampart.Tx) error { return fn(ctx, tx) })
		wantCode(t, what+" of a missing project", err, rampart.ENOTFOUND, "project", "9999")
	}
	missing("AddReviewEvent", func(ctx context.Context, tx rampart.Tx) error {
		_, err := tx.AddReviewEvent(ctx, 9999, approved)
		return err
	})
	missing("AddPushCheck", func(ctx context.Context, tx rampart.Tx) error {
		_, err := tx.AddPushCheck(ctx, &rampart.PushCheck{ProjectID: 9999, Branch: "main", Commit: revHead, DueAt: at(0), CreatedAt: at(0)})
		return err
	})
	missing("AddViolation", func(ctx context.Context, tx rampart.Tx) error {
		_, err := tx.AddViolation(ctx, &rampart.Violation{ProjectID: 9999, Kind: rampart.ViolationUnreviewedPush, Ref: "refs/heads/main", Commit: revHead, CreatedAt: at(0)})
		return err
	})

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		pr42 := []*rampart.ReviewEvent{opened, updated, approved, merged}
		// By merge commit, by head and by an earlier head: the whole pull request, in order.
		for _, c := range []string{revMerge, revHead, revOlder} {
			es, err := tx.ReviewEvents(ctx, web.ID, c)
			if err != nil {
				return err
			}
			wantEqual(t, "ReviewEvents of "+c, es, pr42)
		}
		es, err := tx.ReviewEvents(ctx, web.ID, revSHA256)
		if err != nil {
			return err
		}
		wantEqual(t, "ReviewEvents of the GitLab commit", es, []*rampart.ReviewEvent{gitlab})
		if es, err = tx.ReviewEvents(ctx, web.ID, revOther); err != nil {
			return err
		}
		wantEqual(t, "ReviewEvents of a commit of two pull requests", es, []*rampart.ReviewEvent{unrelated, otherRepo})
		if es, err = tx.ReviewEvents(ctx, api.ID, revMerge); err != nil {
			return err
		}
		if len(es) != 0 {
			t.Errorf("ReviewEvents of the merge in project api: %d events, want none", len(es))
		}
		if es, err = tx.ReviewEvents(ctx, web.ID, ""); err != nil || len(es) != 0 {
			t.Errorf("ReviewEvents of no commit: %v, %v", es, err)
		}
		recent, err := tx.ListReviewEvents(ctx, web.ID, 2)
		if err != nil {
			return err
		}
		wantEqual(t, "ListReviewEvents, newest first", recent, []*rampart.ReviewEvent{otherRepo, unrelated})
		all, err := tx.ListReviewEvents(ctx, web.ID, 0)
		if err != nil {
			return err
		}
		if len(all) != 7 {
			t.Errorf("ListReviewEvents: %d events, want 7", len(all))
		}
		return nil
	})

	// Push checks: one pending check per branch and commit, taken once.
	c1 := &rampart.PushCheck{ProjectID: web.ID, Branch: "main", Commit: revOther, Pusher: "mallory", DueAt: at(time.Minute), CreatedAt: at(0)}
	c2 := &rampart.PushCheck{ProjectID: api.ID, Branch: "release/1.x", Commit: revHead, DueAt: at(30 * time.Second), CreatedAt: at(0)}
	c3 := &rampart.PushCheck{ProjectID: web.ID, Branch: "main", Commit: revHead, DueAt: at(time.Hour), CreatedAt: at(0)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, c := range []*rampart.PushCheck{c1, c2, c3} {
			if added, err := tx.AddPushCheck(ctx, c); err != nil || !added || c.ID == 0 {
				t.Errorf("AddPushCheck %s: added %v, id %d, %v", c.Commit, added, c.ID, err)
			}
		}
		dup := *c1
		dup.ID, dup.DueAt = 0, at(2*time.Minute)
		if added, err := tx.AddPushCheck(ctx, &dup); err != nil || added {
			t.Errorf("AddPushCheck of a pending push again: added %v, %v", added, err)
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		due, err := tx.DuePushChecks(ctx, at(time.Minute), 0)
		if err != nil {
			return err
		}
		wantEqual(t, "DuePushChecks, soonest first", due, []*rampart.PushCheck{c2, c1})
		if due, err = tx.DuePushChecks(ctx, at(2*time.Hour), 1); err != nil {
			return err
		}
		wantEqual(t, "DuePushChecks with a limit", due, []*rampart.PushCheck{c2})
		if due, err = tx.DuePushChecks(ctx, at(0), 0); err != nil || len(due) != 0 {
			t.Errorf("DuePushChecks before any is due: %v, %v", due, err)
		}
		return nil
	})
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.DeletePushCheck(ctx, c1.ID); err != nil {
			return err
		}
		wantCode(t, "DeletePushCheck twice", tx.DeletePushCheck(ctx, c1.ID), rampart.ENOTFOUND)
		// Once done, the same push may be checked again.
		again := *c1
		again.ID = 0
		if added, err := tx.AddPushCheck(ctx, &again); err != nil || !added {
			t.Errorf("AddPushCheck after the check was done: added %v, %v", added, err)
		}
		return nil
	})

	// Violations: one per kind, ref and commit; listed newest first, per project.
	v1 := &rampart.Violation{ProjectID: web.ID, Kind: rampart.ViolationUnreviewedPush, Ref: "refs/heads/main", Commit: revOther,
		Detail: "commit pushed without review evidence", CreatedAt: at(time.Minute)}
	v2 := &rampart.Violation{ProjectID: web.ID, Kind: rampart.ViolationUnreviewedPush, Ref: "refs/heads/release/1.x", Commit: revOther,
		Detail: "another branch", CreatedAt: at(2 * time.Minute)}
	v3 := &rampart.Violation{ProjectID: api.ID, Kind: rampart.ViolationUnreviewedPush, Ref: "refs/heads/main", Commit: revOther,
		Detail: "another project", CreatedAt: at(3 * time.Minute)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, v := range []*rampart.Violation{v1, v2, v3} {
			if added, err := tx.AddViolation(ctx, v); err != nil || !added || v.ID == 0 {
				t.Errorf("AddViolation %s: added %v, id %d, %v", v.Ref, added, v.ID, err)
			}
		}
		dup := *v1
		dup.ID, dup.Detail = 0, "delivered again"
		if added, err := tx.AddViolation(ctx, &dup); err != nil || added || dup.ID != 0 {
			t.Errorf("AddViolation again: added %v, id %d, %v", added, dup.ID, err)
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		vs, err := tx.ListViolations(ctx, web.ID, 0)
		if err != nil {
			return err
		}
		wantEqual(t, "ListViolations", vs, []*rampart.Violation{v2, v1})
		if vs, err = tx.ListViolations(ctx, web.ID, 1); err != nil {
			return err
		}
		wantEqual(t, "ListViolations with a limit", vs, []*rampart.Violation{v2})
		if vs, err = tx.ListViolations(ctx, api.ID, 0); err != nil {
			return err
		}
		wantEqual(t, "ListViolations of api", vs, []*rampart.Violation{v3})
		return nil
	})
}
