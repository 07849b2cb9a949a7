package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchhook/switchhook/internal/store/postgres"
)

// DefaultServer is the server tests use when SWITCHHOOK_TEST_POSTGRES is
// not set: a local PostgreSQL with trust authentication.
const DefaultServer = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Server returns the DSN of the test server: SWITCHHOOK_TEST_POSTGRES, or
// DefaultServer.
func Server() string {
	if dsn := os.Getenv("SWITCHHOOK_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return DefaultServer
}

// Reachable reports why the test server cannot be used, or nil.
func Reachable(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, Server())
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Required reports whether tests must fail, not skip, without PostgreSQL:
// SWITCHHOOK_REQUIRE_POSTGRES=1, as CI sets it.
func Required() bool { return os.Getenv("SWITCHHOOK_REQUIRE_POSTGRES") == "1" }

// DSN creates a database of its own for t (switchhook_test_ and a random
// suffix) on the test server and returns its DSN; the database is dropped
// when t ends, after the cleanups registered later (closing a store on it)
// have run. If the server cannot be reached, t is skipped with a message
// saying so, unless SWITCHHOOK_REQUIRE_POSTGRES=1, when it fails instead.
func DSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := Reachable(ctx); err != nil {
		unreachable(t, Server(), err)
	}
	dsn, drop, err := CreateDatabase(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return dsn
}

// CreateDatabase creates a database (switchhook_test_ and a random suffix)
// on the test server and returns its DSN and a function that drops it,
// ending the connections still open to it.
func CreateDatabase(ctx context.Context) (dsn string, drop func() error, err error) {
	server := Server()
	admin, err := pgx.Connect(ctx, server)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w", redact(server), err)
	}
	defer admin.Close(context.Background())
	name := randomName()
	if dsn, err = withDatabase(server, name); err != nil {
		return "", nil, err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, server)
		if err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return dsn, drop, nil
}

// Schema creates a schema of its own for t (switchhook_test_ and a random
// suffix) in the database dsn names, typically one DSN made for a whole
// suite, and returns dsn with search_path set to it; the schema is dropped
// when t ends. A schema is made in milliseconds where a database takes a
// few hundred, which counts in a suite of many small tests. Schemas share
// their database's advisory locks and notification channels, so tests on
// schemas of one database should not run in parallel.
func Schema(t testing.TB, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		unreachable(t, dsn, err)
	}
	defer conn.Close(context.Background())
	name := randomName()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+name); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+name+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", name, err)
		}
	})
	out, err := withParam(dsn, "search_path", name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return out
}

// randomName is switchhook_test_ and 12 random hex digits.
func randomName() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "switchhook_test_" + hex.EncodeToString(b)
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(dsn, name string) (string, error) {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return "", fmt.Errorf("parse SWITCHHOOK_TEST_POSTGRES: %w", err)
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String(), nil
	}
	// The key=value form: a later key overrides an earlier one.
	return dsn + " dbname=" + name, nil
}

// withParam returns dsn with a run-time parameter set.
func withParam(dsn, key, value string) (string, error) {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		return "", fmt.Errorf("parse %s: %w", redact(dsn), err)
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " " + key + "=" + value, nil
}

// unreachable skips t, or fails it when PostgreSQL is required.
func unreachable(t testing.TB, server string, err error) {
	t.Helper()
	if Required() {
		t.Fatalf("pgtest: PostgreSQL at %s is required (SWITCHHOOK_REQUIRE_POSTGRES=1) but unreachable: %v", redact(server), err)
	}
	t.Skipf("\n*** SKIPPED: no PostgreSQL at %s (%v).\n*** Start one or point SWITCHHOOK_TEST_POSTGRES at one; set SWITCHHOOK_REQUIRE_POSTGRES=1 to fail instead.", redact(server), err)
}

// redact hides a password in a URL-form DSN.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// NewStore opens a migrated store on a database of its own, closed when t
// ends.
func NewStore(t testing.TB, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	dsn := DSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := postgres.Open(ctx, dsn, opts...)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return st
}
