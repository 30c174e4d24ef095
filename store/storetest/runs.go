package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// createProjects creates projects with the given names and returns them by name.
func createProjects(t *testing.T, s rampart.Store, names ...string) map[string]*rampart.Project {
	t.Helper()
	ps := map[string]*rampart.Project{}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i, n := range names {
			p := &rampart.Project{Name: n, RepoURL: "https://git.example/" + n + ".git", CreatedAt: at(time.Duration(i) * time.Second)}
			if err := tx.CreateProject(ctx, p); err != nil {
				return err
			}
			ps[n] = p
		}
		return nil
	})
	return ps
}

// newRun returns a queued push run of p at creation time at(d), not yet stored.
func newRun(p *rampart.Project, d time.Duration) *rampart.Run {
	return &rampart.Run{ProjectID: p.ID, Event: rampart.EventPush, Ref: "refs/heads/main", Branch: "main",
		Commit: "0123456789abcdef0123456789abcdef01234567", TriggeredBy: "webhook:github", Status: rampart.StatusQueued, CreatedAt: at(d)}
}

// createRun stores a run of a new project named name and returns it.
func createRun(t *testing.T, s rampart.Store, name string) *rampart.Run {
	t.Helper()
	p := createProjects(t, s, name)[name]
	r := newRun(p, 0)
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateRun(ctx, r) })
	return r
}

// newJob returns a job of r with the given name, status and priority, not yet stored.
func newJob(r *rampart.Run, name, status string, priority int) *rampart.Job {
	return &rampart.Job{RunID: r.ID, ProjectID: r.ProjectID, Name: name, Status: status, Priority: priority,
		Spec: `{"name":"` + name + `"}`, Attempt: 1, CreatedAt: at(time.Minute)}
}

func createJobs(t *testing.T, s rampart.Store, jobs ...*rampart.Job) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, j := range jobs {
			if err := tx.CreateJob(ctx, j); err != nil {
				return err
			}
			if j.ID == 0 {
				t.Errorf("CreateJob(%s) left ID 0", j.Name)
			}
		}
		return nil
	})
}

// jobIDs returns the ids of js, for messages that stay short.
func jobIDs(js []*rampart.Job) []int64 {
	var ids []int64
	for _, j := range js {
		ids = append(ids, j.ID)
	}
	return ids
}

func testProjectSettings(t *testing.T, s rampart.Store) {
	web := &rampart.Project{Name: "web", RepoURL: "https://git.example/web.git", PollSeconds: 300, RequiredScans: []string{"secrets", "iac"}, CreatedAt: at(0)}
	api := &rampart.Project{Name: "api", RepoURL: "https://git.example/api.git", CreatedAt: at(time.Second)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateProject(ctx, web); err != nil {
			return err
		}
		return tx.CreateProject(ctx, api)
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ProjectByID(ctx, web.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ProjectByID with PollSeconds", got, web)
		for _, p := range []*rampart.Project{web, api} {
			secret, err := tx.WebhookSecret(ctx, p.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "WebhookSecret of a new project", secret, "")
		}
		return nil
	})

	// UpdateProject writes the repository and polling interval only.
	changed := *web
	changed.Name, changed.CreatedAt = "renamed", at(time.Hour)
	changed.RepoURL, changed.PollSeconds, changed.RequiredScans = "https://git.example/web2.git", 0, []string{"dependencies"}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.UpdateProject(ctx, &changed); err != nil {
			return err
		}
		if err := tx.UpdateProject(ctx, &rampart.Project{ID: api.ID, RepoURL: api.RepoURL, PollSeconds: 60}); err != nil {
			return err
		}
		return tx.SetWebhookSecret(ctx, web.ID, "whsec-web")
	})
	web.RepoURL, web.PollSeconds, web.RequiredScans = changed.RepoURL, 0, changed.RequiredScans
	api.PollSeconds = 60
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		list, err := tx.ListProjects(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ListProjects after UpdateProject", list, []*rampart.Project{api, web})
		got, err := tx.ProjectByName(ctx, "web")
		if err != nil {
			return err
		}
		wantEqual(t, "ProjectByName after UpdateProject", got, web)
		for p, want := range map[*rampart.Project]string{web: "whsec-web", api: ""} {
			secret, err := tx.WebhookSecret(ctx, p.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "WebhookSecret("+p.Name+")", secret, want)
		}
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		return tx.SetWebhookSecret(ctx, web.ID, "whsec-rotated")
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		secret, err := tx.WebhookSecret(ctx, web.ID)
		wantEqual(t, "WebhookSecret after rotation", secret, "whsec-rotated")
		return err
	})
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.SetWebhookSecret(ctx, web.ID, "") })
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		secret, err := tx.WebhookSecret(ctx, web.ID)
		wantEqual(t, "WebhookSecret after removal", secret, "")
		return err
	})

	for name, fn := range map[string]func(ctx context.Context, tx rampart.Tx) error{
		"UpdateProject": func(ctx context.Context, tx rampart.Tx) error {
			return tx.UpdateProject(ctx, &rampart.Project{ID: 999, RepoURL: "x"})
		},
		"WebhookSecret":    func(ctx context.Context, tx rampart.Tx) error { _, err := tx.WebhookSecret(ctx, 999); return err },
		"SetWebhookSecret": func(ctx context.Context, tx rampart.Tx) error { return tx.SetWebhookSecret(ctx, 999, "s") },
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return fn(t.Context(), tx) })
		wantCode(t, name+"(missing project)", err, rampart.ENOTFOUND, "project", "999")
	}
}

