// Package conformance is the one scenario suite every call source passes,
// the way River runs one driver suite against every database: a table of
// calls (a callee that holds and sends a digit, the caller's digits and
// hold, an IVR putting the caller through, a ring group, blind and attended
// transfers by either party, queues with music and with ringback, busy, a
// cancel, no answer, an engine restart, a switchhook restart and a
// reconnection in the middle of a call) and the events each must give,
// field by field, whatever saw the call. The built-in PBX plays them
// through SIP against the real process (package e2e), the FreeSWITCH and
// Asterisk connectors replay what real engines sent for the same calls
// through their wire-exact stand-ins (the calls of which no recording
// exists, transfers and mod_fifo, as event sequences derived from the
// engines' source). A source that cannot play a scenario says so and is
// skipped; an engine's other way of making the same call (a transfer an
// ARI application carries out, a mod_fifo queue) is checked against the
// same scenario by Compare. Where an engine's own words differ (the SIP
// status a no-answer ends with, the number the recording dialled), the
// scenario names a placeholder that each source fills with what its engine
// said (or what its recording did: who hung up, the queue's name).
package conformance
