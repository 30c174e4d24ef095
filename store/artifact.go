package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/rampart-ci/rampart"
)

// PutBlob implements rampart.ArtifactTx. digest must be "sha256:" and the lowercase hex SHA-256
// of data, or PutBlob is EINVALID: as storing a digest again keeps the first content, a wrong
// digest would let one upload stand in for another file's content everywhere it is referred to.
func (t *tx) PutBlob(ctx context.Context, digest string, data []byte) error {
	sum := sha256.Sum256(data)
	want := "sha256:" + hex.EncodeToString(sum[:])
	if subtle.ConstantTimeCompare([]byte(digest), []byte(want)) != 1 {
		return rampart.Errorf(rampart.EINVALID, "digest %q does not match the content", digest).
			WithDetail("a digest is \"sha256:\" and the lowercase hex SHA-256 of the content")
	}
	_, err := t.exec(ctx, "INSERT INTO blobs (digest, data, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING",
		digest, nonNil(data), len(data), micros(time.Now()))
	if err != nil {
		return fmt.Errorf("put blob %s: %w", digest, err)
	}
	return nil
}

// Blob implements rampart.ArtifactTx. Empty content reads back as an empty, non-nil slice.
func (t *tx) Blob(ctx context.Context, digest string) ([]byte, error) {
	var data []byte
	err := t.queryRow(ctx, "SELECT data FROM blobs WHERE digest = ?", digest).Scan(&data)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("blob %s", digest)
	case err != nil:
		return nil, fmt.Errorf("select blob %s: %w", digest, err)
	}
	return nonNil(data), nil
}

const artifactSelect = "SELECT id, run_id, job_id, name, digest, size, created_at FROM artifacts"

func scanArtifact(s scanner) (*rampart.Artifact, error) {
	var (
		a         rampart.Artifact
		createdAt int64
	)
	if err := s.Scan(&a.ID, &a.RunID, &a.JobID, &a.Name, &a.Digest, &a.Size, &createdAt); err != nil {
		return nil, err
	}
	a.CreatedAt = fromMicros(createdAt)
	return &a, nil
}

// CreateArtifact implements rampart.ArtifactTx. The content must be stored first with PutBlob:
// an unknown digest, run or job is ENOTFOUND. A name the job has already is ECONFLICT.
func (t *tx) CreateArtifact(ctx context.Context, a *rampart.Artifact) error {
	err := t.queryRow(ctx, `INSERT INTO artifacts (run_id, job_id, name, digest, size, created_at)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		a.RunID, a.JobID, a.Name, a.Digest, a.Size, micros(a.CreatedAt)).Scan(&a.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "job %d already has an artifact %q", a.JobID, a.Name)
	case isForeignKey(err):
		return notFound("run %d, job %d or blob %s", a.RunID, a.JobID, a.Digest)
	case err != nil:
		return fmt.Errorf("insert artifact %q of job %d: %w", a.Name, a.JobID, err)
	}
	return nil
}

// ArtifactByID implements rampart.ArtifactTx.
func (t *tx) ArtifactByID(ctx context.Context, id int64) (*rampart.Artifact, error) {
	a, err := scanArtifact(t.queryRow(ctx, artifactSelect+" WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("artifact %d", id)
	case err != nil:
		return nil, fmt.Errorf("select artifact %d: %w", id, err)
	}
	return a, nil
}

// ListArtifacts implements rampart.ArtifactTx. Names compare bytewise on both databases.
func (t *tx) ListArtifacts(ctx context.Context, runID int64) ([]*rampart.Artifact, error) {
	as, err := queryAll(ctx, t, scanArtifact, artifactSelect+" WHERE run_id = ? ORDER BY job_id, name"+t.dialect.collateBinary()+", id", runID)
	if err != nil {
		return nil, fmt.Errorf("list artifacts of run %d: %w", runID, err)
	}
	return as, nil
}

// SetArtifactProvenance implements rampart.ArtifactTx. The envelope is kept as text: it must be
// valid UTF-8 without NUL bytes, as JSON is, or SetArtifactProvenance is EINVALID.
func (t *tx) SetArtifactProvenance(ctx context.Context, id int64, envelope []byte) error {
	if !utf8.Valid(envelope) || bytes.IndexByte(envelope, 0) >= 0 {
		return rampart.Errorf(rampart.EINVALID, "the provenance of artifact %d is not text", id).
			WithDetail("a provenance is a DSSE envelope in JSON")
	}
	err := t.execOne(ctx, notFound("artifact %d", id), "UPDATE artifacts SET provenance = ? WHERE id = ?", string(envelope), id)
	if err != nil && rampart.ErrorCode(err) != rampart.ENOTFOUND {
		return fmt.Errorf("set provenance of artifact %d: %w", id, err)
	}
	return err
}

// ArtifactProvenance implements rampart.ArtifactTx. An artifact without provenance gives an
// empty, non-nil slice.
func (t *tx) ArtifactProvenance(ctx context.Context, id int64) ([]byte, error) {
	var envelope string
	err := t.queryRow(ctx, "SELECT provenance FROM artifacts WHERE id = ?", id).Scan(&envelope)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("artifact %d", id)
	case err != nil:
		return nil, fmt.Errorf("select provenance of artifact %d: %w", id, err)
	}
	return []byte(envelope), nil
}
