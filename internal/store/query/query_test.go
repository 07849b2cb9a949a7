package query_test

import (
	"reflect"
	"testing"

	"github.com/switchhook/switchhook/internal/store/query"
)

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		name     string
		numbered bool
		want     string
	}{
		{"Question", false, " WHERE kind = ? AND (a = ? OR b = ?)"},
		{"Numbered", true, " WHERE kind = $1 AND (a = $2 OR b = $3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := query.Where{Numbered: tc.numbered}
			if got := w.String(); got != "" {
				t.Errorf("String of no condition = %q, want \"\"", got)
			}
			w.Add("kind = ?", "CALL_ROUTED")
			w.Add("(a = ? OR b = ?)", "1001", "1001")
			if got := w.String(); got != tc.want {
				t.Errorf("String = %q, want %q", got, tc.want)
			}
			if got, want := w.Args(), []any{"CALL_ROUTED", "1001", "1001"}; !reflect.DeepEqual(got, want) {
				t.Errorf("Args = %v, want %v", got, want)
			}
		})
	}
}

func TestLimit(t *testing.T) {
	for n, want := range map[int]string{-1: "", 0: "", 1: " LIMIT 1", 100: " LIMIT 100"} {
		if got := query.Limit(n); got != want {
			t.Errorf("Limit(%d) = %q, want %q", n, got, want)
		}
	}
}
