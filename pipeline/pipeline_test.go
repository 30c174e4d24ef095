package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rampart-ci/rampart"
)

// mustParse parses src or fails the test.
func mustParse(t testing.TB, src string) *Pipeline {
	t.Helper()
	p, err := Parse(".rampart.yml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func TestTriggered(t *testing.T) {
	const filtered = `
on:
  push:
    branches: [main, "release/*"]
    tags: ["v*"]
  pull_request:
    branches: [main]
  schedule: [{cron: "@daily"}]
jobs: {build: {steps: [{run: make}]}}
`
	tests := []struct {
		name string
		src  string
		ev   Event
		want bool
	}{
		{"push to listed branch", filtered, Event{Kind: EventPush, Branch: "main"}, true},
		{"push to glob branch", filtered, Event{Kind: EventPush, Branch: "release/2.0"}, true},
		{"push to nested branch", filtered, Event{Kind: EventPush, Branch: "release/2.0/x"}, false},
		{"push to other branch", filtered, Event{Kind: EventPush, Branch: "feature"}, false},
		{"push of listed tag", filtered, Event{Kind: EventPush, Tag: "v1.0"}, true},
		{"push of other tag", filtered, Event{Kind: EventPush, Tag: "nightly"}, false},
		{"pull request into main", filtered, Event{Kind: EventPullRequest, Branch: "x", BaseBranch: "main"}, true},
		{"pull request into other", filtered, Event{Kind: EventPullRequest, Branch: "x", BaseBranch: "dev"}, false},
		{"pull request base not branch", filtered, Event{Kind: EventPullRequest, Branch: "main", BaseBranch: "dev"}, false},
		{"schedule", filtered, Event{Kind: EventSchedule}, true},
		{"manual not listed", filtered, Event{Kind: EventManual}, false},
		{"unknown kind", filtered, Event{Kind: "tag"}, false},
		{"branches only refuse tags", "on: {push: {branches: [main]}}\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventPush, Tag: "v1"}, false},
		{"tags only refuse branches", "on: {push: {tags: [v1]}}\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventPush, Branch: "main"}, false},
		{"bare push takes tags", "on: push\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventPush, Tag: "anything"}, true},
		{"bare pull request", "on: [pull_request]\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventPullRequest, BaseBranch: "x"}, true},
		{"default on push", "jobs: {b: {steps: [{run: x}]}}", Event{Kind: EventPush, Branch: "x"}, true},
		{"default on manual", "jobs: {b: {steps: [{run: x}]}}", Event{Kind: EventManual}, true},
		{"default on pull request", "jobs: {b: {steps: [{run: x}]}}", Event{Kind: EventPullRequest, BaseBranch: "main"}, false},
		{"default on schedule", "jobs: {b: {steps: [{run: x}]}}", Event{Kind: EventSchedule}, false},
		{"manual true", "on: {manual: true}\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventManual}, true},
		{"manual false", "on: {manual: false, push: {}}\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventManual}, false},
		{"manual null", "on: {manual: }\njobs: {b: {steps: [{run: x}]}}", Event{Kind: EventManual}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.src)
			if got := p.Triggered(tt.ev); got != tt.want {
				t.Errorf("Triggered(%+v) = %v, want %v", tt.ev, got, tt.want)
			}
		})
	}
}

func TestStepEnv(t *testing.T) {
	p := mustParse(t, `
env: {A: pipeline, B: pipeline, C: pipeline, N: 1.10}
jobs:
  build:
    env: {B: job, C: job}
    steps:
      - run: x
        env: {C: step, D: step, E: }
      - run: y
`)
	j := p.Job("build")
	got := j.StepEnv(0)
	want := map[string]string{"A": "pipeline", "B": "job", "C": "step", "D": "step", "E": "", "N": "1.10"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("StepEnv(0) = %v, want %v", got, want)
	}
	got["A"] = "changed"
	if p.Env["A"] != "pipeline" {
		t.Error("StepEnv returned a map shared with the pipeline")
	}
	if got := j.StepEnv(1)["C"]; got != "job" {
		t.Errorf("StepEnv(1)[C] = %q, want job", got)
	}
	// A Job built by hand has no pipeline env.
	hand := &Job{Name: "x", Env: map[string]string{"A": "1"}, Steps: []Step{{Run: "x"}}}
	if got := hand.StepEnv(0); !reflect.DeepEqual(got, map[string]string{"A": "1"}) {
		t.Errorf("hand-built StepEnv(0) = %v", got)
	}
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, "jobs: {build: {steps: [{run: make}]}}")
	j := p.Job("build")
	if j.Timeout != DefaultTimeout || j.Network != NetworkDefault || j.If != "" || len(j.RunsOn) != 0 {
		t.Errorf("defaults: %+v", j)
	}
	if p.On.Push == nil || !p.On.Manual || p.On.PullRequest != nil || p.Schedules() != nil {
		t.Errorf("default triggers: %+v", p.On)
	}
	if p.Job("nope") != nil {
		t.Error("Job(unknown) != nil")
	}
}

func TestReservedKeys(t *testing.T) {
	p := mustParse(t, `
jobs:
  deploy:
    secrets: [DEPLOY_TOKEN, _X1]
    environment: production
    steps: [{run: deploy}]
  one:
    secrets: ONLY
    steps: [{run: x}]
`)
	if got := p.Job("deploy"); !slices.Equal(got.Secrets, []string{"DEPLOY_TOKEN", "_X1"}) || got.Environment != "production" {
		t.Errorf("deploy = %+v", got)
	}
	if got := p.Job("one").Secrets; !slices.Equal(got, []string{"ONLY"}) {
		t.Errorf("one.Secrets = %v", got)
	}
}

func TestSchedules(t *testing.T) {
	p := mustParse(t, `
on:
  schedule:
    - cron: "0 3 * * 1"
    - cron: "@daily"
jobs: {b: {steps: [{run: x}]}}
`)
	specs := p.Schedules()
	if want := []string{"0 3 * * 1", "@daily"}; !slices.Equal(specs, want) {
		t.Fatalf("Schedules() = %v, want %v", specs, want)
	}
	specs[0] = "changed"
	if p.On.Schedule[0] != "0 3 * * 1" {
		t.Error("Schedules returned the pipeline's slice")
	}
}

func TestNextRun(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	after := time.Date(2025, 6, 4, 12, 30, 0, 0, time.UTC) // a Wednesday
	tests := []struct {
		name  string
		spec  string
		after time.Time
		want  time.Time
		err   string
	}{
		{"weekly", "0 3 * * 1", after, time.Date(2025, 6, 9, 3, 0, 0, 0, time.UTC), ""},
		{"daily", "@daily", after, time.Date(2025, 6, 5, 0, 0, 0, 0, time.UTC), ""},
		{"hourly", "@hourly", after, time.Date(2025, 6, 4, 13, 0, 0, 0, time.UTC), ""},
		{"every", "@every 2h", after, after.Add(2 * time.Hour), ""},
		{"utc whatever the zone of after", "0 3 * * *", after.In(berlin), time.Date(2025, 6, 5, 3, 0, 0, 0, time.UTC), ""},
		{"bad", "0 3 * *", after, time.Time{}, "expected exactly 5 fields"},
		{"time zone refused", "CRON_TZ=UTC 0 3 * * *", after, time.Time{}, "time zone"},
		{"never", "0 0 31 2 *", after, time.Time{}, "never fires"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextRun(tt.spec, tt.after)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("NextRun(%q) error = %v, want %q", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("NextRun(%q, %v) = %v, %v; want %v", tt.spec, tt.after, got, err, tt.want)
			}
		})
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"main", "main", true},
		{"main", "mainline", false},
		{"release/*", "release/1.0", true},
		{"release/*", "release/1.0/x", false},
		{"release/**", "release/1.0/x", true},
		{"release/**", "release/", true},
		{"release/**", "release", false},
		{"**/fix", "a/b/fix", true},
		{"**", "anything/at/all", true},
		{"v[0-9]*", "v1.2", true},
		{"v[0-9]*", "vx", false},
		{"v[^0-9]", "vx", true},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"a?c", "abc", true},
		{"a?c", "a/c", false},
		{"[", "[", false},
		{`**\-[\]\-]`, "x/y--", true},
		{`**[\]\-]`, "x]", true},
		{`**.[^.]`, "a.b", true},
		{`**.[^.]`, "a..", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.name, func(t *testing.T) {
			if got := matchGlob(tt.pattern, tt.name); got != tt.want {
				t.Errorf("matchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
			}
		})
	}
}

func TestFileSizeLimit(t *testing.T) {
	data := []byte("jobs: {b: {steps: [{run: x}]}}\n# " + strings.Repeat("x", MaxFileSize))
	_, err := Parse("big.yml", data)
	var perr *Errors
	if !errors.As(err, &perr) || len(perr.List) != 1 || perr.List[0].Message != msgTooLarge {
		t.Fatalf("Parse(2 MiB) = %v", err)
	}
	if code := rampart.ErrorCode(err); code != rampart.ETOOLARGE {
		t.Errorf("ErrorCode = %q, want %q", code, rampart.ETOOLARGE)
	}
}

func TestErrorsAreUserErrors(t *testing.T) {
	_, err := Parse("ci.yml", []byte("jobs:\n  build:\n    stepz: []\n"))
	if code := rampart.ErrorCode(err); code != rampart.EINVALID {
		t.Errorf("ErrorCode = %q, want %q", code, rampart.EINVALID)
	}
	if d := rampart.ErrorDetail(err); !strings.Contains(d, `ci.yml:3:5: jobs.build.stepz: unknown key "stepz"; did you mean "steps"?`) {
		t.Errorf("ErrorDetail = %q", d)
	}
	var one *Error
	if !errors.As(err, &one) || one.Line != 2 || one.Field != "jobs.build" {
		t.Errorf("first *Error = %+v", one)
	}
	// Wrapping keeps both views.
	wrapped := fmt.Errorf("load pipeline: %w", err)
	var perr *Errors
	if !errors.As(wrapped, &perr) || len(perr.List) != 2 {
		t.Errorf("errors.As through a wrap: %v", wrapped)
	}
}

func TestErrorsSorted(t *testing.T) {
	_, err := Parse(".rampart.yml", []byte(`
jobs:
  z:
    needs: [a]
    stepz: 1
    steps: [{run: x}]
  a:
    needs: [z]
    timeout: nope
    steps: [{runn: x}]
on: [nope]
`))
	var perr *Errors
	if !errors.As(err, &perr) {
		t.Fatal(err)
	}
	if len(perr.List) < 5 {
		t.Errorf("got %d errors, want all of them:\n%v", len(perr.List), err)
	}
	if !slices.IsSortedFunc(perr.List, func(a, b Error) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	}) {
		t.Errorf("errors not sorted:\n%v", err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(perr.List) {
		t.Errorf("Error() has %d lines for %d problems", n, len(perr.List))
	}
}

func TestPlanJSONRoundTrip(t *testing.T) {
	p := mustParse(t, `
env: {A: "1"}
jobs:
  build:
    timeout: 90s
    steps: [{run: make, env: {B: "2"}}]
    artifacts: [bin/app]
  deploy:
    needs: build
    if: branch == 'main'
    secrets: [TOKEN]
    environment: prod
    steps: [{name: ship, run: ./ship}]
`)
	plan, err := p.Plan(Event{Kind: EventPush, Branch: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(plan, &back) {
		t.Errorf("round trip changed the plan:\n%+v\n%+v", plan, &back)
	}
	if got := plan.Pending(); !slices.Equal(got, []string{"build"}) {
		t.Errorf("Pending() = %v", got)
	}
	if back.Jobs[0].Timeout != 90*time.Second {
		t.Errorf("timeout = %v", back.Jobs[0].Timeout)
	}
}

func TestPlanHandBuilt(t *testing.T) {
	job := func(name, cond string, needs ...string) *Job {
		return &Job{Name: name, If: cond, Needs: needs, Steps: []Step{{Run: "x"}}}
	}
	tests := []struct {
		name    string
		jobs    []*Job
		ev      Event
		pending []string
		err     string
	}{
		{"ok", []*Job{job("b", "", "a"), job("a", "branch == 'main'")}, Event{Kind: EventPush, Branch: "main"}, []string{"a", "b"}, ""},
		{"condition compiled lazily", []*Job{job("a", "branch == 'main'")}, Event{Kind: EventPush, Branch: "dev"}, nil, ""},
		{"bad condition", []*Job{job("a", "branch =")}, Event{Kind: EventPush}, nil, "unexpected"},
		{"unknown need", []*Job{job("a", "", "x")}, Event{Kind: EventPush}, nil, `needs unknown job "x"`},
		{"cycle", []*Job{job("a", "", "b"), job("b", "", "a")}, Event{Kind: EventPush}, nil, "cycle in needs: a -> b -> a"},
		{"self", []*Job{job("a", "", "a")}, Event{Kind: EventPush}, nil, "cycle in needs"},
		{"duplicate names", []*Job{job("a", ""), job("a", "")}, Event{Kind: EventPush}, nil, "two jobs"},
		{"unknown event", []*Job{job("a", "")}, Event{Kind: "tag"}, nil, "unknown event kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := (&Pipeline{Jobs: tt.jobs}).Plan(tt.ev)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Plan error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.Pending(); !slices.Equal(got, tt.pending) {
				t.Errorf("Pending() = %v, want %v", got, tt.pending)
			}
			for _, j := range plan.Jobs {
				if j.Timeout != DefaultTimeout || j.Network != NetworkDefault {
					t.Errorf("job %s defaults: %+v", j.Name, j)
				}
			}
		})
	}
}

// TestPlanOrder checks on a wide graph that every job comes after what it needs and that
// the order does not change between calls.
func TestPlanOrder(t *testing.T) {
	p := mustParse(t, benchPipeline(50))
	first, err := p.Plan(Event{Kind: EventPush, Branch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		again, _ := p.Plan(Event{Kind: EventPush, Branch: "main"})
		if !reflect.DeepEqual(first, again) {
			t.Fatal("Plan is not deterministic")
		}
	}
	checkOrder(t, first)
}

// checkOrder fails t if a planned job comes before a job it needs.
func checkOrder(t testing.TB, plan *Plan) {
	t.Helper()
	pos := make(map[string]int)
	for i, j := range plan.Jobs {
		pos[j.Name] = i
	}
	for i, j := range plan.Jobs {
		for _, n := range j.Needs {
			if k, ok := pos[n]; !ok || k >= i {
				t.Fatalf("job %s at %d needs %s at %d", j.Name, i, n, k)
			}
		}
	}
}

func TestConditionColumns(t *testing.T) {
	tests := []struct {
		name string
		line string
		col  int
	}{
		{"plain", "    if: branch = 'x'", 16},
		{"double quoted", `    if: "branch = 'x'"`, 17},
		{"single quoted", `    if: 'branch = "x"'`, 17},
		{"escaped quote falls back to the value", `    if: 'branch = ''x'''`, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(".rampart.yml", []byte("jobs:\n  a:\n"+tt.line+"\n    steps: [{run: x}]\n"))
			var one *Error
			if !errors.As(err, &one) || one.Line != 3 || one.Column != tt.col {
				t.Errorf("error = %+v, want 3:%d", one, tt.col)
			}
		})
	}
}

// FuzzGlob checks that the "**" translation agrees with path.Match on patterns without "**".
func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"release/*", "release/1"}, {"v[0-9]*", "v1"}, {`a\*[^x-z]?`, "a*b/"}, {"[]a]", "]"}, {`[\-]`, "-"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		// The empty pattern is refused on purpose: it would select nothing.
		if pattern == "" || strings.Contains(pattern, "**") || !isValidUTF8(pattern) || !isValidUTF8(name) {
			return
		}
		want, err := path.Match(pattern, name)
		re, rerr := globRegexp(pattern)
		if (err != nil) != (rerr != nil) {
			t.Fatalf("pattern %q: path.Match error %v, globRegexp error %v", pattern, err, rerr)
		}
		if err != nil {
			return
		}
		if got := re.MatchString(name); got != want {
			t.Fatalf("pattern %q name %q: regexp %v, path.Match %v (%s)", pattern, name, got, want, re)
		}
	})
}