func testRunNumbers(t *testing.T, s rampart.Store) {
	ps := createProjects(t, s, "web", "api")
	web, api := ps["web"], ps["api"]
	var runs []*rampart.Run
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i := range 6 {
			p := web
			if i%2 == 1 {
				p = api
			}
			r := newRun(p, time.Duration(i)*time.Minute)
			if err := tx.CreateRun(ctx, r); err != nil {
				return err
			}
			runs = append(runs, r)
		}
		return nil
	})
	// Each in its own transaction too.
	more := newRun(api, time.Hour)
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateRun(ctx, more) })
	runs = append(runs, more)

	for i, want := range []struct {
		project string
		number  int64
	}{{"web", 1}, {"api", 1}, {"web", 2}, {"api", 2}, {"web", 3}, {"api", 3}, {"api", 4}} {
		if r := runs[i]; r.Project != want.project || r.Number != want.number || r.ID == 0 {
			t.Errorf("run %d: project %q, number %d, id %d; want %q, %d and an id", i, r.Project, r.Number, r.ID, want.project, want.number)
		}
	}

	// Every field round-trips, pointer times both nil and set.
	full := &rampart.Run{ProjectID: web.ID, Event: rampart.EventPullRequest, Ref: "refs/pull/7/head", Branch: "feature", Tag: "v1.2.3",
		Commit: "fedcba9876543210fedcba9876543210fedcba98", PullRequest: 7, FromFork: true, TriggeredBy: "alice",
		Status: rampart.StatusRunning, Reason: "because", CreatedAt: at(2 * time.Hour), StartedAt: ptr(at(3 * time.Hour)),
		FinishedAt: ptr(at(4 * time.Hour))}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.CreateRun(ctx, full) })
	wantEqual(t, "CreateRun number after 3 web runs", full.Number, int64(4))
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range append(runs, full) {
			got, err := tx.RunByID(ctx, want.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "RunByID", got, want)
			if got, err = tx.RunByNumber(ctx, want.ProjectID, want.Number); err != nil {
				return err
			}
			wantEqual(t, "RunByNumber", got, want)
		}
		_, err := tx.RunByID(ctx, 999)
		wantCode(t, "RunByID(missing)", err, rampart.ENOTFOUND, "run", "999")
		_, err = tx.RunByNumber(ctx, web.ID, 99)
		wantCode(t, "RunByNumber(missing)", err, rampart.ENOTFOUND, "run", "99")
		return nil
	})

	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateRun(t.Context(), &rampart.Run{ProjectID: 999, Status: rampart.StatusQueued, CreatedAt: t0})
	})
	wantCode(t, "CreateRun(unknown project)", err, rampart.ENOTFOUND, "project", "999")
}

func testListRuns(t *testing.T, s rampart.Store) {
	ps := createProjects(t, s, "web", "api")
	var web, api, all []*rampart.Run // oldest first
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i := range 7 {
			p := ps["web"]
			if i%3 == 2 {
				p = ps["api"]
			}
			r := newRun(p, time.Duration(i)*time.Minute)
			if err := tx.CreateRun(ctx, r); err != nil {
				return err
			}
			all = append(all, r)
			if p == ps["web"] {
				web = append(web, r)
			} else {
				api = append(api, r)
			}
		}
		return nil
	})
	rev := func(rs []*rampart.Run) []*rampart.Run {
		out := make([]*rampart.Run, len(rs))
		for i, r := range rs {
			out[len(rs)-1-i] = r
		}
		return out
	}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, c := range []struct {
			name   string
			filter rampart.RunFilter
			want   []*rampart.Run
		}{
			{"all", rampart.RunFilter{}, rev(all)},
			{"project", rampart.RunFilter{ProjectID: ps["web"].ID}, rev(web)},
			{"other project", rampart.RunFilter{ProjectID: ps["api"].ID}, rev(api)},
			{"limit", rampart.RunFilter{Limit: 3}, rev(all)[:3]},
			{"first page", rampart.RunFilter{ProjectID: ps["web"].ID, Limit: 2}, rev(web)[:2]},
			{"second page", rampart.RunFilter{ProjectID: ps["web"].ID, BeforeID: rev(web)[1].ID, Limit: 2}, rev(web)[2:4]},
			{"last page", rampart.RunFilter{ProjectID: ps["web"].ID, BeforeID: rev(web)[3].ID, Limit: 2}, rev(web)[4:]},
			{"before across projects", rampart.RunFilter{BeforeID: all[3].ID}, rev(all[:3])},
			{"unknown project", rampart.RunFilter{ProjectID: 999}, nil},
			{"before the first", rampart.RunFilter{BeforeID: all[0].ID}, nil},
		} {
			got, err := tx.ListRuns(ctx, c.filter)
			if err != nil {
				return err
			}
			if len(got) == 0 && len(c.want) == 0 {
				continue
			}
			wantEqual(t, "ListRuns "+c.name, got, c.want)
		}
		_, err := tx.ListRuns(ctx, rampart.RunFilter{Limit: -1})
		wantCode(t, "ListRuns(negative limit)", err, rampart.EINVALID)
		return nil
	})
}

