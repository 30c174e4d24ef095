-- Runs, jobs, agents, logs, artifacts and cursors, and the projects' polling and webhook settings.
--
-- Conventions as in 0001: times are unix microseconds (UTC) in BIGINT, booleans INTEGER 0/1,
-- hashes lowercase hex TEXT. Lists of strings (needs, labels) are JSON arrays in TEXT, "[]" when
-- empty. Agent ids are plain numbers, 0 for none, without a foreign key: agents are never deleted,
-- and a job keeps naming the agent that ran it.

ALTER TABLE projects ADD COLUMN poll_seconds INTEGER NOT NULL DEFAULT 0;
ALTER TABLE projects ADD COLUMN webhook_secret TEXT NOT NULL DEFAULT '';

-- number counts from 1 within a project; CreateRun assigns it under the Update lock, and the
-- unique constraint turns any slip into an error rather than two runs with one number.
CREATE TABLE runs (
	id           {{ID}},
	project_id   BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	number       BIGINT  NOT NULL,
	event        TEXT    NOT NULL,
	ref          TEXT    NOT NULL,
	branch       TEXT    NOT NULL,
	tag          TEXT    NOT NULL,
	commit_sha   TEXT    NOT NULL,
	pull_request INTEGER NOT NULL,
	from_fork    INTEGER NOT NULL,
	triggered_by TEXT    NOT NULL,
	status       TEXT    NOT NULL,
	reason       TEXT    NOT NULL,
	created_at   BIGINT  NOT NULL,
	started_at   BIGINT,
	finished_at  BIGINT,
	UNIQUE (project_id, number)
);
CREATE INDEX runs_project_id_id ON runs (project_id, id);
CREATE INDEX runs_status ON runs (status, id);

-- token_hash is NULL while no agent holds the job, so that only real hashes must be unique.
CREATE TABLE jobs (
	id               {{ID}},
	run_id           BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	project_id       BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	name             TEXT    NOT NULL,
	status           TEXT    NOT NULL,
	needs            TEXT    NOT NULL,
	labels           TEXT    NOT NULL,
	spec             TEXT    NOT NULL,
	deploys          INTEGER NOT NULL,
	priority         INTEGER NOT NULL,
	attempt          INTEGER NOT NULL,
	agent_id         BIGINT  NOT NULL,
	fence            BIGINT  NOT NULL,
	token_hash       TEXT,
	lease_expires_at BIGINT,
	cancel_requested INTEGER NOT NULL,
	exit_code        INTEGER NOT NULL,
	reason           TEXT    NOT NULL,
	created_at       BIGINT  NOT NULL,
	started_at       BIGINT,
	finished_at      BIGINT
);
CREATE INDEX jobs_run_id ON jobs (run_id, id);
-- The queue: QueuedJobs reads status = 'queued' in priority order, oldest (lowest id) first.
CREATE INDEX jobs_queue ON jobs (status, priority DESC, id);
CREATE INDEX jobs_lease ON jobs (status, lease_expires_at);
CREATE INDEX jobs_agent ON jobs (agent_id, status);
CREATE UNIQUE INDEX jobs_token_hash ON jobs (token_hash) WHERE token_hash IS NOT NULL;

CREATE TABLE agents (
	id              {{ID}},
	name            TEXT    NOT NULL UNIQUE,
	credential_hash TEXT    NOT NULL UNIQUE,
	labels          TEXT    NOT NULL,
	claimed_labels  TEXT    NOT NULL,
	capacity        INTEGER NOT NULL,
	version         TEXT    NOT NULL,
	disabled        INTEGER NOT NULL,
	created_at      BIGINT  NOT NULL,
	last_seen_at    BIGINT
);

CREATE TABLE agent_tokens (
	id         {{ID}},
	hash       TEXT   NOT NULL UNIQUE,
	labels     TEXT   NOT NULL,
	created_by TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at    BIGINT,
	agent_id   BIGINT NOT NULL
);

CREATE TABLE log_chunks (
	job_id     BIGINT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	seq        BIGINT   NOT NULL,
	data       {{BLOB}} NOT NULL,
	created_at BIGINT   NOT NULL,
	PRIMARY KEY (job_id, seq)
);

-- Content-addressed: digest is "sha256:<hex>" of data, checked by PutBlob.
CREATE TABLE blobs (
	digest     TEXT     NOT NULL PRIMARY KEY,
	data       {{BLOB}} NOT NULL,
	size       BIGINT   NOT NULL,
	created_at BIGINT   NOT NULL
);

CREATE TABLE artifacts (
	id         {{ID}},
	run_id     BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	job_id     BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	name       TEXT   NOT NULL,
	digest     TEXT   NOT NULL REFERENCES blobs (digest),
	size       BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (job_id, name)
);
CREATE INDEX artifacts_run_id ON artifacts (run_id, job_id, name);
CREATE INDEX artifacts_digest ON artifacts (digest);

CREATE TABLE cursors (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
);
