package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/migrate"
)

// Store is a store.Store on one SQLite file. Use Open to make one.
type Store struct {
	w *sql.DB // one connection: every write goes through it
	k *sql.DB // one connection: checkpoints
	r *sql.DB // read-only connections
	// c is the delivery engine's own read-only connection, for claims:
	// API reads queued on r (a test event reads its endpoint) never delay
	// them.
	c    *sql.DB
	lock *os.File // keeps other processes out; nil where unsupported

	prepMu sync.Mutex
	st     *statements // nil until the first call that needs them

	// mu guards the queue of pending deliveries, the leases and the
	// endpoints' claim state.
	mu     sync.Mutex
	q      queue
	leases map[int64]*lease
	eps    []epState // nil: to be read
	epsGen uint64    // the endpoints' generation eps were read at

	endpoints endpointCache
	look      lookups

	// The shared writer of InsertEvents and CompleteAttempts (writer.go).
	writes      chan *write
	startWriter sync.Once
	closing     chan struct{}
	closeOnce   sync.Once
	writerDone  chan struct{}
	subs        subscriptions  // the writer's (writer.go)
	commits     atomic.Uint64  // transactions the writer committed
	background  sync.WaitGroup // the checkpointer
}

var _ store.Store = (*Store)(nil)

// Option changes how Open sets up the store.
type Option func(*options)

type options struct {
	readers  int
	fullSync bool
}

// WithReaders sets how many read-only connections the store keeps (default 4).
func WithReaders(n int) Option {
	return func(o *options) { o.readers = n }
}

// WithFullSync makes every commit wait for the disk (PRAGMA synchronous=FULL),
// so that a power loss or an operating-system crash does not lose the last
// committed transactions either. It costs one fsync per transaction.
func WithFullSync() Option {
	return func(o *options) { o.fullSync = true }
}

// errInUse says another Store, in this process or another, has the file.
var errInUse = errors.New("the database is in use by another switchhook (one process per SQLite file; use PostgreSQL to run several)")

// Open opens (creating if needed, with its directory) the SQLite database at
// path. It does not change the schema: call Migrate before using the store.
//
// Only one Store may have the file open at a time, since leases are kept in
// memory: two processes would send the same deliveries. Open refuses a file
// another Store holds; the hold ends with Close or with the process.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{readers: 4}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errors.New("open sqlite: the database path is empty")
	}
	if path == ":memory:" || strings.Contains(path, "mode=memory") {
		return nil, fmt.Errorf("open sqlite %s: an in-memory database cannot be shared by the writer and the readers; give a file path", path)
	}
	if o.readers < 1 {
		return nil, fmt.Errorf("open sqlite %s: %d readers: want at least 1", path, o.readers)
	}

	// In WAL mode synchronous=NORMAL writes each commit to the WAL file
	// before COMMIT returns and leaves the fsync to checkpoints: the data is
	// then in the operating system's hands, so killing the process (kill -9,
	// a crash, an OOM kill) never loses a committed transaction, and the file
	// is never corrupted. Only a power loss or a kernel crash can roll back
	// the last transactions. FULL would close that gap at the price of one
	// fsync per commit, which on common disks caps the store at a few hundred
	// transactions per second; it is an option for those who need it.
	// The directory is made as the data dir is, readable by switchhook
	// alone; without it the first error would be about the lock file.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite %s: create its directory: %w", path, err)
	}
	lk, err := lock(path)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	st, err := open(ctx, path, o)
	if err != nil {
		if lk != nil {
			lk.Close()
		}
		return nil, err
	}
	st.lock = lk
	return st, nil
}

func open(ctx context.Context, path string, o options) (*Store, error) {
	syncMode := "NORMAL"
	if o.fullSync {
		syncMode = "FULL"
	}
	w, err := sql.Open("sqlite", dsn(path, false, syncMode))
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: journal mode is %q, not wal (is the file on a network file system?)", path, mode)
	}

	r, err := sql.Open("sqlite", dsn(path, true, syncMode))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	r.SetMaxOpenConns(o.readers)
	r.SetMaxIdleConns(o.readers)
	r.SetConnMaxLifetime(0)
	r.SetConnMaxIdleTime(0)
	c, err := sql.Open("sqlite", dsn(path, true, syncMode))
	if err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	c.SetConnMaxLifetime(0)
	c.SetConnMaxIdleTime(0)
	k, err := sql.Open("sqlite", dsn(path, false, syncMode))
	if err != nil {
		w.Close()
		r.Close()
		c.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	k.SetMaxOpenConns(1)
	k.SetMaxIdleConns(1)
	k.SetConnMaxLifetime(0)
	k.SetConnMaxIdleTime(0)
	for _, db := range []*sql.DB{r, c, k} {
		if err := db.PingContext(ctx); err != nil {
			w.Close()
			r.Close()
			c.Close()
			k.Close()
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	return &Store{
		w: w, k: k, r: r, c: c, q: newQueue(), leases: make(map[int64]*lease),
		writes: make(chan *write, maxGroup), closing: make(chan struct{}), writerDone: make(chan struct{}),
	}, nil
}

// dsn is the driver's connection string for path: a SQLite URI whose query
// carries the pragmas the driver runs on each new connection.
func dsn(path string, reader bool, syncMode string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+syncMode+")")
	if reader {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// Keep the WAL file from staying large after a burst.
		q.Add("_pragma", "journal_size_limit(67108864)")
		q.Add("_pragma", "cache_size(-16000)")
		// Statement journals (the undo of one statement inside a
		// transaction) stay in memory rather than in a temporary file, a
		// write system call per page.
		q.Add("_pragma", "temp_store(MEMORY)")
		// Checkpoints run on a connection of their own (checkpointer);
		// the writer checkpoints only if the WAL grew past 20,000 pages
		// (80 MiB), when writes came too fast for the WAL to be reset
		// between them.
		q.Add("_pragma", "wal_autocheckpoint(20000)")
		// Take the write lock at BEGIN, so that a transaction never fails
		// half-way on upgrading a read lock.
		q.Set("_txlock", "immediate")
	}
	p := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + p + "?" + q.Encode()
}

// Close closes the database connections. Leases held in memory are dropped:
// their deliveries are claimable again when the file is next opened.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.closing) })
	s.startWriter.Do(func() { close(s.writerDone) }) // no writer will start
	<-s.writerDone
	s.background.Wait()
	s.prepMu.Lock()
	if s.st != nil {
		s.st.close()
		s.st = nil
	}
	s.prepMu.Unlock()
	err := errors.Join(s.w.Close(), s.k.Close(), s.r.Close(), s.c.Close())
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
	}
	return err
}

// Notifications returns nil: the file is used by this process only, so no
// other process creates work.
func (s *Store) Notifications() <-chan struct{} { return nil }

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the migrations the database lacks, all in one
// transaction. BEGIN IMMEDIATE makes concurrent calls, from this process or
// another, wait for each other.
func (s *Store) Migrate(ctx context.Context) error {
	defer s.endpoints.changed()
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	pending, err := migrate.Pending(ms, cur)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", m.Version, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the version of the last migration applied, 0 if none.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").Scan(&n)
	if err != nil || n == 0 {
		return 0, wrap("schema version", err)
	}
	var v int
	if err := s.r.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&v); err != nil {
		return 0, wrap("schema version", err)
	}
	return v, nil
}

// wrap prefixes err with what was being done, or returns nil.
func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// nanos stores t as Unix nanoseconds, the zero time as 0.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
