package ndjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/siltdb/silt/columnar"
)

// fuzzOptions derives decoding options from a fuzzed byte.
func fuzzOptions(mode uint8) Options {
	opt := Options{Now: 1_234_567_890_123_456_789}
	if mode&1 != 0 {
		opt.Table = "dflt"
	}
	opt.Precision = []columnar.Precision{0, columnar.Nanosecond, columnar.Microsecond, columnar.Millisecond,
		columnar.Second, columnar.Minute, columnar.Hour, columnar.Second}[mode>>1&7]
	switch mode >> 4 & 3 {
	case 1:
		opt.TagKeys = []string{}
	case 2, 3:
		opt.TagKeys = []string{"host", "a", "", "fields"}
	}
	return opt
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"time": 5, "table": "cpu", "tags": {"host":"a"}, "fields": {"usage": 1.5, "ok": true, "msg": "x"}}`,
		`{"time": "2024-01-02T03:04:05.123Z", "measurement": "m", "host": "a", "usage": 1.5, "ok": false, "n": null}`,
		"{\"v\":1}\r\n\r\n  \n{\"a\":\"\",\"b\":-0.0e+1}\n{\"v\":1,\"v\":2}",
		`{"tags":{"a":"x","a":null},"fields":{"b":1e400}}`,
		`{"table":"","v":[1,{"x":null}]}`,
		`{"time":-9223372036854775808,"v":"\ud83d\ude00\u00e9\\\"\/"}`,
		`{"time":"1677-09-21T00:12:43.145224192Z","fields":{"host":1},"tags":{"host":"h"}}`,
		"{\"\\u0074ime\":1,\"v\":\"\xe9\"}",
		`{"v":"\udc00"} {"v":1}`,
		`[1,2,3]`,
		`{"fields":{"x":9007199254740993,"y":2.2250738585072011e-308}}`,
	} {
		for _, mode := range []uint8{0, 1, 0x1b, 0x29} {
			f.Add([]byte(s), mode)
		}
	}
	f.Add(tsbsCPU(3, true), uint8(1))
	f.Add(tsbsCPU(3, false), uint8(0x21))

	f.Fuzz(checkDecode)
}

// checkDecode decodes body with the options mode selects and checks the
// result line by line against the oracle.
func checkDecode(t *testing.T, body []byte, mode uint8) {
	{
		opt := fuzzOptions(mode)
		var b columnar.Batch
		b.StartRow([]byte("junk"), 0) // Decode must append after whatever is there.
		b.AddTag([]byte("k"), []byte("v"))
		b.AddFloat([]byte("f"), 1)
		b.EndRow(0)
		var errs []columnar.LineError
		n := Decode(body, &b, opt, func(e columnar.LineError) { errs = append(errs, e) })

		// Accounting.
		if n != len(b.Rows)-1 {
			t.Fatalf("Decode returned %d, batch gained %d rows", n, len(b.Rows)-1)
		}
		lines := strings.Split(string(body), "\n")
		nonBlank := 0
		for _, l := range lines {
			if strings.Trim(l, " \t\r") != "" {
				nonBlank++
			}
		}
		if n+len(errs) != nonBlank {
			t.Fatalf("%d rows + %d errors != %d non-blank lines", n, len(errs), nonBlank)
		}
		got := map[int]any{} // line -> *columnar.Row or columnar.LineError
		for i := range b.Rows[1:] {
			r := &b.Rows[1+i]
			got[int(r.Line)] = r
		}
		for _, e := range errs {
			if _, dup := got[e.Line]; dup || e.Line < 1 || e.Line > len(lines) {
				t.Fatalf("error on line %d (of %d) clashes or is out of range: %+v", e.Line, len(lines), e)
			}
			if e.Code == "" || e.Reason == "" || !strings.HasPrefix(e.Code, "json-") {
				t.Fatalf("bad error %+v", e)
			}
			got[e.Line] = e
		}
		checkClean(t, &b)

		// Each line against the oracle.
		for i, l := range lines {
			l = strings.TrimSuffix(l, "\r")
			if strings.Trim(l, " \t\r") == "" {
				continue
			}
			res, ok := got[i+1]
			if !ok {
				t.Fatalf("line %d: neither a row nor an error", i+1)
			}
			want, syntax, ambiguous := oracle([]byte(l), opt)
			switch res := res.(type) {
			case *columnar.Row:
				if want == nil {
					t.Fatalf("line %d %q: accepted as %q, oracle rejects (syntax %v)", i+1, l, dumpRow(&b, res), syntax)
				}
				if len(b.RowFields(res)) == 0 || res.Table.Len == 0 {
					t.Fatalf("line %d: row without fields or table: %q", i+1, dumpRow(&b, res))
				}
				if g := rowOf(&b, res); !g.equal(want) {
					t.Fatalf("line %d %q:\n got %+v\nwant %+v", i+1, l, g, want)
				}
			case columnar.LineError:
				if want != nil && !ambiguous {
					t.Fatalf("line %d %q: rejected (%s: %s), oracle accepts %+v", i+1, l, res.Code, res.Reason, want)
				}
				if syntax && res.Code != CodeSyntax {
					t.Fatalf("line %d %q: oracle says syntax error, got %s: %s", i+1, l, res.Code, res.Reason)
				}
				if !syntax && !ambiguous && res.Code == CodeSyntax {
					t.Fatalf("line %d %q: valid JSON object rejected as %s", i+1, l, res.Reason)
				}
			}
		}
	}
}

// TestOracle checks random lines built from a grammar rich in near-misses
// against the oracle: a deterministic complement to FuzzDecode.
func TestOracle(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	n := 30000
	if testing.Short() {
		n = 3000
	}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	keys := []string{`"time"`, `"table"`, `"measurement"`, `"tags"`, `"fields"`, `"host"`, `"a"`, `"v"`, `"w"`, `""`,
		`"\u0074ime"`, `"h\u00e9"`, `"fields"`, `"v"`}
	// Each leaf is mostly valid, sometimes a near-miss.
	either := func(good, bad []string) string {
		if rng.IntN(25) == 0 {
			return pick(bad)
		}
		return pick(good)
	}
	number := func() string {
		return either([]string{"0", "-0", "1", "1.5", "-2.5e3", "1e400", "-1e-400", "9223372036854775807",
			"9223372036854775808", "-9223372036854775808", "1700000000", "2562047", "2562048",
			"18446744073709551616", "0.1e1", "1E-2", "123456789012345678901234567890", "5e-324"},
			[]string{"01", "1.", ".5", "+1", "-", "1e", "1e+", "NaN", "nan", "Inf", "-Infinity", "1-2", "0x10", "1.5.5"})
	}
	str := func() string {
		return either([]string{`""`, `"a"`, `"x y"`, `"\n"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\\ud800"`,
			`"2023-11-14T22:13:20Z"`, `"2023-11-14T22:13:20.5+01:00"`, `"3000-01-01T00:00:00Z"`, `"noon"`, `"é"`,
			`"a\"b"`, `"\/\b\f\r\t"`},
			[]string{`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\x"`, `"\u12"`, `"\u00zz"`, "\"\t\"",
				"\"a\x01\\n\"", "\"\xff\"", `"a\"`, `'a'`})
	}
	lit := func() string {
		return either([]string{"true", "false", "null"}, []string{"tru", "nul", "True", "nulll"})
	}
	comma := func() string { return either([]string{",", " , ", ",\t"}, []string{"", ",,", ";"}) }
	closing := func(c string) string { return either([]string{c, " " + c}, []string{"," + c, "", c + c}) }
	var value, object func(depth int) string
	object = func(depth int) string {
		var sb strings.Builder
		sb.WriteByte('{')
		for i := range rng.IntN(2 + 3*(depth&1^1)) {
			if i > 0 {
				sb.WriteString(comma())
			}
			k := pick(keys)
			if depth > 0 || rng.IntN(2) == 0 {
				k = either([]string{`"host"`, `"a"`, `"v"`, `"w"`, `"x"`, `"h\u00e9"`, `"fields"`, `"table"`}, []string{`""`, `"v\u0000"`})
			}
			sb.WriteString(k + ":")
			switch {
			case rng.IntN(8) == 0:
				sb.WriteString(value(depth + 1))
			case depth == 0 && (k == `"tags"` || k == `"fields"`):
				sb.WriteString(object(depth + 1))
			case depth == 0 && (k == `"table"` || k == `"measurement"`):
				sb.WriteString(str())
			case rng.IntN(2) == 0:
				sb.WriteString(number())
			default:
				sb.WriteString(either([]string{str(), lit(), number()}, []string{value(depth + 1)}))
			}
		}
		sb.WriteString(closing("}"))
		return sb.String()
	}
	value = func(depth int) string {
		if depth == 0 && rng.IntN(20) > 0 {
			return object(depth)
		}
		if depth == 1 && rng.IntN(3) == 0 {
			return object(depth)
		}
		switch r := rng.IntN(10); {
		case r < 3:
			return number()
		case r < 6:
			return str()
		case r < 8:
			return lit()
		case r < 9 && depth < 3:
			return object(depth)
		case depth < 3:
			return "[" + value(depth+1) + closing("]")
		}
		return number()
	}
	rows, codes := 0, map[string]int{}
	for range n {
		var body strings.Builder
		for range 1 + rng.IntN(3) {
			body.WriteString(value(0))
			body.WriteString(pick([]string{"\n", "\r\n", "\n\n", " \n"}))
		}
		mode := uint8(rng.IntN(256))
		checkDecode(t, []byte(body.String()), mode)
		var b columnar.Batch
		rows += Decode([]byte(body.String()), &b, fuzzOptions(mode), func(e columnar.LineError) { codes[e.Code]++ })
	}
	t.Logf("%d rows accepted; errors: %v", rows, codes)
	for _, c := range []string{CodeSyntax, CodeDupKey, CodeUnknownKey, CodeBadTable, CodeNoTable, CodeBadTime, CodeBadTag, CodeBadField, CodeNoFields} {
		if codes[c] == 0 {
			t.Errorf("no line drew %s", c)
		}
	}
	if rows < n/50 {
		t.Errorf("only %d rows accepted", rows)
	}
}

