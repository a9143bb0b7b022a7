package sql

import (
	"errors"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	pgparser "github.com/pganalyze/pg_query_go/v6/parser"
)

// StatementKind says what a Statement is.
type StatementKind uint8

const (
	StmtSelect     StatementKind = iota // a SELECT (PostgreSQL grammar)
	StmtShowTables                      // SHOW TABLES
	StmtDescribe                        // DESCRIBE t, DESC t
)

// Statement is one parsed statement, ready for Plan. It holds the
// PostgreSQL parse tree, which callers do not see.
type Statement struct {
	Kind StatementKind
	SQL  string
	// Schema and Table name DESCRIBE's table (Schema empty unless
	// qualified).
	Schema, Table string

	sel *pg_query.SelectStmt
	loc int32
	// release returns a tree borrowed from the shape cache
	// (parse_cache.go) once Compile has planned it; nil otherwise.
	release func()
}

const identPattern = `[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+"`

var (
	reShowTables = regexp.MustCompile(`(?is)^\s*show\s+tables\s*;?\s*$`)
	reDescribe   = regexp.MustCompile(`(?is)^\s*(?:describe|desc)\s+(?:table\s+)?(` + identPattern + `)(?:\s*\.\s*(` + identPattern + `))?\s*;?\s*$`)
)

// Parse parses one statement: a SELECT in PostgreSQL's grammar, or one of
// the meta statements SHOW TABLES, DESCRIBE t and DESC t (recognised
// textually before the PostgreSQL parser, since they are not PostgreSQL
// grammar; no comments are allowed in them). Errors are *Error.
func Parse(sql string) (*Statement, error) {
	if reShowTables.MatchString(sql) {
		return &Statement{Kind: StmtShowTables, SQL: sql}, nil
	}
	if m := reDescribe.FindStringSubmatch(sql); m != nil {
		st := &Statement{Kind: StmtDescribe, SQL: sql, Table: identName(m[1])}
		if m[2] != "" {
			st.Schema, st.Table = st.Table, identName(m[2])
		}
		return st, nil
	}
	// A shape seen before passed checkNesting then: its tokens are the
	// same but for the literals' values.
	key, lits, keyed := shapeKey(sql)
	if keyed {
		if sel, loc, release, ok := cachedParse(key, lits); ok {
			return &Statement{Kind: StmtSelect, SQL: sql, sel: sel, loc: loc, release: release}, nil
		}
	}
	if err := checkNesting(sql); err != nil {
		return nil, err
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		var pe *pgparser.Error
		if errors.As(err, &pe) {
			return nil, &Error{Code: CodeSyntax, SQLState: "42601", Message: pe.Message, Position: charToBytePos(sql, pe.Cursorpos)}
		}
		return nil, &Error{Code: CodeSyntax, SQLState: "42601", Message: err.Error()}
	}
	switch len(tree.Stmts) {
	case 0:
		return nil, &Error{Code: CodeSyntax, SQLState: "42601", Message: "empty query"}
	case 1:
	default:
		return nil, unsupported(tree.Stmts[1].StmtLocation, "multiple statements", "send one statement per request")
	}
	raw := tree.Stmts[0]
	loc := raw.StmtLocation
	switch n := raw.Stmt.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		if keyed {
			rememberShape(key, lits, n.SelectStmt, loc)
		}
		return &Statement{Kind: StmtSelect, SQL: sql, sel: n.SelectStmt, loc: loc}, nil
	case *pg_query.Node_VariableShowStmt:
		if strings.EqualFold(n.VariableShowStmt.Name, "tables") {
			return &Statement{Kind: StmtShowTables, SQL: sql}, nil
		}
		return nil, unsupported(loc, "SHOW "+n.VariableShowStmt.Name, "only SHOW TABLES is")
	case nil:
		return nil, &Error{Code: CodeSyntax, SQLState: "42601", Message: "empty query"}
	default:
		return nil, unsupported(loc, statementName(raw.Stmt), "only SELECT, SHOW TABLES and DESCRIBE are")
	}
}

