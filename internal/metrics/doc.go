// Package metrics holds switchhook's Prometheus collectors. A Metrics value is
// made per process on its own registry (no global state) and handed to the
// parts that count: the recorder, the delivery engine and the call sources.
package metrics
