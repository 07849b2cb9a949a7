package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/delivery"
	"github.com/switchhook/switchhook/internal/store"
)

func (a *API) endpointHealth(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	ep, err := a.endpoint(r)
	if err != nil {
		return err
	}
	now := a.now()
	s := a.health.Endpoint(ep.ID, now)
	v := healthView(ep, s, now)
	v.Minutes = minutesView(s.Minutes)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (a *API) overview(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	eps, err := a.store.ListEndpoints(r.Context())
	if err != nil {
		return fmt.Errorf("list endpoints: %w", err)
	}
	pending, err := a.store.PendingCount(r.Context())
	if err != nil {
		return fmt.Errorf("count pending deliveries: %w", err)
	}
	now := a.now()
	all := a.health.All(now)
	evs, since := a.health.Events(now)
	out := apitypes.Overview{
		Since:      since,
		Events:     make([]apitypes.EventsMinute, len(evs)),
		Deliveries: minutesView(all.Minutes),
		Attempts:   all.Attempts,
		Failures:   all.Failures,
		Pending:    pending,
		Endpoints:  make([]apitypes.EndpointHealth, len(eps)),
	}
	out.SuccessRate, out.P50MS, out.P99MS = rates(all)
	for i, e := range evs {
		out.Events[i] = apitypes.EventsMinute{At: e.At, Events: e.Events}
	}
	for i, ep := range eps {
		out.Endpoints[i] = healthView(ep, a.health.Endpoint(ep.ID, now), now)
	}
	slices.SortStableFunc(out.Endpoints, func(x, y apitypes.EndpointHealth) int {
		return cmp.Or(
			cmp.Compare(failing(y), failing(x)),
			cmp.Compare(y.Circuit.ConsecutiveFailures, x.Circuit.ConsecutiveFailures),
			cmp.Compare(y.Failures, x.Failures),
			cmp.Compare(x.URL, y.URL),
		)
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// failing ranks how badly an endpoint is doing, for the overview's order:
// 2 while its circuit is open or half-open, 1 while its last attempt
// failed or switchhook disabled it, 0 otherwise.
func failing(h apitypes.EndpointHealth) int {
	switch {
	case h.Circuit.State != string(store.CircuitClosed):
		return 2
	case h.Circuit.ConsecutiveFailures > 0 || h.DisabledReason != "":
		return 1
	}
	return 0
}

func healthView(ep *store.Endpoint, s delivery.HealthSummary, now time.Time) apitypes.EndpointHealth {
	v := apitypes.EndpointHealth{
		EndpointID:     ep.ID,
		URL:            ep.URL,
		Description:    ep.Description,
		Disabled:       ep.Disabled,
		DisabledReason: ep.DisabledReason,
		Circuit:        endpointView(ep, false, now).Circuit,
		Since:          s.Since,
		Attempts:       s.Attempts,
		Failures:       s.Failures,
	}
	v.SuccessRate, v.P50MS, v.P99MS = rates(s)
	return v
}

// rates are a summary's success rate and percentiles, null without attempts.
func rates(s delivery.HealthSummary) (success, p50, p99 *float64) {
	if s.Attempts == 0 {
		return nil, nil, nil
	}
	rate := float64(s.Attempts-s.Failures) / float64(s.Attempts)
	return &rate, millis(s.P50), millis(s.P99)
}

func minutesView(ms []delivery.HealthMinute) []apitypes.HealthMinute {
	out := make([]apitypes.HealthMinute, len(ms))
	for i, m := range ms {
		out[i] = apitypes.HealthMinute{At: m.At, Attempts: m.Attempts, Failures: m.Failures}
		if m.Attempts > 0 {
			out[i].P50MS, out[i].P99MS = millis(m.P50), millis(m.P99)
		}
	}
	return out
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) *float64 {
	ms := float64(d.Microseconds()) / 1000
	return &ms
}
