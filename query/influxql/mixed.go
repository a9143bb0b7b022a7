package influxql

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/influxdata/influxql"
)

// mode(), percentile() and count(distinct()) are computed from the points
// (see reduce.go); next to aggregates the SQL executor computes (mean,
// sum, count...), each group of fields runs on its own and their rows are
// joined per series and window, as InfluxDB joins its fields' iterators.

// reducerOnly reports whether call needs the points reducer.
func reducerOnly(call *influxql.Call) bool {
	return call.Name == "mode" || call.Name == "percentile" || isCountDistinct(call)
}

// splitMixed returns the indexes of the fields the reducer computes and
// of the others, when every field is a call and both groups are there.
func splitMixed(fields influxql.Fields) (red, other []int, ok bool) {
	for i, f := range fields {
		call, isCall := f.Expr.(*influxql.Call)
		if !isCall || call.Name == "distinct" {
			return nil, nil, false
		}
		if reducerOnly(call) || call.Name == "first" || call.Name == "last" {
			// first() and last() too: the reducer breaks ties between
			// points of one time as InfluxDB does.
			red = append(red, i)
		} else {
			other = append(other, i)
		}
	}
	for _, i := range red {
		if reducerOnly(fields[i].Expr.(*influxql.Call)) {
			return red, other, len(other) > 0
		}
	}
	return nil, nil, false // first() and last() with SQL aggregates: SQL does it all
}

// mixedSeries runs the fields red and other as two queries and joins them.
func (c *selectCompiler) mixedSeries(ctx context.Context, red, other []int) ([]*seriesRows, error) {
	orig := c.stmt
	defer func() { c.stmt = orig }()
	width := len(orig.Fields)
	all := map[string]*seriesRows{}
	byTime := map[*seriesRows]map[int64][]any{}
	for _, idx := range [][]int{red, other} {
		part := orig.Clone()
		part.Fields = make(influxql.Fields, len(idx))
		for k, i := range idx {
			part.Fields[k] = orig.Fields[i]
		}
		c.stmt = part
		var list []*seriesRows
		var err error
		if calls, ok := reducible(part.Fields); ok {
			list, err = c.reduceSeries(ctx, calls)
		} else {
			list, err = c.aggregateSeries(ctx)
		}
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			js := all[s.key]
			if js == nil {
				js = &seriesRows{tags: s.tagMap(), key: s.key}
				all[s.key] = js
				byTime[js] = map[int64][]any{}
			}
			for _, r := range s.rows {
				t := r[0].(int64)
				if c.interval == 0 {
					// Several calls: the range start (0 without one), not a
					// selected point's time.
					t = 0
					if c.tmin != math.MinInt64 {
						t = c.tmin
					}
				}
				row := byTime[js][t]
				if row == nil {
					row = make([]any, 1+width)
					row[0] = t
					byTime[js][t] = row
					js.rows = append(js.rows, row)
				}
				for k, i := range idx {
					row[1+i] = r[1+k]
				}
			}
		}
	}
	list := sortedSeries(all)
	for _, s := range list {
		slices.SortStableFunc(s.rows, func(a, b []any) int { return cmp.Compare(a[0].(int64), b[0].(int64)) })
	}
	return list, nil
}
