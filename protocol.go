package rampart

import "time"

// The agent protocol: agents call the server, never the reverse. All bodies are JSON except log
// chunks and artifacts, which are raw bytes.
//
//	POST /api/v1/agents/register            RegisterRequest → RegisterResponse (public; the
//	                                         registration token in the body is the credential)
//	POST /api/v1/agents/lease               LeaseRequest → Lease, or 204 when no job came within
//	                                         the wait (Authorization: Bearer <agent credential>)
//	POST /api/v1/jobs/{id}/heartbeat        → HeartbeatResponse
//	POST /api/v1/jobs/{id}/logs?seq=N        raw bytes (≤ MaxLogChunk), idempotent by seq
//	POST /api/v1/jobs/{id}/artifacts?name=P  raw bytes, header X-Content-SHA256: <hex>
//	GET  /api/v1/jobs/{id}/inputs/{artifact} raw bytes of an input of a deploy job (Lease.Inputs),
//	                                         header X-Content-SHA256: <hex>
//	POST /api/v1/jobs/{id}/complete         CompleteRequest
//
// The job calls authenticate with `Authorization: Bearer <job token>` from the lease and carry
// the lease's fencing number in the header X-Rampart-Fence; a call with a token or fence that is
// no longer the job's current lease is refused with 409, and the agent must then stop the job.

// Protocol prefixes of agent and job credentials.
const (
	AgentCredentialPrefix = "rma_"
	AgentTokenPrefix      = "rmr_" // registration
	JobTokenPrefix        = "rmj_"
	FenceHeader           = "X-Rampart-Fence"
	DigestHeader          = "X-Content-SHA256"
	MaxLogChunk           = 1 << 20
)

// RegisterRequest trades a registration token for an agent credential.
type RegisterRequest struct {
	Token    string   `json:"token"`
	Name     string   `json:"name"`
	Labels   []string `json:"labels,omitempty"`
	Capacity int      `json:"capacity"`
	Version  string   `json:"version,omitempty"`
}

// RegisterResponse carries the agent credential, shown once; the agent stores it 0600.
type RegisterResponse struct {
	AgentID    int64    `json:"agent_id"`
	Name       string   `json:"name"`
	Credential string   `json:"credential"`
	Labels     []string `json:"labels"` // as the server will match them
}

// LeaseRequest asks for a job. Running lists the jobs the agent is running now, so the server
// can respect its capacity; WaitSeconds (≤ 30) is how long to hold the call open.
type LeaseRequest struct {
	Running     []int64 `json:"running,omitempty"`
	Capacity    int     `json:"capacity"`
	WaitSeconds int     `json:"wait_seconds"`
	Version     string  `json:"version,omitempty"`
}

// Lease hands a job to an agent until ExpiresAt, unless heartbeats extend it.
type Lease struct {
	JobID     int64     `json:"job_id"`
	Fence     int64     `json:"fence"`
	Token     string    `json:"token"` // job token: valid for this job's calls while the lease lives
	ExpiresAt time.Time `json:"expires_at"`
	Spec      JobSpec   `json:"spec"`
	// Secrets are the values of the secrets the job declared and is entitled to, by name. They
	// travel only here, over the agent's connection, and are never stored with the job.
	Secrets map[string]string `json:"secrets,omitempty"`
	// Withheld names declared secrets the job does not get, and Why says why (e.g. a pull
	// request from a fork), so that the job log can say so.
	Withheld []string `json:"withheld,omitempty"`
	Why      string   `json:"why,omitempty"`
	// Inputs are, for a deploy job, the artifacts its deployment consumes. The agent fetches
	// each from /api/v1/jobs/{id}/inputs/{artifact id}, which serves it only while its
	// provenance checks out, into the workspace at its name.
	Inputs []ArtifactRef `json:"inputs,omitempty"`
}

// JobSpec is everything an agent needs to run a job.
type JobSpec struct {
	Project   string            `json:"project"`
	RunID     int64             `json:"run_id"`
	RunNumber int64             `json:"run_number"`
	Job       string            `json:"job"`
	RepoURL   string            `json:"repo_url"`
	Commit    string            `json:"commit"`
	Ref       string            `json:"ref"`
	Event     string            `json:"event"`
	Steps     []StepSpec        `json:"steps"`
	Env       map[string]string `json:"env,omitempty"` // pipeline env merged with job env
	Timeout   int               `json:"timeout_seconds"`
	Network   bool              `json:"network"`
	Artifacts []string          `json:"artifacts,omitempty"` // paths or globs, relative to the workspace
	Labels    []string          `json:"labels,omitempty"`
	// Secrets names the secrets the job declared; the values come with the Lease.
	Secrets []string `json:"secrets,omitempty"`
	// Environment is the deployment target of the job, or "".
	Environment string `json:"environment,omitempty"`
	// Scan names the built-in scanners to run on the workspace after the steps, and SARIF the
	// SARIF files the steps wrote; the findings go to the server's security gate.
	Scan  []string `json:"scan,omitempty"`
	SARIF []string `json:"sarif,omitempty"`
	// Required marks the security gate job the server adds for a project's required scans.
	Required bool `json:"required,omitempty"`
}

// StepSpec is one step of a job.
type StepSpec struct {
	Name string            `json:"name"`
	Run  string            `json:"run"`
	Env  map[string]string `json:"env,omitempty"`
}

// HeartbeatResponse extends a lease and says whether the job was cancelled.
type HeartbeatResponse struct {
	Cancel    bool      `json:"cancel"`
	ExpiresAt time.Time `json:"expires_at"`
}

// CompleteRequest records a job's result and ends its token.
type CompleteRequest struct {
	Status   string       `json:"status"` // succeeded, failed, timed_out or cancelled
	ExitCode int          `json:"exit_code"`
	Reason   string       `json:"reason,omitempty"`
	Steps    []StepResult `json:"steps,omitempty"`
}

// StepResult is how one step ended.
type StepResult struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
}
