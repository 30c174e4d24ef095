package web

import (
	"context"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/rbac"
	"github.com/rampart-ci/rampart/review"
)

// Deployment pages: what is deployed where, the approval page of one deployment, the rules of
// an environment, and the approvals waiting for the viewer. Every action they offer is decided
// by deploy.Service — rbac, production rules, approver lists, separation of duties — which also
// audits it; the pages only show what it would allow.

const (
	// envRecent is how many deployments of each environment the deployments page lists.
	envRecent = 5
	// envScan is how far back the deployments page looks for an environment's current
	// deployment (its latest successful one).
	envScan = 50
	// historyPerPage and historyMax bound the history of the environment page.
	historyPerPage = 25
	historyMax     = 500
	// changesShown bounds the commits the approval page lists.
	changesShown = 20
	// dashboardPending bounds the pending approvals on the dashboard.
	dashboardPending = 10
	// gitTimeout bounds reading commits for a page.
	gitTimeout = 15 * time.Second
)

func deploymentsURL(project string) string {
	return "/projects/" + url.PathEscape(project) + "/deployments"
}

func deploymentURL(project string, id int64) string {
	return fmt.Sprintf("/projects/%s/deployments/%d", url.PathEscape(project), id)
}

func envURL(project, env string) string {
	return "/projects/" + url.PathEscape(project) + "/environments/" + url.PathEscape(env)
}

// envRow is one environment on the deployments page.
type envRow struct {
	Env       *rampart.Environment
	Rules     string
	Current   *rampart.Deployment // the latest successful deployment: what runs there now
	Approvers []string            // who approved Current
	Recent    []*rampart.Deployment
}

type deploymentsData struct {
	Envs    []*envRow
	Waiting []*rampart.Deployment
}

// currentOf is what runs in an environment now, from its history.
func currentOf(ds []*rampart.Deployment) *rampart.Deployment {
	cur, _ := deploy.Deployed(ds)
	return cur
}

// approvers names who approved d, in the order they did.
func approvers(d *rampart.Deployment) []string {
	if d == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range d.Approvals {
		if a.Approve && !seen[a.User] {
			seen[a.User] = true
			out = append(out, a.User)
		}
	}
	return out
}

// handleDeployments shows a project's environments — their rules in words, what is deployed on
// each, their latest deployments — and the deployments waiting for approval.
func (ui *UI) handleDeployments(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	es, err := ui.cfg.Deploy.Environments(ctx, p)
	if err != nil {
		return err
	}
	var d deploymentsData
	for _, e := range es {
		_, ds, err := ui.cfg.Deploy.History(ctx, p, e.Name, envScan)
		if err != nil {
			return err
		}
		row := &envRow{Env: e, Rules: deploy.Describe(e.Protection), Current: currentOf(ds), Recent: ds[:min(envRecent, len(ds))]}
		row.Approvers = approvers(row.Current)
		d.Envs = append(d.Envs, row)
	}
	pending, err := ui.cfg.Deploy.Pending(ctx, actorOf(r))
	if err != nil {
		return err
	}
	for _, dep := range pending {
		if dep.ProjectID == p.ID {
			d.Waiting = append(d.Waiting, dep)
		}
	}
	pg, err := ui.newPage(r, p.Name+" · Deployments", p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Deployments", d
	return ui.render(w, http.StatusOK, "deployments", pg)
}

// protectionForm is an environment's rules as the protection form shows them.
type protectionForm struct {
	Approvers, Branches, Tags, Windows string
}

type environmentData struct {
	Env      *rampart.Environment
	Rules    string
	Current  *rampart.Deployment
	Previous *rampart.Deployment // what a rollback would redeploy; nil when there is nothing
	History  []*rampart.Deployment
	More     int // the limit= of the next, longer page; 0 when the history is complete
	Form     protectionForm
	Roles    []string // the role names an approver list may use
}

// handleEnvironment shows one environment: its rules (a form for those who manage them), what
// is deployed there and what a rollback would redeploy, and its history.
func (ui *UI) handleEnvironment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	limit := historyPerPage
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return rampart.Errorf(rampart.EINVALID, "bad limit %q", v).WithDetail("follow the Show more link instead of editing the address")
		}
		limit = min(limit, historyMax)
	}
	e, ds, err := ui.cfg.Deploy.History(ctx, p, r.PathValue("env"), limit+1)
	if err != nil {
		return err
	}
	d := environmentData{Env: e, Rules: deploy.Describe(e.Protection), History: ds,
		Roles: []string{rampart.RoleReleaseManager, rampart.RoleMaintainer, rampart.RoleSecurity, rampart.RoleAdmin}}
	if len(ds) > limit {
		d.History = ds[:limit]
		if limit < historyMax {
			d.More = min(limit*4, historyMax)
		}
	}
	// What is deployed now and what a rollback would go back to, as deploy.Rollback chooses.
	d.Current, d.Previous = deploy.Deployed(ds)
	pr := e.Protection
	d.Form = protectionForm{Approvers: strings.Join(pr.Approvers, ", "), Branches: strings.Join(pr.Branches, ", "),
		Tags: strings.Join(pr.Tags, ", "), Windows: strings.Join(pr.Windows, "\n")}
	pg, err := ui.newPage(r, p.Name+" · "+e.Name, p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Deployments", d
	return ui.render(w, http.StatusOK, "environment", pg)
}

