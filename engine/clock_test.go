package engine

import (
	"testing"
	"time"

	"github.com/siltdb/silt/segment"
)

func rawSegments(e *Engine) []segment.SegmentMeta {
	var out []segment.SegmentMeta
	for _, s := range e.Manifest().Segments {
		if !s.IsRollup() {
			out = append(out, s)
		}
	}
	return out
}

// The write clock never repeats or goes back, with the wall clock stepping
// back or standing still, and moves past what it observes.
func TestWriteClock(t *testing.T) {
	wall := int64(1000)
	c := &writeClock{wall: func() int64 { return wall }}
	a := c.Now()
	wall = 500 // a step back
	b := c.Now()
	if a != 1000 || b != 1001 {
		t.Fatalf("stamps %d, %d", a, b)
	}
	c.Observe(5000)
	c.Observe(10) // older: no effect
	if s := c.Now(); s != 5001 {
		t.Fatalf("after observing 5000: %d", s)
	}
	wall = 9000
	if s := c.Now(); s != 9000 {
		t.Fatalf("wall clock ahead again: %d", s)
	}
}

// Flushed segments record the write stamps of their rows, later flushes
// later ones; the manifest keeps the newest, and a restart's clock
// continues past it; compaction outputs take their inputs' range.
func TestSegmentWriteStamps(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Compaction = CompactionConfig{Interval: time.Hour}
	e := open(t, cfg)
	before := time.Now().UnixNano()
	write(t, e, "db", point{"cpu", "a", 1e9, 1}, point{"cpu", "b", 1e9, 1})
	write(t, e, "db", point{"cpu", "a", 2e9, 2})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, e, "db", point{"cpu", "a", 1e9, 3})
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	segs := rawSegments(e)
	if len(segs) != 2 {
		t.Fatalf("%d segments", len(segs))
	}
	s1, s2 := segs[0], segs[1]
	if !(before <= s1.WriteMin && s1.WriteMin < s1.WriteMax && s1.WriteMax < s2.WriteMin && s2.WriteMin == s2.WriteMax) {
		t.Fatalf("stamps [%d,%d] [%d,%d] (start %d)", s1.WriteMin, s1.WriteMax, s2.WriteMin, s2.WriteMax, before)
	}
	if c := e.Manifest().Clock; c != s2.WriteMax {
		t.Fatalf("manifest clock %d, newest stamp %d", c, s2.WriteMax)
	}
	if err := e.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	out := rawSegments(e)
	if len(out) != 1 || out[0].WriteMin != s1.WriteMin || out[0].WriteMax != s2.WriteMax {
		t.Fatalf("compaction output %+v, inputs' range [%d,%d]", out, s1.WriteMin, s2.WriteMax)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, cfg)
	defer e.Close()
	e.clock.wall = func() int64 { return 1 } // a host whose clock went back
	if s := e.clock.Now(); s <= s2.WriteMax {
		t.Fatalf("after a restart the clock stamps %d, not past %d", s, s2.WriteMax)
	}
}
