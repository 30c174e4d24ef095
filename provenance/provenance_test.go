package provenance

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	ita "github.com/in-toto/attestation/go/v1"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/rampart-ci/rampart"
)

// testKey returns a fixed key, so that fuzz inputs and failures reproduce.
func testKey(seed byte) *Key {
	return newKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize)))
}

func sum(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

var (
	appBinary = []byte("\x7fELF the app, as the job built it\n")
	appSBOM   = []byte(`{"bomFormat":"CycloneDX"}`)
)

func testBuild() Build {
	return Build{
		BuilderID:      "https://rampart.example/agents",
		Repository:     "https://git.example/acme/web.git",
		Commit:         "0123456789abcdef0123456789abcdef01234567",
		Ref:            "refs/heads/main",
		PipelineFile:   ".rampart.yml",
		PipelineSHA256: sum([]byte("jobs: {}\n")),
		Project:        "web",
		RunID:          12,
		RunNumber:      7,
		JobID:          34,
		Job:            "build",
		Event:          rampart.EventPush,
		Parameters:     map[string]string{"target": "linux/amd64", "empty": ""},
		StartedAt:      time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC),
		FinishedAt:     time.Date(2026, 5, 1, 10, 3, 30, 0, time.UTC),
		Materials: []Material{
			{URI: "pkg:docker/golang@1.26", SHA256: sum([]byte("golang image"))},
			{Name: "tools", URI: "git+https://git.example/acme/tools.git", GitCommit: "89abcdef0123456789abcdef0123456789abcdef"},
		},
	}
}

func testSubjects() []Subject {
	return []Subject{
		{Name: "dist/app", SHA256: sum(appBinary)},
		{Name: "dist/app.cdx.json", SHA256: "sha256:" + sum(appSBOM)}, // as rampart.Artifact.Digest has it
	}
}

