package influxql

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
)

// aggExpr renders a field expression of an aggregate query in group
// context: calls become SQL aggregates, math stays math.
func (c *selectCompiler) aggExpr(e influxql.Expr) (string, error) {
	switch e := e.(type) {
	case *influxql.Call:
		return c.callSQL(e)
	case *influxql.ParenExpr:
		x, err := c.aggExpr(e.Expr)
		return "(" + x + ")", err
	case *influxql.BinaryExpr:
		return c.arith(e, c.aggExpr)
	case *influxql.IntegerLiteral:
		return intLit(e.Val), nil
	case *influxql.NumberLiteral:
		return floatLit(e.Val), nil
	case *influxql.VarRef:
		return "", errors.New("mixing aggregate and non-aggregate queries is not supported")
	}
	return "", fmt.Errorf("unsupported expression %s", e)
}

func (c *selectCompiler) callArg(call *influxql.Call) (string, columnar.FieldType, bool, error) {
	if len(call.Args) == 0 {
		return "", 0, false, fmt.Errorf("invalid number of arguments for %s, expected at least 1, got 0", call.Name)
	}
	ref, ok := call.Args[0].(*influxql.VarRef)
	if !ok {
		if inner, ok := call.Args[0].(*influxql.Call); ok && inner.Name == "distinct" {
			return "", 0, false, fmt.Errorf("%s(distinct(...)) can be combined only with first, last, min, max, percentile and count(distinct(...)) in Silt", call.Name)
		}
		return "", 0, false, fmt.Errorf("expected field argument in %s()", call.Name)
	}
	k, t := resolve(c.schema, ref)
	switch k {
	case colField:
		return quoteIdent(ref.Val), t, true, nil
	case colTag:
		// InfluxDB aggregates fields only; a tag argument yields no points.
		return "", 0, false, nil
	}
	return "", 0, false, nil
}

func (c *selectCompiler) callSQL(call *influxql.Call) (string, error) {
	if !aggregates[call.Name] {
		if call.Name == "distinct" {
			return "", errors.New("distinct() must be the only field of its query in Silt")
		}
		return "", fmt.Errorf("function %s() is not supported by Silt (see docs/influxql.md)", call.Name)
	}
	col, t, ok, err := c.callArg(call)
	if err != nil {
		return "", err
	}
	want := 1
	if call.Name == "percentile" {
		want = 2
	}
	if len(call.Args) != want {
		return "", fmt.Errorf("invalid number of arguments for %s, expected %d, got %d", call.Name, want, len(call.Args))
	}
	if !ok {
		return "NULL", nil
	}
	numeric := numericField(t)
	switch call.Name {
	case "count":
		return "count(" + col + ")", nil
	case "first":
		return "first(" + col + ", time)", nil
	case "last":
		return "last(" + col + ", time)", nil
	case "mode":
		return "", errors.New("mode() can be combined only with first, last, min, max, percentile, mode and count(distinct(...)), not with other aggregates or math, in Silt")
	}
	if !numeric {
		return "", fmt.Errorf("unsupported %s() type: %s", call.Name, influxType(t))
	}
	switch call.Name {
	case "mean":
		return "avg(" + col + ")", nil
	case "median":
		return "percentile_cont(0.5) WITHIN GROUP (ORDER BY " + col + ")", nil
	case "sum", "min", "max":
		return call.Name + "(" + col + ")", nil
	case "spread":
		return "(max(" + col + ") - min(" + col + "))", nil
	case "stddev":
		return "stddev_samp(" + col + ")", nil
	case "percentile":
		return "", errPercentile
	}
	return "", fmt.Errorf("function %s() is not supported by Silt", call.Name)
}

var errPercentile = errors.New("percentile() can be combined only with first, last, min, max, percentile, mode and count(distinct(...)), not with other aggregates or math, in Silt")

