package influxql

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
)

// top(), bottom() and integral() look at a series' points as one stream
// (top/bottom keep the selected points' own times and tags; integral
// interpolates across window boundaries), so they read the points and run
// here, one call per query.

// streamCall returns the query's lone top, bottom or integral call.
func streamCall(fields influxql.Fields) (*influxql.Call, bool) {
	if len(fields) != 1 {
		return nil, false
	}
	call, ok := fields[0].Expr.(*influxql.Call)
	if !ok || (call.Name != "top" && call.Name != "bottom" && call.Name != "integral") {
		return nil, false
	}
	return call, true
}

// streamPoints reads time, the GROUP BY tags, col and extra tag columns of
// every point where col has a value, grouped by series and sorted by time.
func (c *selectCompiler) streamPoints(ctx context.Context, col string, extra []string) ([]*seriesRows, error) {
	var b strings.Builder
	b.WriteString("SELECT time")
	for _, d := range c.dims {
		b.WriteString(", " + quoteIdent(d))
	}
	b.WriteString(", " + col)
	for _, e := range extra {
		b.WriteString(", " + quoteIdent(e))
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s AND %s IS NOT NULL", quoteIdent(c.m), c.where, col)
	res, err := c.runSQL(ctx, b.String())
	if err != nil {
		return nil, err
	}
	all := map[string]*seriesRows{}
	nd := len(c.dims)
	for _, r := range res.Rows {
		s := c.seriesFor(all, r[1:1+nd])
		row := append([]any{r[0].(time.Time).UnixNano()}, r[1+nd:]...)
		s.rows = append(s.rows, row)
	}
	list := sortedSeries(all)
	for _, s := range list {
		sort.SliceStable(s.rows, func(a, b int) bool { return s.rows[a][0].(int64) < s.rows[b][0].(int64) })
	}
	return list, nil
}

func (c *selectCompiler) streamSeries(ctx context.Context, call *influxql.Call) ([]*seriesRows, error) {
	if call.Name == "integral" {
		return c.integralSeries(ctx, call)
	}
	return c.topSeries(ctx, call)
}

// topSeries answers top(field[, tag ...], N) and bottom(...): per series
// and window, the N largest (smallest) values, the earliest point winning
// ties; with tags, only the best point of each tag combination competes.
// Rows keep the points' times and come in time order, with the tags as
// extra columns, as in InfluxDB.
func (c *selectCompiler) topSeries(ctx context.Context, call *influxql.Call) ([]*seriesRows, error) {
	if len(call.Args) < 2 {
		return nil, fmt.Errorf("invalid number of arguments for %s, expected at least 2, got %d", call.Name, len(call.Args))
	}
	nlit, ok := call.Args[len(call.Args)-1].(*influxql.IntegerLiteral)
	if !ok || nlit.Val <= 0 {
		return nil, fmt.Errorf("expected integer as last argument in %s(), found %s", call.Name, call.Args[len(call.Args)-1])
	}
	var tags []string
	for _, a := range call.Args[1 : len(call.Args)-1] {
		ref, ok := a.(*influxql.VarRef)
		if !ok {
			return nil, fmt.Errorf("only fields or tags are allowed in %s(), found %s", call.Name, a)
		}
		tags = append(tags, ref.Val)
	}
	col, t, ok, err := c.callArg(call)
	if err != nil || !ok {
		return nil, err
	}
	if !numericField(t) {
		return nil, fmt.Errorf("unsupported %s() type: %s", call.Name, influxType(t))
	}
	var known []string
	for _, tg := range tags {
		if k, _ := resolve(c.schema, &influxql.VarRef{Val: tg, Type: influxql.Tag}); k == colTag {
			known = append(known, tg)
		}
	}
	list, err := c.streamPoints(ctx, col, known)
	if err != nil {
		return nil, err
	}
	top := call.Name == "top"
	n := int(nlit.Val)
	better := func(a, b []any) bool {
		fa, _ := asFloat(a[1])
		fb, _ := asFloat(b[1])
		if fa != fb {
			return (fa > fb) == top
		}
		return a[0].(int64) < b[0].(int64)
	}
	for _, s := range list {
		windows := map[int64][][]any{}
		var order []int64
		for _, r := range s.rows {
			w := int64(0)
			if c.interval > 0 {
				w = c.bucketStart(r[0].(int64))
			}
			if _, ok := windows[w]; !ok {
				order = append(order, w)
			}
			windows[w] = append(windows[w], r)
		}
		sort.Slice(order, func(a, b int) bool { return order[a] < order[b] })
		var out [][]any
		for _, w := range order {
			pts := windows[w]
			if len(known) > 0 {
				best := map[string][]any{}
				var keys []string
				for _, p := range pts {
					k := fmt.Sprint(p[2:]...)
					if q, ok := best[k]; !ok || better(p, q) {
						if !ok {
							keys = append(keys, k)
						}
						best[k] = p
					}
				}
				pts = pts[:0:0]
				for _, k := range keys {
					pts = append(pts, best[k])
				}
			}
			sort.SliceStable(pts, func(a, b int) bool { return better(pts[a], pts[b]) })
			if len(pts) > n {
				pts = pts[:n]
			}
			sort.SliceStable(pts, func(a, b int) bool { return pts[a][0].(int64) < pts[b][0].(int64) })
			for _, p := range pts {
				row := []any{p[0], p[1]}
				// The tag columns, in argument order; unknown tags are null.
				for _, tg := range tags {
					var v any
					for j, k := range known {
						if k == tg {
							v = p[2+j]
						}
					}
					row = append(row, v)
				}
				out = append(out, row)
			}
		}
		s.rows = out
	}
	return list, nil
}

// integralSeries answers integral(field[, unit]): the area under the
// series' points by the trapezoidal rule, in units of unit (default 1s)
// per window; at a window boundary the value is interpolated between the
// points on either side, and the area over empty windows goes to the next
// window with points, as InfluxDB 1.6 does. Windows are not filled.
func (c *selectCompiler) integralSeries(ctx context.Context, call *influxql.Call) ([]*seriesRows, error) {
	if len(call.Args) < 1 || len(call.Args) > 2 {
		return nil, fmt.Errorf("invalid number of arguments for integral, expected at least 1 but no more than 2, got %d", len(call.Args))
	}
	unit := float64(time.Second)
	if len(call.Args) == 2 {
		d, ok := call.Args[1].(*influxql.DurationLiteral)
		if !ok || d.Val <= 0 {
			return nil, fmt.Errorf("second argument to integral must be a duration, got %s", call.Args[1])
		}
		unit = float64(d.Val)
	}
	col, t, ok, err := c.callArg(call)
	if err != nil || !ok {
		return nil, err
	}
	if !numericField(t) {
		return nil, fmt.Errorf("unsupported integral() type: %s", influxType(t))
	}
	// Points of one time from several series: InfluxDB keeps the one of the
	// first series in key order (the later replaces the earlier, and the
	// series come in descending order), so read the other tags to order them.
	var others []string
	for _, tg := range c.schema.Tags {
		if !slices.Contains(c.dims, tg) {
			others = append(others, tg)
		}
	}
	list, err := c.streamPoints(ctx, col, others)
	if err != nil {
		return nil, err
	}
	for _, s := range list {
		sort.SliceStable(s.rows, func(a, b int) bool {
			ta, tb := s.rows[a][0].(int64), s.rows[b][0].(int64)
			if ta != tb {
				return ta < tb
			}
			for k := 2; k < len(s.rows[a]); k++ {
				x, _ := s.rows[a][k].(string)
				y, _ := s.rows[b][k].(string)
				if x != y {
					return x > y
				}
			}
			return false
		})
	}
	start := int64(0)
	if c.tmin != math.MinInt64 {
		start = c.tmin
	}
	for _, s := range list {
		var out [][]any
		havePrev := false
		var pt int64
		var pv, sum float64
		var wstart, wend int64
		for _, r := range s.rows {
			tm := r[0].(int64)
			v, _ := asFloat(r[1])
			if !havePrev {
				pt, pv, havePrev = tm, v, true
				if c.interval > 0 {
					wstart = c.bucketStart(tm)
					wend = wstart + c.interval
				}
				continue
			}
			if tm == pt {
				pv = v // the later point at one time replaces the earlier
				continue
			}
			end := v // the value the next area ends at
			if c.interval > 0 && tm >= wend {
				// Close the window: the area up to its end, the value there
				// interpolated between the points on either side.
				if pt != wend {
					iv := pv + (v-pv)*float64(wend-pt)/float64(tm-pt)
					sum += 0.5 * (iv + pv) * float64(wend-pt) / unit
					// The next window's first area, as InfluxDB 1.x
					// computes it: for floats from the interpolated
					// value to the point's; for integers the previous
					// value stays and the interpolated one takes the
					// point's place.
					if t == columnar.FieldFloat {
						pv = iv
					} else {
						end = iv
					}
					pt = wend
				}
				out = append(out, []any{wstart, sum})
				wstart = c.bucketStart(tm)
				wend = wstart + c.interval
				sum = 0
			}
			sum += 0.5 * (end + pv) * float64(tm-pt) / unit
			pt, pv = tm, v
		}
		if havePrev {
			if c.interval == 0 {
				out = append(out, []any{start, sum})
			} else if pt != wstart {
				// A last window whose only point is at its start has no area.
				out = append(out, []any{wstart, sum})
			}
		}
		s.rows = out
	}
	return list, nil
}
