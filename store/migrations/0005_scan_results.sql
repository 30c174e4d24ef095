-- The security gate's outcome per job (verdict and the packages of the run's SBOM), and the
-- scans a project requires in every run.
--
-- Conventions as in 0001: times are unix microseconds (UTC) in BIGINT, booleans INTEGER 0/1.
-- Verdicts and packages are JSON text: they are read and written whole, never queried inside.

ALTER TABLE projects ADD COLUMN required_scans TEXT NOT NULL DEFAULT '';

CREATE TABLE scan_results (
	id         {{ID}},
	run_id     BIGINT  NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	job_id     BIGINT  NOT NULL UNIQUE REFERENCES jobs (id) ON DELETE CASCADE,
	project_id BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
	scanners   TEXT    NOT NULL,
	pass       INTEGER NOT NULL,
	verdict    TEXT    NOT NULL,
	packages   TEXT    NOT NULL,
	created_at BIGINT  NOT NULL
);
CREATE INDEX scan_results_run ON scan_results (run_id, job_id);
