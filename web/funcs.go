package web

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
)

// funcs are the helpers templates may call. None of them returns template.HTML: whatever they
// produce is escaped like any other value.
func (ui *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"short":      shortSHA,
		"when":       when,
		"iso":        func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":        func(t time.Time) string { return ago(ui.cfg.Now(), t) },
		"duration":   func(a, b *time.Time) string { return duration(ui.cfg.Now(), a, b) },
		"stClass":    statusClass,
		"stText":     statusText,
		"sevClass":   severityClass,
		"pesc":       url.PathEscape,
		"join":       strings.Join,
		"add":        func(a, b int64) int64 { return a + b },
		"terminal":   rampart.Terminal,
		"runRef":     runRef,
		"deref":      func(t *time.Time) time.Time { return *t },
		"projectURL": func(p string) string { return "/projects/" + url.PathEscape(p) },
		"runURL":     func(p string, n int64) string { return fmt.Sprintf("/projects/%s/runs/%d", url.PathEscape(p), n) },
		"jobURL":     func(p string, id int64) string { return fmt.Sprintf("/projects/%s/jobs/%d", url.PathEscape(p), id) },
		"bytes":      humanBytes,
		"deployURL":  deploymentURL,
		"deploysURL": deploymentsURL,
		"envURL":     envURL,
		"firstLine":  firstLine,
	}
}

func shortSHA(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// duration is how long something ran: from start to end, or to now while it runs.
func duration(now time.Time, start, end *time.Time) string {
	if start == nil {
		return ""
	}
	stop := now
	if end != nil {
		stop = *end
	}
	d := stop.Sub(*start).Round(time.Second)
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dm %02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %02dm", int(d.Hours()), int(d.Minutes())%60)
}

var statuses = map[string]string{
	rampart.StatusPending:     "pending",
	rampart.StatusQueued:      "queued",
	rampart.StatusRunning:     "running",
	rampart.StatusSucceeded:   "succeeded",
	rampart.StatusFailed:      "failed",
	rampart.StatusCancelled:   "cancelled",
	rampart.StatusTimedOut:    "timed out",
	rampart.StatusSkipped:     "skipped",
	rampart.StatusInterrupted: "interrupted",
	rampart.StatusWaiting:     "waiting",
	rampart.DeployRejected:    "rejected",
}

// statusClass is the CSS class of a status; unknown statuses get a neutral one, so that no
// stored string ever becomes an arbitrary class name.
func statusClass(s string) string {
	if _, ok := statuses[s]; ok {
		return "st st-" + s
	}
	return "st st-unknown"
}

func statusText(s string) string {
	if t, ok := statuses[s]; ok {
		return t
	}
	return s
}

func severityClass(s string) string {
	switch strings.ToLower(s) {
	case "critical", "high", "medium", "low", "info":
		return "sev sev-" + strings.ToLower(s)
	}
	return "sev sev-unknown"
}

// runRef says what a run built: a pull request, a tag or a branch.
func runRef(r *rampart.Run) string {
	switch {
	case r.PullRequest != 0 && r.FromFork:
		return fmt.Sprintf("PR #%d (fork)", r.PullRequest)
	case r.PullRequest != 0:
		return fmt.Sprintf("PR #%d", r.PullRequest)
	case r.Tag != "":
		return "tag " + r.Tag
	case r.Branch != "":
		return r.Branch
	}
	return r.Ref
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// firstLine is the subject of a commit message.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
