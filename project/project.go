// Package project manages projects — the repositories Rampart builds — and who works in them with
// which role. It checks permissions with rbac and audits every change in the same transaction.
package project

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/rbac"
)

// Service manages projects and members. It is safe for concurrent use.
type Service struct {
	store rampart.Store
	now   func() time.Time
}

// New returns a Service on store; now defaults to time.Now.
func New(store rampart.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidName returns an EINVALID error unless name can name a project.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return rampart.Errorf(rampart.EINVALID, "invalid project name %q", name).
			WithDetail("use 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	return nil
}

// ValidRepoURL returns an EINVALID error unless u is a repository Rampart can fetch: an absolute
// local path, or a file://, https:// or ssh:// URL. Credentials in the URL are refused: they would
// be shown to everyone who can read the project; they belong in the vault.
func ValidRepoURL(u string) error {
	bad := func(why string) error {
		return rampart.Errorf(rampart.EINVALID, "invalid repository %q: %s", u, why).
			WithDetail("give an absolute path, or a file://, https:// or ssh:// URL")
	}
	if u == "" {
		return bad("empty")
	}
	if strings.HasPrefix(u, "/") {
		return nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return bad(err.Error())
	}
	switch p.Scheme {
	case "file", "https", "ssh", "http":
	default:
		return bad("unsupported scheme " + p.Scheme)
	}
	if p.User != nil {
		if _, hasPassword := p.User.Password(); hasPassword || p.Scheme != "ssh" {
			return rampart.Errorf(rampart.EINVALID, "repository URL contains credentials").
				WithDetail("remove the user and password from the URL; give Rampart access through a deploy key or token in the vault")
		}
	}
	return nil
}

// subject returns the rbac subject for actor within project p.
func (s *Service) subject(ctx context.Context, tx rampart.Tx, actor *rampart.Actor, p *rampart.Project) (rbac.Subject, error) {
	sub := auth.Subject(actor)
	if actor == nil || actor.Internal || p == nil {
		return sub, nil
	}
	role, err := tx.MemberRole(ctx, p.ID, actor.UserID)
	if err != nil {
		return sub, fmt.Errorf("role of %q in %q: %w", actor.Name, p.Name, err)
	}
	sub.ProjectRole = role
	return sub, nil
}

// Authorize loads project name and checks that actor may take action a on it, auditing a
// refusal. Callers in other packages use it for per-project actions (runs, logs, …). A project
// the actor may not read is reported as not found, so that names do not leak.
func (s *Service) Authorize(ctx context.Context, actor *rampart.Actor, a rbac.Action, name string) (*rampart.Project, error) {
	if actor == nil {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	var (
		p              *rampart.Project
		sub            rbac.Subject
		lookupErr, err error
	)
	err = s.store.View(ctx, func(tx rampart.Tx) error {
		p, lookupErr = tx.ProjectByName(ctx, name)
		if lookupErr != nil {
			return nil
		}
		sub, err = s.subject(ctx, tx, actor, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	target := "project:" + name
	notFound := rampart.Errorf(rampart.ENOTFOUND, "project %q not found", name).WithDetail("list the projects you can see with `rampart project list`")
	if lookupErr != nil {
		if rampart.ErrorCode(lookupErr) != rampart.ENOTFOUND {
			return nil, lookupErr
		}
		return nil, notFound
	}
	if err := rbac.Check(sub, a, rbac.Resource{}); err != nil {
		if !rbac.Can(sub, rbac.ProjectRead, rbac.Resource{}) {
			err = notFound
		}
		return nil, audit.Denied(ctx, s.store, actor, string(a), target, err, s.now())
	}
	return p, nil
}

// Create adds a project.
func (s *Service) Create(ctx context.Context, actor *rampart.Actor, name, repoURL string) (*rampart.Project, error) {
	target := "project:" + name
	if actor == nil {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	if err := rbac.Check(auth.Subject(actor), rbac.ProjectCreate, rbac.Resource{}); err != nil {
		return nil, audit.Denied(ctx, s.store, actor, string(rbac.ProjectCreate), target, err, s.now())
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	if err := ValidRepoURL(repoURL); err != nil {
		return nil, err
	}
	p := &rampart.Project{Name: name, RepoURL: repoURL, CreatedAt: s.now()}
	ev := audit.Event(actor, "project.create", target, rampart.ResultSuccess)
	ev.Detail = "repo=" + repoURL
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateProject(ctx, p); err != nil {
			if rampart.ErrorCode(err) == rampart.ECONFLICT {
				return rampart.Errorf(rampart.ECONFLICT, "project %q already exists", name).WithDetail("choose another name")
			}
			return err
		}
		return audit.Append(ctx, tx, ev, s.now())
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// List returns the projects the actor may read: all of them for admins and security, their own
// for everyone else.
func (s *Service) List(ctx context.Context, actor *rampart.Actor) ([]*rampart.Project, error) {
	if actor == nil {
		return nil, rampart.Errorf(rampart.EUNAUTHORIZED, "not signed in")
	}
	sub := auth.Subject(actor)
	if err := rbac.Check(sub, rbac.ProjectList, rbac.Resource{}); err != nil {
		return nil, audit.Denied(ctx, s.store, actor, string(rbac.ProjectList), "projects", err, s.now())
	}
	var out []*rampart.Project
	err := s.store.View(ctx, func(tx rampart.Tx) error {
		var err error
		if rbac.Can(sub, rbac.ProjectRead, rbac.Resource{}) {
			out, err = tx.ListProjects(ctx)
		} else {
			out, err = tx.ListProjectsOfUser(ctx, actor.UserID)
		}
		return err
	})
	return out, err
}

// Get returns a project with its members.
func (s *Service) Get(ctx context.Context, actor *rampart.Actor, name string) (*rampart.Project, []*rampart.Member, error) {
	p, err := s.Authorize(ctx, actor, rbac.ProjectRead, name)
	if err != nil {
		return nil, nil, err
	}
	var members []*rampart.Member
	err = s.store.View(ctx, func(tx rampart.Tx) (err error) {
		members, err = tx.ListMembers(ctx, p.ID)
		return err
	})
	return p, members, err
}

// AddMember gives a user a role in a project, or changes the role they have.
func (s *Service) AddMember(ctx context.Context, actor *rampart.Actor, project, user, role string) (*rampart.Member, error) {
	p, err := s.Authorize(ctx, actor, rbac.MemberManage, project)
	if err != nil {
		return nil, err
	}
	if !rampart.IsProjectRole(role) {
		return nil, rampart.Errorf(rampart.EINVALID, "unknown project role %q", role).
			WithDetail("project roles are %s", strings.Join(rampart.ProjectRoles(), ", "))
	}
	m := &rampart.Member{ProjectID: p.ID, UserName: user, Role: role, AddedAt: s.now()}
	ev := audit.Event(actor, "member.set", "project:"+project, rampart.ResultSuccess)
	ev.Detail = fmt.Sprintf("user=%s role=%s", user, role)
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			if rampart.ErrorCode(err) == rampart.ENOTFOUND {
				return rampart.Errorf(rampart.ENOTFOUND, "user %q not found", user).WithDetail("create the user first with `rampart user add`")
			}
			return err
		}
		m.UserID = u.ID
		if err := tx.SetMember(ctx, m); err != nil {
			return err
		}
		return audit.Append(ctx, tx, ev, s.now())
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// RemoveMember takes a user out of a project.
func (s *Service) RemoveMember(ctx context.Context, actor *rampart.Actor, project, user string) error {
	p, err := s.Authorize(ctx, actor, rbac.MemberManage, project)
	if err != nil {
		return err
	}
	ev := audit.Event(actor, "member.remove", "project:"+project, rampart.ResultSuccess)
	ev.Detail = "user=" + user
	return s.store.Update(ctx, func(tx rampart.Tx) error {
		u, err := tx.UserByName(ctx, user)
		if err != nil {
			return err
		}
		if err := tx.RemoveMember(ctx, p.ID, u.ID); err != nil {
			if rampart.ErrorCode(err) == rampart.ENOTFOUND {
				return rampart.Errorf(rampart.ENOTFOUND, "%q is not a member of %q", user, project).WithDetail("see the members with `rampart project show %s`", project)
			}
			return err
		}
		return audit.Append(ctx, tx, ev, s.now())
	})
}

// Lookup returns a project by name without checking permissions, for callers that authenticate
// otherwise (webhooks prove themselves with a signature).
func (s *Service) Lookup(ctx context.Context, name string) (*rampart.Project, error) {
	var p *rampart.Project
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		p, err = tx.ProjectByName(ctx, name)
		return err
	})
	return p, err
}

// Update is a change to a project; nil fields stay as they are.
type Update struct {
	RepoURL     *string `json:"repo_url,omitempty"`
	PollSeconds *int    `json:"poll_seconds,omitempty"`
	// RequiredScans replaces the scans every run must pass ([] for none).
	RequiredScans *[]string `json:"required_scans,omitempty"`
}

// Scanners are the built-in scanners a project can require.
var Scanners = []string{"secrets", "dependencies", "iac"}

// Update changes a project's repository or polling interval.
func (s *Service) Update(ctx context.Context, actor *rampart.Actor, name string, u Update) (*rampart.Project, error) {
	p, err := s.Authorize(ctx, actor, rbac.ProjectUpdate, name)
	if err != nil {
		return nil, err
	}
	var detail []string
	if u.RepoURL != nil {
		if err := ValidRepoURL(*u.RepoURL); err != nil {
			return nil, err
		}
		p.RepoURL = *u.RepoURL
		detail = append(detail, "repo="+p.RepoURL)
	}
	if u.PollSeconds != nil {
		if n := *u.PollSeconds; n != 0 && (n < 10 || n > 86400) {
			return nil, rampart.Errorf(rampart.EINVALID, "poll interval %ds out of range", n).WithDetail("use 0 (off) or 10 to 86400 seconds")
		}
		p.PollSeconds = *u.PollSeconds
		detail = append(detail, fmt.Sprintf("poll_seconds=%d", p.PollSeconds))
	}
	if u.RequiredScans != nil {
		var scans []string
		for _, sc := range *u.RequiredScans {
			sc = strings.ToLower(strings.TrimSpace(sc))
			if sc == "deps" {
				sc = "dependencies"
			}
			if !slices.Contains(Scanners, sc) {
				return nil, rampart.Errorf(rampart.EINVALID, "unknown scanner %q in required scans", sc).WithDetail("use secrets, dependencies and iac")
			}
			if !slices.Contains(scans, sc) {
				scans = append(scans, sc)
			}
		}
		p.RequiredScans = scans
		detail = append(detail, "required_scans="+strings.Join(scans, ","))
	}
	ev := audit.Event(actor, "project.update", "project:"+name, rampart.ResultSuccess)
	ev.Detail = strings.Join(detail, " ")
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.UpdateProject(ctx, p); err != nil {
			return err
		}
		return audit.Append(ctx, tx, ev, s.now())
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// RotateWebhookSecret gives a project a new random webhook secret and returns it; the old one
// stops working at once. The secret is shown only in this answer.
func (s *Service) RotateWebhookSecret(ctx context.Context, actor *rampart.Actor, name string) (string, error) {
	p, err := s.Authorize(ctx, actor, rbac.ProjectUpdate, name)
	if err != nil {
		return "", err
	}
	secret, err := auth.NewSecret("rmw_")
	if err != nil {
		return "", err
	}
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.SetWebhookSecret(ctx, p.ID, secret); err != nil {
			return err
		}
		return audit.Append(ctx, tx, audit.Event(actor, "project.webhook_secret", "project:"+name, rampart.ResultSuccess), s.now())
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// WebhookSecret returns the secret that signs p's webhooks, or "" when none was set.
func (s *Service) WebhookSecret(ctx context.Context, p *rampart.Project) (string, error) {
	var secret string
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		secret, err = tx.WebhookSecret(ctx, p.ID)
		return err
	})
	return secret, err
}