func testUpdateRun(t *testing.T, s rampart.Store) {
	ps := createProjects(t, s, "web")
	statuses := []string{rampart.StatusPending, rampart.StatusQueued, rampart.StatusRunning, rampart.StatusSucceeded,
		rampart.StatusQueued, rampart.StatusRunning}
	var runs []*rampart.Run
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i := range statuses {
			r := newRun(ps["web"], time.Duration(i)*time.Minute)
			if err := tx.CreateRun(ctx, r); err != nil {
				return err
			}
			runs = append(runs, r)
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ActiveRuns(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ActiveRuns of all queued", got, runs)
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for i, st := range statuses {
			r := runs[i]
			r.Status = st
			if st == rampart.StatusRunning || st == rampart.StatusSucceeded {
				r.StartedAt = ptr(at(time.Hour + time.Duration(i)*time.Second))
			}
			if rampart.Terminal(st) {
				r.FinishedAt, r.Reason = ptr(at(2*time.Hour)), "done"
			}
			// Fields UpdateRun does not write.
			changed := *r
			changed.Commit, changed.Number, changed.TriggeredBy = "other", 77, "mallory"
			if err := tx.UpdateRun(ctx, &changed); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range runs {
			got, err := tx.RunByID(ctx, want.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "RunByID after UpdateRun", got, want)
		}
		got, err := tx.ActiveRuns(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ActiveRuns", got, []*rampart.Run{runs[1], runs[2], runs[4], runs[5]})
		return nil
	})

	// Times go back to nil too.
	runs[3].StartedAt, runs[3].FinishedAt, runs[3].Reason, runs[3].Status = nil, nil, "", rampart.StatusQueued
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.UpdateRun(ctx, runs[3]) })
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.RunByID(ctx, runs[3].ID)
		wantEqual(t, "RunByID after clearing times", got, runs[3])
		return err
	})

	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.UpdateRun(t.Context(), &rampart.Run{ID: 999, Status: rampart.StatusFailed})
	})
	wantCode(t, "UpdateRun(missing)", err, rampart.ENOTFOUND, "run", "999")
}

func testJobs(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	other := createRun(t, s, "api")
	full := &rampart.Job{RunID: r.ID, ProjectID: r.ProjectID, Name: "deploy", Status: rampart.StatusRunning,
		Needs: []string{"build", "test"}, Labels: []string{"linux", "prod"}, Spec: `{"steps":[{"run":"make deploy"}]}`,
		Deploys: true, Priority: 10, Attempt: 2, AgentID: 42, Fence: 7, TokenHash: "jt01", LeaseExpiresAt: ptr(at(time.Hour)),
		CancelRequested: true, ExitCode: 3, Reason: "exit status 3", CreatedAt: at(time.Minute),
		StartedAt: ptr(at(2 * time.Minute)), FinishedAt: ptr(at(3 * time.Minute))}
	// Zero values throughout; empty and nil lists both read back as nil.
	empty := &rampart.Job{RunID: r.ID, ProjectID: r.ProjectID, Name: "build", Status: rampart.StatusPending,
		Needs: []string{}, CreatedAt: at(0)}
	third := newJob(other, "lint", rampart.StatusQueued, 0)
	createJobs(t, s, full, empty, third)
	empty.Needs = nil

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range []*rampart.Job{full, empty, third} {
			got, err := tx.JobByID(ctx, want.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "JobByID", got, want)
		}
		got, err := tx.JobByTokenHash(ctx, "jt01")
		if err != nil {
			return err
		}
		wantEqual(t, "JobByTokenHash", got, full)
		list, err := tx.ListJobs(ctx, r.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListJobs in creation order", list, []*rampart.Job{full, empty})
		if list, err = tx.ListJobs(ctx, 999); err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("ListJobs(unknown run) = %s", dump(list))
		}
		_, err = tx.JobByID(ctx, 999)
		wantCode(t, "JobByID(missing)", err, rampart.ENOTFOUND, "job", "999")
		_, err = tx.JobByTokenHash(ctx, "nope")
		wantCode(t, "JobByTokenHash(missing)", err, rampart.ENOTFOUND, "job")
		// Jobs without a token must not be found by the empty hash.
		_, err = tx.JobByTokenHash(ctx, "")
		wantCode(t, "JobByTokenHash(\"\")", err, rampart.ENOTFOUND, "job")
		return nil
	})

	// UpdateJob writes every mutable field, both ways.
	full.Status, full.Attempt, full.AgentID, full.Fence, full.TokenHash = rampart.StatusQueued, 3, 0, 8, ""
	full.LeaseExpiresAt, full.CancelRequested, full.ExitCode, full.Reason = nil, false, 0, ""
	full.StartedAt, full.FinishedAt = nil, nil
	empty.Status, empty.Attempt, empty.AgentID, empty.Fence, empty.TokenHash = rampart.StatusRunning, 1, 9, 1, "jt02"
	empty.LeaseExpiresAt, empty.CancelRequested, empty.ExitCode, empty.Reason = ptr(at(5*time.Minute)), true, -1, "killed"
	empty.StartedAt, empty.FinishedAt = ptr(at(4*time.Minute)), ptr(at(6*time.Minute))
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, j := range []*rampart.Job{full, empty} {
			// Fields UpdateJob does not write.
			changed := *j
			changed.Name, changed.Spec, changed.Priority, changed.Needs, changed.CreatedAt = "renamed", "{}", 99, []string{"x"}, at(time.Hour)
			if err := tx.UpdateJob(ctx, &changed); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		list, err := tx.ListJobs(ctx, r.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListJobs after UpdateJob", list, []*rampart.Job{full, empty})
		got, err := tx.JobByTokenHash(ctx, "jt02")
		if err != nil {
			return err
		}
		wantEqual(t, "JobByTokenHash after UpdateJob", got, empty)
		_, err = tx.JobByTokenHash(ctx, "jt01")
		wantCode(t, "JobByTokenHash(released token)", err, rampart.ENOTFOUND, "job")
		return nil
	})

	for name, fn := range map[string]func(ctx context.Context, tx rampart.Tx) error{
		"CreateJob(duplicate token hash)": func(ctx context.Context, tx rampart.Tx) error {
			j := newJob(r, "dup", rampart.StatusRunning, 0)
			j.TokenHash = "jt02"
			return tx.CreateJob(ctx, j)
		},
		"UpdateJob(token hash of another job)": func(ctx context.Context, tx rampart.Tx) error {
			j := *third
			j.TokenHash = "jt02"
			return tx.UpdateJob(ctx, &j)
		},
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return fn(t.Context(), tx) })
		wantCode(t, name, err, rampart.ECONFLICT)
	}
	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateJob(t.Context(), &rampart.Job{RunID: 999, ProjectID: r.ProjectID, Name: "x", Status: rampart.StatusQueued, CreatedAt: t0})
	})
	wantCode(t, "CreateJob(unknown run)", err, rampart.ENOTFOUND, "999")
	err = s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.UpdateJob(t.Context(), &rampart.Job{ID: 999, Status: rampart.StatusFailed})
	})
	wantCode(t, "UpdateJob(missing)", err, rampart.ENOTFOUND, "job", "999")
}

