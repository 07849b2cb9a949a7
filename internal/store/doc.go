// Package store defines what switchhook keeps: endpoints, call events, the
// calls they make up, deliveries and their attempts. Store is the interface
// the rest of the program talks to; each database has its own package
// (sqlite, postgres) implementing it, and storetest.Exercise is the one
// conformance suite every implementation must pass, so the delivery engine
// behaves the same on any of them.
package store
