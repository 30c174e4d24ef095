// Package provenance builds, signs and verifies SLSA v1 build provenance for the artifacts Rampart
// builds: an in-toto v1 Statement whose subjects are the artifacts (name and SHA-256) and whose
// predicate says which repository, commit, pipeline file and job produced them, signed by the
// server's Ed25519 key in a DSSE envelope. A deployment consumes only artifacts whose provenance
// this server signed (DESIGN.md, invariant 8): Verify and VerifyArtifact are that check.
//
// The predicate follows https://slsa.dev/provenance/v1 with build type BuildType:
//
//	buildDefinition.buildType            BuildType
//	buildDefinition.externalParameters   repository, ref, pipeline {path, digest {sha256}}, job,
//	                                     parameters (only when the run had any)
//	buildDefinition.internalParameters   project, runId, runNumber, jobId, event,
//	                                     triggeredBy (only when known)
//	buildDefinition.resolvedDependencies the source, {uri "git+<repository>@<ref>",
//	                                     digest {gitCommit}}, first; then the materials
//	runDetails.builder.id                Build.BuilderID
//	runDetails.metadata                  invocationId "<project>/<run number>/<job id>",
//	                                     startedOn, finishedOn
//
// Everything in externalParameters is what a user controlled; a verifier compares those with
// what it expects. Parameters are recorded in clear text: callers must never put secret values
// in them.
package provenance

import (
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/rampart-ci/rampart"
)

// Type URIs of what this package produces and accepts.
const (
	// StatementType is the in-toto Statement version. Verify accepts only this one.
	StatementType = ita.StatementTypeUri // "https://in-toto.io/Statement/v1"
	// PredicateType is SLSA provenance v1.
	PredicateType = "https://slsa.dev/provenance/v1"
	// BuildType names the layout of Rampart's buildDefinition, described in the package doc.
	// A change of that layout gets a new version, so that old verifiers refuse what they would
	// misread.
	BuildType = "https://rampart.dev/buildtypes/job/v1"
	// PayloadType is the DSSE payload type of an in-toto statement.
	PayloadType = "application/vnd.in-toto+json"
)

// maxID is the largest id or number a provenance records: JSON numbers are exact integers only
// up to 2^53.
const maxID = 1 << 53

// Build describes one job of a run: what was built, from what, by whom. Statement records it;
// Verified.Build gives it back.
type Build struct {
	// BuilderID identifies the builder that a verifier trusts, as an absolute URI, e.g.
	// "https://rampart.example/agents". Required.
	BuilderID string
	// Repository is the URL of the git repository built. Required.
	Repository string
	// Commit is the git commit built: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits. Required.
	Commit string
	// Ref is the ref the run was started for, e.g. "refs/heads/main"; may be empty.
	Ref string
	// PipelineFile is the path of the pipeline file in the repository, e.g. ".rampart.yml", and
	// PipelineSHA256 the lowercase hex SHA-256 of its content. Both required.
	PipelineFile   string
	PipelineSHA256 string
	// Project is the Rampart project's name. Required.
	Project string
	// RunID and JobID are the server's ids, RunNumber the run's number within its project.
	RunID, RunNumber, JobID int64
	// Job is the job's name in the pipeline file. Required.
	Job string
	// Event is what started the run: push, pull_request, schedule or manual.
	Event string
	// TriggeredBy is who or what started the run: a user name, "webhook:github", "poll",
	// "schedule". Empty when unknown; then it is left out.
	TriggeredBy string
	// Parameters are the inputs the run was started with. Never secrets: they are recorded in
	// clear text. Nil and empty are the same.
	Parameters map[string]string
	// StartedAt and FinishedAt bound the job; a zero time is left out.
	StartedAt, FinishedAt time.Time
	// Materials are further inputs the build resolved (e.g. a base image, a downloaded tool),
	// recorded as resolved dependencies after the source.
	Materials []Material
}

// Material is an input of a build: a Name or a URI (or both) and at least one digest.
type Material struct {
	Name      string
	URI       string
	SHA256    string // lowercase hex
	GitCommit string // lowercase hex, 40 or 64 digits
}

// Subject is an artifact a provenance covers: its name (the path the job kept it under) and the
// lowercase hex SHA-256 of its content.
type Subject struct {
	Name   string
	SHA256 string
}

