package pbx

import (
	"maps"
	"slices"
	"time"

	"github.com/switchhook/switchhook/internal/dialplan"
)

// setHolding records that extension ext holds the answered call c (since
// at), or no longer does; a number that is no extension holds nothing the
// PBX links.
func (p *PBX) setHolding(ext string, c *call, at time.Time, on bool) {
	if _, ok := p.conf().exts[ext]; !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	held := p.holding[ext]
	if !on {
		delete(held, c.id)
		if len(held) == 0 {
			delete(p.holding, ext)
		}
		return
	}
	if held == nil {
		held = map[string]dialplan.HeldCall{}
		p.holding[ext] = held
	}
	held[c.id] = dialplan.HeldCall{SessionUUID: c.session, HeldAt: at}
}

// keepDialog takes l's dialog out of c's list, so that forgetting c
// leaves it in the index; dropDialog takes it out later.
func (p *PBX) keepDialog(c *call, l *dialogLeg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := l.dialog().ID
	c.dialogs = slices.DeleteFunc(c.dialogs, func(d string) bool { return d == id })
}

// dropDialog takes the dialog id out of the index.
func (p *PBX) dropDialog(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.dialogs, id)
}

// sessionFor is the call_session_uuid of a new call id placed by caller:
// that of the call it holds (the most recently held, if several), which
// makes the new call a consultation call, else id.
func (p *PBX) sessionFor(caller, id string) string {
	p.mu.Lock()
	held := slices.Collect(maps.Values(p.holding[caller]))
	p.mu.Unlock()
	if s := dialplan.ConsultationSession(held); s != "" {
		return s
	}
	return id
}
