package sqlite

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

// Every change to a registration or a forward is seen by the next read,
// however the reads of other goroutines interleave with it: a copy read
// before a change is never kept past it.
func TestLookupsFollowEveryChange(t *testing.T) {
	t.Parallel()
	st := openTemp(t)
	ctx := t.Context()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()

	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.ListRegistrations(ctx, "1001", now); err != nil {
					t.Error(err)
					return
				}
				if _, err := st.GetForward(ctx, "1001"); err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		}()
	}
	defer func() {
		close(stop)
		readers.Wait()
	}()

	for i := range 200 {
		contact := "sip:1001@127.0.0.1:" + strconv.Itoa(5000+i%3)
		reg := &store.Registration{Extension: "1001", Contact: contact, Source: "127.0.0.1:5060", Transport: "udp",
			CallID: strconv.Itoa(i), CSeq: uint32(i), Node: "n", ExpiresAt: now.Add(time.Hour), CreatedAt: now.Add(time.Duration(i))}
		if err := st.PutRegistration(ctx, reg); err != nil {
			t.Fatal(err)
		}
		rs, err := st.ListRegistrations(ctx, "1001", now)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range rs {
			found = found || (r.Contact == contact && r.CallID == strconv.Itoa(i))
		}
		if !found {
			t.Fatalf("change %d: registration %s call-id %d not listed after it was stored: %+v", i, contact, i, rs)
		}
		if i%5 == 0 {
			if err := st.DeleteRegistration(ctx, "1001", contact); err != nil {
				t.Fatal(err)
			}
			rs, _ := st.ListRegistrations(ctx, "1001", now)
			for _, r := range rs {
				if r.Contact == contact {
					t.Fatalf("change %d: %s listed after it was deleted", i, contact)
				}
			}
		}

		target := strconv.Itoa(2000 + i)
		if i%2 == 0 {
			if err := st.SetForward(ctx, &store.Forward{Number: "1001", Unconditional: target}); err != nil {
				t.Fatal(err)
			}
			if f, err := st.GetForward(ctx, "1001"); err != nil || f.Unconditional != target {
				t.Fatalf("change %d: forward %+v, %v after setting it to %s", i, f, err, target)
			}
		} else {
			if err := st.DeleteForward(ctx, "1001"); err != nil {
				t.Fatal(err)
			}
			if f, err := st.GetForward(ctx, "1001"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("change %d: forward %+v, %v after deleting it", i, f, err)
			}
		}
	}

	// What a read returns is the caller's: changing it changes no copy.
	rs, _ := st.ListRegistrations(ctx, "1001", now)
	rs[0].Contact = "changed"
	if again, _ := st.ListRegistrations(ctx, "1001", now); again[0].Contact == "changed" {
		t.Error("a change to a listed registration reached the store's copy")
	}
	// Expiry is applied at each read, not when the copy was made.
	if rs, _ := st.ListRegistrations(ctx, "1001", now.Add(2*time.Hour)); len(rs) != 0 {
		t.Errorf("expired registrations listed: %+v", rs)
	}
}
