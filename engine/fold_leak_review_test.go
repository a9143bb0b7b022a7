package engine

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutinesNamed counts the goroutines whose stack names fn.
func goroutinesNamed(fn string) int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// Engines opened, written to (sealing many dense blocks, whose rollup
// parts go to the background folder) and closed one after another leave
// no more goroutines behind than the first did.
func TestEngineCloseLeavesNoGoroutines(t *testing.T) {
	cycle := func() {
		e := open(t, testConfig(t.TempDir()))
		sec := int64(time.Second)
		base := time.Now().Add(-2 * time.Hour).Truncate(time.Hour).UnixNano()
		var pts []point
		for i := range 40000 {
			pts = append(pts, point{"m", fmt.Sprintf("h%d", i%4), base + int64(i/4)*sec, float64(i)})
		}
		write(t, e, "db", pts...)
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cycle()
	time.Sleep(100 * time.Millisecond)
	first := runtime.NumGoroutine()
	t.Logf("after one engine: %d goroutines, %d in the segment package", first, goroutinesNamed("silt/segment."))
	for range 3 {
		cycle()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > first && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > first {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after four engines, %d after one:\n%s", n, first, buf[:runtime.Stack(buf, true)])
	}
	t.Logf("segment-package goroutines left after Close: %d", goroutinesNamed("silt/segment."))
}
