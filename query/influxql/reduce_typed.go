package influxql

import (
	"context"
	"fmt"
	"math"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
)

// reduceLastTyped is reduceSeries for a query of last() calls only, over
// the executor's typed columns (ColumnBackend): each series' pick per
// call is a row number, compared by time and, only between points of one
// time, by value, so a Go value is made per answer cell rather than per
// cell read. text selects time, the GROUP BY tags, then the calls'
// columns (col[i] is call i's, -1 for a call with no field). ok is false,
// with nothing run, when the backend answers only rows.
func (c *selectCompiler) reduceLastTyped(ctx context.Context, text string, ncols int, col []int) (list []*seriesRows, ok bool, err error) {
	cb, isCol := c.b.(ColumnBackend)
	if !isCol {
		return nil, false, nil
	}
	q, err := c.compileSQL(text)
	if err != nil {
		return nil, true, err
	}
	res, ok, err := cb.RunColumns(ctx, c.db, q)
	if !ok || err != nil {
		return nil, ok, err
	}
	nd := len(c.dims)
	if len(res.Cols) != 1+nd+ncols || res.Cols[0].Type() != sql.TypeTimestamp {
		return nil, true, fmt.Errorf("%w: the plan of %q answered %d columns, want time and %d more", ErrInternal, text, len(res.Cols), nd+ncols)
	}
	times := res.Cols[0].Int64s()
	find := c.newRowSeries(res.Cols, len(res.Rows))
	all := find.all
	// Per series (in order of appearance, seriesRows.at): per call, the
	// row of its pick (-1: none yet), len(col) entries a series.
	var picks []int
	n := 0 // series met
	var s *seriesRows
	for _, r := range res.Rows {
		if nd > 0 || s == nil {
			var isNew bool
			if s, isNew = find.of(r, n); isNew {
				n++
				for range col {
					picks = append(picks, -1)
				}
			}
		}
		pick := picks[s.at*len(col) : (s.at+1)*len(col)]
		t := times[r]
		for i, ci := range col {
			if ci < 0 {
				continue
			}
			vc := res.Cols[1+nd+ci]
			if vc.IsNull(r) {
				continue
			}
			switch q := pick[i]; {
			case q < 0 || t > times[q]:
				pick[i] = r
			case t == times[q]:
				// Equal times (several series of the group): the larger
				// value, as reduceSeries's better("last") decides.
				if better("last", cellPoint(vc, r, t), cellPoint(vc, q, t)) {
					pick[i] = r
				}
			}
		}
	}
	list = sortedSeries(all)
	cells := make([]any, len(list)*(1+len(col)))
	for _, s := range list {
		pick := picks[s.at*len(col) : (s.at+1)*len(col)]
		row := cells[: 1+len(col) : 1+len(col)]
		cells = cells[1+len(col):]
		row[0] = int64(0)
		if c.tmin != math.MinInt64 {
			row[0] = c.tmin
		}
		found := false
		for i, ci := range col {
			if ci >= 0 && pick[i] >= 0 {
				row[1+i] = res.Cols[1+nd+ci].Value(pick[i])
				found = true
			}
		}
		if !found {
			continue
		}
		if len(col) == 1 {
			// A lone selector reports its point's time.
			row[0] = times[pick[0]]
		}
		s.rows = append(s.rows, row)
	}
	return list, true, nil
}

// cellPoint is row r of a value column as reduceSeries's points are.
func cellPoint(col exec.Column, r int, t int64) point {
	return pointOf(t, col.Value(r))
}

// pointOf is the point of value v at time t, its numeric value as a float.
func pointOf(t int64, v any) point {
	p := point{t: t, v: v}
	switch x := v.(type) {
	case float64:
		p.f = x
	case int64:
		p.f = float64(x)
	case uint64:
		p.f = float64(x)
	}
	return p
}
