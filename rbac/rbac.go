// Package rbac decides who may do what: roles map to permissions in one table, and Can is the
// single check every service calls. It is pure — no I/O — so the table can be tested exhaustively
// and the same decision is made wherever it is asked. Anything not granted is denied.
package rbac

import (
	"slices"

	"github.com/rampart-ci/rampart"
)

// Action is something a subject may be allowed to do.
type Action string

// Actions. The comment on each says which resource it applies to.
const (
	// Organisation-wide.
	UserList     Action = "user.list"
	UserCreate   Action = "user.create"
	UserDisable  Action = "user.disable"
	UserPassword Action = "user.password" // set another user's password; your own is always allowed
	// UserIdentity links a user to their git and git-host identities, which separation of
	// duties reads: admins only, so that no one unlinks themselves from their own commits.
	UserIdentity  Action = "user.identity"
	TokenCreate   Action = "token.create" // for yourself
	TokenList     Action = "token.list"   // your own; admins and security see every user's
	TokenRevoke   Action = "token.revoke" // your own; admins may revoke anyone's
	ProjectCreate Action = "project.create"
	ProjectList   Action = "project.list" // lists what ProjectRead allows
	AuditRead     Action = "audit.read"   // list, verify and export the audit log
	AgentManage   Action = "agent.manage" // registration tokens, agent labels, disabling agents
	AgentList     Action = "agent.list"
	// SecretWriteOrg sets and deletes organisation secrets, which every project's jobs can see.
	SecretWriteOrg Action = "secret.write_org"
	// VaultRotate re-wraps every data key of the vault under a new key-encryption key.
	VaultRotate Action = "vault.rotate"

	// Per project.
	ProjectRead   Action = "project.read"
	ProjectUpdate Action = "project.update"
	MemberManage  Action = "member.manage"
	RunCreate     Action = "run.create"
	RunCancel     Action = "run.cancel"
	RunRead       Action = "run.read"
	FindingWaive  Action = "finding.waive" // waive a finding of any project: the security role only
	// SecretRead reads the metadata of a project's secrets (names, versions, who, when) and, as
	// an organisation role, of organisation secrets too. No action reads a value: values go only
	// to jobs.
	SecretRead Action = "secret.read"
	// SecretWrite sets and deletes a project's and its environments' secrets.
	SecretWrite Action = "secret.write"
	// EnvManage creates environments and sets their protection rules.
	EnvManage Action = "env.manage"
	// DeployApprove approves or rejects a deployment. An environment's rules narrow it further
	// (production: release managers and admins; its approver list; never the change's authors).
	DeployApprove Action = "deploy.approve"
	// DeployRelease starts a manual release (a manual run or a rollback) to a production-like
	// environment.
	DeployRelease Action = "deploy.release"
	// DeployRollback redeploys an environment's previous good deployment.
	DeployRollback Action = "deploy.rollback"
)

// grant says who holds an action: organisation roles anywhere, project roles within their
// project. Self marks actions every signed-in user may take on resources they own.
type grant struct {
	org     []string
	project []string
	self    bool
	read    bool // allowed under the viewer ceiling
}

var (
	allProject = []string{rampart.RoleViewer, rampart.RoleDeveloper, rampart.RoleMaintainer, rampart.RoleReleaseManager}
	runners    = []string{rampart.RoleDeveloper, rampart.RoleMaintainer, rampart.RoleReleaseManager}
	admin      = []string{rampart.RoleAdmin}
	adminSec   = []string{rampart.RoleAdmin, rampart.RoleSecurity}
	everyone   = []string{rampart.RoleAdmin, rampart.RoleSecurity, rampart.RoleMember}
)

// table is the whole policy. Tests walk it; keep it the only place permissions are written down.
var table = map[Action]grant{
	UserList:       {org: adminSec, read: true},
	UserCreate:     {org: admin},
	UserDisable:    {org: admin},
	UserPassword:   {org: admin, self: true},
	UserIdentity:   {org: admin},
	TokenCreate:    {org: everyone},
	TokenList:      {org: adminSec, self: true, read: true},
	TokenRevoke:    {org: admin, self: true},
	ProjectCreate:  {org: admin},
	ProjectList:    {org: everyone, read: true},
	AuditRead:      {org: adminSec, read: true},
	AgentManage:    {org: admin},
	AgentList:      {org: adminSec, read: true},
	SecretWriteOrg: {org: admin},
	VaultRotate:    {org: admin},

	ProjectRead:    {org: adminSec, project: allProject, read: true},
	ProjectUpdate:  {org: admin, project: []string{rampart.RoleMaintainer}},
	MemberManage:   {org: admin, project: []string{rampart.RoleMaintainer}},
	RunCreate:      {org: admin, project: runners},
	RunCancel:      {org: admin, project: runners},
	RunRead:        {org: adminSec, project: allProject, read: true},
	SecretRead:     {org: adminSec, project: []string{rampart.RoleMaintainer, rampart.RoleReleaseManager}, read: true},
	SecretWrite:    {org: admin, project: []string{rampart.RoleMaintainer}},
	FindingWaive:   {org: []string{rampart.RoleSecurity}},
	EnvManage:      {org: admin, project: []string{rampart.RoleMaintainer}},
	DeployApprove:  {org: adminSec, project: []string{rampart.RoleMaintainer, rampart.RoleReleaseManager}},
	DeployRelease:  {org: admin, project: []string{rampart.RoleReleaseManager}},
	DeployRollback: {org: admin, project: []string{rampart.RoleMaintainer, rampart.RoleReleaseManager}},
}

