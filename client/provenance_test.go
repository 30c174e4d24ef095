package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

func TestDownloadInput(t *testing.T) {
	content := []byte("the built app")
	sum := sha256.Sum256(content)
	good := hex.EncodeToString(sum[:])
	header := good
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method != "GET" || r.Header.Get("Authorization") != "Bearer rmj_t" || r.Header.Get(rampart.FenceHeader) != "3":
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"bad job call"}`)
		case r.URL.Path == "/api/v1/jobs/9/inputs/4":
			if header != "" {
				w.Header().Set(rampart.DigestHeader, header)
			}
			w.Write(content)
		default:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `{"error":"artifact 5 is not an input of deployment 2"}`)
		}
	}))
	defer srv.Close()
	j := New(srv.URL, "rma_agent").Job(&rampart.Lease{JobID: 9, Fence: 3, Token: "rmj_t"})
	ctx := context.Background()

	var buf bytes.Buffer
	digest, err := j.DownloadInput(ctx, 4, &buf)
	if err != nil || digest != "sha256:"+good || !bytes.Equal(buf.Bytes(), content) {
		t.Fatalf("DownloadInput = %q, %v, content %q", digest, err, buf.Bytes())
	}
	if _, err := j.DownloadInput(ctx, 5, io.Discard); rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "not an input") {
		t.Fatalf("refused input: %v", err)
	}
	header = strings.Repeat("0", 64)
	if _, err := j.DownloadInput(ctx, 4, io.Discard); err == nil || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("content not matching its header: %v", err)
	}
	header = ""
	if _, err := j.DownloadInput(ctx, 4, io.Discard); err == nil || !strings.Contains(err.Error(), rampart.DigestHeader) {
		t.Fatalf("answer without a digest: %v", err)
	}
}

func TestProvenanceCalls(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/provenance/key":
			if r.Header.Get("Authorization") != "" {
				t.Errorf("the key call sent a credential")
			}
			io.WriteString(w, "-----BEGIN PUBLIC KEY-----\n")
		case "/api/v1/projects/web%2Fx/artifacts/7/provenance", "/api/v1/projects/web/artifacts/7/provenance":
			if r.Header.Get("Authorization") != "Bearer rmp_t" {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error":"not signed in"}`)
				return
			}
			io.WriteString(w, `{"payloadType":"application/vnd.in-toto+json"}`)
		case "/api/v1/projects/web/artifacts/8/provenance":
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"artifact 8 (app) has no provenance"}`)
		case "/api/v1/projects/web/artifacts/9/provenance":
			w.Write(bytes.Repeat([]byte("x"), maxEnvelope+1))
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	if key, err := New(srv.URL, "").ProvenanceKey(ctx); err != nil || !strings.HasPrefix(string(key), "-----BEGIN PUBLIC KEY") {
		t.Fatalf("ProvenanceKey = %q, %v", key, err)
	}
	c := New(srv.URL, "rmp_t")
	if env, err := c.ArtifactProvenance(ctx, "web", 7); err != nil || !strings.Contains(string(env), "in-toto") {
		t.Fatalf("ArtifactProvenance = %q, %v", env, err)
	}
	if _, err := c.ArtifactProvenance(ctx, "web", 8); rampart.ErrorCode(err) != rampart.ENOTFOUND || !strings.Contains(err.Error(), "no provenance") {
		t.Fatalf("ArtifactProvenance without one: %v", err)
	}
	if _, err := c.ArtifactProvenance(ctx, "web", 9); rampart.ErrorCode(err) != rampart.ETOOLARGE {
		t.Fatalf("ArtifactProvenance of a huge answer: %v", err)
	}
}
