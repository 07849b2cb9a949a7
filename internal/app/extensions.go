package app

import (
	"context"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/forwarding"
	"github.com/switchhook/switchhook/internal/pbx"
)

// extensionsOf lists the PBX's extensions with their registered phones,
// their state and the forwarding in effect; nil without a PBX.
func extensionsOf(p *pbx.PBX, fwd *forwarding.Table) api.Extensions {
	if p == nil {
		return nil
	}
	return func(ctx context.Context) ([]apitypes.Extension, error) {
		forwards := map[string]apitypes.Forward{}
		if fwd != nil {
			settings, err := fwd.List(ctx)
			if err != nil {
				return nil, err
			}
			for _, s := range settings {
				forwards[s.Number] = api.ForwardView(s)
			}
		}
		contacts := map[string][]apitypes.ExtensionContact{}
		for _, r := range p.Registrations() {
			contacts[r.Extension] = append(contacts[r.Extension], apitypes.ExtensionContact{
				Contact: r.Contact, Source: r.Source, Transport: r.Transport, UserAgent: r.UserAgent, ExpiresAt: r.ExpiresAt,
			})
		}
		// In a call beats ringing: a phone may ring while its line is busy.
		state := map[string]string{}
		for _, ch := range p.Channels() {
			switch ch.State {
			case "answered", "held":
				state[ch.Number] = "in_call"
			case "ringing", "early":
				if state[ch.Number] == "" {
					state[ch.Number] = "ringing"
				}
			}
		}
		exts := p.Extensions()
		out := make([]apitypes.Extension, 0, len(exts))
		for _, e := range exts {
			x := apitypes.Extension{Number: e.Number, Name: e.Name, State: state[e.Number], Contacts: contacts[e.Number], Forward: forwards[e.Number]}
			if x.Contacts == nil {
				x.Contacts = []apitypes.ExtensionContact{}
			}
			if x.Forward.Number == "" {
				x.Forward = apitypes.Forward{Number: e.Number, Source: "config"}
			}
			switch {
			case x.State != "":
			case len(x.Contacts) > 0:
				x.State = "idle"
			default:
				x.State = "unregistered"
			}
			out = append(out, x)
		}
		return out, nil
	}
}
