// Package postgres implements store.Store on PostgreSQL, through pgx, for
// several switchhook nodes sharing one database. Everything a node must
// agree on with the others lives in the database: leases are columns of the
// deliveries (lease_owner, lease_until), so a node that dies loses its work
// to the others when its leases end; claims lock the rows they take with
// FOR NO KEY UPDATE SKIP LOCKED and serialize on a transaction-scoped
// advisory lock, so that each claim sees every lease the previous one took
// and an endpoint's MaxInFlight and half-open probe hold across the cluster;
// and InsertEvents, RetryDelivery, Replay and ReleaseLeases send a NOTIFY
// in their transaction, which Notifications turns into a wake-up for idle
// nodes. Each hot-path operation is one statement, one round trip: a batch
// of events with their deliveries and calls, a claim, a batch of attempts.
// Migrate applies the embedded, versioned migrations under an advisory lock,
// so nodes starting together apply them once.
package postgres
