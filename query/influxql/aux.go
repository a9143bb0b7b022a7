package influxql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"
)

// A selector next to tags or fields (SELECT max(x), host, free FROM ...)
// answers, per series and window, the selected point's value with that
// point's tags and fields, as InfluxDB does. The points are read with the
// extra columns and reduced here.

// auxSelector returns the query's selector call when its fields are one
// selector and names (tags or fields). Several selectors with names are
// InfluxDB's error.
func auxSelector(fields influxql.Fields) (*influxql.Call, bool, error) {
	var calls []*influxql.Call
	refs := 0
	for _, f := range fields {
		switch e := f.Expr.(type) {
		case *influxql.Call:
			calls = append(calls, e)
		case *influxql.VarRef:
			refs++
		default:
			return nil, false, nil
		}
	}
	if refs == 0 || len(calls) == 0 {
		return nil, false, nil
	}
	for _, call := range calls {
		if !selectors[call.Name] {
			return nil, false, nil // an aggregate with names: the usual error
		}
	}
	if len(calls) > 1 {
		return nil, false, errors.New("mixing multiple selector functions with tags or fields is not supported")
	}
	return calls[0], true, nil
}

// auxSeries answers a selector with tags or fields (see auxSelector).
func (c *selectCompiler) auxSeries(ctx context.Context, call *influxql.Call) ([]*seriesRows, error) {
	want := 1
	if call.Name == "percentile" {
		want = 2
	}
	if len(call.Args) != want {
		return nil, fmt.Errorf("invalid number of arguments for %s, expected %d, got %d", call.Name, want, len(call.Args))
	}
	col, t, ok, err := c.callArg(call)
	if err != nil || !ok {
		return nil, err
	}
	if call.Name != "first" && call.Name != "last" && !numericField(t) {
		return nil, fmt.Errorf("unsupported %s() type: %s", call.Name, influxType(t))
	}
	var pct float64
	if call.Name == "percentile" {
		switch a := call.Args[1].(type) {
		case *influxql.IntegerLiteral:
			pct = float64(a.Val)
		case *influxql.NumberLiteral:
			pct = a.Val
		default:
			return nil, errors.New("expected float argument in percentile()")
		}
	}
	// Where each field's value is in a point read (time, the selector's
	// value, the names); -1 for a name the measurement lacks.
	fieldCol := make([]int, len(c.stmt.Fields))
	isTag := make([]bool, len(c.stmt.Fields))
	var b strings.Builder
	b.WriteString("SELECT time")
	for _, d := range c.dims {
		b.WriteString(", " + quoteIdent(d))
	}
	b.WriteString(", " + col)
	n := 2
	for i, f := range c.stmt.Fields {
		ref, ok := f.Expr.(*influxql.VarRef)
		if !ok {
			fieldCol[i] = 1
			continue
		}
		fieldCol[i] = -1
		switch k, _ := resolve(c.schema, ref); k {
		case colTag, colField:
			isTag[i] = k == colTag
			fieldCol[i] = n
			n++
			b.WriteString(", " + quoteIdent(ref.Val))
		}
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s AND %s IS NOT NULL", quoteIdent(c.m), c.where, col)
	res, err := c.runSQL(ctx, b.String())
	if err != nil {
		return nil, err
	}
	type window struct {
		pick []any // time, value, names
		p    point
		pts  [][]any
	}
	all := map[string]*seriesRows{}
	windows := map[*seriesRows]map[int64]*window{}
	nd := len(c.dims)
	for _, r := range res.Rows {
		tm, win := rowWindow(c, all, windows, r, nd, func() *window { return &window{} })
		row := append([]any{tm}, r[1+nd:]...)
		if call.Name == "percentile" {
			win.pts = append(win.pts, row)
			continue
		}
		p := point{t: tm, v: row[1]}
		p.f, _ = asFloat(row[1])
		if win.pick == nil || better(call.Name, p, win.p) {
			win.pick, win.p = row, p
		}
	}
	list := sortedSeries(all)
	for _, s := range list {
		for w, win := range windows[s] {
			pick := win.pick
			if call.Name == "percentile" {
				pts := win.pts
				k := int(math.Floor(float64(len(pts))*pct/100+0.5)) - 1
				if k < 0 || k >= len(pts) {
					continue
				}
				sort.SliceStable(pts, func(a, b int) bool {
					fa, _ := asFloat(pts[a][1])
					fb, _ := asFloat(pts[b][1])
					if fa != fb {
						return fa < fb
					}
					return pts[a][0].(int64) < pts[b][0].(int64)
				})
				pick = pts[k]
			}
			row := make([]any, 1+len(c.stmt.Fields))
			row[0] = pick[0]
			if c.interval > 0 {
				row[0] = w
			}
			for i, fc := range fieldCol {
				if fc < 0 {
					continue
				}
				v := pick[fc]
				if isTag[i] && v == "" {
					v = nil // a series without the tag
				}
				row[1+i] = v
			}
			s.rows = append(s.rows, row)
		}
		sort.Slice(s.rows, func(a, b int) bool { return s.rows[a][0].(int64) < s.rows[b][0].(int64) })
		if c.interval > 0 {
			if s.rows, err = c.auxFill(s.rows, fieldCol); err != nil {
				return nil, err
			}
		}
	}
	return list, nil
}

// auxFill lays a selector-with-names series on every window of the range
// and fills the empty ones as InfluxDB does: fill(previous) repeats the
// previous row whole (in output order), fill(linear) interpolates the
// selector's value only, and fill(N) puts N wherever a row has no value,
// names included.
func (c *selectCompiler) auxFill(rows [][]any, fieldCol []int) ([][]any, error) {
	if c.stmt.Fill == influxql.NoFill || len(rows) == 0 {
		return rows, nil
	}
	start := rows[0][0].(int64)
	if c.tmin != math.MinInt64 {
		start = c.bucketStart(c.tmin)
	}
	end := c.bucketStart(c.tmax)
	if n := uint64(end-start)/uint64(c.interval) + 1; c.req.MaxRows > 0 && n > uint64(c.req.MaxRows) {
		return nil, tooManyRowsf("GROUP BY time(%s) from %s to %s makes %d windows per series, more than %d (--query-max-rows); widen the interval or narrow the time range",
			time.Duration(c.interval), time.Unix(0, start).UTC().Format(time.RFC3339), time.Unix(0, end).UTC().Format(time.RFC3339), n, c.req.MaxRows)
	}
	var out [][]any
	var empty []bool
	k := 0
	for t := start; t <= end; t += c.interval {
		for k < len(rows) && rows[k][0].(int64) < t {
			k++
		}
		if k < len(rows) && rows[k][0].(int64) == t {
			out = append(out, rows[k])
			empty = append(empty, false)
			k++
		} else {
			row := make([]any, len(rows[0]))
			row[0] = t
			out = append(out, row)
			empty = append(empty, true)
		}
		if t > math.MaxInt64-c.interval {
			break
		}
	}
	sel := 0
	for i, fc := range fieldCol {
		if fc == 1 {
			sel = 1 + i
		}
	}
	switch c.stmt.Fill {
	case influxql.NumberFill:
		for i := 1; i < len(out[0]); i++ {
			v := c.stmt.FillValue
			if i == sel {
				v = c.fillValue(c.stmt.Fields[i-1].Expr)
			}
			for _, r := range out {
				if r[i] == nil {
					r[i] = v
				}
			}
		}
	case influxql.PreviousFill:
		desc := !c.stmt.TimeAscending()
		var prev []any
		for j := range out {
			at := j
			if desc {
				at = len(out) - 1 - j
			}
			if empty[at] && prev != nil {
				copy(out[at][1:], prev[1:])
			}
			prev = out[at]
		}
	case influxql.LinearFill:
		linear(out, sel, !c.stmt.TimeAscending(), c.interval)
	}
	return out, nil
}