func dumpRow(b *columnar.Batch, r *columnar.Row) string {
	return dump(&columnar.Batch{Buf: b.Buf, Rows: []columnar.Row{*r}, Tags: b.Tags, Fields: b.Fields})[0]
}

// orow is a row in a form both sides can build: tags and fields keyed by
// name. Field values are float64 bits, bools, or strings.
type orow struct {
	table  string
	time   int64
	tags   map[string]string
	fields map[string]any
}

func (r *orow) equal(o *orow) bool {
	if r.table != o.table || r.time != o.time || len(r.tags) != len(o.tags) || len(r.fields) != len(o.fields) {
		return false
	}
	for k, v := range r.tags {
		if ov, ok := o.tags[k]; !ok || ov != v {
			return false
		}
	}
	for k, v := range r.fields {
		if ov, ok := o.fields[k]; !ok || ov != v {
			return false
		}
	}
	return true
}

// rowOf converts a decoded row, failing on duplicate names (which the
// oracle's maps could not represent).
func rowOf(b *columnar.Batch, r *columnar.Row) *orow {
	o := &orow{table: b.Str(r.Table), time: r.Time, tags: map[string]string{}, fields: map[string]any{}}
	for _, t := range b.RowTags(r) {
		k := b.Str(t.Key)
		if _, dup := o.tags[k]; dup {
			k += "\x00dup"
		}
		o.tags[k] = b.Str(t.Value)
	}
	for _, f := range b.RowFields(r) {
		k := b.Str(f.Key)
		if _, dup := o.fields[k]; dup {
			k += "\x00dup"
		}
		switch f.Type {
		case columnar.FieldFloat:
			o.fields[k] = f.Num // bits
		case columnar.FieldBool:
			o.fields[k] = f.Bool()
		case columnar.FieldString:
			o.fields[k] = b.Str(f.Str)
		default:
			o.fields[k] = fmt.Sprintf("unexpected %s", f.Type)
		}
	}
	return o
}

