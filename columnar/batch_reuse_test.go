package columnar

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// wantRow is a row as the test builds it, independently of the arena.
type wantRow struct {
	table  string
	tags   [][2]string
	fields []wantField
	time   int64
}

type wantField struct {
	key string
	typ FieldType
	num uint64
	str string
}

// add appends w to b through the decoders' API.
func (w wantRow) add(b *Batch, line int) {
	b.StartRow([]byte(w.table), line)
	for _, t := range w.tags {
		b.AddTag([]byte(t[0]), []byte(t[1]))
	}
	for _, f := range w.fields {
		if f.typ == FieldString {
			b.AddString([]byte(f.key), []byte(f.str))
		} else {
			b.AddNum([]byte(f.key), f.typ, f.num)
		}
	}
}

// check compares every row of b with want, string by string.
func check(t *testing.T, b *Batch, want []wantRow) {
	t.Helper()
	if len(b.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(b.Rows), len(want))
	}
	for i := range b.Rows {
		r, w := &b.Rows[i], want[i]
		got := wantRow{table: b.Str(r.Table), time: r.Time}
		for _, tg := range b.RowTags(r) {
			got.tags = append(got.tags, [2]string{b.Str(tg.Key), b.Str(tg.Value)})
		}
		for _, f := range b.RowFields(r) {
			gf := wantField{key: b.Str(f.Key), typ: f.Type, num: f.Num}
			if f.Type == FieldString {
				gf.str, gf.num = b.Str(f.Str), 0
			}
			got.fields = append(got.fields, gf)
		}
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("row %d:\n got %v\nwant %v", i, got, w)
		}
	}
}