func signedEnvelope(t testing.TB, k *Key) []byte {
	t.Helper()
	stmt, err := Statement(testBuild(), testSubjects())
	if err != nil {
		t.Fatal(err)
	}
	env, err := k.Sign(stmt)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func decodeEnv(t testing.TB, data []byte) dsse.Envelope {
	t.Helper()
	var env dsse.Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	return env
}

func encodeEnv(t testing.TB, env any) []byte {
	t.Helper()
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// mustRefuse fails unless err is a verification failure with code.
func mustRefuse(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatal("verified; want a refusal")
	}
	if !errors.Is(err, ErrVerify) {
		t.Errorf("error %v does not match ErrVerify", err)
	}
	if got := rampart.ErrorCode(err); got != code {
		t.Errorf("code %s, want %s (%v)", got, code, err)
	}
	if rampart.ErrorDetail(err) == "" {
		t.Errorf("error %v says nothing about how to fix it", err)
	}
}

func TestRoundTrip(t *testing.T) {
	k := testKey(1)
	data := signedEnvelope(t, k)

	env := decodeEnv(t, data)
	if env.PayloadType != PayloadType || len(env.Signatures) != 1 || env.Signatures[0].KeyID != k.ID() {
		t.Fatalf("envelope %s: want payloadType %s and one signature by %s", data, PayloadType, k.ID())
	}

	v, err := Verify(data, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if v.KeyID != k.ID() {
		t.Errorf("KeyID %s, want %s", v.KeyID, k.ID())
	}
	wantSubjects := []Subject{{"dist/app", sum(appBinary)}, {"dist/app.cdx.json", sum(appSBOM)}}
	if !reflect.DeepEqual(v.Subjects, wantSubjects) {
		t.Errorf("subjects %+v, want %+v", v.Subjects, wantSubjects)
	}
	if want := testBuild(); !reflect.DeepEqual(v.Build, want) {
		t.Errorf("build\n got %+v\nwant %+v", v.Build, want)
	}

	for _, name := range []string{"dist/app", ""} {
		if _, err := VerifyArtifact(bytes.NewReader(appBinary), name, data, k.Public()); err != nil {
			t.Errorf("VerifyArtifact(name %q): %v", name, err)
		}
	}
	if _, err := VerifyArtifact(bytes.NewReader(appSBOM), "dist/app.cdx.json", data, k.Public()); err != nil {
		t.Errorf("VerifyArtifact(second subject): %v", err)
	}
}

// TestStatementShape pins the JSON that other SLSA tools read.
func TestStatementShape(t *testing.T) {
	b := testBuild()
	b.Parameters = nil
	stmt, err := Statement(b, testSubjects())
	if err != nil {
		t.Fatal(err)
	}
	data, err := protojson.Marshal(stmt)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	at := func(path ...any) any {
		cur := doc
		for _, p := range path {
			switch p := p.(type) {
			case string:
				m, _ := cur.(map[string]any)
				cur = m[p]
			case int:
				l, _ := cur.([]any)
				if p >= len(l) {
					return nil
				}
				cur = l[p]
			}
		}
		return cur
	}
	bd, rd := "buildDefinition", "runDetails"
	for _, c := range []struct {
		path []any
		want any
	}{
		{[]any{"_type"}, "https://in-toto.io/Statement/v1"},
		{[]any{"predicateType"}, "https://slsa.dev/provenance/v1"},
		{[]any{"subject", 0, "name"}, "dist/app"},
		{[]any{"subject", 1, "digest", "sha256"}, sum(appSBOM)},
		{[]any{"predicate", bd, "buildType"}, BuildType},
		{[]any{"predicate", bd, "externalParameters", "repository"}, b.Repository},
		{[]any{"predicate", bd, "externalParameters", "ref"}, b.Ref},
		{[]any{"predicate", bd, "externalParameters", "job"}, "build"},
		{[]any{"predicate", bd, "externalParameters", "pipeline", "path"}, ".rampart.yml"},
		{[]any{"predicate", bd, "externalParameters", "pipeline", "digest", "sha256"}, b.PipelineSHA256},
		{[]any{"predicate", bd, "externalParameters", "parameters"}, nil},
		{[]any{"predicate", bd, "internalParameters", "project"}, "web"},
		{[]any{"predicate", bd, "internalParameters", "runId"}, 12.0},
		{[]any{"predicate", bd, "internalParameters", "runNumber"}, 7.0},
		{[]any{"predicate", bd, "internalParameters", "jobId"}, 34.0},
		{[]any{"predicate", bd, "internalParameters", "event"}, "push"},
		{[]any{"predicate", bd, "resolvedDependencies", 0, "uri"}, "git+https://git.example/acme/web.git@refs/heads/main"},
		{[]any{"predicate", bd, "resolvedDependencies", 0, "digest", "gitCommit"}, b.Commit},
		{[]any{"predicate", bd, "resolvedDependencies", 2, "digest", "gitCommit"}, b.Materials[1].GitCommit},
		{[]any{"predicate", rd, "builder", "id"}, "https://rampart.example/agents"},
		{[]any{"predicate", rd, "metadata", "invocationId"}, "web/7/34"},
		{[]any{"predicate", rd, "metadata", "startedOn"}, "2026-05-01T10:00:00.123456789Z"},
		{[]any{"predicate", rd, "metadata", "finishedOn"}, "2026-05-01T10:03:30Z"},
	} {
		if got := at(c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%v = %#v, want %#v", c.path, got, c.want)
		}
	}
}

func TestStatementRejectsBadInput(t *testing.T) {
	for name, tc := range map[string]struct {
		edit     func(*Build)
		subjects []Subject
	}{
		"no subjects":              {subjects: []Subject{}},
		"subject without name":     {subjects: []Subject{{SHA256: sum(appBinary)}}},
		"subject digest short":     {subjects: []Subject{{Name: "a", SHA256: sum(appBinary)[:63]}}},
		"subject digest uppercase": {subjects: []Subject{{Name: "a", SHA256: strings.ToUpper(sum(appBinary))}}},
		"subject digest sha512":    {subjects: []Subject{{Name: "a", SHA256: "sha512:" + sum(appBinary)}}},
		"subject listed twice": {subjects: []Subject{
			{Name: "a", SHA256: sum(appBinary)}, {Name: "a", SHA256: sum(appSBOM)}}},
		"subject name with newline": {subjects: []Subject{{Name: "a\nforged: line", SHA256: sum(appBinary)}}},
		"no builder id":             {edit: func(b *Build) { b.BuilderID = "" }},
		"relative builder id":       {edit: func(b *Build) { b.BuilderID = "agents" }},
		"no repository":             {edit: func(b *Build) { b.Repository = "" }},
		"repository with password":  {edit: func(b *Build) { b.Repository = "https://ci:s3cret@git.example/acme/web.git" }},
		"repository with token":     {edit: func(b *Build) { b.Repository = "https://ghp_token@git.example/acme/web.git" }},
		"material URI with token": {edit: func(b *Build) {
			b.Materials = []Material{{URI: "https://oauth2:tok@git.example/x.git", GitCommit: b.Commit}}
		}},
		"short commit":              {edit: func(b *Build) { b.Commit = "0123456" }},
		"uppercase commit":          {edit: func(b *Build) { b.Commit = strings.ToUpper(b.Commit) }},
		"commit is a branch":        {edit: func(b *Build) { b.Commit = "main" }},
		"no pipeline file":          {edit: func(b *Build) { b.PipelineFile = "" }},
		"pipeline digest missing":   {edit: func(b *Build) { b.PipelineSHA256 = "" }},
		"no project":                {edit: func(b *Build) { b.Project = "" }},
		"no job":                    {edit: func(b *Build) { b.Job = "" }},
		"job not UTF-8":             {edit: func(b *Build) { b.Job = "build\xff" }},
		"negative run id":           {edit: func(b *Build) { b.RunID = -1 }},
		"job id beyond 2^53":        {edit: func(b *Build) { b.JobID = 1<<53 + 1 }},
		"parameter value not UTF-8": {edit: func(b *Build) { b.Parameters = map[string]string{"k": "\xc3"} }},
		"empty parameter name":      {edit: func(b *Build) { b.Parameters = map[string]string{"": "v"} }},
		"finished before started":   {edit: func(b *Build) { b.FinishedAt = b.StartedAt.Add(-time.Second) }},
		"material without digest":   {edit: func(b *Build) { b.Materials = []Material{{Name: "x"}} }},
		"material without name":     {edit: func(b *Build) { b.Materials = []Material{{SHA256: sum(appBinary)}} }},
		"material bad commit":       {edit: func(b *Build) { b.Materials = []Material{{Name: "x", GitCommit: "abc"}} }},
	} {
		t.Run(name, func(t *testing.T) {
			b := testBuild()
			if tc.edit != nil {
				tc.edit(&b)
			}
			subjects := tc.subjects
			if subjects == nil {
				subjects = testSubjects()
			}
			_, err := Statement(b, subjects)
			if rampart.ErrorCode(err) != rampart.EINVALID {
				t.Fatalf("err = %v, want EINVALID", err)
			}
		})
	}

	t.Run("ssh user name allowed", func(t *testing.T) {
		for _, repo := range []string{"ssh://git@git.example/acme/web.git", "git@git.example:acme/web.git"} {
			b := testBuild()
			b.Repository = repo
			if _, err := Statement(b, testSubjects()); err != nil {
				t.Errorf("%s: %v", repo, err)
			}
		}
	})

	t.Run("SHA-256 repository commit", func(t *testing.T) {
		b := testBuild()
		b.Commit = sum([]byte("a commit in a SHA-256 repository"))
		k := testKey(1)
		stmt, err := Statement(b, testSubjects())
		if err != nil {
			t.Fatal(err)
		}
		env, err := k.Sign(stmt)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Verify(env, k.Public())
		if err != nil {
			t.Fatal(err)
		}
		if v.Build.Commit != b.Commit {
			t.Errorf("commit %s, want %s", v.Build.Commit, b.Commit)
		}
	})
}

func TestSignSignsOnlyProvenance(t *testing.T) {
	k := testKey(1)
	stmt, err := Statement(testBuild(), testSubjects())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Sign(nil); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("Sign(nil) = %v, want EINVALID", err)
	}
	other := &ita.Statement{Type: stmt.Type, Subject: stmt.Subject, PredicateType: "https://example.com/anything/v1", Predicate: stmt.Predicate}
	if _, err := k.Sign(other); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("Sign(other predicate type) = %v, want EINVALID", err)
	}
	unsubjected := &ita.Statement{Type: stmt.Type, PredicateType: stmt.PredicateType, Predicate: stmt.Predicate}
	if _, err := k.Sign(unsubjected); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("Sign(no subjects) = %v, want EINVALID", err)
	}
	var zero Key
	if _, err := zero.Sign(stmt); err == nil {
		t.Error("the zero Key signed")
	}
}

