package web_test

import (
	"context"
	"crypto/rand"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/rampart-ci/rampart/agent"
	"github.com/rampart-ci/rampart/secrets"
)

// chromium is Debian's Chromium, which CI installs.
const chromium = "/usr/bin/chromium"

// screenshots is where the browser tests save pictures of the main pages (ignored by git).
const screenshots = "testdata/screenshots"

// browserTest starts a headless Chromium for t, or skips t when there is none — except in CI
// (CI=true), where a missing browser is a failure.
func browserTest(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need %s: install the Debian package chromium", chromium)
		}
		t.Skipf("no %s: install the Debian package chromium to run the browser tests", chromium)
	}
	if err := os.MkdirAll(screenshots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// console collects what pages write to the console: script errors and refusals of the
// Content-Security-Policy appear there.
type console struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func watchConsole(ctx context.Context) *console {
	c := &console{}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *console) problems() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, m := range c.msgs {
		if m.IsException() || m.Type == chromedp.ConsoleError || strings.Contains(m.Text, "Content Security Policy") {
			out = append(out, m.String())
		}
	}
	return out
}

// shoot saves a screenshot of the whole page as testdata/screenshots/name.png.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(screenshots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// step runs browser actions with a deadline, failing t with what it was doing.
func step(t *testing.T, ctx context.Context, what string, within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// navigate runs actions that load a page (a click on a link or a submit button) and waits until
// the page has loaded, failing t unless it answered 200.
func navigate(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(sctx, actions...)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if resp.Status != 200 {
		t.Fatalf("%s: page answered %d (%s)", what, resp.Status, resp.URL)
	}
}

func truthy(expr string, within time.Duration) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(100*time.Millisecond))
}

// randomToken is a GitHub-token-shaped value made at run time, so that this file holds no
// credential for Rampart's own scan to find.
func randomToken() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 36)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "ghp_" + string(b)
}

