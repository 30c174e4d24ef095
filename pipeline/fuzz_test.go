package pipeline

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are well formed and sorted, and
// that every pipeline it accepts can be planned for every kind of event.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		input, _ := splitGolden(f, data)
		f.Add(input)
	}
	f.Add([]byte(benchPipeline(12)))
	events := []Event{
		{Kind: EventPush, Branch: "main", Ref: "refs/heads/main", Commit: "abc"},
		{Kind: EventPush, Tag: "v1.0.0", Ref: "refs/tags/v1.0.0"},
		{Kind: EventPullRequest, Branch: "fix", BaseBranch: "main"},
		{Kind: EventSchedule, Branch: "main"},
		{Kind: EventManual, Branch: "release/1.x"},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(".rampart.yml", data)
		if err != nil {
			var perr *Errors
			if !errors.As(err, &perr) || len(perr.List) == 0 {
				t.Fatalf("Parse error is not a non-empty *Errors: %T %v", err, err)
			}
			for i, e := range perr.List {
				if e.Message == "" || e.File != ".rampart.yml" {
					t.Fatalf("malformed error %+v", e)
				}
				if i > 0 && (e.Line < perr.List[i-1].Line || e.Line == perr.List[i-1].Line && e.Column < perr.List[i-1].Column) {
					t.Fatalf("errors not sorted:\n%v", err)
				}
			}
			return
		}
		if len(p.Jobs) == 0 {
			t.Fatal("accepted a pipeline without jobs")
		}
		for _, j := range p.Jobs {
			if len(j.Steps) == 0 || j.Timeout <= 0 || j.Timeout > MaxTimeout {
				t.Fatalf("accepted job %+v", j)
			}
			for i := range j.Steps {
				j.StepEnv(i)
			}
		}
		for _, spec := range p.Schedules() {
			if _, err := NextRun(spec, testTime); err != nil {
				t.Fatalf("accepted schedule %q: %v", spec, err)
			}
		}
		for _, ev := range events {
			p.Triggered(ev)
			plan, err := p.Plan(ev)
			if err != nil {
				t.Fatalf("Plan(%+v) of an accepted pipeline: %v", ev, err)
			}
			if len(plan.Jobs) != len(p.Jobs) {
				t.Fatalf("plan has %d jobs, pipeline %d", len(plan.Jobs), len(p.Jobs))
			}
			checkOrder(t, plan)
			if _, err := json.Marshal(plan); err != nil {
				t.Fatalf("plan does not marshal: %v", err)
			}
		}
	})
}
