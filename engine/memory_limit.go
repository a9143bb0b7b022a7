package engine

import (
	"runtime/debug"
	"time"
)

// The heads are most of a busy server's live heap, and they live until
// their flush: with GOGC=100 the collector lets the heap grow to twice the
// live set before it runs, so the heads' bytes were counted twice in the
// RSS — the dashboard benchmark with 1 GiB heads peaked at 1.44 GiB while
// its heads held at most about half of that bound. The heads need less
// slack than that (they only grow by what writes bring, and are counted as
// they do); the garbage is mostly what requests, queries, flushes and
// merges allocate around them, and those parts have their own bounds. So
// the derived limit follows the heads: one and a half times what they
// hold now (no more than their bound) plus what running queries reserved
// plus the room the other bounded parts take — DefaultMemoryLimit from
// heads at two thirds of their bound, with no query running. Without the
// half (the heads' bytes alone) the collector ran 2.6 times as often as
// without a limit under the dashboard benchmark, and took a fifth of the
// server's CPU instead of a twentieth.

// followStep is the change in the target below which the limit is left
// alone: setting it is cheap, but each change makes the collector
// recompute its pacing.
const followStep = 4 << 20

// MemoryLimitRoom is what DefaultMemoryLimit leaves above the heads: half
// of a merge's memory, the query cache and the runtime reserve.
func (c *Config) MemoryLimitRoom() int64 { return c.DefaultMemoryLimit() - c.MaxHeadBytes }

// followLimit is the soft memory limit for heads holding heads bytes
// while running queries have reserved queries bytes. Under
// MemoryLimitBounds the heads count at their bound whatever they hold, so
// the limit moves with the queries only: what they reserve is live, and
// the limit leaves it no slack of its own (PaceCollector's slack, the
// live bytes that are not the heads', counted it twice). Under
// MemoryLimitAuto the heads count with half again as slack, at most their
// bound (a write can take them past it).
func (c *Config) followLimit(heads, queries int64) int64 {
	if c.MemoryLimit == MemoryLimitBounds {
		heads = c.MaxHeadBytes
	}
	heads = min(max(heads, 0), c.MaxHeadBytes)
	return min(heads+heads/2, c.MaxHeadBytes) + max(queries, 0) + c.MemoryLimitRoom()
}

// FollowMemoryLimit keeps the Go runtime's soft memory limit at one and a
// half times the heads' bytes (HeadBytes: active, frozen and their copies;
// at most --max-head-bytes; under MemoryLimitBounds that bound itself)
// plus what queries() says running queries reserved
// (nil: none) plus MemoryLimitRoom, checking every interval, until stop is
// called. A server calls it when the limit is the engine's own
// (MemoryLimitFollows: auto and bounds): a limit set by --memory-limit or
// GOMEMLIMIT stays as set. As the
// heads grow the limit rises with them, so the collector never has less
// room above the heads than DefaultMemoryLimit leaves at full heads; after
// a flush it drops, the collector runs and the freed heads go back to the
// OS. A query's reservation widens it while the query runs: a large query
// on a server with small heads would otherwise keep the collector busy.
func (e *Engine) FollowMemoryLimit(interval time.Duration, queries func() int64) (stop func()) {
	if queries == nil {
		queries = func() int64 { return 0 }
	}
	target := func() int64 { return e.cfg.followLimit(e.HeadBytes(), queries()) }
	set := target()
	debug.SetMemoryLimit(set)
	return every(interval, func() {
		want := target()
		if d := want - set; d >= followStep || d <= -followStep || (want != set && want == e.cfg.DefaultMemoryLimit()) {
			debug.SetMemoryLimit(want)
			set = want
		}
	})
}

// every calls tick every interval in a goroutine of its own until stop is
// called; stop returns once that goroutine has ended (no tick runs after).
func every(interval time.Duration, tick func()) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			tick()
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
