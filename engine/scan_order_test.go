package engine

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// orderTasks makes n tasks; task i emits i%5+1 batches (some with a
// selection) whose rows name their task and place, reusing one batch as
// producers do, and yields at random so tasks finish in any order.
func orderTasks(n int, seed uint64) []func(emit func(*columnar.ColumnBatch) error) error {
	tasks := make([]func(emit func(*columnar.ColumnBatch) error) error, n)
	for i := range tasks {
		tasks[i] = func(emit func(*columnar.ColumnBatch) error) error {
			r := rand.New(rand.NewPCG(seed, uint64(i)))
			b := &columnar.ColumnBatch{Fields: []columnar.FieldVector{{Name: "v", Type: columnar.FieldFloat}}}
			for j := range i%5 + 1 {
				b.Len = 2
				b.Time = append(b.Time[:0], int64(i), int64(j))
				b.Fields[0].F = append(b.Fields[0].F[:0], float64(i), float64(j))
				b.Sel = nil
				if j%2 == 1 { // a third row, not the consumer's
					b.Len = 3
					b.Time = append(b.Time, -1)
					b.Fields[0].F = append(b.Fields[0].F, -1)
					b.Sel = []int32{0, 1}
				}
				for range r.IntN(50) {
					runtime.Gosched()
				}
				if err := emit(b); err != nil {
					return err
				}
				// The producer reuses its batch: a copy must not see it.
				b.Time[0], b.Fields[0].F[0] = -2, -2
			}
			return nil
		}
	}
	return tasks
}

// runOrdered hands the batches of parallel tasks to fn in task order,
// each task's in its own order, whichever finishes first; batches copied
// ahead of their turn keep their rows (and only the selected ones) after
// the producer reuses its batch.
func TestRunOrderedKeepsTaskOrder(t *testing.T) {
	for seed := range uint64(50) {
		const n = 23
		var got [][2]int64
		err := runOrdered(context.Background(), 4, orderTasks(n, seed), Lookahead{}, func(b *columnar.ColumnBatch) error {
			for r := range b.Rows() {
				if b.Time[r] < 0 || b.Fields[0].F[r] != float64(b.Time[r]) {
					t.Fatalf("seed %d: row %d of a batch: time %d, value %v (a reused or unselected row)", seed, r, b.Time[r], b.Fields[0].F[r])
				}
			}
			rows := b.Len
			if b.Sel != nil {
				rows = len(b.Sel)
			}
			if rows != 2 {
				t.Fatalf("seed %d: a batch of %d rows, want its 2 selected", seed, rows)
			}
			sel := b.Sel
			if sel == nil {
				sel = []int32{0, 1}
			}
			got = append(got, [2]int64{b.Time[sel[0]], b.Time[sel[1]]})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var want [][2]int64
		for i := range n {
			for j := range i%5 + 1 {
				want = append(want, [2]int64{int64(i), int64(j)})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d batches, want %d", seed, len(got), len(want))
		}
		for k := range want {
			if got[k] != want[k] {
				t.Fatalf("seed %d: batch %d is task %d's batch %d, want task %d's batch %d", seed, k, got[k][0], got[k][1], want[k][0], want[k][1])
			}
		}
	}
}

// The first error stops the run: fn's, a task's, or the context's; every
// worker is gone when runOrdered returns.
func TestRunOrderedStops(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	err := runOrdered(context.Background(), 4, orderTasks(40, 1), Lookahead{}, func(*columnar.ColumnBatch) error {
		if calls.Add(1) == 5 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 5 {
		t.Fatalf("fn's error: %v after %d calls, want boom after 5", err, calls.Load())
	}

	tasks := orderTasks(40, 2)
	tasks[7] = func(func(*columnar.ColumnBatch) error) error { return boom }
	if err := runOrdered(context.Background(), 4, tasks, Lookahead{}, func(*columnar.ColumnBatch) error { return nil }); !errors.Is(err, boom) {
		t.Fatalf("a task's error: %v, want boom", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	calls.Store(0)
	err = runOrdered(ctx, 4, orderTasks(40, 3), Lookahead{}, func(*columnar.ColumnBatch) error {
		if calls.Add(1) == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v, want context.Canceled", err)
	}
}

// fakeHold is a query's budget of limit bytes that records what it held.
type fakeHold struct {
	mu                     sync.Mutex
	limit, held, peak, low int64
	refused                int
}

func (h *fakeHold) Grow(n int64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held+n > h.limit {
		h.refused++
		return errors.New("budget full")
	}
	h.held += n
	h.peak = max(h.peak, h.held)
	return nil
}

func (h *fakeHold) Shrink(n int64) {
	h.mu.Lock()
	h.held -= n
	h.low = min(h.low, h.held)
	h.mu.Unlock()
}

// The copies a parallel scan holds ahead of their turn are charged to the
// query's budget while held and given back when handed on, or when the
// run stops; a budget too small for them, or a bound below the default,
// only makes tasks wait for their turn: the batches still come, in order.
func TestRunOrderedChargesLookahead(t *testing.T) {
	const n = 23
	var want [][2]int64
	for i := range n {
		for j := range i%5 + 1 {
			want = append(want, [2]int64{int64(i), int64(j)})
		}
	}
	collect := func(la Lookahead, seed uint64) ([][2]int64, error) {
		var got [][2]int64
		err := runOrdered(context.Background(), 4, orderTasks(n, seed), la, func(b *columnar.ColumnBatch) error {
			sel := b.Sel
			if sel == nil {
				sel = []int32{0, 1}
			}
			got = append(got, [2]int64{b.Time[sel[0]], b.Time[sel[1]]}) // its task and place
			return nil
		})
		return got, err
	}
	refused := 0
	for seed := range uint64(30) {
		// A batch's copy is 32 bytes: the budget holds two.
		h := &fakeHold{limit: 64}
		got, err := collect(Lookahead{Hold: h}, seed)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: batches %v, want %v", seed, got, want)
		}
		if h.held != 0 || h.low < 0 || h.peak > h.limit {
			t.Fatalf("seed %d: %d bytes left charged (lowest %d, peak %d of %d), want 0", seed, h.held, h.low, h.peak, h.limit)
		}
		refused += h.refused

		// A bound alone: the copies never pass it.
		h = &fakeHold{limit: 1 << 30}
		if got, err = collect(Lookahead{Hold: h, Max: 40}, seed); err != nil || !slices.Equal(got, want) {
			t.Fatalf("seed %d, a bound of 40 bytes: %v, batches %v, want %v", seed, err, got, want)
		}
		if h.held != 0 || h.peak > 40 {
			t.Fatalf("seed %d, a bound of 40 bytes: peak %d bytes held, %d left", seed, h.peak, h.held)
		}
	}
	if refused == 0 {
		t.Fatal("no copy was refused in 30 runs: the test did not exercise a full budget")
	}

	// A run that stops gives back the copies it never handed on.
	for seed := range uint64(30) {
		h := &fakeHold{limit: 1 << 30}
		var calls int
		err := runOrdered(context.Background(), 4, orderTasks(40, seed), Lookahead{Hold: h}, func(*columnar.ColumnBatch) error {
			if calls++; calls == 3 {
				return errors.New("boom")
			}
			return nil
		})
		if err == nil || h.held != 0 || h.low < 0 {
			t.Fatalf("seed %d: a stopped run: %v, %d bytes left charged (lowest %d), want an error and 0", seed, err, h.held, h.low)
		}
	}
}