// resign returns the test statement, edited by edit, encoded and signed by k as payloadType:
// what an attacker holding the key could make, to check that Verify still reads it strictly.
func resign(t *testing.T, k *Key, payloadType string, edit func(map[string]any)) []byte {
	t.Helper()
	stmt, err := Statement(testBuild(), testSubjects())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := protojson.Marshal(stmt)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var doc map[string]any
		if err := json.Unmarshal(payload, &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		payload = encodeEnv(t, doc)
	}
	env, err := k.signEnvelope(payloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestVerifyRefuses(t *testing.T) {
	k, other := testKey(1), testKey(2)
	good := signedEnvelope(t, k)

	edit := func(f func(env *dsse.Envelope)) []byte {
		env := decodeEnv(t, good)
		f(&env)
		return encodeEnv(t, env)
	}
	editPayload := func(f func(doc map[string]any)) []byte {
		return edit(func(env *dsse.Envelope) {
			payload, err := base64.StdEncoding.DecodeString(env.Payload)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(payload, &doc); err != nil {
				t.Fatal(err)
			}
			f(doc)
			env.Payload = base64.StdEncoding.EncodeToString(encodeEnv(t, doc))
		})
	}
	predicate := func(doc map[string]any) map[string]any { return doc["predicate"].(map[string]any) }
	buildDef := func(doc map[string]any) map[string]any {
		return predicate(doc)["buildDefinition"].(map[string]any)
	}

	for name, tc := range map[string]struct {
		envelope []byte
		code     string
	}{
		// Tampering: every change of what was signed breaks the signature.
		"one byte of the base64 payload changed": {edit(func(env *dsse.Envelope) {
			b := []byte(env.Payload)
			i := len(b) / 2
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			env.Payload = string(b)
		}), rampart.EFORBIDDEN},
		"subject digest changed and re-encoded": {editPayload(func(doc map[string]any) {
			doc["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha256": sum([]byte("malware"))}
		}), rampart.EFORBIDDEN},
		"subject added and re-encoded": {editPayload(func(doc map[string]any) {
			doc["subject"] = append(doc["subject"].([]any), map[string]any{"name": "evil", "digest": map[string]any{"sha256": sum([]byte("malware"))}})
		}), rampart.EFORBIDDEN},
		"commit changed and re-encoded": {editPayload(func(doc map[string]any) {
			buildDef(doc)["resolvedDependencies"].([]any)[0].(map[string]any)["digest"] = map[string]any{"gitCommit": strings.Repeat("f", 40)}
		}), rampart.EFORBIDDEN},
		"payload re-encoded with other whitespace": {editPayload(func(map[string]any) {}), rampart.EFORBIDDEN},
		"payloadType changed after signing": {edit(func(env *dsse.Envelope) {
			env.PayloadType = "application/vnd.in-toto+json; charset=utf-8"
		}), rampart.EFORBIDDEN},

		// Signatures: only a valid one by our key counts.
		"signed by another key":              {signedEnvelope(t, other), rampart.EFORBIDDEN},
		"another key's signature, our keyid": {relabel(t, signedEnvelope(t, other), k.ID()), rampart.EFORBIDDEN},
		"another key's signature, no keyid":  {relabel(t, signedEnvelope(t, other), ""), rampart.EFORBIDDEN},
		"signatures empty":                   {edit(func(env *dsse.Envelope) { env.Signatures = []dsse.Signature{} }), rampart.EFORBIDDEN},
		"signatures null":                    {edit(func(env *dsse.Envelope) { env.Signatures = nil }), rampart.EFORBIDDEN},
		"signature field removed": {[]byte(`{"payloadType":"` + PayloadType + `","payload":"` +
			decodeEnv(t, good).Payload + `"}`), rampart.EFORBIDDEN},
		"empty signature":      {edit(func(env *dsse.Envelope) { env.Signatures[0].Sig = "" }), rampart.EFORBIDDEN},
		"signature not base64": {edit(func(env *dsse.Envelope) { env.Signatures[0].Sig = "!!!" }), rampart.EFORBIDDEN},
		"signature truncated": {edit(func(env *dsse.Envelope) {
			env.Signatures[0].Sig = env.Signatures[0].Sig[:20]
		}), rampart.EFORBIDDEN},
		"signature bit flipped": {edit(func(env *dsse.Envelope) { env.Signatures[0].Sig = flipBit(t, env.Signatures[0].Sig) }), rampart.EFORBIDDEN},
		"two bad signatures": {edit(func(env *dsse.Envelope) {
			bad := dsse.Signature{KeyID: k.ID(), Sig: flipBit(t, env.Signatures[0].Sig)}
			env.Signatures = []dsse.Signature{bad, bad}
		}), rampart.EFORBIDDEN},

		// Signed by our key, but not our provenance: the key signs only what Sign allows, and
		// Verify still refuses anything else in case another signing path ever appears.
		"wrong payloadType, signed": {resign(t, k, "application/json", nil), rampart.EFORBIDDEN},
		"payload signed as another type": {func() []byte {
			env := decodeEnv(t, resign(t, k, "application/json", nil))
			env.PayloadType = PayloadType
			return encodeEnv(t, env)
		}(), rampart.EFORBIDDEN},
		"wrong predicateType, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			doc["predicateType"] = "https://slsa.dev/provenance/v0.2"
		}), rampart.EFORBIDDEN},
		"legacy statement type, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			doc["_type"] = "https://in-toto.io/Statement/v0.1"
		}), rampart.EFORBIDDEN},
		"other buildType, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			buildDef(doc)["buildType"] = "https://rampart.dev/buildtypes/job/v2"
		}), rampart.EFORBIDDEN},
		"source dependency removed, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			buildDef(doc)["resolvedDependencies"] = []any{}
		}), rampart.EFORBIDDEN},
		"run id not an integer, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			buildDef(doc)["internalParameters"].(map[string]any)["runId"] = 1.5
		}), rampart.EFORBIDDEN},
		"subject without sha256, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			doc["subject"].([]any)[0].(map[string]any)["digest"] = map[string]any{"sha512": strings.Repeat("ab", 64)}
		}), rampart.EFORBIDDEN},
		"no predicate, signed": {resign(t, k, PayloadType, func(doc map[string]any) {
			delete(doc, "predicate")
		}), rampart.EFORBIDDEN},
		"payload not JSON, signed": {func() []byte {
			env, err := k.signEnvelope(PayloadType, []byte("not json"))
			if err != nil {
				t.Fatal(err)
			}
			return env
		}(), rampart.EFORBIDDEN},

		// Not an envelope at all.
		"empty input":        {[]byte(""), rampart.EINVALID},
		"truncated JSON":     {good[:len(good)/2], rampart.EINVALID},
		"JSON null":          {[]byte("null"), rampart.EINVALID},
		"JSON array":         {[]byte(`[]`), rampart.EINVALID},
		"empty object":       {[]byte(`{}`), rampart.EINVALID},
		"payloadType number": {[]byte(`{"payloadType":5,"payload":"e30=","signatures":[]}`), rampart.EINVALID},
		"payload not base64": {edit(func(env *dsse.Envelope) { env.Payload = "%%%" }), rampart.EINVALID},
		"trailing garbage":   {append(append([]byte{}, good...), []byte(`{}`)...), rampart.EINVALID},
		"too large": {append(append([]byte{}, good[:len(good)-1]...),
			[]byte(`,"pad":"`+strings.Repeat("x", MaxEnvelopeSize)+`"}`)...), rampart.EINVALID},
		"too many signatures": {edit(func(env *dsse.Envelope) {
			for len(env.Signatures) <= MaxSignatures {
				env.Signatures = append(env.Signatures, env.Signatures[0])
			}
		}), rampart.EINVALID},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := Verify(tc.envelope, k.Public())
			if v != nil {
				t.Errorf("returned %+v with the error", v)
			}
			mustRefuse(t, err, tc.code)
		})
	}
}

