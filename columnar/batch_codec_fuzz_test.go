package columnar

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The WAL replays whatever the batch codec wrote, and reads whatever bytes
// a file holds, so the codec is fuzzed from both ends: batches built
// through the decoders' API (FuzzBatchCodecRoundTrip) read back exactly,
// and any bytes (FuzzBatchCodecDecode) decode to an error or to a batch
// whose spans lie in its arena, without a panic and in memory linear in
// the input. `go test` runs the seeds; `go test -fuzz FuzzBatchCodec...`
// searches further.

// script hands out the fuzzer's bytes as choices (zeros once spent).
type script struct{ p []byte }

func (s *script) byte1() byte {
	if len(s.p) == 0 {
		return 0
	}
	c := s.p[0]
	s.p = s.p[1:]
	return c
}

func (s *script) u64() uint64 {
	var w [8]byte
	n := copy(w[:], s.p)
	s.p = s.p[n:]
	return binary.LittleEndian.Uint64(w[:])
}

func (s *script) bytes(n int) []byte {
	n = min(n, len(s.p))
	q := s.p[:n]
	s.p = s.p[n:]
	return q
}

// fuzzStrings are the strings a script picks from: empty, NUL inside,
// every length around the 8-to-16-byte word compare of Batch.reuse, and
// a long one.
var fuzzStrings = []string{"", "\x00", "a", "b", "cpu", "\x00\x00", "a\x00b", "host",
	"hostname", "hostnamf", "xostname", "usage_user", "usage_usex", "12345678",
	"1234567812345678", "1234567812345679", "0234567812345678", "12345678123456781",
	"é", strings.Repeat("x", 300)}

// str picks a string for a place whose string in the previous row is prev
// (ok false: that row has no such place): prev itself (the reuse the
// arena shares), prev with one byte changed, one of fuzzStrings, or bytes
// of the script.
func (s *script) str(prev string, ok bool) string {
	switch c := s.byte1(); c % 4 {
	case 0:
		if ok {
			return prev
		}
	case 1:
		if ok && prev != "" {
			q := []byte(prev)
			q[int(s.byte1())%len(q)] ^= 1 + s.byte1()%255
			return string(q)
		}
	case 2:
		return string(s.bytes(int(s.byte1() % 24)))
	}
	return fuzzStrings[int(s.byte1())%len(fuzzStrings)]
}

// value picks field value bits of type typ: the extremes and special
// floats (NaN with payloads, infinities, -0) or any bits.
func (s *script) value(typ FieldType) uint64 {
	if s.byte1()%2 == 0 {
		return s.u64()
	}
	var special []uint64
	switch typ {
	case FieldFloat:
		special = []uint64{math.Float64bits(math.NaN()), 0x7ff0000000000001, 0xfff8000000000000,
			math.Float64bits(math.Inf(1)), math.Float64bits(math.Inf(-1)), 1 << 63, 0, 1,
			math.Float64bits(math.MaxFloat64), math.Float64bits(-math.MaxFloat64)}
	case FieldInt:
		special = []uint64{0, 1, math.MaxUint64, 63, 64, 1 << 63, 1<<63 - 1}
	default: // unsigned and boolean (AddNum keeps any bits)
		special = []uint64{0, 1, 127, 128, math.MaxUint64}
	}
	return special[int(s.byte1())%len(special)]
}

// fuzzRow is what a row must read back as: every bit of it.
type fuzzRow struct {
	table  string
	tags   [][2]string
	fields []wantField
	time   int64
	line   uint32
}

// buildFuzzBatch appends rows to b (reset first) as the script says,
// through StartRow/AddTag/AddNum/AddString and EndRow or AbortRow, then
// maybe filters b.Rows in place as admission does, and returns the rows
// b must hold.
func buildFuzzBatch(s *script, b *Batch) []fuzzRow {
	b.Reset()
	var want []fuzzRow
	var prev fuzzRow // the last row ended: Batch.reuse's previous row
	var prevTime int64
	var prevLine uint32
	for len(s.p) > 0 && len(want) < 300 {
		var w fuzzRow
		w.table = s.str(prev.table, len(want) > 0)
		switch s.byte1() % 4 {
		case 0:
			w.line = uint32(s.u64())
		default:
			w.line = prevLine + 1
		}
		b.StartRow([]byte(w.table), int(w.line))
		for j := range int(s.byte1() % 6) {
			var pk, pv string
			ok := j < len(prev.tags)
			if ok {
				pk, pv = prev.tags[j][0], prev.tags[j][1]
			}
			k, v := s.str(pk, ok), s.str(pv, ok)
			b.AddTag([]byte(k), []byte(v))
			w.tags = append(w.tags, [2]string{k, v})
		}
		for j := range int(s.byte1() % 6) {
			var pf wantField
			ok := j < len(prev.fields)
			if ok {
				pf = prev.fields[j]
			}
			f := wantField{key: s.str(pf.key, ok), typ: FieldType(1 + s.byte1()%5)}
			if f.typ == FieldString {
				f.str = s.str(pf.str, ok && pf.typ == FieldString)
				b.AddString([]byte(f.key), []byte(f.str))
			} else {
				f.num = s.value(f.typ)
				b.AddNum([]byte(f.key), f.typ, f.num)
			}
			w.fields = append(w.fields, f)
		}
		switch s.byte1() % 6 {
		case 0:
			w.time = int64(s.u64())
		case 1:
			w.time = []int64{math.MinInt64, math.MaxInt64, 0, -1, 1}[s.byte1()%5]
		case 2:
			w.time = prevTime - int64(s.byte1())
		default:
			w.time = prevTime + int64(s.byte1()%3) // equal times, wrapping at the top
		}
		if s.byte1()%8 == 0 {
			b.AbortRow() // the next row's previous row stays the last one ended
			continue
		}
		b.EndRow(w.time)
		want = append(want, w)
		prev, prevTime, prevLine = w, w.time, w.line
	}
	if s.byte1()%2 == 1 {
		kept, keptWant := b.Rows[:0], want[:0]
		for i, r := range b.Rows {
			if s.byte1()%3 > 0 {
				kept, keptWant = append(kept, r), append(keptWant, want[i])
			}
		}
		b.Rows, want = kept, keptWant
	}
	return want
}

