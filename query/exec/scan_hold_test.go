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
	ctx := withScanHold(context.Background(), res)
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
	ctx = withScanHold(context.Background(), small.Reserve())
	err = EngineSource{Engine: eng, DB: testDB, Raw: true}.ScanBatches(ctx, spec, nil, func(*columnar.ColumnBatch) error { return nil })
	if !errors.Is(err, ErrMemoryLimit) || small.Used() != 0 {
		t.Fatalf("a scan past the budget: %v, %d bytes left reserved; want ErrMemoryLimit and 0", err, small.Used())
	}
}
