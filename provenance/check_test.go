package provenance

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rampart-ci/rampart"
)

// checkTx is the part of a store transaction Checker.Check reads; calling anything else panics.
type checkTx struct {
	rampart.Tx
	envelopes map[int64][]byte
	blobs     map[string][]byte
	err       error
}

func (tx *checkTx) ArtifactProvenance(_ context.Context, id int64) ([]byte, error) {
	if tx.err != nil {
		return nil, tx.err
	}
	return tx.envelopes[id], nil
}

func (tx *checkTx) Blob(_ context.Context, digest string) ([]byte, error) {
	data, ok := tx.blobs[digest]
	if !ok {
		return nil, rampart.Errorf(rampart.ENOTFOUND, "blob %s not found", digest)
	}
	return data, nil
}

func TestBuilderID(t *testing.T) {
	k := testKey(1)
	id := BuilderID(k.Public())
	if id != "https://rampart.dev/builders/server/"+k.ID() {
		t.Fatalf("BuilderID = %q", id)
	}
	if BuilderID(testKey(2).Public()) == id {
		t.Fatal("two keys have one builder id")
	}
	b := testBuild()
	b.BuilderID = id
	if err := b.validate(); err != nil {
		t.Fatalf("the builder id is not one Statement accepts: %v", err)
	}
}

