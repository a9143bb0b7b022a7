package influxql

import (
	"context"
	"fmt"
	"math"

	"github.com/influxdata/influxql"
)

// InfluxQL's math functions (abs(v), round(mean(v)) * 2, ...) are not SQL
// functions Silt has, and its / and % differ from SQL's (x/0 is 0, % takes
// floats); so a query that uses them runs its other parts — the largest
// subexpressions without them — as hidden fields through the usual paths,
// and evaluates the rest over each row here.

var mathFuncs = map[string]int{ // name → number of arguments
	"abs": 1, "sin": 1, "cos": 1, "tan": 1, "asin": 1, "acos": 1, "atan": 1, "atan2": 2,
	"exp": 1, "ln": 1, "log": 2, "log2": 1, "log10": 1, "sqrt": 1, "pow": 2,
	"floor": 1, "ceil": 1, "round": 1,
}

// isMath reports whether e is evaluated here: a math function, arithmetic
// on mode(), percentile() or count(distinct()), or / and % by something
// other than a number literal (InfluxQL divides by zero to 0 and takes % of
// floats, which SQL does not).
func isMath(e influxql.Expr) bool {
	switch x := e.(type) {
	case *influxql.Call:
		return mathFuncs[x.Name] > 0
	case *influxql.BinaryExpr:
		for _, side := range []influxql.Expr{x.LHS, x.RHS} {
			if call, ok := side.(*influxql.Call); ok && reducerOnly(call) {
				return true // mode(x) * 2: the call is not SQL's
			}
		}
		if x.Op != influxql.DIV && x.Op != influxql.MOD {
			return false
		}
		switch x.RHS.(type) {
		case *influxql.IntegerLiteral, *influxql.NumberLiteral, *influxql.UnsignedLiteral:
			return x.Op == influxql.MOD // % of a float by a literal is still not SQL
		}
		return true
	}
	return false
}

func hasMath(fields influxql.Fields) bool {
	found := false
	for _, f := range fields {
		walkExpr(f.Expr, func(e influxql.Expr) {
			if isMath(e) {
				found = true
			}
		})
	}
	return found
}

// walkExpr calls fn for e and every expression inside it, in the order
// influxql.WalkFunc visits them (only binary and parenthesized
// expressions and calls hold others), without the visitor WalkFunc
// allocates per node: a SELECT * of a wide measurement has a field per
// column, walked on every request.
func walkExpr(e influxql.Expr, fn func(influxql.Expr)) {
	if e == nil {
		return
	}
	fn(e)
	switch x := e.(type) {
	case *influxql.BinaryExpr:
		walkExpr(x.LHS, fn)
		walkExpr(x.RHS, fn)
	case *influxql.ParenExpr:
		walkExpr(x.Expr, fn)
	case *influxql.Call:
		for _, a := range x.Args {
			walkExpr(a, fn)
		}
	}
}

func containsMath(e influxql.Expr) bool {
	found := false
	influxql.WalkFunc(e, func(n influxql.Node) {
		if x, ok := n.(influxql.Expr); ok && isMath(x) {
			found = true
		}
	})
	return found
}

// mathPlan is one output field: its expression, whose math-free parts are
// hidden fields (by index).
type mathPlan struct {
	expr    influxql.Expr
	helpers map[influxql.Expr]int
}

func (c *selectCompiler) mathSeries(ctx context.Context) ([]*seriesRows, error) {
	orig := c.stmt
	var hidden influxql.Fields
	plans := make([]mathPlan, len(orig.Fields))
	for i, f := range orig.Fields {
		p := mathPlan{expr: f.Expr, helpers: map[influxql.Expr]int{}}
		var collect func(e influxql.Expr) error
		collect = func(e influxql.Expr) error {
			switch x := e.(type) {
			case *influxql.IntegerLiteral, *influxql.NumberLiteral, *influxql.UnsignedLiteral:
				return nil
			case *influxql.ParenExpr:
				if containsMath(x) {
					return collect(x.Expr)
				}
			case *influxql.BinaryExpr:
				if containsMath(x) {
					if err := collect(x.LHS); err != nil {
						return err
					}
					return collect(x.RHS)
				}
			case *influxql.Call:
				if n := mathFuncs[x.Name]; n > 0 {
					if len(x.Args) != n {
						return fmt.Errorf("invalid number of arguments for %s, expected %d, got %d", x.Name, n, len(x.Args))
					}
					for _, a := range x.Args {
						if err := collect(a); err != nil {
							return err
						}
					}
					return nil
				}
			}
			if containsMath(e) {
				// e.g. mean(a % b): the math would have to run before the
				// aggregate, row by row, inside the executor.
				return fmt.Errorf("%s: math functions, %% and division by a non-constant inside %s are not supported by Silt", e, describe(e))
			}
			p.helpers[e] = len(hidden)
			hidden = append(hidden, &influxql.Field{Expr: e})
			return nil
		}
		if err := collect(f.Expr); err != nil {
			return nil, err
		}
		plans[i] = p
	}
	if len(hidden) == 0 {
		return nil, fmt.Errorf("math functions need a field or an aggregate to work on")
	}
	inner := orig.Clone()
	inner.Fields = hidden
	c.stmt = inner
	list, err := c.selectSeries(ctx)
	c.stmt = orig
	if err != nil {
		return nil, err
	}
	if err := untype(ctx, list); err != nil { // evaluated here row by row
		return nil, err
	}
	for _, s := range list {
		for k, r := range s.rows {
			out := make([]any, 1+len(plans))
			out[0] = r[0]
			for i, p := range plans {
				out[1+i] = evalMath(p.expr, p.helpers, r[1:])
			}
			s.rows[k] = out
		}
	}
	return list, nil
}

