// Package connector holds what the connectors to outside PBX engines
// (FreeSWITCH, Asterisk) share around their engine's own protocol. A Link
// keeps one engine connected: it runs the connector's sessions one after
// another with a jittered exponential backoff between them, and keeps the
// Status the API shows and the switchhook_source_connected gauge. Emit hands
// a session's events to the sink and tells a failure of the sink, which
// stops the connector lest events be lost, from a failure of the
// connection, which is retried.
package connector
