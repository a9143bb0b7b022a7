package lineprotocol

import (
	"bytes"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/siltdb/silt/columnar"
)

// contentLines returns, for an input without quotes (where every entry is
// exactly one physical line), the numbers of the lines that must produce
// exactly one row or one error: all but blank lines and valid comments.
func contentLines(data []byte) []int {
	var out []int
	for i, l := range bytes.Split(data, []byte{'\n'}) {
		l = bytes.TrimLeft(l, " ")
		if len(l) == 0 || string(l) == "\r" {
			continue
		}
		if l[0] == '#' {
			body := bytes.TrimSuffix(l, []byte{'\r'})
			ok := true
			for _, c := range body {
				if c < 0x20 || c == 0x7f {
					ok = false
				}
			}
			if ok {
				continue
			}
		}
		out = append(out, i+1)
	}
	return out
}

// FuzzDecode checks invariants of Decode on any input: no panic; the count
// returned matches the rows added; every row has a measurement and at least
// one field, valid spans and valid UTF-8 names; rows come in line order;
// every line is accounted for (one row or one error per content line when
// the input holds no quoted string); decoding into a batch that already
// holds data gives the same rows.
func FuzzDecode(f *testing.F) {
	for _, s := range diffSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b columnar.Batch
		type lerr struct {
			line int
			code string
		}
		var errs []lerr
		n := Decode(data, &b, Options{Now: 42}, func(e columnar.LineError) {
			if e.Code == "" || e.Reason == "" {
				t.Errorf("empty code or reason: %+v", e)
			}
			errs = append(errs, lerr{e.Line, e.Code})
		})
		if n != len(b.Rows) {
			t.Fatalf("returned %d, %d rows", n, len(b.Rows))
		}
		nl := bytes.Count(data, []byte{'\n'}) + 1
		valid := func(s columnar.Span) bool { return int(s.Off)+int(s.Len) <= len(b.Buf) }
		prev := 0
		var rowLines []int
		for i := range b.Rows {
			r := &b.Rows[i]
			if r.FieldEnd <= r.FieldStart {
				t.Fatalf("row %d has no field", i)
			}
			if r.TagEnd < r.TagStart || int(r.TagEnd) > len(b.Tags) || int(r.FieldEnd) > len(b.Fields) {
				t.Fatalf("row %d: bad ranges %+v", i, r)
			}
			if int(r.Line) <= prev || int(r.Line) > nl {
				t.Fatalf("row %d: line %d after %d (of %d)", i, r.Line, prev, nl)
			}
			prev = int(r.Line)
			rowLines = append(rowLines, prev)
			if !valid(r.Table) || r.Table.Len == 0 || !utf8.Valid(b.Bytes(r.Table)) {
				t.Fatalf("row %d: bad table", i)
			}
			for _, tg := range b.RowTags(r) {
				if !valid(tg.Key) || !valid(tg.Value) || tg.Key.Len == 0 || tg.Value.Len == 0 ||
					!utf8.Valid(b.Bytes(tg.Key)) || !utf8.Valid(b.Bytes(tg.Value)) {
					t.Fatalf("row %d: bad tag %+v", i, tg)
				}
			}
			for _, fl := range b.RowFields(r) {
				if !valid(fl.Key) || fl.Key.Len == 0 || !utf8.Valid(b.Bytes(fl.Key)) || fl.Type < columnar.FieldFloat || fl.Type > columnar.FieldString {
					t.Fatalf("row %d: bad field %+v", i, fl)
				}
				if fl.Type == columnar.FieldString && (!valid(fl.Str) || !utf8.Valid(b.Bytes(fl.Str))) {
					t.Fatalf("row %d: bad string field %+v", i, fl)
				}
				if fl.Type == columnar.FieldBool && fl.Num > 1 {
					t.Fatalf("row %d: bad bool %+v", i, fl)
				}
			}
		}
		var errLines []int
		for _, e := range errs {
			if e.line < 1 || e.line > nl {
				t.Fatalf("error line %d out of 1..%d", e.line, nl)
			}
			if slices.Contains(rowLines, e.line) && bytes.IndexByte(data, '"') < 0 {
				t.Fatalf("line %d is both a row and an error", e.line)
			}
			errLines = append(errLines, e.line)
		}
		if len(b.Rows)+len(errs) > nl {
			t.Fatalf("%d rows + %d errors for %d lines", len(b.Rows), len(errs), nl)
		}
		if bytes.IndexByte(data, '"') < 0 {
			all := append(slices.Clone(rowLines), errLines...)
			slices.Sort(all)
			if want := contentLines(data); !slices.Equal(all, want) {
				t.Fatalf("lines with a row or an error: %v, want %v (errors %v)", all, want, errs)
			}
		}

		// Same rows when appending to a batch that holds data and has
		// little spare room (exercises arena growth while unescaping).
		var b2 columnar.Batch
		Decode([]byte("x,k\\ 1=v\\ 2 f\\ 3=\"\\\"\" 1\n"), &b2, Options{}, nil)
		b2.Buf = slices.Clip(b2.Buf)
		before := len(b2.Rows)
		n2 := Decode(data, &b2, Options{Now: 42}, nil)
		r1, r2 := batchEntries(&b), batchEntries(&b2)[before:]
		if n2 != n || !slices.EqualFunc(r1, r2, func(x, y tentry) bool { return x.String() == y.String() }) {
			t.Fatalf("appending decode differs:\n%v\n%v", r1, r2)
		}
	})
}