// evalMath evaluates e over one row of hidden-field values, with
// InfluxQL's rules: null in, null out; integer arithmetic stays integer
// but / is floating point; x/0 and x%0 are 0; a result that is not a
// number (log of a negative) is null.
func evalMath(e influxql.Expr, helpers map[influxql.Expr]int, vals []any) any {
	if i, ok := helpers[e]; ok {
		return vals[i]
	}
	switch x := e.(type) {
	case *influxql.IntegerLiteral:
		return x.Val
	case *influxql.UnsignedLiteral:
		return x.Val
	case *influxql.NumberLiteral:
		return x.Val
	case *influxql.ParenExpr:
		return evalMath(x.Expr, helpers, vals)
	case *influxql.BinaryExpr:
		return arithValue(x.Op, evalMath(x.LHS, helpers, vals), evalMath(x.RHS, helpers, vals))
	case *influxql.Call:
		args := make([]any, len(x.Args))
		for i, a := range x.Args {
			args[i] = evalMath(a, helpers, vals)
		}
		return callMath(x.Name, args)
	}
	return nil
}

func arithValue(op influxql.Token, l, r any) any {
	if l == nil || r == nil {
		return nil
	}
	li, lInt := l.(int64)
	ri, rInt := r.(int64)
	if lInt && rInt && op != influxql.DIV {
		switch op {
		case influxql.ADD:
			return li + ri
		case influxql.SUB:
			return li - ri
		case influxql.MUL:
			return li * ri
		case influxql.MOD:
			if ri == 0 {
				return int64(0)
			}
			return li % ri
		}
		return nil
	}
	lf, ok1 := asFloat(l)
	rf, ok2 := asFloat(r)
	if !ok1 || !ok2 {
		return nil
	}
	var v float64
	switch op {
	case influxql.ADD:
		v = lf + rf
	case influxql.SUB:
		v = lf - rf
	case influxql.MUL:
		v = lf * rf
	case influxql.DIV:
		if rf == 0 {
			return float64(0)
		}
		v = lf / rf
	case influxql.MOD:
		if rf == 0 {
			return float64(0)
		}
		v = math.Mod(lf, rf)
	default:
		return nil
	}
	return finite(v)
}

func finite(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func callMath(name string, args []any) any {
	for _, a := range args {
		if a == nil {
			return nil
		}
	}
	if i, ok := args[0].(int64); ok {
		// Integer in, integer out where the function keeps integers.
		switch name {
		case "abs":
			if i < 0 {
				return -i
			}
			return i
		case "floor", "ceil", "round":
			return i
		}
	}
	x, ok := asFloat(args[0])
	if !ok {
		return nil
	}
	var y float64
	if len(args) == 2 {
		if y, ok = asFloat(args[1]); !ok {
			return nil
		}
	}
	switch name {
	case "abs":
		return math.Abs(x)
	case "sin":
		return finite(math.Sin(x))
	case "cos":
		return finite(math.Cos(x))
	case "tan":
		return finite(math.Tan(x))
	case "asin":
		return finite(math.Asin(x))
	case "acos":
		return finite(math.Acos(x))
	case "atan":
		return finite(math.Atan(x))
	case "atan2":
		return finite(math.Atan2(x, y))
	case "exp":
		return finite(math.Exp(x))
	case "ln":
		return finite(math.Log(x))
	case "log":
		return finite(math.Log(x) / math.Log(y))
	case "log2":
		return finite(math.Log2(x))
	case "log10":
		return finite(math.Log10(x))
	case "sqrt":
		return finite(math.Sqrt(x))
	case "pow":
		return finite(math.Pow(x, y))
	case "floor":
		return math.Floor(x)
	case "ceil":
		return math.Ceil(x)
	case "round":
		return math.Round(x)
	}
	return nil
}

func describe(e influxql.Expr) string {
	if call, ok := e.(*influxql.Call); ok {
		return call.Name + "()"
	}
	return "this expression"
}
