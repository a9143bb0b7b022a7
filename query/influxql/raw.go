package influxql

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/query/exec"
)

// rawSeries answers a SELECT without aggregates: every point where at
// least one selected field has a value, in time order, split by GROUP BY
// tags. The series' points are typed rows only while c.keepTyped.
func (c *selectCompiler) rawSeries(ctx context.Context) ([]*seriesRows, error) {
	list, err := c.rawSeriesOf(ctx)
	if err == nil && !c.keepTyped {
		err = untype(ctx, list)
	}
	return list, err
}

func (c *selectCompiler) rawSeriesOf(ctx context.Context) ([]*seriesRows, error) {
	exprs, present, err := c.rawExprs()
	if err != nil || len(present) == 0 {
		return nil, err // no present: only unknown names, no points
	}
	if c.newestPerSeries() {
		// The newest point of each group (TSBS lastpoint, Grafana's current
		// values) from the series' latest rows. Several series of a group
		// at its newest time come in series-key order, which needs every
		// tag: read them only when some group has such points (GROUP BY
		// "hostname", a series per group, has none), not for every query.
		list, ties, err := c.rawFetch(ctx, exprs, present, false)
		if err != nil || !ties {
			return list, err
		}
		list, _, err = c.rawFetch(ctx, exprs, present, true)
		return list, err
	}
	if c.manySeriesPerGroup() {
		// Points of one time from several series are the rule here
		// (high-cpu-all): read the tags at once rather than scan twice.
		list, _, err := c.rawFetch(ctx, exprs, present, true)
		return list, err
	}
	list, ties, err := c.rawFetch(ctx, exprs, present, false)
	if err != nil || !ties {
		return list, err
	}
	// Points of equal time from several series come in series-key order:
	// read again with every tag to know the keys.
	list, _, err = c.rawFetch(ctx, exprs, present, true)
	return list, err
}

// rawExprs renders a raw query's fields as SQL (exprs) and the test that
// a row has a value of a field they read (present, OR-ed). present is
// empty when they name only unknown names: the query has no points.
func (c *selectCompiler) rawExprs() (exprs, present []string, err error) {
	tagRefs := 0
	for _, f := range c.stmt.Fields {
		e, err := c.rowExpr(f.Expr)
		if err != nil {
			return nil, nil, err
		}
		exprs = append(exprs, e)
		walkExpr(f.Expr, func(n influxql.Expr) {
			if ref, ok := n.(*influxql.VarRef); ok {
				switch k, _ := resolve(c.schema, ref); k {
				case colField:
					present = append(present, quoteIdent(ref.Val)+" IS NOT NULL")
				case colTag:
					tagRefs++
				}
			}
		})
	}
	if len(present) == 0 && tagRefs > 0 {
		return nil, nil, errors.New("statement must have at least one field in select clause")
	}
	return exprs, present, nil
}

