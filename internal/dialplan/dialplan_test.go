package dialplan

import (
	"testing"

	"github.com/switchhook/switchhook/internal/events"
)

func TestRoute(t *testing.T) {
	p, err := New([]string{"1001", "1002"})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := p.Route("1002")
	if !ok || r.Target != (events.Target{Type: events.Extension, Target: "1002"}) || len(r.Ring) != 1 || r.Ring[0] != "1002" {
		t.Errorf("Route(1002) = %+v, %v", r, ok)
	}
	for _, n := range []string{"", "9999", "100"} {
		if _, ok := p.Route(n); ok {
			t.Errorf("Route(%q) matched", n)
		}
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New([]string{"1", "1"}); err == nil {
		t.Error("duplicate accepted")
	}
	if _, err := New([]string{""}); err == nil {
		t.Error("empty number accepted")
	}
}
