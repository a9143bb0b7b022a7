package influxql

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/influxdata/influxql"
)

// Transformations run over a series' points in time order after the SQL
// executor has produced them: derivative(), difference(), moving_average()
// and cumulative_sum() of a field (raw points) or of an aggregate with
// GROUP BY time (its windows, after fill).

var transformFuncs = map[string]bool{"derivative": true, "non_negative_derivative": true, "difference": true,
	"non_negative_difference": true, "moving_average": true, "cumulative_sum": true, "elapsed": true}

type transform struct {
	name  string
	inner influxql.Expr
	unit  int64 // derivative unit in ns; 0: the default
	n     int   // moving_average window
}

// transformsOf returns the fields' transformations, nil when there are
// none, or an error when only some fields are transformations.
func transformsOf(fields influxql.Fields) ([]transform, error) {
	var out []transform
	for _, f := range fields {
		call, ok := f.Expr.(*influxql.Call)
		if !ok || !transformFuncs[call.Name] {
			continue
		}
		t := transform{name: call.Name}
		switch call.Name {
		case "derivative", "non_negative_derivative":
			if len(call.Args) < 1 || len(call.Args) > 2 {
				return nil, fmt.Errorf("invalid number of arguments for %s, expected at least 1 but no more than 2, got %d", call.Name, len(call.Args))
			}
			if len(call.Args) == 2 {
				d, ok := call.Args[1].(*influxql.DurationLiteral)
				if !ok || d.Val <= 0 {
					return nil, fmt.Errorf("second argument to %s must be a duration, got %s", call.Name, call.Args[1])
				}
				t.unit = int64(d.Val)
			}
		case "elapsed":
			if len(call.Args) < 1 || len(call.Args) > 2 {
				return nil, fmt.Errorf("invalid number of arguments for elapsed, expected at least 1 but no more than 2, got %d", len(call.Args))
			}
			t.unit = 1
			if len(call.Args) == 2 {
				d, ok := call.Args[1].(*influxql.DurationLiteral)
				if !ok || d.Val <= 0 {
					return nil, fmt.Errorf("second argument to elapsed must be a duration, got %s", call.Args[1])
				}
				t.unit = int64(d.Val)
			}
		case "moving_average":
			if len(call.Args) != 2 {
				return nil, fmt.Errorf("invalid number of arguments for moving_average, expected 2, got %d", len(call.Args))
			}
			n, ok := call.Args[1].(*influxql.IntegerLiteral)
			if !ok || n.Val <= 1 {
				return nil, fmt.Errorf("moving_average window must be greater than 1, got %s", call.Args[1])
			}
			t.n = int(n.Val)
		default:
			if len(call.Args) != 1 {
				return nil, fmt.Errorf("invalid number of arguments for %s, expected 1, got %d", call.Name, len(call.Args))
			}
		}
		t.inner = call.Args[0]
		out = append(out, t)
	}
	if len(out) > 0 && len(out) != len(fields) {
		return nil, fmt.Errorf("%s() combined with other fields is not supported by Silt: put every field in a transformation or none", out[0].name)
	}
	return out, nil
}

