// Package forwarding keeps each extension's call forwarding: what the
// config file declares, overridden by what the API sets at run time, which
// the store keeps across restarts (and shares between the nodes of one
// PostgreSQL store). The PBX asks it, at each call to an extension, where
// the call goes on busy, no answer, unavailable or unconditionally; the API
// reads and changes it. A forwarding is checked against the dialplan before
// it is kept, so that a number nobody can reach is refused when it is set
// rather than when a caller meets it.
package forwarding
