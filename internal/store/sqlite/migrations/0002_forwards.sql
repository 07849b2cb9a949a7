-- Call forwarding set through the API, by extension; the config's applies
-- to an extension without a row.
CREATE TABLE forwards (
	number           TEXT PRIMARY KEY,
	unconditional    TEXT NOT NULL,
	user_busy        TEXT NOT NULL,
	no_answer        TEXT NOT NULL,
	no_answer_after  INTEGER NOT NULL, -- nanoseconds; 0: the default
	unavailable      TEXT NOT NULL,
	updated_at       INTEGER NOT NULL
) STRICT;

-- The calls of one session, for a call's page.
CREATE INDEX calls_session ON calls (session_uuid);
