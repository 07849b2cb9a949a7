// Package events defines the call event: the seven kinds of the customer's
// webhook specification, the fields each carries, and how an event renders as
// a webhook body in the standard and extended payload profiles. It also names
// the two boundaries a call event crosses: a Source (the built-in PBX, a
// FreeSWITCH or Asterisk connector) hands events to a Sink, which records them.
package events
