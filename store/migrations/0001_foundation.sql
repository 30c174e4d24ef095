-- Accounts, credentials, projects and the audit chain.
--
-- One text for SQLite and PostgreSQL: {{ID}} becomes each dialect's auto-incrementing primary key.
-- Times are unix microseconds (UTC) in BIGINT, booleans INTEGER 0/1, hashes lowercase hex TEXT.

CREATE TABLE users (
	id            {{ID}},
	name          TEXT    NOT NULL UNIQUE,
	role          TEXT    NOT NULL,
	disabled      INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT    NOT NULL,
	created_at    BIGINT  NOT NULL,
	password_at   BIGINT  NOT NULL
);

CREATE TABLE tokens (
	id           {{ID}},
	user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         TEXT   NOT NULL,
	scope        TEXT   NOT NULL,
	hash         TEXT   NOT NULL UNIQUE,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT,
	last_used_at BIGINT,
	revoked_at   BIGINT
);
CREATE INDEX tokens_user_id ON tokens (user_id);

CREATE TABLE sessions (
	id         {{ID}},
	user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	hash       TEXT   NOT NULL UNIQUE,
	csrf_token TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	source     TEXT   NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Not tied to users: failures for names that do not exist count too.
CREATE TABLE login_failures (
	id        {{ID}},
	user_name TEXT   NOT NULL,
	source    TEXT   NOT NULL,
	at        BIGINT NOT NULL
);
CREATE INDEX login_failures_user_at ON login_failures (user_name, at);
CREATE INDEX login_failures_source_at ON login_failures (source, at);
CREATE INDEX login_failures_at ON login_failures (at);

CREATE TABLE projects (
	id         {{ID}},
	name       TEXT   NOT NULL UNIQUE,
	repo_url   TEXT   NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE members (
	project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role       TEXT   NOT NULL,
	added_at   BIGINT NOT NULL,
	PRIMARY KEY (project_id, user_id)
);
CREATE INDEX members_user_id ON members (user_id);

-- seq is assigned by the audit package, not by the database, so that it is part of the hash.
CREATE TABLE audit_events (
	seq       BIGINT NOT NULL PRIMARY KEY,
	time      BIGINT NOT NULL,
	actor     TEXT   NOT NULL,
	action    TEXT   NOT NULL,
	target    TEXT   NOT NULL,
	source    TEXT   NOT NULL,
	result    TEXT   NOT NULL,
	detail    TEXT   NOT NULL,
	prev_hash TEXT   NOT NULL,
	hash      TEXT   NOT NULL
);

-- The chain head is a row of its own so that there is something to lock even when the log is empty,
-- and so that deleting the newest events is detectable.
CREATE TABLE audit_head (
	id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	seq  BIGINT  NOT NULL,
	hash TEXT    NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
