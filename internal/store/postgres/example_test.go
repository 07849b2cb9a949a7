package postgres_test

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
)

// TestMain leaves the examples out when there is no PostgreSQL to run them
// on: unlike tests, examples cannot skip. The tests then skip one by one,
// saying why.
func TestMain(m *testing.M) {
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := pgtest.Reachable(ctx)
	cancel()
	if err != nil && !pgtest.Required() {
		fmt.Fprintf(os.Stderr, "*** no PostgreSQL at the test server (%v): examples left out, tests skipped\n", err)
		flag.Set("test.run", "^Test")
	}
	os.Exit(m.Run())
}

// The life of one delivery: an event is recorded by one node, claimed by
// another, and its attempt recorded.
func Example() {
	ctx := context.Background()
	// A database of its own on the test server; in production, something
	// like postgres://switchhook:secret@db.internal:5432/switchhook.
	dsn, drop, err := pgtest.CreateDatabase(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer drop()

	// Two nodes, each with its own store, share the database.
	recorder, err := postgres.Open(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer recorder.Close()
	sender, err := postgres.Open(ctx, dsn)
	if err != nil {
		log.Fatal(err)
	}
	defer sender.Close()
	if err := recorder.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	wake := sender.Notifications()
	<-wake // the listener is up

	err = recorder.CreateEndpoint(ctx, &store.Endpoint{
		ID:          "crm",
		URL:         "https://crm.example.com/hooks/calls",
		Events:      []events.Kind{events.CallRouted, events.CallHangup},
		Profile:     events.Standard,
		Secrets:     []store.Secret{{Value: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}},
		Timeout:     10 * time.Second,
		MaxInFlight: 16,
	})
	if err != nil {
		log.Fatal(err)
	}

	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	n, err := recorder.InsertEvents(ctx, "node-1", []events.Event{{
		ID:                "0b7f3e1c-5f4e-4b8e-9a43-6f1f2a0c9d11",
		Kind:              events.CallRouted,
		CallUUID:          "8d5c1e2a-3b4f-4c6d-8e9f-0a1b2c3d4e5f",
		CallerIDNumber:    "1001",
		DestinationNumber: "1002",
		OccurredAt:        now,
		Sequence:          1,
	}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("deliveries created:", n)

	<-wake // node-2 hears of the new work
	jobs, err := sender.ClaimDeliveries(ctx, store.ClaimParams{
		Owner: "node-2", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range jobs {
		fmt.Println("claimed:", j.Event.Kind, "for", j.Delivery.EndpointID, "by", j.Delivery.LeaseOwner)
	}

	err = sender.CompleteAttempts(ctx, "node-2", []store.Outcome{{
		Attempt: store.Attempt{DeliveryID: jobs[0].Delivery.ID, At: now, StatusCode: 204, Latency: 12 * time.Millisecond},
		Status:  store.Succeeded,
	}})
	if err != nil {
		log.Fatal(err)
	}
	d, err := recorder.GetDelivery(ctx, jobs[0].Delivery.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", d.Status, "after", d.Attempts, "attempt")
	// Output:
	// deliveries created: 1
	// claimed: CALL_ROUTED for crm by node-2
	// status: succeeded after 1 attempt
}
