// Package pbx is switchhook's built-in PBX: a SIP registrar and a
// back-to-back user agent (B2BUA) for calls between extensions, built on
// sipgo for SIP transactions and dialogs. Each call has an A-leg (the
// caller's dialog) and one B-leg per ringing contact; its media is anchored
// in the PBX by a relay, so DTMF and hold are seen from either side. A PBX is
// an events.Source: it emits each call's events, in order, from CALL_ROUTED
// to exactly one CALL_HANGUP.
package pbx
