package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

func TestAgentCalls(t *testing.T) {
	type seen struct {
		method, path, query, auth, fence, ctype, digest, body string
	}
	var got []seen
	leaseAnswer := http.StatusNoContent
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get(rampart.FenceHeader),
			r.Header.Get("Content-Type"), r.Header.Get(rampart.DigestHeader), string(b)})
		switch r.URL.Path {
		case "/api/v1/agents/register":
			json.NewEncoder(w).Encode(rampart.RegisterResponse{AgentID: 5, Name: "a", Credential: "rma_c"})
		case "/api/v1/agents/lease":
			if leaseAnswer == http.StatusNoContent {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			json.NewEncoder(w).Encode(rampart.Lease{JobID: 9, Fence: 2, Token: "rmj_t"})
		case "/api/v1/jobs/9/heartbeat":
			json.NewEncoder(w).Encode(rampart.HeartbeatResponse{Cancel: true})
		case "/api/v1/jobs/9/complete":
			w.WriteHeader(http.StatusConflict)
			io.WriteString(w, `{"error":"lease superseded"}`)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	reg, err := New(srv.URL, "").Register(ctx, rampart.RegisterRequest{Token: "rmr_x", Name: "a"})
	if err != nil || reg.Credential != "rma_c" {
		t.Fatalf("Register = %+v, %v", reg, err)
	}
	c := New(srv.URL, reg.Credential)
	if l, err := c.Lease(ctx, rampart.LeaseRequest{WaitSeconds: 1, Capacity: 1}); l != nil || err != nil {
		t.Fatalf("Lease on 204 = %+v, %v; want nil, nil", l, err)
	}
	leaseAnswer = http.StatusOK
	l, err := c.Lease(ctx, rampart.LeaseRequest{WaitSeconds: 1, Capacity: 1})
	if err != nil || l.JobID != 9 {
		t.Fatalf("Lease = %+v, %v", l, err)
	}
	j := c.Job(l)
	if hb, err := j.Heartbeat(ctx); err != nil || !hb.Cancel {
		t.Fatalf("Heartbeat = %+v, %v", hb, err)
	}
	if err := j.UploadLog(ctx, 3, []byte("log\n")); err != nil {
		t.Fatal(err)
	}
	if err := j.UploadArtifact(ctx, "dist/a b&c.txt", strings.NewReader("abc"), 3, "ba78"); err != nil {
		t.Fatal(err)
	}
	if err := j.UploadArtifact(ctx, "empty", strings.NewReader(""), 0, "e3b0"); err != nil {
		t.Fatal(err)
	}
	err = j.Complete(ctx, rampart.CompleteRequest{Status: rampart.StatusSucceeded})
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Errorf("Complete on 409 = %v, want code %s", err, rampart.ECONFLICT)
	}
	if err := j.UploadLog(ctx, 1, make([]byte, rampart.MaxLogChunk+1)); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("oversized chunk: %v", err)
	}

	want := []seen{
		{"POST", "/api/v1/agents/register", "", "", "", "application/json", "", ""},
		{"POST", "/api/v1/agents/lease", "", "Bearer rma_c", "", "application/json", "", ""},
		{"POST", "/api/v1/agents/lease", "", "Bearer rma_c", "", "application/json", "", ""},
		{"POST", "/api/v1/jobs/9/heartbeat", "", "Bearer rmj_t", "2", "", "", ""},
		{"POST", "/api/v1/jobs/9/logs", "seq=3", "Bearer rmj_t", "2", "application/octet-stream", "", "log\n"},
		{"POST", "/api/v1/jobs/9/artifacts", "name=dist%2Fa+b%26c.txt", "Bearer rmj_t", "2", "application/octet-stream", "ba78", "abc"},
		{"POST", "/api/v1/jobs/9/artifacts", "name=empty", "Bearer rmj_t", "2", "application/octet-stream", "e3b0", ""},
		{"POST", "/api/v1/jobs/9/complete", "", "Bearer rmj_t", "2", "application/json", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d calls, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g := got[i]
		if strings.HasPrefix(g.body, "{") {
			g.body = "" // JSON bodies are checked through the answers above
		}
		if g != want[i] {
			t.Errorf("call %d:\n got %+v\nwant %+v", i, g, want[i])
		}
	}
}

func TestLeaseOutlivesClientTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	// A client whose general timeout is shorter than the long poll still waits for the lease.
	c := New(srv.URL, "rma_x").WithHTTPClient(&http.Client{Timeout: 50 * time.Millisecond})
	if l, err := c.Lease(context.Background(), rampart.LeaseRequest{WaitSeconds: 1, Capacity: 1}); l != nil || err != nil {
		t.Errorf("Lease = %+v, %v", l, err)
	}
}
