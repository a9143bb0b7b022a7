package sql

import (
	"strconv"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// parseExplain reads EXPLAIN [ANALYZE] [VERBOSE] query and EXPLAIN
// (option [value], ...) query in PostgreSQL's grammar. The query must be a
// SELECT. ANALYZE runs it; FORMAT must be TEXT; the other options of
// PostgreSQL (VERBOSE, COSTS, BUFFERS, TIMING, SUMMARY, SETTINGS, WAL,
// MEMORY) are accepted and change nothing: Silt's plan always shows what
// they would add that Silt knows.
func parseExplain(text string, n *pg_query.ExplainStmt, loc int32) (*Statement, error) {
	st := &Statement{Kind: StmtExplain, SQL: text}
	for _, o := range n.Options {
		d := o.GetDefElem()
		if d == nil {
			continue
		}
		name := strings.ToLower(d.Defname)
		switch name {
		case "analyze", "verbose", "costs", "buffers", "timing", "summary", "settings", "wal", "memory":
			on, ok := optionBool(d.Arg)
			if !ok {
				return nil, &Error{Code: CodeSyntax, SQLState: "22023", Position: pos(d.Location),
					Message: "EXPLAIN option " + strings.ToUpper(name) + " requires a Boolean value"}
			}
			if name == "analyze" {
				st.Analyze = on
			}
		case "format":
			if v := optionString(d.Arg); !strings.EqualFold(v, "text") {
				return nil, unsupported(d.Location, "EXPLAIN (FORMAT "+strings.ToUpper(v)+")", "only FORMAT TEXT is")
			}
		default:
			return nil, unsupported(d.Location, "EXPLAIN option "+strings.ToUpper(name), "")
		}
	}
	sel := n.Query.GetSelectStmt()
	if sel == nil {
		return nil, unsupported(loc, "EXPLAIN of "+statementName(n.Query), "only EXPLAIN of a SELECT is")
	}
	st.Explained = &Statement{Kind: StmtSelect, SQL: text, sel: sel, loc: loc}
	return st, nil
}

// optionBool reads an EXPLAIN option's value as PostgreSQL does: none
// (on), true/false/on/off/1/0 as a word or number.
func optionBool(arg *pg_query.Node) (on, ok bool) {
	if arg == nil {
		return true, true
	}
	if i := arg.GetInteger(); i != nil {
		switch i.Ival {
		case 0:
			return false, true
		case 1:
			return true, true
		}
		return false, false
	}
	switch strings.ToLower(optionString(arg)) {
	case "true", "on", "1", "yes":
		return true, true
	case "false", "off", "0", "no":
		return false, true
	}
	return false, false
}

func optionString(arg *pg_query.Node) string {
	switch {
	case arg == nil:
		return ""
	case arg.GetString_() != nil:
		return arg.GetString_().Sval
	case arg.GetInteger() != nil:
		return strconv.Itoa(int(arg.GetInteger().Ival))
	case arg.GetBoolean() != nil:
		return strconv.FormatBool(arg.GetBoolean().Boolval)
	}
	return ""
}

// ExplainColumn is the name of an EXPLAIN's one output column, as in
// PostgreSQL.
const ExplainColumn = "QUERY PLAN"

// planExplain plans the explained SELECT and wraps it.
func planExplain(st *Statement, cat Catalog, now time.Time) (*Query, error) {
	if st.Explained == nil {
		return nil, &Error{Code: CodeInvalid, Message: "EXPLAIN without a statement"}
	}
	inner, err := Plan(st.Explained, cat, now)
	if err != nil {
		return nil, err
	}
	return Explain(inner, st.Analyze), nil
}

// Explain returns the QueryExplain of q.
func Explain(q *Query, analyze bool) *Query {
	return &Query{Kind: QueryExplain, Explained: q, Analyze: analyze, Limit: -1, TimeKey: -1, TimeRange: FullRange,
		Outputs: []Output{{Name: ExplainColumn, Type: TypeString}}}
}
