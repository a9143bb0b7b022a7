package exec

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// An engine scan of segments charges its readers' buffers to the running
// query's reservation while it runs — at least three times the largest
// batch it hands on, per worker — and gives them back when it ends.
func TestEngineScanChargesReaders(t *testing.T) {
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	var body []byte
	for i := range 100_000 {
		body = fmt.Appendf(body, "m,host=h%d v=%d,w=%d.5 %d\n", i%16, i, i%1000, 1_700_000_000_000_000_000+int64(i)*1_000_000)
	}
	var b columnar.Batch
	lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { t.Fatalf("line protocol: %v", e) })
	if _, err := eng.Write(testDB, &b); err != nil {
		t.Fatal(err)
	}
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}

	budget := NewBudget(1 << 30)
	res := budget.Reserve()
	ctx := withScanHold(context.Background(), res, 0)
	var largest, heldDuring int64
	var rows int
	spec := ScanSpec{Table: "m", Time: sql.FullRange, Columns: []string{"v", "w"}}
	err = EngineSource{Engine: eng, DB: testDB, Raw: true}.ScanBatches(ctx, spec, nil, func(b *columnar.ColumnBatch) error {
		largest = max(largest, b.ArrayBytes())
		heldDuring = max(heldDuring, res.Held())
		rows += b.Len
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != 100_000 {
		t.Fatalf("scanned %d rows, want 100,000", rows)
	}
	if want := 3 * int64(runtime.GOMAXPROCS(0)) * largest; largest == 0 || heldDuring < want {
		t.Fatalf("while scanning %d bytes reserved, want at least %d (batches of up to %d bytes on %d workers, three times)",
			heldDuring, want, largest, runtime.GOMAXPROCS(0))
	}
	if res.Held() != 0 || budget.Used() != 0 {
		t.Fatalf("after the scan %d bytes reserved (budget: %d), want 0", res.Held(), budget.Used())
	}

	// A budget that cannot hold them stops the scan with its error.
	small := NewBudget(largest)
	ctx = withScanHold(context.Background(), small.Reserve(), 0)
	err = EngineSource{Engine: eng, DB: testDB, Raw: true}.ScanBatches(ctx, spec, nil, func(*columnar.ColumnBatch) error { return nil })
	if !errors.Is(err, ErrMemoryLimit) || small.Used() != 0 {
		t.Fatalf("a scan past the budget: %v, %d bytes left reserved; want ErrMemoryLimit and 0", err, small.Used())
	}
}

// The copies a parallel engine scan makes ahead of its consumer are the
// query's: charged to its reservation while held, bounded by half its
// --query-max-memory, and given back when the scan ends. The consumer
// holds the first batch until the producers' copies show in the
// reservation, so the lookahead is exercised whatever the scheduling.
func TestEngineScanChargesLookahead(t *testing.T) {
	procs := int64(runtime.GOMAXPROCS(0))
	if procs < 2 {
		t.Skip("one worker: a scan runs its tasks in turn and copies nothing")
	}
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	// Eight segments of disjoint times: eight tasks of the scan.
	const segs, perSeg = 8, 20_000
	var wantSum, keptSum, keptCount int64 // the rows of w < 200
	for s := range segs {
		var body []byte
		for k := range perSeg {
			i := s*perSeg + k
			wantSum += int64(i)
			if i%1000 < 200 {
				keptSum += int64(i)
				keptCount++
			}
			body = fmt.Appendf(body, "m,host=h%d v=%d,w=%d.5 %d\n", i%16, i, i%1000, 1_700_000_000_000_000_000+int64(i)*1_000_000)
		}
		var b columnar.Batch
		lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { t.Fatalf("line protocol: %v", e) })
		if _, err := eng.Write(testDB, &b); err != nil {
			t.Fatal(err)
		}
		if err := eng.Flush(); err != nil {
			t.Fatal(err)
		}
	}

	const maxBytes = 2 << 20 // the query's --query-max-memory
	budget := NewBudget(0)
	res := budget.Reserve()
	ctx := withScanHold(context.Background(), res, maxBytes)
	var largest, ahead, sum int64
	var rows int
	spec := ScanSpec{Table: "m", Time: sql.FullRange, Columns: []string{"v"}}
	err = EngineSource{Engine: eng, DB: testDB, Raw: true}.ScanBatches(ctx, spec, nil, func(b *columnar.ColumnBatch) error {
		largest = max(largest, b.ArrayBytes())
		readers := 3 * procs * largest // what query.ScanCharge holds now
		if rows == 0 {
			// Wait for a producer ahead of its turn to copy a batch.
			for spins := 0; res.Held() <= readers; spins++ {
				if spins == 5_000_000 {
					t.Fatalf("no copy ahead of the consumer was charged: %d bytes held, the readers' %d", res.Held(), readers)
				}
				runtime.Gosched()
			}
		}
		ahead = max(ahead, res.Held()-readers)
		v := batchField(b, "v", columnar.FieldFloat)
		for r := range b.Rows() {
			sum += int64(v.F[r])
			rows++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != segs*perSeg || sum != wantSum {
		t.Fatalf("scanned %d rows summing %d, want %d summing %d", rows, sum, segs*perSeg, wantSum)
	}
	if ahead <= 0 || ahead > maxBytes/2 {
		t.Fatalf("copies ahead of the consumer held up to %d bytes, want some and at most %d (half of --query-max-memory)", ahead, maxBytes/2)
	}
	if res.Held() != 0 || budget.Used() != 0 {
		t.Fatalf("after the scan %d bytes reserved (budget: %d), want 0", res.Held(), budget.Used())
	}

	// A query under that limit answers, raw rows scanned in parallel (a fifth
	// of them kept: all would pass the limit), and leaves nothing reserved.
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	q, err := sql.Compile("SELECT count(v), sum(v) FROM m WHERE w < 200", cat, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	ans, err := RunLimited(context.Background(), q, EngineSource{Engine: eng, DB: testDB, Raw: true}, names,
		Limits{MaxMemoryBytes: maxBytes, Shared: budget})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ans.Rows); got != fmt.Sprint([][]any{{keptCount, float64(keptSum)}}) {
		t.Fatalf("count and sum under --query-max-memory %d: %s, want %d and %d", maxBytes, got, keptCount, keptSum)
	}
	if budget.Used() != 0 {
		t.Fatalf("after the query %d bytes reserved, want 0", budget.Used())
	}
}

// heldSource is an engine source that notes, in each batch it hands on,
// what the shared budget has reserved while the batch is held.
type heldSource struct {
	EngineSource
	budget *Budget
	first  int64 // reserved while the first batch is held
	batch  int64 // the first batch's bytes
	n      int
}

func (s *heldSource) ScanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	return s.EngineSource.ScanBatches(ctx, spec, stats, func(b *columnar.ColumnBatch) error {
		if s.n == 0 {
			s.first, s.batch = s.budget.Used(), b.ArrayBytes()
		}
		s.n++
		return fn(b)
	})
}

// Every typed path charges the engine scan's readers to its query's
// reservation as RunLimited does: the typed InfluxQL path (RunColumns)
// and the typed SQL path (RunTable). While the first batch is held,
// before the query has kept anything of it, the shared budget holds at
// least the readers' three batches per worker; after the query, nothing.
// Mutation-checked: without withScanHold in runColumnsOnce, RunColumns
// reserved nothing while the first batch was held.
func TestTypedRunsChargeScanReaders(t *testing.T) {
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	var body []byte
	for i := range 100_000 {
		body = fmt.Appendf(body, "m,host=h%d v=%d,w=%d.5 %d\n", i%16, i, i%1000, 1_700_000_000_000_000_000+int64(i)*1_000_000)
	}
	var b columnar.Batch
	lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { t.Fatalf("line protocol: %v", e) })
	if _, err := eng.Write(testDB, &b); err != nil {
		t.Fatal(err)
	}
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	q, err := sql.Compile("SELECT host, max(v) FROM m GROUP BY host", cat, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]func(BatchSource, Limits) error{
		"RunColumns": func(src BatchSource, lim Limits) error {
			cols, ok, err := RunColumns(context.Background(), q, src, lim)
			if err == nil && (!ok || len(cols.Rows) != 16) {
				return fmt.Errorf("answered ok %v with %v", ok, cols)
			}
			return err
		},
		"RunTable": func(src BatchSource, lim Limits) error {
			_, tab, err := RunTable(context.Background(), q, src, names, lim)
			if err == nil && (tab == nil || len(tab.Rows) != 16) {
				return fmt.Errorf("answered %v", tab)
			}
			return err
		},
	}
	for name, run := range runs {
		budget := NewBudget(1 << 30)
		src := &heldSource{EngineSource: EngineSource{Engine: eng, DB: testDB, Raw: true}, budget: budget}
		if err := run(src, Limits{Shared: budget}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if src.n == 0 || src.batch == 0 {
			t.Fatalf("%s: scanned no batch", name)
		}
		if want := 3 * src.batch; src.first < want {
			t.Errorf("%s: %d bytes reserved while the first batch (%d bytes) was held, want at least %d (the scan's readers)", name, src.first, src.batch, want)
		}
		if budget.Used() != 0 {
			t.Errorf("%s: %d bytes reserved after the query, want 0", name, budget.Used())
		}
	}
}
