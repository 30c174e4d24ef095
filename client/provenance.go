package client

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/rampart-ci/rampart"
)

// maxEnvelope bounds a provenance envelope read from the server; it is provenance.MaxEnvelopeSize,
// which verifiers refuse to read beyond anyway.
const maxEnvelope = 4 << 20

// ProvenanceKey returns the public key (PEM) that verifies the server's provenance. The call
// needs no credential. A server without a provenance key answers ENOTFOUND.
func (c *Client) ProvenanceKey(ctx context.Context) ([]byte, error) {
	return c.getRaw(ctx, "/api/v1/provenance/key", "application/x-pem-file", 64<<10)
}

// ArtifactProvenance returns the signed provenance of an artifact of project: a DSSE envelope
// (JSON) of an in-toto SLSA v1 statement, which provenance.VerifyArtifact checks. An artifact
// without provenance is ENOTFOUND.
func (c *Client) ArtifactProvenance(ctx context.Context, project string, id int64) ([]byte, error) {
	return c.getRaw(ctx, fmt.Sprintf("/api/v1/projects/%s/artifacts/%d/provenance", esc(project), id), "application/json", maxEnvelope)
}

// getRaw returns the body of a GET answer, refusing one longer than limit bytes.
func (c *Client) getRaw(ctx context.Context, path, accept string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, rampart.Errorf(rampart.ETOOLARGE, "the answer to GET %s is larger than %d bytes", path, limit)
	}
	return data, nil
}
