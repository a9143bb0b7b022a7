package influxql

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/query/exec"
)

// Some selectors cannot be SQL aggregates with InfluxDB's exact answer:
// first() and last() break ties between points of equal time (different
// series, same timestamp, as TSBS data has) by taking the larger value,
// and percentile() is nearest-rank (index floor(n*N/100 + 0.5) - 1 of the
// sorted values), which neither percentile_cont nor percentile_disc is.
// Queries whose fields are all bare selector calls therefore read the
// points (filtered, pruned and projected by the SQL executor) and reduce
// them per series and window here.

// reducible reports whether every field is first, last, min, max or
// percentile of a field and at least one needs the reducer.
func reducible(fields influxql.Fields) ([]*influxql.Call, bool) {
	var calls []*influxql.Call
	need := false
	for _, f := range fields {
		call, ok := f.Expr.(*influxql.Call)
		if !ok {
			return nil, false
		}
		switch call.Name {
		case "first", "last", "percentile", "mode":
			need = true
		case "min", "max":
		case "distinct":
			if len(fields) != 1 {
				return nil, false
			}
			need = true
		case "count":
			if !isCountDistinct(call) {
				return nil, false
			}
			need = true
		default:
			return nil, false
		}
		calls = append(calls, call)
	}
	return calls, need
}

// allLast reports whether every call is last().
func allLast(calls []*influxql.Call) bool {
	for _, call := range calls {
		if call.Name != "last" {
			return false
		}
	}
	return true
}

// isCountDistinct reports whether call is count(distinct(field)).
func isCountDistinct(call *influxql.Call) bool {
	if call.Name != "count" || len(call.Args) != 1 {
		return false
	}
	inner, ok := call.Args[0].(*influxql.Call)
	return ok && inner.Name == "distinct"
}

type point struct {
	t int64
	v any
	f float64 // v as a float for ordering numbers
}

// better reports whether p replaces the current pick q for fn, following
// InfluxDB 1.x's reducers.
func better(fn string, p, q point) bool {
	switch fn {
	case "first":
		return p.t < q.t || (p.t == q.t && greater(p, q))
	case "last":
		return p.t > q.t || (p.t == q.t && greater(p, q))
	case "min":
		return greater(q, p) || (equal(p, q) && p.t < q.t)
	case "max":
		return greater(p, q) || (equal(p, q) && p.t < q.t)
	}
	return false
}

func greater(p, q point) bool {
	switch pv := p.v.(type) {
	case string:
		qv, _ := q.v.(string)
		return pv > qv
	case bool:
		qv, _ := q.v.(bool)
		return pv && !qv
	}
	return p.f > q.f
}

func equal(p, q point) bool {
	switch pv := p.v.(type) {
	case string, bool:
		return pv == q.v
	}
	return p.f == q.f
}

