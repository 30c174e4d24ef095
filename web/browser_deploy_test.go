package web_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/agent"
)

// TestBrowserDeployment walks a protected production deployment in a real browser against a
// real server and agent: an admin creates the environment and sets its rules through the UI
// and starts a run whose deploy job then waits; a developer opens the approval page, is offered
// no decision, posts the approve form by hand with the page's own CSRF token and is refused; a
// release manager who neither wrote nor started the change approves with a comment, and the
// deploy job runs and the deployment succeeds.
func TestBrowserDeployment(t *testing.T) {
	bctx := browserTest(t)
	con := watchConsole(bctx)
	f := newFixture(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = f.sched.Background(ctx) }()
	go f.deploy.Background(ctx, 250*time.Millisecond)

	// The deploy job consumes no artifacts: the test server signs no provenance, and the
	// deploy gate refuses artifacts without it.
	repo := gitRepo(t, `on: [push, manual]
jobs:
  build:
    steps: [{run: echo built}]
  deploy:
    needs: build
    environment: production
    steps: [{run: echo deployed to production}]
`)
	shop, err := f.projects.Create(ctx, f.admin, "shop", repo)
	if err != nil {
		t.Fatal(err)
	}
	f.addMember("relman", rampart.RoleMember, "")
	for user, role := range map[string]string{"relman": rampart.RoleReleaseManager, "dev": rampart.RoleDeveloper} {
		if _, err := f.projects.AddMember(ctx, f.admin, "shop", user, role); err != nil {
			t.Fatal(err)
		}
	}

	tok, _, err := f.sched.CreateAgentToken(ctx, f.admin, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ag, err := agent.New(agent.Config{
		Server: f.http.URL, RegistrationToken: tok, Name: "deploy-test-agent", Capacity: 2,
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
	signIn := func(user string) {
		t.Helper()
		step(t, bctx, "at the sign-in page", 10*time.Second, chromedp.WaitVisible(chromedp.ID("username")))
		navigate(t, bctx, "sign in as "+user,
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), password(user)+kb.Enter),
		)
	}
	signOut := func() {
		t.Helper()
		navigate(t, bctx, "sign out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)))
	}

	// The admin creates the environment and sets its rules with the forms.
	step(t, bctx, "open the deployments", 20*time.Second, chromedp.Navigate(base+"/projects/shop/deployments"))
	signIn("admin")
	step(t, bctx, "at the deployments page", 10*time.Second,
		chromedp.WaitVisible(chromedp.ID("env-name")),
		truthy(`document.querySelector('a[aria-current="page"]').textContent == "Deployments"`, 5*time.Second),
	)
	navigate(t, bctx, "create the environment",
		chromedp.SendKeys(chromedp.ID("env-name"), "production"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/shop/environments"] button`)),
	)
	step(t, bctx, "set the rules by keyboard", 20*time.Second,
		truthy(`location.pathname == "/projects/shop/environments/production" && document.querySelector(".notice").textContent.includes("environment is created")`, 5*time.Second),
		chromedp.Clear(chromedp.ID("prot-approvals")),
		chromedp.SendKeys(chromedp.ID("prot-approvals"), "1"),
		chromedp.Focus(chromedp.ID("prot-production")),
		chromedp.KeyEvent(" "),
		truthy(`document.getElementById("prot-production").checked`, 5*time.Second),
	)
	shoot(t, bctx, "environment-rules")
	navigate(t, bctx, "save the rules", chromedp.Click(chromedp.CSS(`form.protection button[type="submit"]`)))
	step(t, bctx, "the rules are saved", 10*time.Second,
		truthy(`document.querySelector(".notice").textContent.includes("rules are saved") && document.querySelector("main").textContent.includes("production approvals=1")`, 5*time.Second),
	)
	es, err := f.deploy.Environments(ctx, shop)
	if err != nil || len(es) != 1 || es[0].Protection.RequiredApprovals != 1 || !es[0].Protection.Production {
		t.Fatalf("environments after the forms: %+v %v", es, err)
	}

	// The admin starts a run; its deploy job waits for an approval.
	navigate(t, bctx, "open the runs", chromedp.Navigate(base+"/projects/shop"))
	navigate(t, bctx, "start a run",
		chromedp.SendKeys(chromedp.ID("ref"), "main"),
		chromedp.Click(chromedp.CSS(`form[action="/projects/shop/runs"] button`)),
	)
	d := waitDeploymentOf(t, f, shop, 90*time.Second, func(d *rampart.Deployment) bool {
		return d.Status == rampart.DeployWaiting && strings.Contains(d.Waiting, "approval")
	})
	approval := base + deploymentPath("shop", d.ID)
	step(t, bctx, "the deployments page lists it as waiting", 20*time.Second,
		chromedp.Navigate(base+"/projects/shop/deployments"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="`+deploymentPath("shop", d.ID)+`"]`)),
	)
	signOut()

	// A developer is offered no decision, and a decision posted by hand is refused.
	step(t, bctx, "open the approval page", 20*time.Second, chromedp.Navigate(approval))
	signIn("dev")
	step(t, bctx, "the developer sees the change but no decision", 20*time.Second,
		chromedp.WaitVisible(chromedp.ID("deploy-status")),
		truthy(`document.getElementById("approve") == null && document.getElementById("reject") == null && document.getElementById("comment") == null`, 5*time.Second),
		truthy(`document.getElementById("cannot-decide").textContent.includes("may not approve")`, 5*time.Second),
		truthy(`document.getElementById("deploy-waiting").textContent.includes("1 more approval")`, 5*time.Second),
	)
	sctx, cancelStep := context.WithTimeout(bctx, 30*time.Second)
	resp, err := chromedp.RunResponse(sctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const form = document.createElement("form");
		form.method = "post";
		form.action = location.pathname + "/approve";
		for (const [name, value] of [["csrf_token", document.querySelector('input[name="csrf_token"]').value], ["comment", "approving by hand"]]) {
			const input = document.createElement("input");
			input.type = "hidden";
			input.name = name;
			input.value = value;
			form.appendChild(input);
		}
		document.body.appendChild(form);
		form.submit();
	})()`))
	cancelStep()
	if err != nil {
		t.Fatalf("post the approve form by hand: %v", err)
	}
	if resp.Status != 403 {
		t.Fatalf("the developer's hand-made approval answered %d, want 403", resp.Status)
	}
	step(t, bctx, "the refusal names the permission", 10*time.Second,
		truthy(`document.querySelector(".error-message").textContent.includes("permission denied: deploy.approve")`, 5*time.Second),
	)
	shoot(t, bctx, "approval-refused")
	if got, err := f.deploy.Deployment(ctx, shop, d.ID); err != nil || got.Status != rampart.DeployWaiting || len(got.Approvals) != 0 {
		t.Fatalf("after the refused approval the deployment is %+v (%v)", got, err)
	}
	signOut()

	// A release manager approves with a comment; the comment is required.
	step(t, bctx, "open the approval page again", 20*time.Second, chromedp.Navigate(approval))
	signIn("relman")
	step(t, bctx, "the release manager is offered the decision", 20*time.Second,
		chromedp.WaitVisible(chromedp.ID("approve")),
		chromedp.Click(chromedp.ID("approve")),
		truthy(`document.getElementById("comment").matches(":invalid") && location.href == "`+approval+`"`, 5*time.Second),
		chromedp.SendKeys(chromedp.ID("comment"), "release notes read, build green"),
		chromedp.Sleep(time.Second), // the browser's "fill in this field" bubble fades
	)
	shoot(t, bctx, "approval")
	navigate(t, bctx, "approve", chromedp.Click(chromedp.ID("approve")))
	step(t, bctx, "the approval is recorded", 10*time.Second,
		truthy(`document.querySelector(".notice").textContent.includes("Your approval is recorded") && document.querySelector("main").textContent.includes("release notes read, build green")`, 5*time.Second),
	)
	waitDeploymentOf(t, f, shop, 90*time.Second, func(d *rampart.Deployment) bool { return d.Status == rampart.DeploySucceeded })
	step(t, bctx, "the deployment succeeded", 20*time.Second,
		chromedp.Navigate(approval),
		chromedp.WaitVisible(chromedp.ID("deploy-status")),
		truthy(`document.getElementById("deploy-status").textContent == "succeeded"`, 5*time.Second),
	)
	shoot(t, bctx, "approval-succeeded")
	step(t, bctx, "the deployments page shows what is deployed", 20*time.Second,
		chromedp.Navigate(base+"/projects/shop/deployments"),
		chromedp.WaitVisible(chromedp.CSS("section.env")),
		truthy(`document.querySelector("section.env").textContent.includes("Deployed now") && document.querySelector("section.env").textContent.includes("relman")`, 5*time.Second),
	)
	shoot(t, bctx, "deployments")

	// Narrow windows: the pages reflow instead of scrolling sideways.
	for _, path := range []string{approval, base + "/projects/shop/deployments", base + "/projects/shop/environments/production"} {
		step(t, bctx, "narrow "+path, 20*time.Second,
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(path),
			chromedp.WaitVisible(chromedp.ID("main")),
			truthy(`document.documentElement.scrollWidth <= window.innerWidth + 1`, 5*time.Second),
		)
	}
	shoot(t, bctx, "environment-narrow")
	step(t, bctx, "wide again", 10*time.Second, chromedp.EmulateViewport(1280, 900))

	var problems []string
	for _, p := range con.problems() {
		// The one expected refusal: the developer's hand-made approval.
		if !strings.Contains(p, "status of 403 (Forbidden)") {
			problems = append(problems, p)
		}
	}
	if p := problems; len(p) > 0 {
		t.Errorf("the pages wrote errors to the console (script errors or refused by the Content-Security-Policy):\n%s", strings.Join(p, "\n"))
	}
}

func deploymentPath(project string, id int64) string {
	return pathOf("/projects/%s/deployments/%d", project, id)
}

// waitDeploymentOf waits until the latest deployment of p's production environment satisfies ok.
func waitDeploymentOf(t *testing.T, f *fixture, p *rampart.Project, within time.Duration, ok func(*rampart.Deployment) bool) *rampart.Deployment {
	t.Helper()
	deadline := time.Now().Add(within)
	var last *rampart.Deployment
	for time.Now().Before(deadline) {
		_, ds, err := f.deploy.History(context.Background(), p, "production", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) == 1 {
			last = ds[0]
			if ok(last) {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if last == nil {
		t.Fatalf("no deployment to production within %s", within)
	}
	t.Fatalf("deployment %d is %s (%s) after %s", last.ID, last.Status, last.Waiting, within)
	return nil
}
