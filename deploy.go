package rampart

import (
	"context"
	"time"
)

// StatusWaiting is the status of a deploy job whose deployment waits for approvals, gates, its
// wait timer, a deployment window or another deployment of its environment to finish.
const StatusWaiting = "waiting"

// Environment is a deployment target of a project, with protection rules that live on the
// server only: a pipeline can name the environment a job deploys to, never change its rules.
type Environment struct {
	ID         int64      `json:"id"`
	ProjectID  int64      `json:"project_id"`
	Name       string     `json:"name"`
	Protection Protection `json:"protection"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Protection is an environment's rules. The zero value protects nothing beyond RBAC: one
// deployment at a time is always enforced.
type Protection struct {
	// RequiredApprovals is how many distinct people must approve a deployment; 0 means none.
	RequiredApprovals int `json:"required_approvals"`
	// Approvers limits who may approve: project or organisation role names ("release-manager")
	// and user names prefixed with "user:" ("user:alice"). Empty means anyone with the
	// deploy.approve permission on the project.
	Approvers []string `json:"approvers,omitempty"`
	// Production marks a production-like environment: only release managers and admins start
	// manual releases to it or approve them (a security approval counts in the fast lane).
	Production bool `json:"production"`
	// Branches and Tags are glob patterns (as in pipeline branch filters) of the refs that may
	// deploy; both empty means any ref.
	Branches []string `json:"branches,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	// RequireGate requires the run's security gate to have passed: every scan job of the run
	// reported and passed (a run without any scan job fails this rule).
	RequireGate bool `json:"require_gate"`
	// RequireReview requires review evidence from the git host: an approving review of the
	// deployed commit by someone other than its author.
	RequireReview bool `json:"require_review"`
	// WaitSeconds delays a deployment after its approvals; skipped by the security fast lane.
	WaitSeconds int `json:"wait_seconds,omitempty"`
	// Windows are the times deployments may start, e.g. "Mon-Fri 09:00-17:00" (UTC); empty
	// means any time. Skipped by the security fast lane.
	Windows []string `json:"windows,omitempty"`
	// ApprovalTTLSeconds is how long an approval counts; 0 means 24 hours.
	ApprovalTTLSeconds int `json:"approval_ttl_seconds,omitempty"`
}

// Deployment statuses.
const (
	DeployWaiting   = "waiting"   // for approvals, gates, timer, window or its turn
	DeployQueued    = "queued"    // released to the queue; its job waits for an agent
	DeployRunning   = "running"   // its job runs
	DeploySucceeded = "succeeded" // its job succeeded
	DeployFailed    = "failed"    // its job failed
	DeployRejected  = "rejected"  // an approver rejected it, or a rule refuses it for good
	DeployCancelled = "cancelled"
)

// ArtifactRef names an artifact a deployment consumes, by content.
type ArtifactRef struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

// Deployment is one attempt to deploy a run's job to an environment.
type Deployment struct {
	ID            int64         `json:"id"`
	ProjectID     int64         `json:"project_id"`
	Project       string        `json:"project"`
	EnvironmentID int64         `json:"environment_id"`
	Environment   string        `json:"environment"`
	RunID         int64         `json:"run_id"`
	RunNumber     int64         `json:"run_number"`
	JobID         int64         `json:"job_id"`
	Job           string        `json:"job"`
	Commit        string        `json:"commit"`
	Ref           string        `json:"ref"`
	Artifacts     []ArtifactRef `json:"artifacts,omitempty"`
	Status        string        `json:"status"`
	// Waiting says, while Status is waiting or rejected, what the deployment waits for or why it
	// was refused, in words.
	Waiting     string `json:"waiting,omitempty"`
	TriggeredBy string `json:"triggered_by"`
	SecurityFix bool   `json:"security_fix,omitempty"`
	Incident    string `json:"incident,omitempty"`
	// RollbackOf is the deployment whose commit and artifacts this one redeploys.
	RollbackOf int64       `json:"rollback_of,omitempty"`
	CommitTime *time.Time  `json:"commit_time,omitempty"` // when the deployed commit was made
	CreatedAt  time.Time   `json:"created_at"`
	ApprovedAt *time.Time  `json:"approved_at,omitempty"`
	StartedAt  *time.Time  `json:"started_at,omitempty"`
	FinishedAt *time.Time  `json:"finished_at,omitempty"`
	Approvals  []*Approval `json:"approvals,omitempty"`
}

// Approval is one person's decision on a deployment. It is bound to what they saw: the commit
// and the digest of the artifact set; if either changes it no longer counts.
type Approval struct {
	ID           int64     `json:"id"`
	DeploymentID int64     `json:"deployment_id"`
	UserID       int64     `json:"user_id"`
	User         string    `json:"user"`
	Role         string    `json:"role"` // the role it was given in: "release-manager", "security", …
	Approve      bool      `json:"approve"`
	Comment      string    `json:"comment"`
	Commit       string    `json:"commit"`
	ArtifactsSum string    `json:"artifacts_sum"` // SHA-256 over the sorted artifact digests
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// DeployTx stores environments, deployments and approvals.
type DeployTx interface {
	// CreateEnvironment inserts e and sets e.ID; ECONFLICT when the project has one of that name.
	CreateEnvironment(ctx context.Context, e *Environment) error
	EnvironmentByName(ctx context.Context, projectID int64, name string) (*Environment, error)
	// ListEnvironments returns a project's environments by name.
	ListEnvironments(ctx context.Context, projectID int64) ([]*Environment, error)
	// UpdateEnvironment writes e's protection and update time.
	UpdateEnvironment(ctx context.Context, e *Environment) error

	// CreateDeployment inserts d and sets d.ID.
	CreateDeployment(ctx context.Context, d *Deployment) error
	DeploymentByID(ctx context.Context, id int64) (*Deployment, error)
	// DeploymentByJob returns the deployment of a job (ENOTFOUND when it has none).
	DeploymentByJob(ctx context.Context, jobID int64) (*Deployment, error)
	// UpdateDeployment writes d's status, waiting text, artifacts and times.
	UpdateDeployment(ctx context.Context, d *Deployment) error
	// ListDeployments returns the deployments of an environment, newest first, at most limit
	// (0: all).
	ListDeployments(ctx context.Context, environmentID int64, limit int) ([]*Deployment, error)
	// ActiveDeployments returns deployments in waiting, queued or running status, oldest first.
	ActiveDeployments(ctx context.Context) ([]*Deployment, error)

	// AddApproval inserts a and sets a.ID.
	AddApproval(ctx context.Context, a *Approval) error
	// ListApprovals returns a deployment's approvals, oldest first.
	ListApprovals(ctx context.Context, deploymentID int64) ([]*Approval, error)
}

// Commit is what Rampart knows of a git commit: who wrote it and why. Separation of duties
// reads the authors of the commits being deployed; the security fast lane reads the message's
// trailers.
type Commit struct {
	SHA            string    `json:"sha"`
	AuthorName     string    `json:"author_name"`
	AuthorEmail    string    `json:"author_email"`
	CommitterName  string    `json:"committer_name"`
	CommitterEmail string    `json:"committer_email"`
	Time           time.Time `json:"time"` // committer time
	Message        string    `json:"message"`
}
