// Package app assembles one switchhook process from its configuration: the
// store, the recorder, the delivery engine, the call sources and the HTTP
// server, started in that order and stopped in the reverse one.
package app
