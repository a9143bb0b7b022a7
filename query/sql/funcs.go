package sql

import (
	"math"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

var aggFuncs = map[string]bool{
	"count": true, "sum": true, "min": true, "max": true, "avg": true,
	"stddev": true, "stddev_samp": true, "stddev_pop": true,
	"variance": true, "var_samp": true, "var_pop": true,
	"first": true, "last": true, "percentile_cont": true, "percentile_disc": true,
	"bool_and": true, "bool_or": true, "every": true, "string_agg": true, "mode": true,
}

// sqlSyntaxFuncs names functions PostgreSQL's grammar produces from SQL
// syntax, for error messages.
var sqlSyntaxFuncs = map[string]string{
	"overlay": "OVERLAY", "position": "POSITION", "normalize": "NORMALIZE",
	"is_normalized": "IS NORMALIZED", "collation_for": "COLLATION FOR", "overlaps": "OVERLAPS",
	"similar_to_escape": "SIMILAR TO", "xmlexists": "XMLEXISTS", "merge_action": "merge_action",
}

func (p *planner) funcCall(fc *pg_query.FuncCall, c clause, depth int) (Expr, error) {
	loc := fc.Location
	var parts []string
	for _, n := range fc.Funcname {
		if s := n.GetString_(); s != nil {
			parts = append(parts, s.Sval)
		}
	}
	if len(parts) == 0 {
		return nil, unsupported(loc, "function call", "")
	}
	name := parts[len(parts)-1]
	if fc.Funcformat == pg_query.CoercionForm_COERCE_SQL_SYNTAX {
		if s, ok := sqlSyntaxFuncs[name]; ok {
			return nil, unsupported(loc, s, "")
		}
	}
	if len(parts) > 2 || len(parts) == 2 && parts[0] != "pg_catalog" {
		return nil, unsupported(loc, "function "+strings.Join(parts, ".")+"()", "")
	}
	if fc.Over != nil {
		return p.windowFunc(fc, name, c, depth)
	}
	if fc.AggFilter != nil && !aggFuncs[name] {
		return nil, invalid(loc, "42809", "FILTER specified, but %s is not an aggregate function", name).withCode(CodeUndefinedFunction)
	}
	if fc.FuncVariadic {
		return nil, unsupported(loc, "VARIADIC", "")
	}
	if aggFuncs[name] {
		return p.aggregate(fc, name, c, depth)
	}
	if !scalarFuncs[name] && !dialectFuncs[name] {
		return nil, unsupported(loc, "function "+name+"()", "")
	}
	switch {
	case fc.AggStar:
		return nil, invalid(loc, "42809", "%s(*) specified, but %s is not an aggregate function", name, name).withCode(CodeUndefinedFunction)
	case fc.AggDistinct:
		return nil, invalid(loc, "42809", "DISTINCT specified, but %s is not an aggregate function", name).withCode(CodeUndefinedFunction)
	case fc.AggWithinGroup:
		return nil, invalid(loc, "42809", "WITHIN GROUP specified, but %s is not an aggregate function", name).withCode(CodeUndefinedFunction)
	case len(fc.AggOrder) > 0:
		return nil, invalid(loc, "42809", "ORDER BY specified, but %s is not an aggregate function", name).withCode(CodeUndefinedFunction)
	}
	args := make([]Expr, len(fc.Args))
	for i, n := range fc.Args {
		a, err := p.exprDepth(n, c, depth+1)
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	switch name {
	case "date_bin", "time_bucket":
		e, err := p.dateBin(name, args, loc)
		return p.naiveIf(e, err, len(args) > 1 && p.naive[args[1]])
	case "date_trunc":
		e, err := p.dateTrunc(args, loc)
		return p.naiveIf(e, err, len(args) == 2 && p.naive[args[1]])
	case "now", "transaction_timestamp", "statement_timestamp":
		if len(args) != 0 {
			return nil, noFunc(loc, name, args)
		}
		return &Const{Value: TimestampValue(p.now.UnixNano())}, nil
	case "to_timestamp":
		return p.toTimestamp(args, loc)
	}
	if e, ok, err := p.scalarFunc(name, fc, args); ok {
		return e, err
	}
	return nil, unsupported(loc, "function "+name+"()", "")
}

// dialectFuncs are the scalar functions of scalar_plan.go.
var dialectFuncs = map[string]bool{
	"abs": true, "round": true, "ceil": true, "ceiling": true, "floor": true, "trunc": true, "ln": true,
	"log": true, "log10": true, "power": true, "pow": true, "sqrt": true, "cbrt": true, "exp": true, "sign": true,
	"mod": true, "lower": true, "upper": true, "length": true, "char_length": true, "character_length": true,
	"substr": true, "substring": true, "left": true, "right": true, "concat": true, "replace": true,
	"split_part": true, "starts_with": true, "strpos": true, "btrim": true, "ltrim": true, "rtrim": true,
	"regexp_replace": true, "extract": true, "date_part": true, "timezone": true,
	// datepart is InfluxDB 3's (DataFusion's) name of date_part, which
	// Grafana's InfluxDB data source writes in SQL mode ($__timeGroup).
	"datepart": true,
}

var scalarFuncs = map[string]bool{
	"date_bin": true, "time_bucket": true, "date_trunc": true, "now": true,
	"transaction_timestamp": true, "statement_timestamp": true, "to_timestamp": true,
}

// noFunc is PostgreSQL's error for a known name with unfit arguments.
func noFunc(loc int32, name string, args []Expr) *Error {
	ts := make([]string, len(args))
	for i, a := range args {
		ts[i] = pgTypeName(a)
	}
	return errAt(loc, CodeUndefinedFunction, "42883", "function %s(%s) does not exist", name, strings.Join(ts, ", "))
}

func (p *planner) dateBin(name string, args []Expr, loc int32) (Expr, error) {
	if len(args) < 2 || len(args) > 3 {
		return nil, noFunc(loc, name, args)
	}
	var err error
	stride, src := args[0], args[1]
	if isUnknownLit(stride) {
		if stride, err = p.cast(stride, TypeInterval, loc); err != nil {
			return nil, err
		}
	}
	if isUnknownLit(src) {
		if src, err = p.cast(src, TypeTimestamp, loc); err != nil {
			return nil, err
		}
	}
	if stride.Type() != TypeInterval || src.Type() != TypeTimestamp {
		return nil, noFunc(loc, name, args)
	}
	var origin int64 // Unix epoch when not given
	if len(args) == 3 {
		o := args[2]
		if isUnknownLit(o) {
			if o, err = p.cast(o, TypeTimestamp, loc); err != nil {
				return nil, err
			}
		}
		oc, ok := o.(*Const)
		switch {
		case !ok:
			return nil, unsupported(loc, name+" with a non-constant origin", "")
		case oc.Value.Null:
			return &Const{Value: NullValue(TypeTimestamp)}, nil
		case o.Type() == TypeTimestamp:
			origin = oc.Value.Int
		case o.Type() == TypeInterval && name == "time_bucket": // TimescaleDB's offset form
			off, fixed := oc.Value.Interval.Fixed()
			if !fixed {
				return nil, unsupported(loc, "time_bucket offset with months or years", "")
			}
			origin = off
		default:
			return nil, noFunc(loc, name, args)
		}
		if origin == math.MinInt64 || origin == math.MaxInt64 {
			return nil, invalid(loc, "22008", "origin out of range")
		}
	}
	sc, ok := stride.(*Const)
	if !ok {
		return nil, unsupported(loc, name+" with a non-constant stride", "")
	}
	if sc.Value.Null {
		return &Const{Value: NullValue(TypeTimestamp)}, nil
	}
	width, fixed := sc.Value.Interval.Fixed()
	if !fixed {
		if sc.Value.Interval.Months != 0 {
			return nil, &Error{Code: CodeUnsupported, SQLState: "0A000", Construct: "month or year buckets",
				Message: "timestamps cannot be binned into intervals containing months or years", Position: pos(loc)}
		}
		return nil, invalid(loc, "22008", "interval out of range")
	}
	if width <= 0 {
		return nil, invalid(loc, "22023", "stride must be greater than zero")
	}
	b := Bucket{Width: width, Origin: origin}
	if c, ok := src.(*Const); ok {
		if c.Value.Null || c.Value.Int == math.MinInt64 || c.Value.Int == math.MaxInt64 {
			if c.Value.Null {
				return &Const{Value: NullValue(TypeTimestamp)}, nil
			}
			return nil, invalid(loc, "22008", "timestamp out of range")
		}
		return &Const{Value: TimestampValue(b.Start(c.Value.Int))}, nil
	}
	return &DateBin{X: src, Bucket: b}, nil
}

// dateTrunc maps date_trunc(unit, ts) onto a bucket for fixed-width
// units (microseconds through week, in UTC).
func (p *planner) dateTrunc(args []Expr, loc int32) (Expr, error) {
	if len(args) != 2 && len(args) != 3 {
		return nil, noFunc(loc, "date_trunc", args)
	}
	uc, ok := args[0].(*Const)
	if !ok || (uc.Value.Type != TypeString && !uc.Value.Null) {
		if !ok && args[0].Type() == TypeString {
			return nil, unsupported(loc, "date_trunc with a non-constant unit", "")
		}
		return nil, noFunc(loc, "date_trunc", args)
	}
	src := args[1]
	var err error
	if isUnknownLit(src) {
		if src, err = p.cast(src, TypeTimestamp, loc); err != nil {
			return nil, err
		}
	}
	if src.Type() != TypeTimestamp {
		return nil, noFunc(loc, "date_trunc", args)
	}
	if uc.Value.Null {
		return &Const{Value: NullValue(TypeTimestamp)}, nil
	}
	unitName := strings.ToLower(strings.TrimSpace(uc.Value.Str))
	u, ok := units[unitName]
	canon, okc := canonicalUnit(unitName)
	if !ok || (okc && !truncUnits[canon]) {
		return nil, invalid(loc, "22023", "unit %q not recognized for type timestamp with time zone", uc.Value.Str)
	}
	if len(args) == 3 {
		z, null, err := zoneArg(args[2], loc)
		if err != nil {
			return nil, err
		}
		if null {
			return &Const{Value: NullValue(TypeTimestamp)}, nil
		}
		if z != time.UTC {
			return p.dateTruncCalendar(canon, src, z), nil
		}
	}
	var b Bucket
	switch {
	case u.months != 0:
		return p.dateTruncCalendar(canon, src, nil), nil
	case u.days == 7:
		b = Bucket{Width: 7 * 86400e9, Origin: 4 * 86400e9} // weeks start on Monday; 1970-01-05 was one
	case u.days == 1:
		b = Bucket{Width: 86400e9}
	default:
		b = Bucket{Width: u.nanos}
	}
	if c, ok := src.(*Const); ok {
		if c.Value.Null {
			return c, nil
		}
		return &Const{Value: TimestampValue(b.Start(c.Value.Int))}, nil
	}
	return &DateBin{X: src, Bucket: b}, nil
}

func (p *planner) toTimestamp(args []Expr, loc int32) (Expr, error) {
	if len(args) == 2 {
		return nil, unsupported(loc, "to_timestamp(text, format)", "")
	}
	if len(args) != 1 {
		return nil, noFunc(loc, "to_timestamp", args)
	}
	a := args[0]
	c, ok := a.(*Const)
	if !ok {
		if a.Type().numeric() {
			return toTimestampExpr(a), nil
		}
		return nil, noFunc(loc, "to_timestamp", args)
	}
	if c.Value.Null {
		return &Const{Value: NullValue(TypeTimestamp)}, nil
	}
	v, err := convertValue(c.Value, TypeFloat64, p.now)
	if err != nil || !(c.Value.Type.numeric() || c.lit == litString) {
		return nil, noFunc(loc, "to_timestamp", args)
	}
	f := v.Float
	switch {
	case math.IsInf(f, 1):
		return &Const{Value: TimestampValue(math.MaxInt64)}, nil
	case math.IsInf(f, -1):
		return &Const{Value: TimestampValue(math.MinInt64)}, nil
	case math.IsNaN(f) || math.Abs(f) > 9.2e9:
		return nil, invalid(loc, "22008", "timestamp out of range: %q", formatFloat(f))
	}
	us := math.Round(f * 1e6) // PostgreSQL keeps microseconds
	return &Const{Value: TimestampValue(int64(us) * 1000)}, nil
}

func (p *planner) aggregate(fc *pg_query.FuncCall, name string, c clause, depth int) (Expr, error) {
	e, err := p.aggregateCall(fc, name, c, depth)
	if err == nil {
		err = outerAggregate(e, fc.Location)
	}
	if err != nil || fc.AggFilter == nil {
		return e, err
	}
	ac, ok := e.(*aggCall)
	if !ok {
		return e, nil
	}
	f, err := p.exprDepth(fc.AggFilter, clause{name: "FILTER"}, depth+1)
	if err != nil {
		return nil, err
	}
	if f, err = p.requireBool(f, "FILTER", nodeLoc(fc.AggFilter)); err != nil {
		return nil, err
	}
	if k, ok := f.(*Const); ok && !k.Value.Null && k.Value.Bool {
		return ac, nil // FILTER (WHERE true)
	}
	out := *ac
	out.agg.Filter = f
	if p.numeric[ac] {
		p.markNumeric(&out)
	}
	return &out, nil
}

func (p *planner) aggregateCall(fc *pg_query.FuncCall, name string, c clause, depth int) (Expr, error) {
	loc := fc.Location
	if !c.allowAgg {
		return nil, errAt(loc, CodeGrouping, "42803", "aggregate functions are not allowed in %s", c.name)
	}
	if c.inAgg {
		return nil, errAt(loc, CodeGrouping, "42803", "aggregate function calls cannot be nested")
	}
	inner := clause{name: c.name, allowAgg: true, inAgg: true}
	sub := func(n *pg_query.Node) (Expr, error) { return p.exprDepth(n, inner, depth+1) }
	ordered := name == "percentile_cont" || name == "percentile_disc" || name == "mode"
	switch {
	case ordered && !fc.AggWithinGroup:
		return nil, invalid(loc, "42809", "WITHIN GROUP is required for ordered-set aggregate %s", name).withCode(CodeUndefinedFunction)
	case !ordered && fc.AggWithinGroup:
		return nil, invalid(loc, "42809", "%s is not an ordered-set aggregate, so it cannot have WITHIN GROUP", name).withCode(CodeUndefinedFunction)
	case fc.AggStar && name != "count":
		return nil, invalid(loc, "42809", "%s(*) must be used to call a parameterless aggregate function", name).withCode(CodeUndefinedFunction)
	case fc.AggDistinct && name != "count":
		return nil, unsupported(loc, name+"(DISTINCT ...)", "only count(DISTINCT x) is")
	case len(fc.AggOrder) > 0 && !ordered && name != "first" && name != "last" && name != "string_agg":
		return nil, unsupported(loc, "ORDER BY inside an aggregate", name+"(... ORDER BY ...)")
	}
	call := func(a Aggregate) (Expr, error) { return &aggCall{agg: a, loc: loc}, nil }
	if name == "mode" {
		return p.mode(fc, sub)
	}
	if ordered {
		return p.percentile(fc, name, sub)
	}
	if name == "string_agg" {
		return p.stringAgg(fc, sub)
	}
	if name == "count" && fc.AggStar {
		return call(Aggregate{Func: AggCountStar, Type: TypeInt64})
	}
	var args []Expr
	for _, n := range fc.Args {
		a, err := sub(n)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	if len(args) == 2 && (name == "first" || name == "last") && len(fc.AggOrder) == 0 {
		// first(x, time)
		if cr, ok := args[1].(*ColumnRef); !ok || cr.Column.Kind != KindTime {
			return nil, unsupported(loc, name+"() ordered by something other than time", "write "+name+"(x, time)")
		}
		args = args[:1]
	}
	if len(args) != 1 {
		return nil, noFunc(loc, name, args)
	}
	x := args[0]
	if isUnknownLit(x) && !isNullConst(x) && (name == "min" || name == "max" || name == "count" || name == "first" || name == "last") {
		x, _ = p.cast(x, TypeString, loc)
	}
	t := x.Type()
	switch name {
	case "count":
		if fc.AggDistinct {
			if isNullConst(x) || t == TypeInterval {
				return nil, unsupported(loc, "count(DISTINCT) of a NULL or interval", "")
			}
			return call(Aggregate{Func: AggCountDistinct, Arg: x, Type: TypeInt64})
		}
		if c, ok := x.(*Const); ok && !c.Value.Null {
			return call(Aggregate{Func: AggCountStar, Type: TypeInt64}) // count(1)
		}
		return call(Aggregate{Func: AggCount, Arg: x, Type: TypeInt64})
	case "sum":
		if !t.numeric() {
			return nil, noFunc(loc, name, args)
		}
		e, err := call(Aggregate{Func: AggSum, Arg: x, Type: t})
		if err == nil && (t == TypeUint64 || t == TypeInt64 && !p.isInt4(x) || p.isNumeric(x)) {
			p.markNumeric(e) // sum(bigint) is numeric in PostgreSQL (sum(integer) is bigint)
		}
		return e, err
	case "avg", "stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop":
		if !t.numeric() {
			return nil, noFunc(loc, name, args)
		}
		f := map[string]AggFunc{"avg": AggAvg, "stddev": AggStddevSamp, "stddev_samp": AggStddevSamp, "stddev_pop": AggStddevPop,
			"variance": AggVarSamp, "var_samp": AggVarSamp, "var_pop": AggVarPop}[name]
		e, err := call(Aggregate{Func: f, Arg: x, Type: TypeFloat64})
		if err == nil && t != TypeFloat64 {
			p.markNumeric(e) // avg(bigint) and the like are numeric
		}
		return e, err
	case "bool_and", "every", "bool_or":
		if isUnknownLit(x) {
			x, _ = p.cast(x, TypeBool, loc)
			t = x.Type()
		}
		if t != TypeBool {
			return nil, noFunc(loc, name, args)
		}
		f := AggBoolAnd
		if name == "bool_or" {
			f = AggBoolOr
		}
		return call(Aggregate{Func: f, Arg: x, Type: TypeBool})
	case "min", "max":
		if !(t.numeric() || t == TypeString || t == TypeTimestamp) {
			return nil, noFunc(loc, name, args)
		}
		f := AggMin
		if name == "max" {
			f = AggMax
		}
		return call(Aggregate{Func: f, Arg: x, Type: t})
	case "first", "last":
		first := name == "first"
		if len(fc.AggOrder) > 0 {
			if len(fc.AggOrder) != 1 {
				return nil, unsupported(loc, name+"() ordered by more than time", "")
			}
			sb := fc.AggOrder[0].GetSortBy()
			if sb == nil || sb.SortbyDir == pg_query.SortByDir_SORTBY_USING {
				return nil, unsupported(loc, "ORDER BY ... USING", "")
			}
			o, err := sub(sb.Node)
			if err != nil {
				return nil, err
			}
			if cr, ok := o.(*ColumnRef); !ok || cr.Column.Kind != KindTime {
				return nil, unsupported(loc, name+"() ordered by something other than time", "write "+name+"(x, time)")
			}
			if sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC {
				first = !first
			}
		}
		if t == TypeNull || t == TypeInterval {
			return nil, noFunc(loc, name, args)
		}
		f := AggLast
		if first {
			f = AggFirst
		}
		return call(Aggregate{Func: f, Arg: x, Type: t})
	}
	return nil, unsupported(loc, "function "+name+"()", "")
}

// orderKey resolves one ORDER BY item inside an aggregate.
func orderKey(fc *pg_query.FuncCall, sub func(*pg_query.Node) (Expr, error)) (Expr, bool, error) {
	sb := fc.AggOrder[0].GetSortBy()
	if sb == nil || sb.SortbyDir == pg_query.SortByDir_SORTBY_USING {
		return nil, false, unsupported(fc.Location, "ORDER BY ... USING", "")
	}
	if sb.SortbyNulls != pg_query.SortByNulls_SORTBY_NULLS_DEFAULT {
		return nil, false, unsupported(fc.Location, "NULLS FIRST/LAST inside an aggregate", "")
	}
	x, err := sub(sb.Node)
	return x, sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC, err
}

// stringAgg resolves string_agg(x, delimiter [ORDER BY y [DESC]]).
func (p *planner) stringAgg(fc *pg_query.FuncCall, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := fc.Location
	var args []Expr
	for _, n := range fc.Args {
		a, err := sub(n)
		if err != nil {
			return nil, err
		}
		args = append(args, a)
	}
	if len(args) != 2 || len(fc.AggOrder) > 1 {
		return nil, noFunc(loc, "string_agg", args)
	}
	x, ok := p.textArg(args[0], loc)
	if !ok && !isNullConst(args[0]) {
		return nil, noFunc(loc, "string_agg", args)
	}
	if x == nil {
		x = &Const{Value: NullValue(TypeString)}
	}
	dc, ok := args[1].(*Const)
	if !ok {
		return nil, unsupported(loc, "string_agg with a non-constant delimiter", "")
	}
	if !dc.Value.Null && dc.Value.Type != TypeString {
		return nil, noFunc(loc, "string_agg", args)
	}
	a := Aggregate{Func: AggStringAgg, Arg: x, Sep: dc.Value.Str, Type: TypeString}
	if len(fc.AggOrder) == 1 {
		o, desc, err := orderKey(fc, sub)
		if err != nil {
			return nil, err
		}
		if _, isConst := o.(*Const); !isConst {
			a.Order, a.Desc = o, desc
		}
		if o.Type() == TypeInterval {
			return nil, unsupported(loc, "ordering by an interval inside an aggregate", "")
		}
	}
	return &aggCall{agg: a, loc: loc}, nil
}

// mode resolves mode() WITHIN GROUP (ORDER BY x [DESC]).
func (p *planner) mode(fc *pg_query.FuncCall, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := fc.Location
	if len(fc.Args) != 0 || len(fc.AggOrder) != 1 {
		return nil, errAt(loc, CodeUndefinedFunction, "42883", "function mode takes no argument and one ORDER BY expression")
	}
	x, desc, err := orderKey(fc, sub)
	if err != nil {
		return nil, err
	}
	if isUnknownLit(x) && !isNullConst(x) {
		x, _ = p.cast(x, TypeString, loc)
	}
	if t := x.Type(); t == TypeNull || t == TypeInterval {
		return nil, errAt(loc, CodeUndefinedFunction, "42883", "function mode(%s) does not exist", pgTypeName(x))
	}
	return &aggCall{agg: Aggregate{Func: AggMode, Arg: x, Desc: desc, Type: x.Type()}, loc: loc}, nil
}

// percentile resolves percentile_cont/percentile_disc(fraction) WITHIN
// GROUP (ORDER BY x).
func (p *planner) percentile(fc *pg_query.FuncCall, name string, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := fc.Location
	if len(fc.Args) != 1 || len(fc.AggOrder) != 1 {
		return nil, errAt(loc, CodeUndefinedFunction, "42883", "function %s takes one fraction and one ORDER BY expression", name)
	}
	fe, err := sub(fc.Args[0])
	if err != nil {
		return nil, err
	}
	if _, ok := fe.(*Const); !ok {
		return nil, unsupported(loc, "non-constant percentile fraction", "")
	}
	var fcst *Const
	if isUnknownLit(fe) || fe.Type().numeric() {
		if fe, err = p.cast(fe, TypeFloat64, loc); err != nil {
			return nil, err
		}
		fcst = fe.(*Const)
	} else {
		return nil, errAt(loc, CodeUndefinedFunction, "42883", "function %s(%s) does not exist", name, pgTypeName(fe))
	}
	if fcst.Value.Null {
		return nil, unsupported(loc, "NULL percentile fraction", "")
	}
	frac := fcst.Value.Float
	if !(frac >= 0 && frac <= 1) {
		return nil, invalid(loc, "22003", "percentile value %s is not between 0 and 1", formatFloatPG(frac))
	}
	sb := fc.AggOrder[0].GetSortBy()
	if sb == nil || sb.SortbyDir == pg_query.SortByDir_SORTBY_USING {
		return nil, unsupported(loc, "ORDER BY ... USING", "")
	}
	x, err := sub(sb.Node)
	if err != nil {
		return nil, err
	}
	desc := sb.SortbyDir == pg_query.SortByDir_SORTBY_DESC
	if name == "percentile_cont" {
		if !x.Type().numeric() && !isUnknownLit(x) {
			return nil, errAt(loc, CodeUndefinedFunction, "42883", "function percentile_cont(double precision ORDER BY %s) does not exist", pgTypeName(x))
		}
		if x, err = p.cast(x, TypeFloat64, loc); err != nil {
			return nil, err
		}
		if desc {
			frac = 1 - frac
		}
		return &aggCall{agg: Aggregate{Func: AggPercentileCont, Arg: x, Fraction: frac, Type: TypeFloat64}, loc: loc}, nil
	}
	if desc {
		return nil, unsupported(loc, "percentile_disc with ORDER BY ... DESC", "")
	}
	if isUnknownLit(x) && !isNullConst(x) {
		x, _ = p.cast(x, TypeString, loc)
	}
	t := x.Type()
	if !(t.numeric() || t == TypeString || t == TypeTimestamp) {
		return nil, errAt(loc, CodeUndefinedFunction, "42883", "function percentile_disc(double precision ORDER BY %s) does not exist", pgTypeName(x))
	}
	return &aggCall{agg: Aggregate{Func: AggPercentileDisc, Arg: x, Fraction: frac, Type: t}, loc: loc}, nil
}

func formatFloatPG(f float64) string {
	s := formatFloat(f)
	return strings.TrimSuffix(s, ".0")
}

// figureColname names an output column as PostgreSQL's FigureColname does.
func figureColname(n *pg_query.Node) string {
	name, strength := figureColnameInternal(n)
	if strength == 0 {
		return "?column?"
	}
	return name
}

func figureColnameInternal(n *pg_query.Node) (string, int) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		name := ""
		for _, f := range x.ColumnRef.Fields {
			if s := f.GetString_(); s != nil {
				name = s.Sval
			}
		}
		if name != "" {
			return name, 2
		}
	case *pg_query.Node_AIndirection:
		for i := len(x.AIndirection.Indirection) - 1; i >= 0; i-- {
			if s := x.AIndirection.Indirection[i].GetString_(); s != nil {
				return s.Sval, 2
			}
		}
		return figureColnameInternal(x.AIndirection.Arg)
	case *pg_query.Node_FuncCall:
		fn := x.FuncCall.Funcname
		if len(fn) > 0 {
			if s := fn[len(fn)-1].GetString_(); s != nil {
				return s.Sval, 2
			}
		}
	case *pg_query.Node_AExpr:
		if x.AExpr.Kind == pg_query.A_Expr_Kind_AEXPR_NULLIF {
			return "nullif", 2
		}
	case *pg_query.Node_TypeCast:
		name, strength := figureColnameInternal(x.TypeCast.Arg)
		if strength <= 1 && x.TypeCast.TypeName != nil {
			names := x.TypeCast.TypeName.Names
			if len(names) > 0 {
				if s := names[len(names)-1].GetString_(); s != nil {
					return s.Sval, 1
				}
			}
		}
		return name, strength
	case *pg_query.Node_CollateClause:
		return figureColnameInternal(x.CollateClause.Arg)
	case *pg_query.Node_CaseExpr:
		name, strength := figureColnameInternal(x.CaseExpr.Defresult)
		if strength <= 1 {
			return "case", 1
		}
		return name, strength
	case *pg_query.Node_CoalesceExpr:
		return "coalesce", 2
	case *pg_query.Node_MinMaxExpr:
		if x.MinMaxExpr.Op == pg_query.MinMaxOp_IS_LEAST {
			return "least", 2
		}
		return "greatest", 2
	case *pg_query.Node_SqlvalueFunction:
		s := strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(x.SqlvalueFunction.Op.String(), "SVFOP_"), "_N"))
		return s, 2
	}
	return "", 0
}
