// Package migrate reads the versioned schema migrations a store embeds and
// decides which of them a database lacks. It holds the logic every store
// shares: migration files named NNNN_what.sql, numbered 1, 2, 3… without a
// gap, applied in that order, and a database whose schema is newer than the
// program refused rather than used. Each store keeps its own SQL, its
// schema_version table and the locking that makes concurrent migrations
// wait for each other, since those differ between databases.
package migrate