// TestVerifyErrorsAreShort checks that an error never quotes a large attacker-chosen string.
func TestVerifyErrorsAreShort(t *testing.T) {
	k := testKey(1)
	env := decodeEnv(t, signedEnvelope(t, k))
	env.PayloadType = strings.Repeat("x", 1<<20)
	_, err := Verify(encodeEnv(t, env), k.Public())
	mustRefuse(t, err, rampart.EFORBIDDEN)
	if n := len(err.Error()); n > 1000 {
		t.Errorf("error is %d bytes long", n)
	}
	_, err = Verify([]byte(`{"payloadType":"`+strings.Repeat("é", 1<<19)+`",`), k.Public())
	mustRefuse(t, err, rampart.EINVALID)
	if n := len(err.Error()); n > 1000 {
		t.Errorf("error is %d bytes long", n)
	}
}

// relabel sets the keyid of every signature of data.
func relabel(t testing.TB, data []byte, keyID string) []byte {
	t.Helper()
	env := decodeEnv(t, data)
	for i := range env.Signatures {
		env.Signatures[i].KeyID = keyID
	}
	return encodeEnv(t, env)
}

func toURLBase64(t *testing.T, sig string) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	return base64.URLEncoding.EncodeToString(raw)
}

func flipBit(t *testing.T, sig string) string {
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	return base64.StdEncoding.EncodeToString(raw)
}