func testQueuedJobs(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	jobs := []*rampart.Job{
		newJob(r, "low-old", rampart.StatusQueued, 0),
		newJob(r, "high-old", rampart.StatusQueued, 10),
		newJob(r, "pending", rampart.StatusPending, 100),
		newJob(r, "running", rampart.StatusRunning, 100),
		newJob(r, "low-new", rampart.StatusQueued, 0),
		newJob(r, "high-new", rampart.StatusQueued, 10),
		newJob(r, "negative", rampart.StatusQueued, -5),
		newJob(r, "done", rampart.StatusSucceeded, 100),
	}
	// Creation times in reverse, to see that the order is by id, not by the time given.
	for i, j := range jobs {
		j.CreatedAt = at(time.Duration(len(jobs)-i) * time.Minute)
	}
	createJobs(t, s, jobs...)
	want := []*rampart.Job{jobs[1], jobs[5], jobs[0], jobs[4], jobs[6]}
	check := func(what string, limit int, want []*rampart.Job) {
		t.Helper()
		for name, run := range map[string]func(context.Context, func(rampart.Tx) error) error{"Update": s.Update, "View": s.View} {
			err := run(t.Context(), func(tx rampart.Tx) error {
				got, err := tx.QueuedJobs(t.Context(), limit)
				if err != nil {
					return err
				}
				if len(got) == 0 && len(want) == 0 {
					return nil
				}
				wantEqual(t, fmt.Sprintf("%s in %s: ids %v", what, name, jobIDs(got)), got, want)
				return nil
			})
			if err != nil {
				t.Errorf("%s in %s: %v", what, name, err)
			}
		}
	}
	check("QueuedJobs(10)", 10, want)
	check("QueuedJobs(2)", 2, want[:2])
	check("QueuedJobs(0)", 0, nil)
	err := s.View(t.Context(), func(tx rampart.Tx) error { _, err := tx.QueuedJobs(t.Context(), -1); return err })
	wantCode(t, "QueuedJobs(-1)", err, rampart.EINVALID)

	// A job that leaves the queue is no longer returned; one that comes back is.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		jobs[1].Status, jobs[2].Status = rampart.StatusRunning, rampart.StatusQueued
		if err := tx.UpdateJob(ctx, jobs[1]); err != nil {
			return err
		}
		return tx.UpdateJob(ctx, jobs[2])
	})
	check("QueuedJobs after leasing", 10, []*rampart.Job{jobs[2], jobs[5], jobs[0], jobs[4], jobs[6]})
}

