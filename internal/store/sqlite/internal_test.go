package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPragmas(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		sync int
	}{
		{"Default", nil, 1},
		{"FullSync", []Option{WithFullSync()}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"), tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var mode string
			if err := st.w.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal_mode = %q, %v; want wal", mode, err)
			}
			for _, c := range []struct {
				db   string
				name string
				want int
			}{
				{"writer", "synchronous", tc.sync},
				{"writer", "foreign_keys", 1},
				{"writer", "busy_timeout", 10000},
				{"writer", "query_only", 0},
				{"reader", "synchronous", tc.sync},
				{"reader", "foreign_keys", 1},
				{"reader", "busy_timeout", 10000},
				{"reader", "query_only", 1},
			} {
				db := st.w
				if c.db == "reader" {
					db = st.r
				}
				var got int
				if err := db.QueryRow("PRAGMA " + c.name).Scan(&got); err != nil || got != c.want {
					t.Errorf("%s: PRAGMA %s = %d, %v; want %d", c.db, c.name, got, err, c.want)
				}
			}
		})
	}
}

// TestQueryPlans guards the indexes the queue and the API rely on: loading
// the pending deliveries, reading claimed events and a call's deliveries never
// scan the deliveries.
func TestQueryPlans(t *testing.T) {
	st, err := Open(t.Context(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, query string
		args        []any
		want        string
	}{
		{"LoadPending", loadPendingSQL, nil, "USING INDEX deliveries_pending"},
		{"ReadEvents", readEventsSQL, []any{"[1,2]"}, "USING INTEGER PRIMARY KEY (rowid=?)"},
		{"DeliveriesOfACall", deliveryQuery + " WHERE d.event_seq IN (SELECT seq FROM events WHERE call_uuid = ?)", []any{"c"}, "USING COVERING INDEX events_call"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := st.w.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			joined := strings.Join(plan, "\n")
			if !strings.Contains(joined, tc.want) {
				t.Errorf("plan:\n%s\nwant it to use %q", joined, tc.want)
			}
			if strings.Contains(joined, "SCAN d\n") || strings.Contains(joined, "SCAN deliveries\n") || strings.HasSuffix(joined, "SCAN deliveries") {
				t.Errorf("plan scans deliveries:\n%s", joined)
			}
		})
	}
}
