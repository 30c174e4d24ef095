package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/forge"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/scheduler"
)

// projectOf returns the project the route's permission check loaded.
func (s *Server) projectOf(r *http.Request) (*rampart.Project, error) {
	if p, ok := r.Context().Value(projectKey{}).(*rampart.Project); ok {
		return p, nil
	}
	return nil, fmt.Errorf("route %s has no project permission", r.URL.Path)
}

// jobProject names the project of the job in the path. An unknown job is reported as not found
// without saying more, like a project the caller may not see.
func (s *Server) jobProject(r *http.Request) (string, error) {
	id, err := pathInt(r, "id")
	if err != nil {
		return "", err
	}
	name, err := s.cfg.Scheduler.JobProject(r.Context(), id)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return "", rampart.Errorf(rampart.ENOTFOUND, "job %d not found", id).WithDetail("see the jobs of a run with `rampart pipeline show PROJECT NUMBER`")
	}
	return name, err
}

func pathInt(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n < 1 {
		return 0, rampart.Errorf(rampart.EINVALID, "bad %s %q", name, r.PathValue(name)).WithDetail("give a positive number")
	}
	return n, nil
}

func (s *Server) handleProjectUpdate(w http.ResponseWriter, r *http.Request) error {
	var req project.Update
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.cfg.Projects.Update(r.Context(), actorOf(r), r.PathValue("project"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// WebhookResponse carries a new webhook secret and where to send events.
type WebhookResponse struct {
	Secret string            `json:"secret"`
	URLs   map[string]string `json:"urls"`
}

func (s *Server) handleWebhookSecret(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("project")
	secret, err := s.cfg.Projects.RotateWebhookSecret(r.Context(), actorOf(r), name)
	if err != nil {
		return err
	}
	urls := map[string]string{}
	for _, h := range []string{"github", "gitlab", "gitea"} {
		urls[h] = fmt.Sprintf("/api/v1/hooks/%s/%s", h, name)
	}
	writeJSON(w, http.StatusOK, WebhookResponse{Secret: secret, URLs: urls})
	return nil
}

// RunCreateRequest is the body of POST /api/v1/projects/{project}/runs.
type RunCreateRequest struct {
	Ref string `json:"ref"` // branch, tag, refs/… or commit SHA; default HEAD
	// SecurityFix puts the run in the security fast lane; Incident (required then) names the
	// incident it fixes.
	SecurityFix bool   `json:"security_fix,omitempty"`
	Incident    string `json:"incident,omitempty"`
}

func (s *Server) handleRunCreate(w http.ResponseWriter, r *http.Request) error {
	var req RunCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	if req.SecurityFix && (strings.TrimSpace(req.Incident) == "" || len(req.Incident) > 100) {
		return rampart.Errorf(rampart.EINVALID, "a security fix needs the incident it fixes").WithDetail("give --incident ID (at most 100 characters)")
	}
	tr, err := s.cfg.Scheduler.ManualTrigger(r.Context(), p, req.Ref, actorOf(r).Name)
	if err != nil {
		return err
	}
	tr.SecurityFix, tr.Incident = req.SecurityFix, strings.TrimSpace(req.Incident)
	run, err := s.cfg.Scheduler.CreateRun(r.Context(), actorOf(r), p, tr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, run)
	return nil
}

func (s *Server) handleRunList(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	runs, err := s.cfg.Scheduler.Runs(r.Context(), p, before, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, runs)
	return nil
}

// RunResponse is a run with its jobs.
type RunResponse struct {
	*rampart.Run
	Jobs []*rampart.Job `json:"jobs"`
}

func (s *Server) runOf(r *http.Request) (*rampart.Project, *rampart.Run, []*rampart.Job, error) {
	p, err := s.projectOf(r)
	if err != nil {
		return nil, nil, nil, err
	}
	n, err := pathInt(r, "number")
	if err != nil {
		return nil, nil, nil, err
	}
	run, jobs, err := s.cfg.Scheduler.Run(r.Context(), p, n)
	return p, run, jobs, err
}

func (s *Server) handleRunGet(w http.ResponseWriter, r *http.Request) error {
	_, run, jobs, err := s.runOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RunResponse{Run: run, Jobs: jobs})
	return nil
}

func (s *Server) handleRunCancel(w http.ResponseWriter, r *http.Request) error {
	_, run, _, err := s.runOf(r)
	if err != nil {
		return err
	}
	if err := s.cfg.Scheduler.Cancel(r.Context(), actorOf(r), run); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleRunRetry(w http.ResponseWriter, r *http.Request) error {
	p, run, _, err := s.runOf(r)
	if err != nil {
		return err
	}
	next, err := s.cfg.Scheduler.Retry(r.Context(), actorOf(r), p, run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, next)
	return nil
}

func (s *Server) handleArtifactList(w http.ResponseWriter, r *http.Request) error {
	_, run, _, err := s.runOf(r)
	if err != nil {
		return err
	}
	list, err := s.cfg.Scheduler.Artifacts(r.Context(), run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) handleArtifactGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	a, data, err := s.cfg.Scheduler.Artifact(r.Context(), p, id)
	if err != nil {
		return err
	}
	// Artifacts are build output of untrusted code: never let a browser render them here.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", baseName(a.Name)))
	w.Header().Set("X-Content-SHA256", strings.TrimPrefix(a.Digest, "sha256:"))
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
	return nil
}

func baseName(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[i+1:]
	}
	return p
}

// handleLogs serves a job's log: the whole log as text, or with Accept: text/event-stream a live
// stream of chunks that ends when the job has finished and every chunk was sent. Clients resume
// with Last-Event-ID (or ?after=).
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	job, err := s.cfg.Scheduler.Job(r.Context(), p, id)
	if err != nil {
		return err
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, _ = strconv.ParseInt(v, 10, 64)
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		chunks, _, err := s.cfg.Scheduler.Logs(r.Context(), job, after, 0)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, c := range chunks {
			_, _ = w.Write(c.Data)
		}
		return nil
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	keepalive := time.Now()
	for {
		chunks, now, err := s.cfg.Scheduler.Logs(r.Context(), job, after, 256)
		if err != nil {
			if r.Context().Err() == nil {
				s.logger.Error("stream logs", "job", job.ID, "err", err)
			}
			return nil
		}
		for _, c := range chunks {
			b, _ := json.Marshal(map[string]any{"seq": c.Seq, "data": string(c.Data)})
			fmt.Fprintf(w, "id: %d\nevent: log\ndata: %s\n\n", c.Seq, b)
			after = c.Seq
		}
		if len(chunks) > 0 {
			keepalive = time.Now()
		}
		if len(chunks) < 256 && rampart.Terminal(now.Status) {
			b, _ := json.Marshal(map[string]any{"status": now.Status, "exit_code": now.ExitCode, "reason": now.Reason})
			fmt.Fprintf(w, "event: end\ndata: %s\n\n", b)
			_ = rc.Flush()
			return nil
		}
		if time.Since(keepalive) > 15*time.Second {
			fmt.Fprint(w, ": keepalive\n\n")
			keepalive = time.Now()
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
		if len(chunks) == 256 {
			continue
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-tick.C:
		}
	}
}

// handleWebhook starts a run from a git host's event. The signature is the credential: a
// missing or wrong one is refused and audited, and nothing else about the project is revealed.
// Review evidence in the event (approvals, merges, …) is recorded, and a push to a branch
// protected by an environment that requires review is checked for it (see review.Service).
func (s *Server) handleWebhook(w http.ResponseWriter, r *http.Request) error {
	host, name := r.PathValue("host"), r.PathValue("project")
	source := clientAddr(r)
	actor := &rampart.Actor{Name: "webhook:" + host, Source: source}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	refuse := func(err error) error {
		return audit.Denied(r.Context(), s.cfg.Store, actor, "webhook.receive", "project:"+name, err, time.Now())
	}
	p, err := s.cfg.Projects.Lookup(r.Context(), name)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return refuse(rampart.Errorf(rampart.EUNAUTHORIZED, "webhook signature check failed").WithDetail("check the project name in the URL and the webhook secret"))
	} else if err != nil {
		return err
	}
	secret, err := s.cfg.Projects.WebhookSecret(r.Context(), p)
	if err != nil {
		return err
	}
	if err := forge.Verify(host, r.Header, body, secret); err != nil {
		return refuse(err)
	}
	var (
		rv        *rampart.ReviewEvent
		reviewErr error
	)
	if s.cfg.Reviews != nil {
		rv, reviewErr = forge.ParseReview(host, r.Header, body)
	}
	ev, err := forge.Parse(host, r.Header, body)
	if err != nil {
		return err
	}
	if reviewErr != nil {
		if ev.Kind == "" || ev.Deleted {
			return reviewErr
		}
		// The event starts a run and its review evidence (a pull request's author or head) is
		// unreadable: build it, record no evidence, and say so in the audit log — a missing piece
		// of evidence can only make the deploy gate stricter.
		s.logger.Warn("webhook: review evidence unreadable", "project", p.Name, "host", host, "err", reviewErr)
		ev2 := audit.Event(actor, "review.unreadable", "project:"+p.Name, rampart.ResultFailure)
		ev2.Detail = rampart.ErrorMessage(reviewErr)
		if err := s.cfg.Store.Update(r.Context(), func(tx rampart.Tx) error { return audit.Append(r.Context(), tx, ev2, time.Now()) }); err != nil {
			return err
		}
		rv = nil
	}
	if rv != nil {
		if err := s.cfg.Reviews.Record(r.Context(), actor, p, rv); err != nil {
			return err
		}
	}
	if s.cfg.Reviews != nil && ev.Kind == rampart.EventPush && ev.Branch != "" {
		if err := s.cfg.Reviews.CheckPush(r.Context(), p, ev.Branch, ev.Commit, ev.Sender); err != nil {
			return err
		}
	}
	if ev.Kind == "" || ev.Deleted {
		if rv != nil {
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "recorded", "reason": "review evidence recorded; the event does not start runs"})
			return nil
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "ignored", "reason": "event does not start runs"})
		return nil
	}
	run, err := s.cfg.Scheduler.CreateRun(r.Context(), actor, p, scheduler.Trigger{
		Event: ev.Kind, Ref: ev.Ref, Branch: ev.Branch, Tag: ev.Tag, Commit: ev.Commit, BaseBranch: ev.BaseBranch,
		PullRequest: ev.PullRequest, FromFork: ev.FromFork, TriggeredBy: "webhook:" + host,
	})
	if err == scheduler.ErrNotTriggered {
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "ignored", "reason": "the pipeline's `on:` section does not select this event"})
		return nil
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, run)
	return nil
}

