package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

const endpointColumns = `id, url, description, events, profile, secrets, headers, timeout_ns, retry_schedule,
	max_in_flight, disabled, disabled_reason, from_config,
	circuit_state, paused_until, consecutive_failures, failing_since, created_at, updated_at`

type secretJSON struct {
	Value     string `json:"value"`
	ExpiresAt int64  `json:"expires_at,omitempty"`
}

// endpointRow is an endpoint as its columns hold it.
type endpointRow struct {
	id, url, description, events, profile, secrets, headers string
	timeout                                                 int64
	retrySchedule                                           string
	maxInFlight                                             int
	disabled                                                bool
	disabledReason                                          string
	fromConfig                                              bool
	circuitState                                            string
	pausedUntil                                             int64
	consecutiveFailures                                     int
	failingSince, createdAt, updatedAt                      int64
}

func (r *endpointRow) args() []any {
	return []any{r.id, r.url, r.description, r.events, r.profile, r.secrets, r.headers, r.timeout, r.retrySchedule,
		r.maxInFlight, r.disabled, r.disabledReason, r.fromConfig,
		r.circuitState, r.pausedUntil, r.consecutiveFailures, r.failingSince, r.createdAt, r.updatedAt}
}

func toRow(ep *store.Endpoint) (*endpointRow, error) {
	kinds := ep.Events
	if kinds == nil {
		kinds = []events.Kind{}
	}
	evs, err := json.Marshal(kinds)
	if err != nil {
		return nil, err
	}
	secrets := make([]secretJSON, len(ep.Secrets))
	for i, s := range ep.Secrets {
		secrets[i] = secretJSON{Value: s.Value, ExpiresAt: nanos(s.ExpiresAt)}
	}
	sec, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	headers := ep.Headers
	if headers == nil {
		headers = map[string]string{}
	}
	hdr, err := json.Marshal(headers)
	if err != nil {
		return nil, err
	}
	sched := make([]int64, len(ep.RetrySchedule))
	for i, d := range ep.RetrySchedule {
		sched[i] = int64(d)
	}
	rs, err := json.Marshal(sched)
	if err != nil {
		return nil, err
	}
	profile, _ := events.ParseProfile(string(ep.Profile)) // validated before
	state := ep.Circuit.State
	if state == "" {
		state = store.CircuitClosed
	}
	return &endpointRow{
		id: ep.ID, url: ep.URL, description: ep.Description, events: string(evs), profile: string(profile),
		secrets: string(sec), headers: string(hdr), timeout: int64(ep.Timeout), retrySchedule: string(rs),
		maxInFlight: ep.MaxInFlight, disabled: ep.Disabled, disabledReason: ep.DisabledReason, fromConfig: ep.FromConfig,
		circuitState: string(state), pausedUntil: nanos(ep.Circuit.PausedUntil),
		consecutiveFailures: ep.Circuit.ConsecutiveFailures, failingSince: nanos(ep.Circuit.FailingSince),
		createdAt: nanos(ep.CreatedAt), updatedAt: nanos(ep.UpdatedAt),
	}, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanEndpoint(sc scanner) (*store.Endpoint, error) {
	r, err := scanEndpointRow(sc)
	if err != nil {
		return nil, err
	}
	return r.endpoint()
}

func scanEndpointRow(sc scanner) (endpointRow, error) {
	var r endpointRow
	err := sc.Scan(&r.id, &r.url, &r.description, &r.events, &r.profile, &r.secrets, &r.headers, &r.timeout, &r.retrySchedule,
		&r.maxInFlight, &r.disabled, &r.disabledReason, &r.fromConfig,
		&r.circuitState, &r.pausedUntil, &r.consecutiveFailures, &r.failingSince, &r.createdAt, &r.updatedAt)
	return r, err
}

// endpoint decodes the row into a new Endpoint.
func (r *endpointRow) endpoint() (*store.Endpoint, error) {
	ep := &store.Endpoint{
		ID: r.id, URL: r.url, Description: r.description, Profile: events.Profile(r.profile),
		Timeout: time.Duration(r.timeout), MaxInFlight: r.maxInFlight,
		Disabled: r.disabled, DisabledReason: r.disabledReason, FromConfig: r.fromConfig,
		Circuit: store.Circuit{
			State: store.CircuitState(r.circuitState), PausedUntil: fromNanos(r.pausedUntil),
			ConsecutiveFailures: r.consecutiveFailures, FailingSince: fromNanos(r.failingSince),
		},
		CreatedAt: fromNanos(r.createdAt), UpdatedAt: fromNanos(r.updatedAt),
	}
	var err error
	if ep.Events, err = decodeKinds(r.events); err != nil {
		return nil, fmt.Errorf("endpoint %s: events: %w", r.id, err)
	}
	if ep.Secrets, err = decodeSecrets(r.secrets); err != nil {
		return nil, fmt.Errorf("endpoint %s: secrets: %w", r.id, err)
	}
	if err := json.Unmarshal([]byte(r.headers), &ep.Headers); err != nil {
		return nil, fmt.Errorf("endpoint %s: headers: %w", r.id, err)
	}
	if len(ep.Headers) == 0 {
		ep.Headers = nil
	}
	var sched []int64
	if err := json.Unmarshal([]byte(r.retrySchedule), &sched); err != nil {
		return nil, fmt.Errorf("endpoint %s: retry schedule: %w", r.id, err)
	}
	for _, d := range sched {
		ep.RetrySchedule = append(ep.RetrySchedule, time.Duration(d))
	}
	return ep, nil
}

func decodeKinds(s string) ([]events.Kind, error) {
	var kinds []events.Kind
	if err := json.Unmarshal([]byte(s), &kinds); err != nil {
		return nil, err
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	return kinds, nil
}

func decodeSecrets(s string) ([]store.Secret, error) {
	var js []secretJSON
	if err := json.Unmarshal([]byte(s), &js); err != nil {
		return nil, err
	}
	var out []store.Secret
	for _, j := range js {
		out = append(out, store.Secret{Value: j.Value, ExpiresAt: fromNanos(j.ExpiresAt)})
	}
	return out, nil
}

// CreateEndpoint stores a new endpoint. CreatedAt defaults to now and
// UpdatedAt to CreatedAt.
func (s *Store) CreateEndpoint(ctx context.Context, ep *store.Endpoint) error {
	defer s.endpoints.changed()
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	r, err := toRow(ep)
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.ID, err)
	}
	if r.createdAt == 0 {
		r.createdAt = time.Now().UnixNano()
	}
	if r.updatedAt == 0 {
		r.updatedAt = r.createdAt
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.ID, err)
	}
	defer tx.Rollback()
	var one int
	switch err := tx.QueryRowContext(ctx, "SELECT 1 FROM endpoints WHERE id = ?", ep.ID).Scan(&one); {
	case err == nil:
		return fmt.Errorf("create endpoint %s: an endpoint with this ID already exists", ep.ID)
	case !errNoRows(err):
		return fmt.Errorf("create endpoint %s: %w", ep.ID, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO endpoints ("+endpointColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", r.args()...); err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.ID, err)
	}
	return wrap("create endpoint "+ep.ID, tx.Commit())
}

