package pgwire

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/siltdb/silt/columnar"
)

// Silt's planner has no parameters: a bound statement is run as its text
// with each $n replaced by a literal of the value. The replacement is
// made on the lexer's tokens, so a "$1" inside a string or a comment is
// left alone, and every value is written as a literal that cannot end its
// token: strings are quoted with '' doubled (standard_conforming_strings
// is on, so a backslash is an ordinary character), numbers are checked to
// be numbers and negative ones parenthesised.

// paramRefs returns the byte ranges of text's $n tokens and their
// numbers; the largest n is the statement's parameter count.
func paramRefs(text string) ([]paramRef, error) {
	if !strings.Contains(text, "$") {
		return nil, nil
	}
	sr, err := pg_query.Scan(text)
	if err != nil {
		return nil, nil // the planner reports the syntax error
	}
	var out []paramRef
	for i, t := range sr.Tokens {
		if t.Token != pg_query.Token_PARAM {
			continue
		}
		n, err := strconv.Atoi(text[t.Start+1 : t.End])
		if err != nil || n < 1 || n > math.MaxUint16 {
			return nil, &pgError{code: "42P02", msg: "there is no parameter " + text[t.Start:t.End], position: t.Start + 1}
		}
		out = append(out, paramRef{start: int(t.Start), end: int(t.End), n: n, tok: i})
	}
	return out, nil
}

type paramRef struct {
	start, end int // byte range of "$n" in the text
	n          int // 1-based
	tok        int // index of the token
}

func paramCount(refs []paramRef) int {
	n := 0
	for _, r := range refs {
		n = max(n, r.n)
	}
	return n
}

// inferParamTypes gives each parameter whose type the client left open
// (OID 0) the type PostgreSQL would infer in the common cases: that of a
// column it is compared with (col op $n, $n op col, col IN ($n, …),
// col BETWEEN $n AND $m) in the tables the statement reads, int8 after
// LIMIT and OFFSET, and text otherwise. Clients such as pgx encode their
// arguments by the types the server describes.
func inferParamTypes(text string, declared []uint32, n int, tables map[string]*columnar.TableSchema) []uint32 {
	out := make([]uint32, n)
	copy(out, declared)
	open := false
	for _, o := range out {
		open = open || o == 0
	}
	if !open {
		return out
	}
	sr, err := pg_query.Scan(text)
	if err != nil {
		return fillText(out)
	}
	toks := sr.Tokens
	word := func(i int) string {
		if i < 0 || i >= len(toks) {
			return ""
		}
		return strings.ToLower(text[toks[i].Start:toks[i].End])
	}
	// The columns of the tables named after FROM.
	cols := map[string]uint32{}
	for i := range toks {
		if word(i) != "from" {
			continue
		}
		name := strings.Trim(text[toks[min(i+1, len(toks)-1)].Start:toks[min(i+1, len(toks)-1)].End], `"`)
		if s, ok := tables[name]; ok {
			cols["time"] = oidTimestamptz
			for _, t := range s.Tags {
				cols[strings.ToLower(t)] = oidText
			}
			for _, f := range s.Fields {
				cols[strings.ToLower(f.Name)] = fieldOID(f.Type)
			}
		}
	}
	colType := func(i int) uint32 {
		// An identifier, or a keyword used as one ("time").
		if i < 0 || i >= len(toks) || toks[i].Token != pg_query.Token_IDENT && toks[i].KeywordKind == pg_query.KeywordKind_NO_KEYWORD {
			return 0
		}
		return cols[strings.ToLower(strings.Trim(text[toks[i].Start:toks[i].End], `"`))]
	}
	isCmp := func(i int) bool {
		switch word(i) {
		case "=", "<", ">", "<=", ">=", "<>", "!=":
			return true
		}
		return false
	}
	for i, t := range toks {
		if t.Token != pg_query.Token_PARAM {
			continue
		}
		n, _ := strconv.Atoi(text[t.Start+1 : t.End])
		if n < 1 || n > len(out) || out[n-1] != 0 {
			continue
		}
		var oid uint32
		switch {
		case word(i-1) == "limit" || word(i-1) == "offset":
			oid = oidInt8
		case isCmp(i - 1):
			oid = colType(i - 2)
		case isCmp(i + 1):
			oid = colType(i + 2)
		case word(i-1) == "between":
			oid = colType(i - 2)
		case word(i-1) == "and" && word(i-3) == "between":
			oid = colType(i - 4)
		default:
			// col IN ($1, $2, …): back over the list to "IN (".
			j := i - 1
			for j > 0 && (word(j) == "," || toks[j].Token == pg_query.Token_PARAM) {
				j--
			}
			if word(j) == "(" && word(j-1) == "in" {
				oid = colType(j - 2)
			}
		}
		out[n-1] = oid
	}
	return fillText(out)
}

