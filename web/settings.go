package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/rbac"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
)

type membersData struct {
	Members []*rampart.Member
	Roles   []string
}

func (ui *UI) handleMembers(w http.ResponseWriter, r *http.Request) error {
	p, members, err := ui.cfg.Projects.Get(r.Context(), actorOf(r), r.PathValue("project"))
	if err != nil {
		return err
	}
	pg, err := ui.newPage(r, p.Name+" · Members", p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Members", membersData{Members: members, Roles: rampart.ProjectRoles()}
	return ui.render(w, http.StatusOK, "members", pg)
}

func membersURL(project string) string { return "/projects/" + url.PathEscape(project) + "/members" }

// handleMemberSet adds a member or changes their role; the project service checks
// member.manage and audits.
func (ui *UI) handleMemberSet(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("project")
	back := membersURL(name)
	user, err := formValue(r, "user", 64)
	if err != nil {
		return withBack(err, back)
	}
	if user == "" {
		return withBack(rampart.Errorf(rampart.EINVALID, "give the user's name").WithDetail("type the user name of an existing account"), back)
	}
	role, err := formValue(r, "role", 32)
	if err != nil {
		return withBack(err, back)
	}
	if _, err := ui.cfg.Projects.AddMember(r.Context(), actorOf(r), name, user, role); err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=member-set")
}

func (ui *UI) handleMemberRemove(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("project")
	back := membersURL(name)
	if err := ui.cfg.Projects.RemoveMember(r.Context(), actorOf(r), name, r.PathValue("user")); err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=member-removed")
}

type secretsData struct {
	Secrets []*rampart.Secret
	Org     bool
	Action  string // where the form posts
	Name    string // the name the form is filled in with (rotate links)
	Env     string
}

// secretsURL is the secrets page of a project, or of the organisation when project is "".
func secretsURL(project string) string {
	if project == "" {
		return "/settings/secrets"
	}
	return "/projects/" + url.PathEscape(project) + "/secrets"
}

// handleSecrets lists secrets' metadata — never values, which the vault does not hand out —
// with a form that sets a new value (a new version) for those who may write.
func (ui *UI) handleSecrets(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("project")
	var (
		p    *rampart.Project
		list []*rampart.Secret
		err  error
	)
	if name != "" {
		if p, err = ui.project(r, rbac.SecretRead); err != nil {
			return err
		}
		list, err = ui.cfg.Vault.List(r.Context(), actorOf(r), secrets.ListFilter{Project: name})
	} else {
		list, err = ui.cfg.Vault.List(r.Context(), actorOf(r), secrets.ListFilter{Scope: rampart.ScopeOrg})
	}
	if err != nil {
		return err
	}
	q := r.URL.Query()
	d := secretsData{Secrets: list, Org: p == nil, Action: secretsURL(name), Name: q.Get("name"), Env: q.Get("environment")}
	title := "Organisation secrets"
	if p != nil {
		title = p.Name + " · Secrets"
	}
	pg, err := ui.newPage(r, title, p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Secrets", d
	return ui.render(w, http.StatusOK, "secrets", pg)
}

func secretRef(r *http.Request, name, env string) secrets.SecretRef {
	if p := r.PathValue("project"); p != "" {
		return secrets.SecretRef{Project: p, Environment: env, Name: name}
	}
	return secrets.SecretRef{Scope: rampart.ScopeOrg, Name: name}
}

// handleSecretSet stores a value as a secret's next version. The vault checks the permission,
// validates, encrypts and audits (without the value).
func (ui *UI) handleSecretSet(w http.ResponseWriter, r *http.Request) error {
	back := secretsURL(r.PathValue("project"))
	name, err := formValue(r, "name", 128)
	if err != nil {
		return withBack(err, back)
	}
	env, err := formValue(r, "environment", 64)
	if err != nil {
		return withBack(err, back)
	}
	value := []byte(r.PostFormValue("value"))
	_, err = ui.cfg.Vault.Set(r.Context(), actorOf(r), secretRef(r, name, env), value)
	clear(value)
	if err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=secret-set")
}

func (ui *UI) handleSecretDelete(w http.ResponseWriter, r *http.Request) error {
	back := secretsURL(r.PathValue("project"))
	env, err := formValue(r, "environment", 64)
	if err != nil {
		return withBack(err, back)
	}
	if err := ui.cfg.Vault.Delete(r.Context(), actorOf(r), secretRef(r, r.PathValue("name"), env)); err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=secret-deleted")
}

// onlineWithin is how recently an agent must have asked for work to count as online: agents
// long-poll at least every half minute.
const onlineWithin = 90 * time.Second

type agentJob struct {
	Project string
	Run     int64
	Job     *rampart.Job
}

type agentRow struct {
	Agent  *rampart.Agent
	Online bool
	Jobs   []agentJob
}

type agentsData struct {
	Agents   []agentRow
	Tokens   []*rampart.AgentToken
	NewToken string
	NewInfo  *rampart.AgentToken
	TTLs     []string
}

var tokenTTLs = []string{"10m", "1h", "24h"}

// handleAgents lists the agents — online or not, labels, the jobs they run — and the
// registration tokens.
func (ui *UI) handleAgents(w http.ResponseWriter, r *http.Request) error {
	return ui.renderAgents(w, r, http.StatusOK, "", nil)
}

func (ui *UI) renderAgents(w http.ResponseWriter, r *http.Request, status int, newToken string, info *rampart.AgentToken) error {
	ctx := r.Context()
	if err := rbac.Check(auth.Subject(actorOf(r)), rbac.AgentList, rbac.Resource{}); err != nil {
		return err
	}
	d := agentsData{NewToken: newToken, NewInfo: info, TTLs: tokenTTLs}
	now := ui.cfg.Now()
	err := ui.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		agents, err := tx.ListAgents(ctx)
		if err != nil {
			return err
		}
		names := map[int64]string{}
		runs := map[int64]int64{}
		for _, a := range agents {
			row := agentRow{Agent: a, Online: !a.Disabled && a.LastSeenAt != nil && now.Sub(*a.LastSeenAt) < onlineWithin}
			jobs, err := tx.RunningJobsOfAgent(ctx, a.ID)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				if _, ok := names[j.ProjectID]; !ok {
					p, err := tx.ProjectByID(ctx, j.ProjectID)
					if err != nil {
						return err
					}
					names[j.ProjectID] = p.Name
				}
				if _, ok := runs[j.RunID]; !ok {
					run, err := tx.RunByID(ctx, j.RunID)
					if err != nil {
						return err
					}
					runs[j.RunID] = run.Number
				}
				row.Jobs = append(row.Jobs, agentJob{Project: names[j.ProjectID], Run: runs[j.RunID], Job: j})
			}
			d.Agents = append(d.Agents, row)
		}
		d.Tokens, err = tx.ListAgentTokens(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if len(d.Tokens) > 50 {
		d.Tokens = d.Tokens[:50]
	}
	pg, err := ui.newPage(r, "Agents", nil)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Agents", d
	return ui.render(w, status, "agents", pg)
}

// handleAgentTokenCreate makes a single-use registration token and shows it once.
func (ui *UI) handleAgentTokenCreate(w http.ResponseWriter, r *http.Request) error {
	actor := actorOf(r)
	if err := rbac.Check(auth.Subject(actor), rbac.AgentManage, rbac.Resource{}); err != nil {
		return err
	}
	back := "/settings/agents"
	labelText, err := formValue(r, "labels", 1000)
	if err != nil {
		return withBack(err, back)
	}
	ttlText := r.PostFormValue("ttl")
	if !slices.Contains(tokenTTLs, ttlText) {
		return withBack(rampart.Errorf(rampart.EINVALID, "choose how long the token stays valid").WithDetail("pick one of %s", strings.Join(tokenTTLs, ", ")), back)
	}
	ttl, _ := time.ParseDuration(ttlText)
	labels := strings.FieldsFunc(labelText, func(r rune) bool { return r == ',' || r == ' ' })
	secret, info, err := ui.cfg.Scheduler.CreateAgentToken(r.Context(), actor, labels, ttl)
	if err != nil {
		return withBack(err, back)
	}
	return ui.renderAgents(w, r, http.StatusCreated, secret, info)
}

// handleAgentUpdate disables or enables an agent, or sets its labels.
func (ui *UI) handleAgentUpdate(w http.ResponseWriter, r *http.Request) error {
	actor := actorOf(r)
	if err := rbac.Check(auth.Subject(actor), rbac.AgentManage, rbac.Resource{}); err != nil {
		return err
	}
	back := "/settings/agents"
	var u scheduler.AgentUpdate
	switch r.PostFormValue("action") {
	case "disable", "enable":
		b := r.PostFormValue("action") == "disable"
		u.Disabled = &b
	case "labels":
		text, err := formValue(r, "labels", 1000)
		if err != nil {
			return withBack(err, back)
		}
		labels := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' })
		u.Labels = &labels
	default:
		return withBack(rampart.Errorf(rampart.EINVALID, "say what to change").WithDetail("use the Disable, Enable or Save labels button"), back)
	}
	if _, err := ui.cfg.Scheduler.UpdateAgent(r.Context(), actor, r.PathValue("agent"), u); err != nil {
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			err = rampart.Errorf(rampart.ENOTFOUND, "agent %q not found", r.PathValue("agent")).WithDetail("see the list of agents")
		}
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=agent-updated")
}

func (ui *UI) handleUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := ui.cfg.Auth.ListUsers(r.Context(), actorOf(r))
	if err != nil {
		return err
	}
	pg, err := ui.newPage(r, "Users", nil)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Users", users
	return ui.render(w, http.StatusOK, "users", pg)
}

// Paging of the audit page: a page holds auditPerPage matching events, found by reading the
// chain backwards auditBatch at a time, and at most auditScan events per request, so that a
// filter matching nothing in a long log still answers quickly (with a link to search on).
const (
	auditPerPage = 50
	auditBatch   = 500
	auditScan    = 20000
)

type auditFilter struct {
	Actor, Action, Target, Result string
}

func (f auditFilter) match(e *rampart.AuditEvent) bool {
	return (f.Actor == "" || strings.EqualFold(e.Actor, f.Actor)) &&
		(f.Action == "" || strings.HasPrefix(e.Action, f.Action)) &&
		(f.Target == "" || strings.Contains(e.Target, f.Target)) &&
		(f.Result == "" || e.Result == f.Result)
}

func (f auditFilter) query() string {
	v := url.Values{}
	for k, s := range map[string]string{"actor": f.Actor, "action": f.Action, "target": f.Target, "result": f.Result} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v.Encode()
}

type auditData struct {
	Events              []*rampart.AuditEvent
	Filter              auditFilter
	Query               string // the filter as a query string
	NewestURL, OlderURL string
	Results             []string
	Head                int64
	Before              int64 // the page ends below this sequence number; 0 for the newest
	Older               int64 // before= of the next page; 0 when the search reached the first event
	Searched            int64 // the search stopped at this event without filling the page
	Report              *audit.Report
}

// handleAudit shows the audit log, newest first, filtered by actor, action (a prefix such as
// "auth." or "finding.waive"), target (a substring) and result, and — with ?verify=1 — the
// result of verifying the whole hash chain.
func (ui *UI) handleAudit(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	if err := rbac.Check(auth.Subject(actorOf(r)), rbac.AuditRead, rbac.Resource{}); err != nil {
		return err
	}
	q := r.URL.Query()
	d := auditData{
		Filter:  auditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), Target: strings.TrimSpace(q.Get("target")), Result: q.Get("result")},
		Results: []string{rampart.ResultSuccess, rampart.ResultDenied, rampart.ResultFailure},
	}
	d.Query = d.Filter.query()
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return rampart.Errorf(rampart.EINVALID, "bad page cursor %q", v).WithDetail("follow the Older link instead of editing the address")
		}
		d.Before = n
	}
	err := ui.cfg.Store.View(ctx, func(tx rampart.Tx) error {
		head, _, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		d.Head = head
		before := head + 1
		if d.Before != 0 {
			before = min(d.Before, before)
		}
		var scanned int64
		for before > 1 && len(d.Events) < auditPerPage {
			if scanned >= auditScan {
				d.Searched = before
				break
			}
			lo := max(before-1-auditBatch, 0)
			page, err := tx.ListAudit(ctx, rampart.AuditFilter{AfterSeq: lo, Limit: int(before - 1 - lo)})
			if err != nil {
				return err
			}
			for i := len(page) - 1; i >= 0 && len(d.Events) < auditPerPage; i-- {
				e := page[i]
				before = e.Seq
				scanned++
				if d.Filter.match(e) {
					d.Events = append(d.Events, e)
				}
			}
			if len(page) == 0 {
				before = lo + 1
				if lo == 0 {
					break
				}
			}
		}
		if before > 1 {
			d.Older = before
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.NewestURL = "/settings/audit"
	if d.Query != "" {
		d.NewestURL += "?" + d.Query
	}
	if d.Older != 0 {
		v, _ := url.ParseQuery(d.Query)
		v.Set("before", strconv.FormatInt(d.Older, 10))
		d.OlderURL = "/settings/audit?" + v.Encode()
	}
	if q.Get("verify") == "1" {
		if d.Report, err = audit.Verify(ctx, ui.cfg.Store); err != nil {
			return err
		}
	}
	pg, err := ui.newPage(r, "Audit log", nil)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Audit log", d
	return ui.render(w, http.StatusOK, "audit", pg)
}
