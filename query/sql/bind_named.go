package sql

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// BindNamed returns text with each $name parameter replaced by a literal
// of params[name], as the InfluxDB 3 query API and its clients bind them
// (DataFusion's placeholders: {"host": "a"} for $host). The planner has
// no parameters, so the values are written into the text: on PostgreSQL's
// lexer's tokens, so a "$host" inside a string, a quoted identifier or a
// comment is left alone, and as literals that cannot end their token
// (strings quoted, each quote in them doubled; numbers checked; negative ones in
// parentheses). Values are JSON's: a string, a number (an integer
// without '.' or exponent, else a float), true, false or null. A $name
// without a value or a value of another kind is an error; a value the
// text does not use is ignored.
func BindNamed(text string, params map[string]json.RawMessage) (string, error) {
	if len(params) == 0 || !strings.Contains(text, "$") {
		return text, nil
	}
	sr, err := pg_query.Scan(text)
	if err != nil {
		return "", fmt.Errorf("query parameters: %w", err)
	}
	var b strings.Builder
	b.Grow(len(text) + 16*len(params))
	last := 0
	toks := sr.Tokens
	for i := 0; i+1 < len(toks); i++ {
		t, next := toks[i], toks[i+1]
		if t.Token != pg_query.Token_ASCII_36 || next.Start != t.End {
			continue
		}
		// The lexer gives "$host" as '$' and the word after it.
		name := text[next.Start:next.End]
		if !isParamName(name) {
			continue
		}
		raw, ok := params[name]
		if !ok {
			return "", fmt.Errorf("no value for parameter $%s: params has %s", name, paramNames(params))
		}
		lit, err := jsonLiteral(raw)
		if err != nil {
			return "", fmt.Errorf("parameter $%s: %w", name, err)
		}
		b.WriteString(text[last:t.Start])
		b.WriteString(lit)
		last = int(next.End)
		i++
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

// isParamName reports whether s is a parameter's name: letters, digits
// and underscores (a keyword is a name too: $limit).
func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func paramNames(params map[string]json.RawMessage) string {
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, "$"+n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// jsonLiteral writes a JSON value as a SQL literal.
func jsonLiteral(raw json.RawMessage) (string, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "null":
		return "NULL", nil
	case s == "true" || s == "false":
		return s, nil
	case strings.HasPrefix(s, `"`):
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", err
		}
		if strings.IndexByte(v, 0) >= 0 || !utf8.ValidString(v) {
			return "", fmt.Errorf("a string with a NUL byte or invalid UTF-8")
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'", nil
	case s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", err
		}
		var lit string
		if i, err := n.Int64(); err == nil {
			lit = strconv.FormatInt(i, 10)
		} else {
			// A fraction, an exponent or an integer beyond int64: a
			// float, as DataFusion reads it.
			f, err := n.Float64()
			if err != nil || math.IsInf(f, 0) {
				return "", fmt.Errorf("number %s is out of range", n)
			}
			if lit = strconv.FormatFloat(f, 'g', -1, 64); !strings.ContainsAny(lit, ".e") {
				lit += ".0" // 2.0 stays a float
			}
		}
		if strings.HasPrefix(lit, "-") {
			lit = "(" + lit + ")" // "x-$v" must not become the comment "x--1"
		}
		return lit, nil
	}
	return "", fmt.Errorf("value %s is not a string, number, boolean or null", truncateText(s, 40))
}

func truncateText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