func fillText(oids []uint32) []uint32 {
	for i, o := range oids {
		if o == 0 {
			oids[i] = oidText
		}
	}
	return oids
}

func fieldOID(t columnar.FieldType) uint32 {
	switch t {
	case columnar.FieldFloat:
		return oidFloat8
	case columnar.FieldInt, columnar.FieldUint:
		// A uint64 field is compared with an int8 parameter: clients have
		// no unsigned type to send.
		return oidInt8
	case columnar.FieldBool:
		return oidBool
	}
	return oidText
}

// substitute replaces text's parameter references with the literals of
// values (already written by literal).
func substitute(text string, refs []paramRef, lits []string) (string, error) {
	if len(refs) == 0 {
		return text, nil
	}
	var b strings.Builder
	b.Grow(len(text) + 16*len(refs))
	last := 0
	for _, r := range refs {
		if r.n > len(lits) {
			return "", &pgError{code: "08P01", msg: fmt.Sprintf("bind message supplies %d parameters, but the statement uses $%d", len(lits), r.n)}
		}
		b.WriteString(text[last:r.start])
		b.WriteString(lits[r.n-1])
		last = r.end
	}
	b.WriteString(text[last:])
	return b.String(), nil
}

// literal writes one bound value as a SQL literal of its type: format 0
// is text, 1 binary; nil is NULL.
func literal(oid uint32, format int16, v []byte) (string, error) {
	if v == nil {
		return "NULL", nil
	}
	if format == 1 {
		return binaryLiteral(oid, v)
	}
	s := string(v)
	switch oid {
	case oidInt8, oidInt4, oidInt2, oidOID:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return "", &pgError{code: "22P02", msg: fmt.Sprintf("invalid input syntax for type bigint: %q", s)}
		}
		return number(strconv.FormatInt(i, 10)), nil
	case oidFloat8, oidFloat4, oidNumeric:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return "", &pgError{code: "22P02", msg: fmt.Sprintf("invalid input syntax for type double precision: %q", s)}
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return quote(string(appendFloat8(nil, f))), nil
		}
		return number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case oidBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "t", "true", "yes", "on", "1", "y":
			return "true", nil
		case "f", "false", "no", "off", "0", "n":
			return "false", nil
		}
		return "", &pgError{code: "22P02", msg: fmt.Sprintf("invalid input syntax for type boolean: %q", s)}
	}
	return textLiteral(s)
}

// textLiteral quotes a text value, refusing what PostgreSQL's UTF8
// encoding refuses (a NUL, which would also cut the query text short for
// the C parser, and invalid UTF-8).
func textLiteral(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
		return "", &pgError{code: "22021", msg: "invalid byte sequence for encoding \"UTF8\" in a parameter"}
	}
	return quote(s), nil
}

// binaryLiteral decodes a binary parameter of the types clients send in
// binary (int2/4/8, float4/8, bool, timestamptz, timestamp, text).
func binaryLiteral(oid uint32, v []byte) (string, error) {
	bad := func() (string, error) {
		return "", &pgError{code: "22P03", msg: fmt.Sprintf("incorrect binary data format in parameter of type OID %d (%d bytes)", oid, len(v))}
	}
	switch oid {
	case oidInt8:
		if len(v) != 8 {
			return bad()
		}
		return number(strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)), nil
	case oidInt4:
		if len(v) != 4 {
			return bad()
		}
		return number(strconv.FormatInt(int64(int32(binary.BigEndian.Uint32(v))), 10)), nil
	case oidInt2:
		if len(v) != 2 {
			return bad()
		}
		return number(strconv.FormatInt(int64(int16(binary.BigEndian.Uint16(v))), 10)), nil
	case oidFloat8, oidFloat4:
		var f float64
		switch len(v) {
		case 8:
			f = math.Float64frombits(binary.BigEndian.Uint64(v))
		case 4:
			f = float64(math.Float32frombits(binary.BigEndian.Uint32(v)))
		default:
			return bad()
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return quote(string(appendFloat8(nil, f))), nil
		}
		return number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	case oidBool:
		if len(v) != 1 {
			return bad()
		}
		if v[0] != 0 {
			return "true", nil
		}
		return "false", nil
	case oidTimestamptz, oidTimestamp:
		if len(v) != 8 {
			return bad()
		}
		us := int64(binary.BigEndian.Uint64(v))
		t := time.UnixMicro(pgEpochMicros + us).UTC()
		return quote(t.Format(time.RFC3339Nano)), nil
	case oidText, oidVarchar, oidName, 0:
		return textLiteral(string(v))
	}
	return "", &pgError{code: "0A000", msg: fmt.Sprintf("binary parameters of type OID %d are not supported: send it in text format", oid)}
}

// number parenthesises a negative number, so that "x-$1" cannot become
// the comment "x--1".
func number(s string) string {
	if strings.HasPrefix(s, "-") {
		return "(" + s + ")"
	}
	return s
}

// quote writes s as a standard SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
