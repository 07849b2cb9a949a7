package app

import (
	"context"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/registrar"
	"github.com/switchhook/switchhook/internal/store"
)

// storeBindings keeps the PBX's registrations in the store: they survive a
// restart, and on PostgreSQL a call on any node reaches a phone registered
// with another.
type storeBindings struct {
	st   store.Registrations
	node string
}

func (s storeBindings) Bindings(ctx context.Context, ext string, now time.Time) ([]registrar.Binding, error) {
	rs, err := s.st.ListRegistrations(ctx, ext, now)
	if err != nil {
		return nil, err
	}
	out := make([]registrar.Binding, 0, len(rs))
	for _, r := range rs {
		var uri sip.Uri
		if err := sip.ParseUri(r.Contact, &uri); err != nil {
			return nil, fmt.Errorf("registration of %s: contact %q: %w", r.Extension, r.Contact, err)
		}
		out = append(out, registrar.Binding{
			Extension: r.Extension, Contact: uri, Source: r.Source, Transport: r.Transport, Expires: r.ExpiresAt,
			UserAgent: r.UserAgent, CallID: r.CallID, CSeq: r.CSeq, Created: r.CreatedAt,
		})
	}
	return out, nil
}

func (s storeBindings) PutBinding(ctx context.Context, b registrar.Binding) error {
	return s.st.PutRegistration(ctx, &store.Registration{
		Extension: b.Extension, Contact: b.Contact.String(), Source: b.Source, Transport: b.Transport,
		UserAgent: b.UserAgent, CallID: b.CallID, CSeq: b.CSeq, Node: s.node, ExpiresAt: b.Expires, CreatedAt: b.Created,
	})
}

func (s storeBindings) DeleteBinding(ctx context.Context, ext string, contact sip.Uri) error {
	return s.st.DeleteRegistration(ctx, ext, contact.String())
}
