package dialplan

import (
	"fmt"

	"github.com/switchhook/switchhook/internal/events"
)

// Route is where a dialled number goes.
type Route struct {
	// Target is what CALL_ROUTED reports: the kind and number of the target.
	Target events.Target
	// Ring lists the extensions to ring, all at once.
	Ring []string
}

// Plan maps dialled numbers to routes. It is read-only after New, so safe
// for concurrent use.
type Plan struct {
	extensions map[string]bool
}

// New makes a plan in which each of extensions is reachable by its number.
func New(extensions []string) (*Plan, error) {
	p := &Plan{extensions: make(map[string]bool, len(extensions))}
	for _, e := range extensions {
		if e == "" {
			return nil, fmt.Errorf("dialplan: empty extension number")
		}
		if p.extensions[e] {
			return nil, fmt.Errorf("dialplan: extension %q defined twice", e)
		}
		p.extensions[e] = true
	}
	return p, nil
}

// Route returns where number goes, or ok=false when it matches nothing.
func (p *Plan) Route(number string) (Route, bool) {
	if p.extensions[number] {
		return Route{Target: events.Target{Type: events.Extension, Target: number}, Ring: []string{number}}, true
	}
	return Route{}, false
}
