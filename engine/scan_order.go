package engine

import (
	"context"
	"slices"
	"sync"

	"github.com/siltdb/silt/columnar"
)

// orderLookaheadBytes bounds the copies of batches one parallel scan holds
// for tasks whose turn has not come (runOrdered): past it, a task's
// producer waits for its turn instead of decoding ahead. A task's folded
// partials (a row per series and window) always fit; raw rows of long
// tasks fill it and then decode one batch ahead, as a single worker would.
const orderLookaheadBytes = 32 << 20

// Lookahead is what a query lets one parallel scan hold ahead of its
// consumer (TableScan.Lookahead). The zero value: orderLookaheadBytes,
// charged to nothing.
type Lookahead struct {
	// Hold, if not nil, is charged for each copy while it is held (Grow
	// before it is made, Shrink once it was handed on or the run ended).
	// A copy Hold refuses is not made: its producer waits for its turn,
	// as a single worker would, and the query goes on.
	Hold LookaheadHold
	// Max, if > 0, bounds the copies below orderLookaheadBytes.
	Max int64
}

// LookaheadHold is memory reserved of the query's budget (query.Hold).
type LookaheadHold interface {
	Grow(n int64) error
	Shrink(n int64)
}

// runOrdered runs tasks on workers goroutines and hands their batches to fn
// one at a time in task order: every batch of task i, in the order the
// task emits them, before any batch of task i+1. The tasks still run in
// parallel: a task ahead of its turn has its batches copied (up to
// orderLookaheadBytes for the whole run, less if la says so, charged to
// la.Hold while held) and goes on decoding, and the
// batches of the task whose turn it is are handed over in place, its
// producer waiting while fn runs, as before.
//
// Why the order is fixed: the consumers add floats in the order rows
// arrive (a table's rows, a window's partials), and floating-point
// addition is not associative, so a sum, mean or deviation depended on
// which task finished first and changed in its last bits from one run of
// the same query to the next. In task order the same data and query give
// the same bits every time. The first error (fn's, a task's, ctx's) stops
// everything.
func runOrdered(ctx context.Context, workers int, tasks []func(emit func(*columnar.ColumnBatch) error) error, la Lookahead, fn func(*columnar.ColumnBatch) error) error {
	r := &orderedRun{tasks: make([]orderedTask, len(tasks)), hold: la.Hold, max: orderLookaheadBytes}
	if la.Max > 0 {
		r.max = min(r.max, la.Max)
	}
	r.cond = sync.NewCond(&r.mu)
	for i := range r.tasks {
		r.tasks[i].ack = make(chan error, 1)
	}
	stopWatch := context.AfterFunc(ctx, func() { r.fail(ctx.Err()) })
	defer stopWatch()

	var wg sync.WaitGroup
	next := 0 // the next task to start, under r.mu: tasks start in order
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r.mu.Lock()
				i := next
				if i >= len(tasks) || r.stop != nil {
					r.mu.Unlock()
					return
				}
				next++
				r.mu.Unlock()
				err := tasks[i](func(b *columnar.ColumnBatch) error { return r.emit(i, b) })
				r.mu.Lock()
				r.tasks[i].done = true
				if err != nil && r.stop == nil {
					r.stop = err
				}
				r.cond.Broadcast()
				r.mu.Unlock()
			}
		}()
	}

	err := r.consume(fn)
	r.fail(err) // the workers stop at their next emit (nil: all are done)
	wg.Wait()
	if r.hold != nil {
		r.hold.Shrink(r.held) // copies a stopped run never handed on
	}
	if err != nil {
		return err
	}
	return ctx.Err()
}

// orderedRun is the state runOrdered's consumer and producers share.
type orderedRun struct {
	mu    sync.Mutex
	cond  *sync.Cond    // signalled on any change below
	cur   int           // the task whose batches fn takes now
	held  int64         // bytes of the copies queued in tasks
	max   int64         // held's bound
	hold  LookaheadHold // charged for held (Lookahead.Hold); nil: nothing
	stop  error         // why the run ends early; nil while it goes on
	tasks []orderedTask
}

type orderedTask struct {
	queue []queuedBatch // copies made ahead of the task's turn, oldest first
	// direct is a batch handed over in place: its producer waits until
	// fn took it (direct set back to nil), then for fn's answer on ack.
	direct *columnar.ColumnBatch
	ack    chan error
	done   bool
}

type queuedBatch struct {
	b     *columnar.ColumnBatch
	bytes int64
}