// UpsertEndpoint creates the endpoint or replaces every field but ID,
// CreatedAt, Secrets and Circuit (Secrets too while the stored endpoint has
// none). UpdatedAt defaults to now.
func (s *Store) UpsertEndpoint(ctx context.Context, ep *store.Endpoint) error {
	defer s.endpoints.changed()
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("upsert endpoint: %w", err)
	}
	r, err := toRow(ep)
	if err != nil {
		return fmt.Errorf("upsert endpoint %s: %w", ep.ID, err)
	}
	now := time.Now().UnixNano()
	if r.updatedAt == 0 {
		r.updatedAt = now
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("upsert endpoint %s: %w", ep.ID, err)
	}
	defer tx.Rollback()
	var secrets string
	switch err := tx.QueryRowContext(ctx, "SELECT secrets FROM endpoints WHERE id = ?", ep.ID).Scan(&secrets); {
	case errNoRows(err):
		if r.createdAt == 0 {
			r.createdAt = now
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO endpoints ("+endpointColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", r.args()...)
		if err != nil {
			return fmt.Errorf("upsert endpoint %s: %w", ep.ID, err)
		}
	case err != nil:
		return fmt.Errorf("upsert endpoint %s: %w", ep.ID, err)
	default:
		kept, err := decodeSecrets(secrets)
		if err != nil {
			return fmt.Errorf("upsert endpoint %s: stored secrets: %w", ep.ID, err)
		}
		if len(kept) > 0 {
			r.secrets = secrets
		}
		_, err = tx.ExecContext(ctx, `UPDATE endpoints SET url = ?, description = ?, events = ?, profile = ?, secrets = ?,
			headers = ?, timeout_ns = ?, retry_schedule = ?, max_in_flight = ?, disabled = ?, disabled_reason = ?,
			from_config = ?, updated_at = ? WHERE id = ?`,
			r.url, r.description, r.events, r.profile, r.secrets, r.headers, r.timeout, r.retrySchedule,
			r.maxInFlight, r.disabled, r.disabledReason, r.fromConfig, r.updatedAt, r.id)
		if err != nil {
			return fmt.Errorf("upsert endpoint %s: %w", ep.ID, err)
		}
	}
	return wrap("upsert endpoint "+ep.ID, tx.Commit())
}

