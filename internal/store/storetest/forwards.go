package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

func exerciseForwards(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	if _, err := h.s.GetForward(h.ctx, "1001"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetForward of nothing set: %v, want ErrNotFound", err)
	}
	if fs, err := h.s.ListForwards(h.ctx); err != nil || len(fs) != 0 {
		t.Fatalf("ListForwards of none: %v, %v", fs, err)
	}
	a := &store.Forward{Number: "1002", Unconditional: "1003", UserBusy: "600", NoAnswer: "9004930", NoAnswerAfter: 12 * time.Second, Unavailable: "1001", UpdatedAt: at(time.Minute)}
	b := &store.Forward{Number: "1001", NoAnswer: "1002", UpdatedAt: at(2 * time.Minute)}
	for _, f := range []*store.Forward{a, b} {
		if err := h.s.SetForward(h.ctx, f); err != nil {
			t.Fatalf("SetForward(%+v): %v", f, err)
		}
	}
	got, err := h.s.GetForward(h.ctx, "1002")
	if err != nil || *got != *a {
		t.Fatalf("GetForward = %+v, %v; want %+v", got, err, a)
	}
	fs, err := h.s.ListForwards(h.ctx)
	if err != nil || len(fs) != 2 || *fs[0] != *b || *fs[1] != *a {
		t.Fatalf("ListForwards = %v, %v; want by number", fs, err)
	}

	// Setting again replaces every field.
	a2 := &store.Forward{Number: "1002", Unavailable: "1003", UpdatedAt: at(3 * time.Minute)}
	if err := h.s.SetForward(h.ctx, a2); err != nil {
		t.Fatal(err)
	}
	if got, err := h.s.GetForward(h.ctx, "1002"); err != nil || *got != *a2 {
		t.Fatalf("after replacing: %+v, %v; want %+v", got, err, a2)
	}
	// UpdatedAt defaults to now.
	before := time.Now().Add(-time.Second)
	if err := h.s.SetForward(h.ctx, &store.Forward{Number: "1003", Unconditional: "1001"}); err != nil {
		t.Fatal(err)
	}
	if got, err := h.s.GetForward(h.ctx, "1003"); err != nil || got.UpdatedAt.Before(before) {
		t.Fatalf("UpdatedAt default: %+v, %v", got, err)
	}

	if err := h.s.DeleteForward(h.ctx, "1002"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.GetForward(h.ctx, "1002"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetForward after delete: %v", err)
	}
	if err := h.s.DeleteForward(h.ctx, "1002"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteForward twice: %v", err)
	}
	for _, bad := range []*store.Forward{{}, {Number: "1001", NoAnswerAfter: -time.Second}} {
		if err := h.s.SetForward(h.ctx, bad); err == nil {
			t.Errorf("SetForward(%+v) accepted", bad)
		}
	}
}
