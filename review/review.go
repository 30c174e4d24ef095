// Package review keeps the review evidence that git hosts send in their webhooks — who approved
// (or asked for changes on, or withdrew an approval of) which commit of which pull request, and
// which pull requests were merged as which commits — and answers from it the question of the
// deploy gate's require-review rule: is this commit covered by an approving review from
// someone other than the pull request's author, and if not, why not (see Service.Covered).
//
// It also watches the branches that environments requiring review deploy from: a push of a
// commit that no evidence covers is recorded as a policy violation and audited (CheckPush).
// Because a host may deliver the webhook of the merge that made a commit after the webhook of
// the push, that check waits a grace period, as a row in the store that any server's
// Background loop picks up when it is due, also after a restart.
//
// Evidence is only as good as the webhook signature it came with: the server records it only
// after forge.Verify, and a body delivered twice (a redelivery, a replay) is stored once.
package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/pipeline"
)

// DefaultGrace is how long the server waits after a push to a protected branch before it
// checks the pushed commit's review evidence: long enough for a merge webhook that GitHub
// delivers after the push's, short enough that a violation shows up while people still
// remember the push.
const DefaultGrace = 30 * time.Second

// Config is what a Service needs. Store is required.
type Config struct {
	Store rampart.Store
	// Grace is how long after a push to a protected branch its review evidence is checked
	// (servers use DefaultGrace). Zero checks at once, within CheckPush.
	Grace time.Duration
	// Every is how often Background looks for push checks that are due; 0 means 5 seconds.
	Every time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives the errors of Background; nil discards them.
	Logger *slog.Logger
}

// Service records review evidence, judges whether commits are covered by it, and checks
// pushes to protected branches. It is safe for concurrent use, and several servers may run
// it on one database.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Every <= 0 {
		cfg.Every = 5 * time.Second
	}
	return &Service{cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// Record stores e, evidence from a verified webhook of project p, with an audit entry
// "review.record" by actor (the webhook, e.g. "webhook:github") in the same transaction. An
// event the project has already (the same body delivered again) changes nothing and is not
// audited again. It returns EINVALID when e does not pass rampart.ReviewEvent.Validate.
func (s *Service) Record(ctx context.Context, actor *rampart.Actor, p *rampart.Project, e *rampart.ReviewEvent) error {
	if e == nil {
		return rampart.Errorf(rampart.EINVALID, "no review event")
	}
	if err := e.Validate(); err != nil {
		return err
	}
	now := s.now()
	return s.cfg.Store.Update(ctx, func(tx rampart.Tx) error {
		added, err := tx.AddReviewEvent(ctx, p.ID, e)
		if err != nil || !added {
			return err
		}
		ev := audit.Event(actor, "review.record", "project:"+p.Name, rampart.ResultSuccess)
		ev.Detail = Describe(e)
		return audit.Append(ctx, tx, ev, now)
	})
}

// Describe says in one line what e records, e.g. "github pull request #42: approved by
// octocat at commit b7e1c2d3a4f5 (author hubot)".
func Describe(e *rampart.ReviewEvent) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s pull request #%d: ", e.Host, e.Number)
	switch e.Kind {
	case rampart.ReviewApproved:
		fmt.Fprintf(&b, "approved by %s at commit %s", e.Reviewer, short(e.CommitSHA))
	case rampart.ReviewChangesRequested:
		fmt.Fprintf(&b, "changes requested by %s at commit %s", e.Reviewer, short(e.CommitSHA))
	case rampart.ReviewDismissed:
		if e.Actor != "" && !strings.EqualFold(e.Actor, e.Reviewer) {
			fmt.Fprintf(&b, "approval by %s dismissed by %s", e.Reviewer, e.Actor)
		} else {
			fmt.Fprintf(&b, "approval by %s withdrawn", e.Reviewer)
		}
		if e.ReviewID != 0 {
			fmt.Fprintf(&b, " (review %d)", e.ReviewID)
		}
	case rampart.PullRequestOpened:
		fmt.Fprintf(&b, "opened with head %s", short(e.CommitSHA))
	case rampart.PullRequestUpdated:
		fmt.Fprintf(&b, "new head %s", short(e.CommitSHA))
	case rampart.PullRequestMerged:
		if e.MergeCommitSHA != "" {
			fmt.Fprintf(&b, "merged into %s as commit %s from head %s", e.BaseBranch, short(e.MergeCommitSHA), short(e.CommitSHA))
		} else {
			fmt.Fprintf(&b, "fast-forwarded %s to head %s", e.BaseBranch, short(e.CommitSHA))
		}
		if e.Actor != "" {
			fmt.Fprintf(&b, " by %s", e.Actor)
		}
	default:
		b.WriteString(e.Kind)
	}
	if e.CommitInferred {
		b.WriteString(" (the commit is the head when the host sent the webhook)")
	}
	if author := authorName(e); author != "" {
		fmt.Fprintf(&b, " (author %s)", author)
	}
	return b.String()
}

