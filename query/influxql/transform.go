package influxql

import (
	"context"
	"fmt"
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
	inner := orig.Clone()
	inner.Limit, inner.Offset = 0, 0 // they apply to the transformed rows
	inner.Fields = make(influxql.Fields, len(ts))
	calls := 0
	for i, t := range ts {
		inner.Fields[i] = &influxql.Field{Expr: t.inner}
		if _, ok := t.inner.(*influxql.Call); ok {
			calls++
		} else if _, ok := t.inner.(*influxql.VarRef); !ok {
			return nil, fmt.Errorf("%s() takes a field or an aggregate, not %s", t.name, t.inner)
		}
	}
	c.stmt = inner
	defer func() { c.stmt = orig }()
	var list []*seriesRows
	var err error
	switch calls {
	case 0:
		if c.interval > 0 {
			return nil, fmt.Errorf("aggregate function required inside the call to %s", ts[0].name)
		}
		list, err = c.rawSeries(ctx)
	case len(ts):
		if c.interval == 0 {
			return nil, fmt.Errorf("%s aggregate requires a GROUP BY interval", ts[0].name)
		}
		if rc, ok := reducible(inner.Fields); ok {
			list, err = c.reduceSeries(ctx, rc)
		} else {
			list, err = c.aggregateSeries(ctx)
		}
	default:
		return nil, fmt.Errorf("%s(): mixing raw fields and aggregates is not supported", ts[0].name)
	}
	if err != nil {
		return nil, err
	}
	var out []*seriesRows
	for _, s := range list {
		sort.SliceStable(s.rows, func(a, b int) bool { return s.rows[a][0].(int64) < s.rows[b][0].(int64) })
		byTime := map[int64][]any{}
		var times []int64
		for i, t := range ts {
			unit := t.unit
			if unit == 0 {
				// InfluxDB's default: the GROUP BY interval, else 1s.
				unit = int64(time.Second)
				if c.interval > 0 {
					unit = c.interval
				}
			}
			for _, p := range applyTransform(t, unit, s.rows, 1+i) {
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
		if len(times) == 0 {
			continue
		}
		sort.Slice(times, func(a, b int) bool { return times[a] < times[b] })
		s.rows = s.rows[:0]
		for _, t := range times {
			s.rows = append(s.rows, byTime[t])
		}
		out = append(out, s)
	}
	return out, nil
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

// applyTransform computes one column's transformation as InfluxDB 1.x's
// reducers do: a window without a value is no point, so derivative() and
// difference() span it and moving_average() and cumulative_sum() skip it.
func applyTransform(t transform, unit int64, rows [][]any, col int) []tpoint {
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
			out = append(out, tpoint{curr.t, diff / (float64(curr.t-prev.t) / float64(unit))})
		}
	case "elapsed":
		// Time since the previous point (of any series in the group), in
		// units, at the later point's time.
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
