package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/rbac"
)

// runsPerPage is the length of a page of the runs list.
const runsPerPage = 50

// project loads the project of the path and checks that the caller may take action a on it.
// The server checked the route's permission already; asking the service again keeps a handler
// safe even if a route were declared with the wrong permission.
func (ui *UI) project(r *http.Request, a rbac.Action) (*rampart.Project, error) {
	return ui.cfg.Projects.Authorize(r.Context(), actorOf(r), a, r.PathValue("project"))
}

func pathInt(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n < 1 {
		return 0, rampart.Errorf(rampart.ENOTFOUND, "no %s %q", name, r.PathValue(name)).WithDetail("check the address")
	}
	return n, nil
}

// run loads the run of the path with its jobs, after checking action a on its project.
func (ui *UI) run(r *http.Request, a rbac.Action) (*rampart.Project, *rampart.Run, []*rampart.Job, error) {
	p, err := ui.project(r, a)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := pathInt(r, "number")
	if err != nil {
		return nil, nil, nil, err
	}
	run, jobs, err := ui.cfg.Scheduler.Run(r.Context(), p, n)
	return p, run, jobs, err
}

func runURL(p string, n int64) string {
	return fmt.Sprintf("/projects/%s/runs/%d", url.PathEscape(p), n)
}

// dashboardPerPage bounds the projects of one dashboard page: each costs a few queries.
const dashboardPerPage = 30

type projectSummary struct {
	Project  *rampart.Project
	Runs     []*rampart.Run // newest first
	Last     *rampart.Run
	Open     int // findings of the last run without an active waiver
	Severest string
}

type dashboardData struct {
	Projects   []*projectSummary
	Page, Next int // Next is 0 on the last page
	Prev       int
	Total      int

	// Pending are the deployments waiting in projects where the viewer may approve, oldest
	// first, at most dashboardPending; PendingMore counts the rest.
	Pending     []pendingRow
	PendingMore int
}

// handleDashboard shows the projects the user may read with their latest runs and the open
// findings of each project's latest run.
func (ui *UI) handleDashboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ps, err := ui.cfg.Projects.List(ctx, actorOf(r))
	if err != nil {
		return err
	}
	pageNo, _ := strconv.Atoi(r.URL.Query().Get("page"))
	pageNo = max(pageNo, 1)
	d := dashboardData{Page: pageNo, Total: len(ps)}
	start := (pageNo - 1) * dashboardPerPage
	if start > len(ps) {
		start = len(ps)
	}
	end := min(start+dashboardPerPage, len(ps))
	if end < len(ps) {
		d.Next = pageNo + 1
	}
	if pageNo > 1 {
		d.Prev = pageNo - 1
	}
	for _, p := range ps[start:end] {
		s := &projectSummary{Project: p}
		if s.Runs, err = ui.cfg.Scheduler.Runs(ctx, p, 0, 3); err != nil {
			return err
		}
		if len(s.Runs) > 0 {
			s.Last = s.Runs[0]
			fs, err := ui.cfg.Findings.List(ctx, s.Last)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if !f.Waived {
					if s.Open == 0 {
						s.Severest = f.Severity // listed most severe first
					}
					s.Open++
				}
			}
		}
		d.Projects = append(d.Projects, s)
	}
	if d.Pending, err = ui.pending(ctx, actorOf(r), true); err != nil {
		return err
	}
	if len(d.Pending) > dashboardPending {
		d.Pending, d.PendingMore = d.Pending[:dashboardPending], len(d.Pending)-dashboardPending
	}
	pg, err := ui.newPage(r, "Dashboard", nil)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Dashboard", d
	return ui.render(w, http.StatusOK, "dashboard", pg)
}

type runsData struct {
	Runs  []*rampart.Run
	Older int64 // the before= cursor of the next page; 0 on the last page
	Paged bool  // this is not the first page
}

// handleRuns lists a project's runs newest first, a page at a time. Pages are keyed by the last
// run's id (not an offset), so a page costs the same for the first run and the ten-thousandth.
func (ui *UI) handleRuns(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.RunRead)
	if err != nil {
		return err
	}
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before < 1 {
			return rampart.Errorf(rampart.EINVALID, "bad page cursor %q", v).WithDetail("follow the Older link instead of editing the address")
		}
	}
	runs, err := ui.cfg.Scheduler.Runs(r.Context(), p, before, runsPerPage+1)
	if err != nil {
		return err
	}
	d := runsData{Runs: runs, Paged: before != 0}
	if len(runs) > runsPerPage {
		d.Runs = runs[:runsPerPage]
		d.Older = d.Runs[runsPerPage-1].ID
	}
	pg, err := ui.newPage(r, p.Name+" · Runs", p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Runs", d
	return ui.render(w, http.StatusOK, "runs", pg)
}

