package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/signature"
	"github.com/switchhook/switchhook/internal/store"
)

// Bounds of an endpoint's settings.
const (
	minTimeout       = time.Second
	maxTimeout       = 60 * time.Second
	maxRetries       = 50
	maxRetryDelay    = 7 * 24 * time.Hour
	maxInFlight      = 256
	maxGrace         = 30 * 24 * time.Hour
	maxURLLen        = 2048
	maxDescription   = 1000
	maxHeaders       = 50
	maxHeaderValue   = 4096
	minSecretKeySize = 24 // Standard Webhooks: secrets of 24 to 64 bytes
	maxSecretKeySize = 64
)

// reservedHeaders are set by the sender for every request; an endpoint's own
// headers must not replace them.
var reservedHeaders = []string{"content-type", "content-length", "host", "transfer-encoding", "connection"}

func (a *API) createEndpoint(w http.ResponseWriter, r *http.Request) error {
	var in apitypes.NewEndpoint
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	now := time.Now().UTC()
	ep, err := a.buildEndpoint(in, now)
	if err != nil {
		return err
	}
	if !in.AllowDuplicate && !ep.Disabled {
		if err := a.uniqueURL(r.Context(), ep); err != nil {
			return err
		}
	}
	if err := a.store.CreateEndpoint(r.Context(), ep); err != nil {
		return fmt.Errorf("create endpoint: %w", err)
	}
	a.endpointsChanged()
	a.log.Info("endpoint created", "id", ep.ID, "url", ep.URL)
	w.Header().Set("Location", "/v1/endpoints/"+ep.ID)
	writeJSON(w, http.StatusCreated, endpointView(ep, true, now))
	return nil
}

