// Package query builds the parts of SQL statements that the stores assemble
// from a filter: the WHERE clause with its arguments, and the LIMIT. The
// logic is the same on every database but for how placeholders are written
// (? in SQLite, $1, $2… in PostgreSQL), which Where is told.
package query
