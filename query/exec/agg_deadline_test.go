package exec

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// deadlineCases are aggregates over every kernel of aggregate and
// partialAggregate: the ones with their own paths for doubles, bigints,
// NULLs and one group, and the ones that list each group's rows.
var deadlineCases = []struct {
	agg     string
	typ     sql.Type
	partial bool // also over rollup partials
}{
	{"count(*)", sql.TypeFloat64, true},
	{"count(v)", sql.TypeFloat64, true},
	{"sum(v)", sql.TypeFloat64, true},
	{"sum(v)", sql.TypeInt64, true},
	{"min(v)", sql.TypeFloat64, true},
	{"max(v)", sql.TypeInt64, true},
	{"max(v)", sql.TypeFloat64, false},
	{"avg(v)", sql.TypeFloat64, true},
	{"stddev(v)", sql.TypeFloat64, true},
	{"var_pop(v)", sql.TypeFloat64, true},
	{"first(v, time)", sql.TypeFloat64, true},
	{"last(v, time)", sql.TypeFloat64, true},
	{"count(DISTINCT v)", sql.TypeInt64, true},
	{"percentile_cont(0.5) WITHIN GROUP (ORDER BY v)", sql.TypeFloat64, false},
	{"mode() WITHIN GROUP (ORDER BY v)", sql.TypeInt64, false},
}

// deadlineInput is n rows of one field v of type typ (every eleventh NULL
// when nulls) and the aggregate of text over them, with each row in one
// of ng groups at random.
func deadlineInput(t testing.TB, text string, typ sql.Type, n, ng int, nulls bool) (sql.Aggregate, *evalCtx, []int32) {
	t.Helper()
	cat := sql.MapCatalog{"m": {Tags: []string{"host"}, Fields: []sql.Field{{Name: "v", Type: typ}}}}
	q, err := sql.Compile("SELECT "+text+" FROM m GROUP BY host", cat, time.Now())
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	r := rand.New(rand.NewPCG(uint64(n), uint64(ng)))
	fc := &fieldCol{typ: typ, null: make([]bool, n)}
	times := make([]int64, n)
	gids := make([]int32, n)
	if typ == sql.TypeFloat64 {
		fc.f = make([]float64, n)
	} else {
		fc.i = make([]int64, n)
	}
	for k := range n {
		gids[k] = int32(r.IntN(ng))
		times[k] = r.Int64N(1 << 40)
		if fc.f != nil {
			fc.f[k] = r.Float64()*100 - 50
		} else {
			fc.i[k] = r.Int64N(1000)
		}
		if nulls && k%11 == 0 {
			fc.null[k] = true
			fc.nulls++
		}
	}
	tbl := &table{n: n, time: times, tags: map[int]*tagCol{}, flds: map[int]*fieldCol{}}
	for _, c := range q.Scan {
		if c.Name == "v" {
			tbl.flds[c.Index] = fc
		}
	}
	return q.Aggregates[0], &evalCtx{n: n, tbl: tbl, all: true}, gids
}

// TestAggregateStopsAtDeadline: every pass of aggregate, partialAggregate
// and the one-group paths (scalarAggregate) over n rows looks at its
// context at least once per ctxCheckRows rows, and a context that ends at
// any one of those checks stops the aggregate there with the context's
// error. Counted in checks (countingCtx, sort_test.go), not in time.
// Mutation-checked: with blockEnd's check removed, or a pass's blocks
// reading the whole slice at once, it fails.
func TestAggregateStopsAtDeadline(t *testing.T) {
	const n = 1 << 16
	per := n / ctxCheckRows // blocks of one pass over the rows
	for _, c := range deadlineCases {
		for _, nulls := range []bool{false, true} {
			for _, ng := range []int{1, n / 2} {
				name := c.agg + "/" + c.typ.String()
				if nulls {
					name += "/nulls"
				}
				a, rc, gids := deadlineInput(t, c.agg, c.typ, n, ng, nulls)
				if ng == 1 {
					if a.Func == sql.AggCountStar {
						continue // the row count, no loop
					}
					gids = nil // the one-group paths
					name += "/one group"
				}
				checkStops(t, name, func(ctx context.Context) error {
					_, err := aggregate(ctx, rc, a, gids, ng)
					return err
				}, per)
				if c.partial && a.Func != sql.AggCountDistinct {
					prc := partialCtx(a, n)
					checkStops(t, name+"/partials", func(ctx context.Context) error {
						_, err := partialAggregate(ctx, prc, a, gids, ng)
						return err
					}, per)
				}
			}
		}
	}
}

