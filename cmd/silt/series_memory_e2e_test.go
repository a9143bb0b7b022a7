package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/siltdb/silt/bench"
)

// TestNewSeriesWriteMemory: one write of many new series (each line a new
// series with a new tag value) into a real server. The peak RSS it causes
// stays within docs/memory.md's bound for writes: 1.25 × silt_head_bytes
// (the heads' maps hold their old table while they grow) plus six times
// the body in flight (its buffer, its decoded rows, its WAL record) plus
// 64 MiB of runtime slack. 200k series in CI; SILT_SERIES_WRITE=N
// writes N (the figures in docs/memory.md are for 1000000).
func TestNewSeriesWriteMemory(t *testing.T) {
	skipShort(t)
	n := 200_000
	if v := os.Getenv("SILT_SERIES_WRITE"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("SILT_SERIES_WRITE=%q: %v", v, err)
		}
	}
	h := newHarness(t)
	p := h.start(filepath.Join(h.dir, "data"), "--max-head-bytes", "2GiB", "--max-body-bytes", "128MiB",
		"--max-new-series-per-write", strconv.Itoa(n))
	var body []byte
	for i := range n {
		body = fmt.Appendf(body, "m,host=host_%d,dc=dc%d v=%di 1767225600000000000\n", i, i%10, i)
	}
	pid := p.cmd.Process.Pid
	bench.ResetPeakRSSOf(pid)
	idle, err := rssBytes(pid)
	if err != nil {
		t.Fatal(err)
	}
	code, resp, _, err := p.write("db", body)
	if err != nil || code != 204 {
		t.Fatalf("write: %d %s %v", code, resp, err)
	}
	rise := bench.PeakRSSOf(pid) - idle
	head, err := metricValue(p, "silt_head_bytes")
	if err != nil {
		t.Fatal(err)
	}
	heap, err := metricValue(p, "go_memstats_heap_inuse_bytes")
	if err != nil {
		t.Fatal(err)
	}
	bound := int64(head)*5/4 + 6*int64(len(body)) + 64<<20
	t.Logf("%d series, body %d MiB: silt_head_bytes %d MiB, heap in use %d MiB, peak RSS rose %d MiB (bound %d MiB)",
		n, len(body)>>20, int64(head)>>20, int64(heap)>>20, rise>>20, bound>>20)
	if rise > bound {
		t.Errorf("peak RSS rose %d MiB, more than %d MiB", rise>>20, bound>>20)
	}
}