// Agent protocol.

func (s *Server) handleAgentRegister(w http.ResponseWriter, r *http.Request) error {
	var req rampart.RegisterRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	resp, err := s.cfg.Scheduler.Register(r.Context(), req, clientAddr(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) handleAgentLease(w http.ResponseWriter, r *http.Request) error {
	var req rampart.LeaseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	lease, err := s.cfg.Scheduler.Lease(r.Context(), agentOf(r), req)
	if err != nil {
		return err
	}
	if lease == nil {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err := s.leaseInputs(r.Context(), lease); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lease)
	return nil
}

func (s *Server) handleJobHeartbeat(w http.ResponseWriter, r *http.Request) error {
	j := jobOf(r)
	resp, err := s.cfg.Scheduler.Heartbeat(r.Context(), j.ID, j.Fence)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) handleJobLogs(w http.ResponseWriter, r *http.Request) error {
	j := jobOf(r)
	seq, err := strconv.ParseInt(r.URL.Query().Get("seq"), 10, 64)
	if err != nil {
		return rampart.Errorf(rampart.EINVALID, "bad seq %q", r.URL.Query().Get("seq")).WithDetail("number log chunks from 1")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	if err := s.cfg.Scheduler.AppendLog(r.Context(), j.ID, j.Fence, seq, data); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleJobArtifact(w http.ResponseWriter, r *http.Request) error {
	j := jobOf(r)
	name := r.URL.Query().Get("name")
	if name == "" || len(name) > 1024 || strings.HasPrefix(name, "/") || strings.Contains("/"+name+"/", "/../") || strings.ContainsAny(name, "\x00\\") {
		return rampart.Errorf(rampart.EINVALID, "bad artifact name %q", name).WithDetail("use a relative path inside the workspace")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if want := strings.ToLower(r.Header.Get(rampart.DigestHeader)); want != digest {
		return rampart.Errorf(rampart.EINVALID, "artifact %s does not match its digest", name).WithDetail("the upload was corrupted or truncated; send it again")
	}
	a, err := s.addArtifact(r.Context(), j, name, "sha256:"+digest, data)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a)
	return nil
}

func (s *Server) handleJobComplete(w http.ResponseWriter, r *http.Request) error {
	j := jobOf(r)
	var req rampart.CompleteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.cfg.Scheduler.Complete(r.Context(), j.ID, j.Fence, req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Agent administration.

// AgentTokenRequest is the body of POST /api/v1/agent-tokens.
type AgentTokenRequest struct {
	Labels []string `json:"labels,omitempty"`
	TTL    string   `json:"ttl,omitempty"`
}

// AgentTokenResponse carries a registration token, shown once.
type AgentTokenResponse struct {
	Token string              `json:"token"`
	Info  *rampart.AgentToken `json:"info"`
}

func (s *Server) handleAgentTokenCreate(w http.ResponseWriter, r *http.Request) error {
	var req AgentTokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(req.TTL); err != nil {
			return rampart.Errorf(rampart.EINVALID, "bad ttl %q", req.TTL).WithDetail("use a duration such as 1h")
		}
	}
	secret, t, err := s.cfg.Scheduler.CreateAgentToken(r.Context(), actorOf(r), req.Labels, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, AgentTokenResponse{Token: secret, Info: t})
	return nil
}

func (s *Server) handleAgentList(w http.ResponseWriter, r *http.Request) error {
	agents, err := s.cfg.Scheduler.ListAgents(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, agents)
	return nil
}

func (s *Server) handleAgentUpdate(w http.ResponseWriter, r *http.Request) error {
	var req scheduler.AgentUpdate
	if err := decode(r, &req); err != nil {
		return err
	}
	a, err := s.cfg.Scheduler.UpdateAgent(r.Context(), actorOf(r), r.PathValue("agent"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}