// Statement returns the in-toto v1 statement of SLSA v1 provenance saying that b produced
// subjects (layout in the package doc), ready for Key.Sign. A subject's SHA256 may carry the
// "sha256:" prefix of rampart.Artifact.Digest; it is recorded without it. Bad input is an
// EINVALID error naming the field.
func Statement(b Build, subjects []Subject) (*ita.Statement, error) {
	if err := b.validate(); err != nil {
		return nil, err
	}
	if len(subjects) == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "provenance needs at least one subject").
			WithDetail("pass the artifacts the job produced, each with its name and SHA-256")
	}
	seen := make(map[string]bool, len(subjects))
	stmt := &ita.Statement{Type: StatementType, PredicateType: PredicateType}
	for i, s := range subjects {
		digest := strings.TrimPrefix(s.SHA256, "sha256:")
		if err := checkText(fmt.Sprintf("subject %d name", i+1), s.Name, true); err != nil {
			return nil, err
		}
		if err := checkHex(fmt.Sprintf("subject %q sha256", s.Name), digest, 64); err != nil {
			return nil, err
		}
		// Two subjects with one name would make "the artifact named X" ambiguous to verifiers.
		if seen[s.Name] {
			return nil, rampart.Errorf(rampart.EINVALID, "subject %q is listed twice", s.Name).
				WithDetail("each artifact of a job has one name; list it once")
		}
		seen[s.Name] = true
		stmt.Subject = append(stmt.Subject, &ita.ResourceDescriptor{
			Name:   s.Name,
			Digest: map[string]string{"sha256": digest},
		})
	}
	pred, err := predicate(b)
	if err != nil {
		return nil, err
	}
	stmt.Predicate = pred
	if err := stmt.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: built an invalid statement: %w", err)
	}
	return stmt, nil
}

// sourceURI is the resolved dependency's URI of the source, in the form SLSA's examples use.
func sourceURI(repository, ref string) string {
	if ref == "" {
		return "git+" + repository
	}
	return "git+" + repository + "@" + ref
}

// invocationID names the job for people: project, run number, job id.
func invocationID(b Build) string {
	return fmt.Sprintf("%s/%d/%d", b.Project, b.RunNumber, b.JobID)
}

func predicate(b Build) (*structpb.Struct, error) {
	external := map[string]any{
		"repository": b.Repository,
		"ref":        b.Ref,
		"pipeline": map[string]any{
			"path":   b.PipelineFile,
			"digest": map[string]any{"sha256": b.PipelineSHA256},
		},
		"job": b.Job,
	}
	if len(b.Parameters) > 0 {
		params := make(map[string]any, len(b.Parameters))
		for k, v := range b.Parameters {
			params[k] = v
		}
		external["parameters"] = params
	}
	ext, err := structpb.NewStruct(external)
	if err != nil {
		return nil, fmt.Errorf("provenance: external parameters: %w", err)
	}
	internalParams := map[string]any{
		"project":   b.Project,
		"runId":     b.RunID,
		"runNumber": b.RunNumber,
		"jobId":     b.JobID,
		"event":     b.Event,
	}
	if b.TriggeredBy != "" {
		internalParams["triggeredBy"] = b.TriggeredBy
	}
	internal, err := structpb.NewStruct(internalParams)
	if err != nil {
		return nil, fmt.Errorf("provenance: internal parameters: %w", err)
	}
	deps := []*ita.ResourceDescriptor{{
		Uri:    sourceURI(b.Repository, b.Ref),
		Digest: map[string]string{"gitCommit": b.Commit},
	}}
	for _, m := range b.Materials {
		d := &ita.ResourceDescriptor{Name: m.Name, Uri: m.URI, Digest: map[string]string{}}
		if m.SHA256 != "" {
			d.Digest["sha256"] = m.SHA256
		}
		if m.GitCommit != "" {
			d.Digest["gitCommit"] = m.GitCommit
		}
		deps = append(deps, d)
	}
	meta := &slsa.BuildMetadata{InvocationId: invocationID(b)}
	if !b.StartedAt.IsZero() {
		meta.StartedOn = timestamppb.New(b.StartedAt)
	}
	if !b.FinishedAt.IsZero() {
		meta.FinishedOn = timestamppb.New(b.FinishedAt)
	}
	prov := &slsa.Provenance{
		BuildDefinition: &slsa.BuildDefinition{
			BuildType:            BuildType,
			ExternalParameters:   ext,
			InternalParameters:   internal,
			ResolvedDependencies: deps,
		},
		RunDetails: &slsa.RunDetails{
			Builder:  &slsa.Builder{Id: b.BuilderID},
			Metadata: meta,
		},
	}
	s, err := toStruct(prov)
	if err != nil {
		return nil, fmt.Errorf("provenance: predicate: %w", err)
	}
	return s, nil
}

