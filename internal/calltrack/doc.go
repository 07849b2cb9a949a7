// Package calltrack turns the legs (channels) of an outside PBX engine into
// switchhook's seven call events. A connector maps each engine event onto a
// step of a Tracker (a leg starts a call or joins one, rings, answers, sends
// a digit, holds, ends, a call enters a queue or is transferred) and keeps
// what only its engine knows, such as how legs are related and why they
// ended. The Tracker keeps the calls, passes every event through the
// rulebook (package callrules) and applies what EVENTS.md says for every
// engine: the engine's answer of the caller's own leg counted only when the
// engine itself is the destination (an IVR, a queue's music), held while
// either party holds, the queue stay and the diversion of agents and
// transfer targets, a consultation call in its held call's session, and one
// CALL_HANGUP when a routed call's last leg is gone. It takes up the calls
// a previous run left open (Resume) and, at each connection, reconciles
// its calls with the engine's channel list: missed rings and answers,
// channels met mid-call adopted, calls that ended unseen hung up as Gap
// says.
package calltrack
