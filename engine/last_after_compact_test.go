package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
)

// The first lastpoint query after a compaction, and the one after it, at
// SILT_LAST_COMPACT_SERIES series of ten float fields, written in
// SILT_LAST_COMPACT_FLUSHES flushes (default 6) of SILT_LAST_COMPACT_ROWS
// rows per series (default 1, 10 s apart) and then compacted into one
// window. A measurement, not a check: run it alone
// with -v.
func TestLastAfterCompactionTiming(t *testing.T) {
	series, _ := strconv.Atoi(os.Getenv("SILT_LAST_COMPACT_SERIES"))
	if series <= 0 {
		t.Skip("set SILT_LAST_COMPACT_SERIES to measure")
	}
	flushes := 6
	if v, err := strconv.Atoi(os.Getenv("SILT_LAST_COMPACT_FLUSHES")); err == nil && v > 0 {
		flushes = v
	}
	rows := 1
	if v, err := strconv.Atoi(os.Getenv("SILT_LAST_COMPACT_ROWS")); err == nil && v > 0 {
		rows = v
	}
	cfg := noCompactConfig(t.TempDir())
	cfg.Compaction.Policy = compaction.DefaultPolicy
	e := open(t, cfg)
	defer e.Close()
	base := time.Now().Truncate(24 * time.Hour).Add(-36 * time.Hour).UnixNano()
	var b columnar.Batch
	cols := []string{"host"}
	for k := range 10 {
		cols = append(cols, fmt.Sprint("f", k))
	}
	for f := range flushes {
		for r := range rows {
			for lo := 0; lo < series; lo += 10000 {
				b.Reset()
				for i := lo; i < min(lo+10000, series); i++ {
					b.StartRow([]byte("cpu"), i-lo+1)
					b.AddTag([]byte("host"), fmt.Appendf(nil, "host_%d", i))
					for k := range 10 {
						b.AddFloat([]byte(cols[1+k]), float64(i+k+f+r))
					}
					b.EndRow(base + int64(f*rows+r)*int64(10*time.Second))
				}
				if _, err := e.Write("db", &b); err != nil {
					t.Fatal(err)
				}
			}
		}
		flush(t, e)
	}
	lastpoint := func() time.Duration {
		start := time.Now()
		ts, err := e.OpenScanRange("db", "cpu", math.MinInt64, math.MaxInt64)
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		ts.Columns, ts.LastOnly = cols, true
		n := 0
		if err := ts.RunBatches(context.Background(), func(cb *columnar.ColumnBatch) error { n += cb.Len; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != series {
			t.Fatalf("%d rows, want one per series (%d)", n, series)
		}
		return time.Since(start)
	}
	t.Logf("before compaction (%d segments): %s", len(e.Manifest().Raw()), lastpoint())
	start := time.Now()
	compact(t, e)
	took := time.Since(start)
	first := lastpoint()
	t.Logf("compaction into %d segments: %s; first lastpoint after it: %s, second: %s", len(e.Manifest().Raw()), took.Round(time.Millisecond), first, lastpoint())
}
