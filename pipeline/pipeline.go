// Package pipeline reads .rampart.yml files: it parses and validates the pipeline format,
// reporting every problem with its file, line, column and field and a hint of what to write
// instead, decides whether an event triggers the pipeline, and plans the job graph for one
// event.
//
// The package is pure: it does no I/O, keeps no state between calls, and reads no clock. Its
// values may be shared between goroutines as long as nobody modifies them.
package pipeline

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Limits of the format. They exist so that a hostile or broken file costs bounded time and
// memory on the server that parses it.
const (
	// MaxFileSize is the largest pipeline file Parse accepts, in bytes.
	MaxFileSize = 1 << 20
	// MaxNodes caps the YAML nodes Parse visits, counting every expansion of an alias, so
	// that alias bombs ("billion laughs") are refused instead of expanded.
	MaxNodes = 100_000
	// DefaultTimeout is the timeout of a job that sets none.
	DefaultTimeout = 60 * time.Minute
	// MaxTimeout is the longest timeout a job may set.
	MaxTimeout = 24 * time.Hour
	// MaxJobs is the largest number of jobs a pipeline may have.
	MaxJobs = 500
	// MaxNameLength is the longest job name.
	MaxNameLength = 64
)

// Event kinds: what happened in the repository (or on the server) to start a run.
const (
	EventPush        = "push"
	EventPullRequest = "pull_request"
	EventSchedule    = "schedule"
	EventManual      = "manual"
)

// eventKinds lists the event kinds in the order documentation and hints show them.
var eventKinds = []string{EventPush, EventPullRequest, EventSchedule, EventManual}

// Network modes of a job's sandbox.
const (
	// NetworkDefault gives the job the network the agent is configured to allow.
	NetworkDefault = "default"
	// NetworkNone runs the job's steps without any network access.
	NetworkNone = "none"
)

// Pipeline is a parsed and validated .rampart.yml. Parse fills every field; a Pipeline built
// by hand works too, but is only checked as far as Plan needs (known needs, no cycles, valid
// conditions).
type Pipeline struct {
	// File is the file name given to Parse, used in messages.
	File string `json:"file"`
	// On says which events start the pipeline.
	On Triggers `json:"on"`
	// Env is the environment of every step, overridden by job and step env.
	Env map[string]string `json:"env,omitempty"`
	// Jobs in the order the file lists them; names are unique.
	Jobs []*Job `json:"jobs"`
}

// Triggers is the "on:" section. A nil Push or PullRequest means that kind of event does not
// start the pipeline.
type Triggers struct {
	Push        *PushTrigger        `json:"push,omitempty"`
	PullRequest *PullRequestTrigger `json:"pull_request,omitempty"`
	// Schedule holds the cron specs of scheduled runs, in UTC.
	Schedule []string `json:"schedule,omitempty"`
	Manual   bool     `json:"manual,omitempty"`
}

// PushTrigger filters push events by branch and tag glob patterns. With neither list every
// push triggers; with only Branches, tag pushes do not; with only Tags, branch pushes do not.
// This is what GitHub Actions does, so files move between the two without surprises.
type PushTrigger struct {
	Branches []string `json:"branches,omitempty"`
	Tags     []string `json:"tags,omitempty"`
}

// PullRequestTrigger filters pull requests by the glob patterns of their base branch, the
// branch they would merge into. An empty list selects every pull request.
type PullRequestTrigger struct {
	Branches []string `json:"branches,omitempty"`
}

