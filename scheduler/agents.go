package scheduler

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/audit"
	"github.com/rampart-ci/rampart/auth"
)

var (
	agentNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$`)
	labelRE     = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,62}$`)
)

// ValidLabels returns an EINVALID error unless every label is well-formed; it also sorts them
// and drops duplicates.
func ValidLabels(labels []string) ([]string, error) {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if !labelRE.MatchString(l) {
			return nil, rampart.Errorf(rampart.EINVALID, "invalid label %q", l).WithDetail("labels are letters, digits, '.', '_', '/' or '-', at most 63")
		}
		out = append(out, l)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// MaxAgentTokenTTL bounds registration tokens: they exist to bring up one agent, now.
const MaxAgentTokenTTL = 24 * time.Hour

// CreateAgentToken makes a single-use registration token. Labels, when given, are the labels the
// agent will have whatever it claims. The caller has checked the actor's permission.
func (s *Scheduler) CreateAgentToken(ctx context.Context, actor *rampart.Actor, labels []string, ttl time.Duration) (string, *rampart.AgentToken, error) {
	labels, err := ValidLabels(labels)
	if err != nil {
		return "", nil, err
	}
	switch {
	case ttl == 0:
		ttl = time.Hour
	case ttl < time.Minute || ttl > MaxAgentTokenTTL:
		return "", nil, rampart.Errorf(rampart.EINVALID, "registration token lifetime %s out of range", ttl).WithDetail("use between 1m and 24h")
	}
	secret, err := auth.NewSecret(rampart.AgentTokenPrefix)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	t := &rampart.AgentToken{Labels: labels, CreatedBy: actor.Name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		if err := tx.CreateAgentToken(ctx, t, auth.HashSecret(secret)); err != nil {
			return err
		}
		ev := audit.Event(actor, "agent_token.create", fmt.Sprintf("agent_token:%d", t.ID), rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("labels=%s expires=%s", strings.Join(labels, ","), t.ExpiresAt.Format(time.RFC3339))
		return audit.Append(ctx, tx, ev, now)
	})
	if err != nil {
		return "", nil, fmt.Errorf("create agent registration token: %w", err)
	}
	return secret, t, nil
}

var errBadRegistration = rampart.Errorf(rampart.EUNAUTHORIZED, "invalid, expired or used registration token").
	WithDetail("ask an admin for a new one: `rampart agent-token create`")

// Register trades a registration token for an agent credential. The token works once.
func (s *Scheduler) Register(ctx context.Context, req rampart.RegisterRequest, source string) (*rampart.RegisterResponse, error) {
	if !agentNameRE.MatchString(req.Name) {
		return nil, rampart.Errorf(rampart.EINVALID, "invalid agent name %q", req.Name).WithDetail("use letters, digits, '.', '_' or '-', at most 63")
	}
	claimed, err := ValidLabels(req.Labels)
	if err != nil {
		return nil, err
	}
	if req.Capacity < 1 || req.Capacity > 64 {
		return nil, rampart.Errorf(rampart.EINVALID, "capacity %d out of range", req.Capacity).WithDetail("run 1 to 64 jobs at once")
	}
	cred, err := auth.NewSecret(rampart.AgentCredentialPrefix)
	if err != nil {
		return nil, err
	}
	now := s.now()
	hash := auth.HashSecret(req.Token)
	var resp *rampart.RegisterResponse
	err = s.store.Update(ctx, func(tx rampart.Tx) error {
		t, err := tx.AgentTokenByHash(ctx, hash)
		if rampart.ErrorCode(err) == rampart.ENOTFOUND {
			return errBadRegistration
		} else if err != nil {
			return err
		}
		if t.UsedAt != nil || !now.Before(t.ExpiresAt) {
			return errBadRegistration
		}
		labels := claimed
		if len(t.Labels) > 0 {
			labels = t.Labels // the admin's word wins over the agent's
		}
		a := &rampart.Agent{Name: req.Name, Labels: labels, ClaimedLabels: claimed, Capacity: req.Capacity, Version: req.Version, CreatedAt: now, LastSeenAt: &now}
		if err := tx.CreateAgent(ctx, a, auth.HashSecret(cred)); err != nil {
			if rampart.ErrorCode(err) == rampart.ECONFLICT {
				return rampart.Errorf(rampart.ECONFLICT, "an agent named %q exists", req.Name).WithDetail("start the agent with another --name, or ask an admin to remove the old one")
			}
			return err
		}
		if err := tx.UseAgentToken(ctx, t.ID, a.ID, now); err != nil {
			return err
		}
		ev := audit.Event(&rampart.Actor{Name: "agent:" + a.Name, Source: source}, "agent.register", "agent:"+a.Name, rampart.ResultSuccess)
		ev.Detail = fmt.Sprintf("labels=%s claimed=%s token=%d", strings.Join(labels, ","), strings.Join(claimed, ","), t.ID)
		if err := audit.Append(ctx, tx, ev, now); err != nil {
			return err
		}
		resp = &rampart.RegisterResponse{AgentID: a.ID, Name: a.Name, Credential: cred, Labels: labels}
		return nil
	})
	if err != nil {
		if rampart.ErrorCode(err) == rampart.EUNAUTHORIZED {
			ev := audit.Event(&rampart.Actor{Name: "agent:" + req.Name, Source: source}, "agent.register", "agent:"+req.Name, rampart.ResultDenied)
			ev.Detail = rampart.ErrorMessage(err)
			if rerr := audit.Record(ctx, s.store, ev, now); rerr != nil {
				return nil, fmt.Errorf("audit refused registration: %w", rerr)
			}
		}
		return nil, err
	}
	return resp, nil
}

var errBadAgent = rampart.Errorf(rampart.EUNAUTHORIZED, "invalid agent credential or disabled agent").
	WithDetail("register the agent again with a new registration token")

// AuthenticateAgent returns the agent an agent credential belongs to. Credentials are looked up
// by their SHA-256, so the lookup's timing depends on the hash, which an attacker cannot steer
// toward a stored one: this is the constant-time property that matters for 256-bit secrets.
func (s *Scheduler) AuthenticateAgent(ctx context.Context, credential string) (*rampart.Agent, error) {
	if !strings.HasPrefix(credential, rampart.AgentCredentialPrefix) {
		return nil, errBadAgent
	}
	hash := auth.HashSecret(credential)
	var a *rampart.Agent
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		a, err = tx.AgentByCredentialHash(ctx, hash)
		return err
	})
	if rampart.ErrorCode(err) == rampart.ENOTFOUND {
		return nil, errBadAgent
	} else if err != nil {
		return nil, err
	}
	if a.Disabled {
		return nil, errBadAgent
	}
	return a, nil
}

