-- The git and git-host identities of users (e-mail addresses, author names, logins), so that
-- separation of duties recognises a user's own commits and pull requests under any of them.
-- An identity belongs to one user only; values are stored lower-case.

CREATE TABLE user_identities (
	user_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	identity TEXT   NOT NULL UNIQUE,
	PRIMARY KEY (user_id, identity)
);
