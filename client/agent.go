package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// The agent side of the agent protocol (see protocol.go in package rampart).

// leaseGrace is how much longer than the server's wait a lease call may take before the agent
// gives up on it: enough for a slow network and a busy server, short enough that a dead
// connection is noticed within a minute.
const leaseGrace = 15 * time.Second

// Register trades the one-time registration token in r for an agent credential. It needs no
// credential of its own, so c may have been created with an empty token.
func (c *Client) Register(ctx context.Context, r rampart.RegisterRequest) (*rampart.RegisterResponse, error) {
	var out rampart.RegisterResponse
	if err := c.do(ctx, "POST", "/api/v1/agents/register", r, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Lease asks for a job, holding the call open for up to r.WaitSeconds on the server. It returns
// (nil, nil) when no job came within the wait. c must carry the agent credential; a revoked one
// yields an error with code EUNAUTHORIZED.
//
// The call is bounded by its own deadline of r.WaitSeconds plus 15 s instead of the client's
// general timeout, so that a long poll is not cut short and a dead connection does not hang.
func (c *Client) Lease(ctx context.Context, r rampart.LeaseRequest) (*rampart.Lease, error) {
	wait := time.Duration(max(r.WaitSeconds, 0)) * time.Second
	ctx, cancel := context.WithTimeout(ctx, wait+leaseGrace)
	defer cancel()
	resp, err := c.withoutTimeout().request(ctx, "POST", "/api/v1/agents/lease", r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil, nil
	}
	var out rampart.Lease
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode lease answer: %w", err)
	}
	return &out, nil
}

// withoutTimeout returns a copy of c whose HTTP client has no overall timeout, for calls that
// bound themselves with a context deadline (long polls, large uploads). The transport, and with
// it the connection pool, stays shared.
func (c *Client) withoutTimeout() *Client {
	hc := *c.http
	hc.Timeout = 0
	cc := *c
	cc.http = &hc
	return &cc
}

// JobClient makes the calls of one leased job. Every call authenticates with the lease's job
// token and carries its fencing number, so that once the server has given the job to another
// lease the calls are refused with an error whose code is ECONFLICT (test it with
// rampart.ErrorCode), and the agent must stop the job. A JobClient is safe for concurrent use.
type JobClient struct {
	c     *Client // with the job token, not the agent credential
	id    int64
	fence string
}

// Job returns the client of the job leased by lease. It shares c's server address and HTTP
// client but not its credential.
func (c *Client) Job(lease *rampart.Lease) *JobClient {
	cc := *c
	cc.token = lease.Token
	return &JobClient{c: &cc, id: lease.JobID, fence: strconv.FormatInt(lease.Fence, 10)}
}

// JobID returns the id of the job this client calls for.
func (j *JobClient) JobID() int64 { return j.id }

// call sends one job call through c (j.c, or a variant of it) with a body of the given content
// type (none when body is nil) and extra headers, and returns the response for the caller to
// read and close.
func (j *JobClient) call(ctx context.Context, c *Client, action, query string, body io.Reader, size int64, header http.Header) (*http.Response, error) {
	path := fmt.Sprintf("/api/v1/jobs/%d/%s", j.id, action)
	if query != "" {
		path += "?" + query
	}
	// A reader of a type http does not know makes a zero ContentLength mean "unknown" and the
	// body chunked; http.NoBody states an empty one.
	if body != nil && size == 0 {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", path, err)
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set(rampart.FenceHeader, j.fence)
	return c.send(req)
}

// callJSON sends in as JSON (when not nil) and decodes the answer into out (when not nil).
func (j *JobClient) callJSON(ctx context.Context, action string, in, out any) error {
	var body io.Reader
	var size int64
	var header http.Header
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s of job %d: %w", action, j.id, err)
		}
		body, size = bytes.NewReader(b), int64(len(b))
		header = http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := j.call(ctx, j.c, action, "", body, size, header)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer to %s of job %d: %w", action, j.id, err)
	}
	return nil
}