// Job is one job of a pipeline: steps run in order on one agent, in one workspace.
type Job struct {
	// Name is the key of the job under "jobs:", matching [a-z0-9][a-z0-9_-]*.
	Name string `json:"name"`
	// RunsOn lists the labels an agent must have to run the job; empty means any agent.
	RunsOn []string `json:"runs_on,omitempty"`
	// Timeout bounds the whole job; Parse sets DefaultTimeout when the file sets none.
	Timeout time.Duration `json:"timeout"`
	// Env overrides the pipeline env for every step of the job.
	Env map[string]string `json:"env,omitempty"`
	// Network is NetworkDefault or NetworkNone.
	Network string `json:"network"`
	// If is the job's condition as written; "" means always.
	If string `json:"if,omitempty"`
	// Needs names the jobs that must succeed before this one starts.
	Needs []string `json:"needs,omitempty"`
	// Steps run in order; there is at least one.
	Steps []Step `json:"steps"`
	// Artifacts are glob patterns, relative to the workspace, of files kept after the job.
	Artifacts []string `json:"artifacts,omitempty"`
	// Secrets names the secrets the job asks for. Whether it gets them is decided by the
	// server (by project, environment and event), never by the file.
	Secrets []string `json:"secrets,omitempty"`
	// Environment names the deployment target the job deploys to, or is "". The server's
	// protection rules for that environment apply to the job.
	Environment string `json:"environment,omitempty"`
	// Scan names the built-in scanners (secrets, dependencies, iac) run on the workspace after
	// the steps; their findings go through the security gate.
	Scan []string `json:"scan,omitempty"`
	// SARIF are patterns of SARIF files the steps wrote (from any scanner), gated like the
	// built-in findings.
	SARIF []string `json:"sarif,omitempty"`
	// Line and Column locate the job's name in the file, for messages about the job.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`

	cond     expr      // compiled If; nil when If is "" or the Job was built by hand
	pipeline *Pipeline // for the pipeline env in StepEnv
}

// Step is one command of a job.
type Step struct {
	// Name is the step's name as written, or "".
	Name string `json:"name,omitempty"`
	// Run is the shell script of the step.
	Run string `json:"run"`
	// Env overrides the pipeline and job env for this step.
	Env map[string]string `json:"env,omitempty"`
	// Line locates the step in the file.
	Line int `json:"line,omitempty"`
}

// Event describes what happened, for Triggered and Plan and for the identifiers of "if"
// conditions.
type Event struct {
	// Kind is one of EventPush, EventPullRequest, EventSchedule and EventManual.
	Kind string `json:"kind"`
	// Branch is the branch pushed to or built, or "" for a tag push.
	Branch string `json:"branch,omitempty"`
	// Tag is the tag pushed, or "".
	Tag string `json:"tag,omitempty"`
	// Ref is the full git ref, such as "refs/heads/main".
	Ref string `json:"ref,omitempty"`
	// Commit is the SHA of the commit to build.
	Commit string `json:"commit,omitempty"`
	// BaseBranch is the branch a pull request would merge into; "" for other kinds.
	BaseBranch string `json:"base_branch,omitempty"`
}

// Job returns the job called name, or nil.
func (p *Pipeline) Job(name string) *Job {
	for _, j := range p.Jobs {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Schedules returns the cron specs of the "on: schedule" section in file order, or nil.
func (p *Pipeline) Schedules() []string {
	if len(p.On.Schedule) == 0 {
		return nil
	}
	return append([]string(nil), p.On.Schedule...)
}

// StepEnv returns the effective environment of step i: the pipeline env, overridden by the
// job env, overridden by the step env. The map is new on each call. i must be a valid index
// of j.Steps.
func (j *Job) StepEnv(i int) map[string]string {
	step := j.Steps[i]
	env := make(map[string]string)
	if j.pipeline != nil {
		maps.Copy(env, j.pipeline.Env)
	}
	maps.Copy(env, j.Env)
	maps.Copy(env, step.Env)
	return env
}

// cronParser accepts the five standard fields and descriptors such as @daily and @every 1h.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseCron parses spec, refusing time zone prefixes: schedules are in UTC so that they mean
// the same on every server and loading a zone would need the zone database from disk.
func parseCron(spec string) (cron.Schedule, error) {
	s := strings.TrimSpace(spec)
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		return nil, fmt.Errorf("time zone prefixes are not supported; schedules are in UTC")
	}
	sched, err := cronParser.Parse(s)
	if err != nil {
		return nil, err
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < time.Minute {
		return nil, fmt.Errorf("@every interval %s is shorter than one minute", every.Delay)
	}
	return sched, nil
}

// NextRun returns the first time after after at which the cron spec fires, in UTC. spec is a
// five-field cron expression or a descriptor such as @daily or @every 6h.
func NextRun(spec string, after time.Time) (time.Time, error) {
	sched, err := parseCron(spec)
	if err != nil {
		return time.Time{}, fmt.Errorf("pipeline: schedule %q: %w", spec, err)
	}
	next := sched.Next(after.UTC())
	if next.IsZero() {
		// robfig/cron gives up after five years, e.g. for "0 0 30 2 *" (30 February).
		return time.Time{}, fmt.Errorf("pipeline: schedule %q never fires", spec)
	}
	return next, nil
}
