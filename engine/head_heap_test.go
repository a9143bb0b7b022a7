package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// TestHeadBytesTrackHeapDashboardLoad: what --max-head-bytes bounds
// (HeadBytes) is the heap the heads really take on the dashboard
// benchmark's load — TSBS cpu rows (ten tags, ten float fields), 100 hosts
// writing a row each per round in batches of 5,000 through Write, so the
// heads' sealed blocks, block rollups and series index are built as a
// server builds them — within a narrow band, and a flush gives that heap
// back. The oracle is the runtime's live heap after a collection
// (runtime.MemStats), not the estimate's own arithmetic. The default soft
// memory limit (DefaultMemoryLimit) counts the heads at their bound: an
// estimate that undercounts them would let the live set pass the limit
// and keep the collector busy; one that overcounts would send writes 429
// with memory to spare.
func TestHeadBytesTrackHeapDashboardLoad(t *testing.T) {
	const hosts = 100
	rounds := 4000 // 400k rows: about 40 MiB of heads
	if testing.Short() {
		rounds = 1000
	}
	cfg := noCompactConfig(t.TempDir())
	cfg.NoSync = true
	e := open(t, cfg)
	defer func() { _ = e.Close() }()

	tagNames := []string{"hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"}
	tagCard := []int{hosts, 9, 27, 100, 3, 2, 4, 20, 2, 3}
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
	var tagVals [][][]byte // per tag, per host
	for k, name := range tagNames {
		var vs [][]byte
		for h := range hosts {
			vs = append(vs, fmt.Appendf(nil, "%s_%d", name, (h*7+k)%tagCard[k]))
		}
		tagVals = append(tagVals, vs)
	}
	var b columnar.Batch
	base := time.Now().Add(-24 * time.Hour).UnixNano()
	writeRounds := func(from, to int) {
		line := 0
		for r := from; r < to; r++ {
			for h := range hosts {
				line++
				b.StartRow([]byte("cpu"), line)
				for k, name := range tagNames {
					b.AddTag([]byte(name), tagVals[k][h])
				}
				for k, name := range fields {
					b.AddFloat([]byte(name), float64((r*31+h*17+k)%1000)/10)
				}
				b.EndRow(base + int64(r)*int64(10*time.Second))
				if line == 5000 {
					if _, err := e.Write("db", &b); err != nil {
						t.Fatal(err)
					}
					b.Reset()
					line = 0
				}
			}
		}
		if line > 0 {
			if _, err := e.Write("db", &b); err != nil {
				t.Fatal(err)
			}
			b.Reset()
		}
	}
	// One warm round first: the engine's and the batch's reused buffers
	// (WAL record pools, the batch's arena) are then in the baseline, not
	// in what the heads are measured to take.
	writeRounds(0, 50)
	flush(t, e)
	heap0 := liveHeap()
	writeRounds(50, rounds)
	heap1 := liveHeap()
	acc := e.HeadBytes()
	grown := heap1 - heap0
	ratio := float64(grown) / float64(acc)
	t.Logf("%d rows: head bytes %d, live heap grew %d (%.3f× head bytes)", (rounds-50)*hosts, acc, grown, ratio)
	// Measured 1.04: the heads' columns are chunks allocated whole and
	// counted by capacity; the band leaves room for map growth steps, not
	// for a structure left out of the count (the sealed blocks' index
	// alone is about a sixth of the heads here).
	if ratio < 0.92 || ratio > 1.12 {
		t.Errorf("the heads took %d bytes of heap for %d counted by HeadBytes (%.3f×), want 0.92–1.12×", grown, acc, ratio)
	}
	flush(t, e)
	heap2 := liveHeap()
	if e.HeadBytes() != 0 {
		t.Errorf("head bytes %d after a flush, want 0", e.HeadBytes())
	}
	// What stays after the flush is the segments' handles, summaries and
	// the manifest: a small fraction of the heads.
	if left := heap2 - heap0; left > grown/10 {
		t.Errorf("after the flush the live heap is %d bytes above the warm baseline, more than a tenth of the %d the heads took", left, grown)
	}
	runtime.KeepAlive(&b)
}

// liveHeap is the live heap after collections: what is reachable.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
