package exec

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// TestMemoryLimitChargesAnswerRows: --query-max-memory counts the answer's
// rows as values on top of the columns. 20k rows of four columns take
// about 0.5 MB as columns and 2 MB as values: a limit of 1 MB lets the
// columns be read but refuses SELECT *, names the flag, and takes the same
// rows with LIMIT or as an aggregate.
func TestMemoryLimitChargesAnswerRows(t *testing.T) {
	const n = 20_000
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	pts := make([]pgoracle.Point, n)
	for i := range pts {
		pts[i] = pgoracle.Point{Time: base + int64(i)*int64(time.Second),
			Tags:   map[string]string{"host": []string{"a", "b", "c"}[i%3]},
			Fields: map[string]any{"v": float64(i), "s": "x"}}
	}
	eng := loadEngine(t, "m", pts)
	run := func(text string, limit int64) error {
		schemas, _ := eng.Tables(testDB)
		cat, names := Catalog(schemas)
		q, err := sql.Compile(text, cat, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		_, err = RunLimited(context.Background(), q, EngineSource{Engine: eng, DB: testDB, Raw: true}, names, Limits{MaxMemoryBytes: limit})
		return err
	}
	if err := run("SELECT * FROM m", 0); err != nil {
		t.Fatalf("unlimited: %v", err)
	}
	err := run("SELECT * FROM m", 1<<20)
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "result rows") || !strings.Contains(err.Error(), "--query-max-memory") {
		t.Fatalf("SELECT * within 1 MiB: %v, want the memory limit charged on the answer's rows", err)
	}
	for _, ok := range []string{"SELECT * FROM m LIMIT 100", "SELECT host, count(*), avg(v) FROM m GROUP BY host"} {
		if err := run(ok, 1<<20); err != nil {
			t.Errorf("%s within 1 MiB: %v", ok, err)
		}
	}
}