func (b *Build) validate() error {
	u, err := url.Parse(b.BuilderID)
	if b.BuilderID == "" || err != nil || !u.IsAbs() {
		return rampart.Errorf(rampart.EINVALID, "builder id %q is not an absolute URI", b.BuilderID).
			WithDetail("set it to the URI verifiers trust for this server's builds, e.g. https://rampart.example/agents")
	}
	texts := []struct {
		field, value string
		required     bool
	}{
		{"repository", b.Repository, true},
		{"ref", b.Ref, false},
		{"pipeline file", b.PipelineFile, true},
		{"project", b.Project, true},
		{"job", b.Job, true},
		{"event", b.Event, false},
		{"triggered by", b.TriggeredBy, false},
	}
	for _, t := range texts {
		if err := checkText(t.field, t.value, t.required); err != nil {
			return err
		}
	}
	if err := checkNoCredentials("repository", b.Repository); err != nil {
		return err
	}
	if err := checkCommit("commit", b.Commit); err != nil {
		return err
	}
	if err := checkHex("pipeline file sha256", b.PipelineSHA256, 64); err != nil {
		return err
	}
	for _, id := range []struct {
		field string
		value int64
	}{{"run id", b.RunID}, {"run number", b.RunNumber}, {"job id", b.JobID}} {
		if id.value < 0 || id.value > maxID {
			return rampart.Errorf(rampart.EINVALID, "%s %d is out of range", id.field, id.value).
				WithDetail("ids and numbers are between 0 and 2^53")
		}
	}
	for k, v := range b.Parameters {
		if err := checkText("parameter name", k, true); err != nil {
			return err
		}
		if err := checkText(fmt.Sprintf("parameter %q", k), v, false); err != nil {
			return err
		}
	}
	if !b.StartedAt.IsZero() && !b.FinishedAt.IsZero() && b.FinishedAt.Before(b.StartedAt) {
		return rampart.Errorf(rampart.EINVALID, "the build finished (%s) before it started (%s)",
			b.FinishedAt.Format(time.RFC3339), b.StartedAt.Format(time.RFC3339)).
			WithDetail("pass the job's own start and finish times")
	}
	for i, m := range b.Materials {
		field := fmt.Sprintf("material %d", i+1)
		if m.Name == "" && m.URI == "" {
			return rampart.Errorf(rampart.EINVALID, "%s has neither a name nor a URI", field).
				WithDetail("say what the material is: a name, a URI, or both")
		}
		if err := checkText(field+" name", m.Name, false); err != nil {
			return err
		}
		if err := checkText(field+" URI", m.URI, false); err != nil {
			return err
		}
		if err := checkNoCredentials(field+" URI", m.URI); err != nil {
			return err
		}
		if m.SHA256 == "" && m.GitCommit == "" {
			return rampart.Errorf(rampart.EINVALID, "%s has no digest", field).
				WithDetail("a material is pinned by its sha256 or its git commit; without one it proves nothing")
		}
		if m.SHA256 != "" {
			if err := checkHex(field+" sha256", m.SHA256, 64); err != nil {
				return err
			}
		}
		if m.GitCommit != "" {
			if err := checkCommit(field+" git commit", m.GitCommit); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkText refuses text that JSON cannot carry faithfully (invalid UTF-8) or that would
// mislead a person reading it (control characters such as newlines).
func checkText(field, s string, required bool) error {
	if s == "" {
		if required {
			return rampart.Errorf(rampart.EINVALID, "the %s is empty", field).
				WithDetail("provenance records it; pass the value from the run")
		}
		return nil
	}
	if !utf8.ValidString(s) {
		return rampart.Errorf(rampart.EINVALID, "the %s is not valid UTF-8", field)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return rampart.Errorf(rampart.EINVALID, "the %s %q contains a control character", field, s)
		}
	}
	return nil
}

// checkNoCredentials refuses a URL with a password, or with a user name outside ssh (a token
// passed as the user name): provenance is published, and whatever it records is public. The
// project settings refuse such URLs too; this is the last line before a signature.
func checkNoCredentials(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return nil // not a URL with user info, e.g. scp-like git@host:org/repo.git
	}
	if _, hasPassword := u.User.Password(); hasPassword || (u.Scheme != "ssh" && u.Scheme != "git+ssh") {
		return rampart.Errorf(rampart.EINVALID, "the %s URL contains credentials", field).
			WithDetail("provenance is published: pass the URL without user name and password")
	}
	return nil
}

// checkHex requires exactly n lowercase hex digits: digests are compared as strings, so one
// spelling only.
func checkHex(field, s string, n int) error {
	if len(s) != n || !isLowerHex(s) {
		return rampart.Errorf(rampart.EINVALID, "the %s %q is not %d lowercase hex digits", field, s, n).
			WithDetail("give the digest as lowercase hex, e.g. the output of sha256sum")
	}
	return nil
}

func checkCommit(field, s string) error {
	if (len(s) != 40 && len(s) != 64) || !isLowerHex(s) {
		return rampart.Errorf(rampart.EINVALID, "the %s %q is not a full git commit id", field, s).
			WithDetail("give the full id, 40 lowercase hex digits (64 in a SHA-256 repository), as `git rev-parse HEAD` prints it")
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// toStruct converts a message to the generic JSON object a Statement's predicate is, through
// its protojson form, so that the predicate's field names are the JSON ones of the SLSA spec.
func toStruct(m proto.Message) (*structpb.Struct, error) {
	data, err := protojson.Marshal(m)
	if err != nil {
		return nil, err
	}
	s := &structpb.Struct{}
	if err := protojson.Unmarshal(data, s); err != nil {
		return nil, err
	}
	return s, nil
}

// fromStruct is the inverse of toStruct. Fields it does not know are ignored, as in-toto asks
// of consumers.
func fromStruct(s *structpb.Struct, m proto.Message) error {
	data, err := protojson.Marshal(s)
	if err != nil {
		return err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, m)
}
