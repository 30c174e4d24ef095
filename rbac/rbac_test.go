package rbac

import (
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

// want is the policy written out a second time, as a person would state it, so that a change to
// the table that grants more than this must be made twice, on purpose.
var want = map[Action]struct {
	org     string // organisation roles that hold the action everywhere
	project string // project roles that hold it within their project
	self    bool
}{
	UserList:       {"admin security", "", false},
	UserCreate:     {"admin", "", false},
	UserDisable:    {"admin", "", false},
	UserPassword:   {"admin", "", true},
	UserIdentity:   {"admin", "", false},
	TokenCreate:    {"admin security member", "", false},
	TokenList:      {"admin security", "", true},
	TokenRevoke:    {"admin", "", true},
	ProjectCreate:  {"admin", "", false},
	ProjectList:    {"admin security member", "", false},
	AuditRead:      {"admin security", "", false},
	AgentManage:    {"admin", "", false},
	AgentList:      {"admin security", "", false},
	ProjectRead:    {"admin security", "viewer developer maintainer release-manager", false},
	ProjectUpdate:  {"admin", "maintainer", false},
	MemberManage:   {"admin", "maintainer", false},
	RunCreate:      {"admin", "developer maintainer release-manager", false},
	RunCancel:      {"admin", "developer maintainer release-manager", false},
	RunRead:        {"admin security", "viewer developer maintainer release-manager", false},
	SecretRead:     {"admin security", "maintainer release-manager", false},
	SecretWrite:    {"admin", "maintainer", false},
	SecretWriteOrg: {"admin", "", false},
	VaultRotate:    {"admin", "", false},
	FindingWaive:   {"security", "", false},
	EnvManage:      {"admin", "maintainer", false},
	DeployApprove:  {"admin security", "maintainer release-manager", false},
	DeployRelease:  {"admin", "release-manager", false},
	DeployRollback: {"admin", "maintainer release-manager", false},
}

func has(list, role string) bool { return role != "" && strings.Contains(" "+list+" ", " "+role+" ") }

// TestCanMatchesPolicy walks every action × organisation role × project role × ownership and
// fails if Can grants anything the written policy does not, or refuses anything it grants.
func TestCanMatchesPolicy(t *testing.T) {
	if len(want) != len(table) {
		t.Fatalf("policy lists %d actions, table has %d: write every new action into both", len(want), len(table))
	}
	projectRoles := append([]string{""}, rampart.ProjectRoles()...)
	for _, a := range Actions() {
		w, ok := want[a]
		if !ok {
			t.Fatalf("action %s is in the table but not in the written policy", a)
		}
		for _, org := range rampart.OrgRoles() {
			for _, pr := range projectRoles {
				for _, own := range []bool{false, true} {
					s := Subject{UserID: 7, Role: org, ProjectRole: pr}
					r := Resource{OwnerID: 8}
					if own {
						r.OwnerID = 7
					}
					exp := has(w.org, org) || has(w.project, pr) || (w.self && own)
					if got := Can(s, a, r); got != exp {
						t.Errorf("Can(org=%s project=%q own=%v, %s) = %v, want %v", org, pr, own, a, got, exp)
					}
				}
			}
		}
	}
}

func TestDenyByDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Subject
		a    Action
	}{
		{"unknown action", Subject{Role: rampart.RoleAdmin}, Action("user.delete-everything")},
		{"no role", Subject{}, ProjectRead},
		{"unknown org role", Subject{Role: "root"}, UserCreate},
		{"project role as org role", Subject{Role: rampart.RoleMaintainer}, ProjectUpdate},
		{"unknown project role", Subject{Role: rampart.RoleMember, ProjectRole: "owner"}, ProjectRead},
		{"unknown scope", Subject{Role: rampart.RoleAdmin, Scope: "superuser"}, ProjectRead},
		{"self without user id", Subject{Role: rampart.RoleMember}, TokenRevoke},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if Can(tc.s, tc.a, Resource{}) {
				t.Fatalf("Can(%+v, %s) = true, want false", tc.s, tc.a)
			}
		})
	}
}

// TestScopeIsACeiling attacks token scopes: a scope never adds a permission, and lowers the
// holder's to the scope's.
func TestScopeIsACeiling(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Subject
		a    Action
		want bool
	}{
		{"admin with member scope cannot create users", Subject{UserID: 1, Role: "admin", Scope: "member"}, UserCreate, false},
		{"admin with member scope cannot read audit", Subject{UserID: 1, Role: "admin", Scope: "member"}, AuditRead, false},
		{"admin with security scope reads audit", Subject{UserID: 1, Role: "admin", Scope: "security"}, AuditRead, true},
		{"admin with security scope cannot create projects", Subject{UserID: 1, Role: "admin", Scope: "security"}, ProjectCreate, false},
		{"member with admin scope stays member", Subject{UserID: 1, Role: "member", Scope: "admin"}, UserCreate, false},
		{"member with security scope stays member", Subject{UserID: 1, Role: "member", Scope: "security"}, AuditRead, false},
		{"viewer scope reads project", Subject{UserID: 1, Role: "member", ProjectRole: "maintainer", Scope: "viewer"}, ProjectRead, true},
		{"viewer scope cannot start runs", Subject{UserID: 1, Role: "member", ProjectRole: "developer", Scope: "viewer"}, RunCreate, false},
		{"viewer scope cannot manage members", Subject{UserID: 1, Role: "admin", ProjectRole: "maintainer", Scope: "viewer"}, MemberManage, false},
		{"viewer scope cannot create tokens", Subject{UserID: 1, Role: "admin", Scope: "viewer"}, TokenCreate, false},
		{"viewer scope cannot revoke own token", Subject{UserID: 1, Role: "admin", Scope: "viewer"}, TokenRevoke, false},
		{"admin viewer scope cannot read audit", Subject{UserID: 1, Role: "admin", Scope: "viewer"}, AuditRead, false},
		{"member scope keeps project role", Subject{UserID: 1, Role: "admin", ProjectRole: "developer", Scope: "member"}, RunCreate, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Resource{OwnerID: 1}
			if got := Can(tc.s, tc.a, r); got != tc.want {
				t.Fatalf("Can(%+v, %s) = %v, want %v", tc.s, tc.a, got, tc.want)
			}
		})
	}
}

func TestCheckSaysWhoHoldsIt(t *testing.T) {
	err := Check(Subject{UserID: 1, Role: rampart.RoleMember}, UserCreate, Resource{})
	if rampart.ErrorCode(err) != rampart.EFORBIDDEN {
		t.Fatalf("code = %q, want forbidden", rampart.ErrorCode(err))
	}
	if d := rampart.ErrorDetail(err); !strings.Contains(d, "admin") {
		t.Fatalf("detail %q does not name the role that holds the action", d)
	}
	if Check(Subject{UserID: 1, Role: rampart.RoleAdmin}, UserCreate, Resource{}) != nil {
		t.Fatal("admin refused user.create")
	}
}
