// Package connectortest helps test the call-source connectors (FreeSWITCH,
// Asterisk) against fakes of their engines: a Sink that collects what a
// connector emits, one-line summaries of events to compare exactly, the
// checks every call's events pass, fixtures of recorded engine events, and
// running a source for the length of a test.
package connectortest