func (c *selectCompiler) reduceSeries(ctx context.Context, calls []*influxql.Call) ([]*seriesRows, error) {
	type arg struct {
		col  string
		pct  float64
		skip bool // argument is not a field: no points
	}
	args := make([]arg, len(calls))
	var cols, present []string
	colIdx := map[string]int{}
	idx := make([]int, len(calls))
	for i, call := range calls {
		want := 1
		if call.Name == "percentile" {
			want = 2
		}
		if len(call.Args) != want {
			return nil, fmt.Errorf("invalid number of arguments for %s, expected %d, got %d", call.Name, want, len(call.Args))
		}
		argCall := call
		if isCountDistinct(call) {
			argCall = call.Args[0].(*influxql.Call)
			if len(argCall.Args) != 1 {
				return nil, fmt.Errorf("distinct function requires exactly one argument")
			}
		}
		col, t, ok, err := c.callArg(argCall)
		if err != nil {
			return nil, err
		}
		if !ok {
			args[i].skip = true
			continue
		}
		if (call.Name == "min" || call.Name == "max" || call.Name == "percentile") && !numericField(t) {
			return nil, fmt.Errorf("unsupported %s() type: %s", call.Name, influxType(t))
		}
		if call.Name == "percentile" {
			switch a := call.Args[1].(type) {
			case *influxql.IntegerLiteral:
				args[i].pct = float64(a.Val)
			case *influxql.NumberLiteral:
				args[i].pct = a.Val
			default:
				return nil, fmt.Errorf("expected float argument in percentile()")
			}
		}
		args[i].col = col
		k, ok := colIdx[col]
		if !ok {
			k = len(cols)
			colIdx[col] = k
			cols = append(cols, col)
			present = append(present, col+" IS NOT NULL")
		}
		idx[i] = k
	}
	if len(cols) == 0 {
		return nil, nil
	}
	var b strings.Builder
	b.WriteString("SELECT time")
	for _, d := range c.dims {
		b.WriteString(", " + quoteIdent(d))
	}
	for _, col := range cols {
		b.WriteString(", " + col)
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s AND (%s)", quoteIdent(c.m), c.where, strings.Join(present, " OR "))
	if c.interval == 0 && c.tagCond && allLast(calls) {
		// A group's last value of a field is its series' last values' last
		// (ties by the larger value): each series' latest rows suffice.
		ctx = exec.WithLatestRows(ctx)
	}
	if c.interval == 0 && allLast(calls) {
		col := make([]int, len(calls))
		for i := range calls {
			col[i] = idx[i]
			if args[i].skip {
				col[i] = -1
			}
		}
		if list, ok, err := c.reduceLastTyped(ctx, b.String(), len(cols), col); ok || err != nil {
			return list, err
		}
	}
	res, err := c.runSQL(ctx, b.String())
	if err != nil {
		return nil, err
	}
	// Per series and window: per call, the pick so far (first, last, min,
	// max) or the collected points (percentile).
	type window struct {
		pick []point
		has  []bool
		pts  [][]point
		seen []map[any]int // distinct values → index in pts (distinct, count(distinct))
	}
	all := map[string]*seriesRows{}
	windows := map[*seriesRows]map[int64]*window{}
	nd := len(c.dims)
	newWindow := func() *window {
		return &window{pick: make([]point, len(calls)), has: make([]bool, len(calls)), pts: make([][]point, len(calls)),
			seen: make([]map[any]int, len(calls))}
	}
	for _, r := range res.Rows {
		tm, win := rowWindow(c, all, windows, r, nd, newWindow)
		for i, call := range calls {
			if args[i].skip {
				continue
			}
			v := r[1+nd+idx[i]]
			if v == nil {
				continue
			}
			p := pointOf(tm, v)
			switch {
			case call.Name == "percentile" || call.Name == "mode":
				win.pts[i] = append(win.pts[i], p)
				continue
			case call.Name == "distinct" || call.Name == "count":
				if win.seen[i] == nil {
					win.seen[i] = map[any]int{}
				}
				if k, ok := win.seen[i][v]; !ok {
					win.seen[i][v] = len(win.pts[i])
					win.pts[i] = append(win.pts[i], p)
				} else if p.t < win.pts[i][k].t {
					win.pts[i][k].t = p.t // keep each value's first time
				}
				continue
			}
			if !win.has[i] || better(call.Name, p, win.pick[i]) {
				win.pick[i], win.has[i] = p, true
			}
		}
	}
	list := sortedSeries(all)
	for _, s := range list {
		for w, win := range windows[s] {
			if calls[0].Name == "distinct" {
				s.rows = append(s.rows, c.distinctRows(w, win.pts[0])...)
				continue
			}
			row := make([]any, 1+len(calls))
			row[0] = w
			if c.interval == 0 && c.tmin != math.MinInt64 {
				row[0] = c.tmin
			}
			found := false
			for i, call := range calls {
				if call.Name == "count" {
					if n := len(win.pts[i]); n > 0 {
						row[1+i] = int64(n)
						found = true
					}
					continue
				}
				if call.Name == "mode" {
					if v, ok := modeOf(win.pts[i]); ok {
						row[1+i] = v
						found = true
					}
					continue
				}
				if call.Name == "percentile" {
					pts := win.pts[i]
					k := int(math.Floor(float64(len(pts))*args[i].pct/100+0.5)) - 1
					if k < 0 || k >= len(pts) {
						continue
					}
					sort.SliceStable(pts, func(a, b int) bool {
						if pts[a].f != pts[b].f {
							return pts[a].f < pts[b].f
						}
						return pts[a].t < pts[b].t
					})
					win.pick[i], win.has[i] = pts[k], true
				}
				if win.has[i] {
					row[1+i] = win.pick[i].v
					found = true
				}
			}
			if !found {
				continue
			}
			if c.interval == 0 && len(calls) == 1 && selectors[calls[0].Name] {
				// A lone selector reports its point's time; count(distinct())
				// and mode() are stamped with the range start, as aggregates.
				row[0] = win.pick[0].t
			}
			s.rows = append(s.rows, row)
		}
		if calls[0].Name == "distinct" {
			// Windows in time order; each window's values in value order.
			sort.SliceStable(s.rows, func(a, b int) bool { return s.rows[a][0].(int64) < s.rows[b][0].(int64) })
		} else if c.interval > 0 {
			var err error
			if s.rows, err = c.fill(s.rows); err != nil {
				return nil, err
			}
		} else {
			sort.Slice(s.rows, func(a, b int) bool { return s.rows[a][0].(int64) < s.rows[b][0].(int64) })
		}
	}
	return list, nil
}

// distinctRows are the rows of distinct() for one window: one per value,
// in the order the values first occur (InfluxDB 1.6's order), at the
// window's time.
func (c *selectCompiler) distinctRows(w int64, pts []point) [][]any {
	sort.SliceStable(pts, func(a, b int) bool {
		if pts[a].t != pts[b].t {
			return pts[a].t < pts[b].t
		}
		return greater(pts[b], pts[a])
	})
	t := w
	if c.interval == 0 {
		t = 0
		if c.tmin != math.MinInt64 {
			t = c.tmin
		}
	}
	rows := make([][]any, len(pts))
	for i, p := range pts {
		rows[i] = []any{t, p.v}
	}
	return rows
}

// modeOf is the most frequent value, the smallest of equally frequent
// ones. (InfluxDB 1.6 agrees when one value is most frequent and when all
// values occur once; among several values that occur equally often more
// than once, its choice depends on an unstable sort.)
func modeOf(pts []point) (any, bool) {
	if len(pts) == 0 {
		return nil, false
	}
	sort.SliceStable(pts, func(a, b int) bool { return greater(pts[b], pts[a]) })
	best, bestN := 0, 0
	for i := 0; i < len(pts); {
		j := i + 1
		for j < len(pts) && equal(pts[j], pts[i]) {
			j++
		}
		if j-i > bestN {
			best, bestN = i, j-i
		}
		i = j
	}
	return pts[best].v, true
}

// rowWindow returns the time of result row r (time, nd dimensions, then
// values) and the state of its series and window in windows, made by mk
// the first time; series are found or added in all.
func rowWindow[W any](c *selectCompiler, all map[string]*seriesRows, windows map[*seriesRows]map[int64]*W, r []any, nd int, mk func() *W) (int64, *W) {
	s := c.seriesFor(all, r[1:1+nd])
	tm := r[0].(time.Time).UnixNano()
	w := int64(0)
	if c.interval > 0 {
		w = c.bucketStart(tm)
	}
	ws := windows[s]
	if ws == nil {
		ws = map[int64]*W{}
		windows[s] = ws
	}
	win := ws[w]
	if win == nil {
		win = mk()
		ws[w] = win
	}
	return tm, win
}
