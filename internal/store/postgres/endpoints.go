package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
)

const endpointColumns = `id, url, description, events, profile, secrets, headers, timeout_ns, retry_schedule_ns,
	max_in_flight, disabled, disabled_reason, from_config,
	circuit_state, paused_until, consecutive_failures, failing_since, created_at, updated_at`

// endpointValues are the placeholders of endpointColumns, in order.
const endpointValues = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19`

type secretJSON struct {
	Value     string     `json:"value"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// endpointArgs are ep's column values in the order of endpointColumns.
// CreatedAt and UpdatedAt default to now.
func endpointArgs(ep *store.Endpoint, now time.Time) []any {
	kinds := make([]string, len(ep.Events))
	for i, k := range ep.Events {
		kinds[i] = string(k)
	}
	secrets := make([]secretJSON, len(ep.Secrets))
	for i, s := range ep.Secrets {
		secrets[i] = secretJSON{Value: s.Value}
		if !s.ExpiresAt.IsZero() {
			secrets[i].ExpiresAt = &s.ExpiresAt
		}
	}
	headers := map[string]string{}
	for k, v := range ep.Headers {
		headers[text(k)] = text(v)
	}
	sched := make([]int64, len(ep.RetrySchedule))
	for i, d := range ep.RetrySchedule {
		sched[i] = int64(d)
	}
	profile, _ := events.ParseProfile(string(ep.Profile)) // validated before
	state := ep.Circuit.State
	if state == "" {
		state = store.CircuitClosed
	}
	created, updated := ep.CreatedAt, ep.UpdatedAt
	if created.IsZero() {
		created = now
	}
	if updated.IsZero() {
		updated = now
	}
	return []any{
		text(ep.ID), text(ep.URL), text(ep.Description), kinds, string(profile), secrets, headers, int64(ep.Timeout), sched,
		ep.MaxInFlight, ep.Disabled, text(ep.DisabledReason), ep.FromConfig,
		string(state), ts(ep.Circuit.PausedUntil), ep.Circuit.ConsecutiveFailures, ts(ep.Circuit.FailingSince), created, updated,
	}
}

func scanEndpoint(row pgx.Row) (*store.Endpoint, error) {
	var (
		ep               store.Endpoint
		kinds            []string
		profile, state   string
		secrets          []secretJSON
		headers          map[string]string
		timeout          int64
		sched            []int64
		paused, failing  pgtype.Timestamptz
		created, updated time.Time
	)
	if err := row.Scan(&ep.ID, &ep.URL, &ep.Description, &kinds, &profile, &secrets, &headers, &timeout, &sched,
		&ep.MaxInFlight, &ep.Disabled, &ep.DisabledReason, &ep.FromConfig,
		&state, &paused, &ep.Circuit.ConsecutiveFailures, &failing, &created, &updated); err != nil {
		return nil, err
	}
	for _, k := range kinds {
		ep.Events = append(ep.Events, events.Kind(k))
	}
	ep.Profile = events.Profile(profile)
	for _, s := range secrets {
		sec := store.Secret{Value: s.Value}
		if s.ExpiresAt != nil {
			sec.ExpiresAt = s.ExpiresAt.UTC()
		}
		ep.Secrets = append(ep.Secrets, sec)
	}
	if len(headers) > 0 {
		ep.Headers = headers
	}
	ep.Timeout = time.Duration(timeout)
	for _, d := range sched {
		ep.RetrySchedule = append(ep.RetrySchedule, time.Duration(d))
	}
	ep.Circuit.State = store.CircuitState(state)
	ep.Circuit.PausedUntil, ep.Circuit.FailingSince = fromTS(paused), fromTS(failing)
	ep.CreatedAt, ep.UpdatedAt = created.UTC(), updated.UTC()
	return &ep, nil
}

// CreateEndpoint stores a new endpoint. CreatedAt defaults to now and
// UpdatedAt to CreatedAt.
func (s *Store) CreateEndpoint(ctx context.Context, ep *store.Endpoint) error {
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	now := time.Now()
	if !ep.CreatedAt.IsZero() {
		now = ep.CreatedAt
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO endpoints ("+endpointColumns+") VALUES ("+endpointValues+")", endpointArgs(ep, now)...)
	if isUniqueViolation(err) {
		return fmt.Errorf("create endpoint %s: an endpoint with this ID already exists", ep.ID)
	}
	if err != nil {
		return fmt.Errorf("create endpoint %s: %w", ep.ID, err)
	}
	return nil
}

// UpsertEndpoint creates the endpoint or replaces every field but ID,
// CreatedAt, Secrets and Circuit (Secrets too while the stored endpoint has
// none), in one statement, so that nodes starting at once with the same
// config agree on one endpoint. UpdatedAt defaults to now.
func (s *Store) UpsertEndpoint(ctx context.Context, ep *store.Endpoint) error {
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("upsert endpoint: %w", err)
	}
	_, err := s.pool.Exec(ctx, "INSERT INTO endpoints ("+endpointColumns+") VALUES ("+endpointValues+`)
		ON CONFLICT (id) DO UPDATE SET
			url = excluded.url, description = excluded.description, events = excluded.events,
			profile = excluded.profile,
			secrets = CASE WHEN jsonb_array_length(endpoints.secrets) = 0 THEN excluded.secrets ELSE endpoints.secrets END,
			headers = excluded.headers, timeout_ns = excluded.timeout_ns, retry_schedule_ns = excluded.retry_schedule_ns,
			max_in_flight = excluded.max_in_flight, disabled = excluded.disabled,
			disabled_reason = excluded.disabled_reason, from_config = excluded.from_config,
			updated_at = excluded.updated_at`, endpointArgs(ep, time.Now())...)
	if err != nil {
		return fmt.Errorf("upsert endpoint %s: %w", ep.ID, err)
	}
	return nil
}

