package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/rampart-ci/rampart"
)

// Reviews returns the review evidence of commit (a full SHA) in a project and whether it
// covers the commit; with commit "" it returns the project's latest evidence, newest first.
func (c *Client) Reviews(ctx context.Context, project, commit string) (*rampart.ReviewCoverage, error) {
	path := "/api/v1/projects/" + esc(project) + "/reviews"
	if commit != "" {
		path += "?" + url.Values{"commit": {commit}}.Encode()
	}
	var out rampart.ReviewCoverage
	return &out, c.do(ctx, "GET", path, nil, &out)
}

// Violations lists a project's policy violations, newest first: at most limit, or the
// server's default of 100 when limit is 0.
func (c *Client) Violations(ctx context.Context, project string, limit int) ([]*rampart.Violation, error) {
	path := "/api/v1/projects/" + esc(project) + "/violations"
	if limit > 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var out []*rampart.Violation
	return out, c.do(ctx, "GET", path, nil, &out)
}
