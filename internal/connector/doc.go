// Package connector holds what the connectors to outside PBX engines
// (FreeSWITCH, Asterisk) share around their engine's own protocol. A Link
// keeps one engine connected: it runs the connector's sessions one after
// another with a jittered exponential backoff between them, and keeps the
// Status the API shows and the switchhook_source_connected gauge. Emit hands
// a session's events to the sink; an event the sink refuses is logged and
// counted (switchhook_events_refused_total) and the connection goes on, so
// only the engine going away makes a connector reconnect, and nothing makes
// it stop but its context. A Backlog lets a session's reader never wait on
// the recorder (switchhook_source_backlog), and the Link keeps when the
// engine was last heard across restarts of the process.
package connector
