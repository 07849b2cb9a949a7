package pbx

import "time"

// Status is the PBX as GET /v1/sources shows it, beside the connectors.
type Status struct {
	Name string `json:"name"` // "pbx"
	Kind string `json:"kind"` // "pbx"
	// Listen are the bound SIP listeners, as "udp://ip:port".
	Listen []string `json:"listen"`
	// Domain is sip.domain; empty: each phone's own address for the PBX.
	Domain string `json:"domain"`
	// Connected is true while the PBX serves SIP, as a connector's is while
	// it is connected to its engine.
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since"` // when it started serving; zero before
}

// Status reports whether the PBX serves and where.
func (p *PBX) Status() Status {
	s := Status{Name: sourceName, Kind: sourceName, Listen: p.ListenAddrs(), Domain: p.conf().Domain}
	if s.Listen == nil {
		s.Listen = []string{}
	}
	p.mu.Lock()
	s.Since = p.since
	s.Connected = !p.since.IsZero() && !p.closing
	p.mu.Unlock()
	return s
}

// Extensions returns the extensions served, in the config's order, without
// their passwords.
func (p *PBX) Extensions() []Extension {
	cfg := p.conf()
	out := make([]Extension, 0, len(cfg.Extensions))
	for _, e := range cfg.Extensions {
		out = append(out, Extension{Number: e.Number, Name: e.Name})
	}
	return out
}