// rawFetch reads the points of a raw query, sorted by time and, with
// withTags, by series key among equal times. ties reports whether points
// of one time share a series of the answer (or may, at a LIMIT's cut).
func (c *selectCompiler) rawFetch(ctx context.Context, exprs, present []string, withTags bool) (list []*seriesRows, ties bool, err error) {
	var tagCols []string
	if withTags {
		tagCols = c.schema.Tags
	}
	sel := func(extra string) string {
		var b strings.Builder
		b.WriteString("SELECT time")
		for _, d := range c.dims {
			b.WriteString(", " + quoteIdent(d))
		}
		for _, e := range exprs {
			b.WriteString(", " + e)
		}
		for _, t := range tagCols {
			b.WriteString(", " + quoteIdent(t))
		}
		fmt.Fprintf(&b, " FROM %s WHERE %s AND (%s)%s", quoteIdent(c.m), c.where, strings.Join(present, " OR "), extra)
		return b.String()
	}
	pushed := len(c.dims) == 0 && c.stmt.Limit > 0
	text := sel("")
	newest := c.newestPerSeries()
	if newest {
		// Each series' latest rows hold its newest point, and a group's
		// newest points are those of its series at the group's newest time.
		ctx = exec.WithLatestRows(ctx)
	} else if len(c.dims) > 0 && c.stmt.Limit == 1 && c.stmt.Offset == 0 && !c.stmt.TimeAscending() {
		// The newest point of each group (TSBS lastpoint, Grafana's current
		// values): find each group's newest time from the series' last
		// values, then read only the points at those times.
		at, err := c.newestPerGroup(ctx, present)
		if err != nil {
			return nil, false, err
		}
		if at == "" {
			return nil, false, nil
		}
		text = sel(" AND (" + at + ")")
	}
	if pushed {
		// One series: the executor can cut it, newest or oldest first.
		dir := ""
		if !c.stmt.TimeAscending() {
			dir = " DESC"
		}
		text = sel(fmt.Sprintf(" ORDER BY time%s LIMIT %d", dir, c.stmt.Limit+c.stmt.Offset))
	}
	if !pushed {
		// No cut to fix up: group and order the executor's columns
		// without a Go value per cell (and, for newest, keep each
		// group's rows at its newest time).
		list, ties, ok, err := c.rawFetchTyped(ctx, text, len(exprs), tagCols, newest)
		if ok || err != nil {
			return list, ties, err
		}
	}
	res, err := c.runSQL(ctx, text)
	if err != nil {
		return nil, false, err
	}
	rows := res.Rows
	if pushed && len(rows) == c.stmt.Limit+c.stmt.Offset && len(rows) > 0 {
		// The cut may fall among points of one time: take all of them, so
		// that the series-key order decides which are in.
		edge := rows[len(rows)-1][0].(time.Time).UnixNano()
		more, err := c.runSQL(ctx, sel(" AND time = "+intLit(edge)))
		if err != nil {
			return nil, false, err
		}
		kept := rows[:0]
		for _, r := range rows {
			if r[0].(time.Time).UnixNano() != edge {
				kept = append(kept, r)
			}
		}
		rows = append(kept, more.Rows...)
	}
	nd, ne := len(c.dims), len(exprs)
	// The SQL answer's rows and this copy of them are alive together:
	// refuse before copying what would not fit.
	per := resultRowBytes(res) + copyRowBytes(1+ne, c.req.Epoch)
	if withTags {
		// Each row's series key and the tags it is built from.
		per += 64 + 48*int64(len(tagCols))
	}
	if err := c.req.mem.check(int64(len(rows))*per, fmt.Sprintf("%d rows of %s, as the SQL query answered them and as series", len(rows), c.m)); err != nil {
		return nil, false, err
	}
	all := map[string]*seriesRows{}
	keys := map[*seriesRows][]string{} // per row: its series key
	// Series keys by the rows' tag values (joined in kb): a key is built
	// once per series, not per row — high-cpu-all has 48k rows of 100.
	keyOf := map[string]string{}
	var kb []byte
	for _, r := range rows {
		s := c.seriesFor(all, r[1:1+nd])
		var row []any
		if nd == 0 {
			// The SQL row already holds time and the values in order:
			// it becomes the point (its tag cells are read below, past
			// the point's capacity).
			row = r[: 1+ne : 1+ne]
			row[0] = r[0].(time.Time).UnixNano()
		} else {
			row = make([]any, 0, 1+ne)
			row = append(row, r[0].(time.Time).UnixNano())
			row = append(row, r[1+nd:1+nd+ne]...)
		}
		s.rows = append(s.rows, row)
		if withTags {
			kb = kb[:0]
			for k := range tagCols {
				v, _ := r[1+nd+ne+k].(string)
				kb = append(append(kb, v...), 0)
			}
			key, ok := keyOf[string(kb)]
			if !ok {
				tags := map[string]string{}
				for k, t := range tagCols {
					if v, ok := r[1+nd+ne+k].(string); ok && v != "" {
						tags[t] = v
					}
				}
				key = seriesKey(c.m, tags)
				keyOf[string(kb)] = key
			}
			keys[s] = append(keys[s], key)
		}
	}
	list = sortedSeries(all)
	if newest {
		for _, s := range list {
			s.rows, keys[s] = newestRows(s.rows, keys[s])
		}
	}
	for _, s := range list {
		k := keys[s]
		idx := make([]int, len(s.rows))
		ts := make([]int64, len(s.rows)) // unboxed once, not per comparison
		for i := range idx {
			idx[i] = i
			ts[i] = s.rows[i][0].(int64)
		}
		slices.SortStableFunc(idx, func(a, b int) int {
			if c := cmp.Compare(ts[a], ts[b]); c != 0 || !withTags {
				return c
			}
			return strings.Compare(k[a], k[b])
		})
		sorted := make([][]any, len(idx))
		for i, j := range idx {
			sorted[i] = s.rows[j]
			if i > 0 && sorted[i][0].(int64) == sorted[i-1][0].(int64) {
				ties = true
			}
		}
		s.rows = sorted
	}
	return list, ties, nil
}

// newestPerSeries reports whether a raw query asks for the newest point
// of each group and its condition allows reading only the series' latest
// rows (exec.WithLatestRows).
func (c *selectCompiler) newestPerSeries() bool {
	return len(c.dims) > 0 && c.stmt.Limit == 1 && c.stmt.Offset == 0 && !c.stmt.TimeAscending() && c.tagCond
}

