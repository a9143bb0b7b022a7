package sql

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// maxDepth bounds expression nesting (PostgreSQL's parser has its own
// stack limit; this keeps the planner's recursion bounded too).
const maxDepth = 1000

// expr resolves a parse-tree expression into a typed, folded Expr in row
// context (aggregate calls stay aggCall until binding).
func (p *planner) expr(n *pg_query.Node, c clause) (Expr, error) {
	return p.exprDepth(n, c, 0)
}

func (p *planner) exprDepth(n *pg_query.Node, c clause, depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, unsupported(nodeLoc(n), "expression nesting deeper than "+strconv.Itoa(maxDepth), "")
	}
	sub := func(m *pg_query.Node) (Expr, error) { return p.exprDepth(m, c, depth+1) }
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		return p.columnRef(x.ColumnRef, c)
	case *pg_query.Node_AConst:
		return constant(x.AConst)
	case *pg_query.Node_TypeCast:
		return p.typeCast(x.TypeCast, sub)
	case *pg_query.Node_AExpr:
		return p.aExpr(x.AExpr, sub)
	case *pg_query.Node_BoolExpr:
		return p.boolExpr(x.BoolExpr, sub)
	case *pg_query.Node_NullTest:
		a, err := sub(x.NullTest.Arg)
		if err != nil {
			return nil, err
		}
		return isNull(a, x.NullTest.Nulltesttype == pg_query.NullTestType_IS_NOT_NULL), nil
	case *pg_query.Node_BooleanTest:
		return p.booleanTest(x.BooleanTest, sub)
	case *pg_query.Node_FuncCall:
		return p.funcCall(x.FuncCall, c, depth)
	case *pg_query.Node_SqlvalueFunction:
		f := x.SqlvalueFunction
		if f.Op == pg_query.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP {
			return &Const{Value: TimestampValue(p.now.UnixNano())}, nil
		}
		name := strings.TrimPrefix(f.Op.String(), "SVFOP_")
		name = strings.TrimSuffix(name, "_N")
		return nil, unsupported(f.Location, strings.ReplaceAll(name, "_", " "), "")
	case *pg_query.Node_SubLink:
		return nil, unsupported(x.SubLink.Location, "subquery", "")
	case *pg_query.Node_CaseExpr:
		return nil, unsupported(x.CaseExpr.Location, "CASE", "")
	case *pg_query.Node_CoalesceExpr:
		return nil, unsupported(x.CoalesceExpr.Location, "COALESCE", "")
	case *pg_query.Node_MinMaxExpr:
		return nil, unsupported(x.MinMaxExpr.Location, "GREATEST/LEAST", "")
	case *pg_query.Node_ParamRef:
		return nil, unsupported(x.ParamRef.Location, "parameter $"+strconv.Itoa(int(x.ParamRef.Number)), "")
	case *pg_query.Node_CollateClause:
		return nil, unsupported(x.CollateClause.Location, "COLLATE", "")
	case *pg_query.Node_AArrayExpr:
		return nil, unsupported(x.AArrayExpr.Location, "ARRAY", "")
	case *pg_query.Node_RowExpr:
		return nil, unsupported(x.RowExpr.Location, "ROW constructor", "")
	case *pg_query.Node_AIndirection:
		return nil, unsupported(nodeLoc(x.AIndirection.Arg), "subscript or field selection", "")
	case *pg_query.Node_GroupingFunc:
		return nil, unsupported(x.GroupingFunc.Location, "GROUPING", "")
	case nil:
		return nil, unsupported(-1, "empty expression", "")
	}
	return nil, unsupported(nodeLoc(n), strings.ToLower(splitCamel(nodeTypeName(n))), "")
}

