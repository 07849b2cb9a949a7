package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"strings"
)

// The writer's batches go in as multi-row statements: each statement costs
// the writer a share of its own (the calls through database/sql and the
// driver, binding, starting SQLite's program for it) besides its rows'
// work, which a batch's rows then share.

// maxRowsLog bounds a multi-row statement to 1<<maxRowsLog rows, far below
// SQLite's limit on bound parameters (32,766) for the widest row here.
const maxRowsLog = 8

// multiRow is a statement over a list of rows, prepared for each length a
// power of two up to 1<<maxRowsLog: a batch of n rows takes one statement
// per set bit of n, largest first, so that its rows keep their order.
// Preparing each length as it is met is not possible inside the
// transaction (preparing on the writer needs its only connection), and
// preparing a chunk's statement in its transaction cost 7–75% more CPU
// per row than these (docs/benchmarks.md).
type multiRow [maxRowsLog + 1]*sql.Stmt

// prepareMultiRow prepares q, whose %s stands for a list of rows, each
// row, for each length; one, if set, instead of q for a single row. The
// parameters of row are anonymous (?): the driver looks up the name of each
// parameter it binds, which for numbered or named ones costs a scan of them
// all, and so grows with the square of the rows.
func prepareMultiRow(ctx context.Context, db *sql.DB, q, row, one string) (*multiRow, error) {
	m := new(multiRow)
	for k := range m {
		rows := strings.Repeat(row+",", 1<<k)
		text := fmt.Sprintf(q, rows[:len(rows)-1])
		if k == 0 && one != "" {
			text = one
		}
		p, err := db.PrepareContext(ctx, text)
		if err != nil {
			m.close()
			return nil, err
		}
		m[k] = p
	}
	return m, nil
}

// each calls do with the statement, within tx, for each chunk of rows
// [from, to) of n rows, in order.
func (m *multiRow) each(ctx context.Context, tx *sql.Tx, n int, do func(st *sql.Stmt, from, to int) error) error {
	for from := 0; from < n; {
		k := min(bits.Len(uint(n-from))-1, maxRowsLog)
		to := from + 1<<k
		if err := do(tx.StmtContext(ctx, m[k]), from, to); err != nil {
			return err
		}
		from = to
	}
	return nil
}

func (m *multiRow) close() {
	if m == nil {
		return
	}
	for _, p := range m {
		if p != nil {
			p.Close()
		}
	}
}