func testLeases(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	lease := func(name string, agent int64, status string, expires *time.Time) *rampart.Job {
		j := newJob(r, name, status, 0)
		j.AgentID, j.LeaseExpiresAt = agent, expires
		return j
	}
	jobs := []*rampart.Job{
		lease("a-late", 1, rampart.StatusRunning, ptr(at(3*time.Minute))),
		lease("a-early", 1, rampart.StatusRunning, ptr(at(time.Minute))),
		lease("a-now", 1, rampart.StatusRunning, ptr(at(2*time.Minute))),
		lease("b-early", 2, rampart.StatusRunning, ptr(at(30*time.Second))),
		lease("b-finished", 2, rampart.StatusSucceeded, ptr(at(0))),
		lease("queued", 0, rampart.StatusQueued, nil),
		lease("c-no-lease", 3, rampart.StatusRunning, nil),
	}
	createJobs(t, s, jobs...)
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, c := range []struct {
			now  time.Time
			want []*rampart.Job
		}{
			{at(0), nil},
			{at(time.Minute), []*rampart.Job{jobs[3], jobs[1]}}, // ending exactly at now has ended
			{at(2*time.Minute + time.Second), []*rampart.Job{jobs[3], jobs[1], jobs[2]}},
			{at(time.Hour), []*rampart.Job{jobs[3], jobs[1], jobs[2], jobs[0]}},
		} {
			got, err := tx.ExpiredLeases(ctx, c.now)
			if err != nil {
				return err
			}
			if len(got) == 0 && len(c.want) == 0 {
				continue
			}
			wantEqual(t, fmt.Sprintf("ExpiredLeases(%v): ids %v", c.now, jobIDs(got)), got, c.want)
		}
		for _, c := range []struct {
			agent int64
			want  []*rampart.Job
		}{
			{1, jobs[:3]},
			{2, jobs[3:4]},
			{3, jobs[6:7]},
			{0, nil},
			{99, nil},
		} {
			got, err := tx.RunningJobsOfAgent(ctx, c.agent)
			if err != nil {
				return err
			}
			if len(got) == 0 && len(c.want) == 0 {
				continue
			}
			wantEqual(t, fmt.Sprintf("RunningJobsOfAgent(%d): ids %v", c.agent, jobIDs(got)), got, c.want)
		}
		return nil
	})
	// In an Update too, where PostgreSQL locks the rows.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.ExpiredLeases(ctx, at(time.Hour))
		wantEqual(t, "ExpiredLeases in Update: ids", jobIDs(got), []int64{jobs[3].ID, jobs[1].ID, jobs[2].ID, jobs[0].ID})
		return err
	})
}

func testAgentTokens(t *testing.T, s rampart.Store) {
	old := &rampart.AgentToken{Labels: []string{"linux", "gpu"}, CreatedBy: "alice", CreatedAt: at(time.Minute), ExpiresAt: at(time.Hour)}
	newer := &rampart.AgentToken{Labels: []string{}, CreatedBy: "bob", CreatedAt: at(2 * time.Minute), ExpiresAt: at(2 * time.Hour)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.CreateAgentToken(ctx, newer, "at02"); err != nil {
			return err
		}
		return tx.CreateAgentToken(ctx, old, "at01")
	})
	newer.Labels = nil
	if old.ID == 0 || newer.ID == 0 || old.ID == newer.ID {
		t.Fatalf("CreateAgentToken ids %d and %d", old.ID, newer.ID)
	}
	err := s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateAgentToken(t.Context(), &rampart.AgentToken{CreatedBy: "x", CreatedAt: t0, ExpiresAt: t0}, "at01")
	})
	wantCode(t, "CreateAgentToken(duplicate hash)", err, rampart.ECONFLICT)

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for hash, want := range map[string]*rampart.AgentToken{"at01": old, "at02": newer} {
			got, err := tx.AgentTokenByHash(ctx, hash)
			if err != nil {
				return err
			}
			wantEqual(t, "AgentTokenByHash", got, want)
		}
		_, err := tx.AgentTokenByHash(ctx, "nope")
		wantCode(t, "AgentTokenByHash(missing)", err, rampart.ENOTFOUND, "agent token")
		list, err := tx.ListAgentTokens(ctx)
		if err != nil {
			return err
		}
		wantEqual(t, "ListAgentTokens newest first", list, []*rampart.AgentToken{newer, old})
		return nil
	})

	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		return tx.UseAgentToken(ctx, old.ID, 5, at(3*time.Minute))
	})
	old.UsedAt, old.AgentID = ptr(at(3*time.Minute)), 5
	err = s.Update(t.Context(), func(tx rampart.Tx) error { return tx.UseAgentToken(t.Context(), old.ID, 6, at(4*time.Minute)) })
	wantCode(t, "UseAgentToken(used)", err, rampart.ECONFLICT, "used")
	err = s.Update(t.Context(), func(tx rampart.Tx) error { return tx.UseAgentToken(t.Context(), 999, 6, at(4*time.Minute)) })
	wantCode(t, "UseAgentToken(missing)", err, rampart.ENOTFOUND, "agent token", "999")
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		got, err := tx.AgentTokenByHash(ctx, "at01")
		wantEqual(t, "AgentTokenByHash after UseAgentToken twice", got, old)
		return err
	})
}