// TestBrowser is the UI's walkthrough in a real browser against a real server and agent: an
// admin signs in and starts a pipeline from the runs page, watches the job graph and a job's
// log update live; security signs in, waives the finding the pipeline's secret scan reported,
// and reads and verifies the audit log. Pages are checked for keyboard use, narrow windows and
// console errors (which is where Content-Security-Policy refusals show up).
func TestBrowser(t *testing.T) {
	bctx := browserTest(t)
	con := watchConsole(bctx)
	f := newFixture(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.sched.Background(ctx) }()

	// A repository whose pipeline writes coloured output slowly, and whose lint job scans for
	// secrets and finds a planted token.
	repo := gitRepo(t, `on: [push, manual]
jobs:
  build:
    secrets: [DEPLOY_TOKEN]
    steps:
      - name: compile
        run: |
          echo "deploying with $DEPLOY_TOKEN"
          for i in $(seq 1 40); do printf '\033[32mstep %d\033[0m compiling module %d\n' $i $i; sleep 0.15; done
  test:
    needs: build
    steps: [{run: echo all tests passed}]
  lint:
    needs: build
    scan: [secrets]
    steps: [{run: echo linting}]
`)
	if err := os.MkdirAll(filepath.Join(repo, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "config", "deploy.env"), []byte("GITHUB_TOKEN="+randomToken()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCommit(t, repo)
	web, err := f.projects.Create(ctx, f.admin, "web", repo)
	if err != nil {
		t.Fatal(err)
	}
	deployToken := randomToken()
	if _, err := f.vault.Set(ctx, f.admin, secrets.SecretRef{Project: "web", Name: "DEPLOY_TOKEN"}, []byte(deployToken)); err != nil {
		t.Fatal(err)
	}

	// A real agent, asking the server for work over HTTP like any other.
	tok, _, err := f.sched.CreateAgentToken(ctx, f.admin, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ag, err := agent.New(agent.Config{
		Server: f.http.URL, RegistrationToken: tok, Name: "browser-test-agent", Capacity: 2,
		CredentialFile: filepath.Join(dir, "cred", "agent.json"), WorkRoot: filepath.Join(dir, "work"),
		Sandbox: "none", Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	var agentDone sync.WaitGroup
	agentDone.Add(1)
	go func() { defer agentDone.Done(); _ = ag.Run(ctx) }()
	defer agentDone.Wait()
	defer cancel()

	base := f.http.URL

	// Signing in: an anonymous visit is sent to the sign-in page, which brings it back after.
	step(t, bctx, "open the sign-in page", 20*time.Second,
		chromedp.Navigate(base+"/projects/web"),
		chromedp.WaitVisible(chromedp.ID("username")),
	)
	shoot(t, bctx, "sign-in")
	navigate(t, bctx, "sign in as admin",
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), password("admin")+kb.Enter),
	)
	step(t, bctx, "back at the runs page", 10*time.Second, chromedp.WaitVisible(chromedp.CSS(`form[action="/projects/web/runs"]`)))
	// Keyboard: on a fresh page the first Tab reaches the skip link, visible when focused, and
	// Enter on it moves on to the content.
	step(t, bctx, "tab to the skip link", 10*time.Second,
		chromedp.KeyEvent(kb.Tab),
		truthy(`document.activeElement.classList.contains("skip") && document.activeElement.getBoundingClientRect().top >= 0`, 5*time.Second),
		chromedp.KeyEvent(kb.Enter),
		truthy(`location.hash == "#main"`, 5*time.Second),
	)

	// Starting a pipeline from the runs page.
	navigate(t, bctx, "start a run",
		chromedp.SendKeys(chromedp.ID("ref"), "main"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/web/runs"] button`)),
	)
	step(t, bctx, "at the run page", 10*time.Second,
		chromedp.WaitVisible(chromedp.ID("run")),
		truthy(`location.pathname == "/projects/web/runs/1"`, 5*time.Second),
	)
	// The job graph updates in place: the build node turns running, later succeeded, without a
	// reload (the marker survives).
	step(t, bctx, "watch the graph", 60*time.Second,
		chromedp.Evaluate[chromedp.Void](`window.rampartMarker = 1`),
		truthy(`document.querySelectorAll("svg.graph .node").length == 3`, 5*time.Second),
		truthy(`[...document.querySelectorAll("svg.graph .node")].some(n => n.getAttribute("class").includes("st-running"))`, 45*time.Second),
	)
	shoot(t, bctx, "run-graph")

	// The build job's log grows while we look at it.
	navigate(t, bctx, "open the build log", chromedp.Click(chromedp.CSS(`table a[href*="/jobs/"]`)))
	step(t, bctx, "at the build log", 20*time.Second,
		chromedp.WaitVisible(chromedp.ID("log")),
		chromedp.Evaluate[chromedp.Void](`window.rampartMarker = 2`),
	)
	first, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#log .line").length`))
	if err != nil {
		t.Fatal(err)
	}
	step(t, bctx, "watch the log grow", 60*time.Second,
		truthy(`document.getElementById("log").dataset.live == "true" || document.querySelectorAll("#log .line").length >= 40`, 5*time.Second),
		truthy(`document.querySelectorAll("#log .line").length >= 20`, 45*time.Second),
	)
	shoot(t, bctx, "job-log-live")
	step(t, bctx, "the job ends", 60*time.Second,
		truthy(`document.getElementById("log").textContent.includes("step 40 compiling module 40")`, 50*time.Second),
		truthy(`document.getElementById("job-status").textContent == "succeeded"`, 20*time.Second),
		truthy(`window.rampartMarker == 2`, time.Second),
		// The job's secret reached the page masked.
		truthy(`document.getElementById("log").textContent.includes("deploying with ***")`, time.Second),
		// Colours are classes, line numbers are links to the lines.
		truthy(`[...document.querySelectorAll("#log .lt span.f2")].some(s => s.textContent.startsWith("step 40")) && document.querySelector("#L1 a.ln").getAttribute("href") == "?line=1#L1"`, time.Second),
	)
	last, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#log .line").length`))
	if err != nil || last <= first {
		t.Fatalf("the log did not grow while the page was open: %d lines at first, %d at the end (%v)", first, last, err)
	}
	t.Logf("the open log page grew from %d to %d lines without a reload", first, last)
	shoot(t, bctx, "job-log-done")
	if html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil || strings.Contains(html, deployToken) {
		t.Fatalf("the job's secret is in the page (or reading it failed: %v)", err)
	}

	// The run ends: the lint job fails the security gate on the planted token.
	step(t, bctx, "the run ends", 90*time.Second,
		chromedp.Navigate(base+"/projects/web/runs/1"),
		chromedp.WaitVisible(chromedp.ID("run")),
		truthy(`document.getElementById("run").dataset.terminal == "true" || document.querySelector(".notice") != null`, 80*time.Second),
		chromedp.Navigate(base+"/projects/web/runs/1"),
		chromedp.WaitVisible(chromedp.ID("run")),
	)
	shoot(t, bctx, "run-finished")

	// Narrow window: the page reflows instead of scrolling sideways.
	step(t, bctx, "narrow window", 20*time.Second,
		chromedp.EmulateViewport(390, 844),
		chromedp.Navigate(base+"/projects/web"),
		chromedp.WaitVisible(chromedp.ID("main")),
		truthy(`document.documentElement.scrollWidth <= window.innerWidth + 1`, 5*time.Second),
	)
	shoot(t, bctx, "runs-narrow")
	step(t, bctx, "wide again", 10*time.Second, chromedp.EmulateViewport(1280, 900))
	step(t, bctx, "dashboard", 20*time.Second,
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/projects/web"]`)),
	)
	shoot(t, bctx, "dashboard")
	navigate(t, bctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	step(t, bctx, "signed out", 10*time.Second,
		chromedp.WaitVisible(chromedp.ID("username")),
		truthy(`document.querySelector(".notice").textContent.includes("signed out")`, 5*time.Second),
	)

	// Security waives the finding.
	navigate(t, bctx, "sign in as security",
		chromedp.SendKeys(chromedp.ID("username"), "sec"),
		chromedp.SendKeys(chromedp.ID("password"), password("sec")+kb.Enter),
	)
	step(t, bctx, "open the findings", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS(`a[href="/projects/web"]`)),
		chromedp.Navigate(base+"/projects/web/runs/1/findings"),
		chromedp.WaitVisible(chromedp.CSS("li.finding")),
		truthy(`document.querySelector("li.finding").textContent.includes("config/deploy.env")`, 5*time.Second),
	)
	shoot(t, bctx, "findings")
	step(t, bctx, "fill in the waiver", 20*time.Second,
		chromedp.Click(chromedp.CSS("li.finding details.waive summary")),
		chromedp.WaitVisible(chromedp.CSS("li.finding textarea")),
		chromedp.SendKeys(chromedp.CSS("li.finding textarea"), "test fixture of the browser test, not a real token"),
	)
	navigate(t, bctx, "waive the finding", chromedp.Click(chromedp.CSS("li.finding details.waive button")))
	step(t, bctx, "the finding is waived", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS("p.notice")),
		truthy(`document.querySelector("p.notice").textContent.includes("waived")`, 5*time.Second),
	)
	shoot(t, bctx, "findings-waived")
	ws, err := f.findings.Waivers(ctx, web)
	if err != nil || len(ws) != 1 || ws[0].Approver != "sec" {
		t.Fatalf("waivers after the form: %+v, %v", ws, err)
	}

	// The audit log shows the waiver, and its chain verifies.
	step(t, bctx, "read the audit log", 20*time.Second,
		chromedp.Navigate(base+"/settings/audit"),
		chromedp.WaitVisible(chromedp.CSS("table.audit")),
		truthy(`document.querySelector("table.audit").textContent.includes("finding.waive")`, 5*time.Second),
		chromedp.SendKeys(chromedp.ID("f-action"), "finding."),
	)
	navigate(t, bctx, "filter the audit log", chromedp.Click(chromedp.CSS(`form.filters button`)))
	step(t, bctx, "the audit log is filtered", 20*time.Second,
		truthy(`location.search.includes("action=finding.")`, 5*time.Second),
		chromedp.WaitVisible(chromedp.CSS("table.audit")),
		truthy(`[...document.querySelectorAll("table.audit tbody tr")].every(r => r.textContent.includes("finding."))`, 5*time.Second),
	)
	navigate(t, bctx, "verify the audit chain", chromedp.Click(chromedp.CSS(`section.verify button`)))
	step(t, bctx, "the chain verifies", 20*time.Second,
		chromedp.WaitVisible(chromedp.CSS("section.verify .ok")),
		truthy(`document.querySelector("section.verify .ok").textContent.includes("The chain is intact")`, 5*time.Second),
	)
	shoot(t, bctx, "audit")

	if p := con.problems(); len(p) > 0 {
		t.Errorf("the pages wrote errors to the console (script errors or refused by the Content-Security-Policy):\n%s", strings.Join(p, "\n"))
	}
}

// gitCommit commits everything in the repository at dir.
func gitCommit(t *testing.T, dir string) {
	t.Helper()
	for _, args := range [][]string{{"add", "."}, {"commit", "-q", "-m", "more"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
}
