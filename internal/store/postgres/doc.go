// Package postgres implements store.Store on PostgreSQL, through pgx, for
// several switchhook nodes sharing one database. Everything the nodes must
// agree on lives in the database. Leases are columns of the deliveries
// (lease_owner, lease_until), so a node that dies loses its work to the
// others when its leases end. Each chain of deliveries (one endpoint, one
// call) carries a head flag on its oldest pending delivery, kept right under
// an advisory lock per call by every statement that changes a chain, so
// that claims read chain heads straight from an index. Claims lock the rows
// they take with FOR NO KEY UPDATE SKIP LOCKED and take turns on a
// transaction-scoped advisory lock, so that each sees every lease the
// previous one took: an endpoint's MaxInFlight and its half-open probe hold
// across the cluster. InsertEvents, RetryDelivery, Replay and ReleaseLeases
// NOTIFY in their transaction, and Notifications turns that into a wake-up
// for idle nodes. Each hot-path operation is one round trip, a pipeline of
// statements in one transaction: a batch of events with their deliveries
// and calls, a claim, a batch of outcomes. Migrate applies the embedded,
// versioned migrations under an advisory lock, so nodes starting together
// apply them once.
package postgres
