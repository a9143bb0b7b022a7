package exec

import (
	"context"
	"errors"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
)

// growSource is n points of one int field, delivered three rows a batch
// (memSource), so that materialize's columns grow many times.
func growSource(n int) memSource {
	pts := make([]columnar.Point, n)
	for k := range pts {
		pts[k] = columnar.Point{Time: int64(k + 1), Fields: []columnar.FieldValue{{Key: "i", Type: columnar.FieldInt, Num: uint64(k)}}}
	}
	return memSource{"t": pts}
}

func growQuery(t *testing.T) *sql.Query {
	t.Helper()
	q, err := sql.Compile(`SELECT i FROM t`, handCatalog, handStart)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// The columns materialize grows are what the query's reservation holds
// once the scan ends (no more, though old arrays were charged while they
// were copied; no less than their capacity), and grow by at most double.
func TestMaterializeChargesCapacity(t *testing.T) {
	const n = 1000
	budget := NewBudget(0)
	lim := Limits{res: budget.Reserve()}
	tbl, err := materialize(context.Background(), growQuery(t), growSource(n), nil, lim)
	if err != nil {
		t.Fatal(err)
	}
	if tbl.n != n {
		t.Fatalf("%d rows, want %d", tbl.n, n)
	}
	if held := tbl.heldBytes(); tbl.bytes != held || lim.res.Held() != held || budget.Used() != held {
		t.Errorf("columns hold %d bytes; table says %d, reservation %d, budget %d", held, tbl.bytes, lim.res.Held(), budget.Used())
	}
	if c := cap(tbl.time); c < n || c >= 2*n {
		t.Errorf("capacity %d for %d rows", c, n)
	}
	for i := range int64(n) {
		if tbl.time[i] != i+1 {
			t.Fatalf("row %d: time %d", i, tbl.time[i])
		}
	}
}

// A table whose rows fit the query's limit is not failed for the spare
// capacity a doubling would add past it: the last growth stops at the
// limit.
func TestMaterializeGrowthStopsAtLimit(t *testing.T) {
	const n = 1000
	q := growQuery(t)
	per := int64(8 + 1 + 8) // time, the field's null flag and value
	tbl, err := materialize(context.Background(), q, growSource(n), nil, Limits{MaxMemoryBytes: n * per})
	if err != nil {
		t.Fatalf("%d rows of %d bytes under a limit of %d: %v", n, per, n*per, err)
	}
	if tbl.bytes > n*per {
		t.Errorf("held %d bytes past the limit %d", tbl.bytes, n*per)
	}
	// One row fewer of limit: the rows themselves do not fit.
	if _, err := materialize(context.Background(), q, growSource(n), nil, Limits{MaxMemoryBytes: n*per - per}); !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("rows past the limit: %v, want ErrMemoryLimit", err)
	}
}

// The shared budget sees the old columns and the new while one is copied
// into the other: a budget the finished table fits but a growth's both
// arrays do not fails the query, rather than the process holding more
// than the budget says.
func TestMaterializeChargesGrowthCopy(t *testing.T) {
	const n = 1000
	q := growQuery(t)
	lim := Limits{res: NewBudget(0).Reserve()}
	tbl, err := materialize(context.Background(), q, growSource(n), nil, lim)
	if err != nil {
		t.Fatal(err)
	}
	// A budget the finished columns fit exactly: their last growth held
	// the arrays before it too.
	final := tbl.heldBytes()
	budget := NewBudget(final)
	_, err = materialize(context.Background(), q, growSource(n), nil, Limits{res: budget.Reserve()})
	if !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("a budget of %d bytes, as much as the finished columns: %v, want ErrMemoryLimit", final, err)
	}
	// With room for both arrays of the last growth, the query runs.
	if _, err := materialize(context.Background(), q, growSource(n), nil, Limits{res: NewBudget(2 * final).Reserve()}); err != nil {
		t.Errorf("a budget of %d bytes for columns of %d: %v", 2*final, final, err)
	}
}
