package migrate_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/switchhook/switchhook/internal/store/migrate"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql":  {Data: []byte("CREATE TABLE b (x)")},
		"m/0001_init.sql":  {Data: []byte("CREATE TABLE a (x)")},
		"m/README":         {Data: []byte("not a migration")},
		"other/0003_x.sql": {Data: []byte("not in m")},
	}
	ms, err := migrate.Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []migrate.Migration{
		{Version: 1, Name: "0001_init.sql", SQL: "CREATE TABLE a (x)"},
		{Version: 2, Name: "0002_more.sql", SQL: "CREATE TABLE b (x)"},
	}
	if len(ms) != len(want) {
		t.Fatalf("Load = %+v, want %+v", ms, want)
	}
	for i := range want {
		if ms[i] != want[i] {
			t.Errorf("Load()[%d] = %+v, want %+v", i, ms[i], want[i])
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"NoVersion", []string{"m/init.sql"}, "migration init.sql: name does not start with a version number and _"},
		{"NoUnderscore", []string{"m/0001.sql"}, "migration 0001.sql: name does not start"},
		{"VersionZero", []string{"m/0000_init.sql"}, "migration 0000_init.sql: name does not start"},
		{"Gap", []string{"m/0001_init.sql", "m/0003_more.sql"}, "migration 0003_more.sql: want version 2"},
		{"Twice", []string{"m/0001_init.sql", "m/0001_again.sql"}, "want version 2"},
		{"NotFromOne", []string{"m/0002_more.sql"}, "migration 0002_more.sql: want version 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys[f] = &fstest.MapFile{Data: []byte("SELECT 1")}
			}
			_, err := migrate.Load(fsys, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%v) = %v, want an error containing %q", tc.files, err, tc.want)
			}
		})
	}
}

func TestPending(t *testing.T) {
	ms := []migrate.Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}}
	for cur, want := range []int{2, 1, 0} {
		got, err := migrate.Pending(ms, cur)
		if err != nil || len(got) != want {
			t.Errorf("Pending at version %d = %d migrations, %v; want %d", cur, len(got), err, want)
		}
		if want > 0 && got[0].Version != cur+1 {
			t.Errorf("Pending at version %d starts at version %d, want %d", cur, got[0].Version, cur+1)
		}
	}
	_, err := migrate.Pending(ms, 3)
	if err == nil || !strings.Contains(err.Error(), "database schema version 3 is newer than this program's 2") {
		t.Errorf("Pending at version 3 of 2 = %v, want an error saying the schema is newer", err)
	}
}
