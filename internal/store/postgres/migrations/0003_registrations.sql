-- The built-in PBX's registered contacts, kept across restarts and shared
-- by the nodes.
CREATE TABLE registrations (
	extension  text NOT NULL,
	contact    text NOT NULL,
	source     text NOT NULL,
	transport  text NOT NULL,
	user_agent text NOT NULL,
	call_id    text NOT NULL,
	cseq       bigint NOT NULL,
	node       text NOT NULL,
	expires_at timestamptz NOT NULL,
	created_at timestamptz NOT NULL,
	PRIMARY KEY (extension, contact)
);
CREATE INDEX registrations_expiry ON registrations (expires_at);
