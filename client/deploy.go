package client

import (
	"context"
	"fmt"

	"github.com/rampart-ci/rampart"
)

// RunOptions start a run; see StartRunWith.
type RunOptions struct {
	Ref         string `json:"ref"`
	SecurityFix bool   `json:"security_fix,omitempty"`
	Incident    string `json:"incident,omitempty"`
}

// StartRunWith starts a run with options: the security fast lane.
func (c *Client) StartRunWith(ctx context.Context, project string, o RunOptions) (*rampart.Run, error) {
	var out rampart.Run
	return &out, c.do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/runs", o, &out)
}

// Environment is an environment as the API shows it: with its rules in words and what is
// deployed there.
type Environment struct {
	rampart.Environment
	Rules   string              `json:"rules"`
	Current *rampart.Deployment `json:"current,omitempty"`
}

// CreateEnvironment adds an environment to a project.
func (c *Client) CreateEnvironment(ctx context.Context, project, name string) (*Environment, error) {
	var out Environment
	return &out, c.do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/environments", map[string]string{"name": name}, &out)
}

// ProtectEnvironment replaces an environment's protection rules.
func (c *Client) ProtectEnvironment(ctx context.Context, project, name string, p rampart.Protection) (*Environment, error) {
	var out Environment
	return &out, c.do(ctx, "PUT", "/api/v1/projects/"+esc(project)+"/environments/"+esc(name)+"/protection", p, &out)
}

// Environments lists a project's environments.
func (c *Client) Environments(ctx context.Context, project string) ([]*Environment, error) {
	var out []*Environment
	return out, c.do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/environments", nil, &out)
}

// Deployments lists an environment's deployments, newest first.
func (c *Client) Deployments(ctx context.Context, project, env string, limit int) ([]*rampart.Deployment, error) {
	var out []*rampart.Deployment
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/environments/%s/deployments?limit=%d", esc(project), esc(env), limit), nil, &out)
}

// Deployment returns one deployment with its approvals.
func (c *Client) Deployment(ctx context.Context, id int64) (*rampart.Deployment, error) {
	var out rampart.Deployment
	return &out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/deployments/%d", id), nil, &out)
}

// PendingDeployments lists the waiting deployments of the projects the caller can read.
func (c *Client) PendingDeployments(ctx context.Context) ([]*rampart.Deployment, error) {
	var out []*rampart.Deployment
	return out, c.do(ctx, "GET", "/api/v1/deployments/pending", nil, &out)
}

// Decide approves (approve true) or rejects a waiting deployment, with a comment.
func (c *Client) Decide(ctx context.Context, id int64, approve bool, comment string) (*rampart.Deployment, error) {
	verb := "approve"
	if !approve {
		verb = "reject"
	}
	var out rampart.Deployment
	return &out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/deployments/%d/%s", id, verb), map[string]string{"comment": comment}, &out)
}

// Rollback redeploys an environment's previous good deployment in a new run.
func (c *Client) Rollback(ctx context.Context, project, env string) (*rampart.Run, *rampart.Deployment, error) {
	var out struct {
		Run *rampart.Run        `json:"run"`
		To  *rampart.Deployment `json:"to"`
	}
	err := c.do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/environments/"+esc(env)+"/rollback", struct{}{}, &out)
	return out.Run, out.To, err
}
