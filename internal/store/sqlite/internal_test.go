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

// TestQueryPlans guards the indexes the hot paths rely on: a claim reads chain
// heads from an index alone, and then only the rows it chose, never scanning
// the pending deliveries.
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
		{"ClaimHeads", claimHeadsSQL, []any{"a", 0, 10}, "USING COVERING INDEX deliveries_heads "},
		{"ClaimRows", claimRowsSQL, []any{"[1,2]"}, "SEARCH d USING INTEGER PRIMARY KEY (rowid=?)"},
		{"ClaimHeadRows", claimHeadRowsSQL, []any{"a", 0, 10}, "USING INDEX deliveries_heads "},
		{"DueHeads", dueHeadsSQL, []any{"a"}, "USING COVERING INDEX deliveries_heads_due "},
		{"ChainHead", insertDeliverySQL, []any{1, "a", "c", 0, 0}, "USING COVERING INDEX deliveries_chain "},
		{"PromoteHead", promoteHeadSQL, []any{"a", "c"}, "USING COVERING INDEX deliveries_chain "},
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
