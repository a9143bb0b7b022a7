package exec

import (
	"context"
	"errors"
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

// TestSortRowsStopsAtDeadline: a sort of millions of rows stops within a
// fraction of a second of its context's deadline, with the context's error.
// The bound is generous; the full sort of the same rows is timed first so
// the test shows the deadline did fall inside it.
func TestSortRowsStopsAtDeadline(t *testing.T) {
	n := 4_000_000
	if testing.Short() {
		n = 2_000_000
	}
	keys, spec := sortKeys(n, 7)
	perm := identity(n)
	start := time.Now()
	if err := sortRows(context.Background(), perm, keys, spec); err != nil {
		t.Fatal(err)
	}
	full := time.Since(start)
	const deadline = 50 * time.Millisecond
	if full < 4*deadline {
		t.Skipf("the full sort took only %s: too fast to show an early stop", full)
	}
	perm = identity(n)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start = time.Now()
	err := sortRows(ctx, perm, keys, spec)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sortRows = %v, want the deadline's error", err)
	}
	if late := took - deadline; late > 300*time.Millisecond || took > full/2 {
		t.Errorf("sort stopped %s after a %s deadline (full sort %s)", took, deadline, full)
	}
	t.Logf("%d rows: full sort %s, stopped %s after a %s deadline", n, full, took, deadline)
}
