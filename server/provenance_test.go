package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/client"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/provenance"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
	"github.com/rampart-ci/rampart/server"
	"github.com/rampart-ci/rampart/store"
)

// provenancePipeline builds an artifact and deploys it to staging.
const provenancePipeline = `on: [push, manual]
jobs:
  build:
    steps: [{run: 'true'}]
    artifacts: [dist/app]
  deploy:
    needs: [build]
    environment: staging
    steps: [{run: 'true'}]
`

// provenanceFixture is a server with a provenance key and a deploy gate that checks it, on a
// real SQLite store, with a project whose pipeline builds dist/app and deploys it.
type provenanceFixture struct {
	t        *testing.T
	db       *store.DB
	raw      *sql.DB // the same database, for tampering as an intruder would
	key      *provenance.Key
	sched    *scheduler.Scheduler
	deploys  *deploy.Service
	http     *httptest.Server
	admin    *rampart.Actor
	adminAPI *client.Client
	agent    *client.Client
	project  *rampart.Project
	repo     string
	commit   string
}

func newProvenanceFixture(t *testing.T) *provenanceFixture {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	path := filepath.Join(t.TempDir(), "r.db")
	db, err := store.Open(ctx, "sqlite:"+path, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	a, err := auth.New(db, logger, auth.Config{Params: auth.Params{Memory: 64, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	_, tok, _, err := a.Bootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, _, err := a.Authenticate(ctx, tok, "test")
	if err != nil {
		t.Fatal(err)
	}
	kek := make([]byte, secrets.KeySize)
	_, _ = rand.Read(kek)
	keys, err := secrets.NewLocalKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	vault, err := secrets.New(ctx, db, keys, nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := provenance.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	repo := git.Repo{Cache: &git.Cache{Dir: t.TempDir()}}
	var sched *scheduler.Scheduler
	deploys := deploy.New(deploy.Config{Store: db, Commits: repo, Provenance: server.ProvenanceChecker(key), Logger: logger,
		Released: func() { sched.Wake() }})
	sched = scheduler.New(scheduler.Config{Store: db, Repo: repo, Secrets: vault, Deploys: deploys, Logger: logger})
	deploys.SetAdvance(sched.Advance)
	projects := project.New(db, nil)
	srv := server.New(server.Config{Store: db, Auth: a, Projects: projects, Scheduler: sched, Repo: repo, Vault: vault,
		Findings: findings.New(db, nil), Deploy: deploys, ProvenanceKey: key, Logger: logger, Version: "test"})
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)

	dir, commit := gitRepo(t, provenancePipeline)
	p, err := projects.Create(ctx, admin, "web", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deploys.CreateEnvironment(ctx, admin, p, "staging"); err != nil {
		t.Fatal(err)
	}
	regToken, _, err := sched.CreateAgentToken(ctx, admin, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := client.New(hs.URL, "").Register(ctx, rampart.RegisterRequest{Token: regToken, Name: "a1", Capacity: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &provenanceFixture{t: t, db: db, raw: raw, key: key, sched: sched, deploys: deploys, http: hs, admin: admin,
		adminAPI: client.New(hs.URL, tok), agent: client.New(hs.URL, reg.Credential), project: p, repo: dir, commit: commit}
}

// gitRepo makes a repository with the pipeline and returns it and its commit.
func gitRepo(t *testing.T, pipeline string) (dir, commit string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ".rampart.yml"), []byte(pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "x"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@e", "-c", "init.defaultBranch=main"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return dir, strings.TrimSpace(string(out))
}

// lease takes the next job, which must be the one named.
func (f *provenanceFixture) lease(name string) (*rampart.Lease, *client.JobClient) {
	f.t.Helper()
	l, err := f.agent.Lease(f.t.Context(), rampart.LeaseRequest{Capacity: 2, WaitSeconds: 2})
	if err != nil {
		f.t.Fatal(err)
	}
	if l == nil || l.Spec.Job != name {
		f.t.Fatalf("leased %+v, want job %s", l, name)
	}
	return l, f.agent.Job(l)
}

// build runs the pipeline's build job, which uploads content as dist/app, and returns the
// artifact; the deploy job then waits for its environment's rules.
func (f *provenanceFixture) build(content []byte) *rampart.Artifact {
	f.t.Helper()
	ctx := f.t.Context()
	run, err := f.sched.CreateRun(ctx, f.admin, f.project, scheduler.Trigger{Event: rampart.EventManual, Ref: "refs/heads/main",
		Branch: "main", Commit: f.commit, TriggeredBy: f.admin.Name})
	if err != nil {
		f.t.Fatal(err)
	}
	_, jc := f.lease("build")
	sum := sha256.Sum256(content)
	if err := jc.UploadArtifact(ctx, "dist/app", bytes.NewReader(content), int64(len(content)), hex.EncodeToString(sum[:])); err != nil {
		f.t.Fatal(err)
	}
	// A job that deploys nothing gets no inputs.
	if _, err := jc.DownloadInput(ctx, 1, io.Discard); rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "deploys nothing") {
		f.t.Errorf("inputs of a build job: %v", err)
	}
	if err := jc.Complete(ctx, rampart.CompleteRequest{Status: rampart.StatusSucceeded}); err != nil {
		f.t.Fatal(err)
	}
	arts, err := f.adminAPI.Artifacts(ctx, f.project.Name, run.Number)
	if err != nil || len(arts) != 1 {
		f.t.Fatalf("artifacts of the run: %v, %v", arts, err)
	}
	return arts[0]
}

// check runs the deploy gate's provenance check of artifact a against the fixture's commit.
func (f *provenanceFixture) check(a *rampart.Artifact) error {
	f.t.Helper()
	var checkErr error
	err := f.db.View(f.t.Context(), func(tx rampart.Tx) error {
		checkErr = server.ProvenanceChecker(f.key).Check(f.t.Context(), tx, a, f.commit)
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return checkErr
}

func (f *provenanceFixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.raw.Exec(query, args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// audited reports whether the audit log has a denied entry of action on target.
func (f *provenanceFixture) audited(action, target string) bool {
	f.t.Helper()
	var events []*rampart.AuditEvent
	if err := f.db.View(f.t.Context(), func(tx rampart.Tx) (err error) {
		events, err = tx.ListAudit(f.t.Context(), rampart.AuditFilter{})
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range events {
		if e.Action == action && e.Target == target && e.Result == rampart.ResultDenied {
			return true
		}
	}
	return false
}

func TestUploadedArtifactHasVerifiableProvenance(t *testing.T) {
	f := newProvenanceFixture(t)
	content := []byte("\x7fELF the app\n")
	a := f.build(content)
	ctx := t.Context()

	// The public key, anonymously.
	pem, err := client.New(f.http.URL, "").ProvenanceKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := provenance.ParsePublicKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	envelope, err := f.adminAPI.ArtifactProvenance(ctx, f.project.Name, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	v, err := provenance.VerifyArtifact(bytes.NewReader(content), "dist/app", envelope, pub)
	if err != nil {
		t.Fatalf("the provenance of the uploaded artifact does not verify: %v", err)
	}
	pipelineSum := sha256.Sum256([]byte(provenancePipeline))
	b := v.Build
	for _, c := range []struct{ field, got, want string }{
		{"builder", b.BuilderID, provenance.BuilderID(f.key.Public())},
		{"repository", b.Repository, f.repo},
		{"commit", b.Commit, f.commit},
		{"ref", b.Ref, "refs/heads/main"},
		{"pipeline file", b.PipelineFile, ".rampart.yml"},
		{"pipeline sha256", b.PipelineSHA256, hex.EncodeToString(pipelineSum[:])},
		{"project", b.Project, "web"},
		{"job", b.Job, "build"},
		{"event", b.Event, rampart.EventManual},
		{"triggered by", b.TriggeredBy, f.admin.Name},
	} {
		if c.got != c.want {
			t.Errorf("provenance %s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if b.RunID != a.RunID || b.JobID != a.JobID || b.RunNumber != 1 || b.StartedAt.IsZero() || b.FinishedAt.Before(b.StartedAt) {
		t.Errorf("provenance run %d #%d job %d, times %v to %v; artifact of run %d job %d", b.RunID, b.RunNumber, b.JobID,
			b.StartedAt, b.FinishedAt, a.RunID, a.JobID)
	}
	if err := f.check(a); err != nil {
		t.Fatalf("the deploy gate refuses a genuine artifact: %v", err)
	}

	// Only project members read provenance; an artifact of no project is not found.
	if _, err := f.adminAPI.ArtifactProvenance(ctx, f.project.Name, 999); rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Errorf("provenance of an unknown artifact: %v", err)
	}
	if _, err := client.New(f.http.URL, "").ArtifactProvenance(ctx, f.project.Name, a.ID); rampart.ErrorCode(err) != rampart.EUNAUTHORIZED {
		t.Errorf("provenance without signing in: %v", err)
	}
}

func TestTamperingFailsTheProvenanceCheck(t *testing.T) {
	f := newProvenanceFixture(t)
	content := []byte("\x7fELF the app\n")
	a := f.build(content)
	var envelope string
	if err := f.raw.QueryRow("SELECT provenance FROM artifacts WHERE id = ?", a.ID).Scan(&envelope); err != nil || envelope == "" {
		t.Fatalf("stored provenance %q, %v", envelope, err)
	}
	if err := f.check(a); err != nil {
		t.Fatalf("genuine artifact refused: %v", err)
	}
	for _, tc := range []struct {
		name          string
		tamper, undo  []string
		code, message string
	}{
		{"blob replaced",
			[]string{`UPDATE blobs SET data = CAST('backdoored' AS BLOB) WHERE digest = '` + a.Digest + `'`},
			[]string{`UPDATE blobs SET data = CAST('` + string(content) + `' AS BLOB) WHERE digest = '` + a.Digest + `'`},
			rampart.EFORBIDDEN, "sha256"},
		{"envelope payload edited",
			[]string{`UPDATE artifacts SET provenance = replace(provenance, '"payload":"', '"payload":"eyJ9') WHERE id = ` + itoa(a.ID)},
			nil, rampart.EFORBIDDEN, "no valid signature"},
		{"envelope signature replaced",
			[]string{`UPDATE artifacts SET provenance = replace(provenance, '"sig":"', '"sig":"AAAA') WHERE id = ` + itoa(a.ID)},
			nil, rampart.EFORBIDDEN, "no valid signature"},
		{"envelope removed",
			[]string{`UPDATE artifacts SET provenance = '' WHERE id = ` + itoa(a.ID)},
			nil, rampart.EFORBIDDEN, "no provenance from this server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, q := range tc.tamper {
				f.exec(q)
			}
			err := f.check(a)
			if err == nil {
				t.Fatal("the deploy gate accepts a tampered artifact")
			}
			if tc.code != "" && (rampart.ErrorCode(err) != tc.code || !strings.Contains(rampart.ErrorMessage(err), tc.message)) {
				t.Errorf("error %v (%s); want %s saying %q", err, rampart.ErrorCode(err), tc.code, tc.message)
			}
			for _, q := range tc.undo {
				f.exec(q)
			}
			f.exec(`UPDATE artifacts SET provenance = ? WHERE id = ?`, envelope, a.ID)
			if err := f.check(a); err != nil {
				t.Fatalf("after undoing the tampering: %v", err)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDeployJobInputs(t *testing.T) {
	f := newProvenanceFixture(t)
	content := []byte("\x7fELF the app\n")
	a := f.build(content)
	ctx := t.Context()
	if err := f.deploys.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	lease, jc := f.lease("deploy")
	if len(lease.Inputs) != 1 || lease.Inputs[0] != (rampart.ArtifactRef{ID: a.ID, Name: a.Name, Digest: a.Digest}) {
		t.Fatalf("lease inputs %+v, want the build's artifact %+v", lease.Inputs, a)
	}

	var got bytes.Buffer
	digest, err := jc.DownloadInput(ctx, a.ID, &got)
	if err != nil || digest != a.Digest || !bytes.Equal(got.Bytes(), content) {
		t.Fatalf("DownloadInput = %q, %v, %q", digest, err, got.Bytes())
	}

	// An artifact of the run that the deployment does not consume: the deploy job's own.
	own := []byte("deploy log")
	sum := sha256.Sum256(own)
	if err := jc.UploadArtifact(ctx, "deploy.log", bytes.NewReader(own), int64(len(own)), hex.EncodeToString(sum[:])); err != nil {
		t.Fatal(err)
	}
	var ownID int64
	if err := f.raw.QueryRow("SELECT id FROM artifacts WHERE name = 'deploy.log'").Scan(&ownID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{ownID, 999} {
		_, err := jc.DownloadInput(ctx, id, io.Discard)
		if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "is not an input of deployment") {
			t.Errorf("artifact %d, not in the deployment: %v", id, err)
		}
		if !f.audited("job.input_refused", "artifact:"+itoa(id)) {
			t.Errorf("refusing artifact %d is not audited", id)
		}
	}

	// Tampering after the deployment was released: the input is refused, and that is audited.
	f.exec(`UPDATE blobs SET data = CAST('backdoored' AS BLOB) WHERE digest = ?`, a.Digest)
	_, err = jc.DownloadInput(ctx, a.ID, io.Discard)
	if rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "provenance does not check out") || !strings.Contains(err.Error(), "sha256") {
		t.Errorf("tampered blob: %v", err)
	}
	if !f.audited("artifact.provenance_refused", "artifact:"+itoa(a.ID)) {
		t.Error("refusing a tampered artifact is not audited")
	}
	f.exec(`UPDATE blobs SET data = ? WHERE digest = ?`, content, a.Digest)
	f.exec(`UPDATE artifacts SET provenance = replace(provenance, '"sig":"', '"sig":"AAAA') WHERE id = ?`, a.ID)
	if _, err = jc.DownloadInput(ctx, a.ID, io.Discard); rampart.ErrorCode(err) != rampart.EFORBIDDEN || !strings.Contains(err.Error(), "signature") {
		t.Errorf("tampered envelope: %v", err)
	}
	f.exec(`UPDATE artifacts SET provenance = replace(provenance, '"sig":"AAAA', '"sig":"') WHERE id = ?`, a.ID)
	if _, err := jc.DownloadInput(ctx, a.ID, io.Discard); err != nil {
		t.Errorf("after undoing the tampering: %v", err)
	}

	// The input route is for the job's own token only.
	req, _ := http.NewRequest("GET", f.http.URL+"/api/v1/jobs/"+itoa(lease.JobID)+"/inputs/"+itoa(a.ID), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("input without the job token: %d", resp.StatusCode)
	}
}

func TestNoProvenanceKey(t *testing.T) {
	// Without a key, the key route says so and the deploy gate has no check (it refuses all).
	if server.ProvenanceChecker(nil) != nil {
		t.Error("ProvenanceChecker(nil) is not nil: the deploy gate would not fail closed")
	}
	f := newFixture(t)
	resp, eb := f.do("GET", "/api/v1/provenance/key", "", "", nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(eb.Error, "signs no provenance") {
		t.Errorf("key of a server without one: %d %q", resp.StatusCode, eb.Error)
	}
}

func TestDeployGateRefusesTamperedArtifact(t *testing.T) {
	f := newProvenanceFixture(t)
	a := f.build([]byte("\x7fELF the app\n"))
	f.exec(`UPDATE blobs SET data = CAST('backdoored' AS BLOB) WHERE digest = ?`, a.Digest)
	if err := f.deploys.Evaluate(t.Context()); err != nil {
		t.Fatal(err)
	}
	var jobs []*rampart.Job
	if err := f.db.View(t.Context(), func(tx rampart.Tx) (err error) {
		jobs, err = tx.ListJobs(t.Context(), a.RunID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Name == "deploy" && (j.Status != rampart.StatusFailed || !strings.Contains(j.Reason, "no valid provenance") || !strings.Contains(j.Reason, "sha256")) {
			t.Fatalf("deploy job of a tampered artifact: %s: %s", j.Status, j.Reason)
		}
	}
	if l, err := f.agent.Lease(t.Context(), rampart.LeaseRequest{Capacity: 2, WaitSeconds: 1}); err != nil || l != nil {
		t.Fatalf("a job was leased after the deployment was refused: %+v, %v", l, err)
	}
}
