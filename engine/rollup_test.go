package engine

import (
	"context"
	"math"
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
