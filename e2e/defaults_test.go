package e2e

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// endpointSettings are the delivery settings of an endpoint as GET
// /v1/endpoints shows them, or as the README states the defaults.
type endpointSettings struct {
	Timeout       time.Duration
	RetrySchedule []time.Duration
	MaxInFlight   int
}

func parseDurations(t *testing.T, in []string) []time.Duration {
	t.Helper()
	out := make([]time.Duration, len(in))
	for i, s := range in {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		out[i] = d
	}
	return out
}

// readmeDefaults reads the delivery defaults off the README's config.
func readmeDefaults(t *testing.T) endpointSettings {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "\ndelivery:")
	if i < 0 {
		t.Fatal("README has no delivery: section in its config")
	}
	section := readme[i : i+strings.Index(readme[i:], "\nwebhooks:")]
	find := func(key string) string {
		m := regexp.MustCompile(`(?m)^\s+` + key + `: *(\[[^\]]*\]|\S+)`).FindStringSubmatch(section)
		if m == nil {
			t.Fatalf("README's delivery section states no %s", key)
		}
		return m[1]
	}
	var d endpointSettings
	d.Timeout = parseDurations(t, []string{find("timeout")})[0]
	d.RetrySchedule = parseDurations(t, strings.Split(strings.Trim(find("retry_schedule"), "[]"), ","))
	d.MaxInFlight, err = strconv.Atoi(find("max_in_flight"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestEndpointDefaultsAreOneSet declares an endpoint in the config and
// creates one through the API, neither setting timeout, retry_schedule or
// max_in_flight: both show the same effective values, the README's.
func TestEndpointDefaultsAreOneSet(t *testing.T) {
	t.Parallel()
	want := readmeDefaults(t)
	srv := StartServer(t, "webhooks:\n  - url: http://127.0.0.1:9/from-config\n")
	srv.API("POST", "/v1/endpoints", map[string]any{"url": "http://127.0.0.1:9/from-api"}, http.StatusCreated, nil)
	var eps []struct {
		URL           string   `json:"url"`
		FromConfig    bool     `json:"from_config"`
		Timeout       string   `json:"timeout"`
		RetrySchedule []string `json:"retry_schedule"`
		MaxInFlight   int      `json:"max_in_flight"`
	}
	srv.API("GET", "/v1/endpoints", nil, http.StatusOK, &eps)
	if len(eps) != 2 {
		t.Fatalf("%d endpoints, want 2: %+v", len(eps), eps)
	}
	for _, ep := range eps {
		got := endpointSettings{
			Timeout:       parseDurations(t, []string{ep.Timeout})[0],
			RetrySchedule: parseDurations(t, ep.RetrySchedule),
			MaxInFlight:   ep.MaxInFlight,
		}
		if got.Timeout != want.Timeout || !slices.Equal(got.RetrySchedule, want.RetrySchedule) || got.MaxInFlight != want.MaxInFlight {
			t.Errorf("endpoint %s (from config: %v) shows %+v; the README states %+v", ep.URL, ep.FromConfig, got, want)
		}
	}
}