// bucketSQL is the GROUP BY time key: date_bin aligned as InfluxDB aligns
// windows (on the epoch plus the offset, shifted by the tz() zone).
func (c *selectCompiler) origin() int64 {
	origin := c.offset
	if c.loc != nil {
		t := c.tmin
		if t == math.MinInt64 {
			t = c.req.Now.UnixNano()
		}
		_, zone := time.Unix(0, t).In(c.loc).Zone()
		origin -= int64(zone) * int64(time.Second)
	}
	return origin
}

func (c *selectCompiler) bucketStart(t int64) int64 {
	d := (t - c.origin()) % c.interval
	if d < 0 {
		d += c.interval
	}
	return t - d
}

func (c *selectCompiler) aggregateSeries(ctx context.Context) ([]*seriesRows, error) {
	// Typed series only for the caller that asked (selectSeries, for
	// finish), never for the paths below, which work on rows.
	keepTyped := c.keepTyped
	c.keepTyped = false
	// The one-selector form reports the time of the selected point.
	if call, ok := streamCall(c.stmt.Fields); ok {
		return c.streamSeries(ctx, call)
	}
	if calls, ok := reducible(c.stmt.Fields); ok {
		return c.reduceSeries(ctx, calls)
	}
	if red, other, ok := splitMixed(c.stmt.Fields); ok {
		return c.mixedSeries(ctx, red, other)
	}
	var selector *influxql.Call
	if len(c.stmt.Fields) == 1 {
		if call, ok := c.stmt.Fields[0].Expr.(*influxql.Call); ok {
			if selectors[call.Name] && c.interval == 0 {
				selector = call
			}
		}
	}
	var outs []string
	for _, f := range c.stmt.Fields {
		e, err := c.aggExpr(f.Expr)
		if err != nil {
			return nil, err
		}
		outs = append(outs, e)
	}
	var keys []string
	if c.interval > 0 {
		keys = append(keys, fmt.Sprintf("date_bin(INTERVAL '%d ns', time, %s)", c.interval, timestampLit(c.origin())))
	}
	for _, d := range c.dims {
		keys = append(keys, quoteIdent(d))
	}
	where := c.where
	extra := "count(*)"
	if selector != nil && (selector.Name == "first" || selector.Name == "last") {
		col, _, ok, err := c.callArg(selector)
		if err != nil || !ok {
			return nil, err
		}
		where += " AND " + col + " IS NOT NULL"
		if selector.Name == "first" {
			extra = "min(time)"
		} else {
			extra = "max(time)"
		}
	}
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(strings.Join(append(append(append([]string(nil), keys...), outs...), extra), ", "))
	fmt.Fprintf(&b, " FROM %s WHERE %s", quoteIdent(c.m), where)
	if len(keys) > 0 {
		pos := make([]string, len(keys))
		for i := range keys {
			pos[i] = strconv.Itoa(i + 1)
		}
		b.WriteString(" GROUP BY " + strings.Join(pos, ", "))
	}
	if n, ok := c.windowLimit(); ok {
		// One series, windows in output order, LIMIT: only the first n
		// windows holding rows can be among the first n output windows
		// (filled or not), so the SQL executor may stop there.
		dir := ""
		if !c.stmt.TimeAscending() {
			dir = " DESC"
		}
		fmt.Fprintf(&b, " ORDER BY 1%s LIMIT %d", dir, n)
	}
	text := b.String()
	q, err := c.compileSQL(text)
	if err != nil {
		return nil, err
	}
	if keepTyped && c.typedAggregate() {
		if list, ok, err := c.aggregateTyped(ctx, q, text, len(outs)); ok || err != nil {
			return list, err
		}
	}
	res, err := c.b.Run(ctx, c.db, q)
	if err != nil {
		return nil, err
	}
	all := map[string]*seriesRows{}
	nk, nd := len(keys), len(c.dims)
	tk := nk - nd // 1 with a time key
	// The response rows are cut from one slab rather than made one by one.
	width := 1 + len(outs)
	slab := make([]any, 0, len(res.Rows)*width)
	for _, r := range res.Rows {
		last := r[len(r)-1]
		if last == nil || last == int64(0) {
			continue // no rows: InfluxDB has no point here
		}
		s := c.seriesFor(all, r[tk:nk])
		var t int64
		switch {
		case tk == 1:
			t = r[0].(time.Time).UnixNano()
		case selector != nil && (selector.Name == "first" || selector.Name == "last"):
			t = last.(time.Time).UnixNano()
		case c.tmin != math.MinInt64:
			t = c.tmin
		}
		row := slab[len(slab) : len(slab) : len(slab)+width]
		row = append(row, t)
		row = append(row, r[nk:nk+len(outs)]...)
		slab = slab[:len(slab)+width]
		for i, f := range c.stmt.Fields {
			if isCount(f.Expr) && row[1+i] == int64(0) {
				// InfluxDB has no count point where the field has no values.
				row[1+i] = nil
			}
		}
		if allNil(row[1:]) && c.interval == 0 {
			continue
		}
		s.rows = append(s.rows, row)
	}
	list := sortedSeries(all)
	if selector != nil && (selector.Name == "min" || selector.Name == "max") {
		if err := c.selectorTimes(ctx, selector, list); err != nil {
			return nil, err
		}
	}
	if c.interval > 0 {
		for _, s := range list {
			var err error
			if s.rows, err = c.fill(s.rows); err != nil {
				return nil, err
			}
		}
	}
	return list, nil
}