var maybeSurrogate = regexp.MustCompile(`\\u[dD][89a-fA-F]`)

// oracle is an independent reading of line with encoding/json and the
// format's rules. It returns the row, or nil and whether the line is not a
// JSON object. ambiguous is set when encoding/json and the decoder are known
// to disagree on validity: encoding/json accepts invalid UTF-8 and unpaired
// surrogates (substituting U+FFFD) and deeper nesting.
func oracle(line []byte, opt Options) (row *orow, syntax, ambiguous bool) {
	if !json.Valid(line) {
		return nil, true, false
	}
	if !utf8.Valid(line) {
		return nil, true, false // the decoder is stricter, and says so
	}
	ambiguous = maybeSurrogate.Match(line) || depth(line) >= 299
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		panic(err) // json.Valid said yes
	}
	m, ok := top.(map[string]any)
	if !ok {
		return nil, true, ambiguous
	}
	if ambiguous {
		// Only accepted rows are compared; valid surrogate pairs decode the same.
		syntax = false
	}
	if hasDupKeys(line) {
		return nil, false, ambiguous
	}
	reserved := map[string]bool{"time": true, "table": true, "measurement": true, "tags": true, "fields": true}
	_, hasTags := m["tags"]
	_, hasFields := m["fields"]
	nested := hasTags || hasFields
	if _, ok := m["table"]; ok {
		if _, ok := m["measurement"]; ok {
			return nil, false, ambiguous
		}
	}

	r := &orow{tags: map[string]string{}, fields: map[string]any{}}
	// Table.
	tv, ok := m["table"]
	if !ok {
		tv = m["measurement"]
	}
	switch tv := tv.(type) {
	case nil:
		r.table = opt.Table
	case string:
		r.table = tv
	default:
		return nil, false, ambiguous
	}
	if r.table == "" {
		return nil, false, ambiguous
	}
	// Time.
	prec := opt.Precision
	if prec == 0 {
		prec = columnar.Nanosecond
	}
	switch tv := m["time"].(type) {
	case nil:
		r.time = opt.Now
	case json.Number:
		if strings.ContainsAny(string(tv), ".eE") {
			return nil, false, ambiguous
		}
		i, ok := new(big.Int).SetString(string(tv), 10)
		if !ok {
			panic(tv)
		}
		i.Mul(i, big.NewInt(int64(prec)))
		if !i.IsInt64() {
			return nil, false, ambiguous
		}
		r.time = i.Int64()
	case string:
		tm, err := time.Parse(time.RFC3339Nano, tv)
		if err != nil {
			return nil, false, ambiguous
		}
		i := new(big.Int).Mul(big.NewInt(tm.Unix()), big.NewInt(1e9))
		i.Add(i, big.NewInt(int64(tm.Nanosecond())))
		if !i.IsInt64() {
			return nil, false, ambiguous
		}
		r.time = i.Int64()
	default:
		return nil, false, ambiguous
	}

	addTag := func(k string, v any) bool {
		switch v := v.(type) {
		case nil:
		case string:
			if v != "" {
				r.tags[k] = v
			}
		default:
			return false
		}
		return k != ""
	}
	addField := func(k string, v any) bool {
		switch v := v.(type) {
		case nil:
		case json.Number:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil {
				return false
			}
			r.fields[k] = math.Float64bits(f)
		case bool:
			r.fields[k] = v
		case string:
			r.fields[k] = v
		default:
			return false
		}
		return k != ""
	}
	if nested {
		for k := range m {
			if !reserved[k] {
				return nil, false, ambiguous
			}
		}
		tags, tagsOK := m["tags"].(map[string]any)
		fields, fieldsOK := m["fields"].(map[string]any)
		for k := range tags {
			if _, both := fields[k]; both {
				return nil, false, ambiguous
			}
		}
		if !tagsOK && m["tags"] != nil || !fieldsOK && m["fields"] != nil {
			return nil, false, ambiguous
		}
		for k, v := range tags {
			if !addTag(k, v) {
				return nil, false, ambiguous
			}
		}
		for k, v := range fields {
			if !addField(k, v) {
				return nil, false, ambiguous
			}
		}
	} else {
		for k, v := range m {
			if reserved[k] {
				continue
			}
			isTag := false
			if opt.TagKeys == nil {
				_, isTag = v.(string)
			} else {
				for _, tk := range opt.TagKeys {
					isTag = isTag || tk == k
				}
			}
			if isTag && !addTag(k, v) || !isTag && !addField(k, v) {
				return nil, false, ambiguous
			}
		}
	}
	if len(r.fields) == 0 {
		return nil, false, ambiguous
	}
	return r, false, ambiguous
}