func testAgents(t *testing.T, s rampart.Store) {
	zeta := &rampart.Agent{Name: "zeta", Labels: []string{"linux", "docker"}, ClaimedLabels: []string{"linux", "docker", "gpu"},
		Capacity: 4, Version: "1.2.3", Disabled: true, CreatedAt: at(time.Minute), LastSeenAt: ptr(at(2 * time.Minute))}
	alpha := &rampart.Agent{Name: "alpha", Labels: []string{}, Capacity: 1, CreatedAt: at(0)}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for a, hash := range map[*rampart.Agent]string{zeta: "ag01", alpha: "ag02"} {
			if err := tx.CreateAgent(ctx, a, hash); err != nil {
				return err
			}
			if a.ID == 0 {
				t.Errorf("CreateAgent(%s) left ID 0", a.Name)
			}
		}
		return nil
	})
	alpha.Labels = nil

	for name, c := range map[string]struct {
		agent, hash string
		word        string
	}{
		"duplicate name":       {"zeta", "ag03", `"zeta"`},
		"duplicate credential": {"omega", "ag01", "credential"},
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error {
			return tx.CreateAgent(t.Context(), &rampart.Agent{Name: c.agent, CreatedAt: t0}, c.hash)
		})
		wantCode(t, "CreateAgent("+name+")", err, rampart.ECONFLICT, c.word)
	}

	check := func(what string) {
		t.Helper()
		view(t, s, func(ctx context.Context, tx rampart.Tx) error {
			for hash, want := range map[string]*rampart.Agent{"ag01": zeta, "ag02": alpha} {
				got, err := tx.AgentByCredentialHash(ctx, hash)
				if err != nil {
					return err
				}
				wantEqual(t, what+": AgentByCredentialHash", got, want)
				if got, err = tx.AgentByID(ctx, want.ID); err != nil {
					return err
				}
				wantEqual(t, what+": AgentByID", got, want)
				if got, err = tx.AgentByName(ctx, want.Name); err != nil {
					return err
				}
				wantEqual(t, what+": AgentByName", got, want)
			}
			list, err := tx.ListAgents(ctx)
			if err != nil {
				return err
			}
			wantEqual(t, what+": ListAgents by name", list, []*rampart.Agent{alpha, zeta})
			return nil
		})
	}
	check("created")

	zeta.Labels, zeta.ClaimedLabels, zeta.Capacity, zeta.Version, zeta.Disabled, zeta.LastSeenAt = nil, nil, 2, "", false, nil
	alpha.Labels, alpha.ClaimedLabels, alpha.Capacity, alpha.Version, alpha.Disabled, alpha.LastSeenAt =
		[]string{"arm64"}, []string{"arm64", "mac"}, 8, "2.0.0", true, ptr(at(time.Hour))
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, a := range []*rampart.Agent{zeta, alpha} {
			changed := *a
			changed.Name, changed.CreatedAt = "renamed", at(time.Hour)
			if err := tx.UpdateAgent(ctx, &changed); err != nil {
				return err
			}
		}
		return nil
	})
	check("updated")

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		_, err := tx.AgentByCredentialHash(ctx, "nope")
		wantCode(t, "AgentByCredentialHash(missing)", err, rampart.ENOTFOUND, "agent")
		_, err = tx.AgentByID(ctx, 999)
		wantCode(t, "AgentByID(missing)", err, rampart.ENOTFOUND, "agent", "999")
		_, err = tx.AgentByName(ctx, "nobody")
		wantCode(t, "AgentByName(missing)", err, rampart.ENOTFOUND, "agent", `"nobody"`)
		return nil
	})
	err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.UpdateAgent(t.Context(), &rampart.Agent{ID: 999}) })
	wantCode(t, "UpdateAgent(missing)", err, rampart.ENOTFOUND, "agent", "999")
}

func testLogs(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	a, b := newJob(r, "a", rampart.StatusRunning, 0), newJob(r, "b", rampart.StatusRunning, 0)
	createJobs(t, s, a, b)
	chunk := func(j *rampart.Job, seq int64, data string) *rampart.LogChunk {
		return &rampart.LogChunk{JobID: j.ID, Seq: seq, Data: []byte(data), CreatedAt: at(time.Duration(seq) * time.Second)}
	}
	// Out of order, with a gap, a resend of one chunk with other data, and binary data.
	binary := []byte{0, 0xff, '\n', 0x80, 0}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, c := range []*rampart.LogChunk{
			chunk(a, 2, "second\n"), chunk(a, 1, "first\n"), chunk(b, 1, "other job\n"),
			chunk(a, 4, string(binary)), chunk(a, 2, "resent, ignored\n"), chunk(a, 5, ""),
		} {
			if err := tx.AppendLog(ctx, c); err != nil {
				return err
			}
		}
		return nil
	})
	// A resend in a transaction of its own is ignored too.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.AppendLog(ctx, chunk(a, 1, "again")) })

	all := []*rampart.LogChunk{chunk(a, 1, "first\n"), chunk(a, 2, "second\n"), chunk(a, 4, string(binary)), chunk(a, 5, "")}
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, c := range []struct {
			name  string
			job   *rampart.Job
			after int64
			limit int
			want  []*rampart.LogChunk
		}{
			{"all", a, 0, 0, all},
			{"after", a, 1, 0, all[1:]},
			{"after a gap", a, 3, 0, all[2:]},
			{"limit", a, 0, 2, all[:2]},
			{"after and limit", a, 1, 2, all[1:3]},
			{"other job", b, 0, 0, []*rampart.LogChunk{chunk(b, 1, "other job\n")}},
			{"after the end", a, 5, 0, nil},
		} {
			got, err := tx.ListLogs(ctx, c.job.ID, c.after, c.limit)
			if err != nil {
				return err
			}
			if len(got) == 0 && len(c.want) == 0 {
				continue
			}
			wantEqual(t, "ListLogs "+c.name, got, c.want)
		}
		_, err := tx.ListLogs(ctx, a.ID, 0, -1)
		wantCode(t, "ListLogs(negative limit)", err, rampart.EINVALID)
		return nil
	})

	for name, c := range map[string]struct {
		chunk *rampart.LogChunk
		code  string
	}{
		"unknown job": {&rampart.LogChunk{JobID: 999, Seq: 1, Data: []byte("x"), CreatedAt: t0}, rampart.ENOTFOUND},
		"seq 0":       {chunk(a, 0, "x"), rampart.EINVALID},
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.AppendLog(t.Context(), c.chunk) })
		wantCode(t, "AppendLog("+name+")", err, c.code)
	}
}

