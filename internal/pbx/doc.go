// Package pbx is switchhook's built-in PBX: a SIP registrar and a
// back-to-back user agent (B2BUA) that takes calls from extensions and from
// carriers' gateways and routes them, by the dialplan, to extensions, ring
// groups, IVRs, or out through a gateway. Each call has an A-leg (the
// caller's dialog) and one B-leg per destination rung; an IVR is the PBX
// answering the caller itself, playing a prompt and reading one digit, and
// what it routes to rings next in the same call. The call's media is
// anchored in the PBX by a relay, so DTMF and hold are seen from either
// side. A PBX is an events.Source: it emits each call's events, in order,
// from CALL_ROUTED to exactly one CALL_HANGUP.
//
// SIP transactions and dialogs are sipgo's. The legs use sipgo's dialog
// sessions rather than diago's, because a diago session terminates the media
// of its leg and answers re-INVITEs and INFO itself (INFO DTMF with 406),
// whereas a B2BUA relays offers, answers and INFO between its legs; diago's
// media package decodes the RFC 4733 events the relay sees, and packetizes
// the prompts the PBX plays.
package pbx
