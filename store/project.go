package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/rampart-ci/rampart"
)

const projectColumns = "p.id, p.name, p.repo_url, p.poll_seconds, p.required_scans, p.created_at"

func scanProject(s scanner) (*rampart.Project, error) {
	var (
		p         rampart.Project
		createdAt int64
		required  string
	)
	if err := s.Scan(&p.ID, &p.Name, &p.RepoURL, &p.PollSeconds, &required, &createdAt); err != nil {
		return nil, err
	}
	p.RequiredScans = splitList(required)
	p.CreatedAt = fromMicros(createdAt)
	return &p, nil
}

// CreateProject implements rampart.ProjectTx. A new project has no webhook secret.
func (t *tx) CreateProject(ctx context.Context, p *rampart.Project) error {
	err := t.queryRow(ctx, "INSERT INTO projects (name, repo_url, poll_seconds, required_scans, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		p.Name, p.RepoURL, p.PollSeconds, strings.Join(p.RequiredScans, ","), micros(p.CreatedAt)).Scan(&p.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "project %q already exists", p.Name)
	case err != nil:
		return fmt.Errorf("insert project %q: %w", p.Name, err)
	}
	return nil
}

// ProjectByName implements rampart.ProjectTx.
func (t *tx) ProjectByName(ctx context.Context, name string) (*rampart.Project, error) {
	p, err := scanProject(t.queryRow(ctx, "SELECT "+projectColumns+" FROM projects p WHERE p.name = ?", name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("project %q", name)
	case err != nil:
		return nil, fmt.Errorf("select project %q: %w", name, err)
	}
	return p, nil
}

// ProjectByID implements rampart.ProjectTx.
func (t *tx) ProjectByID(ctx context.Context, id int64) (*rampart.Project, error) {
	p, err := scanProject(t.queryRow(ctx, "SELECT "+projectColumns+" FROM projects p WHERE p.id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("project %d", id)
	case err != nil:
		return nil, fmt.Errorf("select project %d: %w", id, err)
	}
	return p, nil
}

// ListProjects implements rampart.ProjectTx.
func (t *tx) ListProjects(ctx context.Context) ([]*rampart.Project, error) {
	ps, err := queryAll(ctx, t, scanProject, "SELECT "+projectColumns+" FROM projects p ORDER BY p.name")
	if err != nil {
		return nil, fmt.Errorf("list projects: %w", err)
	}
	return ps, nil
}

// ListProjectsOfUser implements rampart.ProjectTx.
func (t *tx) ListProjectsOfUser(ctx context.Context, userID int64) ([]*rampart.Project, error) {
	ps, err := queryAll(ctx, t, scanProject, "SELECT "+projectColumns+
		" FROM projects p JOIN members m ON m.project_id = p.id WHERE m.user_id = ? ORDER BY p.name", userID)
	if err != nil {
		return nil, fmt.Errorf("list projects of user %d: %w", userID, err)
	}
	return ps, nil
}

// SetMember implements rampart.ProjectTx. Changing a member's role keeps the time they were
// added; m.UserName is ignored. An unknown project or user is ENOTFOUND.
func (t *tx) SetMember(ctx context.Context, m *rampart.Member) error {
	_, err := t.exec(ctx, `INSERT INTO members (project_id, user_id, role, added_at) VALUES (?, ?, ?, ?)
ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`,
		m.ProjectID, m.UserID, m.Role, micros(m.AddedAt))
	switch {
	case isForeignKey(err):
		return notFound("project %d or user %d", m.ProjectID, m.UserID)
	case err != nil:
		return fmt.Errorf("set member %d of project %d: %w", m.UserID, m.ProjectID, err)
	}
	return nil
}

// RemoveMember implements rampart.ProjectTx.
func (t *tx) RemoveMember(ctx context.Context, projectID, userID int64) error {
	err := t.execOne(ctx, notFound("member %d of project %d", userID, projectID),
		"DELETE FROM members WHERE project_id = ? AND user_id = ?", projectID, userID)
	return wrapUpdate(err, "remove member %d of project %d", userID, projectID)
}

// ListMembers implements rampart.ProjectTx.
func (t *tx) ListMembers(ctx context.Context, projectID int64) ([]*rampart.Member, error) {
	scan := func(s scanner) (*rampart.Member, error) {
		var (
			m       rampart.Member
			addedAt int64
		)
		if err := s.Scan(&m.ProjectID, &m.UserID, &m.UserName, &m.Role, &addedAt); err != nil {
			return nil, err
		}
		m.AddedAt = fromMicros(addedAt)
		return &m, nil
	}
	ms, err := queryAll(ctx, t, scan, `SELECT m.project_id, m.user_id, u.name, m.role, m.added_at
FROM members m JOIN users u ON u.id = m.user_id WHERE m.project_id = ? ORDER BY u.name`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list members of project %d: %w", projectID, err)
	}
	return ms, nil
}

// MemberRole implements rampart.ProjectTx.
func (t *tx) MemberRole(ctx context.Context, projectID, userID int64) (string, error) {
	var role string
	err := t.queryRow(ctx, "SELECT role FROM members WHERE project_id = ? AND user_id = ?", projectID, userID).Scan(&role)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("select role of user %d in project %d: %w", userID, projectID, err)
	}
	return role, nil
}

// UpdateProject implements rampart.ProjectTx. The name and creation time stay as they are.
func (t *tx) UpdateProject(ctx context.Context, p *rampart.Project) error {
	err := t.execOne(ctx, notFound("project %d", p.ID),
		"UPDATE projects SET repo_url = ?, poll_seconds = ?, required_scans = ? WHERE id = ?",
		p.RepoURL, p.PollSeconds, strings.Join(p.RequiredScans, ","), p.ID)
	return wrapUpdate(err, "update project %d", p.ID)
}

// WebhookSecret implements rampart.ProjectTx. It is ENOTFOUND for an unknown project, so that a
// webhook for a deleted project is not mistaken for one of a project without a secret.
func (t *tx) WebhookSecret(ctx context.Context, projectID int64) (string, error) {
	var secret string
	err := t.queryRow(ctx, "SELECT webhook_secret FROM projects WHERE id = ?", projectID).Scan(&secret)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", notFound("project %d", projectID)
	case err != nil:
		return "", fmt.Errorf("select webhook secret of project %d: %w", projectID, err)
	}
	return secret, nil
}

// SetWebhookSecret implements rampart.ProjectTx. "" removes the secret. The store keeps the value
// as given; callers that want it encrypted at rest pass it sealed.
func (t *tx) SetWebhookSecret(ctx context.Context, projectID int64, secret string) error {
	err := t.execOne(ctx, notFound("project %d", projectID),
		"UPDATE projects SET webhook_secret = ? WHERE id = ?", secret, projectID)
	return wrapUpdate(err, "set webhook secret of project %d", projectID)
}

// splitList reads a comma-separated column; "" is an empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
