// Package sqlite implements store.Store on a SQLite database file, through
// the pure-Go modernc.org/sqlite driver, for a switchhook that runs as one
// process. Because the file belongs to one process, the queue of pending
// deliveries and their leases live in the Store's memory (queue.go), loaded
// from the file when it is opened: claiming reads nothing but events not
// kept in memory, and the file holds what must survive a crash, the events,
// the deliveries and their attempts. Writes go through one connection, on
// which one goroutine runs the events recorded and the outcomes of
// deliveries in shared transactions (writer.go); checkpoints run on a
// connection of their own; a small pool of read-only connections serves the
// API under WAL. The schema is versioned by embedded migrations that
// Migrate applies.
package sqlite
