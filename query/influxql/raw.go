package influxql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/influxql"
)

// runRaw answers a SELECT without aggregates: every point where at least
// one selected field has a value, in time order, split by GROUP BY tags.
func (c *selectCompiler) rawSeries(ctx context.Context) ([]*seriesRows, error) {
	var exprs, present []string
	tagRefs := 0
	for _, f := range c.stmt.Fields {
		e, err := c.rowExpr(f.Expr)
		if err != nil {
			return nil, err
		}
		exprs = append(exprs, e)
		influxql.WalkFunc(f.Expr, func(n influxql.Node) {
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
	if len(present) == 0 {
		if tagRefs > 0 {
			return nil, errors.New("statement must have at least one field in select clause")
		}
		return nil, nil // only unknown names: no points
	}
	var b strings.Builder
	b.WriteString("SELECT time")
	for _, d := range c.dims {
		b.WriteString(", " + quoteIdent(d))
	}
	for _, e := range exprs {
		b.WriteString(", " + e)
	}
	fmt.Fprintf(&b, " FROM %s WHERE %s AND (%s) ORDER BY time", quoteIdent(c.m), c.where, strings.Join(present, " OR "))
	if len(c.dims) == 0 && c.stmt.Limit > 0 {
		// One series: LIMIT and OFFSET can run in the executor.
		if !c.stmt.TimeAscending() {
			b.WriteString(" DESC")
		}
		fmt.Fprintf(&b, " LIMIT %d", c.stmt.Limit+c.stmt.Offset)
	}
	res, err := runSQL(ctx, c.b, c.db, c.tables, b.String(), c.req.Now)
	if err != nil {
		return nil, err
	}
	all := map[string]*seriesRows{}
	nd := len(c.dims)
	for _, r := range res.Rows {
		s := c.seriesFor(all, r[1:1+nd])
		row := make([]any, 0, 1+len(exprs))
		row = append(row, r[0].(time.Time).UnixNano())
		row = append(row, r[1+nd:]...)
		s.rows = append(s.rows, row)
	}
	list := sortedSeries(all)
	if len(c.dims) == 0 && c.stmt.Limit > 0 && !c.stmt.TimeAscending() {
		// The executor already ordered these newest first; finish reverses.
		for _, s := range list {
			reverse(s.rows)
		}
	}
	return list, nil
}

func reverse(rows [][]any) {
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
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