func (c *selectCompiler) transformSeries(ctx context.Context, ts []transform) ([]*seriesRows, error) {
	orig := c.stmt
	calls := 0
	for _, t := range ts {
		if _, ok := t.inner.(*influxql.Call); ok {
			calls++
		} else if _, ok := t.inner.(*influxql.VarRef); !ok {
			return nil, fmt.Errorf("%s() takes a field or an aggregate, not %s", t.name, t.inner)
		}
	}
	switch {
	case calls == 0 && c.interval > 0:
		return nil, fmt.Errorf("aggregate function required inside the call to %s", ts[0].name)
	case calls == len(ts) && c.interval == 0:
		return nil, fmt.Errorf("%s aggregate requires a GROUP BY interval", ts[0].name)
	case calls != 0 && calls != len(ts):
		return nil, fmt.Errorf("%s(): mixing raw fields and aggregates is not supported", ts[0].name)
	}
	if calls > 0 && orig.TimeAscending() && c.tmin == math.MinInt64 {
		// Without a lower time bound InfluxDB 1.x answers nothing for a
		// transformation over GROUP BY time (for those that read a window
		// before the range, its start wraps below its smallest time).
		return nil, nil
	}
	// Over GROUP BY time, InfluxDB reads one window beyond the range for
	// the transformations that compare a window with earlier ones, so
	// that the first window in the range has a value (a rate panel's
	// first point); cumulative_sum() reads the range only. Each group of
	// fields reads its own windows (fill included).
	var back, plain []int
	for i, t := range ts {
		if calls > 0 && t.name != "cumulative_sum" {
			back = append(back, i)
		} else {
			plain = append(plain, i)
		}
	}
	var inputs []transformInput
	for _, g := range []struct {
		idx      []int
		lookback bool
	}{{plain, false}, {back, true}} {
		if len(g.idx) == 0 {
			continue
		}
		in, err := c.transformInput(ctx, orig, ts, g.idx, g.lookback)
		if err != nil {
			return nil, err
		}
		inputs = append(inputs, in)
	}
	c.limited = true
	// InfluxDB computes transformations in output order: with ORDER BY
	// time DESC, difference() is each value minus the next later one.
	desc := !orig.TimeAscending()
	all := map[string]*seriesRows{}
	for _, in := range inputs {
		for _, s := range in.series {
			if _, ok := all[s.key]; !ok {
				all[s.key] = &seriesRows{tags: s.tagMap(), key: s.key}
			}
		}
	}
	var out []*seriesRows
	for _, s := range sortedSeries(all) {
		byTime := map[int64][]any{}
		var times []int64
		for _, in := range inputs {
			src := in.series[s.key]
			if src == nil {
				continue
			}
			rows := src.rows
			sort.SliceStable(rows, func(a, b int) bool { return rows[a][0].(int64) < rows[b][0].(int64) })
			if desc {
				// Points of one time (several series) come in reverse
				// order too, as in InfluxDB.
				slices.Reverse(rows)
			}
			for k, i := range in.idx {
				t := ts[i]
				unit := t.unit
				if unit == 0 {
					// InfluxDB's default: the GROUP BY interval, else 1s.
					unit = int64(time.Second)
					if c.interval > 0 {
						unit = c.interval
					}
				}
				// InfluxDB applies LIMIT and OFFSET to each field's points
				// before it joins the fields' rows by time.
				pts := limitRows(applyTransform(t, unit, rows, 1+k, desc), orig.Limit, orig.Offset)
				if len(ts) == 1 {
					// Every point, also several at one time (raw points of
					// several series), in output order once finish has
					// reversed them for DESC.
					for j := range pts {
						p := pts[j]
						if desc {
							p = pts[len(pts)-1-j]
						}
						s.rows = append(s.rows, []any{p.t, p.v})
					}
					continue
				}
				for _, p := range pts {
					row, ok := byTime[p.t]
					if !ok {
						row = make([]any, 1+len(ts))
						row[0] = p.t
						byTime[p.t] = row
						times = append(times, p.t)
					}
					row[1+i] = p.v
				}
			}
		}
		if len(ts) == 1 {
			if len(s.rows) > 0 {
				out = append(out, s)
			}
			continue
		}
		if len(times) == 0 {
			continue
		}
		sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
		for _, t := range times {
			s.rows = append(s.rows, byTime[t])
		}
		if c.interval > 0 {
			c.joinFill(ts, s.rows, desc)
		}
		out = append(out, s)
	}
	return out, nil
}

// joinFill fills the holes of rows joined from several transformations'
// points as InfluxDB's join does with GROUP BY time: fill(previous) keeps
// the column's value of the row before in output order, fill(N) puts N in
// the column's type; other fills leave null.
func (c *selectCompiler) joinFill(ts []transform, rows [][]any, desc bool) {
	switch c.stmt.Fill {
	case influxql.PreviousFill:
		for i := 1; i <= len(ts); i++ {
			var prev any
			for k := range rows {
				r := rows[k]
				if desc {
					r = rows[len(rows)-1-k]
				}
				if r[i] == nil {
					r[i] = prev
				} else {
					prev = r[i]
				}
			}
		}
	case influxql.NumberFill:
		for i := 1; i <= len(ts); i++ {
			v := c.stmt.FillValue
			asInt := false
			switch ts[i-1].name {
			case "derivative", "non_negative_derivative", "moving_average":
			default:
				for _, r := range rows {
					if r[i] != nil {
						_, asInt = r[i].(int64)
						break
					}
				}
			}
			switch x := v.(type) {
			case float64:
				if asInt {
					v = int64(x)
				}
			case int64:
				if !asInt {
					v = float64(x)
				}
			}
			for _, r := range rows {
				if r[i] == nil {
					r[i] = v
				}
			}
		}
	}
}

// transformInput is what the transformations ts[idx[k]] work on: each
// series' raw points or windows, column 1+k holding ts[idx[k]]'s input.
type transformInput struct {
	idx    []int
	series map[string]*seriesRows
}

