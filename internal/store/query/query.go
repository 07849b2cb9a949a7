package query

import (
	"fmt"
	"strconv"
	"strings"
)

// Where collects the conditions and arguments of a query built from a
// filter. The zero Where writes placeholders as ?.
type Where struct {
	// Numbered makes each ? of a condition $n, n being its argument's
	// position in the whole query, as PostgreSQL wants.
	Numbered bool

	conds []string
	args  []any
}

// Add appends a condition in which each ? stands for the next of args.
func (w *Where) Add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		if w.Numbered {
			cond = strings.Replace(cond, "?", "$"+strconv.Itoa(len(w.args)), 1)
		}
	}
	w.conds = append(w.conds, cond)
}

// Args returns the arguments of the conditions, in order.
func (w *Where) Args() []any { return w.args }

// String renders the WHERE clause with a leading space, or "" when there is
// no condition.
func (w *Where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Limit renders a LIMIT clause with a leading space; 0 or less means no
// limit and renders "".
func Limit(n int) string {
	if n <= 0 {
		return ""
	}
	return fmt.Sprintf(" LIMIT %d", n)
}