// fail ends the run early with err (the first such error wins; nil does
// nothing but wake every waiter).
func (r *orderedRun) fail(err error) {
	r.mu.Lock()
	if r.stop == nil {
		r.stop = err
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

// emit is task i's emit: in place when it is the task's turn and nothing
// it emitted earlier still waits, else a copy while the lookahead has
// room, else it waits for its turn.
func (r *orderedRun) emit(i int, b *columnar.ColumnBatch) error {
	r.mu.Lock()
	t := &r.tasks[i]
	refused := false // by la.Hold: this batch waits for its turn
	for {
		if r.stop != nil {
			err := r.stop
			r.mu.Unlock()
			return err
		}
		if i == r.cur && len(t.queue) == 0 {
			t.direct = b
			r.cond.Broadcast()
			for t.direct == b && r.stop == nil {
				r.cond.Wait()
			}
			if t.direct == b { // never taken: the run stopped
				t.direct = nil
				err := r.stop
				r.mu.Unlock()
				return err
			}
			r.mu.Unlock()
			return <-t.ack // fn took it: its answer always comes
		}
		if n := clonedBytes(b); !refused && r.held+n <= r.max {
			if refused = !r.charge(n); refused {
				continue
			}
			r.held += n
			r.mu.Unlock()
			// Copied outside the lock: the other producers go on.
			c := cloneBatch(b)
			r.mu.Lock()
			t.queue = append(t.queue, queuedBatch{c, n})
			r.cond.Broadcast()
			r.mu.Unlock()
			return nil
		}
		r.cond.Wait()
	}
}

// charge reserves n bytes of the query's memory for a copy, reporting
// whether it may be made. Under r.mu. A refusal (the budget is full) only
// makes the batch wait for its turn, without asking again: a failed Grow
// holds the shared budget for an instant, which other queries may see.
func (r *orderedRun) charge(n int64) bool {
	return r.hold == nil || r.hold.Grow(n) == nil
}

// consume hands the tasks' batches to fn in task order until every task
// is done or the run stops; it returns fn's error or why the run stopped.
func (r *orderedRun) consume(fn func(*columnar.ColumnBatch) error) error {
	r.mu.Lock()
	err := r.consumeLocked(fn)
	r.mu.Unlock()
	return err
}

// consumeLocked is consume with r.mu held (released while fn runs).
func (r *orderedRun) consumeLocked(fn func(*columnar.ColumnBatch) error) error {
	for r.cur < len(r.tasks) {
		if r.stop != nil {
			return r.stop
		}
		t := &r.tasks[r.cur]
		switch {
		case len(t.queue) > 0:
			q := t.queue[0]
			t.queue[0] = queuedBatch{}
			t.queue = t.queue[1:]
			r.mu.Unlock()
			err := fn(q.b)
			r.mu.Lock()
			r.held -= q.bytes
			if r.hold != nil {
				r.hold.Shrink(q.bytes)
			}
			r.cond.Broadcast() // room in the lookahead
			if err != nil {
				return err
			}
		case t.direct != nil:
			b := t.direct
			t.direct = nil
			r.cond.Broadcast()
			r.mu.Unlock()
			err := fn(b)
			t.ack <- err
			r.mu.Lock()
			if err != nil {
				return err
			}
		case t.done:
			r.cur++
			r.cond.Broadcast() // the next task's producer may hand over in place
		default:
			r.cond.Wait()
		}
	}
	return nil
}

// clonedBytes is what cloneBatch's copy of b holds: b's selected rows.
func clonedBytes(b *columnar.ColumnBatch) int64 {
	rows := int64(b.Len)
	if b.Sel != nil {
		rows = int64(len(b.Sel))
	}
	n := 8 * rows
	for i := range b.Tags {
		n += 4*rows + 16*int64(len(b.Tags[i].Dict))
	}
	for i := range b.Fields {
		f := &b.Fields[i]
		switch {
		case f.S != nil:
			n += 16 * rows
		case f.B != nil:
			n += rows
		default:
			n += 8 * rows
		}
		if f.Null != nil {
			n += rows
		}
	}
	return n
}

// cloneBatch copies b's selected rows (all without a selection) into a
// batch of its own, which outlives the producer's reuse of b. Strings are
// shared: Go strings are immutable.
func cloneBatch(b *columnar.ColumnBatch) *columnar.ColumnBatch {
	c := &columnar.ColumnBatch{Len: b.Len, Rollup: b.Rollup}
	sel := b.Sel
	if sel != nil {
		c.Len = len(sel)
	}
	c.Time = pick(b.Time, sel)
	c.Tags = make([]columnar.TagVector, len(b.Tags))
	for i := range b.Tags {
		tv := &b.Tags[i]
		c.Tags[i] = columnar.TagVector{Name: tv.Name, Dict: slices.Clone(tv.Dict), IDs: pick(tv.IDs, sel)}
	}
	c.Fields = make([]columnar.FieldVector, len(b.Fields))
	for i := range b.Fields {
		f := &b.Fields[i]
		c.Fields[i] = columnar.FieldVector{Name: f.Name, Type: f.Type, Null: pick(f.Null, sel),
			F: pick(f.F, sel), I: pick(f.I, sel), U: pick(f.U, sel), B: pick(f.B, sel), S: pick(f.S, sel)}
	}
	return c
}

// pick copies s's rows sel (all of s when sel is nil); nil stays nil.
func pick[T any](s []T, sel []int32) []T {
	if s == nil {
		return nil
	}
	if sel == nil {
		return slices.Clone(s)
	}
	out := make([]T, len(sel))
	for k, r := range sel {
		out[k] = s[r]
	}
	return out
}
