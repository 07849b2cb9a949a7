package store

import "time"

// The settings of an endpoint that sets none, the one place they are
// defined: the config file's delivery section starts from them, the API
// gives them to an endpoint created without them, and the delivery engine
// falls back on them. The README states them.
const (
	// DefaultTimeout bounds each request.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxInFlight is how many requests an endpoint may have at once.
	DefaultMaxInFlight = 64
)

// DefaultRetrySchedule is the delay before each attempt: the Standard
// Webhooks reference sender's, eight attempts over about 28 hours, so that
// a receiver down for a night still gets every event. Each call returns a
// new slice.
func DefaultRetrySchedule() []time.Duration {
	return []time.Duration{
		0,
		5 * time.Second,
		5 * time.Minute,
		30 * time.Minute,
		2 * time.Hour,
		5 * time.Hour,
		10 * time.Hour,
		10 * time.Hour,
	}
}

// WithDefaults fills the settings ep leaves unset with the defaults, so that
// what is shown of an endpoint is what is in force.
func (ep *Endpoint) WithDefaults() {
	if ep.Timeout <= 0 {
		ep.Timeout = DefaultTimeout
	}
	if len(ep.RetrySchedule) == 0 {
		ep.RetrySchedule = DefaultRetrySchedule()
	}
	if ep.MaxInFlight <= 0 {
		ep.MaxInFlight = DefaultMaxInFlight
	}
}
