package influxql

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/query/sql"
)

// A GROUP BY time() query's answer (TSBS's single-groupby, cpu-max-all
// and double-groupby, a Grafana graph panel) is, per series, a row per
// window. aggregateTyped shapes it from the executor's typed columns
// instead of its rows: the windows of each series are the column row of
// the window's group, or -1 for a window without points, and the JSON
// encoder reads the values straight from the columns (typedValues). The
// general path (aggregateSeries) boxes every cell and the time of every
// group in a Go value, copies the rows into the series and again into
// the filled windows; for a small answer that was most of what InfluxQL
// cost on top of the same question in SQL.
//
// It answers what aggregateSeries and fill would, for fill(null) and
// fill(none) (the default and Grafana's two common choices); other fills
// read and write values across windows and stay on the general path.

// Count modes of a typed answer's value column (typedAnswer.counts).
const (
	countNone     uint8 = iota // not count()
	countNullZero              // fill(null): a window without a count is 0
	countZeroNull              // other fills: a count of 0 is no point (null)
)

// maxTypedWindows bounds the windows per series of the typed path; a
// query of more (an unbounded start, a tiny interval) takes the general
// path, which has its own bounds (--query-max-rows).
const maxTypedWindows = 1 << 20

// typedAggregate reports whether the typed path answers c's aggregate:
// GROUP BY time() over a time range with a start and at most
// maxTypedWindows windows, fill(null) or fill(none), for a caller that
// encodes the typed answer itself, and no LIMIT handed to the SQL
// executor (windowLimit), whose plan answers only as rows.
func (c *selectCompiler) typedAggregate() bool {
	if c.interval <= 0 || !c.req.TypedValues || (c.stmt.Fill != influxql.NullFill && c.stmt.Fill != influxql.NoFill) {
		return false
	}
	if c.tmin == math.MinInt64 || c.tmin > c.tmax ||
		uint64(c.bucketStart(c.tmax)-c.bucketStart(c.tmin))/uint64(c.interval) >= maxTypedWindows {
		return false
	}
	if _, ok := c.windowLimit(); ok {
		return false
	}
	_, ok := c.b.(ColumnBackend)
	return ok
}

