// Package e2e holds end-to-end tests: each builds the real switchhook binary,
// starts it as a process with a YAML configuration on free loopback ports,
// drives it (HTTP API, SIPp, stand-in PBX engines) and asserts on the
// webhooks that a real HTTP receiver gets, signatures verified.
package e2e
