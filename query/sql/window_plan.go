package sql

import (
	"math"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// PostgreSQL's frame option bits (nodes/parsenodes.h).
const (
	frameNonDefault        = 0x00001
	frameRange             = 0x00002
	frameRows              = 0x00004
	frameGroups            = 0x00008
	frameStartUnbPreceding = 0x00020
	frameEndUnbPreceding   = 0x00040
	frameStartUnbFollowing = 0x00080
	frameEndUnbFollowing   = 0x00100
	frameStartCurrent      = 0x00200
	frameEndCurrent        = 0x00400
	frameStartPreceding    = 0x00800
	frameEndPreceding      = 0x01000
	frameStartFollowing    = 0x02000
	frameEndFollowing      = 0x04000
	frameExclude           = 0x08000 | 0x10000 | 0x20000
)

// windowFunc resolves name(args) OVER (...).
func (p *planner) windowFunc(fc *pg_query.FuncCall, name string, c clause, depth int) (Expr, error) {
	loc := fc.Location
	if c.inAgg {
		return nil, errAt(loc, CodeGrouping, "42803", "aggregate function calls cannot contain window function calls")
	}
	if c.name != "SELECT" && c.name != "ORDER BY" {
		return nil, errAt(loc, CodeGrouping, "42P20", "window functions are not allowed in %s", c.name)
	}
	w := fc.Over
	if w.Refname != "" || w.Name != "" {
		return nil, unsupported(loc, "WINDOW clause", "write the window in OVER (...)")
	}
	switch {
	case fc.AggFilter != nil:
		return nil, unsupported(loc, "FILTER in a window function", "")
	case fc.AggDistinct:
		return nil, unsupported(loc, "DISTINCT in a window function", "")
	case len(fc.AggOrder) > 0 || fc.AggWithinGroup:
		return nil, unsupported(loc, "ORDER BY inside a window function's arguments", "")
	}
	inner := clause{name: "SELECT", allowAgg: true}
	sub := func(n *pg_query.Node) (Expr, error) { return p.exprDepth(n, inner, depth+1) }
	fn := WindowFunc{Name: name}
	for _, n := range w.PartitionClause {
		e, err := sub(n)
		if err != nil {
			return nil, err
		}
		if e.Type() == TypeInterval {
			return nil, unsupported(loc, "PARTITION BY an interval", "")
		}
		if _, ok := e.(*Const); !ok {
			fn.Partition = append(fn.Partition, e)
		}
	}
	for _, n := range w.OrderClause {
		sb := n.GetSortBy()
		if sb == nil || sb.SortbyDir == pg_query.SortByDir_SORTBY_USING {
			return nil, unsupported(loc, "window ORDER BY form", "")
		}
		e, err := sub(sb.Node)
		if err != nil {
			return nil, err
		}
		k := SortKey{Expr: e, Output: -1, Desc: sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC}
		k.NullsFirst = k.Desc
		switch sb.SortbyNulls {
		case pg_query.SortByNulls_SORTBY_NULLS_FIRST:
			k.NullsFirst = true
		case pg_query.SortByNulls_SORTBY_NULLS_LAST:
			k.NullsFirst = false
		}
		if _, ok := e.(*Const); !ok && e.Type() != TypeNull {
			fn.Order = append(fn.Order, k)
		}
	}
	f, err := p.frame(w, fn.Order, loc)
	if err != nil {
		return nil, err
	}
	fn.Frame = f
	var args []Expr
	for _, n := range fc.Args {
		a, err := sub(n)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	noArgs := func() error {
		if len(args) != 0 || fc.AggStar {
			return noFunc(loc, name, args)
		}
		return nil
	}
	switch name {
	case "row_number", "rank", "dense_rank":
		if err := noArgs(); err != nil {
			return nil, err
		}
		fn.Type = TypeInt64
	case "percent_rank", "cume_dist":
		if err := noArgs(); err != nil {
			return nil, err
		}
		fn.Type = TypeFloat64
	case "ntile":
		if len(args) != 1 || !args[0].Type().integer() && !isUnknownLit(args[0]) {
			return nil, noFunc(loc, name, args)
		}
		if _, ok := args[0].(*Const); !ok {
			return nil, unsupported(loc, "ntile() of a non-constant", "")
		}
		if a, err := p.cast(args[0], TypeInt64, loc); err != nil {
			return nil, err
		} else {
			args[0] = a
		}
		if v := args[0].(*Const).Value; !v.Null && v.Int <= 0 {
			return nil, invalid(loc, "22014", "argument of ntile must be greater than zero")
		}
		fn.Args, fn.Type = args, TypeInt64
	case "lag", "lead":
		if len(args) < 1 || len(args) > 3 {
			return nil, noFunc(loc, name, args)
		}
		x := args[0]
		if isUnknownLit(x) {
			x, _ = p.cast(x, TypeString, loc)
		}
		off := Expr(&Const{Value: IntValue(1)})
		if len(args) > 1 {
			k, ok := args[1].(*Const)
			if !ok || !(k.Value.Type == TypeInt64 || k.Value.Null) {
				return nil, unsupported(loc, name+"() with a non-constant or non-integer offset", "")
			}
			off = k
		}
		def := Expr(&Const{Value: NullValue(x.Type())})
		if len(args) > 2 {
			both, t, err := p.commonType([]Expr{x, args[2]}, name, loc)
			if err != nil {
				return nil, err
			}
			if _, ok := both[1].(*Const); !ok {
				return nil, unsupported(loc, name+"() with a non-constant default", "")
			}
			x, def = both[0], both[1]
			_ = t
		}
		if x.Type() == TypeInterval || x.Type() == TypeNull {
			return nil, unsupported(loc, name+"() of this type", "")
		}
		fn.Args, fn.Type = []Expr{x, off, def}, x.Type()
	case "first_value", "last_value":
		if len(args) != 1 {
			return nil, noFunc(loc, name, args)
		}
		x, err := p.valueArg(args[0], name, loc)
		if err != nil {
			return nil, err
		}
		fn.Args, fn.Type = []Expr{x}, x.Type()
	case "nth_value":
		if len(args) != 2 {
			return nil, noFunc(loc, name, args)
		}
		x, err := p.valueArg(args[0], name, loc)
		if err != nil {
			return nil, err
		}
		k, ok := args[1].(*Const)
		if !ok || !(k.Value.Type.integer() || k.Value.Null) {
			return nil, unsupported(loc, "nth_value() with a non-constant or non-integer position", "")
		}
		n, err := p.cast(k, TypeInt64, loc)
		if err != nil {
			return nil, err
		}
		if v := n.(*Const).Value; !v.Null && v.Int <= 0 {
			return nil, invalid(loc, "22016", "argument of nth_value must be greater than zero")
		}
		fn.Args, fn.Type = []Expr{x, n}, x.Type()
	case "sum", "avg", "min", "max", "count":
		a := Aggregate{}
		if fc.AggStar {
			if name != "count" {
				return nil, invalid(loc, "42809", "%s(*) must be used to call a parameterless aggregate function", name).withCode(CodeUndefinedFunction)
			}
			a = Aggregate{Func: AggCountStar, Type: TypeInt64}
		} else {
			if len(args) != 1 {
				return nil, noFunc(loc, name, args)
			}
			x := args[0]
			if isUnknownLit(x) && !isNullConst(x) && (name == "min" || name == "max" || name == "count") {
				x, _ = p.cast(x, TypeString, loc)
			}
			t := x.Type()
			switch name {
			case "count":
				a = Aggregate{Func: AggCount, Arg: x, Type: TypeInt64}
			case "sum":
				if !t.numeric() {
					return nil, noFunc(loc, name, args)
				}
				a = Aggregate{Func: AggSum, Arg: x, Type: t}
			case "avg":
				if !t.numeric() {
					return nil, noFunc(loc, name, args)
				}
				a = Aggregate{Func: AggAvg, Arg: x, Type: TypeFloat64}
			case "min", "max":
				if !(t.numeric() || t == TypeString || t == TypeTimestamp) {
					return nil, noFunc(loc, name, args)
				}
				a = Aggregate{Func: AggMin, Arg: x, Type: t}
				if name == "max" {
					a.Func = AggMax
				}
			}
		}
		fn.Agg, fn.Type = &a, a.Type
		call := &windowCall{fn: fn, loc: loc}
		switch t := a.Type; {
		case name == "avg" && a.Arg.Type() != TypeFloat64,
			name == "sum" && (t == TypeUint64 || t == TypeInt64 && !p.isInt4(a.Arg) || p.isNumeric(a.Arg)):
			p.markNumeric(call) // sum(bigint) and avg(bigint) are numeric in PostgreSQL
		}
		return call, nil
	default:
		if aggFuncs[name] || scalarFuncs[name] || dialectFuncs[name] {
			return nil, unsupported(loc, name+"() as a window function", "")
		}
		return nil, unsupported(loc, "window function "+name+"()", "")
	}
	return &windowCall{fn: fn, loc: loc}, nil
}

// frame resolves a window's frame clause.
func (p *planner) frame(w *pg_query.WindowDef, order []SortKey, loc int32) (Frame, error) {
	o := w.FrameOptions
	if o&frameNonDefault == 0 {
		return Frame{Start: BoundUnboundedPreceding, End: BoundCurrentRow}, nil
	}
	switch {
	case o&frameGroups != 0:
		return Frame{}, unsupported(loc, "GROUPS frame", "")
	case o&frameExclude != 0:
		return Frame{}, unsupported(loc, "frame EXCLUDE", "")
	}
	f := Frame{Rows: o&frameRows != 0}
	offset := func(n *pg_query.Node, what string) (int64, error) {
		e, err := p.expr(n, clause{name: "window frame", noVars: true})
		if err != nil {
			return 0, err
		}
		if !f.Rows {
			v, err := p.rangeOffset(e, w, order, what, loc)
			if what == "starting" {
				f.StartOff = v
			} else {
				f.EndOff = v
			}
			return 0, err
		}
		k, ok := e.(*Const)
		if !ok || k.Value.Type != TypeInt64 && !k.Value.Null {
			return 0, unsupported(loc, "ROWS frame offset that is not an integer constant", "")
		}
		if k.Value.Null {
			return 0, invalid(loc, "22004", "frame %s offset must not be null", what)
		}
		if k.Value.Int < 0 {
			return 0, invalid(loc, "22013", "frame %s offset must not be negative", what)
		}
		return k.Value.Int, nil
	}
	var err error
	switch {
	case o&frameStartUnbPreceding != 0:
		f.Start = BoundUnboundedPreceding
	case o&frameStartCurrent != 0:
		f.Start = BoundCurrentRow
	case o&frameStartPreceding != 0:
		f.Start = BoundPreceding
		f.StartN, err = offset(w.StartOffset, "starting")
	case o&frameStartFollowing != 0:
		f.Start = BoundFollowing
		f.StartN, err = offset(w.StartOffset, "starting")
	case o&frameStartUnbFollowing != 0:
		return Frame{}, errAt(loc, CodeInvalid, "42P20", "frame start cannot be UNBOUNDED FOLLOWING")
	}
	if err != nil {
		return Frame{}, err
	}
	switch {
	case o&frameEndUnbFollowing != 0:
		f.End = BoundUnboundedFollowing
	case o&frameEndCurrent != 0:
		f.End = BoundCurrentRow
	case o&frameEndPreceding != 0:
		f.End = BoundPreceding
		f.EndN, err = offset(w.EndOffset, "ending")
	case o&frameEndFollowing != 0:
		f.End = BoundFollowing
		f.EndN, err = offset(w.EndOffset, "ending")
	case o&frameEndUnbPreceding != 0:
		return Frame{}, errAt(loc, CodeInvalid, "42P20", "frame end cannot be UNBOUNDED PRECEDING")
	default:
		f.End = BoundCurrentRow
	}
	if err != nil {
		return Frame{}, err
	}
	return f, nil
}

// rangeOffset checks the offset of a RANGE frame bound, as PostgreSQL's
// in_range support functions allow it: a single ORDER BY key, numeric
// with a numeric offset (an integer key takes an integer offset) or a
// timestamp with an interval; constant, not null and not negative.
func (p *planner) rangeOffset(e Expr, w *pg_query.WindowDef, order []SortKey, what string, loc int32) (Value, error) {
	if len(w.OrderClause) != 1 {
		return Value{}, errAt(loc, CodeInvalid, "42P20", "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column")
	}
	if len(order) != 1 {
		return Value{}, unsupported(loc, "RANGE frame with an offset over a constant ORDER BY", "")
	}
	key := order[0].Expr.Type()
	if k, ok := e.(*Const); ok && k.lit == litString && key == TypeTimestamp {
		c, err := p.cast(e, TypeInterval, loc)
		if err != nil {
			return Value{}, err
		}
		e = c
	}
	k, ok := e.(*Const)
	if !ok {
		return Value{}, unsupported(loc, "RANGE frame offset that is not a constant", "")
	}
	v := k.Value
	switch {
	case v.Null:
		return Value{}, invalid(loc, "22004", "frame %s offset must not be null", what)
	case key == TypeTimestamp && v.Type == TypeInterval:
		iv := v.Interval
		// PostgreSQL compares intervals counting a month as 30 days.
		if float64(iv.Months)*30*864e11+float64(iv.Days)*864e11+float64(iv.Nanos) < 0 {
			return Value{}, invalid(loc, "22013", "invalid preceding or following size in window function")
		}
		return v, nil
	case key == TypeInt64 && v.Type == TypeInt64, key == TypeUint64 && v.Type == TypeInt64:
		if v.Int < 0 {
			return Value{}, invalid(loc, "22013", "invalid preceding or following size in window function")
		}
		return v, nil
	case key == TypeFloat64 && (v.Type == TypeInt64 || v.Type == TypeFloat64):
		f := v.Float
		if v.Type == TypeInt64 {
			f = float64(v.Int)
		}
		if f < 0 || math.IsNaN(f) {
			return Value{}, invalid(loc, "22013", "invalid preceding or following size in window function")
		}
		return FloatValue(f), nil
	case key == TypeUint64 && v.Type == TypeFloat64:
		return Value{}, unsupported(loc, "RANGE frame over an unsigned integer with a fractional offset", "")
	case !key.numeric() && key != TypeTimestamp:
		return Value{}, unsupported(loc, "RANGE with offset PRECEDING/FOLLOWING for column type "+key.PGName(), "")
	}
	return Value{}, unsupported(loc, "RANGE with offset PRECEDING/FOLLOWING for column type "+key.PGName()+" and offset type "+pgTypeName(e), "")
}

// valueArg checks and types the value argument of first_value, last_value
// and nth_value: an untyped literal reads as text, and intervals and NULL
// are refused (the window executor does not carry them).
func (p *planner) valueArg(x Expr, name string, loc int32) (Expr, error) {
	if isUnknownLit(x) {
		x, _ = p.cast(x, TypeString, loc)
	}
	if x.Type() == TypeInterval || x.Type() == TypeNull {
		return nil, unsupported(loc, name+"() of this type", "")
	}
	return x, nil
}