// hasDupKeys reports whether the top-level object of line, or its "tags"
// or "fields" member when that is an object, repeats a key.
func hasDupKeys(line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var walk func(level int) bool // after '{' has been read
	walk = func(level int) bool {
		seen := map[string]bool{}
		dup := false
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				panic(err)
			}
			k := tok.(string)
			dup = dup || seen[k]
			seen[k] = true
			if level == 0 && (k == "tags" || k == "fields") {
				tok, err := dec.Token()
				if err != nil {
					panic(err)
				}
				if tok == json.Delim('{') {
					dup = walk(1) || dup
					continue
				}
				if d, ok := tok.(json.Delim); ok {
					skip(dec, d)
				}
				continue
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				panic(err)
			}
		}
		if _, err := dec.Token(); err != nil { // '}'
			panic(err)
		}
		return dup
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		panic(fmt.Sprint(tok, err))
	}
	return walk(0)
}

// skip reads the rest of the array or object opened by d.
func skip(dec *json.Decoder, d json.Delim) {
	for n := 1; n > 0; {
		tok, err := dec.Token()
		if err != nil {
			panic(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			n++
		case json.Delim('}'), json.Delim(']'):
			n--
		}
	}
	_ = d
}

// depth returns the deepest nesting of arrays and objects in valid JSON.
func depth(line []byte) int {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	d, maxD := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return maxD
		}
		if err != nil {
			panic(err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			d++
			maxD = max(maxD, d)
		case json.Delim('}'), json.Delim(']'):
			d--
		}
	}
}
