package apitypes

import (
	"encoding/json"
	"time"
)

// StreamEvent is the data of one message of GET /v1/stream: an event as it
// is committed.
type StreamEvent struct {
	// Source is the call source that emitted it: pbx, freeswitch:NAME,
	// asterisk:NAME, simulator, or test.
	Source string `json:"source"`
	// EndpointID is set on test events: the one endpoint they go to.
	EndpointID string `json:"endpoint_id,omitempty"`
	// Event is the event in the extended payload profile (see Event).
	Event json.RawMessage `json:"event"`
}

// EndpointHealth is how an endpoint's deliveries went over the last hour,
// as this process saw them, with its circuit breaker as the store has it.
type EndpointHealth struct {
	EndpointID     string  `json:"endpoint_id"`
	URL            string  `json:"url"`
	Description    string  `json:"description"`
	Disabled       bool    `json:"disabled"`
	DisabledReason string  `json:"disabled_reason"`
	Circuit        Circuit `json:"circuit"`
	// Since is when the counts begin: an hour ago, or when this process
	// started if later.
	Since    time.Time `json:"since"`
	Attempts int       `json:"attempts"`
	Failures int       `json:"failures"`
	// SuccessRate is the accepted share of the attempts, from 0 to 1; null
	// without attempts.
	SuccessRate *float64 `json:"success_rate"`
	// P50MS and P99MS are latency percentiles in milliseconds, estimated
	// from a histogram (within about 20%); null without attempts.
	P50MS *float64 `json:"p50_ms"`
	P99MS *float64 `json:"p99_ms"`
	// Minutes are the hour's minutes, oldest first; present on
	// GET /v1/endpoints/{id}/health only.
	Minutes []HealthMinute `json:"minutes,omitempty"`
}

// HealthMinute is one minute of delivery attempts.
type HealthMinute struct {
	At       time.Time `json:"at"` // the minute's start
	Attempts int       `json:"attempts"`
	Failures int       `json:"failures"`
	P50MS    *float64  `json:"p50_ms"`
	P99MS    *float64  `json:"p99_ms"`
}

// EventsMinute is how many events were recorded in one minute.
type EventsMinute struct {
	At     time.Time `json:"at"`
	Events int       `json:"events"`
}

// Overview is the last hour of the whole system, as this process saw it.
type Overview struct {
	// Since is when the counts begin: an hour ago, or when this process
	// started if later.
	Since time.Time `json:"since"`
	// Events are the events recorded per minute, oldest first.
	Events []EventsMinute `json:"events"`
	// Deliveries are every endpoint's attempts per minute, oldest first.
	Deliveries  []HealthMinute `json:"deliveries"`
	Attempts    int            `json:"attempts"`
	Failures    int            `json:"failures"`
	SuccessRate *float64       `json:"success_rate"`
	P50MS       *float64       `json:"p50_ms"`
	P99MS       *float64       `json:"p99_ms"`
	// Pending counts the deliveries waiting to be sent (the queue).
	Pending int `json:"pending"`
	// Endpoints are every endpoint's health, failing ones first.
	Endpoints []EndpointHealth `json:"endpoints"`
}
