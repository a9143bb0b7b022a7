package segment

import (
	"fmt"
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