// GetEndpoint returns the endpoint id, or an error wrapping store.ErrNotFound.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*store.Endpoint, error) {
	ep, gen, ok := s.endpoints.get(id)
	if !ok {
		st, err := s.prepared(ctx)
		if err != nil {
			return nil, fmt.Errorf("get endpoint %s: %w", id, err)
		}
		r, err := scanEndpointRow(st.getEndpoint.QueryRowContext(ctx, id))
		if errNoRows(err) {
			return nil, fmt.Errorf("get endpoint %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("get endpoint %s: %w", id, err)
		}
		if ep, err = r.endpoint(); err != nil {
			return nil, fmt.Errorf("get endpoint %s: %w", id, err)
		}
		s.endpoints.put(ep, gen)
	}
	// The caller's own copy: the cached one is shared.
	c := *ep
	c.Events, c.Secrets, c.RetrySchedule = slices.Clone(ep.Events), slices.Clone(ep.Secrets), slices.Clone(ep.RetrySchedule)
	c.Headers = maps.Clone(ep.Headers)
	return &c, nil
}

// endpointCache keeps the endpoints GetEndpoint read, decoded (every test
// event reads its endpoint, and a read after a write finds the readers' page
// cache emptied). The file has one process and every change of an endpoint
// goes through this Store, which empties the cache once the change is
// committed.
type endpointCache struct {
	mu  sync.Mutex
	gen uint64 // counts the changes
	eps map[string]*store.Endpoint
}

// get returns the cached endpoint id, or the generation to put it under.
func (c *endpointCache) get(id string) (ep *store.Endpoint, gen uint64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ep, ok = c.eps[id]
	return ep, c.gen, ok
}

// put keeps ep unless an endpoint changed since gen, when ep may be older
// than the change.
func (c *endpointCache) put(ep *store.Endpoint, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.eps == nil {
		c.eps = map[string]*store.Endpoint{}
	}
	c.eps[ep.ID] = ep
}

// generation counts the changes of endpoints.
func (c *endpointCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// changed empties the cache; call it after a change is committed (or
// failed).
func (c *endpointCache) changed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.eps)
}

