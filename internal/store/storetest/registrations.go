package storetest

import (
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/store"
)

func exerciseRegistrations(t *testing.T, open func(t *testing.T) store.Store) {
	h := setup(t, open)
	now := time.Now().UTC().Truncate(time.Millisecond)
	reg := func(ext, contact string, expires time.Duration) *store.Registration {
		return &store.Registration{
			Extension: ext, Contact: contact, Source: "127.0.0.1:5062", Transport: "UDP", UserAgent: "baresip",
			CallID: "cid-" + contact, CSeq: 7, Node: "n1", ExpiresAt: now.Add(expires), CreatedAt: now,
		}
	}
	list := func(ext string) []*store.Registration {
		t.Helper()
		rs, err := h.s.ListRegistrations(h.ctx, ext, now)
		if err != nil {
			t.Fatalf("ListRegistrations(%q): %v", ext, err)
		}
		return rs
	}
	if rs := list(""); len(rs) != 0 {
		t.Fatalf("empty store lists %d registrations", len(rs))
	}
	a := reg("1002", "sip:1002@127.0.0.1:5062", time.Hour)
	for _, r := range []*store.Registration{a, reg("1001", "sip:1001@127.0.0.1:5061", time.Hour), reg("1002", "sip:1002@127.0.0.2:5062", -time.Second)} {
		if err := h.s.PutRegistration(h.ctx, r); err != nil {
			t.Fatalf("PutRegistration: %v", err)
		}
	}
	rs := list("")
	if len(rs) != 2 || rs[0].Extension != "1001" || rs[1].Extension != "1002" {
		t.Fatalf("all = %+v, want 1001 then 1002, the expired one left out", rs)
	}
	if got := *rs[1]; got.Contact != a.Contact || got.Source != a.Source || got.Transport != a.Transport || got.UserAgent != a.UserAgent ||
		got.CallID != a.CallID || got.CSeq != a.CSeq || got.Node != a.Node || !got.ExpiresAt.Equal(a.ExpiresAt) || !got.CreatedAt.Equal(a.CreatedAt) {
		t.Errorf("round trip: got %+v, want %+v", got, *a)
	}
	// A refresh replaces the registration of the same contact.
	a.ExpiresAt, a.CSeq, a.Node = now.Add(2*time.Hour), 8, "n2"
	if err := h.s.PutRegistration(h.ctx, a); err != nil {
		t.Fatal(err)
	}
	if rs := list("1002"); len(rs) != 1 || rs[0].CSeq != 8 || rs[0].Node != "n2" || !rs[0].ExpiresAt.Equal(a.ExpiresAt) {
		t.Errorf("after refresh: %+v", rs)
	}
	if err := h.s.DeleteRegistration(h.ctx, "1002", a.Contact); err != nil {
		t.Fatal(err)
	}
	if err := h.s.DeleteRegistration(h.ctx, "1002", a.Contact); err != nil {
		t.Errorf("deleting twice: %v", err)
	}
	if rs := list("1002"); len(rs) != 0 {
		t.Errorf("after delete: %+v", rs)
	}
	if rs := list(""); len(rs) != 1 || rs[0].Extension != "1001" {
		t.Errorf("other extension touched: %+v", rs)
	}
	// Expired registrations are not listed.
	if rs, err := h.s.ListRegistrations(h.ctx, "", now.Add(3*time.Hour)); err != nil || len(rs) != 0 {
		t.Errorf("after expiry: %+v, %v", rs, err)
	}
}