// TestVerifyMultipleSignatures pins the policy documented at Verify: one valid signature by the
// key is enough; the others, bad or by other keys, neither help nor hurt.
func TestVerifyMultipleSignatures(t *testing.T) {
	k, other := testKey(1), testKey(2)
	env := decodeEnv(t, signedEnvelope(t, k))
	ours := env.Signatures[0]
	theirs := decodeEnv(t, signedEnvelope(t, other)).Signatures[0] // valid, by a key we do not trust
	bad := dsse.Signature{KeyID: k.ID(), Sig: flipBit(t, ours.Sig)}
	junk := dsse.Signature{KeyID: "junk", Sig: base64.StdEncoding.EncodeToString([]byte("junk"))}

	for name, sigs := range map[string][]dsse.Signature{
		"good then bad":       {ours, bad},
		"bad then good":       {bad, ours},
		"other key then ours": {theirs, ours},
		"ours then junk":      {ours, junk},
		"garbled then ours":   {{KeyID: k.ID(), Sig: "!!! not base64"}, ours},
		"ours then garbled":   {ours, {Sig: "%%%"}},
		"URL-safe base64":     {{KeyID: ours.KeyID, Sig: toURLBase64(t, ours.Sig)}},
		"ours twice":          {ours, ours},
	} {
		t.Run(name, func(t *testing.T) {
			e := env
			e.Signatures = sigs
			v, err := Verify(encodeEnv(t, e), k.Public())
			if err != nil {
				t.Fatal(err)
			}
			if v.KeyID != k.ID() {
				t.Errorf("accepted key %s, want %s", v.KeyID, k.ID())
			}
		})
	}
	t.Run("only other keys", func(t *testing.T) {
		e := env
		e.Signatures = []dsse.Signature{theirs, bad, junk}
		_, err := Verify(encodeEnv(t, e), k.Public())
		mustRefuse(t, err, rampart.EFORBIDDEN)
	})
}

