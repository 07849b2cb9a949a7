// Package calltrack turns the legs (channels) of an outside PBX engine into
// switchhook's seven call events. A connector maps each engine event onto a
// step of a Tracker (a leg starts a call or joins one, rings, answers, sends
// a digit, holds, ends) and keeps what only its engine knows, such as how
// legs are related and why they ended. The Tracker keeps the calls and
// applies the rules of EVENTS.md that hold for every engine: CALL_ROUTED
// first and once, one CALL_RINGING per callee leg, the engine's answer of
// the caller's own leg counted only when the engine itself is the
// destination (an IVR), holds only as changes of an answered call, and one
// CALL_HANGUP when a routed call's last leg is gone, with who ended it and
// the SIP code as EVENTS.md's table says. After a reconnection it ends the
// calls whose legs the engine no longer has.
package calltrack
