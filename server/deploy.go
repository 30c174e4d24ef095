package server

import (
	"net/http"
	"strconv"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/deploy"
)

// EnvironmentRequest is the body of POST /api/v1/projects/{project}/environments.
type EnvironmentRequest struct {
	Name string `json:"name"`
}

// EnvironmentResponse is an environment with its rules in words and its latest deployments.
type EnvironmentResponse struct {
	*rampart.Environment
	Rules string `json:"rules"`
	// Current is the environment's latest successful deployment: what runs there now.
	Current *rampart.Deployment `json:"current,omitempty"`
}

// DecisionRequest is the body of POST /api/v1/deployments/{id}/approve and …/reject.
type DecisionRequest struct {
	Comment string `json:"comment"`
}

// RollbackResponse answers POST …/environments/{env}/rollback.
type RollbackResponse struct {
	Run *rampart.Run        `json:"run"`
	To  *rampart.Deployment `json:"to"`
}

func (s *Server) handleEnvCreate(w http.ResponseWriter, r *http.Request) error {
	var req EnvironmentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	e, err := s.cfg.Deploy.CreateEnvironment(r.Context(), actorOf(r), p, req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, EnvironmentResponse{Environment: e, Rules: deployRules(e)})
	return nil
}

func (s *Server) handleEnvProtect(w http.ResponseWriter, r *http.Request) error {
	var req rampart.Protection
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	e, err := s.cfg.Deploy.Protect(r.Context(), actorOf(r), p, r.PathValue("env"), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, EnvironmentResponse{Environment: e, Rules: deployRules(e)})
	return nil
}

func (s *Server) handleEnvList(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	es, err := s.cfg.Deploy.Environments(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]EnvironmentResponse, 0, len(es))
	for _, e := range es {
		_, ds, err := s.cfg.Deploy.History(r.Context(), p, e.Name, 50)
		if err != nil {
			return err
		}
		resp := EnvironmentResponse{Environment: e, Rules: deployRules(e)}
		resp.Current, _ = deploy.Deployed(ds)
		out = append(out, resp)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleDeployHistory(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	_, ds, err := s.cfg.Deploy.History(r.Context(), p, r.PathValue("env"), limit)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []*rampart.Deployment{}
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleDeployGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	d, err := s.cfg.Deploy.Deployment(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) handleDeployPending(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.cfg.Deploy.Pending(r.Context(), actorOf(r))
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []*rampart.Deployment{}
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

func (s *Server) handleDeployDecide(approve bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		var req DecisionRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		p, err := s.projectOf(r)
		if err != nil {
			return err
		}
		id, err := pathInt(r, "id")
		if err != nil {
			return err
		}
		d, err := s.cfg.Deploy.Decide(r.Context(), actorOf(r), p, id, approve, req.Comment)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, d)
		return nil
	}
}

func (s *Server) handleDeployRollback(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	run, to, err := s.cfg.Deploy.Rollback(r.Context(), actorOf(r), p, r.PathValue("env"), s.cfg.Scheduler)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, RollbackResponse{Run: run, To: to})
	return nil
}

// deploymentProject names the project of the deployment in the path, for routes by id.
func (s *Server) deploymentProject(r *http.Request) (string, error) {
	id, err := pathInt(r, "id")
	if err != nil {
		return "", err
	}
	return s.cfg.Deploy.DeploymentProject(r.Context(), id)
}

func deployRules(e *rampart.Environment) string { return deploy.Describe(e.Protection) }