// handleRunCreate starts a run of the project at a ref, as `rampart pipeline run` does.
func (ui *UI) handleRunCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.RunCreate)
	if err != nil {
		return err
	}
	back := "/projects/" + url.PathEscape(p.Name)
	ref, err := formValue(r, "ref", 255)
	if err != nil {
		return withBack(err, back)
	}
	if ref == "" {
		ref = "HEAD"
	}
	if strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, " \t\x00~^:?*[\\") {
		return withBack(rampart.Errorf(rampart.EINVALID, "%q is not a branch, tag or commit", ref).WithDetail("give a branch such as main, a tag, or a commit SHA"), back)
	}
	actor := actorOf(r)
	tr, err := ui.cfg.Scheduler.ManualTrigger(r.Context(), p, ref, actor.Name)
	if err != nil {
		return withBack(err, back)
	}
	run, err := ui.cfg.Scheduler.CreateRun(r.Context(), actor, p, tr)
	if err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, runURL(p.Name, run.Number))
}

type runData struct {
	Run       *rampart.Run
	Jobs      []*rampart.Job
	Graph     *graph
	Artifacts []*rampart.Artifact
	JobNames  map[int64]string
	Findings  int
	Open      int
}

// handleRun shows a run: its job graph (live), its jobs, artifacts and findings.
func (ui *UI) handleRun(w http.ResponseWriter, r *http.Request) error {
	p, run, jobs, err := ui.run(r, rbac.RunRead)
	if err != nil {
		return err
	}
	d := runData{Run: run, Jobs: jobs, Graph: layoutGraph(jobs), JobNames: map[int64]string{}}
	for _, j := range jobs {
		d.JobNames[j.ID] = j.Name
	}
	if d.Artifacts, err = ui.cfg.Scheduler.Artifacts(r.Context(), run); err != nil {
		return err
	}
	fs, err := ui.cfg.Findings.List(r.Context(), run)
	if err != nil {
		return err
	}
	d.Findings = len(fs)
	for _, f := range fs {
		if !f.Waived {
			d.Open++
		}
	}
	pg, err := ui.newPage(r, fmt.Sprintf("%s · Run #%d", p.Name, run.Number), p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Runs", d
	return ui.render(w, http.StatusOK, "run", pg)
}

// runStatus is what the run page polls for while the run is not finished.
type runStatus struct {
	Status   string      `json:"status"`
	Text     string      `json:"text"`
	Terminal bool        `json:"terminal"`
	Jobs     []jobStatus `json:"jobs"`
}

type jobStatus struct {
	ID       int64  `json:"id"`
	Status   string `json:"status"`
	Text     string `json:"text"`
	Duration string `json:"duration"`
}

func (ui *UI) handleRunStatus(w http.ResponseWriter, r *http.Request) error {
	_, run, jobs, err := ui.run(r, rbac.RunRead)
	if err != nil {
		return err
	}
	st := runStatus{Status: run.Status, Text: statusText(run.Status), Terminal: rampart.Terminal(run.Status), Jobs: []jobStatus{}}
	now := ui.cfg.Now()
	for _, j := range jobs {
		st.Jobs = append(st.Jobs, jobStatus{ID: j.ID, Status: j.Status, Text: statusText(j.Status), Duration: duration(now, j.StartedAt, j.FinishedAt)})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(st)
}

func (ui *UI) handleRunCancel(w http.ResponseWriter, r *http.Request) error {
	p, run, _, err := ui.run(r, rbac.RunCancel)
	if err != nil {
		return err
	}
	if err := ui.cfg.Scheduler.Cancel(r.Context(), actorOf(r), run); err != nil {
		return withBack(err, runURL(p.Name, run.Number))
	}
	return seeOther(w, r, runURL(p.Name, run.Number)+"?done=run-cancelled")
}

func (ui *UI) handleRunRetry(w http.ResponseWriter, r *http.Request) error {
	p, run, _, err := ui.run(r, rbac.RunCreate)
	if err != nil {
		return err
	}
	next, err := ui.cfg.Scheduler.Retry(r.Context(), actorOf(r), p, run)
	if err != nil {
		return withBack(err, runURL(p.Name, run.Number))
	}
	return seeOther(w, r, runURL(p.Name, next.Number))
}
