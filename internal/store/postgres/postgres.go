package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/migrate"
)

// Advisory lock keys. Advisory locks are per database, so two switchhook
// databases on one server do not share them.
const (
	// migrateLock is held while migrations are applied.
	migrateLock int64 = 0x73_68_6b_6d_69_67_72_01 // "shkmigr" 1
	// claimLock is held by each claim until it commits, so that the next
	// claim, from this node or another, counts the leases it took.
	claimLock int64 = 0x73_68_6b_63_6c_61_69_01 // "shkclai" 1
)

// chainLock is the first key of the advisory lock each statement that
// changes a chain (adds to it, completes or retries one of its deliveries)
// holds on the chain's call; the second key is hashtext(call_uuid). It
// keeps the chains' head flags right: without it, a completion and an
// insertion in the same chain, each reading the chain as it was before the
// other, could leave the chain without a head and its deliveries unclaimed.
const chainLock = 0x73686b63 // "shkc"

// lockCallsSQL takes the chain locks of the calls in $1 in the order of their
// keys, so that transactions locking overlapping sets do not deadlock. It
// must run as a statement of its own: a statement sees what was committed
// when it began, so the statements after it see what the previous holder of
// a lock committed.
var lockCallsSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, h)
	FROM (SELECT DISTINCT hashtext(c) AS h FROM unnest($1::text[]) AS c ORDER BY h) AS calls`, chainLock)

// lockDeliveryCallsSQL takes the chain locks of the calls of the deliveries
// whose IDs are in $1, as lockCallsSQL.
var lockDeliveryCallsSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, h)
	FROM (SELECT DISTINCT hashtext(call_uuid) AS h FROM deliveries WHERE id = ANY ($1::bigint[]) ORDER BY h) AS calls`, chainLock)

// hotPlans, run at the start of a transaction of the delivery path
// (recording events, claiming, completing), has its later statements reuse
// one plan per connection rather than be planned at each execution:
// planning them took more of the database's time than running them (for a
// batch of one event, recording it was planned in about 0.6 ms and run in
// about 0.15 ms). Those statements find rows by key, or through the partial
// indexes that hold the queue, so one plan fits every batch. A plan is kept
// from the moment it is made, so sequential scans are ruled out: a plan made
// while a table held a few pages would otherwise read the whole table once
// it has grown. Other statements are planned for the tables as they are
// (see Open).
const hotPlans = "set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)"

// hotPlansSQL is hotPlans as a statement of its own.
const hotPlansSQL = "SELECT " + hotPlans

// channel is the LISTEN/NOTIFY channel on which work is announced.
const channel = "switchhook_work"

// Store is a store.Store on a PostgreSQL database. Use Open to make one.
type Store struct {
	pool *pgxpool.Pool
	log  *slog.Logger

	// The listener feeding Notifications starts with its first call and
	// stops with Close.
	listenOnce sync.Once
	notify     chan struct{}
	stop       context.CancelFunc
	stopped    chan struct{}
	closeOnce  sync.Once
}

var _ store.Store = (*Store)(nil)

// Option changes how Open sets up the store.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets where the store logs what it does on its own (the
// listener losing its connection). Default: slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// Open connects to the database dsn names (postgres://… or the key=value
// form pgx accepts, including pool settings such as pool_max_conns) and
// checks that it answers. It does not change the schema: call Migrate
// before using the store.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if dsn == "" {
		return nil, errors.New("open postgres: the connection string is empty")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "switchhook"
	}
	// Two planner settings, unless the DSN sets them. The statement that
	// records a batch of events is estimated costly enough for JIT
	// compilation, which takes longer than running it many times over: the
	// store's statements are short, so JIT is off. And each execution is
	// planned for the tables as they are: a queue grows and shrinks by
	// orders of magnitude, and a generic plan made while deliveries was a
	// few pages (a sequential scan to find rows by ID) would be kept when
	// it holds a hundred thousand rows. The delivery path's statements are
	// the exception (see hotPlans).
	for key, value := range map[string]string{"jit": "off", "plan_cache_mode": "force_custom_plan"} {
		if _, ok := cfg.ConnConfig.RuntimeParams[key]; !ok {
			cfg.ConnConfig.RuntimeParams[key] = value
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool, log: o.log, notify: make(chan struct{}, 1)}, nil
}

// Close stops the listener and closes the connections. Leases held stay in
// the database until they end or this node's next ReleaseLeases.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Whether or not the listener ever started, none starts after this.
		s.listenOnce.Do(func() {})
		if s.stop != nil {
			s.stop()
			<-s.stopped
		}
		s.pool.Close()
	})
	return nil
}

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate applies the migrations the database lacks, all in one
// transaction. The transaction first takes an advisory lock, so that nodes
// starting at once apply them one after the other: the first applies them,
// the others find them applied.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var cur int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&cur); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	pending, err := migrate.Pending(ms, cur)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range pending {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version) VALUES ($1)", m.Version); err != nil {
			return fmt.Errorf("migrate: record %s: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// ts is t as a query argument: NULL for the zero time.
func ts(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// fromTS is the inverse of ts, in UTC.
func fromTS(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// text makes s fit a text column: PostgreSQL refuses invalid UTF-8 and NUL
// characters, which SQLite and Go strings allow. They become U+FFFD, as
// encoding/json turns invalid UTF-8 in the stored event's body, so that a
// caller name with a stray byte is recorded rather than refused forever.
func text(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// texts applies text to each of ss, in place.
func texts(ss []string) []string {
	for i, s := range ss {
		ss[i] = text(s)
	}
	return ss
}

// errNoRows reports whether err says a query found nothing.
func errNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// isUniqueViolation reports whether err is a unique constraint's refusal.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// oneRow turns a command that touched no row into ErrNotFound.
func oneRow(what string, tag pgconn.CommandTag, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
