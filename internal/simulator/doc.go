// Package simulator is a call source that makes up calls: each is routed,
// rings, is answered, takes a DTMF digit, is held and resumed, and hangs up,
// at a configured rate. It drives the whole pipeline without a phone, for
// demos, load runs and the crash tests of the delivery path.
package simulator
