package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rampart-ci/rampart"
)

const agentTokenSelect = "SELECT id, labels, created_by, created_at, expires_at, used_at, agent_id FROM agent_tokens"

func scanAgentToken(s scanner) (*rampart.AgentToken, error) {
	var (
		tok                  rampart.AgentToken
		labels               string
		createdAt, expiresAt int64
		usedAt               sql.NullInt64
	)
	if err := s.Scan(&tok.ID, &labels, &tok.CreatedBy, &createdAt, &expiresAt, &usedAt, &tok.AgentID); err != nil {
		return nil, err
	}
	var err error
	if tok.Labels, err = unmarshalList(labels); err != nil {
		return nil, fmt.Errorf("agent token %d labels: %w", tok.ID, err)
	}
	tok.CreatedAt, tok.ExpiresAt, tok.UsedAt = fromMicros(createdAt), fromMicros(expiresAt), fromNullMicros(usedAt)
	return &tok, nil
}

// CreateAgentToken implements rampart.AgentTx. A hash stored already is ECONFLICT.
func (t *tx) CreateAgentToken(ctx context.Context, tok *rampart.AgentToken, hash string) error {
	labels, err := marshalList(tok.Labels)
	if err != nil {
		return fmt.Errorf("create agent token: labels: %w", err)
	}
	err = t.queryRow(ctx, `INSERT INTO agent_tokens (hash, labels, created_by, created_at, expires_at, used_at, agent_id)
VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		hash, labels, tok.CreatedBy, micros(tok.CreatedAt), micros(tok.ExpiresAt), nullMicros(tok.UsedAt), tok.AgentID).Scan(&tok.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "an agent token with this secret already exists")
	case err != nil:
		return fmt.Errorf("insert agent token: %w", err)
	}
	return nil
}

// AgentTokenByHash implements rampart.AgentTx. It returns used and expired tokens too; the
// caller decides what they mean.
func (t *tx) AgentTokenByHash(ctx context.Context, hash string) (*rampart.AgentToken, error) {
	tok, err := scanAgentToken(t.queryRow(ctx, agentTokenSelect+" WHERE hash = ?", hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The hash is not named: it stands for a secret.
		return nil, notFound("agent token")
	case err != nil:
		return nil, fmt.Errorf("select agent token by hash: %w", err)
	}
	return tok, nil
}

// UseAgentToken implements rampart.AgentTx. An unknown token is ENOTFOUND. Only the first use
// is recorded, so that a second registration with one token fails even when it races the first.
func (t *tx) UseAgentToken(ctx context.Context, id, agentID int64, at time.Time) error {
	n, err := t.execCount(ctx, "UPDATE agent_tokens SET used_at = ?, agent_id = ? WHERE id = ? AND used_at IS NULL",
		micros(at), agentID, id)
	if err != nil {
		return fmt.Errorf("use agent token %d: %w", id, err)
	}
	if n == 1 {
		return nil
	}
	var exists int
	err = t.queryRow(ctx, "SELECT COUNT(*) FROM agent_tokens WHERE id = ?", id).Scan(&exists)
	switch {
	case err != nil:
		return fmt.Errorf("use agent token %d: %w", id, err)
	case exists == 0:
		return notFound("agent token %d", id)
	}
	return rampart.Errorf(rampart.ECONFLICT, "agent token %d was used already", id)
}

// ListAgentTokens implements rampart.AgentTx. Tokens created at the same time are ordered newest
// id first, so that the order is total.
func (t *tx) ListAgentTokens(ctx context.Context) ([]*rampart.AgentToken, error) {
	toks, err := queryAll(ctx, t, scanAgentToken, agentTokenSelect+" ORDER BY created_at DESC, id DESC")
	if err != nil {
		return nil, fmt.Errorf("list agent tokens: %w", err)
	}
	return toks, nil
}

const agentSelect = `SELECT id, name, labels, claimed_labels, capacity, version, disabled, created_at, last_seen_at
FROM agents`

func scanAgent(s scanner) (*rampart.Agent, error) {
	var (
		a               rampart.Agent
		labels, claimed string
		disabled        int64
		createdAt       int64
		lastSeen        sql.NullInt64
	)
	if err := s.Scan(&a.ID, &a.Name, &labels, &claimed, &a.Capacity, &a.Version, &disabled, &createdAt, &lastSeen); err != nil {
		return nil, err
	}
	var err error
	if a.Labels, err = unmarshalList(labels); err != nil {
		return nil, fmt.Errorf("agent %d labels: %w", a.ID, err)
	}
	if a.ClaimedLabels, err = unmarshalList(claimed); err != nil {
		return nil, fmt.Errorf("agent %d claimed labels: %w", a.ID, err)
	}
	a.Disabled = disabled != 0
	a.CreatedAt, a.LastSeenAt = fromMicros(createdAt), fromNullMicros(lastSeen)
	return &a, nil
}

// CreateAgent implements rampart.AgentTx. A name or a credential hash stored already is
// ECONFLICT.
func (t *tx) CreateAgent(ctx context.Context, a *rampart.Agent, credentialHash string) error {
	labels, err := marshalList(a.Labels)
	if err != nil {
		return fmt.Errorf("create agent %q: labels: %w", a.Name, err)
	}
	claimed, err := marshalList(a.ClaimedLabels)
	if err != nil {
		return fmt.Errorf("create agent %q: claimed labels: %w", a.Name, err)
	}
	// Checked first, because after the INSERT's error a PostgreSQL transaction can no longer
	// ask which of the two unique columns collided.
	var taken int
	if err := t.queryRow(ctx, "SELECT COUNT(*) FROM agents WHERE name = ?", a.Name).Scan(&taken); err != nil {
		return fmt.Errorf("create agent %q: %w", a.Name, err)
	}
	if taken > 0 {
		return rampart.Errorf(rampart.ECONFLICT, "agent %q already exists", a.Name)
	}
	err = t.queryRow(ctx, `INSERT INTO agents (name, credential_hash, labels, claimed_labels, capacity, version, disabled, created_at, last_seen_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		a.Name, credentialHash, labels, claimed, a.Capacity, a.Version, boolInt(a.Disabled), micros(a.CreatedAt), nullMicros(a.LastSeenAt)).Scan(&a.ID)
	switch {
	case isUnique(err):
		return rampart.Errorf(rampart.ECONFLICT, "an agent with this credential already exists")
	case err != nil:
		return fmt.Errorf("insert agent %q: %w", a.Name, err)
	}
	return nil
}

// AgentByCredentialHash implements rampart.AgentTx. It returns disabled agents too.
func (t *tx) AgentByCredentialHash(ctx context.Context, hash string) (*rampart.Agent, error) {
	a, err := scanAgent(t.queryRow(ctx, agentSelect+" WHERE credential_hash = ?", hash))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The hash is not named: it stands for a secret.
		return nil, notFound("agent")
	case err != nil:
		return nil, fmt.Errorf("select agent by credential hash: %w", err)
	}
	return a, nil
}

