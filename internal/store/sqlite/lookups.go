package sqlite

import (
	"sync"

	"github.com/switchhook/switchhook/internal/store"
)

// lookups keeps in memory what the PBX reads at every call: one
// extension's registrations and one number's forwarding (none, mostly).
// Reading them from the file cost two queries a call. The copies are safe
// because the file has one process (Open's lock) and every change to those
// tables goes through this Store, which drops the copy it changed.
//
// A copy is kept only if nothing changed while it was read: gen counts the
// changes, and a read that began before one is used once, not kept.
type lookups struct {
	mu   sync.Mutex
	gen  uint64
	regs map[string][]store.Registration // by extension, expired ones too
	fwds map[string]*store.Forward       // by number; nil: none set
}

func (l *lookups) generation() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gen
}

func (l *lookups) registrations(ext string) ([]store.Registration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rs, ok := l.regs[ext]
	return rs, ok
}

func (l *lookups) keepRegistrations(ext string, rs []store.Registration, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return
	}
	if l.regs == nil {
		l.regs = make(map[string][]store.Registration)
	}
	l.regs[ext] = rs
}

func (l *lookups) forward(number string) (*store.Forward, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fwds[number]
	return f, ok
}

func (l *lookups) keepForward(number string, f *store.Forward, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return
	}
	if l.fwds == nil {
		l.fwds = make(map[string]*store.Forward)
	}
	l.fwds[number] = f
}

// changedRegistrations drops ext's copy; called after every change to its
// registrations, whether the change was committed or not.
func (l *lookups) changedRegistrations(ext string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	delete(l.regs, ext)
}

// changedForward drops number's copy, as changedRegistrations does.
func (l *lookups) changedForward(number string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gen++
	delete(l.fwds, number)
}