func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func testBlobs(t *testing.T, s rampart.Store) {
	content := []byte("hello\x00world\n")
	empty := []byte{}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, data := range [][]byte{content, empty, content} {
			if err := tx.PutBlob(ctx, digestOf(data), data); err != nil {
				return err
			}
		}
		return nil
	})
	// Again in a transaction of its own: idempotent.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.PutBlob(ctx, digestOf(content), content) })
	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range [][]byte{content, empty} {
			got, err := tx.Blob(ctx, digestOf(want))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Blob(%s) = %q, want %q", digestOf(want), got, want)
			}
		}
		_, err := tx.Blob(ctx, digestOf([]byte("missing")))
		wantCode(t, "Blob(missing)", err, rampart.ENOTFOUND, "blob")
		return nil
	})
	for name, digest := range map[string]string{
		"other content":    digestOf([]byte("other")),
		"no algorithm":     digestOf(content)[len("sha256:"):],
		"upper case":       "sha256:" + fmt.Sprintf("%X", sha256.Sum256(content)),
		"empty":            "",
		"another function": "sha512:" + digestOf(content)[len("sha256:"):],
	} {
		err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.PutBlob(t.Context(), digest, content) })
		wantCode(t, "PutBlob("+name+")", err, rampart.EINVALID)
	}
}

func testArtifacts(t *testing.T, s rampart.Store) {
	r := createRun(t, s, "web")
	other := createRun(t, s, "api")
	build, test := newJob(r, "build", rampart.StatusRunning, 0), newJob(r, "test", rampart.StatusRunning, 0)
	elsewhere := newJob(other, "build", rampart.StatusRunning, 0)
	createJobs(t, s, test, build, elsewhere) // test has the lower id
	bin, report := []byte("binary"), []byte("<testsuites/>")
	art := func(j *rampart.Job, name string, data []byte, d time.Duration) *rampart.Artifact {
		return &rampart.Artifact{RunID: j.RunID, JobID: j.ID, Name: name, Digest: digestOf(data), Size: int64(len(data)), CreatedAt: at(d)}
	}
	arts := []*rampart.Artifact{
		art(build, "dist/app", bin, time.Minute),
		art(test, "report.xml", report, 2*time.Minute),
		art(build, "dist/App", bin, 3*time.Minute), // upper case sorts first, bytewise
		art(build, "LICENSE", report, 4*time.Minute),
		art(elsewhere, "dist/app", bin, 5*time.Minute), // same name, other job
	}
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, data := range [][]byte{bin, report} {
			if err := tx.PutBlob(ctx, digestOf(data), data); err != nil {
				return err
			}
		}
		for _, a := range arts {
			if err := tx.CreateArtifact(ctx, a); err != nil {
				return err
			}
			if a.ID == 0 {
				t.Errorf("CreateArtifact(%s) left ID 0", a.Name)
			}
		}
		return nil
	})

	err := s.Update(t.Context(), func(tx rampart.Tx) error { return tx.CreateArtifact(t.Context(), art(build, "dist/app", report, 0)) })
	wantCode(t, "CreateArtifact(duplicate name)", err, rampart.ECONFLICT, "dist/app")
	err = s.Update(t.Context(), func(tx rampart.Tx) error {
		return tx.CreateArtifact(t.Context(), art(build, "unstored", []byte("not put"), 0))
	})
	wantCode(t, "CreateArtifact(content not stored)", err, rampart.ENOTFOUND)
	err = s.Update(t.Context(), func(tx rampart.Tx) error {
		a := art(build, "x", bin, 0)
		a.JobID = 999
		return tx.CreateArtifact(t.Context(), a)
	})
	wantCode(t, "CreateArtifact(unknown job)", err, rampart.ENOTFOUND, "999")

	view(t, s, func(ctx context.Context, tx rampart.Tx) error {
		for _, want := range arts {
			got, err := tx.ArtifactByID(ctx, want.ID)
			if err != nil {
				return err
			}
			wantEqual(t, "ArtifactByID", got, want)
		}
		_, err := tx.ArtifactByID(ctx, 999)
		wantCode(t, "ArtifactByID(missing)", err, rampart.ENOTFOUND, "artifact", "999")
		list, err := tx.ListArtifacts(ctx, r.ID)
		if err != nil {
			return err
		}
		wantEqual(t, "ListArtifacts by job, then name", list, []*rampart.Artifact{arts[1], arts[3], arts[2], arts[0]})
		if list, err = tx.ListArtifacts(ctx, other.ID); err != nil {
			return err
		}
		wantEqual(t, "ListArtifacts(other run)", list, []*rampart.Artifact{arts[4]})
		if list, err = tx.ListArtifacts(ctx, 999); err != nil {
			return err
		}
		if len(list) != 0 {
			t.Errorf("ListArtifacts(unknown run) = %s", dump(list))
		}
		return nil
	})
}

