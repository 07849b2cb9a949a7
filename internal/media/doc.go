// Package media anchors a call's audio in the PBX: it reads the SDP of each
// side (pion/sdp), keeps the codecs the PBX relays (PCMU, PCMA and
// telephone-event), rewrites the connection address and port to the PBX's own
// RTP sockets, and relays RTP and RTCP packets between the two sides without
// transcoding. While relaying it watches RFC 4733 telephone-event packets and
// reports each DTMF digit once, with its duration, so the PBX can see input
// and hold from either side. It also reads SIP INFO DTMF bodies.
package media
