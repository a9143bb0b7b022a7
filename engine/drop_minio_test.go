package engine_test

import (
	"context"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
)

func countPoints(t *testing.T, e *engine.Engine) int {
	t.Helper()
	n := 0
	if err := e.Scan(tierDB, "cpu", func(*columnar.Point) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestDropColdMinIO: dropping a table whose old windows are in the object
// store removes them from the manifest at once (queries see nothing), and
// the next tiering pass deletes their objects in the bucket and publishes
// a bucket manifest without them, which a read-only node then adopts.
func TestDropColdMinIO(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	e := openEngine(t, f.config(t, dir, tr, false))
	f.writeDays(t, e)
	if _, err := e.TierNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	var cold []string
	for _, s := range e.Manifest().Segments {
		if s.Cold() {
			cold = append(cold, s.Path)
		}
	}
	if len(cold) == 0 {
		t.Fatal("nothing was tiered")
	}
	if n := countPoints(t, e); n == 0 {
		t.Fatal("no points before the drop")
	}
	if err := e.DropTable(tierDB, "cpu"); err != nil {
		t.Fatal(err)
	}
	if n := countPoints(t, e); n != 0 {
		t.Fatalf("%d points after the drop", n)
	}
	for _, s := range e.Manifest().Segments {
		if s.Table == "cpu" {
			t.Fatalf("segment %s still in the manifest", s.Path)
		}
	}
	// Until the next pass the objects stay (a scan may still read them).
	st, err := e.TierNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.BucketDeletes < len(cold) {
		t.Errorf("the pass deleted %d objects, want at least the %d cold segments", st.BucketDeletes, len(cold))
	}
	for _, k := range cold {
		if objectExists(t, tr, k) {
			t.Errorf("object %s of the dropped table is still in the bucket", k)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// A read-only node adopting the bucket manifest sees no cpu either.
	ro := openEngine(t, f.config(t, t.TempDir(), f.tier(t), true))
	defer ro.Close()
	if tables, _ := ro.Tables(tierDB); tables["cpu"] != nil || len(ro.Manifest().Segments) != 0 {
		t.Errorf("the read-only node still has cpu: %d segments", len(ro.Manifest().Segments))
	}
	if n := countPoints(t, ro); n != 0 {
		t.Errorf("the read-only node reads %d points", n)
	}
	if err := ro.DropTable(tierDB, "cpu"); err != engine.ErrReadOnly {
		t.Errorf("drop on a read-only node: %v", err)
	}
}
