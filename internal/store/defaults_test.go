package store

import (
	"testing"
	"time"
)

func TestDefaultsFillWhatIsUnset(t *testing.T) {
	t.Parallel()
	s := DefaultRetrySchedule()
	var total time.Duration
	for _, d := range s {
		total += d
	}
	if s[0] != 0 || total <= 24*time.Hour {
		t.Errorf("schedule %v: want a first attempt at once and more than a day in all, got %v", s, total)
	}
	s[1] = time.Hour
	if DefaultRetrySchedule()[1] == time.Hour {
		t.Fatal("DefaultRetrySchedule returns a shared slice")
	}
	ep := Endpoint{MaxInFlight: 3}
	ep.WithDefaults()
	if ep.Timeout != DefaultTimeout || len(ep.RetrySchedule) != len(s) || ep.MaxInFlight != 3 {
		t.Errorf("WithDefaults gave %+v", ep)
	}
}