// newestRows keeps the rows (and their series keys, when given) at the
// largest time among rows.
func newestRows(rows [][]any, keys []string) ([][]any, []string) {
	newest := int64(math.MinInt64)
	for _, r := range rows {
		newest = max(newest, r[0].(int64))
	}
	n := 0
	for i, r := range rows {
		if r[0].(int64) == newest {
			rows[n] = r
			if keys != nil {
				keys[n] = keys[i]
			}
			n++
		}
	}
	if keys != nil {
		keys = keys[:n]
	}
	return rows[:n], keys
}

// rowExpr renders a field expression of a raw query in row context.
func (c *selectCompiler) rowExpr(e influxql.Expr) (string, error) {
	switch e := e.(type) {
	case *influxql.VarRef:
		switch k, _ := resolve(c.schema, e); k {
		case colField, colTag:
			return quoteIdent(e.Val), nil
		case colTime:
			return "", errors.New("time cannot be selected as a field; it is always the first column")
		}
		return "NULL", nil
	case *influxql.ParenExpr:
		x, err := c.rowExpr(e.Expr)
		return "(" + x + ")", err
	case *influxql.BinaryExpr:
		return c.arith(e, c.rowExpr)
	case *influxql.IntegerLiteral:
		return intLit(e.Val), nil
	case *influxql.NumberLiteral:
		return floatLit(e.Val), nil
	case *influxql.StringLiteral:
		return quoteString(e.Val), nil
	case *influxql.BooleanLiteral:
		if e.Val {
			return "TRUE", nil
		}
		return "FALSE", nil
	case *influxql.Call:
		return "", fmt.Errorf("mixing aggregate and non-aggregate queries is not supported")
	case *influxql.Wildcard:
		return "", errors.New("unexpected wildcard")
	}
	return "", fmt.Errorf("unsupported expression %s", e)
}

// arith renders + - * / over two operands rendered by sub (% and division
// by a non-literal are evaluated in math.go). Division is always in
// floating point, as InfluxQL's is.
func (c *selectCompiler) arith(e *influxql.BinaryExpr, sub func(influxql.Expr) (string, error)) (string, error) {
	l, err := sub(e.LHS)
	if err != nil {
		return "", err
	}
	r, err := sub(e.RHS)
	if err != nil {
		return "", err
	}
	if e.Op == influxql.DIV && isZero(e.RHS) {
		// InfluxQL divides by zero to 0 (NULL stays NULL).
		return "(CAST(" + l + " AS double precision) * 0.0)", nil
	}
	switch e.Op {
	case influxql.ADD, influxql.SUB, influxql.MUL:
		return "(" + l + " " + e.Op.String() + " " + r + ")", nil
	case influxql.DIV:
		return "(CAST(" + l + " AS double precision) / " + r + ")", nil
	}
	return "", fmt.Errorf("operator %s is not supported in a select list", e.Op)
}

func isZero(e influxql.Expr) bool {
	switch e := e.(type) {
	case *influxql.IntegerLiteral:
		return e.Val == 0
	case *influxql.UnsignedLiteral:
		return e.Val == 0
	case *influxql.NumberLiteral:
		return e.Val == 0
	case *influxql.ParenExpr:
		return isZero(e.Expr)
	}
	return false
}

// newestPerGroup returns a predicate selecting, per GROUP BY group, the
// points at the group's newest time among those with a value in present
// ("" when no group has one).
func (c *selectCompiler) newestPerGroup(ctx context.Context, present []string) (string, error) {
	dims := make([]string, len(c.dims))
	for i, d := range c.dims {
		dims[i] = quoteIdent(d)
	}
	text := fmt.Sprintf("SELECT %s, max(time) FROM %s WHERE %s AND (%s) GROUP BY %s",
		strings.Join(dims, ", "), quoteIdent(c.m), c.where, strings.Join(present, " OR "), strings.Join(dims, ", "))
	res, err := c.runSQL(ctx, text)
	if err != nil {
		return "", err
	}
	var groups []string
	for _, r := range res.Rows {
		t, ok := r[len(dims)].(time.Time)
		if !ok {
			continue
		}
		conds := make([]string, 0, len(dims)+1)
		for i, d := range dims {
			if v, ok := r[i].(string); ok {
				conds = append(conds, d+" = "+quoteString(v))
			} else {
				conds = append(conds, d+" IS NULL")
			}
		}
		conds = append(conds, "time = "+intLit(t.UnixNano()))
		groups = append(groups, "("+strings.Join(conds, " AND ")+")")
	}
	return strings.Join(groups, " OR "), nil
}

// manySeriesPerGroup reports whether an answer's series (GROUP BY groups)
// likely hold several series of the measurement: the query groups by no
// tag and its condition does not pin a tag to one value.
func (c *selectCompiler) manySeriesPerGroup() bool {
	if len(c.dims) > 0 || len(c.schema.Tags) == 0 {
		return false
	}
	return !strings.Contains(c.where, " = '")
}