// authorName names the pull request's author of e: the login, else the host's id.
func authorName(e *rampart.ReviewEvent) string {
	switch {
	case e.Author != "":
		return e.Author
	case e.AuthorID != 0:
		return fmt.Sprintf("id %d", e.AuthorID)
	}
	return ""
}

// Covered implements deploy.Reviews: it reports, from the evidence of project projectID read
// in tx, whether commit is covered by an approving review from someone other than the author
// of the pull request it came through; why, in words, in either case; and the logins of the
// authors of the pull requests commit came through, who may not approve its deployment. See
// Judge for the rules.
func (s *Service) Covered(ctx context.Context, tx rampart.Tx, projectID int64, commit string) (covered bool, why string, prAuthors []string, err error) {
	commit = strings.ToLower(commit)
	if !rampart.IsCommitSHA(commit) {
		return false, fmt.Sprintf("%.80q is not a full commit SHA, so no review evidence can name it", commit), nil, nil
	}
	events, err := tx.ReviewEvents(ctx, projectID, commit)
	if err != nil {
		return false, "", nil, err
	}
	v := Judge(commit, events)
	return v.Covered, v.Why, v.PRAuthors, nil
}

// Reviews returns the review evidence of commit in project p and whether it covers the commit;
// with commit "" it returns the project's 100 most recent events instead, newest first. It
// returns EINVALID for a commit that is not a full SHA.
func (s *Service) Reviews(ctx context.Context, p *rampart.Project, commit string) (*rampart.ReviewCoverage, error) {
	if commit == "" {
		out := &rampart.ReviewCoverage{Events: []*rampart.ReviewEvent{}}
		err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
			es, err := tx.ListReviewEvents(ctx, p.ID, 100)
			if es != nil {
				out.Events = es
			}
			return err
		})
		return out, err
	}
	commit = strings.ToLower(commit)
	if !rampart.IsCommitSHA(commit) {
		return nil, rampart.Errorf(rampart.EINVALID, "%.80q is not a full commit SHA", commit).
			WithDetail("give the full 40- or 64-character commit id, e.g. from `git rev-parse HEAD`")
	}
	var out *rampart.ReviewCoverage
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		es, err := tx.ReviewEvents(ctx, p.ID, commit)
		if err != nil {
			return err
		}
		out = Judge(commit, es)
		return nil
	})
	return out, err
}

// Violations returns the policy violations of project p, newest first: at most limit, and 100
// when limit is 0 or less.
func (s *Service) Violations(ctx context.Context, p *rampart.Project, limit int) ([]*rampart.Violation, error) {
	if limit <= 0 {
		limit = 100
	}
	out := []*rampart.Violation{}
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		vs, err := tx.ListViolations(ctx, p.ID, limit)
		if vs != nil {
			out = vs
		}
		return err
	})
	return out, err
}

