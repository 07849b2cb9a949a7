// Package asterisk is a call source that watches an Asterisk server through
// its REST interface (ARI) and turns its channel events into switchhook's
// seven call events. A Connector subscribes to every channel's events over
// ARI's WebSocket (/ari/events with subscribeAll), reconnects with backoff
// when Asterisk restarts or the network drops, and on every connection lists
// Asterisk's channels (GET /ari/channels) so that a call which ended while it
// was away still gets its one CALL_HANGUP.
//
// Asterisk's channel snapshots in ARI carry no linkedid, so the connector
// rebuilds the same grouping itself: a channel a Dial creates (its peer), and
// the far half of a Local channel pair, join the call of the channel that
// made them, and the call ends when its last channel is destroyed.
package asterisk