// transformInput reads the input of the transformations ts[idx...]; with
// lookback, one window beyond the range on the side the output starts
// from (before it ascending, after it descending), as InfluxDB does.
func (c *selectCompiler) transformInput(ctx context.Context, orig *influxql.SelectStatement, ts []transform, idx []int, lookback bool) (transformInput, error) {
	in := transformInput{idx: idx, series: map[string]*seriesRows{}}
	inner := orig.Clone()
	inner.Limit, inner.Offset = 0, 0 // they apply to the transformed rows
	inner.Fields = make(influxql.Fields, len(idx))
	for k, i := range idx {
		inner.Fields[k] = &influxql.Field{Expr: ts[i].inner}
	}
	c.stmt = inner
	defer func() { c.stmt = orig }()
	var list []*seriesRows
	var err error
	if c.interval == 0 {
		list, err = c.rawSeries(ctx)
	} else {
		if lookback {
			tmin, tmax := c.tmin, c.tmax
			if orig.TimeAscending() {
				c.tmin -= c.interval // bounded: see transformSeries
			} else if c.tmax <= math.MaxInt64-c.interval {
				c.tmax += c.interval
			}
			c.setWhere()
			defer func() {
				c.tmin, c.tmax = tmin, tmax
				c.setWhere()
			}()
		}
		if rc, ok := reducible(inner.Fields); ok {
			list, err = c.reduceSeries(ctx, rc)
		} else {
			list, err = c.aggregateSeries(ctx)
		}
	}
	if err != nil {
		return in, err
	}
	for _, s := range list {
		in.series[s.key] = s
	}
	return in, nil
}

type tpoint struct {
	t int64
	v any
}

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// applyTransform computes one column's transformation over rows in output
// order (descending with desc) as InfluxDB 1.x's reducers do: a window
// without a value is no point, so derivative() and difference() span it
// and moving_average() and cumulative_sum() skip it.
func applyTransform(t transform, unit int64, rows [][]any, col int, desc bool) []tpoint {
	var out []tpoint
	switch t.name {
	case "derivative", "non_negative_derivative", "difference", "non_negative_difference":
		var prev, curr *tpoint
		for _, r := range rows {
			p := &tpoint{t: r[0].(int64), v: r[col]}
			if p.v == nil {
				continue // an empty window is no point: the chain spans it
			}
			if curr != nil && curr.t == p.t {
				continue // several points at one time: the first counts
			}
			prev, curr = curr, p
			if prev == nil {
				continue
			}
			nonNeg := t.name == "non_negative_derivative" || t.name == "non_negative_difference"
			if t.name == "difference" || t.name == "non_negative_difference" {
				if a, ok := curr.v.(int64); ok {
					b, _ := prev.v.(int64)
					if !nonNeg || a-b >= 0 {
						out = append(out, tpoint{curr.t, a - b})
					}
					continue
				}
			}
			a, ok1 := asFloat(curr.v)
			b, ok2 := asFloat(prev.v)
			if !ok1 || !ok2 {
				continue
			}
			diff := a - b
			if nonNeg && diff < 0 {
				continue
			}
			if t.name == "difference" || t.name == "non_negative_difference" {
				out = append(out, tpoint{curr.t, diff})
				continue
			}
			elapsed := curr.t - prev.t
			if desc {
				elapsed = -elapsed
			}
			out = append(out, tpoint{curr.t, diff / (float64(elapsed) / float64(unit))})
		}
	case "elapsed":
		// Time since the previous point in output order (of any series in
		// the group; negative descending), in units, at the point's time.
		havePrev := false
		var prev int64
		for _, r := range rows {
			if r[col] == nil {
				continue
			}
			tm := r[0].(int64)
			if havePrev {
				out = append(out, tpoint{tm, (tm - prev) / unit})
			}
			prev, havePrev = tm, true
		}
	case "moving_average":
		buf := make([]float64, 0, t.n)
		pos := 0
		sum := 0.0
		for _, r := range rows {
			v, ok := asFloat(r[col])
			if !ok {
				continue
			}
			if len(buf) < t.n {
				buf = append(buf, v)
			} else {
				sum -= buf[pos]
				buf[pos] = v
			}
			sum += v
			if pos++; pos >= t.n {
				pos = 0
			}
			if len(buf) == t.n {
				out = append(out, tpoint{r[0].(int64), sum / float64(t.n)})
			}
		}
	case "cumulative_sum":
		var fsum float64
		var isum int64
		for _, r := range rows {
			switch v := r[col].(type) {
			case int64:
				isum += v
				out = append(out, tpoint{r[0].(int64), isum})
			case float64:
				fsum += v
				out = append(out, tpoint{r[0].(int64), fsum})
			}
		}
	}
	return out
}