// Protected returns the names of p's environments that require review and deploy from branch
// (one of their Branches patterns matches it); none means the branch is not protected. An
// environment that requires review but names no branches protects none: it would make every
// push to every branch a violation.
func (s *Service) Protected(ctx context.Context, tx rampart.Tx, p *rampart.Project, branch string) ([]string, error) {
	envs, err := tx.ListEnvironments(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range envs {
		if !e.Protection.RequireReview {
			continue
		}
		for _, pat := range e.Protection.Branches {
			if pipeline.MatchGlob(pat, branch) {
				names = append(names, e.Name)
				break
			}
		}
	}
	return names, nil
}

// CheckPush checks a push of commit to branch of project p, by pusher (the host's login, or
// ""), as a verified push webhook reported it. When the branch is protected (see Protected)
// and, Grace later, no review evidence covers the commit, it records a Violation of kind
// rampart.ViolationUnreviewedPush with an audit entry "policy.violation" (result denied). With
// a Grace the check is stored and made by Background (or Sweep) when due; without, at once.
// Pushes to branches nothing protects, and tag pushes (which have no branch), change nothing.
func (s *Service) CheckPush(ctx context.Context, p *rampart.Project, branch, commit, pusher string) error {
	commit = strings.ToLower(commit)
	if branch == "" || !rampart.IsCommitSHA(commit) {
		return rampart.Errorf(rampart.EINVALID, "push check needs a branch and a full commit SHA, got %.80q and %.80q", branch, commit)
	}
	var protected []string
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		protected, err = s.Protected(ctx, tx, p, branch)
		return err
	}); err != nil || len(protected) == 0 {
		return err
	}
	if len(pusher) > 100 || strings.ContainsFunc(pusher, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		pusher = "" // shown in violations and the audit log: no forged lines, no floods
	}
	now := s.now()
	c := &rampart.PushCheck{ProjectID: p.ID, Branch: branch, Commit: commit, Pusher: pusher, DueAt: now.Add(s.cfg.Grace), CreatedAt: now}
	if s.cfg.Grace <= 0 {
		return s.check(ctx, c, false)
	}
	return s.cfg.Store.Update(ctx, func(tx rampart.Tx) error {
		_, err := tx.AddPushCheck(ctx, c)
		return err
	})
}

// Sweep makes the push checks that are due. Each check is taken and made in one transaction,
// so that of several servers sweeping one database exactly one makes it.
func (s *Service) Sweep(ctx context.Context) error {
	var due []*rampart.PushCheck
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		due, err = tx.DuePushChecks(ctx, s.now(), 100)
		return err
	}); err != nil {
		return err
	}
	var errs []error
	for _, c := range due {
		if ctx.Err() != nil {
			break
		}
		if err := s.check(ctx, c, true); err != nil {
			errs = append(errs, fmt.Errorf("review check of %s at %s: %w", c.Branch, short(c.Commit), err))
		}
	}
	return errors.Join(errs...)
}

// Background sweeps due push checks every Config.Every until ctx ends, starting at once so
// that checks which came due while no server ran are made first.
func (s *Service) Background(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.Every)
	defer tick.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("review checks of pushes", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// check judges the pushed commit of c and records a violation when no evidence covers it.
// A pending check is deleted in the same transaction; one another server took is skipped.
func (s *Service) check(ctx context.Context, c *rampart.PushCheck, pending bool) error {
	return s.cfg.Store.Update(ctx, func(tx rampart.Tx) error {
		if pending {
			err := tx.DeletePushCheck(ctx, c.ID)
			if rampart.ErrorCode(err) == rampart.ENOTFOUND {
				return nil
			} else if err != nil {
				return err
			}
		}
		covered, why, _, err := s.Covered(ctx, tx, c.ProjectID, c.Commit)
		if err != nil || covered {
			return err
		}
		p, err := tx.ProjectByID(ctx, c.ProjectID)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return nil // deleted meanwhile
		} else if err != nil {
			return err
		}
		by := ""
		if c.Pusher != "" {
			by = " by " + c.Pusher
		}
		now := s.now()
		v := &rampart.Violation{
			ProjectID: c.ProjectID, Kind: rampart.ViolationUnreviewedPush, Ref: "refs/heads/" + c.Branch, Commit: c.Commit,
			Detail: fmt.Sprintf("commit %s was pushed to protected branch %s%s without review evidence: %s",
				short(c.Commit), c.Branch, by, why),
			CreatedAt: now,
		}
		added, err := tx.AddViolation(ctx, v)
		if err != nil || !added {
			return err
		}
		ev := audit.Event(rampart.SystemActor(), "policy.violation", "project:"+p.Name, rampart.ResultDenied)
		ev.Detail = v.Kind + ": " + v.Detail
		return audit.Append(ctx, tx, ev, now)
	})
}

// short abbreviates a commit SHA for messages.
func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
