package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// testArtifactProvenance checks that an artifact's provenance envelope is kept per artifact,
// starts empty, is replaced and removed, and that unknown artifacts and non-text envelopes are
// refused.
func testArtifactProvenance(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	build := newJob(r, "build", rampart.StatusRunning, 0)
	createJobs(t, s, build)
	bin := []byte("binary")
	app := &rampart.Artifact{RunID: r.ID, JobID: build.ID, Name: "dist/app", Digest: digestOf(bin), Size: int64(len(bin)), CreatedAt: at(time.Minute)}
	sbom := &rampart.Artifact{RunID: r.ID, JobID: build.ID, Name: "dist/app.cdx.json", Digest: digestOf(bin), Size: int64(len(bin)), CreatedAt: at(time.Minute)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.PutBlob(ctx, digestOf(bin), bin); err != nil {
			return err
		}
		if err := tx.CreateArtifact(ctx, app); err != nil {
			return err
		}
		return tx.CreateArtifact(ctx, sbom)
	})
	get := func(id int64) []byte {
		t.Helper()
		var env []byte
		view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
			env, err = tx.ArtifactProvenance(ctx, id)
			return err
		})
		return env
	}
	if env := get(app.ID); len(env) != 0 {
		t.Errorf("ArtifactProvenance of a new artifact = %q, want empty", env)
	}

	first := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k1","sig":"c2ln"}]}`)
	second := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"k2","sig":"b3RoZXI="}]}` + "\n")
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.SetArtifactProvenance(ctx, app.ID, first) })
	wantEqual(t, "ArtifactProvenance after Set", string(get(app.ID)), string(first))
	if env := get(sbom.ID); len(env) != 0 {
		t.Errorf("ArtifactProvenance of another artifact = %q, want empty", env)
	}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.SetArtifactProvenance(ctx, app.ID, second) })
	wantEqual(t, "ArtifactProvenance after a second Set", string(get(app.ID)), string(second))

	// The artifact itself is unchanged by its provenance.
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ArtifactByID(ctx, app.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ArtifactByID after SetArtifactProvenance", got, app)
		return nil
	})

	// Refused writes change nothing.
	err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.SetArtifactProvenance(t.Context(), 999, first) })
	wantCode(t, "SetArtifactProvenance(unknown artifact)", err, rampart.ENOTFOUND, "artifact", "999")
	for name, env := range map[string][]byte{
		"NUL byte":      []byte("{\"payload\":\"\x00\"}"),
		"invalid UTF-8": []byte("{\"payload\":\"\xff\"}"),
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.SetArtifactProvenance(t.Context(), app.ID, env) })
		wantCode(t, "SetArtifactProvenance("+name+")", err, rampart.EINVALID)
	}
	wantEqual(t, "ArtifactProvenance after refused writes", string(get(app.ID)), string(second))
	err = s.View(t.Context(), func(tx rampart.Tx) error { _, err := tx.ArtifactProvenance(t.Context(), 999); return err })
	wantCode(t, "ArtifactProvenance(unknown artifact)", err, rampart.ENOTFOUND, "artifact", "999")

	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.SetArtifactProvenance(ctx, app.ID, nil) })
	if env := get(app.ID); len(env) != 0 {
		t.Errorf("ArtifactProvenance after removing it = %q, want empty", env)
	}
}
