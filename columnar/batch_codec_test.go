package columnar

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomBatch builds n rows as sources write them (mostly the previous
// row with some values changed, sometimes another shape), every field
// type, times and lines that jump anywhere (the extremes included), and
// returns the rows as the test wants them read back.
func randomBatch(rng *rand.Rand, b *Batch, n int) []wantRow {
	keys := []string{"a", "host", "hostname", "usage_user", "usage_guest_nice", "k"}
	vals := []string{"v", "host_1", "host_22", "eu-west-1", ""}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	var want []wantRow
	for i := range n {
		var w wantRow
		if len(want) > 0 && rng.IntN(4) > 0 {
			p := want[len(want)-1]
			w.table, w.tags, w.fields = p.table, slices.Clone(p.tags), slices.Clone(p.fields)
			for j := range w.tags {
				if rng.IntN(2) == 0 {
					w.tags[j][1] = pick(vals[:4])
				}
			}
		} else {
			w.table = pick([]string{"cpu", "mem"})
			for range rng.IntN(4) {
				w.tags = append(w.tags, [2]string{pick(keys), pick(vals[:4])})
			}
			for range 1 + rng.IntN(5) {
				w.fields = append(w.fields, wantField{key: pick(keys), typ: FieldType(1 + rng.IntN(5))})
			}
		}
		for j := range w.fields {
			f := &w.fields[j]
			switch f.typ {
			case FieldString:
				f.num, f.str = 0, pick(vals)
			case FieldInt:
				f.num = uint64(pick64(rng, []int64{0, 1, -1, 63, -64, 64, math.MaxInt64, math.MinInt64, rng.Int64()}))
			case FieldUint:
				f.num = uint64(pick64(rng, []int64{0, 127, 128, -1, rng.Int64()}))
			case FieldBool:
				f.num = uint64(rng.IntN(2))
			case FieldFloat:
				f.num = math.Float64bits(rng.NormFloat64())
			}
		}
		switch rng.IntN(6) {
		case 0:
			w.time = pick64(rng, []int64{math.MinInt64, math.MaxInt64, 0, -1})
		case 1:
			w.time = rng.Int64()
		default:
			if len(want) > 0 {
				w.time = want[len(want)-1].time + int64(rng.IntN(3)) // equal times and steps, wrapping at the top
			}
		}
		line := i + 1
		if rng.IntN(10) == 0 {
			line = int(rng.Uint32())
		}
		w.add(b, line)
		b.EndRow(w.time)
		want = append(want, w)
	}
	return want
}

func pick64(rng *rand.Rand, s []int64) int64 { return s[rng.IntN(len(s))] }

// TestBatchCodecRoundTrip: both versions read back every row exactly
// (table, tags, fields with their types and values, times and line
// numbers), from batches decoded with shared spans, batches filtered in
// place (rows dropped between the ones written) and batches read back
// from a record (whose spans a decoder did not share).
func TestBatchCodecRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for round := range 200 {
		var b Batch
		want := randomBatch(rng, &b, 1+rng.IntN(300))
		lines := make([]uint32, len(b.Rows))
		for i := range b.Rows {
			lines[i] = b.Rows[i].Line
		}
		if rng.IntN(2) == 0 {
			// Admission filters rows in place.
			kept, keptWant, keptLines := b.Rows[:0], want[:0], lines[:0]
			for i, r := range b.Rows {
				if rng.IntN(3) > 0 {
					kept, keptWant, keptLines = append(kept, r), append(keptWant, want[i]), append(keptLines, lines[i])
				}
			}
			b.Rows, want, lines = kept, keptWant, keptLines
		}
		for _, enc := range []struct {
			name string
			p    []byte
		}{{"v2", b.AppendBinary(nil)}, {"v1", b.appendBinaryV1(nil)}} {
			var back Batch
			if err := back.UnmarshalBinary(enc.p); err != nil {
				t.Fatalf("round %d, %s: %v", round, enc.name, err)
			}
			check(t, &back, want)
			for i := range back.Rows {
				if back.Rows[i].Line != lines[i] {
					t.Fatalf("round %d, %s, row %d: line %d, want %d", round, enc.name, i, back.Rows[i].Line, lines[i])
				}
			}
			// Read back, encoded again: the same rows.
			var again Batch
			if err := again.UnmarshalBinary(back.AppendBinary(nil)); err != nil {
				t.Fatalf("round %d, %s, again: %v", round, enc.name, err)
			}
			check(t, &again, want)
		}
	}
}

// TestBatchCodecRefusesDamage: every truncation of a record, and records
// with a byte changed, decode to an error or to some batch — never a
// panic or a span outside the arena.
func TestBatchCodecRefusesDamage(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 20 {
		var b Batch
		randomBatch(rng, &b, 1+rng.IntN(30))
		for _, p := range [][]byte{b.AppendBinary(nil), b.appendBinaryV1(nil)} {
			for n := range len(p) {
				var back Batch
				if err := back.UnmarshalBinary(p[:n]); err == nil {
					t.Fatalf("round %d: a record cut to %d of %d bytes decoded", round, n, len(p))
				} else if !errors.Is(err, ErrBadBatch) {
					t.Fatalf("round %d: %v is not ErrBadBatch", round, err)
				}
			}
			for range 200 {
				q := slices.Clone(p)
				q[rng.IntN(len(q))] ^= byte(1 + rng.IntN(255))
				var back Batch
				if back.UnmarshalBinary(q) == nil {
					for i := range back.Rows {
						r := &back.Rows[i]
						back.Str(r.Table)
						for _, tg := range back.RowTags(r) {
							back.Str(tg.Key)
							back.Str(tg.Value)
						}
						for _, f := range back.RowFields(r) {
							back.Str(f.Key)
							back.Str(f.Str)
						}
					}
				}
			}
		}
	}
}

