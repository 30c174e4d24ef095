package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

func testDeployments(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	j1, j2 := newJob(r, "deploy", rampart.StatusWaiting, 100), newJob(r, "deploy-eu", rampart.StatusWaiting, 0)
	createJobs(t, s, j1, j2)
	prot := rampart.Protection{RequiredApprovals: 2, Approvers: []string{"release-manager", "user:alice"}, Production: true,
		Branches: []string{"main"}, RequireGate: true, RequireReview: true, WaitSeconds: 60, Windows: []string{"Mon-Fri 09:00-17:00"}}
	env := &rampart.Environment{ProjectID: r.ProjectID, Name: "production", Protection: prot, CreatedAt: at(0), UpdatedAt: at(0)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateEnvironment(ctx, env) })
	err := s.Update(context.Background(), func(tx rampart.Tx) error {
		return tx.CreateEnvironment(context.Background(), &rampart.Environment{ProjectID: r.ProjectID, Name: "production", CreatedAt: at(0), UpdatedAt: at(0)})
	})
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("a second environment of the same name: %v", err)
	}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.EnvironmentByName(ctx, r.ProjectID, "production")
		if err != nil {
			return err
		}
		wantEqual(t, "EnvironmentByName", got, env)
		if _, err := tx.EnvironmentByName(ctx, r.ProjectID, "staging"); rampart.ErrorCode(err) != rampart.ENOTFOUND {
			t.Errorf("unknown environment: %v", err)
		}
		return nil
	})
	env.Protection.RequiredApprovals, env.UpdatedAt = 1, at(time.Hour)
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.UpdateEnvironment(ctx, env) })

	commitTime := at(-time.Hour)
	d1 := &rampart.Deployment{ProjectID: r.ProjectID, EnvironmentID: env.ID, RunID: r.ID, JobID: j1.ID, Commit: r.Commit, Ref: r.Ref,
		Artifacts: []rampart.ArtifactRef{{ID: 7, Name: "app.tar.gz", Digest: "sha256:ab"}}, Status: rampart.DeployWaiting,
		Waiting: "approvals", TriggeredBy: "alice", SecurityFix: true, Incident: "INC-1", CommitTime: &commitTime, CreatedAt: at(time.Minute)}
	d2 := &rampart.Deployment{ProjectID: r.ProjectID, EnvironmentID: env.ID, RunID: r.ID, JobID: j2.ID, Commit: r.Commit, Ref: r.Ref,
		Status: rampart.DeploySucceeded, TriggeredBy: "bob", RollbackOf: 1, CreatedAt: at(2 * time.Minute)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateDeployment(ctx, d1); err != nil {
			return err
		}
		return tx.CreateDeployment(ctx, d2)
	})
	err = s.Update(context.Background(), func(tx rampart.Tx) error {
		return tx.CreateDeployment(context.Background(), &rampart.Deployment{ProjectID: r.ProjectID, EnvironmentID: env.ID, RunID: r.ID, JobID: j1.ID, CreatedAt: at(0)})
	})
	if rampart.ErrorCode(err) != rampart.ECONFLICT {
		t.Fatalf("a second deployment of one job: %v", err)
	}
	// Names come from their tables.
	d1.Project, d1.Environment, d1.RunNumber, d1.Job = "web", "production", r.Number, "deploy"
	d2.Project, d2.Environment, d2.RunNumber, d2.Job = "web", "production", r.Number, "deploy-eu"
	d2.Artifacts = []rampart.ArtifactRef{}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.DeploymentByID(ctx, d1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "DeploymentByID", got, d1)
		byJob, err := tx.DeploymentByJob(ctx, j2.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "DeploymentByJob", byJob, d2)
		list, err := tx.ListDeployments(ctx, env.ID, 0)
		if err != nil {
			return err
		}
		wantEqual(t, "ListDeployments newest first", list, []*rampart.Deployment{d2, d1})
		if list, _ = tx.ListDeployments(ctx, env.ID, 1); len(list) != 1 || list[0].ID != d2.ID {
			t.Errorf("ListDeployments with limit 1: %+v", list)
		}
		active, err := tx.ActiveDeployments(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ActiveDeployments", active, []*rampart.Deployment{d1})
		return nil
	})

	approved, started := at(3*time.Minute), at(4*time.Minute)
	d1.Status, d1.Waiting, d1.ApprovedAt, d1.StartedAt = rampart.DeployRunning, "", &approved, &started
	d1.Artifacts = append(d1.Artifacts, rampart.ArtifactRef{ID: 8, Name: "sbom.json", Digest: "sha256:cd"})
	a := &rampart.Approval{DeploymentID: d1.ID, UserID: 3, User: "carol", Role: "release-manager", Approve: true, Comment: "ok",
		Commit: r.Commit, ArtifactsSum: "abc", CreatedAt: at(3 * time.Minute), ExpiresAt: at(27 * time.Hour)}
	b := &rampart.Approval{DeploymentID: d1.ID, UserID: 4, User: "dan", Role: "security", Comment: "no", Commit: r.Commit,
		ArtifactsSum: "abc", CreatedAt: at(4 * time.Minute), ExpiresAt: at(28 * time.Hour)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.UpdateDeployment(ctx, d1); err != nil {
			return err
		}
		if err := tx.AddApproval(ctx, a); err != nil {
			return err
		}
		return tx.AddApproval(ctx, b)
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.DeploymentByID(ctx, d1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "DeploymentByID after UpdateDeployment", got, d1)
		as, err := tx.ListApprovals(ctx, d1.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListApprovals oldest first", as, []*rampart.Approval{a, b})
		return nil
	})
	err = s.Update(context.Background(), func(tx rampart.Tx) error {
		return tx.AddApproval(context.Background(), &rampart.Approval{DeploymentID: 99999, CreatedAt: at(0), ExpiresAt: at(0)})
	})
	if rampart.ErrorCode(err) != rampart.ENOTFOUND {
		t.Fatalf("approval of an unknown deployment: %v", err)
	}
}

func testRunFastLane(t *testing.T, s rampart.Store) {
	p := createProjects(t, s, "web")["web"]
	r := newRun(p, 0)
	r.SecurityFix, r.Incident, r.RollbackOf = true, "INC-42", 7
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateRun(ctx, r) })
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.RunByID(ctx, r.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "RunByID of a security-fix rollback run", got, r)
		return nil
	})
}
