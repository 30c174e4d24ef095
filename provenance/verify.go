package provenance

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/rampart-ci/rampart"
)

// ErrVerify is wrapped by every error of Verify and VerifyArtifact that means "do not trust this
// provenance or artifact", so that callers can tell a refusal from a failure to read the
// artifact. Such an error is also a *rampart.Error, with code:
//
//   - EINVALID when the envelope cannot be read at all: not JSON, not a DSSE envelope, too large;
//   - EFORBIDDEN when it was read and not accepted: no valid signature by the key, a payload
//     or predicate of another type, or an artifact that the provenance does not cover. A
//     deployment gate refuses; a person is told what did not match.
//
// A public key of the wrong size is the caller's mistake: EINVALID, without ErrVerify.
var ErrVerify = errors.New("provenance: not verified")

// Limits on what Verify reads: envelopes come from users. A provenance of a few thousand
// artifacts is far below MaxEnvelopeSize. MaxSignatures bounds the signature checks one
// envelope can cost.
const (
	MaxEnvelopeSize = 4 << 20
	MaxSignatures   = 8
)

// Verified is a provenance that passed Verify: what the signed statement says.
type Verified struct {
	// KeyID is the id of the key whose signature was accepted.
	KeyID string
	// Subjects are the artifacts covered, in the statement's order, with lowercase hex SHA-256.
	Subjects []Subject
	// Build is the build as recorded. Times are in UTC; Parameters and Materials are nil when
	// there were none.
	Build Build
	// Statement is the whole verified statement, for anything Build does not carry.
	Statement *ita.Statement
}

// verifyError is an error meant for users that also matches ErrVerify.
type verifyError struct{ err *rampart.Error }

func (e *verifyError) Error() string   { return e.err.Error() }
func (e *verifyError) Unwrap() []error { return []error{e.err, ErrVerify} }

// malformed reports an envelope that cannot be read (EINVALID).
func malformed(detail, format string, args ...any) error {
	return &verifyError{rampart.Errorf(rampart.EINVALID, format, args...).WithDetail("%s", detail)}
}

// refused reports a provenance or artifact that was read and is not accepted (EFORBIDDEN).
func refused(detail, format string, args ...any) error {
	return &verifyError{rampart.Errorf(rampart.EFORBIDDEN, format, args...).WithDetail("%s", detail)}
}

const (
	fetchAgain   = "fetch the provenance again from the server that built the artifact"
	notOurFormat = "this is not a provenance Rampart signed: verify it with the tool of whoever made it"
)