// TestBatchCodecSmaller: version 2 of rows that repeat their keys (what
// the WAL compresses) is well under half of version 1.
func TestBatchCodecSmaller(t *testing.T) {
	var b Batch
	for i := range 1000 {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("hostname"), []byte("host_"+string(rune('a'+i%25))))
		b.AddTag([]byte("region"), []byte("eu-west-1"))
		for _, k := range []string{"usage_user", "usage_system", "usage_idle"} {
			b.AddNum([]byte(k), FieldInt, uint64(i%100))
		}
		b.EndRow(1_700_000_000_000_000_000 + int64(i/25))
	}
	v1, v2 := len(b.appendBinaryV1(nil)), len(b.AppendBinary(nil))
	if v2*2 >= v1 {
		t.Errorf("version 2 takes %d bytes, version 1 %d", v2, v1)
	}
	// A row repeating the previous one (its strings, time and values; the
	// next line) takes a byte for each span, number and count: table,
	// time, line, the two counts, each tag's key and value, each field's
	// key, type and value.
	var one Batch
	add := func(line int) {
		one.StartRow([]byte("cpu"), line)
		one.AddTag([]byte("hostname"), []byte("host_1"))
		one.AddTag([]byte("region"), []byte("eu-west-1"))
		for _, k := range []string{"usage_user", "usage_system", "usage_idle"} {
			one.AddNum([]byte(k), FieldInt, 42)
		}
		one.EndRow(1_700_000_000_000_000_000)
	}
	add(1)
	first := len(one.AppendBinary(nil))
	add(2)
	if got, want := len(one.AppendBinary(nil))-first, 5+2*2+3*3; got != want { // the row count stays one byte
		t.Errorf("a repeated row takes %d bytes, want %d", got, want)
	}
}

// TestBatchCodecV1SpanWrap: a version 1 span whose offset and length add
// up past 2^64 to less than the arena (offset 2^64-5, length 10, arena 8
// bytes) is refused, not read back as a span far outside the arena (the
// sum alone was checked, and wrapped). Found by FuzzBatchCodecDecode.
func TestBatchCodecV1SpanWrap(t *testing.T) {
	p := []byte{batchCodecV1, 8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 1}
	p = binary.AppendUvarint(p, math.MaxUint64-4) // the table's span
	p = binary.AppendUvarint(p, 10)
	p = append(p, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // time, line, no tags, no fields
	var b Batch
	err := b.UnmarshalBinary(p)
	if err == nil {
		t.Fatalf("decoded a table span %+v in an arena of %d bytes", b.Rows[0].Table, len(b.Buf))
	}
	if !errors.Is(err, ErrBadBatch) {
		t.Fatalf("%v is not ErrBadBatch", err)
	}
	// The same span with an offset in the arena reads back: the record
	// above is refused for its span alone.
	q := []byte{batchCodecV1, 8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 1, 2, 3}
	q = append(q, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	if err := b.UnmarshalBinary(q); err != nil || b.Str(b.Rows[0].Table) != "cde" {
		t.Fatalf("the span 2+3 in the same record: %v", err)
	}
}

// TestBatchCodecNumericSlotStr: a string field whose slot (the previous
// row's field at its place) is numeric is written against the empty span,
// as the decoder reads it, whatever Str that numeric field holds: here a
// float field left with the Str of the string it was (a batch's fields
// are exported), equal to the next row's string's span. Written against
// that Str, the string took one byte and read back empty.
func TestBatchCodecNumericSlotStr(t *testing.T) {
	var b Batch
	for i, typ := range []FieldType{FieldString, FieldFloat, FieldString} {
		b.StartRow([]byte("m"), i+1)
		if typ == FieldString {
			b.AddString([]byte("k"), []byte("abc"))
		} else {
			b.AddNum([]byte("k"), typ, math.Float64bits(1.5))
		}
		b.EndRow(int64(i))
	}
	abc := b.Fields[0].Str
	b.Fields[1].Str = abc // a float field with a stray Str
	b.Fields[2].Str = abc // the third row's string shares the first's bytes
	want := []wantRow{
		{table: "m", time: 0, fields: []wantField{{key: "k", typ: FieldString, str: "abc"}}},
		{table: "m", time: 1, fields: []wantField{{key: "k", typ: FieldFloat, num: math.Float64bits(1.5)}}},
		{table: "m", time: 2, fields: []wantField{{key: "k", typ: FieldString, str: "abc"}}},
	}
	check(t, &b, want)
	var back Batch
	if err := back.UnmarshalBinary(b.AppendBinary(nil)); err != nil {
		t.Fatal(err)
	}
	check(t, &back, want)
}