// GetEndpoint returns the endpoint id, or an error wrapping store.ErrNotFound.
func (s *Store) GetEndpoint(ctx context.Context, id string) (*store.Endpoint, error) {
	ep, err := scanEndpoint(s.pool.QueryRow(ctx, "SELECT "+endpointColumns+" FROM endpoints WHERE id = $1", text(id)))
	if errNoRows(err) {
		return nil, fmt.Errorf("get endpoint %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	return ep, nil
}

// ListEndpoints returns every endpoint, ordered by ID.
func (s *Store) ListEndpoints(ctx context.Context) ([]*store.Endpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+endpointColumns+" FROM endpoints ORDER BY id COLLATE \"C\"")
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	eps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.Endpoint, error) { return scanEndpoint(row) })
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return eps, nil
}

// UpdateEndpoint replaces every field of the stored endpoint but CreatedAt.
// UpdatedAt defaults to now.
func (s *Store) UpdateEndpoint(ctx context.Context, ep *store.Endpoint) error {
	if err := ep.Validate(); err != nil {
		return fmt.Errorf("update endpoint: %w", err)
	}
	args := endpointArgs(ep, time.Now())
	args = append(args[:17], args[18]) // all but created_at
	tag, err := s.pool.Exec(ctx, `UPDATE endpoints SET url = $2, description = $3, events = $4, profile = $5, secrets = $6,
		headers = $7, timeout_ns = $8, retry_schedule_ns = $9, max_in_flight = $10, disabled = $11, disabled_reason = $12,
		from_config = $13, circuit_state = $14, paused_until = $15, consecutive_failures = $16, failing_since = $17,
		updated_at = $18
		WHERE id = $1`, args...)
	return oneRow("update endpoint "+ep.ID, tag, err)
}

// DeleteEndpoint removes the endpoint and its pending deliveries; finished
// deliveries stay, as the record of what was sent. Both deletes run in one
// transaction, the endpoint's first, so that a recorder committing events
// meanwhile either created deliveries that the second delete sees, or
// found the endpoint gone.
func (s *Store) DeleteEndpoint(ctx context.Context, id string) error {
	b := &pgx.Batch{}
	b.Queue("DELETE FROM endpoints WHERE id = $1", text(id))
	b.Queue("DELETE FROM deliveries WHERE endpoint_id = $1 AND status = 'pending'", text(id))
	res := s.pool.SendBatch(ctx, b)
	tag, err := res.Exec()
	if err := oneRow("delete endpoint "+id, tag, err); err != nil {
		res.Close()
		return err
	}
	if _, err := res.Exec(); err != nil {
		res.Close()
		return fmt.Errorf("delete endpoint %s: deliveries: %w", id, err)
	}
	if err := res.Close(); err != nil {
		return fmt.Errorf("delete endpoint %s: %w", id, err)
	}
	return nil
}

// SetCircuit records an endpoint's circuit-breaker state.
func (s *Store) SetCircuit(ctx context.Context, endpointID string, c store.Circuit) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("set circuit of %s: %w", endpointID, err)
	}
	if c.State == "" {
		c.State = store.CircuitClosed
	}
	tag, err := s.pool.Exec(ctx, `UPDATE endpoints SET circuit_state = $2, paused_until = $3, consecutive_failures = $4, failing_since = $5
		WHERE id = $1`, text(endpointID), string(c.State), ts(c.PausedUntil), c.ConsecutiveFailures, ts(c.FailingSince))
	return oneRow("set circuit of "+endpointID, tag, err)
}

// DisableEndpoint disables an endpoint, saying why.
func (s *Store) DisableEndpoint(ctx context.Context, endpointID, reason string) error {
	tag, err := s.pool.Exec(ctx, "UPDATE endpoints SET disabled = true, disabled_reason = $2, updated_at = $3 WHERE id = $1",
		text(endpointID), text(reason), time.Now())
	return oneRow("disable endpoint "+endpointID, tag, err)
}
