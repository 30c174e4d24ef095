-- Security findings recorded per job, and waivers that exempt a finding (by fingerprint) of a
-- project from the security gate until they expire.
--
-- Conventions as in 0001: times are unix microseconds (UTC) in BIGINT.

CREATE TABLE findings (
	id            {{ID}},
	run_id        BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	job_id        BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	project_id    BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	fingerprint   TEXT    NOT NULL,
	scanner       TEXT    NOT NULL,
	rule_id       TEXT    NOT NULL,
	severity      TEXT    NOT NULL,
	severity_rank INTEGER NOT NULL,
	file          TEXT    NOT NULL,
	line          INTEGER NOT NULL,
	message       TEXT    NOT NULL,
	fix           TEXT    NOT NULL,
	package       TEXT    NOT NULL,
	version       TEXT    NOT NULL,
	fixed_version TEXT    NOT NULL,
	tool          TEXT    NOT NULL,
	created_at    BIGINT  NOT NULL
);
CREATE INDEX findings_run ON findings (run_id, severity_rank, id);

CREATE TABLE waivers (
	id          {{ID}},
	project_id  BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	fingerprint TEXT   NOT NULL,
	reason      TEXT   NOT NULL,
	approver    TEXT   NOT NULL,
	created_at  BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	revoked_at  BIGINT
);
CREATE INDEX waivers_project ON waivers (project_id, id);
