package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/pipeline"
	"github.com/rampart-ci/rampart/provenance"
	"github.com/rampart-ci/rampart/scheduler"
)

// Provenance: the server signs an in-toto SLSA v1 statement for every artifact a job uploads
// (when it has a provenance key), publishes the public key and each artifact's envelope, and
// hands a deploy job the artifacts of its deployment only while their provenance checks out
// (DESIGN.md, invariant 8).

// ProvenanceChecker returns the deploy gate's provenance check for the server's provenance key:
// an artifact passes when it carries provenance signed by key, covering its exact content and
// name, recorded by this server's builder (provenance.BuilderID) at the deployed commit. For a
// nil key it returns nil, with which the deploy gate refuses every deployment that consumes
// artifacts: without a key nothing can be checked, so nothing is deployed.
func ProvenanceChecker(key *provenance.Key) deploy.Provenance {
	if key == nil {
		return nil
	}
	return provenance.NewChecker(key.Public())
}

var _ deploy.Provenance = (*provenance.Checker)(nil)

// checker returns the check of the server's key; without a key, one that refuses everything.
func (s *Server) checker() *provenance.Checker {
	if s.cfg.ProvenanceKey == nil {
		return &provenance.Checker{}
	}
	return provenance.NewChecker(s.cfg.ProvenanceKey.Public())
}

// addArtifact stores an artifact that job j uploaded and, when the server has a provenance key,
// its signed provenance, in one transaction. The provenance is signed first, so that an upload
// that cannot get one is refused whole and the agent may send it again.
func (s *Server) addArtifact(ctx context.Context, j *rampart.Job, name, digest string, data []byte) (*rampart.Artifact, error) {
	var envelope []byte
	if s.cfg.ProvenanceKey != nil {
		var err error
		if envelope, err = s.signArtifact(ctx, j, name, digest); err != nil {
			return nil, err
		}
	}
	return s.cfg.Scheduler.AddArtifact(ctx, j.ID, j.Fence, name, digest, data, envelope)
}

// signArtifact returns the signed provenance of artifact name (content digest, "sha256:<hex>")
// uploaded by job j: what its run built (repository, commit, ref, event, who started it), with
// which pipeline file (read at the run's commit), in which job, when.
func (s *Server) signArtifact(ctx context.Context, j *rampart.Job, name, digest string) ([]byte, error) {
	var spec rampart.JobSpec
	if err := json.Unmarshal([]byte(j.Spec), &spec); err != nil {
		return nil, fmt.Errorf("provenance of artifact %q: decode spec of job %d: %w", name, j.ID, err)
	}
	var run *rampart.Run
	if err := s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		run, err = tx.RunByID(ctx, j.RunID)
		return err
	}); err != nil {
		return nil, fmt.Errorf("provenance of artifact %q: %w", name, err)
	}
	// The repository as the agent checked it out, at the run's commit.
	pipelineFile, err := s.cfg.Repo.ReadFile(ctx, spec.RepoURL, run.Commit, scheduler.PipelineFile, pipeline.MaxFileSize+1)
	if err != nil {
		return nil, fmt.Errorf("provenance of artifact %q: read %s at %s: %w", name, scheduler.PipelineFile, run.Commit, err)
	}
	pipelineSum := sha256.Sum256(pipelineFile)
	b := provenance.Build{
		BuilderID:      provenance.BuilderID(s.cfg.ProvenanceKey.Public()),
		Repository:     spec.RepoURL,
		Commit:         run.Commit,
		Ref:            run.Ref,
		PipelineFile:   scheduler.PipelineFile,
		PipelineSHA256: hex.EncodeToString(pipelineSum[:]),
		Project:        cmp.Or(run.Project, spec.Project),
		RunID:          run.ID,
		RunNumber:      run.Number,
		JobID:          j.ID,
		Job:            j.Name,
		Event:          run.Event,
		TriggeredBy:    run.TriggeredBy,
		// The subject is finished when it is uploaded. Another replica's clock may be behind
		// the one that started the job: never before the start.
		FinishedAt: time.Now().UTC(),
	}
	if j.StartedAt != nil {
		b.StartedAt = j.StartedAt.UTC()
		if b.FinishedAt.Before(b.StartedAt) {
			b.FinishedAt = b.StartedAt
		}
	}
	stmt, err := provenance.Statement(b, []provenance.Subject{{Name: name, SHA256: digest}})
	if rampart.ErrorCode(err) == rampart.EINVALID {
		return nil, rampart.Errorf(rampart.EINVALID, "artifact %q cannot be given provenance: %s", name, rampart.ErrorMessage(err)).
			WithDetail("rename the file: artifact names are printable text")
	} else if err != nil {
		return nil, err
	}
	return s.cfg.ProvenanceKey.Sign(stmt)
}

// handleProvenanceKey serves the public key that verifies this server's provenance, as PEM.
func (s *Server) handleProvenanceKey(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.ProvenanceKey == nil {
		return rampart.Errorf(rampart.ENOTFOUND, "this server signs no provenance").
			WithDetail("the server was started without a provenance key; its artifacts carry no provenance and are not deployed")
	}
	pem := s.cfg.ProvenanceKey.PublicKeyPEM()
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Length", strconv.Itoa(len(pem)))
	_, _ = w.Write(pem)
	return nil
}

