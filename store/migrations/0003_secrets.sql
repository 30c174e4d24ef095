-- Secrets sealed by the vault, and the records of its key-encryption keys.
--
-- Conventions as in 0001: times are unix microseconds (UTC) in BIGINT, booleans INTEGER 0/1. The
-- store holds no plaintext: a version's value is ciphertext under a data key of its own, and that
-- data key is stored wrapped by the key-encryption key named by key_id.
--
-- A secret's project_id is 0 and its environment '' where its scope has none, rather than NULL,
-- because NULLs are distinct in a UNIQUE constraint on both databases and would let two
-- organisation secrets share a name. With 0 standing for "none" project_id has no foreign key;
-- CreateSecret checks that a project it names exists.
CREATE TABLE secrets (
	id          {{ID}},
	scope       TEXT   NOT NULL,
	project_id  BIGINT NOT NULL DEFAULT 0,
	environment TEXT   NOT NULL DEFAULT '',
	name        TEXT   NOT NULL,
	version     BIGINT NOT NULL,
	created_at  BIGINT NOT NULL,
	created_by  TEXT   NOT NULL,
	updated_at  BIGINT NOT NULL,
	updated_by  TEXT   NOT NULL,
	UNIQUE (scope, project_id, environment, name)
);
CREATE INDEX secrets_project_id ON secrets (project_id);

CREATE TABLE secret_versions (
	secret_id   BIGINT   NOT NULL REFERENCES secrets (id) ON DELETE CASCADE,
	version     BIGINT   NOT NULL,
	key_id      TEXT     NOT NULL,
	wrapped_key {{BLOB}} NOT NULL,
	nonce       {{BLOB}} NOT NULL,
	ciphertext  {{BLOB}} NOT NULL,
	created_at  BIGINT   NOT NULL,
	created_by  TEXT     NOT NULL,
	PRIMARY KEY (secret_id, version)
);
-- Rotation reads the versions wrapped by one key in (secret_id, version) order.
CREATE INDEX secret_versions_key_id ON secret_versions (key_id, secret_id, version);

-- check_value is a known plaintext sealed under the key, so that a server given the wrong key
-- notices. At most one key is active: the one that wraps new data keys.
CREATE TABLE vault_keys (
	id          TEXT     NOT NULL PRIMARY KEY,
	check_value {{BLOB}} NOT NULL,
	active      INTEGER  NOT NULL,
	created_at  BIGINT   NOT NULL
);
CREATE UNIQUE INDEX vault_keys_one_active ON vault_keys (active) WHERE active = 1;
