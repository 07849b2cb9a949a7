package connector

import (
	"sync"
	"testing"
)

// Pushes never block and come out in order, whatever the reader's pace.
func TestBacklog(t *testing.T) {
	t.Parallel()
	b := NewBacklog[int]()
	const n = 100000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			b.Push(i)
		}
	}()
	next := 0
	for next < n {
		<-b.Ready()
		for _, v := range b.Take() {
			if v != next {
				t.Fatalf("got %d, want %d", v, next)
			}
			next++
		}
	}
	wg.Wait()
	if b.Len() != 0 {
		t.Fatalf("%d left", b.Len())
	}
}