// handleArtifactProvenance serves the DSSE envelope of an artifact's provenance.
func (s *Server) handleArtifactProvenance(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	var (
		a        *rampart.Artifact
		envelope []byte
	)
	err = s.cfg.Store.View(r.Context(), func(tx rampart.Tx) (err error) {
		if a, err = tx.ArtifactByID(r.Context(), id); err != nil {
			return err
		}
		j, err := tx.JobByID(r.Context(), a.JobID)
		if err != nil {
			return err
		}
		if j.ProjectID != p.ID {
			return rampart.Errorf(rampart.ENOTFOUND, "artifact %d not found", id)
		}
		envelope, err = tx.ArtifactProvenance(r.Context(), id)
		return err
	})
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return rampart.Errorf(rampart.ENOTFOUND, "artifact %d not found in %s", id, p.Name).WithDetail("list a run's artifacts with `rampart artifact list`")
	} else if err != nil {
		return err
	}
	if len(envelope) == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "artifact %d (%s) has no provenance", id, a.Name).
			WithDetail("it was uploaded while the server had no provenance key, or before it signed provenance; run the build again to get a signed artifact")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", baseName(a.Name)+".intoto.json"))
	w.Header().Set("Content-Length", strconv.Itoa(len(envelope)))
	_, _ = w.Write(envelope)
	return nil
}

// leaseInputs adds to the lease of a deploy job the artifacts its deployment consumes, which
// the agent then fetches through handleJobInput. A deploy job whose inputs cannot be told is not
// handed out: its lease runs out and a person decides (deploy jobs never re-run by themselves).
func (s *Server) leaseInputs(ctx context.Context, lease *rampart.Lease) error {
	if lease.Spec.Environment == "" || s.cfg.Deploy == nil {
		return nil
	}
	refs, _, err := s.cfg.Deploy.Inputs(ctx, lease.JobID)
	if err != nil {
		return fmt.Errorf("inputs of deploy job %d: %w", lease.JobID, err)
	}
	lease.Inputs = refs
	return nil
}

// handleJobInput serves a deploy job one artifact of its released deployment, and only while
// the artifact's provenance checks out: signed by this server's key, covering exactly the bytes
// served, built at the deployed commit. Anything else is refused and audited.
func (s *Server) handleJobInput(w http.ResponseWriter, r *http.Request) error {
	j := jobOf(r)
	id, err := pathInt(r, "artifact")
	if err != nil {
		return err
	}
	ctx := r.Context()
	actor := &rampart.Actor{Name: fmt.Sprintf("agent:%d", j.AgentID), Source: clientAddr(r)}
	target := fmt.Sprintf("artifact:%d", id)
	refuse := func(action string, err error) error {
		return audit.Denied(ctx, s.cfg.Store, actor, action, target, err, time.Now())
	}
	if s.cfg.Deploy == nil {
		return refuse("job.input_refused", rampart.Errorf(rampart.EFORBIDDEN, "this server runs no deployments, so jobs get no inputs"))
	}
	refs, d, err := s.cfg.Deploy.Inputs(ctx, j.ID)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return refuse("job.input_refused", rampart.Errorf(rampart.EFORBIDDEN, "job %d deploys nothing, so it gets no inputs", j.ID).
			WithDetail("only a job with an environment receives the artifacts it deploys"))
	} else if err != nil {
		if rampart.ErrorCode(err) == rampart.EFORBIDDEN {
			return refuse("job.input_refused", err)
		}
		return err
	}
	var ref *rampart.ArtifactRef
	for i := range refs {
		if refs[i].ID == id {
			ref = &refs[i]
		}
	}
	if ref == nil {
		return refuse("job.input_refused", rampart.Errorf(rampart.EFORBIDDEN, "artifact %d is not an input of deployment %d", id, d.ID).
			WithDetail("a deploy job gets only the artifacts listed in its lease"))
	}

	var (
		a       *rampart.Artifact
		content []byte
		refusal error
	)
	err = s.cfg.Store.View(ctx, func(tx rampart.Tx) (err error) {
		a, err = tx.ArtifactByID(ctx, id)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			refusal = provenanceRefusal(fmt.Errorf("the artifact is gone"))
			return nil
		} else if err != nil {
			return err
		}
		if a.Digest != ref.Digest {
			refusal = provenanceRefusal(fmt.Errorf("the artifact is now %s, not the %s its deployment was approved with", a.Digest, ref.Digest))
			return nil
		}
		envelope, err := tx.ArtifactProvenance(ctx, id)
		if err != nil {
			return err
		}
		content, err = tx.Blob(ctx, a.Digest)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			refusal = provenanceRefusal(fmt.Errorf("its content (%s) is gone", a.Digest))
			return nil
		} else if err != nil {
			return err
		}
		// What is checked is exactly what is served.
		if _, err := s.checker().CheckContent(a, content, envelope, d.Commit); err != nil {
			if !errors.Is(err, provenance.ErrVerify) {
				return err
			}
			refusal = provenanceRefusal(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if refusal != nil {
		s.logger.WarnContext(ctx, "artifact refused to a deploy job", "job", j.ID, "deployment", d.ID, "artifact", id, "why", rampart.ErrorMessage(refusal))
		return refuse("artifact.provenance_refused", refusal)
	}
	sum := sha256.Sum256(content)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", baseName(a.Name)))
	w.Header().Set(rampart.DigestHeader, hex.EncodeToString(sum[:]))
	w.Header().Set("Content-Length", strconv.Itoa(len(content)))
	_, _ = w.Write(content)
	return nil
}

// provenanceRefusal is the EFORBIDDEN answer to a deploy job whose input fails its check.
func provenanceRefusal(why error) error {
	msg := why.Error()
	if e := (*rampart.Error)(nil); errors.As(why, &e) {
		msg = e.Message
	}
	return rampart.Errorf(rampart.EFORBIDDEN, "the artifact's provenance does not check out: %s", strings.TrimSuffix(msg, ".")).
		WithDetail("the artifact or its provenance was changed after the build, so it is not deployed; the refusal is in the audit log. Build and deploy it again")
}
