// Package ingest records call events: the Recorder is the Sink every call
// source emits to. It applies the rules of a call's life (package
// callrules: CALL_ROUTED first, one CALL_HANGUP last, hold and unhold
// alternating), numbers each call's events, fills the hangup's durations,
// keeps the calls of connectors open across a restart (their engines carry
// them: Recover and Resume), and writes events
// to the store in batches (group commit) before it wakes the delivery engine,
// so that no receiver ever sees an event a restart would forget. Emit returns
// once an event is queued, so that a call source never waits for the disk;
// Record returns once it is committed, for an API that answers 2xx for it.
package ingest
