package api_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitest"
)

// benchGet measures GET path on s over loopback, keep-alive.
func benchGet(b *testing.B, s *apitest.Server, path string) {
	b.Helper()
	c := s.Client()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+apitest.Token)
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// BenchmarkGetCall reads one call with its 5 events and their 10
// deliveries to two endpoints: what the dashboard's call page asks for.
func BenchmarkGetCall(b *testing.B) {
	s := apitest.New(b)
	for range 2 {
		createForBench(b, s)
	}
	id := s.Call("1001", "1002", time.Now().Add(-time.Minute))
	benchGet(b, s, "/v1/calls/"+id)
}

// BenchmarkListEvents reads a page of 100 events out of 500.
func BenchmarkListEvents(b *testing.B) {
	s := apitest.New(b)
	start := time.Now().Add(-time.Hour)
	for i := range 100 {
		s.Call("1001", "1002", start.Add(time.Duration(i)*10*time.Second))
	}
	benchGet(b, s, "/v1/events?limit=100")
}

// BenchmarkCreateEndpoint validates and stores one endpoint per request.
func BenchmarkCreateEndpoint(b *testing.B) {
	s := apitest.New(b)
	b.ReportAllocs()
	for b.Loop() {
		createForBench(b, s)
	}
}

func createForBench(b *testing.B, s *apitest.Server) {
	req, _ := http.NewRequest("POST", s.URL+"/v1/endpoints", strings.NewReader(
		`{"url": "http://127.0.0.1:9/hook", "events": ["CALL_ANSWER", "CALL_HANGUP"], "headers": {"X-Api-Key": "k"}, "timeout": "5s"}`))
	req.Header.Set("Authorization", "Bearer "+apitest.Token)
	resp, err := s.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("status %d", resp.StatusCode)
	}
}
