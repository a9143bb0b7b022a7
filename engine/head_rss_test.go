package engine

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// procStatus returns a field of /proc/self/status in bytes (VmRSS, VmHWM).
func procStatus(t *testing.T, field string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("parse %s: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// The head's accounted bytes (what --max-head-bytes bounds) against the
// memory the process really holds for it, at SILT_HEAD_RSS_SERIES series
// (1000000 for the figure in the notes) of TSBS's cpu table: ten tags
// (hostname unique per series) and ten float fields, SILT_HEAD_RSS_ROWS
// rows per series (default 1), written through the engine in batches of
// 10k rows as the HTTP write path gives them. A measurement, not a check:
// run it alone, with -v, on a quiet machine. SILT_HEAD_RSS_HEAPPROFILE
// names a file for a heap profile taken at the end.
func TestHeadBytesAgainstRSS(t *testing.T) {
	series, _ := strconv.Atoi(os.Getenv("SILT_HEAD_RSS_SERIES"))
	if series <= 0 {
		t.Skip("set SILT_HEAD_RSS_SERIES to measure")
	}
	rows := 1
	if v, err := strconv.Atoi(os.Getenv("SILT_HEAD_RSS_ROWS")); err == nil && v > 0 {
		rows = v
	}
	cfg := noCompactConfig(t.TempDir())
	cfg.MaxHeadBytes, cfg.FlushBytes = 64<<30, 32<<30 // never flush
	e := open(t, cfg)
	defer func() { _ = e.crash() }() // a flush of it all would take minutes
	tagNames := []string{"hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"}
	tagCard := []int{0, 10, 30, 100, 3, 2, 4, 20, 2, 3}
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
	var keys [][]byte
	for _, n := range append(tagNames, fields...) {
		keys = append(keys, []byte(n))
	}
	measure := func() (heap, rss int64) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc), procStatus(t, "VmRSS")
	}
	heap0, rss0 := measure()
	start := time.Now()
	var b columnar.Batch
	base := time.Now().Add(-time.Hour).UnixNano()
	var val []byte
	for r := range rows {
		for lo := 0; lo < series; lo += 10000 {
			b.Reset()
			for i := lo; i < min(lo+10000, series); i++ {
				b.StartRow([]byte("cpu"), i-lo+1)
				for k, name := range keys[:len(tagNames)] {
					if k == 0 {
						val = fmt.Appendf(val[:0], "host_%d", i)
					} else {
						val = fmt.Appendf(val[:0], "%s_%d", name, i%tagCard[k])
					}
					b.AddTag(name, val)
				}
				for k, name := range keys[len(tagNames):] {
					b.AddFloat(name, float64((i+k+r)%100))
				}
				b.EndRow(base + int64(r)*int64(10*time.Second))
			}
			if _, err := e.Write("db", &b); err != nil {
				t.Fatal(err)
			}
		}
	}
	took := time.Since(start)
	heap1, rss1 := measure()
	if path := os.Getenv("SILT_HEAD_RSS_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	acc := e.HeadBytes()
	hwm := procStatus(t, "VmHWM")
	mib := func(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
	t.Logf("%d series × %d rows written in %s", series, rows, took.Round(time.Millisecond))
	t.Logf("head bytes (accounted): %s, %.0f B per series", mib(acc), float64(acc)/float64(series))
	t.Logf("Go heap after GC, growth: %s (%.2f× accounted)", mib(heap1-heap0), float64(heap1-heap0)/float64(acc))
	t.Logf("RSS after GC and FreeOSMemory, growth: %s (%.2f× accounted)", mib(rss1-rss0), float64(rss1-rss0)/float64(acc))
	t.Logf("peak RSS of the process: %s (%.2f× accounted)", mib(hwm), float64(hwm)/float64(acc))
}