func (r *fuzzRow) equal(o *fuzzRow) bool {
	return r.table == o.table && r.time == o.time && r.line == o.line &&
		slices.Equal(r.tags, o.tags) && slices.Equal(r.fields, o.fields)
}

func (r fuzzRow) String() string {
	return fmt.Sprintf("{table %q time %d line %d tags %q fields %s}", r.table, r.time, r.line, r.tags, fmt.Sprintf("%+v", r.fields))
}

// checkFuzzRows fails t unless b holds exactly want.
func checkFuzzRows(t *testing.T, what string, b *Batch, want []fuzzRow) {
	t.Helper()
	if len(b.Rows) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(b.Rows), len(want))
	}
	for i := range b.Rows {
		r, w := &b.Rows[i], want[i]
		got := fuzzRow{table: b.Str(r.Table), time: r.Time, line: r.Line}
		for _, tg := range b.RowTags(r) {
			got.tags = append(got.tags, [2]string{b.Str(tg.Key), b.Str(tg.Value)})
		}
		for _, f := range b.RowFields(r) {
			gf := wantField{key: b.Str(f.Key), typ: f.Type, num: f.Num}
			if f.Type == FieldString {
				gf.str = b.Str(f.Str)
			}
			got.fields = append(got.fields, gf)
		}
		if !got.equal(&w) {
			t.Fatalf("%s, row %d:\n got %s\nwant %s", what, i, got, w)
		}
	}
}

// fuzzScripts are seeds for FuzzBatchCodecRoundTrip: random scripts of
// several lengths.
func fuzzScripts() [][]byte {
	rng := rand.New(rand.NewPCG(20, 26))
	var out [][]byte
	for _, n := range []int{0, 1, 16, 64, 256, 1024, 4096, 4096, 16384} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		out = append(out, p)
	}
	// Mostly "same as the previous row" choices: the shared spans.
	p := make([]byte, 4096)
	for i := range p {
		if rng.IntN(4) > 0 {
			p[i] = 4 * byte(rng.IntN(64))
		} else {
			p[i] = byte(rng.Uint32())
		}
	}
	return append(out, p)
}

// FuzzBatchCodecRoundTrip: a batch built from the fuzzer's script
// (strings shared with the previous row or not, empty, with NUL, around
// the word compare's lengths; every field type with its extremes, NaNs
// and infinities; times jumping anywhere; lines anywhere; aborted rows;
// rows filtered in place; the batch reset and built again as a pooled one
// is) encodes in both versions to bytes that decode to exactly its rows,
// and the version 2 bytes of the decoded batch are the original's.
func FuzzBatchCodecRoundTrip(f *testing.F) {
	for _, p := range fuzzScripts() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		s := &script{p: p}
		var b Batch
		// Twice into the same batch: the second build starts from a
		// reset batch whose arena and slices hold the first's bytes.
		for pass := range 2 {
			want := buildFuzzBatch(s, &b)
			checkFuzzRows(t, fmt.Sprintf("pass %d, built", pass), &b, want)
			v2 := b.AppendBinary(nil)
			for _, enc := range []struct {
				name string
				p    []byte
			}{{"v2", v2}, {"v1", b.appendBinaryV1(nil)}} {
				var back Batch
				if err := back.UnmarshalBinary(enc.p); err != nil {
					t.Fatalf("pass %d, %s: %v", pass, enc.name, err)
				}
				checkFuzzRows(t, fmt.Sprintf("pass %d, %s", pass, enc.name), &back, want)
				if again := back.AppendBinary(nil); !bytes.Equal(again, v2) {
					t.Fatalf("pass %d, %s: the decoded batch encodes to %d bytes that differ from the original's %d", pass, enc.name, len(again), len(v2))
				}
			}
		}
	})
}