// TestWindowStopsAtDeadline: a frame function over one partition of n
// rows checks its context once per ctxCheckRows positions or frame rows,
// also when one position's frame is the whole partition, and stops at the
// check that finds it ended.
func TestWindowStopsAtDeadline(t *testing.T) {
	const n = 1 << 16
	x := newVec(sql.TypeFloat64, n)
	for k := range n {
		x.f[k] = float64(k % 97)
	}
	arg := &sql.ColumnRef{Column: sql.Column{Name: "v", Kind: sql.KindField, Type: sql.TypeFloat64}}
	perm := identity(n)
	peerStart, peerEnd := make([]int, n), make([]int, n)
	for k := range n {
		peerStart[k], peerEnd[k] = k, k+1
	}
	frames := map[string]sql.Frame{
		"running":           {Rows: true, Start: sql.BoundUnboundedPreceding, End: sql.BoundCurrentRow},
		"whole partition":   {Rows: true, Start: sql.BoundUnboundedPreceding, End: sql.BoundUnboundedFollowing},
		"to the end":        {Rows: true, Start: sql.BoundCurrentRow, End: sql.BoundUnboundedFollowing},
		"bounded":           {Rows: true, Start: sql.BoundPreceding, StartN: 2, End: sql.BoundCurrentRow},
		"far back":          {Rows: true, Start: sql.BoundPreceding, StartN: n, End: sql.BoundPreceding, EndN: n - 3},
		"first_value/whole": {Rows: true, Start: sql.BoundUnboundedPreceding, End: sql.BoundUnboundedFollowing},
	}
	for name, f := range frames {
		w := sql.WindowFunc{Name: "sum", Agg: &sql.Aggregate{Func: sql.AggSum, Arg: arg, Type: sql.TypeFloat64}, Frame: f, Type: sql.TypeFloat64}
		var args []*vec
		if name == "first_value/whole" {
			w = sql.WindowFunc{Name: "first_value", Args: []sql.Expr{arg}, Frame: f, Type: sql.TypeFloat64}
			args = []*vec{x}
		}
		checkStops(t, "window "+name, func(ctx context.Context) error {
			out := newVec(sql.TypeFloat64, n)
			return fillWindow(ctx, out, w, args, x, perm, 0, n, peerStart, peerEnd, nil, out.setNull)
		}, n/ctxCheckRows)
	}
}

// checkStops runs f under a context counting its checks: at least want
// over the whole run, and one that ends at any of them stops f there.
func checkStops(t *testing.T, what string, f func(context.Context) error, want int) {
	t.Helper()
	all := &countingCtx{Context: context.Background()}
	if err := f(all); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if all.calls < want {
		t.Errorf("%s: %d context checks, want at least %d (one per %d rows of each pass)", what, all.calls, want, ctxCheckRows)
		return
	}
	for _, end := range []int{1, all.calls / 2, all.calls} {
		if end == 0 {
			continue
		}
		ctx := &countingCtx{Context: context.Background(), end: end}
		if err := f(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: context ended at check %d of %d: %v, want the context's error", what, end, all.calls, err)
		} else if ctx.calls != end {
			t.Errorf("%s: context ended at check %d of %d: went on to check %d", what, end, all.calls, ctx.calls)
		}
	}
}