// approvalRow is a decision on the approval page, with whether it still counts.
type approvalRow struct {
	A      *rampart.Approval
	Counts bool
	Why    string // why it no longer counts
}

type deploymentData struct {
	D        *rampart.Deployment
	Env      *rampart.Environment
	Rules    string
	Run      *rampart.Run
	JobNames map[int64]string

	// Commit is the deployed commit; Changes are the commits since the environment's current
	// deployment, newest first (the deployed commit alone when there is none). CommitNote says
	// why they are missing.
	Commit       *rampart.Commit
	Changes      []*rampart.Commit
	MoreChanges  int // commits not listed
	TotalChanges int
	CommitNote   string
	Since        string // the commit of the current deployment that Changes start after
	Reviews      *rampart.ReviewCoverage
	ReviewEvents []string
	ReviewNote   string

	Results  []*rampart.ScanResult
	Findings int
	Open     int
	Counts   []severityCount

	ArtifactsSum string
	Approvals    []approvalRow
	Approved     int // distinct approvers whose approval counts
	// Cannot says why the viewer may not decide this deployment, as far as the page knows —
	// permission, production, approver list, separation of duties; "" offers the form. The
	// server decides regardless.
	Cannot string
}

// handleDeployment is the approval page: the change a deployment would ship — commit, author,
// review evidence, gate results, findings, artifacts — what it waits for, the decisions so far,
// and, for those who may decide, approve and reject with a required comment.
func (ui *UI) handleDeployment(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	dep, err := ui.cfg.Deploy.Deployment(ctx, p, id)
	if err != nil {
		return err
	}
	d := deploymentData{D: dep, JobNames: map[int64]string{}, ArtifactsSum: deploy.ArtifactsSum(dep.Artifacts)}
	es, err := ui.cfg.Deploy.Environments(ctx, p)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.ID == dep.EnvironmentID {
			d.Env, d.Rules = e, deploy.Describe(e.Protection)
		}
	}
	if d.Env == nil {
		return fmt.Errorf("environment %d of deployment %d is missing", dep.EnvironmentID, dep.ID)
	}
	run, jobs, err := ui.cfg.Scheduler.Run(ctx, p, dep.RunNumber)
	if err != nil {
		return err
	}
	d.Run = run
	for _, j := range jobs {
		d.JobNames[j.ID] = j.Name
	}
	if d.Results, err = ui.cfg.Findings.ScanResults(ctx, run); err != nil {
		return err
	}
	fs, err := ui.cfg.Findings.List(ctx, run)
	if err != nil {
		return err
	}
	d.Findings = len(fs)
	counts := map[string]int{}
	var order []string
	for _, f := range fs {
		if f.Waived {
			continue
		}
		d.Open++
		if counts[f.Severity] == 0 {
			order = append(order, f.Severity)
		}
		counts[f.Severity]++
	}
	for _, s := range order {
		d.Counts = append(d.Counts, severityCount{Severity: s, Open: counts[s]})
	}

	if err := ui.changes(ctx, p, dep, &d); err != nil {
		return err
	}
	if err := ui.reviewEvidence(ctx, p, dep, &d); err != nil {
		return err
	}

	now := ui.cfg.Now()
	counted := map[string]bool{}
	for _, a := range dep.Approvals {
		row := approvalRow{A: a, Counts: true}
		switch {
		case !now.Before(a.ExpiresAt):
			row.Counts, row.Why = false, "expired"
		case a.Commit != dep.Commit:
			row.Counts, row.Why = false, "made on another commit"
		case a.ArtifactsSum != d.ArtifactsSum:
			row.Counts, row.Why = false, "made on another set of artifacts"
		}
		if row.Counts && a.Approve {
			counted[a.User] = true
		}
		d.Approvals = append(d.Approvals, row)
	}
	d.Approved = len(counted)

	pg, err := ui.newPage(r, fmt.Sprintf("%s · Deployment %d", p.Name, dep.ID), p)
	if err != nil {
		return err
	}
	d.Cannot = cannotDecide(pg, p, dep, d.Env, run, d.Changes, d.Reviews)
	pg.Tab, pg.Data = "Deployments", d
	return ui.render(w, http.StatusOK, "deployment", pg)
}

