package ndjson

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

const now = 1_700_000_000_000_000_000

func TestDecode(t *testing.T) {
	def := Options{Table: "dflt", Now: now}
	withKeys := Options{Table: "dflt", Now: now, TagKeys: []string{"host", "dc"}}
	noKeys := Options{Table: "dflt", Now: now, TagKeys: []string{}}
	noTable := Options{Now: now}
	sec := Options{Table: "dflt", Now: now, Precision: columnar.Second}
	ms := Options{Table: "dflt", Now: now, Precision: columnar.Millisecond}
	hour := Options{Table: "dflt", Now: now, Precision: columnar.Hour}

	tests := []struct {
		name string
		opt  Options
		body string
		rows []string
		errs []string
	}{
		// Nested rows.
		{"nested", def,
			`{"time": 5, "table": "cpu", "tags": {"host":"a"}, "fields": {"usage": 1.5, "ok": true, "msg": "x"}}`,
			[]string{`1 cpu 5 host=a | usage=1.5 ok=true msg="x"`}, nil},
		{"nested measurement", def,
			`{"measurement":"mem","fields":{"f":1}}`,
			[]string{`1 mem 1700000000000000000 | f=1`}, nil},
		{"nested default table", def,
			`{"tags":{"h":"x"},"fields":{"f":false}}`,
			[]string{`1 dflt 1700000000000000000 h=x | f=false`}, nil},
		{"nested key order kept", def,
			`{"fields":{"b":1,"a":2},"tags":{"z":"1","y":"2"},"table":"t","time":1}`,
			[]string{`1 t 1 z=1,y=2 | b=1 a=2`}, nil},
		{"nested null tags and null values", def,
			`{"tags":null,"fields":{"a":null,"b":2}}
{"tags":{"h":null,"g":""},"fields":{"b":2}}`,
			[]string{`1 dflt 1700000000000000000 | b=2`, `2 dflt 1700000000000000000 | b=2`}, nil},
		{"nested empty string field kept", def,
			`{"fields":{"s":""}}`,
			[]string{`1 dflt 1700000000000000000 | s=""`}, nil},
		{"nested tag keys ignored", withKeys,
			`{"tags":{"x":"1"},"fields":{"host":"h"}}`,
			[]string{`1 dflt 1700000000000000000 x=1 | host="h"`}, nil},
		{"escapes and unicode", def,
			`{"table":"c\u00e9\"q","tags":{"k\\\/":"\ud83d\ude00\n"},"fields":{"\u0066":"é\t"}}`,
			[]string{"1 c\u00e9\"q 1700000000000000000 k\\/=\U0001F600\n | f=\"é\\t\""}, nil},
		{"escaped reserved key", def,
			`{"ta\u0067s":{"h":"a"},"fields":{"f":1}}`,
			[]string{`1 dflt 1700000000000000000 h=a | f=1`}, nil},
		{"numbers are floats", def,
			`{"fields":{"i":1,"n":-0,"e":1e3,"big":18446744073709551616,"f":0.1,"x":-1.5E-7}}`,
			[]string{`1 dflt 1700000000000000000 | i=1 n=-0 e=1000 big=1.8446744073709552e+19 f=0.1 x=-1.5e-07`}, nil},
		{"float rounding is exact", def,
			`{"fields":{"a":9007199254740993,"b":0.30000000000000004441,"c":2.2250738585072011e-308}}`,
			[]string{`1 dflt 1700000000000000000 | a=9.007199254740992e+15 b=0.30000000000000004 c=2.225073858507201e-308`}, nil},

		// Flat rows.
		{"flat", def,
			`{"time": 5, "host": "a", "usage": 1.5, "ok": true, "dc": "x"}`,
			[]string{`1 dflt 5 host=a,dc=x | usage=1.5 ok=true`}, nil},
		{"flat table", def,
			`{"table":"cpu","host":"a","v":0}`,
			[]string{`1 cpu 1700000000000000000 host=a | v=0`}, nil},
		{"flat empty tag skipped", def,
			`{"host":"","v":1,"n":null}`,
			[]string{`1 dflt 1700000000000000000 | v=1`}, nil},
		{"flat tag keys", withKeys,
			`{"host":"a","msg":"hello","dc":"","v":1}`,
			[]string{`1 dflt 1700000000000000000 host=a | msg="hello" v=1`}, nil},
		{"flat tag key null", withKeys,
			`{"host":null,"v":1}`,
			[]string{`1 dflt 1700000000000000000 | v=1`}, nil},
		{"flat empty tag keys", noKeys,
			`{"host":"a","v":1}`,
			[]string{`1 dflt 1700000000000000000 | host="a" v=1`}, nil},

		// Time.
		{"time seconds", sec,
			`{"time":1700000000,"v":1}`,
			[]string{`1 dflt 1700000000000000000 | v=1`}, nil},
		{"time ms negative", ms,
			`{"time":-1500,"v":1}`,
			[]string{`1 dflt -1500000000 | v=1`}, nil},
		{"time null", sec,
			`{"time":null,"v":1}`,
			[]string{`1 dflt 1700000000000000000 | v=1`}, nil},
		{"time zero precision is ns", Options{Table: "t"},
			`{"time":9223372036854775807,"v":1}`,
			[]string{`1 t 9223372036854775807 | v=1`}, nil},
		{"time rfc3339", sec,
			`{"time":"2023-11-14T22:13:20Z","v":1}
{"time":"2023-11-14T22:13:20.123456789Z","v":1}
{"time":"2023-11-14T23:13:20.5+01:00","v":1}
{"time":"1677-09-21T00:12:43.145224192Z","v":1}
{"time":"2262-04-11T23:47:16.854775807Z","v":1}`,
			[]string{
				`1 dflt 1700000000000000000 | v=1`,
				`2 dflt 1700000000123456789 | v=1`,
				`3 dflt 1700000000500000000 | v=1`,
				`4 dflt -9223372036854775808 | v=1`,
				`5 dflt 9223372036854775807 | v=1`,
			}, nil},
		{"time errors", sec,
			`{"time":1.5,"v":1}
{"time":1e9,"v":1}
{"time":9223372037,"v":1}
{"time":99999999999999999999,"v":1}
{"time":"yesterday","v":1}
{"time":"2262-04-11T23:47:16.854775808Z","v":1}
{"time":"1677-09-21T00:12:43.145224191Z","v":1}
{"time":true,"v":1}
{"time":[1],"v":1}
{"time":"2023-11-14","v":1}`,
			nil, []string{"1:json-bad-time", "2:json-bad-time", "3:json-bad-time", "4:json-bad-time", "5:json-bad-time",
				"6:json-bad-time", "7:json-bad-time", "8:json-bad-time", "9:json-bad-time", "10:json-bad-time"}},
		{"time hour overflow", hour,
			`{"time":2562047,"v":1}
{"time":2562048,"v":1}`,
			[]string{`1 dflt 9223369200000000000 | v=1`}, []string{"2:json-bad-time"}},

		// Lines.
		{"blank lines and crlf", def,
			"\r\n  \n{\"v\":1}\r\n\t\r\n\n{\"v\":2}\r\n{\"v\":3}",
			[]string{`3 dflt 1700000000000000000 | v=1`, `6 dflt 1700000000000000000 | v=2`, `7 dflt 1700000000000000000 | v=3`}, nil},
		{"empty body", def, "", nil, nil},
		{"errors do not stop decoding", def,
			"{\"v\":1}\n{\"v\":\n{\"v\":3}\n",
			[]string{`1 dflt 1700000000000000000 | v=1`, `3 dflt 1700000000000000000 | v=3`}, []string{"2:json-syntax"}},

		// Syntax.
		{"syntax", def,
			`{"v":1
{"v":1}}
{"v":01}
{"v":NaN}
{"v":Infinity}
{"v":+1}
{"v":1.}
{"v":.5}
{"v":"a` + "\t" + `"}
{"v":"\x"}
{"v":"\u12"}
{'v':1}
{"v":1,}
{"v":1} {"v":2}
[{"v":1}]
"v"
1
null
{"v":"\ud800"}
{"v":"\udc00\ud800"}
{"v":"\ud800\u0041"}
{"time":01,"v":1}
{"v":1.5e}
{"v":-}
{"v":1,"w":[01]}
{"table":nan,"v":1}
{"v":"\u00zz"}
{"v":"\ud800\u00"}
{"v":-Inf}
{"tags":{"h":"a"},"fields":{"v":1},"x":tru}
` + "{\"0\":\"\x11\\b\"}\n{\"0\":\"\\b\t\"}\n{\"0\":\"\t\\n\"}\n{\"\x01\\n\":1}\n" + "{\"v\":\"\xff\"}\n" + "\xef\xbb\xbf{\"v\":1}\n{\"v\":1}\x0b",
			nil, []string{"1:json-syntax", "2:json-syntax", "3:json-syntax", "4:json-syntax", "5:json-syntax",
				"6:json-syntax", "7:json-syntax", "8:json-syntax", "9:json-syntax", "10:json-syntax",
				"11:json-syntax", "12:json-syntax", "13:json-syntax", "14:json-syntax", "15:json-syntax",
				"16:json-syntax", "17:json-syntax", "18:json-syntax", "19:json-syntax", "20:json-syntax",
				"21:json-syntax", "22:json-syntax", "23:json-syntax", "24:json-syntax", "25:json-syntax",
				"26:json-syntax", "27:json-syntax", "28:json-syntax", "29:json-syntax", "30:json-syntax",
				"31:json-syntax", "32:json-syntax", "33:json-syntax", "34:json-syntax", "35:json-syntax",
				"36:json-syntax", "37:json-syntax"}},
		{"whitespace outside strings", def,
			"\t{ \"v\"\t:\r1 ,\"t\":\"\\t\"\t}\r\r\n",
			[]string{`1 dflt 1700000000000000000 t=` + "\t" + ` | v=1`}, nil},
		{"deep nesting", def,
			`{"v":1,"x":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}\n" +
				`{"v":1,"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}",
			nil, []string{"1:json-syntax", "2:json-bad-field"}},
		{"escaped backslash before u is not a surrogate", def,
			`{"v":"\\ud800","n":1}`,
			[]string{`1 dflt 1700000000000000000 v=\ud800 | n=1`}, nil},

		// Duplicate and unknown keys.
		{"duplicates", def,
			`{"v":1,"v":2}
{"v":1,"v":null}
{"time":1,"time":2,"v":1}
{"table":"a","measurement":"b","v":1}
{"table":"a","table":"a","v":1}
{"tags":{},"tags":{},"fields":{"v":1}}
{"fields":{"v":1},"fields":{"v":1}}
{"tags":{"h":"a","h":"b"},"fields":{"v":1}}
{"fields":{"v":1,"v":1}}
{"tags":{"v":"a"},"fields":{"v":1}}
{"tags":{"v":null},"fields":{"v":null,"w":1}}
{"h":"a","\u0068":"b","v":1}
{"fields":{"v":1},"x":1,"x":2}`,
			nil, []string{"1:json-dup-key", "2:json-dup-key", "3:json-dup-key", "4:json-dup-key", "5:json-dup-key",
				"6:json-dup-key", "7:json-dup-key", "8:json-dup-key", "9:json-dup-key", "10:json-dup-key",
				"11:json-dup-key", "12:json-dup-key", "13:json-dup-key"}},
		{"unknown keys in nested rows", def,
			`{"name":"cpu","timestamp":1,"tags":{"h":"a"},"fields":{"v":1}}
{"fields":{"v":1},"v":1}`,
			nil, []string{"1:json-unknown-key", "2:json-unknown-key"}},

		// Table.
		{"table errors", def,
			`{"table":1,"v":1}
{"table":"","v":1}
{"measurement":["a"],"v":1}
{"table":{},"fields":{"v":1}}`,
			nil, []string{"1:json-bad-table", "2:json-bad-table", "3:json-bad-table", "4:json-bad-table"}},
		{"no table", noTable,
			`{"v":1}
{"table":null,"v":1}
{"table":"t","v":1}`,
			[]string{`3 t 1700000000000000000 | v=1`}, []string{"1:json-no-table", "2:json-no-table"}},

		// Tags.
		{"tag errors", withKeys,
			`{"tags":{"h":1},"fields":{"v":1}}
{"tags":{"h":true},"fields":{"v":1}}
{"tags":{"h":{}},"fields":{"v":1}}
{"tags":"h=a","fields":{"v":1}}
{"tags":["h"],"fields":{"v":1}}
{"tags":{"":"a"},"fields":{"v":1}}
{"host":1,"v":1}
{"dc":false,"v":1}`,
			nil, []string{"1:json-bad-tag", "2:json-bad-tag", "3:json-bad-tag", "4:json-bad-tag", "5:json-bad-tag",
				"6:json-bad-tag", "7:json-bad-tag", "8:json-bad-tag"}},
		{"flat empty tag key", def,
			`{"":"a","v":1}`,
			nil, []string{"1:json-bad-tag"}},

		// Fields.
		{"field errors", def,
			`{"fields":{"v":{"a":1}}}
{"fields":{"v":[1]}}
{"fields":"v=1"}
{"fields":1}
{"fields":{"":1}}
{"v":{"a":1}}
{"v":[]}
{"v":1e400}
{"fields":{"v":-1e309}}
{"":1}`,
			nil, []string{"1:json-bad-field", "2:json-bad-field", "3:json-bad-field", "4:json-bad-field", "5:json-bad-field",
				"6:json-bad-field", "7:json-bad-field", "8:json-bad-field", "9:json-bad-field", "10:json-bad-field"}},
		{"no fields", def,
			`{}
{"time":1,"table":"t"}
{"host":"a"}
{"tags":{"h":"a"}}
{"fields":{}}
{"fields":null}
{"fields":{"v":null}}
{"v":null}`,
			nil, []string{"1:json-no-fields", "2:json-no-fields", "3:json-no-fields", "4:json-no-fields",
				"5:json-no-fields", "6:json-no-fields", "7:json-no-fields", "8:json-no-fields"}},
		{"flat strings without tag keys are tags", def,
			`{"msg":"hello"}`,
			nil, []string{"1:json-no-fields"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, rows, errs, lerrs := decode(tc.body, tc.opt)
			if !slices.Equal(rows, tc.rows) {
				t.Errorf("rows:\n got %q\nwant %q", rows, tc.rows)
			}
			if !slices.Equal(errs, tc.errs) {
				t.Errorf("errors:\n got %q\nwant %q", errs, tc.errs)
				for _, e := range lerrs {
					t.Logf("  %d %s: %s", e.Line, e.Code, e.Reason)
				}
			}
			checkClean(t, b)
		})
	}
}

// checkClean checks that b holds nothing but its rows: aborted rows must
// leave no tags, fields or bytes behind.
func checkClean(t *testing.T, b *columnar.Batch) {
	t.Helper()
	var tags, fields uint32
	for i := range b.Rows {
		r := &b.Rows[i]
		if r.TagStart != tags || r.FieldStart != fields {
			t.Fatalf("row %d: tags/fields start at %d/%d, want %d/%d", i, r.TagStart, r.FieldStart, tags, fields)
		}
		tags, fields = r.TagEnd, r.FieldEnd
	}
	if int(tags) != len(b.Tags) || int(fields) != len(b.Fields) {
		t.Fatalf("batch has %d tags and %d fields, rows use %d and %d", len(b.Tags), len(b.Fields), tags, fields)
	}
	end := uint32(0)
	for _, f := range b.Fields {
		end = max(end, f.Key.Off+f.Key.Len, f.Str.Off+f.Str.Len)
	}
	for _, tg := range b.Tags {
		// The key too: a value equal to the previous row's at its place
		// takes that row's span, so a new key can be the arena's last
		// bytes.
		end = max(end, tg.Key.Off+tg.Key.Len, tg.Value.Off+tg.Value.Len)
	}
	for _, r := range b.Rows {
		end = max(end, r.Table.Off+r.Table.Len)
	}
	if int(end) != len(b.Buf) {
		t.Fatalf("arena has %d bytes, rows use %d", len(b.Buf), end)
	}
}

func TestReasons(t *testing.T) {
	tests := []struct {
		line string
		opt  Options
		want []string // substrings of the reason
	}{
		{`{"v":1,"v":2}`, Options{Table: "t"}, []string{`"v"`, "twice"}},
		{`{"table":"a","measurement":"b","v":1}`, Options{}, []string{`"table"`, `"measurement"`}},
		{`{"tags":{"x":"a"},"fields":{"x":1}}`, Options{Table: "t"}, []string{`"x"`, "both a tag and a field"}},
		{`{"name":"cpu","fields":{"v":1}}`, Options{Table: "t"}, []string{`"name"`, "nested"}},
		{`{"measurement":5,"v":1}`, Options{}, []string{`"measurement"`, "string", "number 5"}},
		{`{"v":1}`, Options{}, []string{"no table"}},
		{`{"time":1.5,"v":1}`, Options{Table: "t"}, []string{`"time"`, "integer", "1.5"}},
		{`{"time":"noon","v":1}`, Options{Table: "t"}, []string{`"time"`, `"noon"`, "RFC 3339"}},
		{`{"time":9999999999999,"v":1}`, Options{Table: "t", Precision: columnar.Second}, []string{`"time"`, "overflows", "1s"}},
		{`{"tags":{"host":12},"fields":{"v":1}}`, Options{Table: "t"}, []string{`tag "host"`, "string", "number 12"}},
		{`{"host":12,"v":1}`, Options{Table: "t", TagKeys: []string{"host"}}, []string{`tag "host"`, "number 12"}},
		{`{"tags":[1],"fields":{"v":1}}`, Options{Table: "t"}, []string{`"tags"`, "object", "array"}},
		{`{"fields":{"usage":[1,2]}}`, Options{Table: "t"}, []string{`field "usage"`, "array [1,2]"}},
		{`{"usage":1e999}`, Options{Table: "t"}, []string{`field "usage"`, "1e999", "range"}},
		{`{"host":"a"}`, Options{Table: "t"}, []string{"no fields"}},
		{`{"v":1`, Options{Table: "t"}, []string{"invalid JSON"}},
		{`[1]`, Options{Table: "t"}, []string{"array", "want an object"}},
		{"{\"v\":\"\xfe\"}", Options{Table: "t"}, []string{"UTF-8"}},
		{`{"v":"\udead"}`, Options{Table: "t"}, []string{"surrogate", `\udead`}},
		{`{"v":"` + strings.Repeat("é", 100) + `"}`, Options{Table: "t", TagKeys: []string{"v"}}, []string{"no fields"}},
		{`{"` + strings.Repeat("é", 100) + `":[]}`, Options{Table: "t"}, []string{"…", "array []"}},
	}
	for _, tc := range tests {
		_, _, _, errs := decode(tc.line, tc.opt)
		if len(errs) != 1 {
			t.Errorf("%s: got %d errors, want 1", tc.line, len(errs))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(errs[0].Reason, w) {
				t.Errorf("%.80s: reason %q does not contain %q", tc.line, errs[0].Reason, w)
			}
		}
	}
}

// TestNestedFlatIdentical checks that the nested and flat forms of the same
// data give identical batches, byte for byte.
func TestNestedFlatIdentical(t *testing.T) {
	for _, tagKeys := range [][]string{nil, tsbsTagKeys} {
		var nb, fb columnar.Batch
		opt := Options{Now: now, TagKeys: tagKeys}
		fail := func(e columnar.LineError) { t.Fatalf("line %d: %s: %s", e.Line, e.Code, e.Reason) }
		nn := Decode(tsbsCPU(500, true), &nb, opt, fail)
		fn := Decode(tsbsCPU(500, false), &fb, opt, fail)
		if nn != 500 || fn != 500 {
			t.Fatalf("rows: nested %d, flat %d, want 500", nn, fn)
		}
		if !reflect.DeepEqual(nb, fb) {
			t.Fatalf("nested and flat batches differ:\n%q\n%q", dump(&nb)[:2], dump(&fb)[:2])
		}
		if len(nb.RowTags(&nb.Rows[0])) != 10 || len(nb.RowFields(&nb.Rows[0])) != 10 {
			t.Fatalf("first row: %s", dump(&nb)[0])
		}
	}
	// With string fields: flat needs TagKeys to tell tags from strings.
	nested := `{"time":"2024-01-01T00:00:00Z","table":"log","tags":{"host":"a","dc":"x"},"fields":{"msg":"hi","n":1,"ok":false}}`
	flat := `{"host":"a","msg":"hi","table":"log","n":1,"dc":"x","ok":false,"time":"2024-01-01T00:00:00Z"}`
	opt := Options{TagKeys: []string{"host", "dc"}}
	nb, nr, ne, _ := decode(nested, opt)
	fb, fr, fe, _ := decode(flat, opt)
	if len(ne)+len(fe) != 0 || !reflect.DeepEqual(nb, fb) {
		t.Fatalf("nested %q %q, flat %q %q", nr, ne, fr, fe)
	}
}

// TestAppends checks that Decode appends to a non-empty batch and that
// rejected lines leave it as it was.
func TestAppends(t *testing.T) {
	var b columnar.Batch
	opt := Options{Table: "t", Now: 1}
	Decode([]byte(`{"h":"a","v":1}`), &b, opt, nil)
	n := Decode([]byte("{\"h\":\"b\",\"v\":2}\n{\"h\":\"c\",\"v\":[1]}\n{\"h\":\"d\",\"tags\":1}\n{\"h\":\"e\",\"v\":3}"), &b, opt, nil)
	if n != 2 {
		t.Fatalf("Decode = %d, want 2", n)
	}
	want := []string{`1 t 1 h=a | v=1`, `1 t 1 h=b | v=2`, `4 t 1 h=e | v=3`}
	if got := dump(&b); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	checkClean(t, &b)
}

func TestLargeKeyCount(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{"fields":{`)
	for i := range 200 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`"f` + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + string(rune('a'+i/26)) + `":1`)
	}
	ok := sb.String() + "}}"
	dup := sb.String() + `,"fAa":2}}`
	cross := `{"tags":{"fAa":"x"},` + ok[1:]
	_, rows, errs, _ := decode(ok+"\n"+dup+"\n"+cross, Options{Table: "t"})
	if len(rows) != 1 || !slices.Equal(errs, []string{"2:json-dup-key", "3:json-dup-key"}) {
		t.Fatalf("rows %d, errors %q", len(rows), errs)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under the race detector")
	}
	body := tsbsCPU(100, true)
	var b columnar.Batch
	opt := Options{Now: now}
	Decode(body, &b, opt, nil)
	allocs := testing.AllocsPerRun(100, func() {
		b.Reset()
		Decode(body, &b, opt, nil)
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per Decode of 100 rows", allocs)
	}
}