// Heartbeat extends the job's lease. The answer says until when, and whether someone cancelled
// the job.
func (j *JobClient) Heartbeat(ctx context.Context) (*rampart.HeartbeatResponse, error) {
	var out rampart.HeartbeatResponse
	if err := j.callJSON(ctx, "heartbeat", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UploadLog sends chunk number seq (from 1) of the job's log. The server stores a chunk once
// per seq, so a chunk whose answer was lost may, and should, be sent again with the same seq.
// data may hold at most rampart.MaxLogChunk bytes.
func (j *JobClient) UploadLog(ctx context.Context, seq int64, data []byte) error {
	if len(data) > rampart.MaxLogChunk {
		return rampart.Errorf(rampart.EINVALID, "log chunk %d of job %d has %d bytes, more than the %d allowed", seq, j.id, len(data), rampart.MaxLogChunk)
	}
	q := url.Values{"seq": {strconv.FormatInt(seq, 10)}}.Encode()
	resp, err := j.call(ctx, j.c, "logs", q, bytes.NewReader(data), int64(len(data)), http.Header{"Content-Type": {"application/octet-stream"}})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// UploadArtifact sends the size bytes read from r as the artifact name (a slash-separated path
// relative to the workspace), whose SHA-256 is sha256hex (lower-case hex); the server refuses
// content that does not match.
//
// The call is bounded by a deadline of one minute plus one second per 256 KiB instead of the
// client's general timeout, so that a large file on a slow link is not cut short.
func (j *JobClient) UploadArtifact(ctx context.Context, name string, r io.Reader, size int64, sha256hex string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute+time.Duration(size>>18)*time.Second)
	defer cancel()
	q := url.Values{"name": {name}}.Encode()
	resp, err := j.call(ctx, j.c.withoutTimeout(), "artifacts", q, r, size, http.Header{
		"Content-Type": {"application/octet-stream"},
		http.CanonicalHeaderKey(rampart.DigestHeader): {sha256hex},
	})
	if err != nil {
		return fmt.Errorf("upload artifact %q: %w", name, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// ReportScan sends the job's scan report and returns the security gate's verdict.
func (j *JobClient) ReportScan(ctx context.Context, rep *rampart.ScanReport) (*rampart.GateVerdict, error) {
	var v rampart.GateVerdict
	if err := j.callJSON(ctx, "findings", rep, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Complete records the job's result and ends its job token: after it, every call of this
// JobClient is refused.
func (j *JobClient) Complete(ctx context.Context, r rampart.CompleteRequest) error {
	return j.callJSON(ctx, "complete", r, nil)
}

// inputTimeout bounds the download of one input of a deploy job.
const inputTimeout = 30 * time.Minute

// DownloadInput writes the content of artifact artifactID, an input of the job's deployment
// (rampart.Lease.Inputs), to w, and returns its digest, "sha256:" and the lower-case hex SHA-256
// of the bytes written. The server serves an input only while its provenance checks out; it
// refuses anything else with an error whose code is EFORBIDDEN. Content that does not match the
// SHA-256 the server sent is an error, after it was written to w: the caller must discard it.
func (j *JobClient) DownloadInput(ctx context.Context, artifactID int64, w io.Writer) (digest string, err error) {
	ctx, cancel := context.WithTimeout(ctx, inputTimeout)
	defer cancel()
	path := fmt.Sprintf("/api/v1/jobs/%d/inputs/%d", j.id, artifactID)
	req, err := http.NewRequestWithContext(ctx, "GET", j.c.base+path, nil)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/octet-stream")
	req.Header.Set(rampart.FenceHeader, j.fence)
	resp, err := j.c.withoutTimeout().send(req)
	if err != nil {
		return "", fmt.Errorf("download input %d: %w", artifactID, err)
	}
	defer resp.Body.Close()
	want := strings.ToLower(resp.Header.Get(rampart.DigestHeader))
	if want == "" {
		return "", fmt.Errorf("download input %d: the server sent no %s", artifactID, rampart.DigestHeader)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), resp.Body); err != nil {
		return "", fmt.Errorf("download input %d: %w", artifactID, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return "", fmt.Errorf("download input %d: the content has sha256 %s, the server sent %s: it was corrupted or truncated", artifactID, got, want)
	}
	return "sha256:" + want, nil
}
