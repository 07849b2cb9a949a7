-- Agents paused in a call queue; an unpaused agent has no row.
CREATE TABLE queue_pauses (
	queue TEXT NOT NULL,
	agent TEXT NOT NULL,
	since INTEGER NOT NULL,
	PRIMARY KEY (queue, agent)
) STRICT;