// identName applies PostgreSQL's identifier rules: a quoted name is taken
// as written, an unquoted one is folded to lower case.
func identName(s string) string {
	if strings.HasPrefix(s, `"`) {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return strings.ToLower(s)
}

// checkSelectShape rejects the statement-level SELECT forms Silt does not
// run.
func checkSelectShape(s *pg_query.SelectStmt, loc int32) error {
	switch {
	case len(s.ValuesLists) > 0:
		return unsupported(loc, "VALUES", "")
	case s.IntoClause != nil:
		return unsupported(loc, "SELECT INTO", "")
	case len(s.LockingClause) > 0:
		return unsupported(loc, "locking clause (FOR UPDATE/SHARE)", "")
	case len(s.WindowClause) > 0:
		return unsupported(loc, "WINDOW clause", "")
	case s.GroupDistinct:
		return unsupported(loc, "GROUP BY DISTINCT", "")
	case s.LimitOption == pg_query.LimitOption_LIMIT_OPTION_WITH_TIES:
		return unsupported(loc, "FETCH ... WITH TIES", "")
	}
	return nil
}

// statementName names a statement node for error messages: CreateStmt →
// "CREATE TABLE", InsertStmt → "INSERT", ...
func statementName(n *pg_query.Node) string {
	name := nodeTypeName(n)
	if s, ok := statementNames[name]; ok {
		return s
	}
	return strings.ToUpper(splitCamel(strings.TrimSuffix(name, "Stmt")))
}

var statementNames = map[string]string{
	"CreateStmt":        "CREATE TABLE",
	"CreateTableAsStmt": "CREATE TABLE AS",
	"IndexStmt":         "CREATE INDEX",
	"ViewStmt":          "CREATE VIEW",
	"CreatedbStmt":      "CREATE DATABASE",
	"DropdbStmt":        "DROP DATABASE",
	"DropStmt":          "DROP",
	"TransactionStmt":   "transaction control (BEGIN/COMMIT/ROLLBACK)",
	"VariableSetStmt":   "SET",
	"DeclareCursorStmt": "DECLARE CURSOR",
	"DoStmt":            "DO",
	"CallStmt":          "CALL",
	"CopyStmt":          "COPY",
	"ExplainStmt":       "EXPLAIN",
}

// nodeTypeName is the parse node's type name: "SelectStmt", "CaseExpr".
func nodeTypeName(n *pg_query.Node) string {
	inner := n.GetNode()
	if inner == nil {
		return "empty node"
	}
	name := reflect.TypeOf(inner).Elem().Name()
	return strings.TrimSuffix(strings.TrimPrefix(name, "Node_"), "_")
}

// splitCamel turns "CreateFunction" into "Create Function".
func splitCamel(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && unicode.IsUpper(r) && !unicode.IsUpper(rune(s[i-1])) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// maxNesting bounds how deeply a statement's expressions may nest. The C
// parser recurses over the tree and overflows its stack (a crash, not an
// error) somewhere past 20,000 levels, so the text is checked first.
const maxNesting = 1000

// checkNesting estimates, from the tokens alone (the scanner does not
// recurse), an upper bound of the parse tree's depth: each parenthesis
// opens a level and each operator or keyword adds one until a comma, AND,
// OR or clause keyword, which start siblings (PostgreSQL flattens AND and OR
// chains into lists).
func checkNesting(sql string) error {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return nil // the parser reports it
	}
	var saved []int
	outer, cnt := 0, 0
	for _, t := range res.Tokens {
		switch t.Token {
		case pg_query.Token_ASCII_40, pg_query.Token_ASCII_91: // ( [
			saved = append(saved, cnt)
			outer += cnt + 1
			cnt = 0
		case pg_query.Token_ASCII_41, pg_query.Token_ASCII_93: // ) ]
			if len(saved) > 0 {
				cnt = saved[len(saved)-1]
				saved = saved[:len(saved)-1]
				outer -= cnt + 1
			}
		case pg_query.Token_ASCII_44, pg_query.Token_ASCII_59, pg_query.Token_AND, pg_query.Token_OR,
			pg_query.Token_SELECT, pg_query.Token_FROM, pg_query.Token_WHERE, pg_query.Token_GROUP_P,
			pg_query.Token_HAVING, pg_query.Token_ORDER, pg_query.Token_LIMIT, pg_query.Token_OFFSET,
			pg_query.Token_WHEN, pg_query.Token_THEN, pg_query.Token_ELSE:
			cnt = 0
		case pg_query.Token_IDENT, pg_query.Token_UIDENT, pg_query.Token_FCONST, pg_query.Token_SCONST,
			pg_query.Token_USCONST, pg_query.Token_BCONST, pg_query.Token_XCONST, pg_query.Token_ICONST,
			pg_query.Token_PARAM, pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
		default:
			if t.KeywordKind == pg_query.KeywordKind_UNRESERVED_KEYWORD || t.KeywordKind == pg_query.KeywordKind_COL_NAME_KEYWORD {
				continue // usable as a name
			}
			cnt++
		}
		if outer+cnt > maxNesting {
			return unsupported(t.Start, "expression nesting deeper than "+strconv.Itoa(maxNesting), "")
		}
	}
	return nil
}

// charToBytePos converts PostgreSQL's 1-based character position into a
// 1-based byte position (parse-tree locations are byte offsets).
func charToBytePos(sql string, chars int) int {
	if chars <= 0 {
		return 0
	}
	n := 0
	for i := range sql {
		n++
		if n == chars {
			return i + 1
		}
	}
	return len(sql) + 1
}
