package server

import (
	"net/http"
	"strconv"

	"github.com/rampart-ci/rampart"
)

// noReviews is the answer of the review routes on a server without a review service.
func noReviews() error {
	return rampart.Errorf(rampart.EPRECONDITION, "this server records no review evidence").
		WithDetail("start the server with the review service (rampart server does)")
}

// handleReviews answers GET /api/v1/projects/{project}/reviews: with ?commit=SHA the review
// evidence of that commit and whether it covers it, else the project's latest evidence.
func (s *Server) handleReviews(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	if s.cfg.Reviews == nil {
		return noReviews()
	}
	cov, err := s.cfg.Reviews.Reviews(r.Context(), p, r.URL.Query().Get("commit"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, cov)
	return nil
}

// handleViolations answers GET /api/v1/projects/{project}/violations[?limit=N], newest first.
func (s *Server) handleViolations(w http.ResponseWriter, r *http.Request) error {
	p, err := s.projectOf(r)
	if err != nil {
		return err
	}
	if s.cfg.Reviews == nil {
		return noReviews()
	}
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > 1000 {
			return rampart.Errorf(rampart.EINVALID, "limit %.20q is not a number from 1 to 1000", v)
		}
	}
	vs, err := s.cfg.Reviews.Violations(r.Context(), p, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, vs)
	return nil
}
