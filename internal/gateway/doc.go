// Package gateway is the PBX's side of a SIP trunk to a carrier: where calls
// out through it are sent and with which digest credentials, whether a
// request comes from it (calls from a carrier are trusted by its address,
// not challenged), and, when the carrier wants it, the registration that
// keeps the trunk reachable: REGISTER with digest auth, refreshed before it
// expires, retried with backoff when it fails, withdrawn on shutdown, and
// its state visible as a Status.
package gateway
