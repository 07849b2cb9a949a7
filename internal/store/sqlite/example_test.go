package sqlite_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

// The life of one delivery: an event is recorded, claimed by a sender and its
// attempt recorded.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "switchhook-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	st, err := sqlite.Open(ctx, filepath.Join(dir, "switchhook.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	err = st.CreateEndpoint(ctx, &store.Endpoint{
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
	n, err := st.InsertEvents(ctx, "node-1", []events.Event{{
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

	jobs, err := st.ClaimDeliveries(ctx, store.ClaimParams{
		Owner: "sender-1", Now: now, LeaseUntil: now.Add(time.Minute), Limit: 100,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, j := range jobs {
		fmt.Println("claimed:", j.Event.Kind, "for", j.Delivery.EndpointID)
	}

	err = st.CompleteAttempts(ctx, "sender-1", []store.Outcome{{
		Attempt: store.Attempt{DeliveryID: jobs[0].Delivery.ID, At: now, StatusCode: 204, Latency: 12 * time.Millisecond},
		Status:  store.Succeeded,
	}})
	if err != nil {
		log.Fatal(err)
	}
	d, err := st.GetDelivery(ctx, jobs[0].Delivery.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", d.Status, "after", d.Attempts, "attempt")
	// Output:
	// deliveries created: 1
	// claimed: CALL_ROUTED for crm
	// status: succeeded after 1 attempt
}
