package exec

import "github.com/siltdb/silt/query/sql"

// lastOnly reports whether q can be answered from each series' latest row
// with a value of each field it reads: it groups by tags only, every
// aggregate is last(field, time), and WHERE (beyond the time range)
// constrains tags only. A group's last(x, time) is then the latest x among
// its series' latest x's, so a source may deliver just those rows
// (ScanSpec.LastOnly) — a per-series summary instead of a scan.
func lastOnly(q *sql.Query) bool {
	if q.Table == nil || !q.Aggregated || q.TimeKey >= 0 || len(q.Aggregates) == 0 {
		return false
	}
	for _, k := range q.GroupBy {
		if k.Column.Kind != sql.KindTag {
			return false
		}
	}
	for _, a := range q.Aggregates {
		ref, ok := a.Arg.(*sql.ColumnRef)
		if a.Func != sql.AggLast || !ok || ref.Column.Kind != sql.KindField {
			return false
		}
	}
	tagsOnly := true
	if q.Residual != nil {
		sql.Walk(q.Residual, func(e sql.Expr) bool {
			if ref, ok := e.(*sql.ColumnRef); ok && ref.Column.Kind != sql.KindTag {
				tagsOnly = false
			}
			return tagsOnly
		})
	}
	return tagsOnly
}
