package server

import (
	"net/http"
	"time"

	"github.com/rampart-ci/rampart"
)

// FindingsUpload is the body of POST /api/v1/jobs/{id}/findings.
type FindingsUpload struct {
	Findings []*rampart.Finding `json:"findings"`
}

// maxFindings bounds one upload; a scan with more is broken or hostile.
const maxFindings = 10000

func (s *Server) handleJobFindings(w http.ResponseWriter, r *http.Request) error {
	var req FindingsUpload
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Findings) > maxFindings {
		return rampart.Errorf(rampart.ETOOLARGE, "%d findings in one upload", len(req.Findings)).WithDetail("send at most %d", maxFindings)
	}
	if err := s.cfg.Findings.Record(r.Context(), jobOf(r), req.Findings); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleFindingList(w http.ResponseWriter, r *http.Request) error {
	_, run, _, err := s.runOf(r)
	if err != nil {
		return err
	}
	fs, err := s.cfg.Findings.List(r.Context(), run)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, fs)
	return nil
}

// WaiverRequest is the body of POST /api/v1/projects/{project}/waivers.
type WaiverRequest struct {
	Fingerprint string `json:"fingerprint"`
	Reason      string `json:"reason"`
	// Expires is a Go duration from now, e.g. "720h".
	Expires string `json:"expires"`
}

func (s *Server) handleWaiverCreate(w http.ResponseWriter, r *http.Request) error {
	var req WaiverRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ttl, err := time.ParseDuration(req.Expires)
	if err != nil {
		return rampart.Errorf(rampart.EINVALID, "bad expires %q", req.Expires).WithDetail("give a duration such as 720h (30 days)")
	}
	p, err := s.cfg.Projects.Lookup(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	wv, err := s.cfg.Findings.Waive(r.Context(), actorOf(r), p, req.Fingerprint, req.Reason, ttl)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, wv)
	return nil
}

func (s *Server) handleWaiverList(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	ws, err := s.cfg.Findings.Waivers(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ws)
	return nil
}

func (s *Server) handleWaiverRevoke(w http.ResponseWriter, r *http.Request) error {
	id, err := pathInt(r, "id")
	if err != nil {
		return err
	}
	p, err := s.cfg.Projects.Lookup(r.Context(), r.PathValue("project"))
	if err != nil {
		return err
	}
	if err := s.cfg.Findings.Revoke(r.Context(), actorOf(r), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