// partialCtx is a group context over n partial rows (rollup windows) of
// the parts a's function reads, each window of one to three rows.
func partialCtx(a sql.Aggregate, n int) *evalCtx {
	rc := &evalCtx{n: n, cols: map[int]*vec{}}
	rows := newVec(sql.TypeInt64, n)
	for k := range n {
		rows.i[k] = int64(k%3 + 1)
	}
	rc.cols[partRowsColumn.Index] = rows
	ref, ok := a.Arg.(*sql.ColumnRef)
	if !ok {
		return rc
	}
	for _, p := range append([]string{segment.PartCount}, rollupParts[a.Func]...) {
		col := partColumn(ref.Column, p)
		v := newVec(col.Type, n)
		for k := range n {
			switch {
			case p == segment.PartCount:
				v.i[k] = int64(k%3 + 1)
			case v.f != nil:
				v.f[k] = float64(k%89) - 30.25
			case v.i != nil:
				v.i[k] = int64(k)
			}
		}
		rc.cols[col.Index] = v
	}
	return rc
}

// TestAggregateDeadlineHoldsInCPU: an aggregate over a million rows and more and
// groups whose context reaches its deadline part way stops soon after,
// measured as server's TestQueryTimeoutHoldsInGrouping measures, in CPU
// and never in wall time: the process's CPU after the deadline must be
// under a quarter of what the full run still had to do then. Deadlines
// at a third and at two thirds of the full run's wall time, measured just
// before under the same load. Mutation-checked: with blockEnd's check
// removed it failed for every aggregate.
func TestAggregateDeadlineHoldsInCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("aggregates 4M rows many times")
	}
	for _, c := range []struct {
		agg string
		typ sql.Type
		n   int // rows, in a quarter as many groups: 0.1 to 1 s of CPU
	}{
		{"count(DISTINCT v)", sql.TypeInt64, 1 << 20},
		{"stddev(v)", sql.TypeFloat64, 4 << 20},
		{"max(v)", sql.TypeInt64, 4 << 20},
		{"percentile_cont(0.5) WITHIN GROUP (ORDER BY v)", sql.TypeFloat64, 2 << 20},
	} {
		n, ng := c.n, c.n/4
		a, rc, gids := deadlineInput(t, c.agg, c.typ, n, ng, true)
		run := func(ctx context.Context) error {
			_, err := aggregate(ctx, rc, a, gids, ng)
			return err
		}
		fullCPU := time.Duration(1<<63 - 1)
		var wall time.Duration
		for range 3 {
			runtime.GC() // no collection of an earlier run's garbage in this one's CPU
			cpu0, t0 := cpuTime(), time.Now()
			if err := run(context.Background()); err != nil {
				t.Fatalf("%s: %v", c.agg, err)
			}
			fullCPU, wall = min(fullCPU, cpuTime()-cpu0), time.Since(t0)
		}
		for _, frac := range []float64{1. / 3, 2. / 3} {
			timeout := time.Duration(float64(wall) * frac)
			atDeadline := make(chan time.Duration, 1)
			runtime.GC()
			cpu0 := cpuTime()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			timer := time.AfterFunc(timeout, func() { atDeadline <- cpuTime() })
			err := run(ctx)
			end := cpuTime()
			expired := errors.Is(ctx.Err(), context.DeadlineExceeded)
			cancel()
			if !expired {
				timer.Stop()
				t.Logf("%s: ended before its %v deadline (%v): the run was quicker than the full one", c.agg, timeout, err)
				continue
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v, want the context's error", c.agg, err)
			}
			deadline := <-atDeadline
			before, after := deadline-cpu0, end-deadline
			left := fullCPU - before
			t.Logf("%s: deadline at %.2f of the run (%v); CPU before it %v, after it %v (a full run: %v CPU, %v)", c.agg, frac, timeout, before, after, fullCPU, wall)
			switch {
			case left < 40*time.Millisecond:
				t.Logf("%s: a full run takes only %v CPU more than this one did by its deadline: too little to show an early stop", c.agg, left)
			case after > left/4:
				t.Errorf("%s: %v of CPU spent after the deadline, of the %v a full run still had to do: the aggregate went on after its deadline", c.agg, after, left)
			}
		}
	}
}
