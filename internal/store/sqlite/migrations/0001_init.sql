-- Times are Unix nanoseconds in UTC; 0 stands for "not set".

CREATE TABLE endpoints (
	id                   TEXT PRIMARY KEY,
	url                  TEXT NOT NULL,
	description          TEXT NOT NULL,
	events               TEXT NOT NULL, -- JSON array of kinds; empty: all
	profile              TEXT NOT NULL,
	secrets              TEXT NOT NULL, -- JSON array of {value, expires_at}
	headers              TEXT NOT NULL, -- JSON object
	timeout_ns           INTEGER NOT NULL,
	retry_schedule       TEXT NOT NULL, -- JSON array of nanoseconds
	max_in_flight        INTEGER NOT NULL,
	disabled             INTEGER NOT NULL,
	disabled_reason      TEXT NOT NULL,
	from_config          INTEGER NOT NULL,
	circuit_state        TEXT NOT NULL,
	paused_until         INTEGER NOT NULL,
	consecutive_failures INTEGER NOT NULL,
	failing_since        INTEGER NOT NULL,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL
) STRICT;

-- seq is the insertion order; AUTOINCREMENT so that it never goes back after
-- the newest rows are deleted.
CREATE TABLE events (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
	call_uuid   TEXT NOT NULL,
	kind        TEXT NOT NULL,
	occurred_at INTEGER NOT NULL,
	sequence    INTEGER NOT NULL,
	endpoint    TEXT NOT NULL, -- set on test events only
	body        TEXT NOT NULL  -- the whole event as JSON
) STRICT;
CREATE INDEX events_call ON events (call_uuid, kind);
CREATE INDEX events_occurred ON events (occurred_at);

CREATE TABLE calls (
	call_uuid          TEXT PRIMARY KEY,
	session_uuid       TEXT NOT NULL,
	node               TEXT NOT NULL,
	source             TEXT NOT NULL,
	caller_id_number   TEXT NOT NULL,
	destination_number TEXT NOT NULL,
	direction          TEXT NOT NULL,
	started_at         INTEGER NOT NULL,
	answered_at        INTEGER NOT NULL DEFAULT 0,
	answered_by        TEXT NOT NULL DEFAULT '',
	ended_at           INTEGER NOT NULL DEFAULT 0,
	hangup_cause       TEXT NOT NULL DEFAULT '',
	last_sequence      INTEGER NOT NULL
) STRICT;
CREATE INDEX calls_open ON calls (node) WHERE ended_at = 0;
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_caller ON calls (caller_id_number);
CREATE INDEX calls_destination ON calls (destination_number);

-- head is 1 on the oldest pending delivery of each (endpoint_id, call_uuid)
-- chain and 0 everywhere else, so that claiming reads chain heads straight
-- from an index instead of checking every pending row for an older one.
-- endpoint_id has no foreign key: a deleted endpoint's finished deliveries
-- stay as history.
CREATE TABLE deliveries (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	event_seq       INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
	endpoint_id     TEXT NOT NULL,
	call_uuid       TEXT NOT NULL,
	status          TEXT NOT NULL,
	head            INTEGER NOT NULL,
	attempts        INTEGER NOT NULL,
	next_attempt_at INTEGER NOT NULL,
	last_error      TEXT NOT NULL,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	completed_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX deliveries_chain ON deliveries (endpoint_id, call_uuid, id) WHERE status = 'pending';
CREATE INDEX deliveries_heads ON deliveries (endpoint_id, id, next_attempt_at) WHERE head = 1;
CREATE INDEX deliveries_heads_due ON deliveries (endpoint_id, next_attempt_at) WHERE head = 1;
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_call ON deliveries (call_uuid);

CREATE TABLE attempts (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	at          INTEGER NOT NULL,
	status_code INTEGER NOT NULL,
	latency_ns  INTEGER NOT NULL,
	error       TEXT NOT NULL,
	response    TEXT NOT NULL
) STRICT;
CREATE INDEX attempts_delivery ON attempts (delivery_id);
