package exec

import "github.com/siltdb/silt/query/sql"

// lastOnly reports whether q can be answered from each series' latest row
// with a value of each field it reads: it groups by tags only, every
// aggregate is last(field, time), and WHERE (beyond the time range)
// constrains tags only. A group's last(x, time) is then the latest x among
// its series' latest x's, so a source may deliver just those rows
// (ScanSpec.LastOnly) — a per-series summary instead of a scan. The same
// holds for max(time) over the rows where some fields have a value.
func lastOnly(q *sql.Query) bool {
	if q.Table == nil || !q.Aggregated || q.TimeKey >= 0 || len(q.Aggregates) == 0 {
		return false
	}
	for _, k := range q.GroupBy {
		if k.Column.Kind != sql.KindTag {
			return false
		}
	}
	lastTimes := true // every aggregate is max(time)
	for _, a := range q.Aggregates {
		ref, ok := a.Arg.(*sql.ColumnRef)
		switch {
		case !ok:
			return false
		case a.Func == sql.AggMax && ref.Column.Kind == sql.KindTime:
		case a.Func == sql.AggLast && ref.Column.Kind == sql.KindField:
			lastTimes = false
		default:
			return false
		}
	}
	present := false // max(time) needs the rows it ranges over named
	for _, c := range sql.Conjuncts(q.Residual) {
		switch {
		case tagsOnly(c):
		case lastTimes && presence(c):
			present = true
		default:
			return false
		}
	}
	return present || !lastTimes
}

// presence recognizes `f IS NOT NULL [OR g IS NOT NULL ...]` over fields:
// the rows where any of a set of fields has a value. The largest time of
// such rows in a series is the largest of those fields' last times, each
// of which the series' latest rows carry, so max(time) over them is exact
// (a raw query's newest point per group).
func presence(e sql.Expr) bool {
	args := []sql.Expr{e}
	if l, ok := e.(*sql.Logic); ok && l.Op == sql.OpOr {
		args = l.Args
	}
	for _, a := range args {
		n, ok := a.(*sql.IsNull)
		if !ok || !n.Not {
			return false
		}
		if ref, ok := n.X.(*sql.ColumnRef); !ok || ref.Column.Kind != sql.KindField {
			return false
		}
	}
	return true
}
