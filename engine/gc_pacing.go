package engine

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's pacing with large heads. With GOGC=100 the heap may grow
// to twice its live set before a collection, and the heads are most of that
// live set while they hold a TSBS day or a dashboard's hours: the slack the
// collector leaves grows with data that is neither garbage nor scanned much
// (the heads' columns hold no pointers). That slack is not free memory: the
// heap walks into pages it never touched, and a first touch is a page fault
// — on this project's measuring machines (a Firecracker guest) about 40 µs
// of CPU each. Right after a TSBS load (heads 140 MB, live heap ~165 MB)
// the queries' garbage filled the heap from 218 to 330 MB, page after new
// page, and single-groupby-5-1-12 over the head cost 2.1–5.1 ms of server CPU
// per query with ~100 faults a query, then 0.8 ms once a collection at the
// new goal let the heap reuse its pages (docs/benchmarks.md, "the head's
// swing"). So the slack follows what the collector is for, the garbage
// around the heads: the live bytes that are not the heads', at least
// gcMinSlack, and at least a quarter of the heads so that a server with
// large heads under a heavy ingest does not collect back to back.

// gcMinSlack is the least slack the pacing leaves: as much as the runtime
// reserve the memory model already counts (runtimeReserve). A variable so
// that a test can see the pacing act on small heads.
var gcMinSlack int64 = runtimeReserve

// gcPercentFor is the GOGC percentage that lets a heap of live bytes, heads
// of them the heads', grow by max(live-heads, heads/4, gcMinSlack) before
// the next collection: between 10 and 100 (GOGC's default, which it never
// exceeds: small heads keep the runtime's own pacing).
func gcPercentFor(live, heads int64) int {
	if live <= 0 {
		return 100
	}
	heads = min(max(heads, 0), live)
	slack := max(live-heads, heads/4, gcMinSlack)
	return int(min(max(100*slack/live, 10), 100))
}

// PaceCollector sets the runtime's GC percentage from gcPercentFor every
// interval (the live heap as the last collection found it, the heads'
// counted bytes now) until stop is called, which restores the percentage
// in force before. It does nothing when the environment sets GOGC: an
// operator's choice stands.
func (e *Engine) PaceCollector(interval time.Duration) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	live := func() int64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(sample[0].Value.Uint64())
	}
	set := gcPercentFor(live(), e.HeadBytes())
	prev := debug.SetGCPercent(set)
	stopTicks := every(interval, func() {
		if want := gcPercentFor(live(), e.HeadBytes()); want != set {
			debug.SetGCPercent(want)
			set = want
		}
	})
	return func() {
		stopTicks()
		debug.SetGCPercent(prev)
	}
}