// ListEndpoints returns every endpoint, ordered by ID.
func (s *Store) ListEndpoints(ctx context.Context) ([]*store.Endpoint, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+endpointColumns+" FROM endpoints ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	defer rows.Close()
	var eps []*store.Endpoint
	for rows.Next() {
		ep, err := scanEndpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list endpoints: %w", err)
		}
		eps = append(eps, ep)
	}
	return eps, wrap("list endpoints", rows.Err())
}

// UpdateEndpoint replaces every field of the stored endpoint but CreatedAt.
// UpdatedAt defaults to now.
func (s *Store) UpdateEndpoint(ctx context.Context, ep *store.Endpoint) error {
	defer s.endpoints.changed()
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	r, err := toRow(ep)
	if err != nil {
		return fmt.Errorf("update endpoint %s: %w", ep.ID, err)
	}
	if r.updatedAt == 0 {
		r.updatedAt = time.Now().UnixNano()
	}
	res, err := s.w.ExecContext(ctx, `UPDATE endpoints SET url = ?, description = ?, events = ?, profile = ?, secrets = ?,
		headers = ?, timeout_ns = ?, retry_schedule = ?, max_in_flight = ?, disabled = ?, disabled_reason = ?,
		from_config = ?, circuit_state = ?, paused_until = ?, consecutive_failures = ?, failing_since = ?, updated_at = ?
		WHERE id = ?`,
		r.url, r.description, r.events, r.profile, r.secrets, r.headers, r.timeout, r.retrySchedule,
		r.maxInFlight, r.disabled, r.disabledReason, r.fromConfig,
		r.circuitState, r.pausedUntil, r.consecutiveFailures, r.failingSince, r.updatedAt, r.id)
	return oneRow("update endpoint "+ep.ID, res, err)
}

// DeleteEndpoint removes the endpoint and its pending deliveries; finished
// deliveries stay, as the record of what was sent.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	defer s.endpoints.changed()
	err := s.submit(ctx, func(ctx context.Context, tx *sql.Tx, g *group) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM endpoints WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM deliveries WHERE endpoint_id = ? AND status = 'pending'", id); err != nil {
			return fmt.Errorf("deliveries: %w", err)
		}
		// Events later in this transaction are not for it.
		g.subs.forget()
		// Its deliveries leave the queue in the order of the commits, so
		// that none of them, recorded in an earlier transaction, comes
		// back after.
		g.after = append(g.after, func() {
			for did, l := range s.leases {
				if l.endpoint == id {
					delete(s.leases, did)
				}
			}
			s.q.dropEndpoint(id)
		})
		return nil
	})
	return wrap("delete endpoint "+id, err)
}

// SetCircuit records an endpoint's circuit-breaker state.
func (s *Store) SetCircuit(ctx context.Context, endpointID string, c store.Circuit) error {
	defer s.endpoints.changed()
	if err := c.Validate(); err != nil {
		return fmt.Errorf("set circuit of %s: %w", endpointID, err)
	}
	if c.State == "" {
		c.State = store.CircuitClosed
	}
	res, err := s.w.ExecContext(ctx, `UPDATE endpoints SET circuit_state = ?, paused_until = ?, consecutive_failures = ?, failing_since = ?
		WHERE id = ?`, string(c.State), nanos(c.PausedUntil), c.ConsecutiveFailures, nanos(c.FailingSince), endpointID)
	return oneRow("set circuit of "+endpointID, res, err)
}

// DisableEndpoint disables an endpoint, saying why.
func (s *Store) DisableEndpoint(ctx context.Context, endpointID, reason string) error {
	defer s.endpoints.changed()
	res, err := s.w.ExecContext(ctx, "UPDATE endpoints SET disabled = 1, disabled_reason = ?, updated_at = ? WHERE id = ?",
		reason, time.Now().UnixNano(), endpointID)
	return oneRow("disable endpoint "+endpointID, res, err)
}

// oneRow turns an UPDATE or DELETE that touched no row into ErrNotFound.
func oneRow(what string, res sql.Result, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}
