package engine

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// BenchmarkRaggedStart is a dashboard panel's refresh: a 15-minute range
// whose start slides by a second per refresh, over an hour of a hundred
// hosts' rows (one every 500 ms) in one segment, at the 10 s rollup
// width; the range's end is past the data. cache=off reads the start's
// window from the segment on every refresh, as before the window cache.
func BenchmarkRaggedStart(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run("cache="+map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			cfg := testConfig(b.TempDir())
			e, err := Open(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			if !on {
				e.windows = newWindowCache(0)
			}
			base := int64(1_767_225_600_000_000_000) // midnight
			s, ms := int64(time.Second), int64(time.Millisecond)
			// An hour in one segment, as compaction leaves the live
			// segments: a host's 10 s rollup rows fill pages of many
			// windows.
			n := 0
			var batch columnar.Batch
			for t := int64(0); t < 3600*s; t += 500 * ms {
				for h := range 100 {
					n++
					batch.StartRow([]byte("cpu"), n)
					batch.AddTag([]byte("hostname"), []byte("host_"+strconv.Itoa(h)))
					batch.AddFloat([]byte("usage_user"), float64(n%97))
					batch.EndRow(base + t + int64(h))
				}
			}
			if _, err := e.Write("db", &batch); err != nil {
				b.Fatal(err)
			}
			flush(b, e)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				lo := base + 45*60*s + int64(i%60)*s + 700*ms
				hi := lo + 15*60*s
				ts, err := e.OpenScanRollups("db", "cpu", lo, hi, []int64{10 * s, 5 * s, s})
				if err != nil {
					b.Fatal(err)
				}
				ts.Columns = []string{"hostname", "usage_user"}
				ts.RollupColumns = []string{"hostname", segment.RollupRows, segment.RollupColumn("usage_user", segment.PartSum)}
				if err := ts.RunBatches(context.Background(), func(*columnar.ColumnBatch) error { return nil }); err != nil {
					b.Fatal(err)
				}
				ts.Close()
			}
		})
	}
}
