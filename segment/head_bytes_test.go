package segment_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/segment"
)

// TestHeadBytesTrackHeap: a head's Bytes, which --max-head-bytes bounds,
// is close to the heap the head really takes, also when every row is a new
// series with a new tag value (the case where maps and dictionaries, not
// columns, hold the memory). Measured as the live heap after a collection,
// with the decoded batch kept alive on both sides.
func TestHeadBytesTrackHeap(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 50_000
	}
	for _, shape := range []struct {
		name string
		line func(i int) string
	}{
		{"new series, new values", func(i int) string {
			return fmt.Sprintf("m,host=host_%d,dc=dc%d v=%di 1767225600000000000\n", i, i%10, i)
		}},
		{"1000 series, many rows", func(i int) string {
			return fmt.Sprintf("m,host=host_%d,dc=dc%d v=%di %d\n", i%1000, i%10, i, 1767225600000000000+int64(i))
		}},
	} {
		t.Run(shape.name, func(t *testing.T) {
			var body []byte
			for i := range n {
				body = append(body, shape.line(i)...)
			}
			var batch columnar.Batch
			lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
			if len(batch.Rows) != n {
				t.Fatalf("decoded %d rows of %d", len(batch.Rows), n)
			}
			s := columnar.NewTableSchema()
			before := liveHeap()
			h := segment.NewHead(s)
			for r := range batch.Rows {
				if err := s.Admit(&batch, &batch.Rows[r]); err != nil {
					t.Fatal(err)
				}
				h.Append(&batch, &batch.Rows[r], r > 0)
			}
			used := liveHeap() - before
			runtime.KeepAlive(h)
			runtime.KeepAlive(&batch)
			ratio := float64(h.Bytes()) / float64(used)
			t.Logf("%d rows, %d series: Bytes %d, heap %d (%.2f)", n, h.Series(), h.Bytes(), used, ratio)
			if ratio < 0.8 || ratio > 1.5 {
				t.Errorf("Bytes %d for %d bytes of heap: %.2f of it, want 0.8-1.5", h.Bytes(), used, ratio)
			}
		})
	}
}

func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
