package exec

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// TestAgainstPostgresTimeBucketKey runs GROUP BY of one date_bin of time
// (bucketGroups' fast path) in the shapes around it against PostgreSQL:
// times on both sides of the epoch, origins before, inside and after the
// data (and negative), widths that divide neither a minute nor the data's
// span, a WHERE that selects rows of batches (tag and field predicates),
// HAVING, several aggregates, ORDER BY the bucket descending or by an
// aggregate, LIMIT and OFFSET, and the bucket beside a tag (the general
// path) for comparison.
func TestAgainstPostgresTimeBucketKey(t *testing.T) {
	o := pgoracle.Start(t)
	rng := rand.New(rand.NewPCG(22, 22))
	start := time.Date(1969, 12, 31, 23, 10, 0, 0, time.UTC).UnixNano()
	var pts []pgoracle.Point
	for ts := start; ts < start+int64(100*time.Minute); ts += int64(time.Duration(1+rng.IntN(23)) * time.Second) {
		p := pgoracle.Point{Time: ts, Tags: map[string]string{"host": fmt.Sprint("h", rng.IntN(3))}, Fields: map[string]any{"f": rng.Float64()*100 - 50}}
		if rng.IntN(4) != 0 {
			p.Fields["i"] = rng.Int64N(1000) - 500
		}
		pts = append(pts, p)
	}
	eng := loadEngine(t, "t", pts)
	loadOracle(t, o, eng, "t", pts)
	origins := []string{"1970-01-01", "1969-12-31 23:59:58.5", "2001-02-03 04:05:06.789", "1900-01-01 00:00:07", "1969-12-31 23:40:00"}
	widths := []string{"7 seconds", "1 minute", "13 minutes", "1 hour", "5 hours", "3 days", "1 second"}
	shapes := []string{
		`SELECT date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') AS b, count(*), count(i), sum(i), min(f), max(f) FROM t GROUP BY b ORDER BY b`,
		`SELECT date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') AS b, count(*), max(i) FROM t GROUP BY b ORDER BY b DESC LIMIT 4`,
		`SELECT date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') AS b, sum(i) FROM t WHERE host = 'h1' AND time >= TIMESTAMP '1969-12-31 23:31:17' AND time < TIMESTAMP '1970-01-01 00:22:03' GROUP BY b ORDER BY b`,
		`SELECT date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') AS b, count(*), min(i) FROM t WHERE i > 100 OR f < -40 GROUP BY b HAVING count(*) > 1 ORDER BY b`,
		`SELECT date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') AS b, count(*) AS c FROM t GROUP BY b ORDER BY c DESC, b LIMIT 3 OFFSET 1`,
		`SELECT date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') AS b, host, count(*), sum(i) FROM t GROUP BY b, host ORDER BY b, host`,
		`SELECT count(*), sum(i) FROM t WHERE time < TIMESTAMP '1969-12-31 23:40:00' GROUP BY date_bin(INTERVAL '%[1]s', time, TIMESTAMP '%[2]s') ORDER BY 1, 2`,
	}
	var tl tally
	for _, w := range widths {
		for k, org := range origins {
			for s, shape := range shapes {
				if (k+s)%2 == 1 && w != "7 seconds" {
					continue // a sample of the cross product
				}
				check(t, o, eng, oracleCase{silt: fmt.Sprintf(shape, w, org)}, &tl)
			}
		}
	}
	if tl.passed == 0 || tl.rejected > 0 {
		t.Fatalf("%d of %d passed, %d rejected", tl.passed, tl.run, tl.rejected)
	}
	t.Logf("%d queries, %d passed, %d from rollups", tl.run, tl.passed, tl.fromRollups)
}

// cancelAfter cancels the query's context after its source has delivered
// batches batches: a query cancelled midway through its scan.
type cancelAfter struct {
	src     BatchSource
	batches int
	cancel  context.CancelFunc
}

func (c *cancelAfter) ScanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	k := 0
	return c.src.ScanBatches(ctx, spec, stats, func(b *columnar.ColumnBatch) error {
		if k++; k == c.batches {
			c.cancel()
		}
		return fn(b)
	})
}

