package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/mask"
)

// maskers caches, per leased job, the masker of its secrets, so that every log chunk the server
// stores is masked a second time (the agent masked it first) without decrypting the secrets for
// each chunk. Chunks are masked one by one here: a value split across two chunks is the agent's
// to catch, and an agent that leaks on purpose had the values anyway.
type maskers struct {
	mu sync.Mutex
	m  map[maskKey]*mask.Masker
}

type maskKey struct{ job, fence int64 }

// maxMaskers bounds the cache; evicted entries are rebuilt on demand.
const maxMaskers = 1024

func (c *maskers) get(k maskKey) (*mask.Masker, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[k]
	return m, ok
}

func (c *maskers) put(k maskKey, m *mask.Masker) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxMaskers {
		c.m = make(map[maskKey]*mask.Masker)
	}
	c.m[k] = m
}

func (c *maskers) drop(job int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.job == job {
			delete(c.m, k)
		}
	}
}

// maskerFor returns the masker of a leased job's secrets, or nil when it has none.
func (s *Scheduler) maskerFor(ctx context.Context, j *rampart.Job, fromFork bool) (*mask.Masker, error) {
	k := maskKey{j.ID, j.Fence}
	if m, ok := s.masks.get(k); ok {
		return m, nil
	}
	var spec rampart.JobSpec
	if err := json.Unmarshal([]byte(j.Spec), &spec); err != nil {
		return nil, fmt.Errorf("decode spec of job %d: %w", j.ID, err)
	}
	var m *mask.Masker
	if len(spec.Secrets) > 0 && !fromFork && s.cfg.Secrets != nil {
		values, err := s.cfg.Secrets.ForJob(ctx, j.ProjectID, spec.Environment, spec.Secrets)
		if err != nil {
			return nil, err
		}
		list := make([]string, 0, len(values))
		for _, v := range values {
			list = append(list, v)
		}
		if m, err = mask.New(list); err != nil {
			return nil, fmt.Errorf("mask secrets of job %d: %w", j.ID, err)
		}
	}
	s.masks.put(k, m)
	return m, nil
}
