-- Agents paused in a call queue; an unpaused agent has no row.
CREATE TABLE queue_pauses (
	queue text NOT NULL,
	agent text NOT NULL,
	since timestamptz NOT NULL,
	PRIMARY KEY (queue, agent)
);
