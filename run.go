package rampart

import (
	"context"
	"time"
)

// Run and job statuses. A job starts pending (waiting for its needs) or queued, is running while
// an agent holds its lease, and ends in one of the terminal statuses.
const (
	StatusPending     = "pending"
	StatusQueued      = "queued"
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusCancelled   = "cancelled"
	StatusTimedOut    = "timed_out"
	StatusSkipped     = "skipped"
	StatusInterrupted = "interrupted" // a deploy job whose agent was lost; a person decides
)

// Terminal reports whether status is final.
func Terminal(status string) bool {
	switch status {
	case StatusSucceeded, StatusFailed, StatusCancelled, StatusTimedOut, StatusSkipped, StatusInterrupted:
		return true
	}
	return false
}

// Events that start runs.
const (
	EventPush        = "push"
	EventPullRequest = "pull_request"
	EventSchedule    = "schedule"
	EventManual      = "manual"
)

// Run is one execution of a project's pipeline at one commit.
type Run struct {
	ID          int64  `json:"id"`
	ProjectID   int64  `json:"project_id"`
	Project     string `json:"project"`
	Number      int64  `json:"number"` // per project, from 1
	Event       string `json:"event"`
	Ref         string `json:"ref"` // e.g. refs/heads/main
	Branch      string `json:"branch,omitempty"`
	Tag         string `json:"tag,omitempty"`
	Commit      string `json:"commit"`
	PullRequest int    `json:"pull_request,omitempty"` // number; 0 when not a pull request
	FromFork    bool   `json:"from_fork,omitempty"`
	TriggeredBy string `json:"triggered_by"` // user name, "webhook:github", "poll", "schedule"
	// SecurityFix puts the run in the security fast lane: its jobs jump the queue, and its
	// deployments skip wait timers and windows and accept one security approval. Incident is
	// the incident it fixes.
	SecurityFix bool   `json:"security_fix,omitempty"`
	Incident    string `json:"incident,omitempty"`
	// RollbackOf is the deployment a rollback run redeploys.
	RollbackOf int64      `json:"rollback_of,omitempty"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason,omitempty"` // why it failed or was cancelled
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// RunFilter selects runs, newest first; zero fields select everything.
type RunFilter struct {
	ProjectID int64
	BeforeID  int64 // for paging
	Limit     int
}

// Job is one job of a run.
type Job struct {
	ID              int64      `json:"id"`
	RunID           int64      `json:"run_id"`
	ProjectID       int64      `json:"project_id"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	Needs           []string   `json:"needs,omitempty"`
	Labels          []string   `json:"labels,omitempty"`  // runs-on: an agent must have all of them
	Spec            string     `json:"-"`                 // JobSpec as JSON
	Deploys         bool       `json:"deploys,omitempty"` // targets an environment: never re-run automatically
	Priority        int        `json:"priority,omitempty"`
	Attempt         int        `json:"attempt"`
	AgentID         int64      `json:"agent_id,omitempty"`
	Fence           int64      `json:"fence"`
	TokenHash       string     `json:"-"` // SHA-256 of the job token while leased
	LeaseExpiresAt  *time.Time `json:"lease_expires_at,omitempty"`
	CancelRequested bool       `json:"cancel_requested,omitempty"`
	ExitCode        int        `json:"exit_code"`
	Reason          string     `json:"reason,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	StartedAt       *time.Time `json:"started_at,omitempty"`
	FinishedAt      *time.Time `json:"finished_at,omitempty"`
}

// Agent is a registered build agent.
type Agent struct {
	ID            int64      `json:"id"`
	Name          string     `json:"name"`
	Labels        []string   `json:"labels"`         // the labels jobs are matched against
	ClaimedLabels []string   `json:"claimed_labels"` // what the agent said about itself
	Capacity      int        `json:"capacity"`
	Version       string     `json:"version,omitempty"`
	Disabled      bool       `json:"disabled"`
	CreatedAt     time.Time  `json:"created_at"`
	LastSeenAt    *time.Time `json:"last_seen_at,omitempty"`
}

// AgentToken is a single-use, short-lived registration token. Labels, when set by the admin who
// made it, win over the labels the agent claims.
type AgentToken struct {
	ID        int64      `json:"id"`
	Labels    []string   `json:"labels,omitempty"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	AgentID   int64      `json:"agent_id,omitempty"`
}

// LogChunk is a numbered piece of a job's log. Sequence numbers start at 1; a chunk sent twice is
// stored once.
type LogChunk struct {
	JobID     int64     `json:"job_id"`
	Seq       int64     `json:"seq"`
	Data      []byte    `json:"data"`
	CreatedAt time.Time `json:"created_at"`
}

// Artifact is a file a job kept, stored by the SHA-256 of its content.
type Artifact struct {
	ID        int64     `json:"id"`
	RunID     int64     `json:"run_id"`
	JobID     int64     `json:"job_id"`
	Name      string    `json:"name"`   // path relative to the workspace
	Digest    string    `json:"digest"` // "sha256:<hex>"
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// RunTx stores runs.
type RunTx interface {
	// CreateRun inserts r, setting r.ID and r.Number (the next number within its project).
	CreateRun(ctx context.Context, r *Run) error
	RunByID(ctx context.Context, id int64) (*Run, error)
	RunByNumber(ctx context.Context, projectID, number int64) (*Run, error)
	// ListRuns returns runs newest first.
	ListRuns(ctx context.Context, f RunFilter) ([]*Run, error)
	// UpdateRun writes r's status, reason, started and finished times.
	UpdateRun(ctx context.Context, r *Run) error
	// ActiveRuns returns every run that is queued or running, oldest first.
	ActiveRuns(ctx context.Context) ([]*Run, error)
}

// JobTx stores jobs.
type JobTx interface {
	// CreateJob inserts j and sets j.ID.
	CreateJob(ctx context.Context, j *Job) error
	JobByID(ctx context.Context, id int64) (*Job, error)
	// JobByTokenHash finds the job holding a job token.
	JobByTokenHash(ctx context.Context, hash string) (*Job, error)
	// ListJobs returns a run's jobs in creation order.
	ListJobs(ctx context.Context, runID int64) ([]*Job, error)
	// UpdateJob writes every mutable field of j: status, attempt, agent, fence, token hash, lease,
	// cancel flag, exit code, reason, times.
	UpdateJob(ctx context.Context, j *Job) error
	// QueuedJobs returns up to limit queued jobs, highest priority then oldest first. On
	// PostgreSQL the rows are locked FOR UPDATE SKIP LOCKED, so that concurrent servers leasing
	// at once never see the same job.
	QueuedJobs(ctx context.Context, limit int) ([]*Job, error)
	// ExpiredLeases returns running jobs whose lease ended before now.
	ExpiredLeases(ctx context.Context, now time.Time) ([]*Job, error)
	// RunningJobsOfAgent returns the jobs an agent holds leases on.
	RunningJobsOfAgent(ctx context.Context, agentID int64) ([]*Job, error)
}

// AgentTx stores agents and their registration tokens. Credentials are stored as hashes.
type AgentTx interface {
	CreateAgentToken(ctx context.Context, t *AgentToken, hash string) error
	AgentTokenByHash(ctx context.Context, hash string) (*AgentToken, error)
	// UseAgentToken marks a registration token used by an agent; ECONFLICT if it was used already.
	UseAgentToken(ctx context.Context, id, agentID int64, at time.Time) error
	// ListAgentTokens returns tokens newest first.
	ListAgentTokens(ctx context.Context) ([]*AgentToken, error)
	// CreateAgent inserts a with the hash of its credential and sets a.ID; names are unique.
	CreateAgent(ctx context.Context, a *Agent, credentialHash string) error
	AgentByCredentialHash(ctx context.Context, hash string) (*Agent, error)
	AgentByID(ctx context.Context, id int64) (*Agent, error)
	AgentByName(ctx context.Context, name string) (*Agent, error)
	// ListAgents returns agents ordered by name.
	ListAgents(ctx context.Context) ([]*Agent, error)
	// UpdateAgent writes labels, claimed labels, capacity, version, disabled and last seen.
	UpdateAgent(ctx context.Context, a *Agent) error
}

// LogTx stores job logs.
type LogTx interface {
	// AppendLog stores a chunk; a chunk whose (job, seq) is stored already is ignored, so that
	// agents may re-send after a lost answer.
	AppendLog(ctx context.Context, c *LogChunk) error
	// ListLogs returns chunks with seq > afterSeq in order, at most limit (0: all).
	ListLogs(ctx context.Context, jobID, afterSeq int64, limit int) ([]*LogChunk, error)
}

// ArtifactTx stores artifacts and their content.
type ArtifactTx interface {
	// PutBlob stores content under its digest; storing the same digest again does nothing.
	PutBlob(ctx context.Context, digest string, data []byte) error
	Blob(ctx context.Context, digest string) ([]byte, error)
	// CreateArtifact inserts a and sets a.ID; (job, name) is unique.
	CreateArtifact(ctx context.Context, a *Artifact) error
	ArtifactByID(ctx context.Context, id int64) (*Artifact, error)
	// ListArtifacts returns a run's artifacts ordered by job, then name.
	ListArtifacts(ctx context.Context, runID int64) ([]*Artifact, error)
	// SetArtifactProvenance stores the signed provenance (a DSSE envelope, JSON) of an artifact,
	// replacing any it had; an empty envelope removes it. ENOTFOUND when there is no such artifact.
	SetArtifactProvenance(ctx context.Context, id int64, envelope []byte) error
	// ArtifactProvenance returns an artifact's provenance envelope, empty when it has none.
	// ENOTFOUND when there is no such artifact.
	ArtifactProvenance(ctx context.Context, id int64) ([]byte, error)
}

// CursorTx keeps small named positions for background work: the last commit seen on a polled
// branch, the last time a schedule fired.
type CursorTx interface {
	// Cursor returns the value under key, or "" when there is none.
	Cursor(ctx context.Context, key string) (string, error)
	SetCursor(ctx context.Context, key, value string) error
}