// Verify checks that envelopeJSON is a DSSE envelope carrying an in-toto v1 statement of SLSA v1
// provenance of Rampart's build type, signed by pub, and returns what the statement says.
//
// The envelope is accepted when at least one of its signatures is a valid signature by pub over
// the DSSE pre-authentication encoding of its payload type and payload; other signatures, bad
// or by other keys, are ignored, as DSSE specifies. Requiring all signatures to be valid would
// add no protection — the payload is authenticated by the one valid signature, and a signature
// by a key we do not hold cannot be told apart from a forged one — while letting anyone who can
// append to a stored envelope make a genuine provenance fail, and refusing envelopes
// countersigned by another party. What is parsed is exactly the payload that was verified.
//
// Verify checks who signed and what kind of statement it is, not what it says: the caller
// compares Build (builder id, repository, ref, commit) with what it expects.
//
// Errors are described at ErrVerify.
func Verify(envelopeJSON []byte, pub ed25519.PublicKey) (*Verified, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, rampart.Errorf(rampart.EINVALID, "the public key is %d bytes, not an Ed25519 public key", len(pub)).
			WithDetail("give the server's provenance public key, read with provenance.ParsePublicKey")
	}
	if len(envelopeJSON) > MaxEnvelopeSize {
		return nil, malformed("a Rampart provenance is far smaller; check that the file is a provenance (.intoto.json)",
			"the envelope is %d bytes, more than the %d accepted", len(envelopeJSON), MaxEnvelopeSize)
	}
	var env dsse.Envelope
	if err := json.Unmarshal(envelopeJSON, &env); err != nil {
		return nil, malformed("a provenance is a DSSE envelope: a JSON object with payloadType, payload and signatures; "+fetchAgain,
			"the envelope is not valid JSON: %s", short(err.Error()))
	}
	if env.PayloadType == "" || env.Payload == "" {
		return nil, malformed("a provenance is a DSSE envelope: a JSON object with payloadType, payload and signatures; "+fetchAgain,
			"the envelope has no payloadType or no payload")
	}
	if _, err := env.DecodeB64Payload(); err != nil {
		return nil, malformed("the payload of a DSSE envelope is base64; "+fetchAgain, "the envelope's payload is not base64")
	}
	if len(env.Signatures) == 0 {
		return nil, refused("the provenance was stripped of its signatures or never signed; "+fetchAgain,
			"the envelope has no signatures")
	}
	if len(env.Signatures) > MaxSignatures {
		return nil, malformed("a Rampart provenance carries one signature; "+fetchAgain,
			"the envelope has %d signatures, more than the %d accepted", len(env.Signatures), MaxSignatures)
	}
	// The payload type is covered by the signature too; checking it first only gives a clearer
	// error for an envelope that is not a statement.
	if env.PayloadType != PayloadType {
		return nil, refused(notOurFormat, "the envelope's payloadType is %q, not %q", short(env.PayloadType), PayloadType)
	}
	// Only signatures that may be ours go to the DSSE verifier: those labelled with our key id
	// or with none. The others are not covered by anything signed, so dropping them changes
	// nothing that was verified, and it keeps one garbled foreign signature (which the DSSE
	// library would fail the whole envelope for) from spoiling a genuine provenance.
	id := KeyID(pub)
	candidates := make([]dsse.Signature, 0, len(env.Signatures))
	for _, sig := range env.Signatures {
		if (sig.KeyID == "" || sig.KeyID == id) && isBase64(sig.Sig) {
			candidates = append(candidates, sig)
		}
	}
	if len(candidates) == 0 {
		return nil, refused("it was signed by another key: check that the public key is the one of the server that built the artifact",
			"the provenance has no signature by key %s", id)
	}
	ev, err := dsse.NewEnvelopeVerifier(&signerVerifier{id: id, pub: pub})
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	// Verifying is local and cannot block: no context to pass on.
	accepted, payload, err := ev.VerifyAndDecode(context.Background(), &dsse.Envelope{
		PayloadType: env.PayloadType, Payload: env.Payload, Signatures: candidates,
	})
	if err != nil || len(accepted) == 0 {
		return nil, refused("it was changed after it was signed, or signed by another key: check that the public key is the one "+
			"of the server that built the artifact, and fetch the provenance again from it",
			"the provenance has no valid signature by key %s", id)
	}

	stmt := &ita.Statement{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(payload, stmt); err != nil {
		return nil, refused(notOurFormat, "the signed payload is not an in-toto statement: %s", short(err.Error()))
	}
	if stmt.GetType() != StatementType {
		return nil, refused(notOurFormat, "the statement's _type is %q, not %q", short(stmt.GetType()), StatementType)
	}
	if stmt.GetPredicateType() != PredicateType {
		return nil, refused(notOurFormat, "the statement's predicateType is %q, not %q", short(stmt.GetPredicateType()), PredicateType)
	}
	if err := stmt.Validate(); err != nil {
		return nil, refused(notOurFormat, "the statement is not valid: %s", short(err.Error()))
	}
	v := &Verified{KeyID: id, Statement: stmt}
	for _, s := range stmt.GetSubject() {
		digest := s.GetDigest()["sha256"]
		if s.GetName() == "" || len(digest) != 64 || !isLowerHex(digest) {
			return nil, refused(notOurFormat, "subject %q has no name or no lowercase hex sha256 digest", short(s.GetName()))
		}
		v.Subjects = append(v.Subjects, Subject{Name: s.GetName(), SHA256: digest})
	}
	b, err := readPredicate(stmt.GetPredicate())
	if err != nil {
		return nil, refused(notOurFormat, "the provenance is not a Rampart job provenance: %s", short(err.Error()))
	}
	v.Build = *b
	return v, nil
}

