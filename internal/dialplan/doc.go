// Package dialplan decides where a dialled number goes: to an extension, a
// ring group (its members all at once or one after another), an IVR (which
// answers and routes by a digit), or, for numbers the PBX does not serve,
// out through a gateway by the first outbound route whose pattern matches,
// with the number rewritten. Calls arriving from a gateway are routed by the
// number they dialled (DID). A number that matches nothing is not routed,
// and the PBX refuses the call without emitting any event. It also holds the
// rules of calls that move, as pure functions the PBX asks: whether an
// extension's forwarding can work, when a forwarded call loops, which
// ringing call a pickup code takes, and which session a consultation call
// joins.
package dialplan
