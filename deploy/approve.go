package deploy

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/rbac"
)

// Decide records actor's approval (approve true) or rejection of a waiting deployment of
// project p, bound to the commit and artifact set the deployment has now, and evaluates the
// deployment at once. The environment's rules decide who may: production takes release
// managers and admins (and, for a security fix, the security role); an approver list narrows it
// further; and whoever started the run, wrote one of the commits being deployed or authored the
// pull request may not, whatever their role. A comment is required.
func (s *Service) Decide(ctx context.Context, actor *rampart.Actor, p *rampart.Project, id int64, approve bool, comment string) (*rampart.Deployment, error) {
	target := fmt.Sprintf("deployment:%d", id)
	action := "deploy.approve"
	if !approve {
		action = "deploy.reject"
	}
	sub, err := s.authorize(ctx, actor, p, rbac.DeployApprove, target)
	if err != nil {
		return nil, err
	}
	comment = strings.TrimSpace(comment)
	if len(comment) < 3 || len(comment) > 2000 {
		return nil, rampart.Errorf(rampart.EINVALID, "a decision needs a comment of 3 to 2000 characters").
			WithDetail("say what you checked, e.g. --comment \"release notes reviewed, canary green\"")
	}
	d, err := s.Deployment(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if d.Status != rampart.DeployWaiting {
		return nil, rampart.Errorf(rampart.ECONFLICT, "deployment %d is %s", id, d.Status).WithDetail("only waiting deployments can be approved or rejected")
	}
	// Who wrote and started the change: read from git before any transaction.
	excluded, err := s.authors(ctx, p, d)
	if err != nil {
		return nil, err
	}
	deny := func(why string) error {
		err := rampart.Errorf(rampart.EFORBIDDEN, "you cannot decide deployment %d: %s", id, why)
		return audit.Denied(ctx, s.cfg.Store, actor, action, target, err, s.now())
	}
	// Who the approver is in git: their user name and the identities an admin linked to them.
	names := []string{actor.Name}
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		ids, err := tx.UserIdentities(ctx, actor.UserID)
		names = append(names, ids...)
		return err
	}); err != nil {
		return nil, err
	}
	if who, ok := excluded.matchAny(names); ok {
		return nil, deny(fmt.Sprintf("you %s (separation of duties: no one approves their own change)", who))
	}
	var env *rampart.Environment
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		env, err = tx.EnvironmentByName(ctx, p.ID, d.Environment)
		if err != nil {
			return err
		}
		if s.cfg.Reviews != nil {
			_, _, prAuthors, err := s.cfg.Reviews.Covered(ctx, tx, p.ID, d.Commit)
			if err != nil {
				return err
			}
			for _, a := range prAuthors {
				excluded.add(a, "authored the pull request of commit "+short(d.Commit))
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if who, ok := excluded.matchAny(names); ok {
		return nil, deny(fmt.Sprintf("you %s (separation of duties: no one approves their own change)", who))
	}
	rules := env.Protection
	isSecurity := rbac.Can(sub, rbac.FindingWaive, rbac.Resource{}) // the security role, within its token's ceiling
	fastLane := d.SecurityFix && isSecurity
	role := sub.ProjectRole
	if role == "" || sub.Role == rampart.RoleAdmin {
		role = sub.Role
	}
	if fastLane {
		role = rampart.RoleSecurity
	}
	if rules.Production && !fastLane && !rbac.Can(sub, rbac.DeployRelease, rbac.Resource{}) {
		return nil, deny(fmt.Sprintf("%s is production: only release managers and admins approve its deployments (the security role too, for a security fix)", env.Name))
	}
	if len(rules.Approvers) > 0 && !fastLane && !listed(rules.Approvers, actor.Name, sub) {
		return nil, deny(fmt.Sprintf("the approvers of %s are %s", env.Name, strings.Join(rules.Approvers, ", ")))
	}

	now := s.now()
	ttl := time.Duration(rules.ApprovalTTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = DefaultApprovalTTL
	}
	a := &rampart.Approval{DeploymentID: d.ID, UserID: actor.UserID, User: actor.Name, Role: role, Approve: approve, Comment: comment,
		Commit: d.Commit, ArtifactsSum: ArtifactsSum(d.Artifacts), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.cfg.Store.Update(ctx, func(tx rampart.Tx) error {
		cur, err := tx.DeploymentByID(ctx, d.ID)
		if err != nil {
			return err
		}
		if cur.Status != rampart.DeployWaiting {
			return rampart.Errorf(rampart.ECONFLICT, "deployment %d is %s", id, cur.Status).WithDetail("only waiting deployments can be approved or rejected")
		}
		if cur.Commit != a.Commit || ArtifactsSum(cur.Artifacts) != a.ArtifactsSum {
			return rampart.Errorf(rampart.ECONFLICT, "deployment %d changed while you decided", id).WithDetail("look at it again and decide on what it is now")
		}
		if err := tx.AddApproval(ctx, a); err != nil {
			return err
		}
		ev := audit.Event(actor, action, target, rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("env=%s commit=%s artifacts=%s role=%s comment=%q", d.Environment, d.Commit, a.ArtifactsSum[:16], role, comment)
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return nil, err
	}
	released, err := s.evaluate(ctx, d)
	if err != nil {
		return nil, err
	}
	if released {
		s.cfg.Released()
	}
	return s.Deployment(ctx, p, id)
}

// listed reports whether an approver list names the user or one of their roles.
func listed(approvers []string, name string, sub rbac.Subject) bool {
	for _, a := range approvers {
		if u, ok := strings.CutPrefix(a, "user:"); ok {
			if strings.EqualFold(u, name) {
				return true
			}
			continue
		}
		if a == sub.ProjectRole || a == sub.Role {
			return true
		}
	}
	return false
}

// identities maps the names of the people behind a change to what they did.
type identities map[string]string

func (ids identities) add(name, what string) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name != "" && ids[name] == "" {
		ids[name] = what
	}
}

// addPerson adds a git identity: its name, its e-mail address and the address's local part,
// since Rampart user names are often one of those.
func (ids identities) addPerson(name, email, what string) {
	ids.add(name, what)
	ids.add(email, what)
	if a, err := mail.ParseAddress(email); err == nil {
		email = a.Address
	}
	if local, _, ok := strings.Cut(email, "@"); ok {
		ids.add(local, what)
	}
}

func (ids identities) match(user string) (string, bool) {
	what, ok := ids[strings.ToLower(user)]
	return what, ok
}

// matchAny reports what the first of names that took part in the change did.
func (ids identities) matchAny(names []string) (string, bool) {
	for _, n := range names {
		if what, ok := ids.match(n); ok {
			return what, true
		}
	}
	return "", false
}

// authors returns who may not decide deployment d: whoever started its run, and the authors and
// committers of the commits it deploys — those since the environment's last successful
// deployment, or the deployed commit alone when there is none.
func (s *Service) authors(ctx context.Context, p *rampart.Project, d *rampart.Deployment) (identities, error) {
	ids := identities{}
	var (
		run  *rampart.Run
		prev string
	)
	err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		if run, err = tx.RunByID(ctx, d.RunID); err != nil {
			return err
		}
		history, err := tx.ListDeployments(ctx, d.EnvironmentID, 50)
		if err != nil {
			return err
		}
		for _, h := range history {
			if h.ID != d.ID && h.Status == rampart.DeploySucceeded && h.Commit != d.Commit {
				prev = h.Commit
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids.add(starter(run), "started run #"+fmt.Sprint(run.Number))
	if s.cfg.Commits == nil {
		return nil, rampart.Errorf(rampart.EUNAVAILABLE, "this server cannot read commits, so it cannot check who wrote the change")
	}
	commits, err := s.cfg.Commits.Commits(ctx, p.RepoURL, prev, d.Commit)
	if err != nil && prev != "" {
		// The previous commit may be gone after a force-push: judge the deployed commit alone.
		commits, err = s.cfg.Commits.Commits(ctx, p.RepoURL, "", d.Commit)
	}
	if err != nil {
		return nil, fmt.Errorf("read the commits of deployment %d: %w", d.ID, err)
	}
	for _, c := range commits {
		ids.addPerson(c.AuthorName, c.AuthorEmail, "wrote commit "+short(c.SHA))
		ids.addPerson(c.CommitterName, c.CommitterEmail, "committed "+short(c.SHA))
	}
	return ids, nil
}

// RunStarter starts runs; the scheduler implements it.
type RunStarter interface {
	// StartRollback starts a run at the commit of deployment d that has only d's job, deploying
	// d's artifacts.
	StartRollback(ctx context.Context, actor *rampart.Actor, p *rampart.Project, d *rampart.Deployment) (*rampart.Run, error)
}

// Rollback redeploys the environment's previous good deployment — the successful one before the
// latest successful one — in a new run that goes through the environment's rules again.
func (s *Service) Rollback(ctx context.Context, actor *rampart.Actor, p *rampart.Project, env string, runs RunStarter) (*rampart.Run, *rampart.Deployment, error) {
	target := fmt.Sprintf("environment:%s/%s", p.Name, env)
	if _, err := s.authorize(ctx, actor, p, rbac.DeployRollback, target); err != nil {
		return nil, nil, err
	}
	// Bring deployments up to date with their jobs first: one that just finished counts.
	if err := s.Evaluate(ctx); err != nil {
		return nil, nil, err
	}
	e, history, err := s.History(ctx, p, env, 200)
	if err != nil {
		return nil, nil, err
	}
	if e.Protection.Production {
		if _, err := s.authorize(ctx, actor, p, rbac.DeployRelease, target); err != nil {
			return nil, nil, err
		}
	}
	current, previous := Deployed(history)
	if previous == nil {
		return nil, nil, rampart.Errorf(rampart.EPRECONDITION, "%s has no earlier successful deployment to roll back to", env).
			WithDetail("`rampart deploy history %s %s` lists its deployments", p.Name, env)
	}
	run, err := runs.StartRollback(ctx, actor, p, previous)
	if err != nil {
		return nil, nil, err
	}
	ev := audit.Event(actor, "deploy.rollback", target, rampart.ResultSuccess)
	ev.Detail = fmt.Sprintf("to deployment %d (commit %s) in run #%d; current %d (commit %s)", previous.ID, previous.Commit, run.Number, current.ID, current.Commit)
	if err := s.cfg.Store.Update(ctx, func(tx rampart.Tx) error { return audit.Append(ctx, tx, ev, s.now()) }); err != nil {
		return nil, nil, err
	}
	return run, previous, nil
}