// VerifyArtifact verifies envelopeJSON as Verify does, then reads artifact to its end and
// requires a subject with its SHA-256 and, when name is not empty, exactly that name. The error
// says what did not match. An error reading artifact is returned wrapped, without ErrVerify.
func VerifyArtifact(artifact io.Reader, name string, envelopeJSON []byte, pub ed25519.PublicKey) (*Verified, error) {
	// Verify first: a forged envelope should not cost reading a large artifact.
	v, err := Verify(envelopeJSON, pub)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, artifact); err != nil {
		return nil, fmt.Errorf("provenance: read artifact: %w", err)
	}
	digest := hex.EncodeToString(h.Sum(nil))
	if err := v.covers(name, digest); err != nil {
		return nil, err
	}
	return v, nil
}

// covers returns nil if a subject has digest and, when name is not empty, name.
func (v *Verified) covers(name, digest string) error {
	var named *Subject
	var sameContent []string
	for i, s := range v.Subjects {
		if s.SHA256 == digest {
			if name == "" || s.Name == name {
				return nil
			}
			sameContent = append(sameContent, s.Name)
		}
		if s.Name == name {
			named = &v.Subjects[i]
		}
	}
	const changed = "the file was changed after the build, or this is the provenance of another artifact"
	switch {
	case named != nil:
		return refused("the file was changed after the build, or this is the provenance of another build of it",
			"the artifact's sha256 is %s but the provenance covers %s for %q", digest, named.SHA256, name)
	case len(sameContent) > 0:
		return refused("check the artifact's name: pass the name the job kept it under, or none to match by content only",
			"the provenance covers this content as %s, not as %q", quoteList(sameContent), name)
	case name != "":
		return refused("check the artifact's name, and that this is the provenance of the run that built it",
			"the provenance covers no artifact named %q; it covers %s", short(name), subjectList(v.Subjects))
	case len(v.Subjects) == 1:
		return refused(changed, "the artifact's sha256 is %s but the provenance covers %s", digest, v.Subjects[0].SHA256)
	default:
		return refused(changed, "the artifact's sha256 is %s but the provenance covers only %s", digest, subjectList(v.Subjects))
	}
}

// subjectList names a few subjects for an error message.
func subjectList(subjects []Subject) string {
	const most = 5
	var parts []string
	for i, s := range subjects {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more", len(subjects)-most))
			break
		}
		parts = append(parts, fmt.Sprintf("%q (sha256 %s)", s.Name, s.SHA256))
	}
	return strings.Join(parts, ", ")
}

