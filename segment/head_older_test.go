package segment

import (
	"fmt"
	"math"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// appendAt appends one row of host at time t to h.
func appendAt(t *testing.T, s *columnar.TableSchema, h *Head, host string, at int64) {
	t.Helper()
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte(host))
	b.AddFloat([]byte("usage"), float64(at))
	b.EndRow(at)
	admitAll(t, s, h, &b)
}

// A head told what is older than it (SetOlder) knows which of its rows may
// repeat an older point: those at or before their series' latest time in
// the head frozen before it, or, for a series that head lacks, at or
// before the latest time of every older source.
func TestHeadRepeatsOlderIn(t *testing.T) {
	s := columnar.NewTableSchema()
	prev := NewHead(s)
	prev.SetOlder(nil, math.MinInt64)
	appendAt(t, s, prev, "h0", 10)
	appendAt(t, s, prev, "h1", 20)
	prev.Finish()

	h := NewHead(s)
	if !h.RepeatsOlderIn(math.MinInt64, math.MaxInt64) {
		t.Fatal("a head told nothing of older sources must assume its rows may repeat them")
	}
	h.SetOlder(prev, 20)
	appendAt(t, s, h, "h0", 15) // after h0's 10: new, though inside prev's range
	if h.RepeatsOlderIn(math.MinInt64, math.MaxInt64) {
		t.Fatal("h0 at 15 follows h0's latest older point (10), yet counts as a possible repeat")
	}
	appendAt(t, s, h, "h2", 18) // no older h2 known: bounded by all older sources (20)
	appendAt(t, s, h, "h1", 25)
	for _, c := range []struct {
		lo, hi int64
		want   bool
	}{{math.MinInt64, math.MaxInt64, true}, {18, 19, true}, {0, 18, false}, {19, math.MaxInt64, false}, {0, 100, true}} {
		if got := h.RepeatsOlderIn(c.lo, c.hi); got != c.want {
			t.Errorf("after h2 at 18: RepeatsOlderIn(%d, %d) = %v, want %v", c.lo, c.hi, got, c.want)
		}
	}
	appendAt(t, s, h, "h1", 20) // the point prev holds: a repeat
	if !h.RepeatsOlderIn(20, 21) {
		t.Error("h1 at 20, a point of the older head, is not a possible repeat")
	}
	if v := h.View(); !v.RepeatsOlderIn(20, 21) || v.RepeatsOlderIn(21, 30) {
		t.Error("a view does not answer as its head")
	}

	// Once the engine retires prev, a series seen first afterwards is
	// bounded by all older sources only.
	h2 := NewHead(s)
	h2.SetOlder(prev, 20)
	h2.ForgetOlder(prev)
	if h2.older.prev != nil {
		t.Fatal("ForgetOlder kept the retired head")
	}
	appendAt(t, s, h2, "h0", 15)
	if !h2.RepeatsOlderIn(15, 16) {
		t.Error("without prev, h0 at 15 (before all older sources' latest, 20) must count as a possible repeat")
	}

	// A series' bound carries what was older than prev too.
	old := NewHead(s)
	old.SetOlder(nil, 100) // segments up to 100 before it
	appendAt(t, s, old, "h0", 10)
	old.Finish()
	h3 := NewHead(s)
	h3.SetOlder(old, 100)
	appendAt(t, s, h3, "h0", 15)
	if !h3.RepeatsOlderIn(15, 16) {
		t.Error("h0 at 15 is before the older segments' latest (100) that prev's bound carried, yet counts as new")
	}
}

// Reserve counts the room it makes at once, and the rows that fill it are
// not counted again: the head's bytes stay what it holds.
func TestHeadReserveCounted(t *testing.T) {
	s := columnar.NewTableSchema()
	plain, reserved := NewHead(s), NewHead(s)
	reserved.Reserve(1000)
	if got := reserved.Bytes(); got != 1000*rowOverhead {
		t.Fatalf("a head reserving 1000 rows counts %d bytes, want %d", got, 1000*rowOverhead)
	}
	for i := range 1200 {
		appendAt(t, s, plain, fmt.Sprint("h", i%7), int64(i))
		appendAt(t, s, reserved, fmt.Sprint("h", i%7), int64(i))
	}
	if plain.Bytes() != reserved.Bytes() {
		t.Errorf("past its reserve a head counts %d bytes, the same rows unreserved %d", reserved.Bytes(), plain.Bytes())
	}
	if cap(reserved.times) < 1000 {
		t.Errorf("reserved room for %d rows, want 1000", cap(reserved.times))
	}
}
