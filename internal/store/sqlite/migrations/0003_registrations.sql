-- The built-in PBX's registered contacts, kept across restarts.
CREATE TABLE registrations (
	extension  TEXT NOT NULL,
	contact    TEXT NOT NULL,
	source     TEXT NOT NULL,
	transport  TEXT NOT NULL,
	user_agent TEXT NOT NULL,
	call_id    TEXT NOT NULL,
	cseq       INTEGER NOT NULL,
	node       TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (extension, contact)
) STRICT;
CREATE INDEX registrations_expiry ON registrations (expires_at);
