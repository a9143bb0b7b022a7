package pgwire

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// sessionLiterals replaces the calls of session functions in a query that
// the planner runs — current_setting('name') of a known setting,
// version(), current_schema(), current_database() — with literals of
// their values, so that they can take part in expressions
// (current_setting('server_version_num')::int/100, which Grafana sends
// to detect the server), not only be selected alone (session.go). The
// replacement is made on the lexer's tokens: the same words inside a
// string, a quoted name or a comment are left alone.
func (c *conn) sessionLiterals(text string) string {
	lower := strings.ToLower(text)
	if !strings.Contains(lower, "current_setting") && !strings.Contains(lower, "version") &&
		!strings.Contains(lower, "current_schema") && !strings.Contains(lower, "current_database") {
		return text
	}
	sr, err := pg_query.Scan(text)
	if err != nil {
		return text // the planner reports the syntax error
	}
	toks := sr.Tokens
	word := func(i int) string { return strings.ToLower(text[toks[i].Start:toks[i].End]) }
	is := func(i int, tok pg_query.Token) bool { return i < len(toks) && toks[i].Token == tok }
	var b strings.Builder
	last := 0
	for i := 0; i+2 < len(toks); i++ {
		if !is(i+1, pg_query.Token_ASCII_40) { // '('
			continue
		}
		var lit string
		end := i + 2 // the token after the call's ')'
		switch word(i) {
		case "current_setting":
			if !is(i+2, pg_query.Token_SCONST) || !is(i+3, pg_query.Token_ASCII_41) {
				continue
			}
			raw := text[toks[i+2].Start:toks[i+2].End]
			if !strings.HasPrefix(raw, "'") {
				continue // E'' and the like: left to the planner
			}
			v, ok := setting(strings.ReplaceAll(raw[1:len(raw)-1], "''", "'"))
			if !ok {
				continue
			}
			lit, end = quote(v), i+4
		case "version":
			lit = quote("PostgreSQL " + ServerVersion + " on x86_64-pc-linux-gnu, Silt time-series store")
		case "current_schema":
			lit = quote("public")
		case "current_database":
			lit = quote(c.db)
		default:
			continue
		}
		if end == i+2 && !is(i+2, pg_query.Token_ASCII_41) { // ')'
			continue
		}
		if end == i+2 {
			end = i + 3
		}
		start := i
		if i >= 2 && is(i-1, pg_query.Token_ASCII_46) && word(i-2) == "pg_catalog" { // pg_catalog.f()
			start = i - 2
		}
		if start > 0 && is(start-1, pg_query.Token_ASCII_46) {
			continue // another schema's function, or a column's method
		}
		b.WriteString(text[last:toks[start].Start])
		b.WriteString(lit)
		last = int(toks[end-1].End)
		i = end - 1
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}
