// Package apitypes holds the JSON resources of switchhook's management API.
// The server (package api) encodes them and the Go client (package client)
// decodes them, so the two cannot drift apart. On the wire, durations are Go
// duration strings ("10s"), times are RFC 3339, and a time that has not
// happened (a call not yet answered) is null.
package apitypes