// aggregateSeries asks it only for a caller that passes the series on to
// finish (keepTyped).
//
// aggregateTyped runs q, aggregateSeries's SQL (the window, the GROUP BY
// tags, nOut values, count(*)), as typed columns and shapes its series.
// ok is false, with nothing run, when the backend answers q only as rows.
func (c *selectCompiler) aggregateTyped(ctx context.Context, q *sql.Query, text string, nOut int) (list []*seriesRows, ok bool, err error) {
	cb, _ := c.b.(ColumnBackend)
	res, ok, err := cb.RunColumns(ctx, c.db, q)
	if !ok || err != nil {
		return nil, ok, err
	}
	nd := len(c.dims)
	first := 1 + nd
	if len(res.Cols) != first+nOut+1 || res.Cols[0].Type() != sql.TypeTimestamp || res.Cols[first+nOut].Type() != sql.TypeInt64 {
		return nil, true, fmt.Errorf("%w: the plan of %q answered %d columns, want a window, %d tags, %d values and a count", ErrInternal, text, len(res.Cols), nd, nOut)
	}
	// On top of the columns: per group its series and place (of, rows),
	// and per series' window its time and group (windows, rows).
	if err := c.req.mem.check(res.Bytes()+int64(len(res.Rows))*12, fmt.Sprintf("%d windows of %s, as the executor's columns and as series", len(res.Rows), c.m)); err != nil {
		return nil, true, err
	}
	counts := make([]uint8, nOut)
	hasCount := false
	for i, f := range c.stmt.Fields {
		if isCount(f.Expr) {
			hasCount = true
			counts[i] = countZeroNull
			if c.stmt.Fill == influxql.NullFill {
				counts[i] = countNullZero
			}
		}
	}
	if !hasCount {
		counts = nil
	}
	times := res.Cols[0].Int64s()
	points := res.Cols[first+nOut]
	vals := res.Cols[first : first+nOut]
	// hasValue: a group some value of which is a point; a count of 0 is
	// none (aggregateSeries makes it nil).
	hasValue := func(r int) bool {
		for i, col := range vals {
			if col.IsNull(r) {
				continue
			}
			if counts != nil && counts[i] != countNone && col.Type() == sql.TypeInt64 && col.Int64s()[r] == 0 {
				continue
			}
			return true
		}
		return false
	}
	find := c.newRowSeries(res.Cols, len(res.Rows))
	ans := &typedAnswer{cols: res, counts: counts}
	// Each group's series first (-1: a group of no points, none of which
	// aggregateSeries makes a row), then the series' groups carved from
	// one slice.
	of := make([]int32, len(res.Rows))
	var met []*seriesRows
	var per []int
	for i, r := range res.Rows {
		if points.IsNull(r) || points.Int64s()[r] == 0 {
			of[i] = -1
			continue
		}
		var s *seriesRows
		if nd == 0 {
			if len(met) == 0 {
				met, per = append(met, c.seriesFor(find.all, nil)), append(per, 0)
			}
			s = met[0]
		} else {
			var isNew bool
			if s, isNew = find.of(r, len(met)); isNew {
				met, per = append(met, s), append(per, 0)
			}
		}
		of[i] = int32(s.at)
		per[s.at]++
	}
	typed := make([]typedRows, len(met))
	groups := make([]int, len(res.Rows))
	lo := 0
	for k, s := range met {
		typed[k] = typedRows{cols: res, ans: ans, first: first, n: nOut, rows: groups[lo : lo : lo+per[k]]}
		s.typed = &typed[k]
		lo += per[k]
	}
	for i, r := range res.Rows {
		if of[i] >= 0 {
			t := &typed[of[i]]
			t.rows = append(t.rows, r)
		}
	}
	byTime := func(a, b int) int { return cmp.Compare(times[a], times[b]) }
	list = sortedSeries(find.all)
	if c.stmt.Fill == influxql.NoFill {
		// The windows with points, in time order (fill).
		for _, s := range list {
			t := s.typed
			if !slices.IsSortedFunc(t.rows, byTime) {
				slices.SortStableFunc(t.rows, byTime)
			}
			t.rows = slices.DeleteFunc(t.rows, func(r int) bool { return !hasValue(r) })
		}
		return list, true, nil
	}
	// fill(null): every window from the range's start to its end, those
	// without points -1, in every series that has a value (fill). The
	// windows of every series are carved from one slice.
	start, end := c.bucketStart(c.tmin), c.bucketStart(c.tmax)
	nw := int(uint64(end-start)/uint64(c.interval)) + 1 // typedAggregate bounds it
	filled := 0
	for _, s := range list {
		t := s.typed
		if !slices.IsSortedFunc(t.rows, byTime) {
			slices.SortStableFunc(t.rows, byTime)
		}
		if !slices.ContainsFunc(t.rows, hasValue) {
			t.rows = nil // InfluxDB has no series where no window has a value
			continue
		}
		if c.req.MaxRows > 0 && nw > c.req.MaxRows {
			return nil, true, tooManyRowsf("GROUP BY time(%s) from %s to %s makes %d windows per series, more than %d (--query-max-rows); widen the interval or narrow the time range",
				time.Duration(c.interval), time.Unix(0, start).UTC().Format(time.RFC3339), time.Unix(0, end).UTC().Format(time.RFC3339), nw, c.req.MaxRows)
		}
		filled++
	}
	total := filled * nw
	if err := c.req.mem.check(res.Bytes()+int64(len(res.Rows))*12+int64(total)*16, fmt.Sprintf("%d windows of %s, filled", total, c.m)); err != nil {
		return nil, true, err
	}
	wt := make([]int64, 0, total)
	wr := make([]int, 0, total)
	for _, s := range list {
		t := s.typed
		if t.rows == nil {
			continue
		}
		lo := len(wt)
		k := 0
		for i := range nw {
			w := start + int64(i)*c.interval
			for k < len(t.rows) && times[t.rows[k]] < w {
				k++
			}
			r := -1
			if k < len(t.rows) && times[t.rows[k]] == w {
				r = t.rows[k]
				k++
			}
			wt, wr = append(wt, w), append(wr, r)
		}
		t.windows, t.rows = wt[lo:len(wt):len(wt)], wr[lo:len(wr):len(wr)]
	}
	return list, true, nil
}

// cellNull reports whether value column j of column row r is written as
// null, and when not, whether it is a count written as 0 instead of its
// cell (r < 0 is a window without points).
func (t *typedValues) cellNull(j, r int, e *cellEnc) (null, zero bool) {
	mode := countNone
	if t.ans.counts != nil {
		mode = t.ans.counts[j]
	}
	if r < 0 || e.col.IsNull(r) {
		return mode != countNullZero, mode == countNullZero
	}
	if mode == countZeroNull && e.kind == encInt && e.i[r] == 0 {
		return true, false
	}
	return false, false
}
