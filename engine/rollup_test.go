package engine

import (
	"math"
	"slices"
	"testing"
	"time"

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
