// Package cli is the switchhook command line: serve and migrate run the
// server from a config file, and the endpoints, deliveries, calls and events
// commands manage a running server through its API, printing tables for
// people or, with --json, the API's JSON for scripts.
package cli