// testTime is a fixed instant for tests that need one.
var testTime = time.Date(2025, 6, 4, 12, 30, 0, 0, time.UTC)

func isValidUTF8(s string) bool {
	return strings.ToValidUTF8(s, "\uFFFD") == s && !strings.ContainsRune(s, '\uFFFD')
}

// benchPipeline returns a pipeline of n jobs in layers of ten, each needing two jobs of the
// layer before, with conditions, env and artifacts, like a large monorepo's file.
func benchPipeline(n int) string {
	var b strings.Builder
	b.WriteString("on:\n  push:\n    branches: [main, \"release/**\"]\n  pull_request: {}\n  manual: {}\nenv:\n  GOFLAGS: -mod=readonly\njobs:\n")
	for i := range n {
		fmt.Fprintf(&b, "  job-%d:\n    runs-on: [linux, go]\n    timeout: 20m\n", i)
		if i >= 10 {
			fmt.Fprintf(&b, "    needs: [job-%d, job-%d]\n", i-10, (i/10-1)*10+(i+3)%10)
		}
		if i%7 == 0 {
			b.WriteString("    if: branch == 'main' || startsWith(ref, 'refs/tags/')\n")
		}
		fmt.Fprintf(&b, "    env: {PKG: ./pkg%d/...}\n    steps:\n", i)
		fmt.Fprintf(&b, "      - name: build\n        run: go build $PKG\n      - name: test\n        run: |\n          go test -race $PKG\n          go vet $PKG\n        env: {CGO_ENABLED: \"1\"}\n")
		fmt.Fprintf(&b, "    artifacts: [\"out/%d/*.tar.gz\"]\n", i)
	}
	return b.String()
}

