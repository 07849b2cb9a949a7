package media

import (
	"testing"
	"time"
)

func waitStopped(t *testing.T, f *forwarder) {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("forwarder still running")
	}
}