// constant turns a literal into a Const.
func constant(a *pg_query.A_Const) (Expr, error) {
	if a.Isnull {
		return &Const{Value: NullValue(TypeNull)}, nil
	}
	switch v := a.Val.(type) {
	case *pg_query.A_Const_Ival:
		return &Const{Value: IntValue(int64(v.Ival.Ival)), lit: litInt}, nil
	case *pg_query.A_Const_Fval:
		s := strings.ReplaceAll(v.Fval.Fval, "_", "")
		body := strings.TrimPrefix(s, "-")
		if len(body) > 2 && body[0] == '0' && strings.ContainsRune("xXoObB", rune(body[1])) {
			if i, err := strconv.ParseInt(s, 0, 64); err == nil {
				return &Const{Value: IntValue(i), lit: litInt}, nil
			}
			return nil, unsupported(a.Location, "integer literal beyond 64 bits", "")
		}
		if !strings.ContainsAny(s, ".eE") {
			if i, err := strconv.ParseInt(s, 10, 64); err == nil {
				return &Const{Value: IntValue(i), lit: litInt}, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !strings.Contains(err.Error(), "range") {
			return nil, invalid(a.Location, "22P02", "invalid numeric literal %q", v.Fval.Fval)
		}
		return &Const{Value: FloatValue(f), lit: litDecimal}, nil
	case *pg_query.A_Const_Sval:
		return &Const{Value: StringValue(v.Sval.Sval), lit: litString}, nil
	case *pg_query.A_Const_Boolval:
		return &Const{Value: BoolValue(v.Boolval.Boolval)}, nil
	case *pg_query.A_Const_Bsval:
		return nil, unsupported(a.Location, "bit string literal", "")
	}
	return nil, unsupported(a.Location, "literal", "")
}

// checkQualifier checks a column qualifier (table or alias, optionally
// schema-qualified).
func (p *planner) checkQualifier(quals []*pg_query.Node, loc int32) error {
	if len(quals) == 0 {
		return nil
	}
	names := make([]string, len(quals))
	for i, q := range quals {
		s := q.GetString_()
		if s == nil {
			return unsupported(loc, "column reference form", "")
		}
		names[i] = s.Sval
	}
	if len(names) > 2 {
		return unsupported(loc, "database-qualified column reference", "")
	}
	tbl := names[len(names)-1]
	if len(names) == 2 && (names[0] != "public" || p.alias != "") {
		return errAt(loc, CodeUndefinedTable, "42P01", "missing FROM-clause entry for table %q", names[0]+"."+tbl)
	}
	if p.table == nil {
		return errAt(loc, CodeUndefinedTable, "42P01", "missing FROM-clause entry for table %q", tbl)
	}
	if tbl == p.scopeName() {
		return nil
	}
	if p.alias != "" && tbl == p.tableName {
		return errAt(loc, CodeUndefinedTable, "42P01", "invalid reference to FROM-clause entry for table %q", tbl).
			withHint("perhaps you meant to reference the table alias " + strconv.Quote(p.alias))
	}
	return errAt(loc, CodeUndefinedTable, "42P01", "missing FROM-clause entry for table %q", tbl)
}

func (p *planner) columnRef(cr *pg_query.ColumnRef, c clause) (Expr, error) {
	n := len(cr.Fields)
	if n == 0 {
		return nil, unsupported(cr.Location, "empty column reference", "")
	}
	if cr.Fields[n-1].GetAStar() != nil {
		return nil, unsupported(cr.Location, "* in an expression", "* is only allowed as a select-list item and in count(*)")
	}
	s := cr.Fields[n-1].GetString_()
	if s == nil {
		return nil, unsupported(cr.Location, "column reference form", "")
	}
	name := s.Sval
	if err := p.checkQualifier(cr.Fields[:n-1], cr.Location); err != nil {
		return nil, err
	}
	if c.noVars {
		return nil, errAt(cr.Location, CodeInvalid, "42P10", "argument of %s must not contain variables", c.name)
	}
	shown := name
	if n > 1 {
		shown = p.scopeName() + "." + name
	}
	if p.table == nil {
		return nil, errAt(cr.Location, CodeUndefinedColumn, "42703", "column %q does not exist", shown)
	}
	cols := p.table.lookup(name)
	switch len(cols) {
	case 0:
		e := errAt(cr.Location, CodeUndefinedColumn, "42703", "column %q does not exist", shown)
		if n > 1 {
			e.Message = "column " + shown + " does not exist"
		}
		if alt := p.table.lookupFold(name); alt != "" {
			e.Hint = "perhaps you meant " + strconv.Quote(alt) + ": names are case-sensitive, quote mixed-case names with double quotes"
		}
		return nil, e
	case 1:
		return &ColumnRef{Column: cols[0], loc: cr.Location}, nil
	}
	return nil, errAt(cr.Location, CodeAmbiguous, "42702", "column reference %q is ambiguous", name).
		withHint("the table has a tag and a field of that name")
}

// typeCast resolves expr::type, CAST(expr AS type) and type 'literal'.
func (p *planner) typeCast(tc *pg_query.TypeCast, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	tn := tc.TypeName
	loc := tc.Location
	if tn == nil || len(tn.Names) == 0 {
		return nil, unsupported(loc, "cast", "")
	}
	if tn.Location >= 0 {
		loc = tn.Location
	}
	var names []string
	for _, n := range tn.Names {
		if s := n.GetString_(); s != nil {
			names = append(names, s.Sval)
		}
	}
	if len(names) == 0 {
		return nil, unsupported(loc, "cast", "")
	}
	name := names[len(names)-1]
	if len(tn.ArrayBounds) > 0 {
		return nil, unsupported(loc, "array type "+name+"[]", "")
	}
	to, ok := typeByName(name)
	if !ok || tn.Setof || tn.PctType || (len(names) == 2 && names[0] != "pg_catalog") || len(names) > 2 {
		if len(names) == 2 && names[0] == "pg_catalog" {
			names = names[1:]
		}
		return nil, unsupported(loc, "type "+strings.Join(names, "."), "")
	}
	if len(tn.Typmods) > 0 && name != "varchar" && name != "bpchar" && name != "char" {
		if name == "interval" {
			return nil, unsupported(loc, "interval field qualifier", "write interval '1 hour'")
		}
		return nil, unsupported(loc, "type modifier on "+name, "")
	}
	arg, err := sub(tc.Arg)
	if err != nil {
		return nil, err
	}
	if name == "date" {
		if c, ok := arg.(*Const); ok && !c.Value.Null && c.Value.Type == TypeString {
			v, err := convertValue(c.Value, TypeTimestamp, p.now)
			if err != nil {
				return nil, invalid(loc, "22007", "%s", strings.Replace(err.Error(), "timestamp with time zone", "date", 1))
			}
			return &Const{Value: TimestampValue(Bucket{Width: 86400e9}.Start(v.Int))}, nil
		}
		return nil, unsupported(loc, "cast to date", "only date 'YYYY-MM-DD' literals are")
	}
	if arg.Type() == TypeTimestamp && to == TypeTimestamp {
		return arg, nil
	}
	if _, isConst := arg.(*Const); !isConst && arg.Type() != to && !castable(arg.Type(), to) {
		return nil, unsupported(loc, "cast from "+arg.Type().PGName()+" to "+name, "")
	}
	return p.cast(arg, to, loc)
}

// aExpr resolves operators, IN, BETWEEN, LIKE.
func (p *planner) aExpr(a *pg_query.A_Expr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	op := ""
	if len(a.Name) > 0 {
		if s := a.Name[len(a.Name)-1].GetString_(); s != nil {
			op = s.Sval
		}
	}
	loc := a.Location
	switch a.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP:
		if a.Lexpr == nil {
			x, err := sub(a.Rexpr)
			if err != nil {
				return nil, err
			}
			return p.unaryOp(op, x, loc)
		}
		l, err := sub(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := sub(a.Rexpr)
		if err != nil {
			return nil, err
		}
		switch op {
		case "+", "-", "*", "/", "%":
			return p.arith(op, l, r, loc)
		case "=", "<>", "!=", "<", "<=", ">", ">=":
			return p.compare(cmpOps[op], l, r, loc)
		case "~", "!~", "~*", "!~*":
			return p.regexMatch(l, r, op[0] == '!', strings.HasSuffix(op, "*"), false, loc)
		case "~~", "!~~", "~~*", "!~~*":
			return p.regexMatch(l, r, op[0] == '!', strings.HasSuffix(op, "*"), true, loc)
		}
		return nil, unsupported(loc, "operator "+op, "")
	case pg_query.A_Expr_Kind_AEXPR_IN:
		return p.inList(a, op == "<>", sub)
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		return p.between(a, sub)
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		if fc := a.Rexpr.GetFuncCall(); fc != nil {
			return nil, unsupported(loc, "LIKE ... ESCAPE", "")
		}
		l, err := sub(a.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := sub(a.Rexpr)
		if err != nil {
			return nil, err
		}
		return p.regexMatch(l, r, strings.HasPrefix(op, "!"), a.Kind == pg_query.A_Expr_Kind_AEXPR_ILIKE, true, loc)
	case pg_query.A_Expr_Kind_AEXPR_SIMILAR:
		return nil, unsupported(loc, "SIMILAR TO", "use ~")
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY:
		return nil, unsupported(loc, "ANY", "use IN (...)")
	case pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		return nil, unsupported(loc, "ALL", "")
	case pg_query.A_Expr_Kind_AEXPR_DISTINCT:
		return nil, unsupported(loc, "IS DISTINCT FROM", "")
	case pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		return nil, unsupported(loc, "IS NOT DISTINCT FROM", "")
	case pg_query.A_Expr_Kind_AEXPR_NULLIF:
		return nil, unsupported(loc, "NULLIF", "")
	}
	return nil, unsupported(loc, "operator "+op, "")
}

var negate = map[BinaryOp]BinaryOp{OpEq: OpNe, OpNe: OpEq, OpLt: OpGe, OpGe: OpLt, OpLe: OpGt, OpGt: OpLe}

var cmpOps = map[string]BinaryOp{"=": OpEq, "<>": OpNe, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}

func (p *planner) unaryOp(op string, x Expr, loc int32) (Expr, error) {
	if op != "-" && op != "+" {
		return nil, unsupported(loc, "prefix operator "+op, "")
	}
	if isUnknownLit(x) && !isNullConst(x) {
		return nil, typeErr(loc, "operator is not unique: %s unknown", op)
	}
	if isNullConst(x) {
		return x, nil
	}
	t := x.Type()
	if !t.numeric() {
		if t == TypeInterval && op == "-" {
			c := x.(*Const)
			iv := c.Value.Interval
			return &Const{Value: IntervalValue(Interval{Months: -iv.Months, Days: -iv.Days, Nanos: -iv.Nanos})}, nil
		}
		return nil, typeErr(loc, "operator does not exist: %s %s", op, pgTypeName(x))
	}
	if op == "+" {
		return x, nil
	}
	if t == TypeUint64 { // numeric in PostgreSQL: negation gives float64 here
		var err error
		if x, err = p.cast(x, TypeFloat64, loc); err != nil {
			return nil, err
		}
		t = TypeFloat64
	}
	if c, ok := x.(*Const); ok {
		zero := Value{Type: t}
		v, err := evalArith(OpSub, zero, c.Value)
		if err != nil {
			return nil, invalid(loc, "22003", "%s", err.Error())
		}
		return &Const{Value: v, lit: c.lit}, nil
	}
	return &Unary{Op: OpNeg, X: x, T: t}, nil
}

var arithOps = map[string]BinaryOp{"+": OpAdd, "-": OpSub, "*": OpMul, "/": OpDiv, "%": OpMod}

func (p *planner) arith(opName string, l, r Expr, loc int32) (Expr, error) {
	op := arithOps[opName]
	noOp := func() (Expr, error) {
		return nil, typeErr(loc, "operator does not exist: %s %s %s", pgTypeName(l), opName, pgTypeName(r))
	}
	lt, rt := l.Type(), r.Type()
	// Timestamps and intervals: only constant timestamp ± interval.
	if lt == TypeTimestamp || rt == TypeTimestamp || lt == TypeInterval || rt == TypeInterval {
		ts, iv, sign := l, r, int64(1)
		if rt == TypeTimestamp && op == OpAdd {
			ts, iv = r, l
		}
		if op == OpSub {
			sign = -1
		}
		if ts.Type() == TypeTimestamp && (op == OpAdd || op == OpSub) {
			if isUnknownLit(iv) {
				var err error
				if iv, err = p.cast(iv, TypeInterval, loc); err != nil {
					return nil, err
				}
			}
			if iv.Type() == TypeInterval {
				tc, ok1 := ts.(*Const)
				ic, ok2 := iv.(*Const)
				if !ok1 || !ok2 {
					return nil, unsupported(loc, "arithmetic on the time column", "compare time with constant bounds instead")
				}
				if tc.Value.Null || ic.Value.Null {
					return &Const{Value: NullValue(TypeTimestamp)}, nil
				}
				t, ok := addInterval(tc.Value.Int, ic.Value.Interval, sign)
				if !ok {
					return nil, invalid(loc, "22008", "timestamp out of range")
				}
				return &Const{Value: TimestampValue(t)}, nil
			}
			if iv.Type() == TypeTimestamp && op == OpSub {
				return nil, unsupported(loc, "timestamp subtraction", "")
			}
		}
		if lt == TypeInterval && rt == TypeInterval || lt == TypeInterval && rt.numeric() || rt == TypeInterval && lt.numeric() {
			return nil, unsupported(loc, "interval arithmetic", "")
		}
		return noOp()
	}
	// Unknown literals take the other side's type.
	if isUnknownLit(l) && isUnknownLit(r) {
		if isNullConst(l) || isNullConst(r) {
			return &Const{Value: NullValue(TypeNull)}, nil
		}
		return nil, typeErr(loc, "operator is not unique: unknown %s unknown", opName)
	}
	var err error
	if isUnknownLit(l) && rt.numeric() {
		if l, err = p.cast(l, rt, loc); err != nil {
			return nil, err
		}
	}
	if isUnknownLit(r) && lt.numeric() {
		if r, err = p.cast(r, lt, loc); err != nil {
			return nil, err
		}
	}
	if !l.Type().numeric() || !r.Type().numeric() {
		return noOp()
	}
	t := numericCommon(l, r, false)
	if op == OpMod && t == TypeFloat64 {
		// PostgreSQL has % for integers and numeric (decimal literals,
		// uint64 columns) but not for double precision.
		numeric := func(e Expr) bool {
			c, ok := e.(*Const)
			return ok && c.lit == litDecimal || e.Type() == TypeUint64
		}
		if l.Type() == TypeFloat64 && !numeric(l) || r.Type() == TypeFloat64 && !numeric(r) {
			return noOp()
		}
	}
	decimal := func(e Expr) bool { c, ok := e.(*Const); return ok && c.lit == litDecimal }
	lit := litNone
	if decimal(l) || decimal(r) {
		lit = litDecimal
	}
	if l, err = p.forceTo(l, t, loc); err != nil {
		return nil, err
	}
	if r, err = p.forceTo(r, t, loc); err != nil {
		return nil, err
	}
	if lc, ok := l.(*Const); ok {
		if rc, ok := r.(*Const); ok {
			v, err := evalArith(op, lc.Value, rc.Value)
			if errors.Is(err, ErrDivisionByZero) {
				return nil, errAt(loc, CodeDivisionByZero, "22012", "%s", err.Error())
			}
			if err != nil {
				return nil, invalid(loc, "22003", "%s", err.Error())
			}
			if lit == litNone && lc.lit == litInt && rc.lit == litInt {
				lit = litInt
			}
			return &Const{Value: v, lit: lit}, nil
		}
	}
	if isNullConst(l) || isNullConst(r) {
		return &Const{Value: NullValue(t)}, nil
	}
	return &Binary{Op: op, L: l, R: r, T: t}, nil
}

// forceTo converts a numeric operand to the common type t.
func (p *planner) forceTo(e Expr, t Type, loc int32) (Expr, error) {
	if e.Type() == t {
		if c, ok := e.(*Const); ok && c.lit == litString {
			return &Const{Value: c.Value}, nil
		}
		return e, nil
	}
	if c, ok := e.(*Const); ok {
		v, err := convertValue(c.Value, t, p.now)
		if err != nil {
			return nil, invalid(loc, "22003", "%s", err.Error())
		}
		return &Const{Value: v, lit: c.lit}, nil
	}
	return &Cast{X: e, To: t}, nil
}

// compare builds a comparison, constant on the right when there is one.
func (p *planner) compare(op BinaryOp, l, r Expr, loc int32) (Expr, error) {
	if _, lc := l.(*Const); lc {
		if _, rc := r.(*Const); !rc {
			l, r, op = r, l, flip(op)
		}
	}
	noOp := func() (Expr, error) {
		return nil, typeErr(loc, "operator does not exist: %s %s %s", pgTypeName(l), op, pgTypeName(r))
	}
	lt, rt := l.Type(), r.Type()
	var err error
	switch {
	case isUnknownLit(l) && isUnknownLit(r):
		if isNullConst(l) || isNullConst(r) {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		if l, err = p.cast(l, TypeString, loc); err != nil {
			return nil, err
		}
		if r, err = p.cast(r, TypeString, loc); err != nil {
			return nil, err
		}
	case isUnknownLit(r):
		if lt == TypeInterval {
			return nil, unsupported(loc, "interval comparison", "")
		}
		if r, err = p.cast(r, lt, loc); err != nil {
			return nil, err
		}
	case isUnknownLit(l):
		if rt == TypeInterval {
			return nil, unsupported(loc, "interval comparison", "")
		}
		if l, err = p.cast(l, rt, loc); err != nil {
			return nil, err
		}
	case lt == TypeInterval || rt == TypeInterval:
		return nil, unsupported(loc, "interval comparison", "")
	case lt.numeric() && rt.numeric():
		t := numericCommon(l, r, true)
		if l, err = p.forceTo(l, t, loc); err != nil {
			return nil, err
		}
		if r, err = p.forceTo(r, t, loc); err != nil {
			return nil, err
		}
	case lt == TypeTimestamp && rt == TypeInt64: // epoch nanoseconds (Silt extension)
		x, ok, err := p.coerceTo(r, TypeTimestamp, loc)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noOp()
		}
		r = x
	case lt == TypeInt64 && rt == TypeTimestamp:
		x, ok, err := p.coerceTo(l, TypeTimestamp, loc)
		if err != nil {
			return nil, err
		}
		if !ok {
			return noOp()
		}
		l = x
	case lt != rt:
		return noOp()
	}
	if l.Type() != r.Type() {
		return noOp()
	}
	lc, lok := l.(*Const)
	rc, rok := r.(*Const)
	if lok && rok {
		return &Const{Value: evalCompare(op, lc.Value, rc.Value)}, nil
	}
	if (lok && lc.Value.Null) || (rok && rc.Value.Null) {
		return &Const{Value: NullValue(TypeBool)}, nil
	}
	return &Binary{Op: op, L: l, R: r, T: TypeBool}, nil
}

// regexMatch builds ~, ~*, !~, !~*, LIKE, ILIKE.
func (p *planner) regexMatch(l, r Expr, not, fold, like bool, loc int32) (Expr, error) {
	opName := map[[2]bool]string{{false, false}: "~", {true, false}: "!~", {false, true}: "~*", {true, true}: "!~*"}[[2]bool{not, fold}]
	if like {
		opName = map[[2]bool]string{{false, false}: "~~", {true, false}: "!~~", {false, true}: "~~*", {true, true}: "!~~*"}[[2]bool{not, fold}]
	}
	var err error
	if isUnknownLit(l) {
		if l, err = p.cast(l, TypeString, loc); err != nil {
			return nil, err
		}
	}
	if l.Type() != TypeString || (r.Type() != TypeString && !isNullConst(r)) {
		return nil, typeErr(loc, "operator does not exist: %s %s %s", pgTypeName(l), opName, pgTypeName(r))
	}
	rc, ok := r.(*Const)
	if !ok {
		return nil, unsupported(loc, "non-constant pattern", "")
	}
	if rc.Value.Null || isNullConst(l) {
		return &Const{Value: NullValue(TypeBool)}, nil
	}
	pattern := rc.Value.Str
	if like {
		pattern, err = likeToRegexp(pattern)
		if err != nil {
			return nil, invalid(loc, "22025", "%s", err.Error())
		}
	}
	if fold {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, invalid(loc, "2201B", "invalid regular expression: %s", err.Error())
	}
	if lc, ok := l.(*Const); ok {
		if lc.Value.Null {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		return &Const{Value: BoolValue(re.MatchString(lc.Value.Str) != not)}, nil
	}
	return &Match{X: l, Pattern: pattern, Re: re, Not: not}, nil
}

// likeToRegexp translates a LIKE pattern (% any run, _ one character, \
// escapes the next) into an anchored Go regexp.
func likeToRegexp(s string) (string, error) {
	var b strings.Builder
	b.WriteString("(?s)^")
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '\\':
			if i+1 >= len(rs) {
				return "", errLikeEscape
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

type likeError string

func (e likeError) Error() string { return string(e) }

const errLikeEscape = likeError("LIKE pattern must not end with escape character")

// inList builds x [NOT] IN (constants...).
func (p *planner) inList(a *pg_query.A_Expr, not bool, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := a.Location
	x, err := sub(a.Lexpr)
	if err != nil {
		return nil, err
	}
	list := a.Rexpr.GetList()
	if list == nil {
		return nil, unsupported(loc, "IN with a subquery", "")
	}
	items := make([]Expr, len(list.Items))
	for i, n := range list.Items {
		if items[i], err = sub(n); err != nil {
			return nil, err
		}
		if _, ok := items[i].(*Const); !ok {
			return nil, unsupported(nodeLoc(n), "IN with non-constant values", "")
		}
	}
	// Find the common type the way a chain of = would.
	if isUnknownLit(x) {
		for _, it := range items {
			if !isUnknownLit(it) {
				if x, err = p.cast(x, it.Type(), loc); err != nil {
					return nil, err
				}
				break
			}
		}
		if isUnknownLit(x) && !isNullConst(x) {
			if x, err = p.cast(x, TypeString, loc); err != nil {
				return nil, err
			}
		}
	}
	if x.Type().numeric() {
		t := x.Type()
		for _, it := range items {
			if it.Type().numeric() {
				t = numericCommon(&Cast{To: t}, it, true)
			}
		}
		if x, err = p.forceTo(x, t, loc); err != nil {
			return nil, err
		}
	}
	if x.Type() == TypeInterval {
		return nil, unsupported(loc, "interval comparison", "")
	}
	in := &InList{X: x, Not: not}
	seen := map[string]bool{}
	for i, it := range items {
		c, err := p.compare(OpEq, x, it, nodeLoc(list.Items[i]))
		if err != nil {
			return nil, err
		}
		// compare coerced the item; take the converted constant back.
		var v Value
		switch b := c.(type) {
		case *Binary:
			v = b.R.(*Const).Value
		case *Const:
			if isNullConst(it) {
				in.HasNull = true
				continue
			}
			v = it.(*Const).Value
			if cv, err := convertValue(v, x.Type(), p.now); err == nil {
				v = cv
			}
		}
		if v.Null {
			in.HasNull = true
			continue
		}
		k := v.String()
		if !seen[k] {
			seen[k] = true
			in.Values = append(in.Values, v)
		}
	}
	if xc, ok := x.(*Const); ok { // constant x: fold
		if xc.Value.Null {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		for _, v := range in.Values {
			if compareValues(xc.Value, v) == 0 {
				return &Const{Value: BoolValue(!not)}, nil
			}
		}
		if in.HasNull {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		return &Const{Value: BoolValue(not)}, nil
	}
	return in, nil
}

// between expands [NOT] BETWEEN [SYMMETRIC] into comparisons.
func (p *planner) between(a *pg_query.A_Expr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	loc := a.Location
	x, err := sub(a.Lexpr)
	if err != nil {
		return nil, err
	}
	list := a.Rexpr.GetList()
	if list == nil || len(list.Items) != 2 {
		return nil, unsupported(loc, "BETWEEN form", "")
	}
	lo, err := sub(list.Items[0])
	if err != nil {
		return nil, err
	}
	hi, err := sub(list.Items[1])
	if err != nil {
		return nil, err
	}
	in := func(lo, hi Expr) (Expr, error) {
		ge, err := p.compare(OpGe, x, lo, loc)
		if err != nil {
			return nil, err
		}
		le, err := p.compare(OpLe, x, hi, loc)
		if err != nil {
			return nil, err
		}
		return logic(OpAnd, []Expr{ge, le}), nil
	}
	var e Expr
	switch a.Kind {
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN:
		e, err = in(lo, hi)
	default: // SYMMETRIC
		var e1, e2 Expr
		if e1, err = in(lo, hi); err != nil {
			return nil, err
		}
		if e2, err = in(hi, lo); err != nil {
			return nil, err
		}
		e = logic(OpOr, []Expr{e1, e2})
	}
	if err != nil {
		return nil, err
	}
	if a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN || a.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
		return not(e), nil
	}
	return e, nil
}

func (p *planner) boolExpr(b *pg_query.BoolExpr, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	what := map[pg_query.BoolExprType]string{pg_query.BoolExprType_AND_EXPR: "AND", pg_query.BoolExprType_OR_EXPR: "OR", pg_query.BoolExprType_NOT_EXPR: "NOT"}[b.Boolop]
	args := make([]Expr, len(b.Args))
	for i, n := range b.Args {
		a, err := sub(n)
		if err != nil {
			return nil, err
		}
		if args[i], err = p.requireBool(a, what, nodeLoc(n)); err != nil {
			return nil, err
		}
	}
	switch b.Boolop {
	case pg_query.BoolExprType_AND_EXPR:
		return logic(OpAnd, args), nil
	case pg_query.BoolExprType_OR_EXPR:
		return logic(OpOr, args), nil
	case pg_query.BoolExprType_NOT_EXPR:
		if len(args) == 1 {
			return not(args[0]), nil
		}
	}
	return nil, unsupported(b.Location, "boolean operator", "")
}

// booleanTest lowers IS [NOT] TRUE/FALSE/UNKNOWN onto IsNull, NOT, AND.
func (p *planner) booleanTest(b *pg_query.BooleanTest, sub func(*pg_query.Node) (Expr, error)) (Expr, error) {
	a, err := sub(b.Arg)
	if err != nil {
		return nil, err
	}
	if a, err = p.requireBool(a, "IS "+strings.ReplaceAll(strings.TrimPrefix(b.Booltesttype.String(), "IS_"), "_", " "), b.Location); err != nil {
		return nil, err
	}
	isTrue := logic(OpAnd, []Expr{isNull(a, true), a})
	isFalse := logic(OpAnd, []Expr{isNull(a, true), not(a)})
	switch b.Booltesttype {
	case pg_query.BoolTestType_IS_TRUE:
		return isTrue, nil
	case pg_query.BoolTestType_IS_NOT_TRUE:
		return not(isTrue), nil
	case pg_query.BoolTestType_IS_FALSE:
		return isFalse, nil
	case pg_query.BoolTestType_IS_NOT_FALSE:
		return not(isFalse), nil
	case pg_query.BoolTestType_IS_UNKNOWN:
		return isNull(a, false), nil
	case pg_query.BoolTestType_IS_NOT_UNKNOWN:
		return isNull(a, true), nil
	}
	return nil, unsupported(b.Location, "boolean test", "")
}

func isNull(a Expr, notNull bool) Expr {
	if c, ok := a.(*Const); ok {
		return &Const{Value: BoolValue(c.Value.Null != notNull)}
	}
	return &IsNull{X: a, Not: notNull}
}

// not builds NOT e, folding constants and double negation.
func not(e Expr) Expr {
	switch x := e.(type) {
	case *Const:
		if x.Value.Null {
			return &Const{Value: NullValue(TypeBool)}
		}
		return &Const{Value: BoolValue(!x.Value.Bool)}
	case *Unary:
		if x.Op == OpNot {
			return x.X
		}
	case *Binary: // NOT (a < b) is a >= b, NULLs included
		if x.Op.Comparison() {
			y := *x
			y.Op = negate[x.Op]
			return &y
		}
	case *IsNull:
		return &IsNull{X: x.X, Not: !x.Not}
	case *InList:
		y := *x
		y.Not = !x.Not
		return &y
	case *Match:
		y := *x
		y.Not = !x.Not
		return &y
	case *Logic: // De Morgan, exact in three-valued logic
		args := make([]Expr, len(x.Args))
		for i, a := range x.Args {
			args[i] = not(a)
		}
		if x.Op == OpAnd {
			return logic(OpOr, args)
		}
		return logic(OpAnd, args)
	}
	return &Unary{Op: OpNot, X: e, T: TypeBool}
}

// logic builds an n-ary AND/OR: flattens nested ones of the same kind,
// drops neutral constants and folds absorbing ones.
func logic(op LogicOp, args []Expr) Expr {
	var out []Expr
	sawNull := false
	for _, a := range args {
		if l, ok := a.(*Logic); ok && l.Op == op {
			out = append(out, l.Args...)
			continue
		}
		if c, ok := a.(*Const); ok {
			switch {
			case c.Value.Null:
				sawNull = true
				continue
			case c.Value.Bool == (op == OpOr): // TRUE in OR, FALSE in AND
				return &Const{Value: BoolValue(c.Value.Bool)}
			default:
				continue // neutral
			}
		}
		out = append(out, a)
	}
	if sawNull {
		out = append(out, &Const{Value: NullValue(TypeBool)})
	}
	switch len(out) {
	case 0:
		return &Const{Value: BoolValue(op == OpAnd)}
	case 1:
		return out[0]
	}
	return &Logic{Op: op, Args: out}
}
