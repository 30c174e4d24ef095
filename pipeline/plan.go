package pipeline

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Statuses of a planned job.
const (
	// StatusPending marks a job that is to run once its needs have succeeded.
	StatusPending = "pending"
	// StatusSkipped marks a job that will not run for this event; Reason says why.
	StatusSkipped = "skipped"
)

// Plan is what one event makes of a pipeline: every job, in an order in which each job comes
// after the jobs it needs, marked pending or skipped. It holds everything needed to run the
// jobs, so that a stored Plan does not depend on re-reading the pipeline file. It is plain
// data and survives a JSON round trip unchanged.
type Plan struct {
	Event Event        `json:"event"`
	Jobs  []PlannedJob `json:"jobs"`
}

// PlannedJob is one job of a Plan.
type PlannedJob struct {
	Name string `json:"name"`
	// Needs lists the jobs that must succeed first; all come earlier in Plan.Jobs.
	Needs []string `json:"needs,omitempty"`
	// Status is StatusPending or StatusSkipped.
	Status string `json:"status"`
	// Reason says why a job is skipped; "" for pending jobs.
	Reason string `json:"reason,omitempty"`
	// The remaining fields are the job's settings; see Job.
	RunsOn      []string      `json:"runs_on,omitempty"`
	Timeout     time.Duration `json:"timeout"`
	Network     string        `json:"network"`
	Environment string        `json:"environment,omitempty"`
	Secrets     []string      `json:"secrets,omitempty"`
	Artifacts   []string      `json:"artifacts,omitempty"`
	Scan        []string      `json:"scan,omitempty"`
	SARIF       []string      `json:"sarif,omitempty"`
	Steps       []PlannedStep `json:"steps"`
}

// PlannedStep is one step of a PlannedJob.
type PlannedStep struct {
	// Name is the step's name, or the first line of its script when it has none.
	Name string `json:"name"`
	Run  string `json:"run"`
	// Env is the effective environment: pipeline < job < step.
	Env map[string]string `json:"env,omitempty"`
}

// Pending returns the names of the jobs that are to run, in plan order.
func (pl *Plan) Pending() []string {
	var names []string
	for _, j := range pl.Jobs {
		if j.Status == StatusPending {
			names = append(names, j.Name)
		}
	}
	return names
}

// Triggered reports whether the "on:" section selects ev: a push whose branch (or tag)
// matches the filters, a pull request whose base branch matches, a scheduled run when there
// are schedules, a manual run when manual runs are on. Unknown kinds are never selected.
func (p *Pipeline) Triggered(ev Event) bool {
	switch ev.Kind {
	case EventPush:
		t := p.On.Push
		if t == nil {
			return false
		}
		if len(t.Branches) == 0 && len(t.Tags) == 0 {
			return true
		}
		if ev.Tag != "" {
			return matchAny(t.Tags, ev.Tag)
		}
		return matchAny(t.Branches, ev.Branch)
	case EventPullRequest:
		t := p.On.PullRequest
		if t == nil {
			return false
		}
		return len(t.Branches) == 0 || matchAny(t.Branches, ev.BaseBranch)
	case EventSchedule:
		return len(p.On.Schedule) > 0
	case EventManual:
		return p.On.Manual
	}
	return false
}

func matchAny(patterns []string, name string) bool {
	return slices.ContainsFunc(patterns, func(pat string) bool { return matchGlob(pat, name) })
}

// Plan evaluates every job's "if" against ev and orders the jobs so that each comes after
// the jobs it needs; among jobs free to go, the one listed first in the file comes first, so
// the same pipeline and event always give the same plan. A job whose condition is false is
// skipped, and so, transitively, is every job that needs a skipped job.
//
// Plan does not consult the "on:" filters; callers check Triggered first. It fails only for
// an unknown event kind or for a hand-built Pipeline that Parse would have refused (unknown
// or cyclic needs, invalid conditions).
func (p *Pipeline) Plan(ev Event) (*Plan, error) {
	if !slices.Contains(eventKinds, ev.Kind) {
		return nil, fmt.Errorf("pipeline: plan: unknown event kind %q", ev.Kind)
	}
	order, err := p.order()
	if err != nil {
		return nil, fmt.Errorf("pipeline: plan: %w", err)
	}
	plan := &Plan{Event: ev, Jobs: make([]PlannedJob, 0, len(order))}
	status := make(map[string]string, len(order))
	for _, j := range order {
		pj, err := p.planJob(j, &ev, status)
		if err != nil {
			return nil, fmt.Errorf("pipeline: plan: job %q: %w", j.Name, err)
		}
		status[j.Name] = pj.Status
		plan.Jobs = append(plan.Jobs, pj)
	}
	return plan, nil
}

