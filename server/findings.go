package server

import (
	"net/http"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/scan/deps"
)

// handleJobFindings takes a job's scan report and answers the gate's verdict, which the agent
// prints in the job log; the scheduler enforces it when the job completes.
func (s *Server) handleJobFindings(w http.ResponseWriter, r *http.Request) error {
	var req rampart.ScanReport
	if err := decode(r, &req); err != nil {
		return err
	}
	v, err := s.cfg.Findings.Record(r.Context(), jobOf(r), &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// handleRunGate lists the gate verdicts of a run's scan jobs.
func (s *Server) handleRunGate(w http.ResponseWriter, r *http.Request) error {
	_, run, _, err := s.runOf(r)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Findings.ScanResults(r.Context(), run)
	if err != nil {
		return err
	}
	for _, res := range rs {
		res.PackageCount, res.Packages = len(res.Packages), nil // the SBOM endpoint has them
	}
	if rs == nil {
		rs = []*rampart.ScanResult{}
	}
	writeJSON(w, http.StatusOK, rs)
	return nil
}

// handleRunSBOM answers the CycloneDX SBOM of every package the run's scans found.
func (s *Server) handleRunSBOM(w http.ResponseWriter, r *http.Request) error {
	p, run, _, err := s.runOf(r)
	if err != nil {
		return err
	}
	rs, err := s.cfg.Findings.ScanResults(r.Context(), run)
	if err != nil {
		return err
	}
	var pkgs []deps.Package
	for _, res := range rs {
		for _, sp := range res.Packages {
			pkgs = append(pkgs, deps.Package{Name: sp.Name, Version: sp.Version, Ecosystem: sp.Ecosystem, File: sp.File, Line: sp.Line, PURL: sp.PURL, Constraint: sp.Constraint})
		}
	}
	if len(rs) == 0 {
		return rampart.Errorf(rampart.ENOTFOUND, "run #%d of %s has no scan results", run.Number, p.Name).
			WithDetail("add `scan: [dependencies]` to a job, or set the project's required scans")
	}
	bom := deps.CycloneDX(pkgs, deps.SBOM{Name: p.Name, Version: run.Commit, Time: run.CreatedAt})
	w.Header().Set("Content-Type", "application/vnd.cyclonedx+json")
	return deps.WriteCycloneDX(w, bom)
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
