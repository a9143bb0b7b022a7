package sql

import (
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
		return p.subLink(x.SubLink, c, sub)
	case *pg_query.Node_CaseExpr:
		return p.caseExpr(x.CaseExpr, sub)
	case *pg_query.Node_CoalesceExpr:
		args := make([]Expr, len(x.CoalesceExpr.Args))
		for i, a := range x.CoalesceExpr.Args {
			var err error
			if args[i], err = sub(a); err != nil {
				return nil, err
			}
		}
		return p.coalesce(args, x.CoalesceExpr.Location)
	case *pg_query.Node_MinMaxExpr:
		return p.minMax(x.MinMaxExpr, sub)
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
	if p.table != nil && p.table.scope != nil && len(names) == 1 && p.table.hasQual(tbl) {
		return nil
	}
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

// columnRef resolves a column reference in this query's FROM or, in a
// subquery, in the query around it (a correlated reference).
func (p *planner) columnRef(cr *pg_query.ColumnRef, c clause) (Expr, error) {
	e, err := p.localColumnRef(cr, c)
	if err != nil && p.outer != nil && !c.noVars {
		return p.outerColumn(cr, c, err)
	}
	return e, err
}

func (p *planner) localColumnRef(cr *pg_query.ColumnRef, c clause) (Expr, error) {
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
	if p.table.scope != nil && n > 1 {
		cols = p.table.lookupQual(cr.Fields[n-2].GetString_().GetSval(), name)
	}
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
		ref := &ColumnRef{Column: cols[0], loc: cr.Location}
		p.markColumn(ref)
		return ref, nil
	}
	return nil, errAt(cr.Location, CodeAmbiguous, "42702", "column reference %q is ambiguous", name).
		withHint(ambiguityHint(p.table))
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
		if arg.Type() == TypeTimestamp {
			if c, ok := arg.(*Const); ok {
				if c.Value.Null {
					return c, nil
				}
				return &Const{Value: TimestampValue(TruncTime(c.Value.Int, "day", nil))}, nil
			}
			return &DateBin{X: arg, Bucket: Bucket{Width: 86400e9}}, nil
		}
		return nil, unsupported(loc, "cast to date", "only date 'YYYY-MM-DD' literals and timestamps are")
	}
	if arg.Type() == TypeTimestamp && to == TypeTimestamp {
		// The session is in UTC: timestamptz and timestamp have the same
		// value; only AT TIME ZONE tells them apart.
		if name == "timestamp" && !p.naive[arg] {
			if c, ok := arg.(*Const); ok {
				return p.markNaive(&Const{Value: c.Value}), nil
			}
			return p.markNaive(arg), nil
		}
		if name == "timestamptz" && p.naive[arg] {
			if c, ok := arg.(*Const); ok {
				return &Const{Value: c.Value}, nil
			}
			return &Cast{X: arg, To: TypeTimestamp}, nil // a fresh node, not naive
		}
		return arg, nil
	}
	from := arg.Type()
	intName := name == "int" || name == "int4" || name == "integer"
	switch {
	case from == TypeBool && to == TypeInt64 && !intName,
		from.integer() && to == TypeBool,
		from == TypeFloat64 && to == TypeBool,
		from == TypeBool && (to == TypeFloat64 || to == TypeUint64 || to == TypeTimestamp),
		from == TypeTimestamp && to != TypeString,
		from.numeric() && to == TypeTimestamp && !isUnknownLit(arg):
		if c, ok := arg.(*Const); ok && c.lit == litInt && to == TypeBool {
			return p.cast(arg, to, loc) // 1::bool: an int4 literal
		}
		if c, ok := arg.(*Const); ok && c.lit == litInt && to == TypeTimestamp {
			break // epoch nanoseconds (Silt extension), as before
		}
		return nil, errAt(loc, CodeType, "42846", "cannot cast type %s to %s", pgTypeName(arg), castTypeName(name))
	}
	if _, isConst := arg.(*Const); !isConst && arg.Type() != to && !castable(arg.Type(), to) {
		return nil, unsupported(loc, "cast from "+arg.Type().PGName()+" to "+name, "")
	}
	out, err := p.cast(arg, to, loc)
	if err != nil {
		return nil, err
	}
	switch name {
	case "numeric", "decimal":
		if out.Type() == TypeFloat64 {
			if c, ok := out.(*Const); ok && c == arg {
				out = &Const{Value: c.Value}
			}
			p.markNumeric(out)
		}
	case "timestamp":
		p.markNaive(out)
	case "int", "int4", "integer", "int2", "smallint":
		p.markInt4(out)
	}
	return out, nil
}

// castTypeName is PostgreSQL's name of a cast target, for messages.
func castTypeName(name string) string {
	switch name {
	case "int", "int4", "integer":
		return "integer"
	case "int8", "bigint":
		return "bigint"
	case "int2", "smallint":
		return "smallint"
	case "float8":
		return "double precision"
	case "float4", "real":
		return "real"
	case "bool":
		return "boolean"
	case "timestamptz":
		return "timestamp with time zone"
	case "timestamp":
		return "timestamp without time zone"
	}
	return name
}