func (p *Pipeline) planJob(j *Job, ev *Event, status map[string]string) (PlannedJob, error) {
	pj := PlannedJob{
		Name:        j.Name,
		Needs:       slices.Clone(j.Needs),
		Status:      StatusPending,
		RunsOn:      slices.Clone(j.RunsOn),
		Timeout:     j.Timeout,
		Network:     j.Network,
		Environment: j.Environment,
		Secrets:     slices.Clone(j.Secrets),
		Artifacts:   slices.Clone(j.Artifacts),
		Scan:        slices.Clone(j.Scan),
		SARIF:       slices.Clone(j.SARIF),
		Steps:       make([]PlannedStep, len(j.Steps)),
	}
	if pj.Timeout == 0 {
		pj.Timeout = DefaultTimeout
	}
	if pj.Network == "" {
		pj.Network = NetworkDefault
	}
	for i, st := range j.Steps {
		name := st.Name
		if name == "" {
			name = firstLine(strings.TrimSpace(st.Run))
		}
		env := j.StepEnv(i)
		if len(env) == 0 {
			env = nil
		}
		pj.Steps[i] = PlannedStep{Name: name, Run: st.Run, Env: env}
	}
	for _, need := range j.Needs {
		if status[need] == StatusSkipped {
			pj.Status, pj.Reason = StatusSkipped, fmt.Sprintf("needs %s, which is skipped", need)
			return pj, nil
		}
	}
	cond := j.cond
	if cond == nil && j.If != "" {
		// A Job built by hand has no compiled condition.
		c, err := parseCondition(j.If)
		if err != nil {
			return pj, fmt.Errorf("condition %q: %w", j.If, err)
		}
		cond = c
	}
	if cond != nil && !cond.truth(ev) {
		pj.Status, pj.Reason = StatusSkipped, "condition is false: "+j.If
	}
	return pj, nil
}

// order sorts the jobs topologically (Kahn's algorithm), taking ready jobs in file order.
func (p *Pipeline) order() ([]*Job, error) {
	idx := make(map[string]int, len(p.Jobs))
	for i, j := range p.Jobs {
		if _, dup := idx[j.Name]; dup {
			return nil, fmt.Errorf("two jobs named %q", j.Name)
		}
		idx[j.Name] = i
	}
	waiting := make([]int, len(p.Jobs))
	dependents := make([][]int, len(p.Jobs))
	for i, j := range p.Jobs {
		for _, need := range j.Needs {
			k, ok := idx[need]
			if !ok {
				return nil, fmt.Errorf("job %q needs unknown job %q", j.Name, need)
			}
			waiting[i]++
			dependents[k] = append(dependents[k], i)
		}
	}
	ready := &intHeap{}
	for i, w := range waiting {
		if w == 0 {
			heap.Push(ready, i)
		}
	}
	order := make([]*Job, 0, len(p.Jobs))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, p.Jobs[i])
		for _, d := range dependents[i] {
			if waiting[d]--; waiting[d] == 0 {
				heap.Push(ready, d)
			}
		}
	}
	if len(order) < len(p.Jobs) {
		if c := findCycles(p.Jobs, 1); len(c) > 0 {
			names := make([]string, len(c[0]))
			for i, j := range c[0] {
				names[i] = j.Name
			}
			return nil, fmt.Errorf("cycle in needs: %s", strings.Join(names, " -> "))
		}
		return nil, fmt.Errorf("cycle in needs")
	}
	return order, nil
}

// intHeap is a min-heap of job indexes, for taking ready jobs in file order.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
