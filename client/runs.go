package client

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// RunResponse is a run with its jobs.
type RunResponse struct {
	rampart.Run
	Jobs []*rampart.Job `json:"jobs"`
}

// StartRun starts a manual run of project at ref (branch, tag or commit; "" for HEAD).
func (c *Client) StartRun(ctx context.Context, project, ref string) (*rampart.Run, error) {
	var out rampart.Run
	return &out, c.do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/runs", map[string]string{"ref": ref}, &out)
}

// ListRuns lists a project's runs, newest first.
func (c *Client) ListRuns(ctx context.Context, project string, limit int) ([]*rampart.Run, error) {
	var out []*rampart.Run
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/runs?limit=%d", esc(project), limit), nil, &out)
}

// Run returns a run with its jobs.
func (c *Client) Run(ctx context.Context, project string, number int64) (*RunResponse, error) {
	var out RunResponse
	return &out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/runs/%d", esc(project), number), nil, &out)
}

// CancelRun cancels a run.
func (c *Client) CancelRun(ctx context.Context, project string, number int64) error {
	return c.do(ctx, "POST", fmt.Sprintf("/api/v1/projects/%s/runs/%d/cancel", esc(project), number), struct{}{}, nil)
}

// RetryRun starts a new run of the same commit and event.
func (c *Client) RetryRun(ctx context.Context, project string, number int64) (*rampart.Run, error) {
	var out rampart.Run
	return &out, c.do(ctx, "POST", fmt.Sprintf("/api/v1/projects/%s/runs/%d/retry", esc(project), number), struct{}{}, &out)
}

// Artifacts lists a run's artifacts.
func (c *Client) Artifacts(ctx context.Context, project string, number int64) ([]*rampart.Artifact, error) {
	var out []*rampart.Artifact
	return out, c.do(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/runs/%d/artifacts", esc(project), number), nil, &out)
}

// DownloadArtifact writes an artifact's content to w, checks it against the SHA-256 the server
// recorded, and returns the artifact's file name and digest.
func (c *Client) DownloadArtifact(ctx context.Context, project string, id int64, w io.Writer) (name, digest string, err error) {
	resp, err := c.request(ctx, "GET", fmt.Sprintf("/api/v1/projects/%s/artifacts/%d", esc(project), id), nil)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), resp.Body); err != nil {
		return "", "", fmt.Errorf("download artifact %d: %w", id, err)
	}
	digest = resp.Header.Get(rampart.DigestHeader)
	if got := hex.EncodeToString(h.Sum(nil)); got != digest {
		return "", "", fmt.Errorf("download artifact %d: content has sha256 %s, server recorded %s", id, got, digest)
	}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		name = params["filename"]
	}
	return name, digest, nil
}

// Log writes a job's whole log, as stored so far, to w.
func (c *Client) Log(ctx context.Context, jobID int64, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/log", c.base, jobID), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := c.WithHTTPClient(&http.Client{Transport: c.http.Transport}).send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read log of job %d: %w", jobID, err)
	}
	return nil
}

// UpdateProject changes a project's repository URL or polling interval (nil: unchanged).
func (c *Client) UpdateProject(ctx context.Context, project string, repoURL *string, pollSeconds *int) (*rampart.Project, error) {
	body := map[string]any{}
	if repoURL != nil {
		body["repo_url"] = *repoURL
	}
	if pollSeconds != nil {
		body["poll_seconds"] = *pollSeconds
	}
	var out rampart.Project
	return &out, c.do(ctx, "PUT", "/api/v1/projects/"+esc(project), body, &out)
}

// SetRequiredScans sets the scans the server adds as a security gate job to every run of a
// project; an empty list removes the gate job.
func (c *Client) SetRequiredScans(ctx context.Context, project string, scans []string) (*rampart.Project, error) {
	if scans == nil {
		scans = []string{}
	}
	var out rampart.Project
	return &out, c.do(ctx, "PUT", "/api/v1/projects/"+esc(project), map[string]any{"required_scans": scans}, &out)
}

