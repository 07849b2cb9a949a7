// Package queue is the call queues' agent allocator. A Manager holds, in one
// goroutine, every queue's waiting callers (first come, first served) and
// every agent's state (idle, ringing, on a call, in wrapup, paused,
// unregistered), picks the agents to offer each caller by the queue's
// strategy, offers an agent one call at a time across all its queues, and
// times each caller's max_wait and each agent's wrapup. It owns no call: the
// PBX's call core joins a caller with Join, rings the agents the Manager
// offers it through the Caller interface, and reports back on the Ticket
// (agent answered or not, caller gone). Pauses are written to a Pauses store
// before they take effect, so they survive restarts. Reload changes the
// queues while callers wait: changes apply from the next offer, and a queue
// removed serves the callers it has before it goes.
package queue
