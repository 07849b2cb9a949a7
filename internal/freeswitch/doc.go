// Package freeswitch is a call source that watches a FreeSWITCH server over
// its inbound event socket (mod_event_socket) and turns its channel events
// into switchhook's seven call events. A Connector authenticates, subscribes
// to the channel events it maps, reconnects with backoff when FreeSWITCH
// restarts or the network drops, and on every connection reconciles the
// calls it holds open (those of a previous run of switchhook too) with
// FreeSWITCH's status and channel list: a call still up gets what it
// missed, one that ended while it was away its one CALL_HANGUP, a channel
// never seen is adopted. Causes come from the leg that decided the call
// (originate_disposition), SIP codes from what FreeSWITCH says it sent;
// mod_callcenter and mod_fifo are queues, sofia's REFER a transfer (blind, or
// attended with Replaces), and so is att_xfer. A reader goroutine only
// reads, so FreeSWITCH never finds this client slow.
//
// The event-socket framing is written here rather than taken from a Go ESL
// library: the maintained one (percipia/eslgo) hands each event to its
// listeners on a new goroutine, which loses the per-call order this product
// promises, and it reads a frame of any announced length. The protocol is
// small (a header block, an optional Content-Length body), and owning it lets
// a garbage or oversized frame reset the connection with a clear log line.
package freeswitch
