package engine

import (
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
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
		raw := columnar.SegmentMeta{Rows: rows, Series: 100, MinTime: base, MaxTime: base + tc.span - int64(tc.interval)}
		if got := c.denseWidths(raw, widths); len(got) != tc.want {
			t.Errorf("%s: widths %v", tc.name, got)
		}
	}
}
