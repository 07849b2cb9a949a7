// Package storetest is the conformance suite of store.Store. Every
// implementation runs Exercise from its own tests against a fresh database,
// so the delivery engine, the recorder and the API see the same behaviour on
// SQLite and PostgreSQL: the fan-out of events to endpoints, the calls table,
// chained claiming with leases, in-flight limits and circuit states, attempts,
// retries, replays and purging. Every test passes its clock explicitly and
// uses times in the past, so nothing depends on the wall clock.
package storetest