// windowLimit returns how many windows holding rows a GROUP BY time
// query of one series needs when it has a LIMIT: LIMIT + OFFSET. The
// first k output windows lie within the first k windows that hold rows
// (each of those is at least one window further), and a window's value,
// filled or not, depends only on windows before it in output order —
// or, for fill(linear), on the next window holding rows, which is among
// them too. fill(none) is left out: a window whose rows have no value
// for any field is dropped, so k windows holding rows may give fewer.
func (c *selectCompiler) windowLimit() (int, bool) {
	if c.interval <= 0 || c.stmt.Limit <= 0 || len(c.dims)+len(c.absent) > 0 || c.limited ||
		c.stmt.Fill == influxql.NoFill || c.stmt.Limit > math.MaxInt32-c.stmt.Offset {
		return 0, false
	}
	return c.stmt.Limit + c.stmt.Offset, true
}

func isCount(e influxql.Expr) bool {
	call, ok := e.(*influxql.Call)
	return ok && call.Name == "count"
}

func allNil(vals []any) bool {
	for _, v := range vals {
		if v != nil {
			return false
		}
	}
	return true
}

// selectorTimes sets each series' row time to the earliest point holding
// the selected value (InfluxDB keeps the first one it meets in time order).
func (c *selectCompiler) selectorTimes(ctx context.Context, call *influxql.Call, list []*seriesRows) error {
	col, t, ok, err := c.callArg(call)
	if err != nil || !ok {
		return err
	}
	for _, s := range list {
		for _, row := range s.rows {
			lit, ok := valueLit(row[1], t)
			if !ok {
				continue
			}
			var b strings.Builder
			fmt.Fprintf(&b, "SELECT min(time) FROM %s WHERE %s AND %s = %s", quoteIdent(c.m), c.where, col, lit)
			for _, d := range c.dims {
				if v := s.tagMap()[d]; v == "" {
					fmt.Fprintf(&b, " AND (%s IS NULL OR %s = '')", quoteIdent(d), quoteIdent(d))
				} else {
					fmt.Fprintf(&b, " AND %s = %s", quoteIdent(d), quoteString(v))
				}
			}
			res, err := c.runSQL(ctx, b.String())
			if err != nil {
				return err
			}
			if len(res.Rows) == 1 {
				if tm, ok := res.Rows[0][0].(time.Time); ok {
					row[0] = tm.UnixNano()
				}
			}
		}
	}
	return nil
}

