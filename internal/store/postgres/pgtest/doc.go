// Package pgtest gives tests a PostgreSQL database of their own, on the
// server that SWITCHHOOK_TEST_POSTGRES names, so that any package can run its
// tests against the PostgreSQL store as well as SQLite.
package pgtest
