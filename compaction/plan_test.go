package compaction

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"testing"
)

func segsOf(rows ...int64) []Seg {
	out := make([]Seg, len(rows))
	for i, r := range rows {
		out[i] = Seg{Rows: r}
	}
	return out
}

func TestPlan(t *testing.T) {
	p := Policy{Ratio: 4, FloorRows: 100, TargetRows: 10000, L0Max: 3, MaxTail: 5}
	f := func(rows []int64, want int) {
		t.Helper()
		if got := p.Plan(segsOf(rows...)); got != want {
			t.Errorf("Plan(%v) = %d, want %d", rows, got, want)
		}
	}
	f(nil, 0)
	f([]int64{5}, 1)                                    // one segment: nothing
	f([]int64{5, 5}, 2)                                 // level 0 below L0Max
	f([]int64{5, 5, 5}, 0)                              // L0Max small ones merge
	f([]int64{1000, 5, 5, 5}, 1)                        // ... and stay a pile: the 1000 is not rewritten for 15 rows
	f([]int64{200, 50, 50, 50}, 0)                      // the result (150) reaches FloorRows: 200 < 4·150 joins
	f([]int64{1000, 300}, 0)                            // broken link: 1000 < 4·300
	f([]int64{1600, 400}, 2)                            // intact chain
	f([]int64{5000, 1600, 400, 5, 5}, 5)                // chain and a short pile
	f([]int64{6000, 1000, 300}, 1)                      // the earliest broken link starts the merge; 6000 is full
	f([]int64{6000, 5000, 30, 30, 30}, 2)               // full segments are never inputs
	f([]int64{3000, 700, 150, 30, 5}, 5)                // intact chain, a pile of 2, tail at MaxTail: nothing
	f([]int64{3000, 700, 150, 30, 5, 5}, 3)             // the pile reaches L0Max
	f([]int64{9000, 3000, 700, 150, 101, 30}, 1)        // 150 < 4·101, and the merge cascades up to the full one
	f([]int64{5000, 2000, 450, 110, 50, 40, 60, 99}, 1) // the pile (249) passes FloorRows and cascades
}

// Simulates a window under random flush sizes — a trickle of tiny ones,
// bursts, a mix — applying the plan after every flush as the compactor
// does, and checks the documented bound and that the inputs are always a
// suffix whose merge keeps rows.
func TestPlanBoundSimulated(t *testing.T) {
	for _, pattern := range []string{"trickle", "mixed", "bursts"} {
		t.Run(pattern, func(t *testing.T) {
			p := DefaultPolicy
			rng := rand.New(rand.NewPCG(1, uint64(len(pattern))))
			var segs []Seg
			var total, rewritten int64
			for flush := 0; flush < 20000; flush++ {
				var n int64
				switch pattern {
				case "trickle":
					n = 1 + rng.Int64N(20)
				case "mixed":
					n = 1 + rng.Int64N(50000)
				case "bursts":
					n = 1 << rng.IntN(20)
				}
				total += n
				segs = append(segs, Seg{Rows: n})
				for {
					from := p.Plan(segs)
					if from >= len(segs) {
						break
					}
					var m int64
					for _, s := range segs[from:] {
						m += s.Rows
					}
					rewritten += m
					segs = segs[:from]
					for m > 0 { // outputs of at most TargetRows
						o := min(m, p.TargetRows)
						segs = append(segs, Seg{Rows: o})
						m -= o
					}
				}
				if bound := p.WindowBound(total); len(segs) > bound {
					t.Fatalf("after %d flushes (%d rows): %d segments, bound %d: %v", flush, total, len(segs), bound, segs)
				}
				tail := 0
				for _, s := range segs {
					if s.Rows < p.TargetRows/2 {
						tail++
					}
				}
				if tail > p.MaxTail {
					t.Fatalf("after %d flushes: %d non-full segments, MaxTail %d", flush, tail, p.MaxTail)
				}
			}
			t.Logf("%s: %d rows in %d segments, each row written %.1f times by merges", pattern, total, len(segs), float64(rewritten)/float64(total))
		})
	}
}

func TestTrimDue(t *testing.T) {
	const day = int64(86400e9)
	segs := []Seg{{Rows: 10, MinTime: day, MaxTime: 2*day - 1}}
	f := func(cutoff int64, want bool) {
		t.Helper()
		if got := TrimDue(segs, day, day, cutoff); got != want {
			t.Errorf("TrimDue(cutoff=%d) = %v, want %v", cutoff, got, want)
		}
	}
	f(day, false)
	f(day+day/8, false)
	f(day+day/4, true)
	f(-1<<63, false)
}

func TestErrorClass(t *testing.T) {
	f := func(err error, want string) {
		t.Helper()
		if got := Class(err); got != want {
			t.Errorf("Class(%v) = %s, want %s", err, got, want)
		}
	}
	f(fmt.Errorf("write: %w", &fs.PathError{Op: "write", Path: "x", Err: errors.New("no space left on device")}), "retry")
	f(readErr("x", &fs.PathError{Op: "read", Path: "x", Err: errors.New("input/output error")}), "retry")
	f(readErr("x", &fs.PathError{Op: "open", Path: "x", Err: fs.ErrNotExist}), "halt")
	f(readErr("x", errors.New("parquet: bad page header")), "halt")
	f(fmt.Errorf("compact: %w", Haltf("rows out of order")), "halt")
}