func TestVerifyBadPublicKey(t *testing.T) {
	good := signedEnvelope(t, testKey(1))
	for _, pub := range []ed25519.PublicKey{nil, {}, make([]byte, 31), make([]byte, 64)} {
		_, err := Verify(good, pub)
		if rampart.ErrorCode(err) != rampart.EINVALID || errors.Is(err, ErrVerify) {
			t.Errorf("Verify with a %d-byte key: %v, want EINVALID without ErrVerify", len(pub), err)
		}
	}
	// The all-zero key is a small-order point: no signature may verify under it.
	mustRefuse(t, func() error { _, err := Verify(good, make([]byte, 32)); return err }(), rampart.EFORBIDDEN)
}

func TestVerifyArtifactRefuses(t *testing.T) {
	k := testKey(1)
	env := signedEnvelope(t, k)
	changed := bytes.Clone(appBinary)
	changed[len(changed)-1] ^= 1

	for name, tc := range map[string]struct {
		artifact []byte
		name     string
		want     []string // in the message
	}{
		"one byte changed": {changed, "dist/app",
			[]string{"sha256 is " + sum(changed), "covers " + sum(appBinary), `"dist/app"`}},
		"one byte changed, no name": {changed, "",
			[]string{"sha256 is " + sum(changed), sum(appBinary), sum(appSBOM)}},
		"right content, wrong name": {appBinary, "dist/app-debug",
			[]string{`as "dist/app"`, `not as "dist/app-debug"`}},
		"another subject's content under this name": {appSBOM, "dist/app",
			[]string{"sha256 is " + sum(appSBOM), "covers " + sum(appBinary) + ` for "dist/app"`}},
		"unknown name and content": {[]byte("other"), "other.tar",
			[]string{`no artifact named "other.tar"`, `"dist/app"`}},
		"empty artifact": {nil, "", []string{"sha256 is " + sum(nil)}},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := VerifyArtifact(bytes.NewReader(tc.artifact), tc.name, env, k.Public())
			if v != nil {
				t.Errorf("returned %+v with the error", v)
			}
			mustRefuse(t, err, rampart.EFORBIDDEN)
			for _, w := range tc.want {
				if !strings.Contains(rampart.ErrorMessage(err), w) {
					t.Errorf("message %q does not say %q", rampart.ErrorMessage(err), w)
				}
			}
		})
	}

	t.Run("one-subject message", func(t *testing.T) {
		stmt, err := Statement(testBuild(), []Subject{{Name: "app", SHA256: sum(appBinary)}})
		if err != nil {
			t.Fatal(err)
		}
		one, err := k.Sign(stmt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyArtifact(bytes.NewReader(changed), "", one, k.Public())
		mustRefuse(t, err, rampart.EFORBIDDEN)
		want := "the artifact's sha256 is " + sum(changed) + " but the provenance covers " + sum(appBinary)
		if rampart.ErrorMessage(err) != want {
			t.Errorf("message %q, want %q", rampart.ErrorMessage(err), want)
		}
		if d := rampart.ErrorDetail(err); !strings.Contains(d, "changed after the build") {
			t.Errorf("detail %q does not say the file may have been changed", d)
		}
	})

	t.Run("forged envelope refused before reading", func(t *testing.T) {
		r := iotest.ErrReader(errors.New("must not be read"))
		_, err := VerifyArtifact(r, "", signedEnvelope(t, testKey(2)), k.Public())
		mustRefuse(t, err, rampart.EFORBIDDEN)
	})

	t.Run("read error is not a refusal", func(t *testing.T) {
		r := iotest.ErrReader(errors.New("disk on fire"))
		_, err := VerifyArtifact(r, "", env, k.Public())
		if err == nil || errors.Is(err, ErrVerify) || rampart.ErrorCode(err) != rampart.EINTERNAL {
			t.Errorf("err = %v, want an internal error that is not ErrVerify", err)
		}
	})
}