func TestChecker(t *testing.T) {
	k := testKey(1)
	checker := NewChecker(k.Public())
	build := testBuild()
	build.BuilderID = checker.BuilderID
	build.TriggeredBy = "alice"
	sign := func(b Build, subjects ...Subject) []byte {
		t.Helper()
		stmt, err := Statement(b, subjects)
		if err != nil {
			t.Fatal(err)
		}
		env, err := k.Sign(stmt)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	app := &rampart.Artifact{ID: 5, RunID: build.RunID, JobID: build.JobID, Name: "dist/app", Digest: "sha256:" + sum(appBinary)}
	good := sign(build, Subject{Name: app.Name, SHA256: app.Digest})
	const commit = "0123456789abcdef0123456789abcdef01234567"

	other := build
	other.Commit = "89abcdef0123456789abcdef0123456789abcdef"
	foreignBuilder := build
	foreignBuilder.BuilderID = "https://ci.example/builder"
	otherJob := build
	otherJob.JobID = 99

	for _, tc := range []struct {
		name     string
		checker  *Checker
		artifact func(a *rampart.Artifact)
		envelope []byte
		content  []byte
		commit   string
		code     string
		words    []string
	}{
		{name: "good", envelope: good},
		{name: "upper-case commit", envelope: good, commit: strings.ToUpper(commit)},
		{name: "no provenance", envelope: nil, code: rampart.EFORBIDDEN, words: []string{"no provenance from this server"}},
		{name: "content changed", envelope: good, content: []byte("\x7fELF a backdoored app\n"),
			code: rampart.EFORBIDDEN, words: []string{"sha256", sum([]byte("\x7fELF a backdoored app\n")), sum(appBinary)}},
		{name: "envelope changed", envelope: []byte(strings.Replace(string(good), `"payload":"`, `"payload":"x`, 1)),
			code: rampart.EINVALID},
		{name: "signed by another key", envelope: func() []byte {
			stmt, _ := Statement(build, []Subject{{Name: app.Name, SHA256: app.Digest}})
			env, _ := testKey(2).Sign(stmt)
			return env
		}(), code: rampart.EFORBIDDEN, words: []string{"no signature by key " + k.ID()}},
		{name: "other commit", envelope: sign(other, Subject{Name: app.Name, SHA256: app.Digest}),
			code: rampart.EFORBIDDEN, words: []string{other.Commit, "not from the deployed commit"}},
		{name: "other builder", envelope: sign(foreignBuilder, Subject{Name: app.Name, SHA256: app.Digest}),
			code: rampart.EFORBIDDEN, words: []string{"https://ci.example/builder", checker.BuilderID}},
		{name: "other job", envelope: sign(otherJob, Subject{Name: app.Name, SHA256: app.Digest}),
			code: rampart.EFORBIDDEN, words: []string{"job 99", "job 34"}},
		{name: "other name", envelope: sign(build, Subject{Name: "dist/tool", SHA256: app.Digest}),
			code: rampart.EFORBIDDEN, words: []string{`"dist/tool"`, `"dist/app"`}},
		{name: "record changed", envelope: good, artifact: func(a *rampart.Artifact) { a.Digest = "sha256:" + sum(appSBOM) },
			code: rampart.EFORBIDDEN, words: []string{"recorded as " + sum(appSBOM)}},
		{name: "no key", checker: &Checker{}, envelope: good, code: rampart.EFORBIDDEN, words: []string{"no provenance key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := *app
			if tc.artifact != nil {
				tc.artifact(&a)
			}
			c := checker
			if tc.checker != nil {
				c = tc.checker
			}
			content := appBinary
			if tc.content != nil {
				content = tc.content
			}
			want := commit
			if tc.commit != "" {
				want = tc.commit
			}
			v, err := c.CheckContent(&a, content, tc.envelope, want)
			tx := &checkTx{envelopes: map[int64][]byte{a.ID: tc.envelope}, blobs: map[string][]byte{a.Digest: content}}
			checkErr := c.Check(t.Context(), tx, &a, want)
			if tc.code == "" {
				if err != nil || checkErr != nil {
					t.Fatalf("refused a good artifact: %v / %v", err, checkErr)
				}
				if v.Build.TriggeredBy != "alice" || v.Build.Commit != commit || v.Build.BuilderID != checker.BuilderID {
					t.Fatalf("verified build %+v", v.Build)
				}
				return
			}
			for _, err := range []error{err, checkErr} {
				if got := rampart.ErrorCode(err); got != tc.code || !errors.Is(err, ErrVerify) {
					t.Fatalf("error %v: code %s, ErrVerify %t; want %s", err, got, errors.Is(err, ErrVerify), tc.code)
				}
				for _, w := range tc.words {
					if !strings.Contains(rampart.ErrorMessage(err), w) {
						t.Errorf("message %q does not mention %q", rampart.ErrorMessage(err), w)
					}
				}
			}
		})
	}

	t.Run("content gone", func(t *testing.T) {
		tx := &checkTx{envelopes: map[int64][]byte{app.ID: good}, blobs: map[string][]byte{}}
		err := checker.Check(t.Context(), tx, app, commit)
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(rampart.ErrorMessage(err), "gone") {
			t.Fatalf("Check of an artifact without content: %v", err)
		}
	})
	t.Run("store failure", func(t *testing.T) {
		boom := errors.New("disk on fire")
		err := checker.Check(t.Context(), &checkTx{err: boom}, app, commit)
		if !errors.Is(err, boom) || errors.Is(err, ErrVerify) {
			t.Fatalf("Check when the store fails: %v; want the store's error, not a refusal", err)
		}
	})
}

func TestTriggeredByRoundTrip(t *testing.T) {
	k := testKey(1)
	b := testBuild()
	for _, who := range []string{"", "webhook:github"} {
		b.TriggeredBy = who
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
		if v.Build.TriggeredBy != who {
			t.Errorf("TriggeredBy %q came back as %q", who, v.Build.TriggeredBy)
		}
		_, recorded := stmt.GetPredicate().GetFields()["buildDefinition"].GetStructValue().GetFields()["internalParameters"].GetStructValue().GetFields()["triggeredBy"]
		if recorded != (who != "") {
			t.Errorf("TriggeredBy %q recorded: %t", who, recorded)
		}
	}
	b.TriggeredBy = "alice\nroot"
	if _, err := Statement(b, testSubjects()); rampart.ErrorCode(err) != rampart.EINVALID {
		t.Errorf("a triggered-by with a newline: %v", err)
	}
}