// changes reads the deployed commit and the commits since the environment's current deployment
// from git, when the server's repository reader can. A repository that cannot be read leaves a
// note instead of failing the page: the rest of the evidence still matters.
func (ui *UI) changes(ctx context.Context, p *rampart.Project, dep *rampart.Deployment, d *deploymentData) error {
	commits, ok := ui.cfg.Repo.(deploy.Commits)
	if !ok {
		d.CommitNote = "This server cannot read commits, so the commit's author and message are not shown."
		return nil
	}
	_, history, err := ui.cfg.Deploy.History(ctx, p, dep.Environment, envScan)
	if err != nil {
		return err
	}
	for _, h := range history {
		if h.ID != dep.ID && h.Status == rampart.DeploySucceeded && h.Commit != dep.Commit {
			d.Since = h.Commit
			break
		}
	}
	gctx, cancel := context.WithTimeout(ctx, gitTimeout)
	defer cancel()
	cs, err := commits.Commits(gctx, p.RepoURL, d.Since, dep.Commit)
	if err != nil && d.Since != "" {
		// The earlier commit may be gone after a force-push: show the deployed commit alone.
		d.Since = ""
		cs, err = commits.Commits(gctx, p.RepoURL, "", dep.Commit)
	}
	if err != nil {
		ui.logger.Warn("approval page: cannot read commits", "project", p.Name, "deployment", dep.ID, "err", err)
		d.CommitNote = "The commit could not be read from the repository, so its author and message are not shown."
		return nil
	}
	for _, c := range cs {
		if strings.EqualFold(c.SHA, dep.Commit) {
			d.Commit = c
		}
	}
	d.Changes, d.TotalChanges = cs, len(cs)
	if len(cs) > changesShown {
		d.Changes, d.MoreChanges = cs[:changesShown], len(cs)-changesShown
	}
	return nil
}

// reviewEvidence reads what the git host said about the deployed commit's review.
func (ui *UI) reviewEvidence(ctx context.Context, p *rampart.Project, dep *rampart.Deployment, d *deploymentData) error {
	if ui.cfg.Reviews == nil {
		d.ReviewNote = "This server records no review evidence from the git host."
		return nil
	}
	cov, err := ui.cfg.Reviews.Reviews(ctx, p, dep.Commit)
	if rampart.ErrorCode(err) == rampart.EINVALID {
		d.ReviewNote = rampart.ErrorMessage(err)
		return nil
	} else if err != nil {
		return err
	}
	d.Reviews = cov
	for _, e := range cov.Events {
		d.ReviewEvents = append(d.ReviewEvents, review.Describe(e))
	}
	return nil
}

// cannotDecide says why the viewer of pg may not decide dep, checking what
// deploy.Service.Decide checks in the same order; "" when nothing the page knows stops them.
func cannotDecide(pg *page, p *rampart.Project, dep *rampart.Deployment, env *rampart.Environment, run *rampart.Run, commits []*rampart.Commit, cov *rampart.ReviewCoverage) string {
	if dep.Status != rampart.DeployWaiting {
		return ""
	}
	if !pg.Can(string(rbac.DeployApprove)) {
		return fmt.Sprintf("you may not approve or reject deployments in %s: maintainers and release managers of the project may, and admins (and the security role, for a security fix)", p.Name)
	}
	if why := excludedBecause(pg.Actor, run, commits, cov); why != "" {
		return why + " (separation of duties: no one approves their own change)"
	}
	rules := env.Protection
	fastLane := dep.SecurityFix && pg.Can(string(rbac.FindingWaive))
	if rules.Production && !fastLane && !pg.Can(string(rbac.DeployRelease)) {
		return fmt.Sprintf("%s is production: only release managers and admins approve its deployments (the security role too, for a security fix)", env.Name)
	}
	if len(rules.Approvers) > 0 && !fastLane && !listedApprover(rules.Approvers, pg.Actor.Name, pg.sub) {
		return fmt.Sprintf("the approvers of %s are %s", env.Name, strings.Join(rules.Approvers, ", "))
	}
	return ""
}

