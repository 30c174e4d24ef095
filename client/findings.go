package client

import (
	"context"
	"fmt"
	"io"

	"github.com/rampart-ci/rampart"
)

// Findings lists a run's security findings, marking waived ones.
func (c *Client) Findings(ctx context.Context, project string, run int64) ([]*rampart.Finding, error) {
	var out []*rampart.Finding
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/runs/%d/findings", esc(project), run), nil, &out)
}

// Waive exempts a finding of a project from the gate until expires (a Go duration) has passed.
func (c *Client) Waive(ctx context.Context, project, fingerprint, reason, expires string) (*rampart.Waiver, error) {
	var out rampart.Waiver
	body := map[string]string{"fingerprint": fingerprint, "reason": reason, "expires": expires}
	return &out, c.do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/waivers", body, &out)
}

// Waivers lists a project's waivers.
func (c *Client) Waivers(ctx context.Context, project string) ([]*rampart.Waiver, error) {
	var out []*rampart.Waiver
	return out, c.do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/waivers", nil, &out)
}

// RevokeWaiver ends a waiver now.
func (c *Client) RevokeWaiver(ctx context.Context, project string, id int64) error {
	return c.do(ctx, "DELETE", fmt.Sprintf("/api/v1/projects/%s/waivers/%d", esc(project), id), nil, nil)
}

// Gate returns the security gate's verdict on each scan job of a run.
func (c *Client) Gate(ctx context.Context, project string, run int64) ([]*rampart.ScanResult, error) {
	var out []*rampart.ScanResult
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/runs/%d/gate", esc(project), run), nil, &out)
}

// SBOM writes the CycloneDX JSON SBOM of a run's packages to w.
func (c *Client) SBOM(ctx context.Context, project string, run int64, w io.Writer) error {
	resp, err := c.request(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/runs/%d/sbom", esc(project), run), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read the SBOM of run %d: %w", run, err)
	}
	return nil
}
