package engine

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestGCPercentFor: the slack gcPercentFor leaves (live × percent / 100) is
// the largest of the non-head live bytes, a quarter of the heads and
// gcMinSlack, within GOGC 10..100 — computed here from that rule, case by
// case, against heaps from empty to 8 GiB.
func TestGCPercentFor(t *testing.T) {
	const mib = int64(1 << 20)
	for _, c := range []struct{ live, heads int64 }{
		{0, 0}, {1 * mib, 0}, {64 * mib, 60 * mib}, {100 * mib, 90 * mib}, {165 * mib, 140 * mib},
		{400 * mib, 100 * mib}, {600 * mib, 560 * mib}, {1024 * mib, 1000 * mib}, {8192 * mib, 8100 * mib},
		{300 * mib, 500 * mib}, // heads counted above the live heap (copies, estimates): all of it is theirs
		{200 * mib, -1},
	} {
		got := gcPercentFor(c.live, c.heads)
		if got < 10 || got > 100 {
			t.Errorf("live %d heads %d: GOGC %d outside 10..100", c.live, c.heads, got)
			continue
		}
		if c.live <= 0 {
			if got != 100 {
				t.Errorf("empty heap: GOGC %d, want the default 100", got)
			}
			continue
		}
		heads := min(max(c.heads, 0), c.live)
		want := c.live - heads
		if q := heads / 4; q > want {
			want = q
		}
		if gcMinSlack > want {
			want = gcMinSlack
		}
		slack := c.live * int64(got) / 100
		switch {
		case got == 100 && slack <= want: // capped: no more than GOGC's default
		case got == 10 && slack >= want: // floored
		case slack > want || slack < want-c.live/100: // within a percent, rounding down
			t.Errorf("live %d MiB heads %d MiB: GOGC %d leaves %d MiB, want %d MiB", c.live/mib, c.heads/mib, got, slack/mib, want/mib)
		}
	}
	// No heads: the runtime's own pacing; large heads: far less.
	if got := gcPercentFor(100*mib, 0); got != 100 {
		t.Errorf("live 100 MiB, no heads: GOGC %d, want 100", got)
	}
	if got := gcPercentFor(1024*mib, 1000*mib); got > 30 {
		t.Errorf("live 1 GiB of heads: GOGC %d, want the heads' quarter (25)", got)
	}
}

// TestPaceCollector: with heads filling most of the live heap, the runtime's
// GC percentage (read back from the runtime, debug.SetGCPercent) falls below
// 100 to what gcPercentFor says for the heap after a collection, and stop
// restores the percentage before.
func TestPaceCollector(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC set in the environment: the pacing stands aside")
	}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	defer func(s int64) { gcMinSlack = s }(gcMinSlack)
	gcMinSlack = 1 << 20 // so that heads of a few MiB count
	cfg := noCompactConfig(t.TempDir())
	cfg.NoSync = true
	cfg.MaxHeadBytes, cfg.FlushBytes = 1<<30, 1<<30
	e := open(t, cfg)
	defer func() { _ = e.Close() }()
	var pts []point
	for i := range 300_000 {
		pts = append(pts, point{"m", "h" + string(rune('a'+i%26)), int64(i) * 1e9, float64(i)})
	}
	write(t, e, "db", pts...)
	pts = nil
	runtime.GC()
	if e.HeadBytes() < 8*gcMinSlack {
		t.Fatalf("head bytes %d: the test wants heads above eight times the least slack (%d)", e.HeadBytes(), 2*gcMinSlack)
	}
	stop := e.PaceCollector(time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	var got int
	for {
		got = debug.SetGCPercent(-1)
		debug.SetGCPercent(got)
		if got < 100 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC still %d with heads of %d bytes", got, e.HeadBytes())
		}
		time.Sleep(time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if want := gcPercentFor(int64(ms.HeapAlloc), e.HeadBytes()); got < want-15 || got > want+15 {
		t.Errorf("GOGC %d, want about %d (heap %d, heads %d)", got, want, ms.HeapAlloc, e.HeadBytes())
	}
	stop()
	if after := debug.SetGCPercent(100); after != 100 {
		t.Errorf("after stop GOGC %d, want the 100 before", after)
	}
}