// short bounds a string from an envelope before an error message quotes it: envelopes come
// from users, and a megabyte payloadType should not become a megabyte log line.
func short(s string) string {
	const most = 120
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// isBase64 reports whether s decodes as DSSE allows: standard or URL-safe base64.
func isBase64(s string) bool {
	if _, err := base64.StdEncoding.DecodeString(s); err == nil {
		return true
	}
	_, err := base64.URLEncoding.DecodeString(s)
	return err == nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// readPredicate reads the Build back from a predicate laid out as the package doc says.
func readPredicate(pred *structpb.Struct) (*Build, error) {
	prov := &slsa.Provenance{}
	if pred == nil {
		return nil, errors.New("no predicate")
	}
	if err := fromStruct(pred, prov); err != nil {
		return nil, fmt.Errorf("predicate: %w", err)
	}
	def, run := prov.GetBuildDefinition(), prov.GetRunDetails()
	if def.GetBuildType() != BuildType {
		return nil, fmt.Errorf("its buildType is %q, not %q", short(def.GetBuildType()), BuildType)
	}
	b := &Build{BuilderID: run.GetBuilder().GetId()}
	if b.BuilderID == "" {
		return nil, errors.New("runDetails.builder.id is empty")
	}
	var r fieldReader
	ext := def.GetExternalParameters()
	const extAt, inAt = "externalParameters", "internalParameters"
	b.Repository = r.str(ext, extAt, "repository", true)
	b.Ref = r.str(ext, extAt, "ref", false)
	b.Job = r.str(ext, extAt, "job", true)
	pipeline := r.obj(ext, extAt, "pipeline", true)
	b.PipelineFile = r.str(pipeline, extAt+".pipeline", "path", true)
	digest := r.obj(pipeline, extAt+".pipeline", "digest", true)
	b.PipelineSHA256 = r.str(digest, extAt+".pipeline.digest", "sha256", true)
	if params := r.obj(ext, extAt, "parameters", false); len(params.GetFields()) > 0 {
		b.Parameters = make(map[string]string, len(params.GetFields()))
		for k := range params.GetFields() {
			b.Parameters[k] = r.str(params, extAt+".parameters", k, false)
		}
	}
	in := def.GetInternalParameters()
	b.Project = r.str(in, inAt, "project", true)
	b.RunID = r.id(in, inAt, "runId")
	b.RunNumber = r.id(in, inAt, "runNumber")
	b.JobID = r.id(in, inAt, "jobId")
	b.Event = r.str(in, inAt, "event", false)
	b.TriggeredBy = r.str(in, inAt, "triggeredBy", false)
	if r.err != nil {
		return nil, r.err
	}

	deps := def.GetResolvedDependencies()
	if len(deps) == 0 || deps[0].GetUri() != sourceURI(b.Repository, b.Ref) {
		return nil, errors.New("its first resolved dependency is not the source repository")
	}
	b.Commit = deps[0].GetDigest()["gitCommit"]
	if err := checkCommit("source commit", b.Commit); err != nil {
		return nil, errors.New("its source has no full gitCommit digest")
	}
	for _, d := range deps[1:] {
		b.Materials = append(b.Materials, Material{
			Name:      d.GetName(),
			URI:       d.GetUri(),
			SHA256:    d.GetDigest()["sha256"],
			GitCommit: d.GetDigest()["gitCommit"],
		})
	}
	meta := run.GetMetadata()
	if meta.GetStartedOn() != nil {
		b.StartedAt = meta.GetStartedOn().AsTime()
	}
	if meta.GetFinishedOn() != nil {
		b.FinishedAt = meta.GetFinishedOn().AsTime()
	}
	return b, nil
}

// fieldReader reads typed values out of JSON objects, remembering the first problem, so that
// a caller can read several values and check once.
type fieldReader struct{ err error }

func (r *fieldReader) fail(at, name, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s.%s is missing or not %s", at, name, want)
	}
}

// str reads a string; a required one must be there and not empty.
func (r *fieldReader) str(s *structpb.Struct, at, name string, required bool) string {
	v, ok := s.GetFields()[name]
	if !ok && !required {
		return ""
	}
	sv, isStr := v.GetKind().(*structpb.Value_StringValue)
	if required && (!isStr || sv.StringValue == "") {
		r.fail(at, name, "a non-empty string")
		return ""
	} else if !isStr {
		r.fail(at, name, "a string")
		return ""
	}
	return sv.StringValue
}

// obj reads an object; nil when it is missing.
func (r *fieldReader) obj(s *structpb.Struct, at, name string, required bool) *structpb.Struct {
	v, ok := s.GetFields()[name]
	if !ok && !required {
		return nil
	}
	sv, isObj := v.GetKind().(*structpb.Value_StructValue)
	if !isObj {
		r.fail(at, name, "an object")
		return nil
	}
	return sv.StructValue
}

// id reads a non-negative integer that JSON carries exactly.
func (r *fieldReader) id(s *structpb.Struct, at, name string) int64 {
	nv, ok := s.GetFields()[name].GetKind().(*structpb.Value_NumberValue)
	if !ok || nv.NumberValue < 0 || nv.NumberValue > maxID || nv.NumberValue != math.Trunc(nv.NumberValue) {
		r.fail(at, name, "an integer from 0 to 2^53")
		return 0
	}
	return int64(nv.NumberValue)
}