// listedApprover reports whether an approver list names the user or one of their roles, as
// deploy.Service.Decide reads it.
func listedApprover(list []string, name string, sub rbac.Subject) bool {
	for _, a := range list {
		if u, ok := strings.CutPrefix(a, "user:"); ok {
			if strings.EqualFold(u, name) {
				return true
			}
		} else if a == sub.ProjectRole || a == sub.Role {
			return true
		}
	}
	return false
}

// excludedBecause says why actor may not decide a deployment of run with these commits under
// separation of duties — they started the run, wrote or committed one of the commits, or
// authored its pull request — matched the way deploy.Service.Decide matches (user name against
// the git name, e-mail address and its local part, ignoring case). It is a courtesy that spares
// a refused form; Decide is the control and may know more.
func excludedBecause(actor *rampart.Actor, run *rampart.Run, commits []*rampart.Commit, cov *rampart.ReviewCoverage) string {
	if actor == nil || run == nil {
		return ""
	}
	name := strings.ToLower(actor.Name)
	if starter, _, _ := strings.Cut(run.TriggeredBy, " "); strings.EqualFold(starter, name) {
		return fmt.Sprintf("you started run #%d", run.Number)
	}
	person := func(n, email string) bool {
		if strings.EqualFold(n, name) || strings.EqualFold(email, name) {
			return true
		}
		if a, err := mail.ParseAddress(email); err == nil {
			email = a.Address
		}
		local, _, ok := strings.Cut(email, "@")
		return ok && strings.EqualFold(local, name)
	}
	for _, c := range commits {
		switch {
		case person(c.AuthorName, c.AuthorEmail):
			return "you wrote commit " + shortSHA(c.SHA)
		case person(c.CommitterName, c.CommitterEmail):
			return "you committed " + shortSHA(c.SHA)
		}
	}
	if cov != nil {
		for _, a := range cov.PRAuthors {
			if strings.EqualFold(a, name) {
				return "you authored the pull request of this commit"
			}
		}
	}
	return ""
}

// handleDecide approves or rejects a deployment. deploy.Service.Decide checks everything —
// deploy.approve, production, the approver list, separation of duties, the comment — and
// audits; a refusal comes back as a page that names why.
func (ui *UI) handleDecide(approve bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := ui.project(r, rbac.RunRead)
		if err != nil {
			return err
		}
		id, err := pathInt(r, "id")
		if err != nil {
			return err
		}
		back := deploymentURL(p.Name, id)
		comment, err := formValue(r, "comment", 2000)
		if err != nil {
			return withBack(err, back)
		}
		if _, err := ui.cfg.Deploy.Decide(r.Context(), actorOf(r), p, id, approve, comment); err != nil {
			return withBack(err, back)
		}
		done := "approved"
		if !approve {
			done = "rejected"
		}
		return seeOther(w, r, back+"?done="+done)
	}
}

// handleEnvCreate adds an environment; deploy.Service checks env.manage, validates the name and
// audits. The environment page it leads to asks for its rules.
func (ui *UI) handleEnvCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	back := deploymentsURL(p.Name)
	name, err := formValue(r, "name", 64)
	if err != nil {
		return withBack(err, back)
	}
	e, err := ui.cfg.Deploy.CreateEnvironment(r.Context(), actorOf(r), p, name)
	if err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, envURL(p.Name, e.Name)+"?done=env-created#rules")
}

// handleEnvProtect replaces an environment's rules with those of the form, which has a field
// for every rule: a rule left empty is a rule removed.
func (ui *UI) handleEnvProtect(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	env := r.PathValue("env")
	back := envURL(p.Name, env)
	prot, err := protectionOf(r)
	if err != nil {
		return withBack(err, back+"#rules")
	}
	if _, err := ui.cfg.Deploy.Protect(r.Context(), actorOf(r), p, env, prot); err != nil {
		return withBack(err, back+"#rules")
	}
	return seeOther(w, r, back+"?done=env-protected")
}