// TestBatchReusesPreviousRowStrings: a row's table, tag keys and values
// and field keys equal to the previous row's at the same place take that
// row's spans instead of new arena bytes, and every row still reads back
// exactly as written — with rows of other shapes in between, keys of
// every length around the word compare's bounds, aborted rows, a batch
// truncated to an earlier row, an encode/decode round trip and a reset.
func TestBatchReusesPreviousRowStrings(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Keys of 1 to 20 bytes, some equal in length but not in bytes (they
	// differ in the first, middle or last byte).
	keys := []string{"a", "b", "abc", "abd", "host", "hosu", "region", "regioo",
		"hostname", "hostnamf", "iostname", "usage_user", "usage_usex", "usage_system",
		"xsage_system", "usage_systen", "usage_guest_nice", "usage_guest_nicf", "service_environment"}
	vals := []string{"x", "host_1", "host_2", "eu-west-1", "eu-west-2", "ap-south-1", "Ubuntu16.10", "Ubuntu16.04LTS", "", "0123456789abcdefg"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	newRow := func(prev *wantRow) wantRow {
		// Mostly the previous row with a few strings changed, as a
		// source's rows are; sometimes a different shape.
		var w wantRow
		if prev != nil && rng.IntN(5) > 0 {
			w.table = prev.table
			w.tags = slices.Clone(prev.tags)
			w.fields = slices.Clone(prev.fields)
			for i := range w.tags {
				if rng.IntN(3) == 0 {
					w.tags[i][1] = pick(vals)
				}
				if rng.IntN(20) == 0 {
					w.tags[i][0] = pick(keys)
				}
			}
			for i := range w.fields {
				w.fields[i].num = rng.Uint64()
				if rng.IntN(20) == 0 {
					w.fields[i].key = pick(keys)
				}
				if w.fields[i].typ == FieldString {
					w.fields[i].num, w.fields[i].str = 0, pick(vals)
				}
			}
			if rng.IntN(10) == 0 {
				w.tags = w.tags[:rng.IntN(len(w.tags)+1)]
			}
		} else {
			w.table = pick([]string{"cpu", "cpv", "mem"})
			for range rng.IntN(6) {
				v := pick(vals)
				if v == "" {
					v = "v"
				}
				w.tags = append(w.tags, [2]string{pick(keys), v})
			}
			for range 1 + rng.IntN(6) {
				f := wantField{key: pick(keys), typ: FieldType(1 + rng.IntN(5))}
				if f.typ == FieldString {
					f.str = pick(vals)
				} else {
					f.num = rng.Uint64()
				}
				w.fields = append(w.fields, f)
			}
		}
		w.time = rng.Int64()
		return w
	}

	var b Batch
	for round := range 3 {
		b.Reset()
		var want []wantRow
		var marks [][4]int // len of Buf, Rows, Tags, Fields before each row of want
		written := 0       // bytes the rows' strings hold, as copies would take
		for i := range 2000 {
			var prev *wantRow
			if len(want) > 0 {
				prev = &want[len(want)-1]
			}
			w := newRow(prev)
			mark := [4]int{len(b.Buf), len(b.Rows), len(b.Tags), len(b.Fields)}
			w.add(&b, i+1)
			if rng.IntN(10) == 0 {
				// A decoder gives up on the line: nothing of it stays,
				// and the next row reuses the last kept row's strings.
				b.AbortRow()
				continue
			}
			b.EndRow(w.time)
			want = append(want, w)
			marks = append(marks, mark)
			written += len(w.table)
			for _, tg := range w.tags {
				written += len(tg[0]) + len(tg[1])
			}
			for _, f := range w.fields {
				written += len(f.key) + len(f.str)
			}
			if rng.IntN(100) == 0 && len(want) > 10 {
				// A decoder's mark: back to an earlier row.
				// (ingest/stream's decoder does this when a message
				// fails half way.)
				k := len(want) - rng.IntN(10) - 1
				m := marks[k]
				b.Buf, b.Rows, b.Tags, b.Fields = b.Buf[:m[0]], b.Rows[:m[1]], b.Tags[:m[2]], b.Fields[:m[3]]
				want, marks = want[:k], marks[:k]
			}
		}
		check(t, &b, want)
		if len(b.Buf) >= written/2 {
			t.Errorf("round %d: the arena holds %d bytes for %d bytes of strings: rows did not share their previous row's strings", round, len(b.Buf), written)
		}
		// The WAL form reads back the same rows.
		var back Batch
		if err := back.UnmarshalBinary(b.AppendBinary(nil)); err != nil {
			t.Fatal(err)
		}
		check(t, &back, want)
	}
}

// TestBatchReuseSharesSpans: the reuse is what the previous test relies
// on to shrink the arena — equal strings at the same place share a span,
// different ones of the same length do not.
func TestBatchReuseSharesSpans(t *testing.T) {
	var b Batch
	rows := []wantRow{
		{table: "cpu", tags: [][2]string{{"hostname", "host_1"}, {"region", "eu-west-1"}}, fields: []wantField{{key: "usage_user", typ: FieldInt, num: 1}}},
		{table: "cpu", tags: [][2]string{{"hostname", "host_2"}, {"region", "eu-west-1"}}, fields: []wantField{{key: "usage_user", typ: FieldInt, num: 2}}},
		{table: "cpv", tags: [][2]string{{"hostnamf", "host_2"}, {"regioo", "eu-west-2"}}, fields: []wantField{{key: "usage_usex", typ: FieldInt, num: 3}}},
	}
	for i, w := range rows {
		w.add(&b, i+1)
		b.EndRow(0)
	}
	check(t, &b, rows)
	r0, r1, r2 := &b.Rows[0], &b.Rows[1], &b.Rows[2]
	t0, t1, t2 := b.RowTags(r0), b.RowTags(r1), b.RowTags(r2)
	f0, f1, f2 := b.RowFields(r0), b.RowFields(r1), b.RowFields(r2)
	if r1.Table != r0.Table || t1[0].Key != t0[0].Key || t1[1] != t0[1] || f1[0].Key != f0[0].Key {
		t.Errorf("row 2 did not take row 1's spans for its equal strings")
	}
	if t1[0].Value == t0[0].Value {
		t.Errorf("host_2 shares host_1's span")
	}
	if r2.Table == r1.Table || t2[0].Key == t1[0].Key || t2[1].Key == t1[1].Key || t2[1].Value == t1[1].Value || f2[0].Key == f1[0].Key {
		t.Errorf("row 3 shares a span with row 2 for a different string")
	}
	if t2[0].Value != t1[0].Value {
		t.Errorf("row 3's host_2 did not take row 2's span")
	}
}
