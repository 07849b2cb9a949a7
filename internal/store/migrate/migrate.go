package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Migration is one schema change: the SQL of the file Name, which takes the
// schema to Version.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the migrations in dir of fsys, the files named NNNN_what.sql,
// in version order. It refuses a file whose name does not start with a
// version number and _, and versions that do not run 1, 2, 3… without a gap.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, f := range files {
		name := path.Base(f)
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name does not start with a version number and _", name)
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// Pending returns the migrations of ms, as Load returns them, that a
// database at schema version cur lacks. It refuses a database whose version
// is newer than the last of ms: the program would not know its tables.
func Pending(ms []Migration, cur int) ([]Migration, error) {
	if cur > len(ms) {
		return nil, fmt.Errorf("database schema version %d is newer than this program's %d; run a newer switchhook", cur, len(ms))
	}
	return ms[cur:], nil
}