// FuzzVerify feeds Verify envelopes derived from a valid one: it must never panic, every error
// must be a refusal with one of the documented codes, and whatever verifies must be exactly the
// statement that was signed, since the fuzzer holds no key.
func FuzzVerify(f *testing.F) {
	k := testKey(1)
	good := signedEnvelope(f, k)
	f.Add(good)
	f.Add(relabel(f, good, ""))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":""}]}`))
	f.Add([]byte(`{"payloadType":"application/vnd.in-toto+json","payload":"","signatures":null}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	wrongType, err := k.signEnvelope("application/json", []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wrongType)
	junk, err := k.signEnvelope(PayloadType, []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"a","digest":{"sha256":"`+sum(nil)+`"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(junk)
	want := testBuild()

	f.Fuzz(func(t *testing.T, envelope []byte) {
		v, err := Verify(envelope, k.Public())
		if err != nil {
			code := rampart.ErrorCode(err)
			if !errors.Is(err, ErrVerify) || (code != rampart.EINVALID && code != rampart.EFORBIDDEN) {
				t.Fatalf("error %v (code %s) is not a documented refusal", err, code)
			}
			return
		}
		if !reflect.DeepEqual(v.Build, want) || len(v.Subjects) != 2 {
			t.Fatalf("verified something that was never signed: %+v", v)
		}
	})
}

func BenchmarkSignVerify(b *testing.B) {
	k := testKey(1)
	stmt, err := Statement(testBuild(), testSubjects())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		env, err := k.Sign(stmt)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Verify(env, k.Public()); err != nil {
			b.Fatal(err)
		}
	}
}
