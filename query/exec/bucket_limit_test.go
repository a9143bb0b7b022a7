package exec

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// countingSource counts the rows an EngineSource delivers (raw rows and
// rollup rows alike); embedding keeps its other interfaces.
type countingSource struct {
	EngineSource
	rows int64
}

func (c *countingSource) ScanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	return c.EngineSource.ScanBatches(ctx, spec, stats, func(b *columnar.ColumnBatch) error {
		if b.Sel != nil {
			c.rows += int64(len(b.Sel))
		} else {
			c.rows += int64(b.Len)
		}
		return fn(b)
	})
}

// TestBucketLimitFromDataBounds checks that a limited bucket order whose
// ordered end is open, or lies far past the data, is searched from where
// the data's time bounds say: it reads a stretch, not the whole table.
// (The answers themselves are checked against PostgreSQL in tsbsCases.)
func TestBucketLimitFromDataBounds(t *testing.T) {
	points := pgoracle.CPUDataset(10, cpuStart, 10*time.Second, 720, 42, pgoracle.DatasetOptions{})
	eng := loadEngine(t, pgoracle.CPUTable, points)
	// Raw: rollups would answer the whole range in a few rows anyway.
	src := &countingSource{EngineSource: EngineSource{Engine: eng, DB: testDB, Raw: true}}
	schemas, _ := eng.Tables(testDB)
	cat, _ := Catalog(schemas)
	scanned := func(q string) int64 {
		t.Helper()
		cq, err := sql.Compile(q, cat, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		src.rows = 0
		res, err := Run(context.Background(), cq, src, nil)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if len(res.Rows) != 5 {
			t.Fatalf("%s: %d rows, want 5", q, len(res.Rows))
		}
		return src.rows
	}
	all := int64(len(points))
	for _, q := range []string{
		fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, max(usage_user) FROM cpu WHERE time < %s GROUP BY 1 ORDER BY 1 LIMIT 5`, origin, ts(2*time.Hour)),
		fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, max(usage_user) FROM cpu GROUP BY 1 ORDER BY 1 LIMIT 5`, origin),
		fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, max(usage_user) FROM cpu GROUP BY 1 ORDER BY 1 DESC LIMIT 5`, origin),
		fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, max(usage_user) FROM cpu WHERE time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 5`, origin, ts(30*24*time.Hour)),
		fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS m, max(usage_user) FROM cpu WHERE time >= %s GROUP BY 1 ORDER BY 1 LIMIT 5`, origin, ts(-30*24*time.Hour)),
	} {
		// Six minutes of ten hosts every 10 s is 360 rows; the range 7200.
		n := scanned(q)
		t.Logf("%s: scanned %d of %d rows", q, n, all)
		if n > all/4 {
			t.Errorf("%s: scanned %d of %d rows", q, n, all)
		}
	}
}