// buildEndpoint makes a new endpoint of in, on the defaults.
func (a *API) buildEndpoint(in apitypes.NewEndpoint, now time.Time) (*store.Endpoint, error) {
	if in.URL == "" {
		return nil, invalid("url", "url is required")
	}
	ep := &store.Endpoint{
		ID:            newID("ep_"),
		Profile:       events.Standard,
		Headers:       map[string]string{},
		Timeout:       a.defaults.Timeout,
		RetrySchedule: slices.Clone(a.defaults.RetrySchedule),
		MaxInFlight:   a.defaults.MaxInFlight,
		Circuit:       store.Circuit{State: store.CircuitClosed},
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	// A zero field of the create body means "the default", so only the
	// others are applied, with the same checks as a patch.
	p := apitypes.EndpointPatch{URL: &in.URL, Description: &in.Description, Disabled: &in.Disabled}
	if in.Events != nil {
		p.Events = &in.Events
	}
	if in.Payload != "" {
		p.Payload = &in.Payload
	}
	if in.Headers != nil {
		p.Headers = &in.Headers
	}
	if in.Timeout != "" {
		p.Timeout = &in.Timeout
	}
	if in.RetrySchedule != nil {
		p.RetrySchedule = &in.RetrySchedule
	}
	if in.MaxInFlight != 0 {
		p.MaxInFlight = &in.MaxInFlight
	}
	if err := applyPatch(ep, p); err != nil {
		return nil, err
	}
	secret := in.Secret
	if secret == "" {
		secret = signature.NewSecret()
	} else if err := checkSecret("secret", secret); err != nil {
		return nil, err
	}
	ep.Secrets = []store.Secret{{Value: secret}}
	return ep, nil
}

// applyPatch checks each field p sets and writes it to ep. A new URL or a
// re-enabled endpoint starts with a closed circuit: the failures it records
// were the old receiver's, or are what the person re-enabling it fixed.
func applyPatch(ep *store.Endpoint, p apitypes.EndpointPatch) error {
	if p.URL != nil {
		if err := checkURL(*p.URL); err != nil {
			return err
		}
		if *p.URL != ep.URL {
			ep.Circuit = store.Circuit{State: store.CircuitClosed}
		}
		ep.URL = *p.URL
	}
	if p.Events != nil {
		kinds, err := checkKinds("events", *p.Events)
		if err != nil {
			return err
		}
		ep.Events = kinds
	}
	if p.Payload != nil {
		prof, err := events.ParseProfile(string(*p.Payload))
		if err != nil {
			return invalid("payload", "payload: %v", err)
		}
		ep.Profile = prof
	}
	if p.Headers != nil {
		if err := checkHeaders(*p.Headers); err != nil {
			return err
		}
		ep.Headers = *p.Headers
		if ep.Headers == nil {
			ep.Headers = map[string]string{}
		}
	}
	if p.Description != nil {
		d := *p.Description
		if !utf8.ValidString(d) || utf8.RuneCountInString(d) > maxDescription {
			return invalid("description", "description must be UTF-8 text of at most %d characters", maxDescription)
		}
		ep.Description = d
	}
	if p.Disabled != nil {
		if ep.Disabled && !*p.Disabled {
			ep.Circuit = store.Circuit{State: store.CircuitClosed}
		}
		ep.Disabled = *p.Disabled
		// A person changed it: any reason switchhook gave no longer holds.
		ep.DisabledReason = ""
	}
	if p.Timeout != nil {
		d, err := time.ParseDuration(*p.Timeout)
		if err != nil || d < minTimeout || d > maxTimeout {
			return invalid("timeout", "timeout %q is not a duration from %v to %v, like \"10s\"", *p.Timeout, minTimeout, maxTimeout)
		}
		ep.Timeout = d
	}
	if p.RetrySchedule != nil {
		sched, err := checkSchedule(*p.RetrySchedule)
		if err != nil {
			return err
		}
		ep.RetrySchedule = sched
	}
	if p.MaxInFlight != nil {
		n := *p.MaxInFlight
		if n < 1 || n > maxInFlight {
			return invalid("max_in_flight", "max_in_flight %d is not from 1 to %d", n, maxInFlight)
		}
		ep.MaxInFlight = n
	}
	return nil
}

func checkURL(s string) error {
	if s == "" {
		return invalid("url", "url is required")
	}
	if len(s) > maxURLLen {
		return invalid("url", "url is longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid("url", "url %q does not parse: %v", s, errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Hostname() == "" {
		return invalid("url", "url %q is not an absolute http:// or https:// URL", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return invalid("url", "url %q: port %s is not from 1 to 65535", s, p)
		}
	}
	return nil
}

// uniqueURL refuses ep's URL when other enabled endpoints have it: the
// receiver would get every event twice, signed with two secrets. The
// refusal names them all, oldest first, so that it reads the same however
// the store orders them (by their random IDs).
func (a *API) uniqueURL(ctx context.Context, ep *store.Endpoint) error {
	all, err := a.store.ListEndpoints(ctx)
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	var dups []*store.Endpoint
	for _, o := range all {
		if o.ID != ep.ID && !o.Disabled && o.URL == ep.URL {
			dups = append(dups, o)
		}
	}
	switch len(dups) {
	case 0:
		return nil
	case 1:
		return errorf(http.StatusConflict, "url", "endpoint %s already delivers to %s; set allow_duplicate (--allow-duplicate) to add another anyway", dups[0].ID, ep.URL)
	}
	slices.SortFunc(dups, func(x, y *store.Endpoint) int {
		return cmp.Or(x.CreatedAt.Compare(y.CreatedAt), strings.Compare(x.ID, y.ID))
	})
	ids := make([]string, len(dups))
	for i, o := range dups {
		ids[i] = o.ID
	}
	return errorf(http.StatusConflict, "url", "endpoints %s already deliver to %s; set allow_duplicate (--allow-duplicate) to add another anyway", strings.Join(ids, ", "), ep.URL)
}

// checkKinds parses event kinds, dropping repeats.
func checkKinds(field string, in []events.Kind) ([]events.Kind, error) {
	out := make([]events.Kind, 0, len(in))
	for i, k := range in {
		if _, err := events.ParseKind(string(k)); err != nil {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), "%s[%d]: %v", field, i, err)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

func checkHeaders(h map[string]string) error {
	if len(h) > maxHeaders {
		return invalid("headers", "headers has %d entries; at most %d", len(h), maxHeaders)
	}
	for name, value := range h {
		field := "headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			return invalid(field, "header name %q is not a valid HTTP field name", name)
		}
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "webhook-") || slices.Contains(reservedHeaders, lower) {
			return invalid(field, "header %s is set by switchhook on every request and cannot be overridden", name)
		}
		if !httpguts.ValidHeaderFieldValue(value) || len(value) > maxHeaderValue {
			return invalid(field, "header %s has a value with control characters or longer than %d bytes", name, maxHeaderValue)
		}
	}
	return nil
}

func checkSchedule(in []string) ([]time.Duration, error) {
	if len(in) == 0 || len(in) > maxRetries {
		return nil, invalid("retry_schedule", "retry_schedule has %d delays; want 1 to %d", len(in), maxRetries)
	}
	out := make([]time.Duration, len(in))
	for i, s := range in {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 || d > maxRetryDelay {
			return nil, invalid(fmt.Sprintf("retry_schedule[%d]", i), "retry_schedule[%d] %q is not a duration from 0s to %v, like \"5m\"", i, s, maxRetryDelay)
		}
		out[i] = d
	}
	return out, nil
}

func checkSecret(field, s string) error {
	b64, ok := strings.CutPrefix(s, signature.Prefix)
	if !ok {
		return invalid(field, "%s must be %s followed by base64", field, signature.Prefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return invalid(field, "%s must be %s followed by base64: %v", field, signature.Prefix, err)
	}
	if len(key) < minSecretKeySize || len(key) > maxSecretKeySize {
		return invalid(field, "%s holds a %d-byte key; want %d to %d bytes", field, len(key), minSecretKeySize, maxSecretKeySize)
	}
	return nil
}

// newID returns prefix and 128 random bits, in lower-case base32.
func newID(prefix string) string {
	return prefix + strings.ToLower(rand.Text())
}

func (a *API) endpointsChanged() {
	if a.engine != nil {
		a.engine.EndpointsChanged()
	}
}

func (a *API) wake() {
	if a.engine != nil {
		a.engine.Wake()
	}
}

// endpoint reads the endpoint named by the request's {id}.
func (a *API) endpoint(r *http.Request) (*store.Endpoint, error) {
	id := r.PathValue("id")
	ep, err := a.store.GetEndpoint(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("id", "endpoint %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get endpoint %s: %w", id, err)
	}
	return ep, nil
}

// fromConfig refuses changes to an endpoint the config file declares: the
// next start would silently undo them.
func fromConfig(ep *store.Endpoint, action string) error {
	if ep.FromConfig {
		return errorf(http.StatusConflict, "id", "endpoint %s is declared in the config file; %s it there", ep.ID, action)
	}
	return nil
}

func (a *API) listEndpoints(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	eps, err := a.store.ListEndpoints(r.Context())
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	now := time.Now()
	out := make([]apitypes.Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = endpointView(ep, false, now)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getEndpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, endpointView(ep, true, time.Now()))
	return nil
}

func (a *API) patchEndpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var in apitypes.EndpointPatch
	if err := decodeBody(w, r, &in, false); err != nil {
		var he *httpError
		if errors.As(err, &he) && he.field == "secret" {
			he.msg = "secret cannot be patched; use POST /v1/endpoints/{id}/rotate-secret"
		}
		return err
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	if err := fromConfig(ep, "change"); err != nil {
		return err
	}
	before := ep.URL
	if err := applyPatch(ep, in); err != nil {
		return err
	}
	if ep.URL != before && !ep.Disabled {
		if err := a.uniqueURL(r.Context(), ep); err != nil {
			return err
		}
	}
	now := time.Now().UTC()
	ep.UpdatedAt = now
	if err := a.store.UpdateEndpoint(r.Context(), ep); err != nil {
		return fmt.Errorf("update endpoint %s: %w", ep.ID, err)
	}
	a.endpointsChanged()
	a.log.Info("endpoint updated", "id", ep.ID)
	writeJSON(w, http.StatusOK, endpointView(ep, false, now))
	return nil
}

func (a *API) deleteEndpoint(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	if err := fromConfig(ep, "remove"); err != nil {
		return err
	}
	if err := a.store.DeleteEndpoint(r.Context(), ep.ID); err != nil {
		return fmt.Errorf("delete endpoint %s: %w", ep.ID, err)
	}
	a.endpointsChanged()
	a.log.Info("endpoint deleted", "id", ep.ID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	var in apitypes.RotateSecret
	if err := decodeBody(w, r, &in, true); err != nil {
		return err
	}
	grace := a.grace
	if in.Grace != "" {
		d, err := time.ParseDuration(in.Grace)
		if err != nil || d < 0 || d > maxGrace {
			return invalid("grace", "grace %q is not a duration from 0s to %v, like \"1h\"", in.Grace, maxGrace)
		}
		grace = d
	}
	secret := in.Secret
	if secret == "" {
		secret = signature.NewSecret()
	} else if err := checkSecret("secret", secret); err != nil {
		return err
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	secrets := []store.Secret{{Value: secret}}
	for i, s := range ep.Secrets {
		if s.Value == secret {
			return invalid("secret", "secret is already one of the endpoint's secrets")
		}
		switch {
		case i == 0 && grace > 0:
			secrets = append(secrets, store.Secret{Value: s.Value, ExpiresAt: now.Add(grace)})
		case i > 0 && s.ExpiresAt.After(now):
			secrets = append(secrets, s)
		}
	}
	ep.Secrets, ep.UpdatedAt = secrets, now
	if err := a.store.UpdateEndpoint(r.Context(), ep); err != nil {
		return fmt.Errorf("rotate secret of endpoint %s: %w", ep.ID, err)
	}
	a.endpointsChanged()
	a.log.Info("endpoint secret rotated", "id", ep.ID, "grace", grace)
	writeJSON(w, http.StatusOK, endpointView(ep, true, now))
	return nil
}

// endpointView is ep as the API shows it; the secrets only if withSecret.
func endpointView(ep *store.Endpoint, withSecret bool, now time.Time) apitypes.Endpoint {
	// What is shown is what is in force: never an empty schedule that
	// means "the default".
	eff := *ep
	eff.WithDefaults()
	ep = &eff
	v := apitypes.Endpoint{
		ID:             ep.ID,
		URL:            ep.URL,
		Description:    ep.Description,
		Events:         ep.Events,
		Payload:        ep.Profile,
		Headers:        ep.Headers,
		Timeout:        ep.Timeout.String(),
		RetrySchedule:  make([]string, len(ep.RetrySchedule)),
		MaxInFlight:    ep.MaxInFlight,
		Disabled:       ep.Disabled,
		DisabledReason: ep.DisabledReason,
		FromConfig:     ep.FromConfig,
		Circuit: apitypes.Circuit{
			State:               string(ep.Circuit.State),
			PausedUntil:         optTime(ep.Circuit.PausedUntil),
			ConsecutiveFailures: ep.Circuit.ConsecutiveFailures,
			FailingSince:        optTime(ep.Circuit.FailingSince),
		},
		CreatedAt: ep.CreatedAt.UTC(),
		UpdatedAt: ep.UpdatedAt.UTC(),
	}
	if v.Events == nil {
		v.Events = []events.Kind{}
	}
	if v.Headers == nil {
		v.Headers = map[string]string{}
	}
	if v.Payload == "" {
		v.Payload = events.Standard
	}
	if v.Circuit.State == "" {
		v.Circuit.State = string(store.CircuitClosed)
	}
	for i, d := range ep.RetrySchedule {
		v.RetrySchedule[i] = d.String()
	}
	if withSecret {
		for i, s := range ep.Secrets {
			switch {
			case i == 0:
				v.Secret = s.Value
			case s.ExpiresAt.After(now):
				v.PreviousSecrets = append(v.PreviousSecrets, apitypes.PreviousSecret{Secret: s.Value, ExpiresAt: s.ExpiresAt.UTC()})
			}
		}
	}
	return v
}
