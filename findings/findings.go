// Package findings records the security findings of runs and the waivers that exempt a finding
// from the gate. Waivers are granted only by the security role, always expire, and every grant
// and revocation is audited; the repository has no say in them.
package findings

import (
	"context"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/rbac"
)

// MaxWaiver bounds a waiver's life: an exception is re-decided at least every 90 days.
const MaxWaiver = 90 * 24 * time.Hour

// Service records findings and manages waivers. It is safe for concurrent use.
type Service struct {
	store rampart.Store
	now   func() time.Time
}

// New returns a Service; now defaults to time.Now.
func New(store rampart.Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// Record stores the findings a job reported. The caller has checked the job's lease.
func (s *Service) Record(ctx context.Context, job *rampart.Job, fs []*rampart.Finding) error {
	now := s.now()
	for _, f := range fs {
		f.RunID, f.JobID, f.ProjectID, f.CreatedAt = job.RunID, job.ID, job.ProjectID, now
	}
	return s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.AddFindings(ctx, fs); err != nil {
			return err
		}
		ev := audit.Event(&rampart.Actor{Name: fmt.Sprintf("agent:%d", job.AgentID), Source: "agent"}, "findings.record", fmt.Sprintf("job:%d", job.ID), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("findings=%d", len(fs))
		return audit.Append(ctx, tx, ev, now)
	})
}

// ActiveWaivers returns the fingerprints of a project's unexpired, unrevoked waivers.
func (s *Service) ActiveWaivers(ctx context.Context, projectID int64) (map[string]*rampart.Waiver, error) {
	var ws []*rampart.Waiver
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		ws, err = tx.ListWaivers(ctx, projectID)
		return err
	})
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := map[string]*rampart.Waiver{}
	for _, w := range ws {
		if w.Active(now) {
			out[w.Fingerprint] = w
		}
	}
	return out, nil
}

// List returns a run's findings, marking those an active waiver covers.
func (s *Service) List(ctx context.Context, run *rampart.Run) ([]*rampart.Finding, error) {
	var fs []*rampart.Finding
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		fs, err = tx.ListFindings(ctx, run.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	active, err := s.ActiveWaivers(ctx, run.ProjectID)
	if err != nil {
		return nil, err
	}
	for _, f := range fs {
		f.Waived = active[f.Fingerprint] != nil
	}
	return fs, nil
}

// Waivers lists a project's waivers, newest first.
func (s *Service) Waivers(ctx context.Context, p *rampart.Project) ([]*rampart.Waiver, error) {
	var ws []*rampart.Waiver
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		ws, err = tx.ListWaivers(ctx, p.ID)
		return err
	})
	return ws, err
}

// Waive exempts a finding of project p from the gate until ttl has passed. Only the security
// role may; a reason is required.
func (s *Service) Waive(ctx context.Context, actor *rampart.Actor, p *rampart.Project, fingerprint, reason string, ttl time.Duration) (*rampart.Waiver, error) {
	target := "project:" + p.Name
	if err := rbac.Check(auth.Subject(actor), rbac.FindingWaive, rbac.Resource{}); err != nil {
		return nil, audit.Denied(ctx, s.store, actor, string(rbac.FindingWaive), target, err, s.now())
	}
	switch {
	case fingerprint == "" || len(fingerprint) > 128:
		return nil, rampart.Errorf(rampart.EINVALID, "give the finding's fingerprint").WithDetail("`rampart findings PROJECT RUN` lists them")
	case len(reason) < 10 || len(reason) > 2000:
		return nil, rampart.Errorf(rampart.EINVALID, "a waiver needs a reason of 10 to 2000 characters").WithDetail("say why the finding is acceptable, e.g. \"test fixture, not a real key\"")
	case ttl <= 0 || ttl > MaxWaiver:
		return nil, rampart.Errorf(rampart.EINVALID, "waiver lifetime %s out of range", ttl).WithDetail("waivers expire within 90 days (e.g. --expires 720h)")
	}
	now := s.now()
	w := &rampart.Waiver{ProjectID: p.ID, Fingerprint: fingerprint, Reason: reason, Approver: actor.Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateWaiver(ctx, w); err != nil {
			return err
		}
		ev := audit.Event(actor, "finding.waive", target, rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("fingerprint=%s expires=%s reason=%q", fingerprint, w.ExpiresAt.UTC().Format(time.RFC3339), reason)
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// Revoke ends a waiver of project p now.
func (s *Service) Revoke(ctx context.Context, actor *rampart.Actor, p *rampart.Project, id int64) error {
	target := "project:" + p.Name
	if err := rbac.Check(auth.Subject(actor), rbac.FindingWaive, rbac.Resource{}); err != nil {
		return audit.Denied(ctx, s.store, actor, string(rbac.FindingWaive), target, err, s.now())
	}
	return s.store.Update(ctx, func(tx rampart.Tx) error {
		ws, err := tx.ListWaivers(ctx, p.ID)
		if err != nil {
			return err
		}
		found := false
		for _, w := range ws {
			found = found || w.ID == id
		}
		if !found {
			return rampart.Errorf(rampart.ENOTFOUND, "waiver %d not found in %s", id, p.Name)
		}
		if err := tx.RevokeWaiver(ctx, id, s.now()); err != nil {
			return err
		}
		ev := audit.Event(actor, "finding.unwaive", target, rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("waiver=%d", id)
		return audit.Append(ctx, tx, ev, s.now())
	})
}
