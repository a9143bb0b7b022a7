package engine

import (
	"sync/atomic"
	"time"
)

// writeClock stamps writes with an order that holds across the nodes of a
// cluster (docs/scaling.md, "Last write wins across nodes"): a hybrid
// logical clock folded into one int64 of Unix nanoseconds. Each stamp is
// the wall clock, or one past the last stamp when the wall clock has not
// moved past it (a step back, or two stamps in one nanosecond); Observe
// moves it past a stamp seen elsewhere (another writer's manifest), so a
// write made after that node's is stamped later even when this node's
// wall clock lags behind.
type writeClock struct {
	last atomic.Int64
	wall func() int64 // tests replace it
}

func newWriteClock() *writeClock {
	return &writeClock{wall: func() int64 { return time.Now().UnixNano() }}
}

// Now returns a stamp larger than every stamp returned or observed before.
func (c *writeClock) Now() int64 {
	for {
		last := c.last.Load()
		t := max(c.wall(), last+1)
		if c.last.CompareAndSwap(last, t) {
			return t
		}
	}
}

// Observe makes every later stamp larger than t.
func (c *writeClock) Observe(t int64) {
	for {
		last := c.last.Load()
		if t <= last || c.last.CompareAndSwap(last, t) {
			return
		}
	}
}

// Last returns the newest stamp returned or observed.
func (c *writeClock) Last() int64 { return c.last.Load() }

// ObserveWriteTime moves the engine's write clock past t, a write stamp
// seen in another node's manifest: this node's later writes are stamped
// after it.
func (e *Engine) ObserveWriteTime(t int64) { e.clock.Observe(t) }

// WriteClock returns the newest write stamp the engine issued or observed.
func (e *Engine) WriteClock() int64 { return e.clock.Last() }