func valueLit(v any, t columnar.FieldType) (string, bool) {
	switch v := v.(type) {
	case float64:
		if math.IsNaN(v) {
			return "", false
		}
		return floatLit(v), true
	case int64:
		if t == columnar.FieldFloat {
			return floatLit(float64(v)), true
		}
		return intLit(v), true
	case uint64:
		return strconv.FormatUint(v, 10), true
	case string:
		return quoteString(v), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// fill lays a series' rows on every window from the start of the query's
// range to its end, filling windows without points as fill() says.
func (c *selectCompiler) fill(rows [][]any) ([][]any, error) {
	slices.SortFunc(rows, func(a, b []any) int { return cmp.Compare(a[0].(int64), b[0].(int64)) })
	if c.stmt.Fill == influxql.NoFill {
		out := rows[:0]
		for _, r := range rows {
			if !allNil(r[1:]) {
				out = append(out, r)
			}
		}
		return out, nil
	}
	if len(rows) == 0 {
		return rows, nil
	}
	empty := true
	for _, r := range rows {
		if !allNil(r[1:]) {
			empty = false
			break
		}
	}
	if empty {
		// InfluxDB has no series where no window has a value.
		return nil, nil
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
	width := len(c.stmt.Fields)
	// Every window from start to end is a row (bounded by MaxRows above).
	n := int(min(uint64(end-start)/uint64(c.interval)+1, 1<<20))
	out := make([][]any, 0, n)
	unfilled := make([]bool, 0, n) // per row of out: a window without points
	var slab []any                 // the rows of empty windows, cut from one array
	if e := n - len(rows); e > 0 {
		slab = make([]any, 0, e*(1+width))
	}
	k := 0
	for t := start; t <= end; t += c.interval {
		for k < len(rows) && rows[k][0].(int64) < t {
			k++
		}
		if k < len(rows) && rows[k][0].(int64) == t {
			out = append(out, rows[k])
			unfilled = append(unfilled, false)
			k++
		} else {
			var row []any
			if len(slab)+1+width <= cap(slab) {
				row = slab[len(slab) : len(slab)+1+width : len(slab)+1+width]
				slab = slab[:len(slab)+1+width]
			} else {
				row = make([]any, 1+width)
			}
			row[0] = t
			out = append(out, row)
			unfilled = append(unfilled, true)
		}
		if t > math.MaxInt64-c.interval {
			break
		}
	}
	switch c.stmt.Fill {
	case influxql.NullFill:
		// InfluxDB fills count() with 0, not null.
		for i, f := range c.stmt.Fields {
			if isCount(f.Expr) {
				for _, r := range out {
					if r[1+i] == nil {
						r[1+i] = int64(0)
					}
				}
			}
		}
	case influxql.NumberFill:
		// In a window without points InfluxDB fills each call and then
		// evaluates the field's math over the filled calls (mean(x) * 2
		// with fill(7) is 14).
		vals, emptyVals := make([]any, width), make([]any, width)
		for i, f := range c.stmt.Fields {
			vals[i] = c.fillValue(f.Expr)
			emptyVals[i] = c.filledExpr(f.Expr)
		}
		for k, r := range out {
			fill := vals
			if unfilled[k] {
				fill = emptyVals
			}
			for i := 1; i < len(r); i++ {
				if r[i] == nil {
					r[i] = fill[i-1]
				}
			}
		}
	case influxql.PreviousFill:
		// "Previous" is in output order: with ORDER BY time DESC the later
		// window's value fills an earlier gap, as in InfluxDB.
		desc := !c.stmt.TimeAscending()
		for i := 1; i <= width; i++ {
			var prev any
			for k := range out {
				r := out[k]
				if desc {
					r = out[len(out)-1-k]
				}
				if r[i] == nil {
					r[i] = prev
				} else {
					prev = r[i]
				}
			}
		}
	case influxql.LinearFill:
		for i := 1; i <= width; i++ {
			linear(out, i, !c.stmt.TimeAscending(), c.interval)
		}
	}
	return out, nil
}

// fillValue is fill(N)'s value for field expression e. InfluxDB fills the
// output of each call in the call's type, so a call that answers an integer
// (count, or sum, min, max, first, last, spread, mode, percentile of an
// integer field) is filled with N truncated toward zero: fill(100.5) is 100
// there, while mean, median and stddev answer floats and keep 100.5.
func (c *selectCompiler) fillValue(e influxql.Expr) any {
	v := c.stmt.FillValue
	fv, ok := v.(float64)
	if iv, isInt := v.(int64); isInt {
		// fill(0): a call that answers a float is filled with 0.0, so
		// that a transformation over it sees one type.
		fv, ok = float64(iv), true
		v = fv
	}
	if !ok {
		return v
	}
	for {
		p, ok := e.(*influxql.ParenExpr)
		if !ok {
			break
		}
		e = p.Expr
	}
	call, ok := e.(*influxql.Call)
	if !ok || len(call.Args) == 0 {
		return v
	}
	if call.Name == "count" {
		return int64(fv)
	}
	switch call.Name {
	case "sum", "min", "max", "first", "last", "spread", "mode", "percentile":
	default:
		return v
	}
	ref, ok := call.Args[0].(*influxql.VarRef)
	if !ok {
		return v
	}
	if k, t := resolve(c.schema, ref); k == colField {
		switch t {
		case columnar.FieldInt:
			return int64(fv)
		case columnar.FieldUint:
			return uint64(fv)
		}
	}
	return v
}

// filledExpr is field expression e's value where every aggregate call in
// it is fill(N)'s value for that call.
func (c *selectCompiler) filledExpr(e influxql.Expr) any {
	switch x := e.(type) {
	case *influxql.ParenExpr:
		return c.filledExpr(x.Expr)
	case *influxql.BinaryExpr:
		return arithValue(x.Op, c.filledExpr(x.LHS), c.filledExpr(x.RHS))
	case *influxql.Call:
		if mathFuncs[x.Name] == 0 {
			return c.fillValue(x)
		}
		args := make([]any, len(x.Args))
		for i, a := range x.Args {
			args[i] = c.filledExpr(a)
		}
		return callMath(x.Name, args)
	case *influxql.IntegerLiteral:
		return x.Val
	case *influxql.UnsignedLiteral:
		return x.Val
	case *influxql.NumberLiteral:
		return x.Val
	}
	return c.fillValue(e)
}

// linear interpolates column i between the rows around each gap, in
// output order as InfluxDB does (descending, the later window is the
// line's start), in units of the interval, an integer truncated.
func linear(rows [][]any, i int, desc bool, interval int64) {
	at := func(k int) []any {
		if desc {
			return rows[len(rows)-1-k]
		}
		return rows[k]
	}
	prev := -1
	for k := range rows {
		if at(k)[i] == nil {
			continue
		}
		if prev >= 0 && k-prev > 1 {
			p, n := at(prev), at(k)
			t0, t1 := p[0].(int64)/interval, n[0].(int64)/interval
			switch v0 := p[i].(type) {
			case float64:
				v1, ok := n[i].(float64)
				if !ok {
					break
				}
				m := (v1 - v0) / float64(t1-t0)
				for g := prev + 1; g < k; g++ {
					at(g)[i] = m*float64(at(g)[0].(int64)/interval-t0) + v0
				}
			case int64:
				v1, ok := n[i].(int64)
				if !ok {
					break
				}
				m := float64(v1-v0) / float64(t1-t0)
				for g := prev + 1; g < k; g++ {
					at(g)[i] = int64(m*float64(at(g)[0].(int64)/interval-t0) + float64(v0))
				}
			}
		}
		prev = k
	}
}