// AgentByID implements rampart.AgentTx.
func (t *tx) AgentByID(ctx context.Context, id int64) (*rampart.Agent, error) {
	a, err := scanAgent(t.queryRow(ctx, agentSelect+" WHERE id = ?", id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("agent %d", id)
	case err != nil:
		return nil, fmt.Errorf("select agent %d: %w", id, err)
	}
	return a, nil
}

// AgentByName implements rampart.AgentTx.
func (t *tx) AgentByName(ctx context.Context, name string) (*rampart.Agent, error) {
	a, err := scanAgent(t.queryRow(ctx, agentSelect+" WHERE name = ?", name))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, notFound("agent %q", name)
	case err != nil:
		return nil, fmt.Errorf("select agent %q: %w", name, err)
	}
	return a, nil
}

// ListAgents implements rampart.AgentTx. Names compare bytewise on both databases.
func (t *tx) ListAgents(ctx context.Context) ([]*rampart.Agent, error) {
	as, err := queryAll(ctx, t, scanAgent, agentSelect+" ORDER BY name"+t.dialect.collateBinary())
	if err != nil {
		return nil, fmt.Errorf("list agents: %w", err)
	}
	return as, nil
}

// UpdateAgent implements rampart.AgentTx. The name, credential and creation time stay as they
// are.
func (t *tx) UpdateAgent(ctx context.Context, a *rampart.Agent) error {
	labels, err := marshalList(a.Labels)
	if err != nil {
		return fmt.Errorf("update agent %d: labels: %w", a.ID, err)
	}
	claimed, err := marshalList(a.ClaimedLabels)
	if err != nil {
		return fmt.Errorf("update agent %d: claimed labels: %w", a.ID, err)
	}
	err = t.execOne(ctx, notFound("agent %d", a.ID), `UPDATE agents SET labels = ?, claimed_labels = ?, capacity = ?, version = ?,
disabled = ?, last_seen_at = ? WHERE id = ?`,
		labels, claimed, a.Capacity, a.Version, boolInt(a.Disabled), nullMicros(a.LastSeenAt), a.ID)
	return wrapUpdate(err, "update agent %d", a.ID)
}
