-- Call forwarding set through the API, by extension; the config's applies
-- to an extension without a row.
CREATE TABLE forwards (
	number           text PRIMARY KEY,
	unconditional    text NOT NULL,
	user_busy        text NOT NULL,
	no_answer        text NOT NULL,
	no_answer_after  bigint NOT NULL, -- nanoseconds; 0: the default
	unavailable      text NOT NULL,
	updated_at       timestamptz NOT NULL
);

-- The calls of one session, for a call's page.
CREATE INDEX calls_session ON calls (session_uuid);