// WebhookResponse carries a new webhook secret and the paths hosts post to.
type WebhookResponse struct {
	Secret string            `json:"secret"`
	URLs   map[string]string `json:"urls"`
}

// RotateWebhookSecret sets a new webhook secret for a project and returns it, once.
func (c *Client) RotateWebhookSecret(ctx context.Context, project string) (*WebhookResponse, error) {
	var out WebhookResponse
	return &out, c.do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/webhook", struct{}{}, &out)
}

// AgentTokenResponse carries a registration token, shown once.
type AgentTokenResponse struct {
	Token string              `json:"token"`
	Info  *rampart.AgentToken `json:"info"`
}

// CreateAgentToken makes a single-use agent registration token.
func (c *Client) CreateAgentToken(ctx context.Context, labels []string, ttl string) (*AgentTokenResponse, error) {
	var out AgentTokenResponse
	return &out, c.do(ctx, "POST", "/api/v1/agent-tokens", map[string]any{"labels": labels, "ttl": ttl}, &out)
}

// ListAgents lists the registered agents.
func (c *Client) ListAgents(ctx context.Context) ([]*rampart.Agent, error) {
	var out []*rampart.Agent
	return out, c.do(ctx, "GET", "/api/v1/agents", nil, &out)
}

// UpdateAgent sets an agent's labels or disables it (nil: unchanged).
func (c *Client) UpdateAgent(ctx context.Context, name string, labels *[]string, disabled *bool) (*rampart.Agent, error) {
	body := map[string]any{}
	if labels != nil {
		body["labels"] = *labels
	}
	if disabled != nil {
		body["disabled"] = *disabled
	}
	var out rampart.Agent
	return &out, c.do(ctx, "PUT", "/api/v1/agents/"+esc(name), body, &out)
}

// LogEnd is how a followed job ended.
type LogEnd struct {
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Reason   string `json:"reason"`
}

// FollowLog streams a job's log into w as it is written, reconnecting after dropped
// connections, until the job ends; it returns how the job ended.
func (c *Client) FollowLog(ctx context.Context, jobID int64, w io.Writer) (*LogEnd, error) {
	var after int64
	hc := &http.Client{Transport: c.http.Transport} // no overall timeout: jobs run for hours
	for attempt := 0; ; attempt++ {
		end, last, err := c.followOnce(ctx, hc, jobID, after, w)
		if end != nil || ctx.Err() != nil {
			return end, err
		}
		if code := rampart.ErrorCode(err); code != rampart.EUNAVAILABLE && code != rampart.EINTERNAL && err != nil {
			return nil, err
		}
		if last > after {
			after, attempt = last, 0
		}
		if attempt >= 10 {
			return nil, fmt.Errorf("follow log of job %d: %w", jobID, err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 500 * time.Millisecond):
		}
	}
}

func (c *Client) followOnce(ctx context.Context, hc *http.Client, jobID, after int64, w io.Writer) (*LogEnd, int64, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v1/jobs/%d/log?after=%d", c.base, jobID, after), nil)
	if err != nil {
		return nil, after, err
	}
	req.Header.Set("Accept", "text/event-stream")
	cc := c.WithHTTPClient(hc)
	resp, err := cc.send(req)
	if err != nil {
		return nil, after, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		case line == "":
			switch event {
			case "log":
				var chunk struct {
					Seq  int64  `json:"seq"`
					Data string `json:"data"`
				}
				if err := json.Unmarshal([]byte(data), &chunk); err != nil {
					return nil, after, fmt.Errorf("decode log event: %w", err)
				}
				if _, err := io.WriteString(w, chunk.Data); err != nil {
					return nil, after, err
				}
				after = chunk.Seq
			case "end":
				var end LogEnd
				if err := json.Unmarshal([]byte(data), &end); err != nil {
					return nil, after, fmt.Errorf("decode end event: %w", err)
				}
				return &end, after, nil
			}
			event, data = "", ""
		}
	}
	return nil, after, &rampart.Error{Code: rampart.EUNAVAILABLE, Message: "log stream ended early"}
}
