// Package pbx is switchhook's built-in PBX: a SIP registrar and a
// back-to-back user agent (B2BUA) that takes calls from extensions and from
// carriers' gateways and routes them, by the dialplan, to extensions, ring
// groups, IVRs, or out through a gateway. A PBX is an events.Source: it
// emits each call's events, in order, from CALL_ROUTED to exactly one
// CALL_HANGUP.
//
// # One owner per call
//
// A call (call.go) is owned by one goroutine, call.run, from the caller's
// INVITE to its end; it runs on the INVITE's handler goroutine. Only the
// owner reads or changes the call and only it emits the call's events,
// holding no lock. Everything else reaches it as a typed message in its
// inbox: requests of the call's dialogs (BYE, re-INVITE, UPDATE, INFO; the
// SIP handler waits for the owner's answer), callee INVITE responses from
// the dialling goroutines (msgDial), DTMF from the relay (msgDTMF, posted
// without waiting and dropped, counted, when the inbox is full, so media
// never waits on signalling or on the store), timers (msgTimer), a prompt
// that finished (msgPlayed), the caller's CANCEL (msgCallerGone), the
// answer to a request relayed to the other party (msgRelayed) and the PBX
// stopping (msgShutdown). Whatever waits on the network (a relayed
// re-INVITE, answering the caller, a BYE) runs on a goroutine of its own
// that posts its outcome back. A call ends one way: terminate.
//
// # States
//
// The call's state (states.go) is one of routing, forking, early,
// connected, appAnswered, ending and ended, each with one handler method: a
// switch over the message types, returning the next state, in the style of
// sipgo's transaction state machines. What no handler treats specially
// goes to anyState. To add a state (e.g. transferring):
//
//  1. add its constant and name in states.go;
//  2. write its handler, func (c *call) transferring(m msg) state, with a
//     case for each message it reacts to, ending with c.anyState(m);
//  3. add it to call.dispatch, and return it from where the call enters it
//     (for a REFER: from inDialog);
//  4. decide what msgShutdown and a BYE from either party do in it
//     (usually terminate with SYSTEM_SHUTDOWN or NORMAL_CLEARING).
//
// New inputs (a REFER, a NOTIFY, an API action) are new message types:
// declare the type beside the others in call.go, post it with call.post
// (or call.deliver for a request of the call's dialogs, routed in
// sip.go), and handle it in the states where it means something.
//
// # Legs and the bridge
//
// A Leg (leg.go) is one party: the caller's dialog or a callee's (both a
// dialogLeg: they hold, re-INVITE, take INFO and BYE alike), or an appLeg,
// the PBX itself playing media (an IVR now). Each has a LegState whose text
// the API shows. The call's identity (call_uuid, caller, direction) is
// apart from its bridge (bridge.go), which joins two leg ends through the
// RTP relay with the hold state of each: side A is the caller, side B whoever
// the caller is connected to. A transfer replaces side B (bridge.join with
// the new leg once it answers), a pickup joins a ringing call's caller to
// the picker's leg, a queue joins the caller to an app leg playing music
// until an agent's leg answers. To add a leg kind, implement Leg (embed
// legBase), give it a side and a hangup, and join it to the bridge; an
// offer from the party facing a leg that is not a dialogLeg is answered by
// the PBX as it stands (offerFrom).
//
// # Routes as steps
//
// A dialplan route becomes a list of steps (route.go) the call walks: a
// ringStep rings extensions' contacts at once or a gateway, for a timeout
// and within a ring group's deadline; an ivrStep answers with an IVR whose
// choice replaces the steps left. A ring step that fails leaves its failure
// (call.failure) to the steps after it, so a forward-on-busy step reads it
// and rings elsewhere; when no step is left the call ends with that
// failure. To add a step kind (forward, queue), declare its type with
// isStep, make it in startRoute, and start it in walk, returning the state
// the call waits in.
//
// # Calls that move
//
// Forwarding is route steps (forward.go): an unconditional forward moves the
// call at once, a forward on busy, no answer or unavailable follows the
// extension's ring step and reads its failure; a move sets the call's
// diversion, which the CALL_RINGING and CALL_ANSWER after it carry, and
// grows its path, which cuts loops. A pickup (pickup.go) is a picker's
// INVITE handed to a ringing call's owner, which joins it at side B. A
// blind transfer (transfer.go) takes the transferor out of side B and walks
// the target's route, the caller hearing ringback; an attended one
// (attended.go) asks the consultation call's owner for its callee, which
// moves with its dialog to this call (moveLeg), and the consultation call
// ends; an INVITE with Replaces puts its phone in the place of the callee
// it names. A transfer by the caller (callertransfer.go) ends the caller's
// call and starts a new one of the same session, whose caller is the party
// who stayed. A call placed by an extension that holds a call joins that
// call's session (consult.go).
//
// # Queues
//
// A queue is a route step (queue.go): the call joins the queue manager
// (internal/queue), which owns the waiting callers and the agents' states,
// and waits in stateQueued, the caller answered by an app leg playing the
// queue's music or hearing ringback. The manager's offers arrive as
// messages; the owner rings the agents offered (diversion_reason queue),
// reports each one's outcome on the call's ticket, and the first agent to
// answer takes side B. max_wait moves the call on with a diversion
// (queue_overflow) or ends it; the call's queue stay is on every event, and
// its end (terminate, or the agent transferring it away) frees the agent
// into its wrapup.
//
// # Libraries
//
// SIP transactions and dialogs are sipgo's. The legs use sipgo's dialog
// sessions rather than diago's, because a diago session terminates the media
// of its leg and answers re-INVITEs and INFO itself (INFO DTMF with 406),
// whereas a B2BUA relays offers, answers and INFO between its legs; diago's
// media package decodes the RFC 4733 events the relay sees, and packetizes
// the prompts the PBX plays.
package pbx
