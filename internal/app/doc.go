// Package app assembles one switchhook process from its configuration: the
// store, the delivery engine, the recorder, the call sources and the HTTP
// server, each a part with one contract (start, wait until up, stop),
// started in that order and stopped in the reverse one. The process is up
// only once every part is; a part that cannot start, or that fails later,
// stops the others and the process, with an error naming it.
package app
