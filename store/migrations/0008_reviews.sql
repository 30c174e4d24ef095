-- Review evidence from git hosts' webhooks, pushes to protected branches waiting for their review
-- check, and policy violations.
--
-- Conventions as in 0001: times are unix microseconds (UTC) in BIGINT, booleans INTEGER 0/1.
-- Ids the git host assigns (author_id, reviewer_id, review_id) are 0 when the payload had none,
-- and text fields '' likewise; at is NULL when the host sent no time Rampart could read.

-- digest is the SHA-256 of the event's fields: the same evidence delivered twice is stored once.
CREATE TABLE review_events (
	id               {{ID}},
	project_id       BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	digest           TEXT    NOT NULL,
	host             TEXT    NOT NULL,
	repository       TEXT    NOT NULL,
	kind             TEXT    NOT NULL,
	number           BIGINT  NOT NULL,
	title            TEXT    NOT NULL,
	url              TEXT    NOT NULL,
	author           TEXT    NOT NULL,
	author_id        BIGINT  NOT NULL,
	reviewer         TEXT    NOT NULL,
	reviewer_id      BIGINT  NOT NULL,
	review_id        BIGINT  NOT NULL,
	actor            TEXT    NOT NULL,
	commit_sha       TEXT    NOT NULL,
	commit_inferred  INTEGER NOT NULL,
	merge_commit_sha TEXT    NOT NULL,
	base_branch      TEXT    NOT NULL,
	head_branch      TEXT    NOT NULL,
	head_repo_fork   INTEGER NOT NULL,
	at               BIGINT,
	UNIQUE (project_id, digest)
);
CREATE INDEX review_events_commit ON review_events (project_id, commit_sha);
CREATE INDEX review_events_merge ON review_events (project_id, merge_commit_sha);
CREATE INDEX review_events_pr ON review_events (project_id, host, repository, number);

-- One pending check per project, branch and commit: a redelivered push waits once.
CREATE TABLE push_checks (
	id         {{ID}},
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	branch     TEXT   NOT NULL,
	commit_sha TEXT   NOT NULL,
	pusher     TEXT   NOT NULL,
	due_at     BIGINT NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (project_id, branch, commit_sha)
);
CREATE INDEX push_checks_due ON push_checks (due_at, id);

-- One violation per project, kind, ref and commit.
CREATE TABLE violations (
	id         {{ID}},
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	kind       TEXT   NOT NULL,
	ref        TEXT   NOT NULL,
	commit_sha TEXT   NOT NULL,
	detail     TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	UNIQUE (project_id, kind, ref, commit_sha)
);
CREATE INDEX violations_project ON violations (project_id, id);