// Whatever a query's reservation grew to — columns reserved before they
// are allocated, and the answer — all of it is back in the shared budget
// when the query ends: when it fails midway for the budget (at every
// size of budget from none to enough), for its own limit, or when it is
// cancelled during its scan; and the budgets that fit give the same
// answer as no budget.
func TestBudgetBackToZeroAfterFailedQueries(t *testing.T) {
	const n = 3000
	src := microSource(n)
	q, err := sql.Compile(`SELECT date_bin(INTERVAL '7 microseconds', time, TIMESTAMP '1970-01-01') AS bk, count(*), sum(i) FROM t GROUP BY bk ORDER BY bk DESC`, handCatalog, handStart)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Run(context.Background(), q, src, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	buckets := map[int64]bool{}
	for _, p := range src["t"] {
		buckets[sql.Bucket{Width: 7000}.Start(p.Time)] = true
	}
	if len(want.Rows) != len(buckets) {
		t.Fatalf("%d groups, want %d", len(want.Rows), len(buckets))
	}
	failed, ran := 0, 0
	for size := int64(0); size < 200_000; size += 1 + size/7 {
		budget := NewBudget(size)
		res, err := RunLimited(context.Background(), q, src, []string{"t"}, Limits{Shared: budget})
		switch {
		case err != nil && !errors.Is(err, ErrMemoryLimit):
			t.Fatalf("budget %d: %v", size, err)
		case err != nil:
			failed++
		default:
			ran++
			if !reflect.DeepEqual(res.Rows, want.Rows) {
				t.Fatalf("budget %d: the answer differs from the unlimited one", size)
			}
		}
		if u := budget.Used(); u != 0 {
			t.Fatalf("budget %d: %d bytes still reserved after the query (err %v)", size, u, err)
		}
		own := size / 2 // the query's own limit fails it too
		budget = NewBudget(0)
		if _, err := RunLimited(context.Background(), q, src, []string{"t"}, Limits{MaxMemoryBytes: own, Shared: budget}); err != nil && !errors.Is(err, ErrMemoryLimit) {
			t.Fatalf("limit %d: %v", own, err)
		}
		if u := budget.Used(); u != 0 {
			t.Fatalf("own limit %d: %d bytes still reserved after the query", own, u)
		}
	}
	if failed == 0 || ran == 0 {
		t.Fatalf("%d budgets failed the query, %d ran it: the sweep missed a side", failed, ran)
	}
	for _, after := range []int{1, 10, 100, 900} {
		ctx, cancel := context.WithCancel(context.Background())
		budget := NewBudget(0)
		_, err := RunLimited(ctx, q, &cancelAfter{src: src, batches: after, cancel: cancel}, []string{"t"}, Limits{Shared: budget})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled after %d batches: %v", after, err)
		}
		if u := budget.Used(); u != 0 {
			t.Fatalf("cancelled after %d batches: %d bytes still reserved", after, u)
		}
	}
}

// Concurrent queries grouping by a time bucket share int32Pool's scratch
// (group ids, slot tables, selections): each must get the answer it gets
// alone, which it would not if an array went back to the pool while a
// query still read it (run with -race too).
func TestTimeBucketGroupsConcurrent(t *testing.T) {
	src := microSource(5000)
	var qs []*sql.Query
	var want [][][]any
	for _, w := range []int{3, 7, 64, 1000} {
		q, err := sql.Compile(fmt.Sprintf(`SELECT date_bin(INTERVAL '%d microseconds', time, TIMESTAMP '1970-01-01') AS bk, count(*), sum(i), max(i) FROM t WHERE i %% 5 <> 1 GROUP BY bk ORDER BY bk`, w), handCatalog, handStart)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(context.Background(), q, src, []string{"t"})
		if err != nil {
			t.Fatal(err)
		}
		qs, want = append(qs, q), append(want, res.Rows)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range 20 {
				k := (g + it) % len(qs)
				res, err := Run(context.Background(), qs[k], src, []string{"t"})
				if err != nil {
					errs <- err
					return
				}
				if !reflect.DeepEqual(res.Rows, want[k]) {
					errs <- fmt.Errorf("goroutine %d, run %d: query %d's answer differs from its answer alone", g, it, k)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// microSource is n points a microsecond apart, on both sides of the
// epoch, with one int field, three rows a batch (memSource).
func microSource(n int) memSource {
	pts := make([]columnar.Point, n)
	for k := range pts {
		pts[k] = columnar.Point{Time: int64(k-n/2) * 1000, Fields: []columnar.FieldValue{{Key: "i", Type: columnar.FieldInt, Num: uint64(k)}}}
	}
	return memSource{"t": pts}
}