// Subject is who asks: their organisation role, their role in the resource's project (empty
// when not a member or when the resource has no project) and the ceiling of the token they used.
type Subject struct {
	UserID      int64
	Role        string // organisation role
	ProjectRole string // role in the resource's project, if any
	Scope       string // token ceiling: admin, security, member or viewer; "" means none
	Internal    bool   // Rampart itself
}

// Resource is what an action is taken on. OwnerID is the user a user-owned resource (a token,
// a password) belongs to; 0 when there is none.
type Resource struct {
	OwnerID int64
}

// Can reports whether s may take action a on r. Unknown actions, unknown roles and unknown
// scopes are denied.
func Can(s Subject, a Action, r Resource) bool {
	if s.Internal {
		return true
	}
	g, ok := table[a]
	if !ok || !rampart.IsOrgRole(s.Role) {
		return false
	}
	s, ok = applyCeiling(s)
	if !ok {
		return false
	}
	if s.Scope == rampart.RoleViewer && !g.read {
		return false
	}
	if slices.Contains(g.org, s.Role) {
		return true
	}
	if s.ProjectRole != "" && slices.Contains(g.project, s.ProjectRole) {
		return true
	}
	return g.self && s.UserID != 0 && r.OwnerID == s.UserID
}

// orgRank orders organisation roles for ceilings.
var orgRank = map[string]int{rampart.RoleMember: 1, rampart.RoleSecurity: 2, rampart.RoleAdmin: 3}

// applyCeiling lowers s's roles to its token scope: the organisation role becomes the lower of
// the two, and a viewer ceiling caps project roles at viewer and allows only reading.
func applyCeiling(s Subject) (Subject, bool) {
	switch s.Scope {
	case "":
		return s, true
	case rampart.RoleViewer:
		s.Role = rampart.RoleMember
		if s.ProjectRole != "" {
			s.ProjectRole = rampart.RoleViewer
		}
		return s, true
	case rampart.RoleAdmin, rampart.RoleSecurity, rampart.RoleMember:
		if orgRank[s.Scope] < orgRank[s.Role] {
			s.Role = s.Scope
		}
		return s, true
	}
	return s, false
}

// ValidScope reports whether scope may be given to a token.
func ValidScope(scope string) bool {
	return scope == rampart.RoleViewer || rampart.IsOrgRole(scope)
}

// Actions returns every action in the table, sorted.
func Actions() []Action {
	out := make([]Action, 0, len(table))
	for a := range table {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// IsProjectAction reports whether a is taken on a project, so that callers must look up the
// subject's role in that project before asking Can.
func IsProjectAction(a Action) bool { return len(table[a].project) > 0 }

// Check is Can as an error: nil when allowed, otherwise an EFORBIDDEN error that names the
// action and who holds it, so that the user knows whom to ask.
func Check(s Subject, a Action, r Resource) error {
	if Can(s, a, r) {
		return nil
	}
	return rampart.Errorf(rampart.EFORBIDDEN, "permission denied: %s", a).WithDetail("%s", Holders(a))
}

// Holders describes in words who holds action a.
func Holders(a Action) string {
	g, ok := table[a]
	if !ok {
		return "no role holds this action"
	}
	var parts []string
	if len(g.org) > 0 {
		parts = append(parts, "organisation role "+joinOr(g.org))
	}
	if len(g.project) > 0 {
		parts = append(parts, "project role "+joinOr(g.project))
	}
	if g.self {
		parts = append(parts, "the owner")
	}
	return "allowed for " + joinOr(parts) + "; ask an admin for access"
}

func joinOr(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	out := xs[0]
	for _, x := range xs[1 : len(xs)-1] {
		out += ", " + x
	}
	return out + " or " + xs[len(xs)-1]
}
