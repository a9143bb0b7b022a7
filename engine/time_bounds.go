package engine

import "math"

// TimeBounds returns bounds on the times of db.table's visible rows, from
// metadata alone (segment manifests and head ranges, no rows read): every
// row has lo <= time <= hi, though no row need sit at either bound (a
// deleted or overwritten row may have set it). ok is false when the table
// has no rows. Queries use the bounds to start a search from the data's
// end instead of an unbounded end of their range.
func (e *Engine) TimeBounds(db, table string) (lo, hi int64, ok bool) {
	if !e.ready.Load() {
		return 0, 0, false
	}
	visible := e.VisibleMin(db)
	lo, hi = math.MaxInt64, math.MinInt64
	widen := func(a, b int64) {
		if a > b {
			return // an empty head
		}
		lo, hi = min(lo, a), max(hi, b)
	}
	// The published sources (heads_pub.go), not under the engine's lock.
	v := e.snapHeads()
	for _, s := range v.manifest.Segments {
		if s.DB == db && s.Table == table && !s.IsRollup() {
			widen(s.MinTime, s.MaxTime)
		}
	}
	for _, fs := range v.frozen {
		if h := fs.heads[db][table]; h != nil {
			widen(h.TimeRange())
		}
	}
	if s := v.activeSnap(db, table); s != nil {
		widen(s.view.TimeRange())
	}
	lo = max(lo, visible)
	if lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}
