package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// BenchmarkHeadFilterTSBS is TSBS's high-cpu-1 over a head: every field
// of one host's rows in 12 hours where usage_user > 90 (about one row in
// ten), the filter tested before the other columns are gathered.
func BenchmarkHeadFilterTSBS(b *testing.B) {
	h, fields := tsbsHead(b)
	v := h.View()
	const instances = 16
	var keeps [][]bool
	for k := range instances {
		keeps = append(keeps, v.MatchSeries(map[string][]string{"hostname": {fmt.Sprintf("host_%d", (k*37+5)%100)}}))
	}
	cols := append([]string{"hostname"}, fields...)
	f := &RowFilter{Fields: []string{"usage_user"}, Keep: func(cb *columnar.ColumnBatch, out []int32) []int32 {
		fv := &cb.Fields[0]
		for r := range int32(cb.Len) {
			if !fv.IsNull(int(r)) && fv.I[r] > 90 {
				out = append(out, r)
			}
		}
		return out
	}}
	b.ReportAllocs()
	runtime.GC()
	cpu0 := processCPU(b)
	i := 0
	for b.Loop() {
		k := i % instances
		i++
		minT := int64(k%12) * 3600e9
		n := 0
		err := v.ScanRangeFiltered(cols, keeps[k], minT, minT+12*3600e9, 1024, f, func(cb *columnar.ColumnBatch) error {
			n += cb.Len
			return nil
		})
		if err != nil || n == 0 || n > 4320 {
			b.Fatalf("%d rows, %v", n, err)
		}
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// walkHead is a TSBS day of 100 hosts every 10 s in a head, its fields
// random walks as TSBS generates them (normal steps of deviation 1 from
// a uniform start, clamped to [0, 100], written as truncated integers):
// usage_user stays above 90 for stretches, as it does in TSBS's data, so
// most of a host's rows of a block cannot pass `usage_user > 90`.
func walkHead(b *testing.B) (*Head, []string) {
	const hosts, steps = 100, 8640
	s := columnar.NewTableSchema()
	h := NewHead(s)
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
		"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
	tagKeys := []string{"hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"}
	rng := rand.New(rand.NewPCG(123, 2))
	walk := make([][]float64, hosts)
	for i := range walk {
		walk[i] = make([]float64, len(fields))
		for f := range walk[i] {
			walk[i][f] = rng.Float64() * 100
		}
	}
	var batch columnar.Batch
	for step := range steps {
		for host := range hosts {
			batch.StartRow([]byte("cpu"), 0)
			for _, k := range tagKeys {
				v := fmt.Sprintf("%s_%d", k, host%7)
				if k == "hostname" {
					v = fmt.Sprintf("host_%d", host)
				}
				batch.AddTag([]byte(k), []byte(v))
			}
			for f, name := range fields {
				w := math.Min(100, math.Max(0, walk[host][f]+rng.NormFloat64()))
				walk[host][f] = w
				batch.AddNum([]byte(name), columnar.FieldInt, uint64(int64(w)))
			}
			batch.EndRow(int64(step) * 10e9)
		}
		if len(batch.Rows) >= 5000 || step == steps-1 {
			admitAll(b, s, h, &batch)
			batch.Reset()
		}
	}
	h.Finish()
	return h, append(tagKeys, fields...)
}

// BenchmarkHeadFilterWalk is TSBS's high-cpu-1 and high-cpu-all over a
// head of TSBS-shaped data: every column of the rows in 12 hours (one
// random host, or all) where usage_user > 90, with the filter's ranges
// test (MayPass) as the query engine gives it and without.
func BenchmarkHeadFilterWalk(b *testing.B) {
	h, cols := walkHead(b)
	v := h.View()
	keep := func(cb *columnar.ColumnBatch, out []int32) []int32 {
		fv := &cb.Fields[0]
		for r := range int32(cb.Len) {
			if !fv.IsNull(int(r)) && fv.I[r] > 90 {
				out = append(out, r)
			}
		}
		return out
	}
	mayPass := func(_ string, r FieldRange) bool {
		_, hi := r.Int()
		return r.Values && hi > 90
	}
	const instances = 16
	for _, hosts := range []int{1, 100} {
		var keeps [][]bool
		for k := range instances {
			if hosts == 100 {
				keeps = append(keeps, nil)
				continue
			}
			keeps = append(keeps, v.MatchSeries(map[string][]string{"hostname": {fmt.Sprintf("host_%d", (k*37+5)%100)}}))
		}
		for _, ranges := range []bool{true, false} {
			f := &RowFilter{Fields: []string{"usage_user"}, Keep: keep}
			if ranges {
				f.MayPass = mayPass
			}
			b.Run(fmt.Sprintf("hosts=%d/ranges=%v", hosts, ranges), func(b *testing.B) {
				for k := range instances { // zones built, as a live head's are after its first queries
					minT := int64(k%12) * 3600e9
					if err := v.ScanRangeFiltered(cols, keeps[k], minT, minT+12*3600e9, 64<<10, f, func(*columnar.ColumnBatch) error { return nil }); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				runtime.GC()
				cpu0 := processCPU(b)
				i, rows := 0, 0
				for b.Loop() {
					k := i % instances
					i++
					minT := int64(k%12) * 3600e9
					err := v.ScanRangeFiltered(cols, keeps[k], minT, minT+12*3600e9, 64<<10, f, func(cb *columnar.ColumnBatch) error {
						rows += cb.Len
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
