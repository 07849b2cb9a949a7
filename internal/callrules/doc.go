// Package callrules is the one rulebook of a call's life, shared by every
// call source (the built-in PBX, the connectors' tracker) and by the
// recorder, so that the same flow gives the same events whatever saw it.
// A Life follows one call through its events and refuses the ones
// EVENTS.md rules out: CALL_ROUTED first and once, nothing after the one
// CALL_HANGUP, one CALL_RINGING per leg, one CALL_ANSWER per leg, holds
// only while answered and alternating. It numbers the events and keeps the
// answer bookkeeping CALL_HANGUP's duration, billsec and answered_by come
// from. Holds says when a call is held (while either party holds), and
// HangupBy and SIPCode are EVENTS.md's table of causes.
package callrules
