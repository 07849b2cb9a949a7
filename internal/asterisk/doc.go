// Package asterisk is a call source that watches an Asterisk server through
// its REST interface (ARI) and turns its channel events into switchhook's
// seven call events. A Connector subscribes to every channel's events over
// ARI's WebSocket (/ari/events with subscribeAll), reconnects with backoff
// when Asterisk restarts or the network drops, and on every connection
// reconciles the calls it holds open (those of a previous run of switchhook
// too) with Asterisk's channels, bridges and start time (GET /ari/channels,
// /ari/bridges, /ari/asterisk/info): a call still up gets what it missed,
// one that ended while it was away its one CALL_HANGUP, a channel never
// seen is adopted. Causes come from Dial's status, SIP codes from the
// channels' tech_cause; app_queue is a queue, BridgeBlindTransfer and
// BridgeAttendedTransfer transfers, and so is ChannelTransfer (a REFER that
// an ARI application carries out). A reader goroutine only reads, so
// Asterisk never finds this client slower than its websocket_write_timeout.
//
// Asterisk's channel snapshots in ARI carry no linkedid, so the connector
// rebuilds the same grouping itself: a channel a Dial creates (its peer), and
// the far half of a Local channel pair, join the call of the channel that
// made them, and the call ends when its last channel is destroyed.
package asterisk