// protectionOf reads the protection form. deploy.Service validates the values; this only turns
// text into numbers and lists.
func protectionOf(r *http.Request) (rampart.Protection, error) {
	var prot rampart.Protection
	number := func(field, what string) (int, error) {
		v, err := formValue(r, field, 16)
		if err != nil || v == "" {
			return 0, err
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, rampart.Errorf(rampart.EINVALID, "%s %q is not a whole number", what, v).WithDetail("write a number such as 0, 1 or 2")
		}
		return n, nil
	}
	list := func(field string, sep func(rune) bool) ([]string, error) {
		v, err := formValue(r, field, 4000)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range strings.FieldsFunc(v, sep) {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out, nil
	}
	commas := func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' }
	lines := func(r rune) bool { return r == '\n' || r == '\r' || r == ';' }
	var err error
	if prot.RequiredApprovals, err = number("required_approvals", "required approvals"); err != nil {
		return prot, err
	}
	if prot.WaitSeconds, err = number("wait_seconds", "wait timer"); err != nil {
		return prot, err
	}
	if prot.ApprovalTTLSeconds, err = number("approval_ttl_seconds", "approval lifetime"); err != nil {
		return prot, err
	}
	if prot.Approvers, err = list("approvers", commas); err != nil {
		return prot, err
	}
	if prot.Branches, err = list("branches", commas); err != nil {
		return prot, err
	}
	if prot.Tags, err = list("tags", commas); err != nil {
		return prot, err
	}
	if prot.Windows, err = list("windows", lines); err != nil {
		return prot, err
	}
	prot.Production = r.PostFormValue("production") != ""
	prot.RequireGate = r.PostFormValue("require_gate") != ""
	prot.RequireReview = r.PostFormValue("require_review") != ""
	return prot, nil
}

// handleRollback redeploys the environment's previous good deployment in a new run, which goes
// through the environment's rules again; deploy.Service checks deploy.rollback (and, for
// production, deploy.release) and audits.
func (ui *UI) handleRollback(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	env := r.PathValue("env")
	run, _, err := ui.cfg.Deploy.Rollback(r.Context(), actorOf(r), p, env, ui.cfg.Scheduler)
	if err != nil {
		return withBack(err, envURL(p.Name, env))
	}
	return seeOther(w, r, runURL(p.Name, run.Number)+"?done=rollback")
}

// pendingRow is a waiting deployment with whether the viewer holds deploy.approve in its
// project (the environment's rules may still narrow who decides).
type pendingRow struct {
	D         *rampart.Deployment
	MayDecide bool
}

// pending returns the waiting deployments actor can see, oldest first; with mine, only those in
// projects where actor holds deploy.approve.
func (ui *UI) pending(ctx context.Context, actor *rampart.Actor, mine bool) ([]pendingRow, error) {
	if ui.cfg.Deploy == nil {
		return nil, nil
	}
	ds, err := ui.cfg.Deploy.Pending(ctx, actor)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	may := map[int64]bool{}
	err = ui.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		for _, d := range ds {
			if _, ok := may[d.ProjectID]; ok {
				continue
			}
			sub := auth.Subject(actor)
			if actor.UserID != 0 {
				role, err := tx.MemberRole(ctx, d.ProjectID, actor.UserID)
				if err != nil {
					return err
				}
				sub.ProjectRole = role
			}
			may[d.ProjectID] = rbac.Can(sub, rbac.DeployApprove, rbac.Resource{})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []pendingRow
	for _, d := range ds {
		if !mine || may[d.ProjectID] {
			out = append(out, pendingRow{D: d, MayDecide: may[d.ProjectID]})
		}
	}
	return out, nil
}

// handlePending lists the deployments waiting in every project the viewer can read.
func (ui *UI) handlePending(w http.ResponseWriter, r *http.Request) error {
	rows, err := ui.pending(r.Context(), actorOf(r), false)
	if err != nil {
		return err
	}
	pg, err := ui.newPage(r, "Pending approvals", nil)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Approvals", rows
	return ui.render(w, http.StatusOK, "pending", pg)
}
