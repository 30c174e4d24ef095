package provenance

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/rampart-ci/rampart"
)

// builderIDBase is where the builder ids of Rampart servers start; BuilderID adds the key id.
const builderIDBase = "https://rampart.dev/builders/server/"

// BuilderID returns the builder id that the Rampart server whose provenance key has the public
// key pub records in its provenance: "https://rampart.dev/builders/server/" and the key's id
// (KeyID). It depends on the key alone, so that it stays the same across restarts, host names
// and every replica sharing the key, and changes exactly when the key does — which is when the
// trust in the builder has to be established again anyway. A verifier that pins the builder id
// pins the key with it.
func BuilderID(pub ed25519.PublicKey) string {
	return builderIDBase + KeyID(pub)
}

// Checker checks that an artifact carries provenance signed by this server's key, for its exact
// content and name, built by this builder at the commit being deployed. It implements the
// deploy gate's Provenance check. The zero value, and a Checker with a public key of the wrong
// size, refuses everything. A Checker is safe for concurrent use.
type Checker struct {
	// Public is the public half of the server's provenance key.
	Public ed25519.PublicKey
	// BuilderID is the builder id the server records; provenance naming another is refused.
	BuilderID string
}

// NewChecker returns the Checker of the server whose provenance key has the public key pub,
// with the builder id BuilderID(pub).
func NewChecker(pub ed25519.PublicKey) *Checker {
	return &Checker{Public: pub, BuilderID: BuilderID(pub)}
}

// Check reads the provenance and the content of artifact a in tx and checks them with
// CheckContent against commit, the full id of the commit being deployed. An artifact without
// provenance, or whose content is gone, is refused. Refusals are EFORBIDDEN errors matching
// ErrVerify that say what did not match; an error reading the store is returned as is.
func (c *Checker) Check(ctx context.Context, tx rampart.Tx, a *rampart.Artifact, commit string) error {
	envelope, err := tx.ArtifactProvenance(ctx, a.ID)
	if err != nil {
		return err
	}
	if len(envelope) == 0 {
		return noProvenance()
	}
	content, err := tx.Blob(ctx, a.Digest)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return refused("the artifact cannot be deployed; build it again", "the content of the artifact (%s) is gone", a.Digest)
	} else if err != nil {
		return err
	}
	_, err = c.CheckContent(a, content, envelope, commit)
	return err
}

// CheckContent checks that envelope is provenance signed by c.Public (Verify) that covers
// content under the artifact's name, that content is what a.Digest records, and that the
// statement says c's builder built it in a's run and job at commit. It returns what the
// statement says. Refusals are EFORBIDDEN errors matching ErrVerify (EINVALID for an envelope
// that cannot be read) saying what did not match.
func (c *Checker) CheckContent(a *rampart.Artifact, content, envelope []byte, commit string) (*Verified, error) {
	if c == nil || len(c.Public) != ed25519.PublicKeySize || c.BuilderID == "" {
		return nil, refused("the server must be started with its provenance key; until then no artifact is deployed",
			"this server has no provenance key to check artifacts with")
	}
	if len(envelope) == 0 {
		return nil, noProvenance()
	}
	v, err := Verify(envelope, c.Public)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	digest := hex.EncodeToString(sum[:])
	if err := v.covers(a.Name, digest); err != nil {
		return nil, err
	}
	if recorded := strings.TrimPrefix(a.Digest, "sha256:"); recorded != digest {
		return nil, refused("the artifact's record was changed after the build; build it again",
			"the artifact's content has sha256 %s, but it was recorded as %s", digest, short(recorded))
	}
	b := v.Build
	if want := strings.ToLower(commit); b.Commit != want {
		return nil, refused("deploy artifacts built from the commit being deployed; start a run at that commit",
			"the artifact was built from commit %s, not from the deployed commit %s", b.Commit, short(commit))
	}
	if b.BuilderID != c.BuilderID {
		return nil, refused("only artifacts this server built are deployed",
			"the provenance names the builder %q, not this server (%q)", short(b.BuilderID), c.BuilderID)
	}
	if b.RunID != a.RunID || b.JobID != a.JobID {
		return nil, refused("the provenance belongs to another artifact; build it again",
			"the provenance is of run %d, job %d, but the artifact was kept by run %d, job %d", b.RunID, b.JobID, a.RunID, a.JobID)
	}
	return v, nil
}

func noProvenance() error {
	return refused("artifacts uploaded before the server had a provenance key, or by a server without one, are not deployed; "+
		"run the build again", "the artifact has no provenance from this server")
}
