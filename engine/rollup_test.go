package engine

import (
	"context"
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// Rollups are kept only where their windows are dense enough to pay.
func TestRollupDenseWidths(t *testing.T) {
	c := RollupConfig{}
	c.defaults()
	day := int64(24 * time.Hour)
	base := int64(1_767_225_600_000_000_000) // midnight
	widths := []int64{int64(time.Minute), int64(time.Hour)}
	for _, tc := range []struct {
		name     string
		interval time.Duration
		span     int64
		want     int
	}{
		{"10 s data, a day: the hour only", 10 * time.Second, day, 1},
		{"1 s data, a day: both", time.Second, day, 2},
		{"10 s data, 1 minute: neither", 10 * time.Second, int64(time.Minute), 0},
		{"10 s data, 10 minutes: the hour", 10 * time.Second, int64(10 * time.Minute), 1},
	} {
		rows := 100 * tc.span / int64(tc.interval)
		raw := segment.SegmentMeta{Rows: rows, Series: 100, MinTime: base, MaxTime: base + tc.span - int64(tc.interval)}
		if got := c.denseWidths(raw, widths); len(got) != tc.want {
			t.Errorf("%s: widths %v", tc.name, got)
		}
	}
}

// The coarsest width takes the longest aligned stretch, finer widths the
// ragged ends, raw rows the rest; unbounded ends stay unbounded.
func TestRollupPieces(t *testing.T) {
	m, h := int64(time.Minute), int64(time.Hour)
	base := int64(1_767_225_600_000_000_000)
	at := func(d time.Duration) int64 { return base + int64(d) }
	for _, tc := range []struct {
		lo, hi int64
		want   []piece
	}{
		{at(0), at(3 * time.Hour), []piece{{timeSpan{at(0), at(3 * time.Hour)}, h}}},
		{at(17*time.Minute + 30*time.Second), at(2*time.Hour + 5*time.Minute + 10*time.Second), []piece{
			{timeSpan{at(17*time.Minute + 30*time.Second), at(18 * time.Minute)}, 0},
			{timeSpan{at(18 * time.Minute), at(time.Hour)}, m},
			{timeSpan{at(time.Hour), at(2 * time.Hour)}, h},
			{timeSpan{at(2 * time.Hour), at(2*time.Hour + 5*time.Minute)}, m},
			{timeSpan{at(2*time.Hour + 5*time.Minute), at(2*time.Hour + 5*time.Minute + 10*time.Second)}, 0},
		}},
		{at(10 * time.Second), at(50 * time.Second), []piece{{timeSpan{at(10 * time.Second), at(50 * time.Second)}, 0}}},
		{math.MinInt64, math.MaxInt64, []piece{{timeSpan{math.MinInt64, math.MaxInt64}, h}}},
		{at(30 * time.Minute), math.MaxInt64, []piece{{timeSpan{at(30 * time.Minute), at(time.Hour)}, m}, {timeSpan{at(time.Hour), math.MaxInt64}, h}}},
		{at(time.Hour), at(time.Hour), nil},
	} {
		if got := rollupPieces(timeSpan{tc.lo, tc.hi}, []int64{h, m}); !slices.Equal(got, tc.want) {
			t.Errorf("[%d, %d): %v, want %v", tc.lo-base, tc.hi-base, got, tc.want)
		}
	}
}

// A head whose integer sum overflows within a window answers that rollup
// piece with its raw rows (which report the overflow as the query engine
// does); a range without the overflowing window still gets partials.
func TestHeadRollupOverflowReadsRaw(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	var b columnar.Batch
	row := 0
	for w := range 3 { // three minutes, 10 rows each
		for i := range 10 {
			v := int64(i)
			if w == 1 {
				v = math.MaxInt64 / 4 // ten of them overflow the minute's sum
			}
			row++
			b.StartRow([]byte("m"), row)
			b.AddTag([]byte("host"), []byte("a"))
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(v))
			b.EndRow(int64(w)*int64(time.Minute) + int64(i)*int64(time.Second))
		}
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	for _, overflow := range []bool{true, false} {
		lo, hi := int64(0), int64(3*time.Minute)
		if !overflow {
			lo, hi = int64(2*time.Minute), int64(3*time.Minute) // the third minute only
		}
		ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{int64(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		ts.Columns = []string{"host", "n"}
		ts.RollupColumns = []string{"host", segment.RollupRows, segment.RollupColumn("n", segment.PartCount), segment.RollupColumn("n", segment.PartSum)}
		raw, partial := 0, 0
		err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			if b.Rollup != 0 {
				partial += b.Len
			} else {
				raw += b.Len
			}
			return nil
		})
		_ = ts.Close()
		if err != nil {
			t.Fatalf("overflow %v: %v", overflow, err)
		}
		if overflow && (raw != 30 || partial != 0) {
			t.Errorf("overflowing range: %d raw rows and %d partials, want 30 raw", raw, partial)
		}
		if !overflow && (raw != 0 || partial != 1) {
			t.Errorf("one clean minute: %d raw rows and %d partials, want one partial", raw, partial)
		}
	}
}

// A long rollup piece is cut into pieces of whole windows that cover it
// exactly, in order; short pieces, raw pieces and unbounded ones stay.
func TestSplitPieces(t *testing.T) {
	m := int64(time.Minute)
	base := int64(1_767_225_600_000_000_000)
	long := piece{timeSpan{base, base + 721*m}, m}
	for _, tc := range []struct {
		in    []piece
		parts int
		want  int // pieces out
	}{
		{[]piece{long}, 2, 2},
		{[]piece{long}, 3, 3},
		{[]piece{long}, 8, 3}, // at least minSplitWindows each
		{[]piece{long}, 1, 1},
		{[]piece{{timeSpan{base, base + 479*m}, m}}, 2, 1},
		{[]piece{{timeSpan{base, base + 721*m}, 0}}, 2, 1},
		{[]piece{{timeSpan{base, math.MaxInt64}, m}}, 2, 1},
		{[]piece{{timeSpan{base - 30e9, base}, 0}, long, {timeSpan{base + 721*m, base + 721*m + 5e9}, 0}}, 2, 4},
	} {
		got := splitPieces(tc.in, tc.parts)
		if len(got) != tc.want {
			t.Errorf("%v into %d: %d pieces %v, want %d", tc.in, tc.parts, len(got), got, tc.want)
			continue
		}
		// The pieces tile the input, each of the width of the one it
		// came from, aligned on it.
		lo := tc.in[0].lo
		for _, p := range got {
			if p.lo != lo || p.hi <= p.lo && p.hi != math.MaxInt64 {
				t.Fatalf("%v into %d: %v does not follow at %d", tc.in, tc.parts, got, lo)
			}
			if p.w > 0 && p.hi != math.MaxInt64 && ((p.hi-p.lo)%p.w != 0 || (p.lo-base)%p.w != 0) {
				t.Fatalf("%v into %d: %v not of whole windows", tc.in, tc.parts, p)
			}
			lo = p.hi
		}
		if last := tc.in[len(tc.in)-1].hi; lo != last {
			t.Fatalf("%v into %d: pieces end at %d, want %d", tc.in, tc.parts, lo, last)
		}
	}
}

// A head's long per-minute read, cut into pieces folded by tasks of their
// own (splitPieces), passes each minute's partials once: counts and sums
// per minute equal those of the rows written.
func TestHeadLongRollupReadSplit(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		t.Skip("one core: the read is not split")
	}
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	var b columnar.Batch
	type acc struct{ n, sum int64 }
	want := map[int64]acc{}
	const step = 10 * time.Second
	row := 0
	for i := range int(12 * time.Hour / step) {
		for h, host := range []string{"a", "b"} {
			row++
			v := int64(i*7+h) % 1000
			tm := int64(i) * int64(step)
			b.StartRow([]byte("m"), row)
			b.AddTag([]byte("host"), []byte(host))
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(v))
			b.EndRow(tm)
			if host == "a" {
				a := want[segment.WindowStart(tm, int64(time.Minute))]
				a.n++
				a.sum += v
				want[segment.WindowStart(tm, int64(time.Minute))] = a
			}
		}
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(0), int64(12*time.Hour)
	if n := len(splitPieces([]piece{{timeSpan{lo, hi}, int64(time.Minute)}}, runtime.GOMAXPROCS(0))); n < 2 {
		t.Fatalf("the read is cut into %d pieces: the test needs several", n)
	}
	ts, err := e.OpenScanRollups("db", "m", lo, hi, []int64{int64(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ts.Columns = []string{"n"}
	ts.Tags = map[string][]string{"host": {"a"}}
	ts.RollupColumns = []string{segment.RollupRows, segment.RollupColumn("n", segment.PartCount), segment.RollupColumn("n", segment.PartSum)}
	got := map[int64]acc{}
	err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		if b.Rollup == 0 {
			t.Fatalf("%d raw rows: want partials only", b.Len)
		}
		var cnt, sum *columnar.FieldVector
		for i := range b.Fields {
			switch b.Fields[i].Name {
			case segment.RollupColumn("n", segment.PartCount):
				cnt = &b.Fields[i]
			case segment.RollupColumn("n", segment.PartSum):
				sum = &b.Fields[i]
			}
		}
		for i := range b.Len {
			if _, dup := got[b.Time[i]]; dup {
				t.Fatalf("minute %d passed twice", b.Time[i])
			}
			got[b.Time[i]] = acc{cnt.I[i], sum.I[i]}
		}
		return nil
	})
	_ = ts.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d minutes, want %d", len(got), len(want))
	}
	for w, a := range want {
		if got[w] != a {
			t.Fatalf("minute %d: count/sum %v, want %v", w, got[w], a)
		}
	}
}
