package segment_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// matchHeads caches the benchmark heads by series count: building a head
// of a million series takes seconds.
var matchHeads sync.Map

// matchHead returns a head of n series with TSBS's cpu tags (hostname
// unique per series, region 10 values, datacenter 30, rack 100, os 3,
// service 20), one row each.
func matchHead(b *testing.B, n int) *segment.Head {
	if h, ok := matchHeads.Load(n); ok {
		return h.(*segment.Head)
	}
	s := columnar.NewTableSchema()
	h := segment.NewHead(s)
	var batch columnar.Batch
	for lo := 0; lo < n; lo += 10000 {
		batch.Reset()
		for i := lo; i < min(lo+10000, n); i++ {
			batch.StartRow([]byte("cpu"), i+1)
			batch.AddTag([]byte("hostname"), fmt.Appendf(nil, "host_%d", i))
			batch.AddTag([]byte("region"), fmt.Appendf(nil, "region_%d", i%10))
			batch.AddTag([]byte("datacenter"), fmt.Appendf(nil, "dc_%d", i%30))
			batch.AddTag([]byte("rack"), fmt.Appendf(nil, "rack_%d", i%100))
			batch.AddTag([]byte("os"), fmt.Appendf(nil, "os_%d", i%3))
			batch.AddTag([]byte("service"), fmt.Appendf(nil, "svc_%d", i%20))
			batch.AddFloat([]byte("usage_user"), float64(i))
			batch.EndRow(int64(i))
		}
		for r := range batch.Rows {
			if err := s.Admit(&batch, &batch.Rows[r]); err != nil {
				b.Fatal(err)
			}
			h.Append(&batch, &batch.Rows[r], r > 0)
		}
	}
	matchHeads.Store(n, h)
	return h
}

// BenchmarkMatchSeries measures the series filter of a head query (the
// keep vector every head reader takes) over a View, as queries take it.
func BenchmarkMatchSeries(b *testing.B) {
	cases := []struct {
		name string
		tags map[string][]string
	}{
		{"host", map[string][]string{"hostname": {"host_77"}}},
		{"8hosts", map[string][]string{"hostname": {"host_1", "host_7", "host_70", "host_700", "host_7000", "host_70000", "host_5", "host_99999"}}},
		{"region", map[string][]string{"region": {"region_3"}}},
		{"region+os", map[string][]string{"region": {"region_3", "region_4"}, "os": {"os_1"}}},
		{"dc+rack+host", map[string][]string{"datacenter": {"dc_7"}, "rack": {"rack_7", "rack_37"}, "hostname": {"host_7", "host_37", "host_8"}}},
	}
	for _, n := range []int{100_000, 1_000_000} {
		for _, c := range cases {
			b.Run(fmt.Sprintf("series=%d/%s", n, c.name), func(b *testing.B) {
				v := matchHead(b, n).View()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					keep := v.MatchSeries(c.tags)
					if len(keep) != n {
						b.Fatalf("keep covers %d series, want %d", len(keep), n)
					}
				}
			})
		}
	}
}

// BenchmarkAppendNewSeries measures ingest at its most index-heavy: every
// row a new series (a unique hostname and five tags of few values), which
// is what the series index adds work to. bytes/series is the head's
// accounted memory per series.
func BenchmarkAppendNewSeries(b *testing.B) {
	s := columnar.NewTableSchema()
	h := segment.NewHead(s)
	var batch columnar.Batch
	b.ReportAllocs()
	for lo := 0; lo < b.N; lo += 10000 {
		b.StopTimer()
		batch.Reset()
		for i := lo; i < min(lo+10000, b.N); i++ {
			batch.StartRow([]byte("cpu"), i+1)
			batch.AddTag([]byte("hostname"), fmt.Appendf(nil, "host_%d", i))
			batch.AddTag([]byte("region"), fmt.Appendf(nil, "region_%d", i%10))
			batch.AddTag([]byte("datacenter"), fmt.Appendf(nil, "dc_%d", i%30))
			batch.AddTag([]byte("rack"), fmt.Appendf(nil, "rack_%d", i%100))
			batch.AddTag([]byte("os"), fmt.Appendf(nil, "os_%d", i%3))
			batch.AddTag([]byte("service"), fmt.Appendf(nil, "svc_%d", i%20))
			batch.AddFloat([]byte("usage_user"), float64(i))
			batch.EndRow(int64(i))
		}
		b.StartTimer()
		for r := range batch.Rows {
			if err := s.Admit(&batch, &batch.Rows[r]); err != nil {
				b.Fatal(err)
			}
			h.Append(&batch, &batch.Rows[r], r > 0)
		}
	}
	b.ReportMetric(float64(h.Bytes())/float64(max(h.Series(), 1)), "bytes/series")
}
