-- Environments with their protection rules, deployments, approvals, and the security fast lane
-- of runs.
--
-- Conventions as in 0001: times are unix microseconds (UTC) in BIGINT, booleans INTEGER 0/1.
-- Protection rules and artifact lists are JSON text: read and written whole.

ALTER TABLE runs ADD COLUMN security_fix INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN incident TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN rollback_of BIGINT NOT NULL DEFAULT 0;

CREATE TABLE environments (
	id         {{ID}},
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name       TEXT   NOT NULL,
	protection TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL,
	UNIQUE (project_id, name)
);

CREATE TABLE deployments (
	id             {{ID}},
	project_id     BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	environment_id BIGINT  NOT NULL REFERENCES environments (id) ON DELETE CASCADE,
	run_id         BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	job_id         BIGINT  NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
	commit_sha     TEXT    NOT NULL,
	ref            TEXT    NOT NULL,
	artifacts      TEXT    NOT NULL,
	status         TEXT    NOT NULL,
	waiting        TEXT    NOT NULL,
	triggered_by   TEXT    NOT NULL,
	security_fix   INTEGER NOT NULL,
	incident       TEXT    NOT NULL,
	rollback_of    BIGINT  NOT NULL,
	commit_time    BIGINT,
	created_at     BIGINT  NOT NULL,
	approved_at    BIGINT,
	started_at     BIGINT,
	finished_at    BIGINT
);
CREATE INDEX deployments_env ON deployments (environment_id, id);
CREATE INDEX deployments_status ON deployments (status, id);

CREATE TABLE approvals (
	id            {{ID}},
	deployment_id BIGINT  NOT NULL REFERENCES deployments (id) ON DELETE CASCADE,
	user_id       BIGINT  NOT NULL,
	user_name     TEXT    NOT NULL,
	role          TEXT    NOT NULL,
	approve       INTEGER NOT NULL,
	comment       TEXT    NOT NULL,
	commit_sha    TEXT    NOT NULL,
	artifacts_sum TEXT    NOT NULL,
	created_at    BIGINT  NOT NULL,
	expires_at    BIGINT  NOT NULL
);
CREATE INDEX approvals_deployment ON approvals (deployment_id, id);
