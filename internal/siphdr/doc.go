// Package siphdr reads and writes the SIP headers and bodies of calls that
// move: the Refer-To of a REFER (RFC 3515) with a Replaces embedded in it
// for an attended transfer, the Replaces header itself (RFC 3891) and which
// dialog it names, the message/sipfrag bodies of the NOTIFYs that report a
// transfer's progress (RFC 3515, RFC 3420), and the Diversion header of a
// call forwarded out through a gateway (RFC 5806). Everything here is a pure
// function of strings, so that each rule of those RFCs is tested, and fuzzed,
// without a network. sipgo parses the URIs; it has no Replaces, sipfrag or
// Diversion grammar, and its Refer-To keeps a Replaces percent-encoded.
package siphdr
