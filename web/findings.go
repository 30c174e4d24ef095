package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/rbac"
)

// findingsPerPage bounds one page of findings: a scan may report thousands.
const findingsPerPage = 100

// waiverDays are the lifetimes the waive form offers; findings.MaxWaiver bounds them.
var waiverDays = []int{7, 14, 30, 60, 90}

type severityCount struct {
	Severity string
	Open     int
}

type findingsData struct {
	Run        *rampart.Run
	Findings   []*rampart.Finding
	JobNames   map[int64]string
	WaiverOf   map[string]*rampart.Waiver // active waivers by fingerprint
	Waivers    []*rampart.Waiver          // the project's active waivers
	Counts     []severityCount
	Total      int
	Open       int
	All        bool // show waived findings too
	Page, Prev int
	Next       int
	Days       []int
	Results    []*rampart.ScanResult // the gate's verdict per scanning job
}

// handleFindings lists the findings of a run, most severe first, open ones by default, each
// with a waive form for those who may waive.
func (ui *UI) handleFindings(w http.ResponseWriter, r *http.Request) error {
	p, run, jobs, err := ui.run(r, rbac.RunRead)
	if err != nil {
		return err
	}
	ctx := r.Context()
	fs, err := ui.cfg.Findings.List(ctx, run)
	if err != nil {
		return err
	}
	ws, err := ui.cfg.Findings.Waivers(ctx, p)
	if err != nil {
		return err
	}
	results, err := ui.cfg.Findings.ScanResults(ctx, run)
	if err != nil {
		return err
	}
	now := ui.cfg.Now()
	d := findingsData{Results: results, Run: run, JobNames: map[int64]string{}, WaiverOf: map[string]*rampart.Waiver{}, Total: len(fs),
		All: r.URL.Query().Get("show") == "all", Days: waiverDays}
	for _, wv := range ws {
		if wv.Active(now) {
			d.Waivers = append(d.Waivers, wv)
			if d.WaiverOf[wv.Fingerprint] == nil {
				d.WaiverOf[wv.Fingerprint] = wv
			}
		}
	}
	for _, j := range jobs {
		d.JobNames[j.ID] = j.Name
	}
	counts := map[string]int{}
	var order []string
	var shown []*rampart.Finding
	for _, f := range fs {
		if !f.Waived {
			d.Open++
			if counts[f.Severity] == 0 {
				order = append(order, f.Severity)
			}
			counts[f.Severity]++
		}
		if d.All || !f.Waived {
			shown = append(shown, f)
		}
	}
	for _, s := range order {
		d.Counts = append(d.Counts, severityCount{Severity: s, Open: counts[s]})
	}
	d.Page, _ = strconv.Atoi(r.URL.Query().Get("page"))
	d.Page = max(d.Page, 1)
	start := min((d.Page-1)*findingsPerPage, len(shown))
	end := min(start+findingsPerPage, len(shown))
	d.Findings = shown[start:end]
	if end < len(shown) {
		d.Next = d.Page + 1
	}
	if d.Page > 1 {
		d.Prev = d.Page - 1
	}
	pg, err := ui.newPage(r, fmt.Sprintf("%s · Run #%d · Findings", p.Name, run.Number), p)
	if err != nil {
		return err
	}
	pg.Tab, pg.Data = "Runs", d
	return ui.render(w, http.StatusOK, "findings", pg)
}

// findingsBack is the findings page a waiver form came from.
func findingsBack(r *http.Request, project string) string {
	n, err := strconv.ParseInt(r.PostFormValue("run"), 10, 64)
	if err != nil || n < 1 {
		return "/projects/" + url.PathEscape(project)
	}
	return runURL(project, n) + "/findings"
}

// handleWaive waives a finding through the findings service, which allows only the security
// role, requires a reason and an expiry of at most 90 days, and audits the grant.
func (ui *UI) handleWaive(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.ProjectRead)
	if err != nil {
		return err
	}
	back := findingsBack(r, p.Name)
	fingerprint, err := formValue(r, "fingerprint", 128)
	if err != nil {
		return withBack(err, back)
	}
	reason, err := formValue(r, "reason", 2000)
	if err != nil {
		return withBack(err, back)
	}
	days, err := strconv.Atoi(r.PostFormValue("days"))
	if err != nil {
		return withBack(rampart.Errorf(rampart.EINVALID, "choose how long the waiver lasts").WithDetail("pick a number of days from the list"), back)
	}
	ttl := time.Duration(days) * 24 * time.Hour
	if _, err := ui.cfg.Findings.Waive(r.Context(), actorOf(r), p, fingerprint, strings.TrimSpace(reason), ttl); err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=waived")
}

func (ui *UI) handleWaiverRevoke(w http.ResponseWriter, r *http.Request) error {
	p, err := ui.project(r, rbac.ProjectRead)
	if err != nil {
		return err
	}
	back := findingsBack(r, p.Name)
	id, err := pathInt(r, "id")
	if err != nil {
		return withBack(err, back)
	}
	if err := ui.cfg.Findings.Revoke(r.Context(), actorOf(r), p, id); err != nil {
		return withBack(err, back)
	}
	return seeOther(w, r, back+"?done=waiver-revoked")
}
