package exec

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// TestSharedBudget runs real queries against a budget shared with others:
// a query fits while the budget has room, fails with ErrMemoryLimit naming
// the shared flag when the others' reservations leave too little, and
// every query gives back all it reserved, also concurrently.
func TestSharedBudget(t *testing.T) {
	points := pgoracle.CPUDataset(10, cpuStart, 10*time.Second, 720, 42, pgoracle.DatasetOptions{})
	eng := loadEngine(t, pgoracle.CPUTable, points)
	src := EngineSource{Engine: eng, DB: testDB, Raw: true}
	schemas, _ := eng.Tables(testDB)
	cat, _ := Catalog(schemas)
	q, err := sql.Compile(`SELECT hostname, usage_user, usage_system FROM cpu WHERE usage_idle > 10 ORDER BY time LIMIT 20`, cat, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	run := func(b *Budget) error {
		_, err := RunLimited(context.Background(), q, src, nil, Limits{MaxMemoryBytes: 1 << 30, Shared: b})
		return err
	}

	b := NewBudget(64 << 20)
	if err := run(b); err != nil {
		t.Fatalf("with room: %v", err)
	}
	if b.Used() != 0 {
		t.Fatalf("%d bytes still reserved after the query", b.Used())
	}

	// Another query holds all but 1 KiB: this one needs more.
	other := &reservation{b: b}
	if err := other.grow(64<<20 - 1<<10); err != nil {
		t.Fatal(err)
	}
	err = run(b)
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "--query-max-memory-total") {
		t.Fatalf("with the budget taken: %v, want ErrMemoryLimit naming --query-max-memory-total", err)
	}
	other.release()
	if b.Used() != 0 {
		t.Fatalf("%d bytes reserved after all released", b.Used())
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := run(b); err != nil && !errors.Is(err, ErrMemoryLimit) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if b.Used() != 0 {
		t.Fatalf("%d bytes still reserved after concurrent queries", b.Used())
	}
}
