package forwarding_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/forwarding"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

func table(t *testing.T, st forwarding.Store) *forwarding.Table {
	t.Helper()
	plan, err := dialplan.New(dialplan.Config{
		Extensions: []string{"1001", "1002", "1003"},
		Gateways:   []string{"carrier"},
		Routes:     []dialplan.OutboundRoute{{Match: `9\d+`, Gateway: "carrier"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return forwarding.New(st, forwarding.Config{
		Extensions:  []string{"1001", "1002", "1003"},
		Configured:  map[string]dialplan.Forward{"1002": {UserBusy: "1003"}},
		Plan:        plan,
		RingTimeout: 30 * time.Second,
	}, nil)
}

// A forwarding set through the API wins over the config's, survives a
// restart, and a reset brings the config's back.
func TestSetSurvivesRestartAndReset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	ctx := t.Context()
	st := open(t, path)
	tb := table(t, st)

	s, err := tb.Get(ctx, "1002")
	if err != nil || s.Source != forwarding.FromConfig || s.Forward.UserBusy != "1003" {
		t.Fatalf("config's: %+v, %v", s, err)
	}
	want := dialplan.Forward{NoAnswer: "9004930", NoAnswerAfter: 10 * time.Second, Unavailable: "1001"}
	if s, err = tb.Set(ctx, "1002", want); err != nil || s.Source != forwarding.FromAPI || s.Forward != want || s.Updated.IsZero() {
		t.Fatalf("Set: %+v, %v", s, err)
	}
	st.Close()

	st = open(t, path)
	defer st.Close()
	tb = table(t, st)
	if got := tb.Forward(ctx, "1002"); got != want {
		t.Fatalf("after a restart: %+v, want %+v", got, want)
	}
	list, err := tb.List(ctx)
	if err != nil || len(list) != 3 || list[0].Number != "1001" || list[1].Source != forwarding.FromAPI || list[2].Source != forwarding.FromConfig {
		t.Fatalf("List: %+v, %v", list, err)
	}
	if s, err = tb.Reset(ctx, "1002"); err != nil || s.Source != forwarding.FromConfig || s.Forward.UserBusy != "1003" {
		t.Fatalf("Reset: %+v, %v", s, err)
	}
	if s, err = tb.Reset(ctx, "1002"); err != nil || s.Source != forwarding.FromConfig {
		t.Fatalf("Reset twice: %+v, %v", s, err)
	}
}

func TestRefusals(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "db"))
	defer st.Close()
	tb := table(t, st)
	ctx := t.Context()
	for _, n := range []string{"4242", ""} {
		if _, err := tb.Get(ctx, n); !errors.Is(err, forwarding.ErrUnknownExtension) {
			t.Errorf("Get(%q): %v", n, err)
		}
		if _, err := tb.Set(ctx, n, dialplan.Forward{}); !errors.Is(err, forwarding.ErrUnknownExtension) {
			t.Errorf("Set(%q): %v", n, err)
		}
		if _, err := tb.Reset(ctx, n); !errors.Is(err, forwarding.ErrUnknownExtension) {
			t.Errorf("Reset(%q): %v", n, err)
		}
	}
	var fe *dialplan.FieldError
	if _, err := tb.Set(ctx, "1001", dialplan.Forward{UserBusy: "555"}); !errors.As(err, &fe) || fe.Field != "user_busy" {
		t.Errorf("unroutable: %v", err)
	}
	if s, _ := tb.Get(ctx, "1001"); s.Source != forwarding.FromConfig {
		t.Errorf("a refused forwarding was kept: %+v", s)
	}
}

// failing is a store that does not answer.
type failing struct{ forwarding.Store }

func (failing) GetForward(context.Context, string) (*store.Forward, error) {
	return nil, errors.New("connection refused")
}

func TestStoreDownFallsBackToConfig(t *testing.T) {
	tb := table(t, failing{})
	if got := tb.Forward(t.Context(), "1002"); got.UserBusy != "1003" {
		t.Errorf("Forward with the store down = %+v, want the config's", got)
	}
	if _, err := tb.Get(t.Context(), "1002"); err == nil {
		t.Error("Get hid the store's failure")
	}
}