func testCursors(t *testing.T, s rampart.Store) {
	get := func(key string) string {
		t.Helper()
		var v string
		view(t, s, func(ctx context.Context, tx rampart.Tx) (err error) {
			v, err = tx.Cursor(ctx, key)
			return err
		})
		return v
	}
	wantEqual(t, "Cursor(missing)", get("poll:web:main"), "")
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.SetCursor(ctx, "poll:web:main", "abc123"); err != nil {
			return err
		}
		return tx.SetCursor(ctx, "schedule:web:nightly", "2025-03-01T00:00:00Z")
	})
	wantEqual(t, "Cursor after SetCursor", get("poll:web:main"), "abc123")
	update(t, s, func(ctx context.Context, tx rampart.Tx) error { return tx.SetCursor(ctx, "poll:web:main", "def456") })
	wantEqual(t, "Cursor after overwrite", get("poll:web:main"), "def456")
	wantEqual(t, "Cursor of another key", get("schedule:web:nightly"), "2025-03-01T00:00:00Z")
	// Within one transaction, the last write wins.
	update(t, s, func(ctx context.Context, tx rampart.Tx) error {
		if err := tx.SetCursor(ctx, "k", "1"); err != nil {
			return err
		}
		if err := tx.SetCursor(ctx, "k", "2"); err != nil {
			return err
		}
		v, err := tx.Cursor(ctx, "k")
		wantEqual(t, "Cursor inside the transaction", v, "2")
		return err
	})
	wantEqual(t, "Cursor after two writes", get("k"), "2")
}

// Size of the leasing test: more jobs than takers, so that the queue is never empty.
const (
	takers        = 8
	takesPerTaker = 3
)

// leaseConcurrently has several goroutines, spread over stores, each take the first queued job
// and mark it running under its own agent id, as servers leasing jobs at once do; it checks that
// no job was taken twice and that every job was taken.
func leaseConcurrently(t *testing.T, stores []rampart.Store) {
	r := createRun(t, stores[0], "web")
	jobs := make([]*rampart.Job, takers*takesPerTaker)
	for i := range jobs {
		jobs[i] = newJob(r, fmt.Sprint("job", i), rampart.StatusQueued, i%3)
	}
	createJobs(t, stores[0], jobs...)

	var (
		mu    sync.Mutex
		taken = map[int64]int64{} // job id → agent id
		wg    sync.WaitGroup
	)
	for w := range takers {
		s := stores[w%len(stores)]
		agent := int64(w + 1)
		wg.Go(func() {
			for range takesPerTaker {
				var got *rampart.Job
				err := s.Update(t.Context(), func(tx rampart.Tx) error {
					got = nil
					js, err := tx.QueuedJobs(t.Context(), 1)
					if err != nil || len(js) == 0 {
						return err
					}
					j := js[0]
					j.Status, j.AgentID, j.Fence = rampart.StatusRunning, agent, j.Fence+1
					j.TokenHash = fmt.Sprintf("lease-%d-%d", agent, j.ID)
					j.StartedAt, j.LeaseExpiresAt = ptr(at(time.Minute)), ptr(at(time.Hour))
					got = j
					return tx.UpdateJob(t.Context(), j)
				})
				if err != nil {
					t.Errorf("agent %d: %v", agent, err)
					return
				}
				if got == nil {
					t.Errorf("agent %d found the queue empty", agent)
					return
				}
				mu.Lock()
				if prev, ok := taken[got.ID]; ok {
					t.Errorf("job %d taken by agents %d and %d", got.ID, prev, agent)
				}
				taken[got.ID] = agent
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	if len(taken) != len(jobs) {
		t.Errorf("%d jobs taken, want %d", len(taken), len(jobs))
	}
	view(t, stores[len(stores)-1], func(ctx context.Context, tx rampart.Tx) error {
		queued, err := tx.QueuedJobs(ctx, len(jobs))
		if err != nil {
			return err
		}
		if len(queued) != 0 {
			t.Errorf("jobs still queued: %v", jobIDs(queued))
		}
		list, err := tx.ListJobs(ctx, r.ID)
		if err != nil {
			return err
		}
		for _, j := range list {
			if j.Status != rampart.StatusRunning || j.AgentID != taken[j.ID] || j.Fence != 1 {
				t.Errorf("job %d: status %s, agent %d, fence %d; want running, agent %d, fence 1", j.ID, j.Status, j.AgentID, j.Fence, taken[j.ID])
			}
		}
		return nil
	})
}
