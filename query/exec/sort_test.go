package exec

import (
	"context"
	"errors"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/query/sql"
)

// sortKeys builds two ORDER BY keys over n rows: a low-cardinality int64
// with NULLs (many ties, so stability shows) and a float64.
func sortKeys(n int, seed uint64) ([]*vec, []sql.SortKey) {
	r := rand.New(rand.NewPCG(seed, 1))
	a := &vec{typ: sql.TypeInt64, n: n, i: make([]int64, n), null: make([]bool, n)}
	b := &vec{typ: sql.TypeFloat64, n: n, f: make([]float64, n)}
	for k := range n {
		a.i[k] = r.Int64N(50)
		a.null[k] = r.IntN(20) == 0
		b.f[k] = float64(r.IntN(1000))
	}
	return []*vec{a, b}, []sql.SortKey{{Desc: true, NullsFirst: true}, {}}
}

// TestSortRowsStable: the run-and-merge sort gives the order of one stable
// sort with the same comparison, for sizes around the run length.
func TestSortRowsStable(t *testing.T) {
	for _, n := range []int{0, 1, 7, sortRun - 1, sortRun, sortRun + 1, 3*sortRun + 17, 5 * sortRun} {
		keys, spec := sortKeys(n, uint64(n))
		got := identity(n)
		if err := sortRows(context.Background(), got, keys, spec); err != nil {
			t.Fatal(err)
		}
		want := identity(n)
		slices.SortStableFunc(want, func(x, y int) int {
			for i, v := range keys {
				xn, yn := v.isNull(x), v.isNull(y)
				switch {
				case xn && yn:
					continue
				case xn:
					return -1 // NULLS FIRST
				case yn:
					return 1
				}
				c := compareAt(v, x, v, y)
				if spec[i].Desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
		if !slices.Equal(got, want) {
			t.Fatalf("n=%d: order differs from a stable sort", n)
		}
	}
}

// TestSortRowsStopsAtDeadline: a sort of a million rows stops soon after
// its context ends, with the context's error. "Soon" is counted in context
// checks, not in wall time, so a loaded machine cannot fail it: over a
// whole sort, sortRows must look at its context at least once per sortRun
// rows sorted and about once per ctxCheckRows rows of each merge pass, and
// a context that ends at any one of those checks must stop it at that
// check. (Mutation-checked: with the run phase's or the merge's checks
// gone, the count falls short; with a check's error ignored, the sort
// goes on to more checks.) A real deadline then ends a real sort.
func TestSortRowsStopsAtDeadline(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 300_000
	}
	keys, spec := sortKeys(n, 7)
	all := &countingCtx{Context: context.Background()}
	if err := sortRows(all, identity(n), keys, spec); err != nil {
		t.Fatal(err)
	}
	runs := (n + sortRun - 1) / sortRun
	passes := bits.Len(uint(runs - 1)) // pairwise merges of runs sorted runs
	if want := runs + passes*(n/ctxCheckRows)/2; all.calls < want {
		t.Errorf("%d rows: %d context checks over the whole sort, want at least %d (%d runs, %d merge passes)", n, all.calls, want, runs, passes)
	}
	t.Logf("%d rows: %d context checks over %d runs and %d merge passes", n, all.calls, runs, passes)
	for _, end := range []int{1, runs / 2, runs + 1, (runs + all.calls) / 2, all.calls} {
		ctx := &countingCtx{Context: context.Background(), end: end}
		if err := sortRows(ctx, identity(n), keys, spec); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("context ended at check %d of %d: sortRows = %v, want the context's error", end, all.calls, err)
		} else if ctx.calls != end {
			t.Errorf("context ended at check %d of %d: sortRows went on to check %d", end, all.calls, ctx.calls)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sortRows(ctx, identity(n), keys, spec); err == nil {
		t.Logf("the sort finished before a 50 ms deadline")
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("sortRows under a 50 ms deadline = %v, want the deadline's error", err)
	}
}

// countingCtx counts the calls of Err, the only way sortRows looks at its
// context, and reports the deadline passed from the end-th on (0: never).
type countingCtx struct {
	context.Context
	calls, end int
}

func (c *countingCtx) Err() error {
	c.calls++
	if c.end > 0 && c.calls >= c.end {
		return context.DeadlineExceeded
	}
	return nil
}
