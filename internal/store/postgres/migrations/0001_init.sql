-- Times are timestamptz (microseconds); NULL stands for "not set".
-- Durations are bigint nanoseconds, as Go's time.Duration.

CREATE TABLE endpoints (
	id                   text PRIMARY KEY,
	url                  text NOT NULL,
	description          text NOT NULL,
	events               text[] NOT NULL, -- empty: all seven
	profile              text NOT NULL,
	secrets              jsonb NOT NULL,  -- [{value, expires_at}], current first
	headers              jsonb NOT NULL,
	timeout_ns           bigint NOT NULL,
	retry_schedule_ns    bigint[] NOT NULL,
	max_in_flight        integer NOT NULL,
	disabled             boolean NOT NULL,
	disabled_reason      text NOT NULL,
	from_config          boolean NOT NULL,
	circuit_state        text NOT NULL,
	paused_until         timestamptz,
	consecutive_failures integer NOT NULL,
	failing_since        timestamptz,
	created_at           timestamptz NOT NULL,
	updated_at           timestamptz NOT NULL
);

-- seq is the insertion order. body is the whole event as json rather than
-- jsonb: it is stored and returned as it is, and json keeps what jsonb
-- rejects (a \u0000 in a caller's name).
CREATE TABLE events (
	seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          text NOT NULL UNIQUE,
	call_uuid   text NOT NULL,
	kind        text NOT NULL,
	occurred_at timestamptz NOT NULL,
	sequence    bigint NOT NULL,
	endpoint    text NOT NULL, -- set on test events only
	body        json NOT NULL
);
CREATE INDEX events_call ON events (call_uuid, kind);
CREATE INDEX events_occurred ON events (occurred_at);

-- seq only orders calls that started at the same instant.
CREATE TABLE calls (
	call_uuid          text PRIMARY KEY,
	seq                bigint GENERATED ALWAYS AS IDENTITY,
	session_uuid       text NOT NULL,
	node               text NOT NULL,
	source             text NOT NULL,
	caller_id_number   text NOT NULL,
	destination_number text NOT NULL,
	direction          text NOT NULL,
	started_at         timestamptz NOT NULL,
	answered_at        timestamptz,
	answered_by        text NOT NULL,
	ended_at           timestamptz,
	hangup_cause       text NOT NULL,
	last_sequence      bigint NOT NULL
);
CREATE INDEX calls_open ON calls (node, started_at) WHERE ended_at IS NULL;
CREATE INDEX calls_started ON calls (started_at);
CREATE INDEX calls_caller ON calls (caller_id_number);
CREATE INDEX calls_destination ON calls (destination_number);

-- A delivery is leased while lease_owner is set (lease_owner and lease_until
-- are set and cleared together); the lease is live while lease_until is in
-- the future. head is true on the oldest pending delivery of each
-- (endpoint_id, call_uuid) chain and false everywhere else, so that claims
-- read chain heads straight from an index; the statements that change a
-- chain hold an advisory lock on its call while they keep head right.
-- endpoint_id has no foreign key: a deleted endpoint's finished deliveries
-- stay as history.
CREATE TABLE deliveries (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event_seq       bigint NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
	endpoint_id     text NOT NULL,
	call_uuid       text NOT NULL,
	status          text NOT NULL,
	head            boolean NOT NULL,
	attempts        integer NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	last_error      text NOT NULL,
	lease_owner     text,
	lease_until     timestamptz,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL,
	completed_at    timestamptz
);
-- The partial indexes hold pending rows only, so they stay as small as the
-- queue. Claims and NextDue read an endpoint's chain heads.
CREATE INDEX deliveries_heads ON deliveries (endpoint_id, id) WHERE status = 'pending' AND head;
-- A chain's pending deliveries, found by call first: no other index starts
-- with call_uuid and holds pending rows only, so the planner picks this one
-- even before it has statistics.
CREATE INDEX deliveries_chain ON deliveries (call_uuid, endpoint_id, id) WHERE status = 'pending';
-- The leases out, counted per endpoint at each claim: as many as the
-- requests in flight.
CREATE INDEX deliveries_leased ON deliveries (endpoint_id, lease_until) WHERE lease_owner IS NOT NULL;
-- Every delivery is updated two or three times (leased, completed, maybe
-- made a chain head), which leaves dead index entries at the front of the
-- queue that claims step over until a vacuum removes them. The default
-- (vacuum once a fifth of the table is dead) would let them pile up for
-- hours in a table that keeps weeks of history; vacuum at 2% instead.
ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
CREATE INDEX deliveries_event ON deliveries (event_seq);
CREATE INDEX deliveries_endpoint ON deliveries (endpoint_id, id);
CREATE INDEX deliveries_call ON deliveries (call_uuid);

CREATE TABLE attempts (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
	at          timestamptz NOT NULL,
	status_code integer NOT NULL,
	latency_ns  bigint NOT NULL,
	error       text NOT NULL,
	response    text NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id);