func BenchmarkParse(b *testing.B) {
	data := []byte(benchPipeline(50))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(".rampart.yml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPlan(b *testing.B) {
	p := mustParse(b, benchPipeline(50))
	ev := Event{Kind: EventPush, Branch: "main"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Plan(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHostileInputs checks that files built to be expensive are refused or parsed quickly.
func TestHostileInputs(t *testing.T) {
	denseCycle := func(n int) string {
		var b strings.Builder
		b.WriteString("jobs:\n")
		for i := range n {
			fmt.Fprintf(&b, "  j%d:\n    steps: [{run: x}]\n    needs: [", i)
			for k := range n {
				if k != i {
					fmt.Fprintf(&b, "j%d,", k)
				}
			}
			b.WriteString("]\n")
		}
		return b.String()
	}
	manyUnknownNeeds := func() string {
		var b strings.Builder
		b.WriteString("jobs:\n")
		for i := range 400 {
			fmt.Fprintf(&b, "  job%d: {steps: [{run: x}]}\n", i)
		}
		b.WriteString("  last:\n    steps: [{run: x}]\n    needs: [")
		for i := range 50000 {
			fmt.Fprintf(&b, "nojob%d,", i)
		}
		b.WriteString("]\n")
		return b.String()
	}
	tests := []struct {
		name string
		src  string
	}{
		{"dense cycles", denseCycle(250)},
		{"many unknown needs", manyUnknownNeeds()},
		{"long key", "jobs:\n  build:\n    " + strings.Repeat("k", MaxFileSize-40) + ": 1\n"},
		{"deep flow nesting", strings.Repeat("[", MaxFileSize/2) + strings.Repeat("]", MaxFileSize/2-1)},
		{"deep block nesting", strings.Repeat("- ", MaxFileSize/2-1)},
		{"long condition line", "jobs:\n  a:\n    steps: [{run: x}]\n    if: " + strings.Repeat("(", 4000) + "\n"},
		{"many merges", "x-a: &a {A: 1}\nenv: {" + strings.Repeat("<<: *a, ", 1) + "B: 2}\n" + "jobs:\n" + strings.Repeat("  j: {steps: [{run: x}], env: {<<: [*a, *a, *a]}}\n", 1)},
		{"many errors", "jobs:\n" + strings.Repeat("  Bad Name: {stepz: 1}\n", 20000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse(".rampart.yml", []byte(tt.src))
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Parse took %v", d)
			}
			if err != nil && strings.Count(err.Error(), "\n") >= maxErrors {
				t.Errorf("more than %d problems reported", maxErrors)
			}
		})
	}
}

// TestDocsExample keeps the complete example of docs/pipeline.md valid.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "pipeline.md"))
	if err != nil {
		t.Skipf("docs not found: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	if !ok {
		t.Fatal("no yaml block in docs/pipeline.md")
	}
	example, _, _ := strings.Cut(rest, "```")
	p := mustParse(t, example)
	plan, err := p.Plan(Event{Kind: EventPullRequest, Branch: "fix", BaseBranch: "main"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plan.Pending(), []string{"build", "test", "lint"}; !slices.Equal(got, want) {
		t.Errorf("pull request runs %v, want %v as the docs say", got, want)
	}
}
