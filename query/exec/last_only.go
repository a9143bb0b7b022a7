package exec

import (
	"context"

	"github.com/siltdb/silt/query/sql"
)

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
		case !ok || a.Filter != nil:
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

type latestKey struct{}

// WithLatestRows asks the queries run under ctx for only each series'
// latest rows: per series and field read, the row at that field's largest
// time in the range (a row carries every field read with a value at its
// time). It is honoured by a query without aggregates whose WHERE, beyond
// the time range, constrains tags and field presence only; any other
// query reads every row. The caller reduces the rows itself: the rows are
// enough for the newest point of each series (the row at its largest
// time) and for each field's last value, not for anything else. InfluxQL
// answers its per-group newest points and last() this way, from the
// per-series summaries instead of a scan.
func WithLatestRows(ctx context.Context) context.Context {
	return context.WithValue(ctx, latestKey{}, true)
}

// latestRows reports whether q runs under WithLatestRows and may read
// only the series' latest rows.
func latestRows(ctx context.Context, q *sql.Query) bool {
	if on, _ := ctx.Value(latestKey{}).(bool); !on || q.Table == nil || q.Aggregated {
		return false
	}
	for _, c := range sql.Conjuncts(q.Residual) {
		if !tagsOnly(c) && !presence(c) {
			return false
		}
	}
	return true
}
