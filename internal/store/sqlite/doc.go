// Package sqlite implements store.Store on a SQLite database file, through
// the pure-Go modernc.org/sqlite driver, for a switchhook that runs as one
// process. Writes go through a single connection, since SQLite admits one
// writer at a time anyway, while a small pool of read-only connections serves
// lists and claims concurrently under WAL. Because the file belongs to one
// process, delivery leases live in the Store's memory rather than in the
// database: claiming is a read, and only recording an attempt writes. The
// schema is versioned by embedded migrations that Migrate applies.
package sqlite
