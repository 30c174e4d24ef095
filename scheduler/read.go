package scheduler

import (
	"context"

	"github.com/rampart-ci/rampart"
)

// Runs lists a project's runs, newest first. Callers have checked the actor may read p.
func (s *Scheduler) Runs(ctx context.Context, p *rampart.Project, beforeID int64, limit int) ([]*rampart.Run, error) {
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	var runs []*rampart.Run
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		runs, err = tx.ListRuns(ctx, rampart.RunFilter{ProjectID: p.ID, BeforeID: beforeID, Limit: limit})
		return err
	})
	return runs, err
}

// Run returns run number of project p with its jobs.
func (s *Scheduler) Run(ctx context.Context, p *rampart.Project, number int64) (*rampart.Run, []*rampart.Job, error) {
	var (
		run  *rampart.Run
		jobs []*rampart.Job
	)
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		if run, err = tx.RunByNumber(ctx, p.ID, number); err != nil {
			if rampart.ErrorCode(err) == rampart.ENOTFOUND {
				return rampart.Errorf(rampart.ENOTFOUND, "run #%d of %s not found", number, p.Name).WithDetail("list runs with `rampart pipeline list %s`", p.Name)
			}
			return err
		}
		jobs, err = tx.ListJobs(ctx, run.ID)
		return err
	})
	return run, jobs, err
}

// Job returns a job of project p.
func (s *Scheduler) Job(ctx context.Context, p *rampart.Project, id int64) (*rampart.Job, error) {
	var j *rampart.Job
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		j, err = tx.JobByID(ctx, id)
		return err
	})
	if err == nil && j.ProjectID != p.ID {
		err = rampart.Errorf(rampart.ENOTFOUND, "job %d not found in %s", id, p.Name)
	} else if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		err = rampart.Errorf(rampart.ENOTFOUND, "job %d not found in %s", id, p.Name).WithDetail("see the run's jobs with `rampart pipeline show PROJECT NUMBER`")
	}
	return j, err
}

// Logs returns a job's log chunks after a sequence number, and the job as it is now.
func (s *Scheduler) Logs(ctx context.Context, j *rampart.Job, afterSeq int64, limit int) ([]*rampart.LogChunk, *rampart.Job, error) {
	var (
		chunks []*rampart.LogChunk
		now    *rampart.Job
	)
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		if now, err = tx.JobByID(ctx, j.ID); err != nil {
			return err
		}
		chunks, err = tx.ListLogs(ctx, j.ID, afterSeq, limit)
		return err
	})
	return chunks, now, err
}

// Artifacts lists the artifacts of a run.
func (s *Scheduler) Artifacts(ctx context.Context, run *rampart.Run) ([]*rampart.Artifact, error) {
	var out []*rampart.Artifact
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		out, err = tx.ListArtifacts(ctx, run.ID)
		return err
	})
	return out, err
}

// Artifact returns an artifact of project p with its content.
func (s *Scheduler) Artifact(ctx context.Context, p *rampart.Project, id int64) (*rampart.Artifact, []byte, error) {
	var (
		a    *rampart.Artifact
		data []byte
	)
	err := s.store.View(ctx, func(tx rampart.Tx) error {
		var err error
		if a, err = tx.ArtifactByID(ctx, id); err != nil {
			return err
		}
		j, err := tx.JobByID(ctx, a.JobID)
		if err != nil {
			return err
		}
		if j.ProjectID != p.ID {
			return rampart.Errorf(rampart.ENOTFOUND, "artifact %d not found in %s", id, p.Name)
		}
		data, err = tx.Blob(ctx, a.Digest)
		return err
	})
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		err = rampart.Errorf(rampart.ENOTFOUND, "artifact %d not found in %s", id, p.Name).WithDetail("list a run's artifacts with `rampart artifact list`")
	}
	return a, data, err
}

// JobProject returns the name of the project a job belongs to.
func (s *Scheduler) JobProject(ctx context.Context, jobID int64) (string, error) {
	var name string
	err := s.store.View(ctx, func(tx rampart.Tx) error {
		j, err := tx.JobByID(ctx, jobID)
		if err != nil {
			return err
		}
		p, err := tx.ProjectByID(ctx, j.ProjectID)
		if err != nil {
			return err
		}
		name = p.Name
		return nil
	})
	return name, err
}