// ListAgents returns every agent. The caller has checked the actor's permission.
func (s *Scheduler) ListAgents(ctx context.Context) ([]*rampart.Agent, error) {
	var agents []*rampart.Agent
	err := s.store.View(ctx, func(tx rampart.Tx) (err error) {
		agents, err = tx.ListAgents(ctx)
		return err
	})
	return agents, err
}

// AgentUpdate changes an agent; nil fields stay as they are.
type AgentUpdate struct {
	Labels   *[]string `json:"labels,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

// UpdateAgent sets an agent's labels or disables it. A disabled agent's credential stops working
// at once and its running jobs are recovered as if it had been lost.
func (s *Scheduler) UpdateAgent(ctx context.Context, actor *rampart.Actor, name string, u AgentUpdate) (*rampart.Agent, error) {
	var a *rampart.Agent
	err := s.store.Update(ctx, func(tx rampart.Tx) error {
		var err error
		if a, err = tx.AgentByName(ctx, name); err != nil {
			return err
		}
		var detail []string
		if u.Labels != nil {
			labels, err := ValidLabels(*u.Labels)
			if err != nil {
				return err
			}
			a.Labels = labels
			detail = append(detail, "labels="+strings.Join(labels, ","))
		}
		if u.Disabled != nil {
			a.Disabled = *u.Disabled
			detail = append(detail, fmt.Sprintf("disabled=%v", a.Disabled))
		}
		if err := tx.UpdateAgent(ctx, a); err != nil {
			return err
		}
		if a.Disabled {
			jobs, err := tx.RunningJobsOfAgent(ctx, a.ID)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				if err := s.lost(ctx, tx, j, "agent "+a.Name+" was disabled"); err != nil {
					return err
				}
			}
		}
		ev := audit.Event(actor, "agent.update", "agent:"+a.Name, rampart.ResultSuccess)
		ev.Detail = strings.Join(detail, " ")
		return audit.Append(ctx, tx, ev, s.now())
	})
	if err != nil {
		return nil, err
	}
	s.notify()
	return a, nil
}
