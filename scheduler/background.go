package scheduler

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/pipeline"
)

// Background does the scheduler's background work until ctx ends: it recovers expired leases, polls
// the branches of projects that ask for it, and starts scheduled runs. Every server runs it;
// the work is idempotent across servers because it happens in store transactions and cursors.
func (s *Scheduler) Background(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.PollEvery)
	defer tick.Stop()
	lastPoll := time.Time{}
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger.Error("sweep", "err", err)
		}
		// Polling and schedules talk to git: once every 15 s is plenty, and keeps the loop cheap.
		if now := s.now(); now.Sub(lastPoll) >= 15*time.Second {
			lastPoll = now
			s.pollAll(ctx)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func (s *Scheduler) pollAll(ctx context.Context) {
	var projects []*rampart.Project
	if err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		projects, err = tx.ListProjects(ctx)
		return err
	}); err != nil {
		s.logger.Error("list projects for polling", "err", err)
		return
	}
	for _, p := range projects {
		if ctx.Err() != nil {
			return
		}
		if p.PollSeconds > 0 {
			if err := s.Poll(ctx, p); err != nil {
				s.logger.Warn("poll repository", "project", p.Name, "err", err)
			}
		}
		if err := s.Schedule(ctx, p); err != nil {
			s.logger.Warn("scheduled runs", "project", p.Name, "err", err)
		}
	}
}

// Poll looks at p's branches and starts a push run for every branch whose head moved since the
// last poll. A branch seen for the first time is only remembered: polling is a fallback for
// webhooks, not a way to build a repository's whole history.
func (s *Scheduler) Poll(ctx context.Context, p *rampart.Project) error {
	due, err := s.due(ctx, fmt.Sprintf("polled:%d", p.ID), time.Duration(p.PollSeconds)*time.Second)
	if err != nil || !due {
		return err
	}
	branches, err := s.cfg.Repo.Branches(ctx, p.RepoURL)
	if err != nil {
		return err
	}
	for branch, commit := range branches {
		key := fmt.Sprintf("poll:%d:%s", p.ID, branch)
		var seen string
		if err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
			seen, err = tx.Cursor(ctx, key)
			return err
		}); err != nil {
			return err
		}
		if seen == commit {
			continue
		}
		if err := s.store.Update(ctx, func(tx rampart.Tx) error { return tx.SetCursor(ctx, key, commit) }); err != nil {
			return err
		}
		if seen == "" {
			continue
		}
		_, err := s.CreateRun(ctx, rampart.SystemActor(), p, Trigger{
			Event: rampart.EventPush, Ref: "refs/heads/" + branch, Branch: branch, Commit: commit, TriggeredBy: "poll",
		})
		if err != nil && err != ErrNotTriggered {
			s.logger.Warn("polled run", "project", p.Name, "branch", branch, "err", err)
		}
	}
	return nil
}

// due reports whether every has passed since the time stored under key, and if so stores now.
func (s *Scheduler) due(ctx context.Context, key string, every time.Duration) (bool, error) {
	due := false
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		v, err := tx.Cursor(ctx, key)
		if err != nil {
			return err
		}
		if last, _ := strconv.ParseInt(v, 10, 64); last != 0 && s.now().Sub(time.Unix(last, 0)) < every {
			return nil
		}
		due = true
		return tx.SetCursor(ctx, key, strconv.FormatInt(s.now().Unix(), 10))
	})
	return due, err
}

// Schedule starts the scheduled runs of p that are due: for each cron spec of the pipeline on the
// default branch, at most one run per due time, however many servers look.
func (s *Scheduler) Schedule(ctx context.Context, p *rampart.Project) error {
	due, err := s.due(ctx, fmt.Sprintf("scheduled:%d", p.ID), time.Minute)
	if err != nil || !due {
		return err
	}
	commit, err := s.cfg.Repo.ResolveRef(ctx, p.RepoURL, "HEAD")
	if err != nil {
		return err
	}
	data, err := s.cfg.Repo.ReadFile(ctx, p.RepoURL, commit, PipelineFile, pipeline.MaxFileSize+1)
	if err != nil {
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return nil
		}
		return err
	}
	pl, err := pipeline.Parse(PipelineFile, data)
	if err != nil {
		return nil // reported when a push builds it
	}
	now := s.now()
	for _, spec := range pl.Schedules() {
		key := fmt.Sprintf("cron:%d:%s", p.ID, spec)
		fire := false
		err := s.store.Update(ctx, func(tx rampart.Tx) error {
			v, err := tx.Cursor(ctx, key)
			if err != nil {
				return err
			}
			last, _ := strconv.ParseInt(v, 10, 64)
			if last == 0 {
				// First sight of this schedule: start counting from now.
				return tx.SetCursor(ctx, key, strconv.FormatInt(now.Unix(), 10))
			}
			next, err := pipeline.NextRun(spec, time.Unix(last, 0).UTC())
			if err != nil || next.After(now) {
				return err
			}
			fire = true
			return tx.SetCursor(ctx, key, strconv.FormatInt(now.Unix(), 10))
		})
		if err != nil {
			return err
		}
		if fire {
			_, err := s.CreateRun(ctx, rampart.SystemActor(), p, Trigger{Event: rampart.EventSchedule, Ref: "HEAD", Commit: commit, TriggeredBy: "schedule: " + spec})
			if err != nil && err != ErrNotTriggered {
				s.logger.Warn("scheduled run", "project", p.Name, "spec", spec, "err", err)
			}
		}
	}
	return nil
}