// FuzzBatchCodecDecode: any bytes decode to ErrBadBatch or to a batch
// whose every span lies in its arena and whose fields have valid types;
// either way without a panic, and holding no more rows, tags, fields or
// arena bytes than the input has bytes (a length prefix claiming 2^40
// bytes allocates nothing). An accepted batch encodes (version 2) to
// bytes that decode to it again.
func FuzzBatchCodecDecode(f *testing.F) {
	for _, p := range fuzzScripts() {
		var b Batch
		buildFuzzBatch(&script{p: p}, &b)
		f.Add(b.AppendBinary(nil))
		f.Add(b.appendBinaryV1(nil))
	}
	huge := binary.AppendUvarint(nil, 1<<40)
	for _, v := range []byte{1, 2, 3, 0, 255} {
		f.Add(append([]byte{v}, huge...))                  // the arena's length
		f.Add(append(append([]byte{v, 0}, huge...), 0, 0)) // the row count
		// One row (arena "x", table "x", time and line 0), then tag and
		// field counts of 2^40.
		row := []byte{v, 1, 'x', 1}
		if v == batchCodecV1 {
			row = append(row, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
		} else {
			row = append(row, 1, 1, 0, 0)
		}
		f.Add(append(append([]byte(nil), row...), huge...))
		f.Add(append(append(append([]byte(nil), row...), 0), huge...))
	}
	// Version 1 spans whose offset and length add up, modulo 2^64, to
	// less than the arena: off 2^64-5 and len 10.
	v1 := []byte{1, 8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 1}
	v1 = binary.AppendUvarint(v1, math.MaxUint64-4)
	v1 = binary.AppendUvarint(v1, 10)
	v1 = append(v1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	f.Add(v1)
	// Version 2 spans running past the arena's end.
	for _, span := range [][2]uint64{{3, 7}, {9, 1}, {1, 9}, {math.MaxUint64, 2}} {
		v2 := []byte{batchCodecVersion, 8, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 1}
		v2 = binary.AppendUvarint(v2, span[0])
		v2 = binary.AppendUvarint(v2, span[1])
		f.Add(append(v2, 0, 0, 0, 0))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var b Batch
		err := b.UnmarshalBinary(p)
		if len(b.Buf) > len(p) || len(b.Rows) > len(p) || len(b.Tags) > len(p) || len(b.Fields) > len(p) {
			t.Fatalf("%d input bytes decoded to %d arena bytes, %d rows, %d tags, %d fields",
				len(p), len(b.Buf), len(b.Rows), len(b.Tags), len(b.Fields))
		}
		if err != nil {
			if !errors.Is(err, ErrBadBatch) {
				t.Fatalf("%v is not ErrBadBatch", err)
			}
			return
		}
		in := func(s Span) bool { return uint64(s.Off)+uint64(s.Len) <= uint64(len(b.Buf)) }
		for i := range b.Rows {
			r := &b.Rows[i]
			if r.TagStart > r.TagEnd || int(r.TagEnd) > len(b.Tags) || r.FieldStart > r.FieldEnd || int(r.FieldEnd) > len(b.Fields) {
				t.Fatalf("row %d: tags [%d, %d) of %d, fields [%d, %d) of %d", i, r.TagStart, r.TagEnd, len(b.Tags), r.FieldStart, r.FieldEnd, len(b.Fields))
			}
			if !in(r.Table) {
				t.Fatalf("row %d: table %+v outside an arena of %d bytes", i, r.Table, len(b.Buf))
			}
			for _, tg := range b.RowTags(r) {
				if !in(tg.Key) || !in(tg.Value) {
					t.Fatalf("row %d: tag %+v outside an arena of %d bytes", i, tg, len(b.Buf))
				}
			}
			for _, f := range b.RowFields(r) {
				if !in(f.Key) || !in(f.Str) || f.Type < FieldFloat || f.Type > FieldString {
					t.Fatalf("row %d: field %+v (arena of %d bytes)", i, f, len(b.Buf))
				}
			}
		}
		want := make([]fuzzRow, len(b.Rows))
		for i := range b.Rows {
			r := &b.Rows[i]
			w := fuzzRow{table: b.Str(r.Table), time: r.Time, line: r.Line}
			for _, tg := range b.RowTags(r) {
				w.tags = append(w.tags, [2]string{b.Str(tg.Key), b.Str(tg.Value)})
			}
			for _, f := range b.RowFields(r) {
				wf := wantField{key: b.Str(f.Key), typ: f.Type, num: f.Num}
				if f.Type == FieldString {
					wf.str = b.Str(f.Str)
				}
				w.fields = append(w.fields, wf)
			}
			want[i] = w
		}
		var again Batch
		if err := again.UnmarshalBinary(b.AppendBinary(nil)); err != nil {
			t.Fatalf("an accepted batch, encoded again: %v", err)
		}
		checkFuzzRows(t, "encoded again", &again, want)
	})
}
