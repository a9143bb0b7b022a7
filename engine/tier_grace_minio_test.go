package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/segment"
)

// TestTierMinIODeleteGrace: a read-only node loads the bucket manifest
// while a window there holds two segments with a point twice; the writer
// merges the window and its next pass puts a bucket manifest without the
// two objects — and is killed (its data directory copied) right after
// that put, before it recorded the put. The restarted writer
// (--tier.delete-grace long) tiers the merged window and keeps the
// objects: the read-only node, still on the manifest it loaded, reads the
// replaced objects and answers as before. A second kill during the grace
// changes nothing.
// Once the grace (shortened) has passed since the put that dropped them,
// a pass deletes them: nothing is left in the prefix that no segment
// names, and a reloaded read-only node answers the same.
func TestTierMinIODeleteGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO")
	}
	f := newTierFixture(t)
	f.prefix = "grace"
	ctx := context.Background()
	dir := t.TempDir()
	cfg := f.config(t, dir, f.tier(t), false)
	cfg.Tiering.DeleteGrace = time.Hour
	e := openEngine(t, cfg)
	defer e.Close()
	f.writeDays(t, e)
	if _, err := e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	// A late write rewrites a point of a tiered window, and is tiered
	// beside it: the window's objects hold the point twice.
	win := f.today - 4*int64(segment.WindowDuration)
	name := segment.WindowName(win)
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("h1"))
	b.AddTag([]byte("region"), []byte("us"))
	b.AddFloat([]byte("usage"), math.Pi)
	b.AddNum([]byte("n"), columnar.FieldInt, 7)
	b.EndRow(win + int64(20*time.Minute))
	if _, err := e.Write(tierDB, &b); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	var old []string
	for _, s := range e.Manifest().Segments {
		if s.Window == name && s.Cold() {
			old = append(old, s.Path)
		}
	}
	if len(old) < 2 {
		t.Fatalf("window %s has %d cold segments, want the late one beside the others", name, len(old))
	}
	qs := f.tierQueries()
	before := runAll(t, e, qs)
	// What the read-only node holds: the windows in the bucket.
	coldQs := map[string]string{"cold-only": qs["cold-only"], "raw-cold": qs["raw-cold"]}
	beforeCold := map[string][][]any{"cold-only": before["cold-only"], "raw-cold": before["raw-cold"]}
	if !strings.Contains(fmt.Sprint(before["raw-cold"]), "3.141592653589793") {
		t.Fatalf("the late value is not in the answer: %v", before["raw-cold"])
	}

	// The reader: a read-only node that loaded the manifest naming them
	// (its loop reloads hourly: it keeps this manifest until told).
	ro := openEngine(t, f.config(t, t.TempDir(), f.tier(t), true))
	defer ro.Close()
	for _, k := range old {
		if !slices.ContainsFunc(ro.Manifest().Segments, func(s segment.SegmentMeta) bool { return s.Path == k }) {
			t.Fatalf("the read-only node's manifest does not name %s: the test would prove nothing", k)
		}
	}

	// The merge, then the pass whose bucket manifest drops the objects:
	// killed right after that put.
	if err := e.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	killed := filepath.Join(t.TempDir(), "data")
	fired := false
	engine.SetTierFailpoint(e, func(s string) error {
		if s != "sync.published" || fired {
			return nil
		}
		fired = true
		copyDir(t, dir, killed)
		return errKilled
	})
	if _, err := e.TierNow(ctx); !errors.Is(err, errKilled) {
		t.Fatalf("pass after the merge: %v, want the kill after the bucket manifest put", err)
	}
	e.Close()
	for _, k := range old {
		if !objectExists(t, f.tier(t), k) {
			t.Fatalf("object %s is gone right after the manifest stopped naming it", k)
		}
	}
	// The read-only node reads nothing yet: its first reads of the
	// replaced objects come after the restarted writer's pass below (its
	// cache would hide a delete after a read).

	// The restart: the ledger remembers the objects, not yet stamped (the
	// kill came before); the first pass stamps them and keeps them.
	tr2 := f.tier(t)
	cfg2 := f.config(t, killed, tr2, false)
	cfg2.Tiering.DeleteGrace = time.Hour
	e2 := openEngine(t, cfg2)
	defer e2.Close()
	pending := func(e *engine.Engine) map[string]int64 {
		out := map[string]int64{}
		if l := e.Manifest().Bucket; l != nil {
			for _, d := range l.Deletes {
				out[d.Key] = d.Unlisted
			}
		}
		return out
	}
	for _, k := range old {
		if u, ok := pending(e2)[k]; !ok || u != 0 {
			t.Fatalf("after the kill, the ledger has %s: %v (unlisted %d), want it pending and not stamped", k, ok, u)
		}
	}
	st, err := e2.TierNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BucketDeletes != 0 || st.Segments == 0 {
		t.Fatalf("first pass after the restart: %+v, want the merged window tiered and nothing deleted", st)
	}
	stamps := pending(e2)
	for _, k := range old {
		if stamps[k] == 0 {
			t.Fatalf("the first pass after the restart did not start the grace of %s", k)
		}
		if !objectExists(t, tr2, k) {
			t.Fatalf("object %s deleted within its grace", k)
		}
	}
	sameResults(t, "the read-only node, on the manifest from before the merge, during the grace", beforeCold, runAll(t, ro, coldQs))

	if n := pendingGauge(t, e2); n != float64(len(old)) {
		t.Fatalf("silt_tier_bucket_pending_deletes %v during the grace, want %d", n, len(old))
	}

	// A second kill during the grace: the copy keeps the stamps.
	killed2 := filepath.Join(t.TempDir(), "data")
	copyDir(t, killed, killed2)
	e2.Close()
	cfg3 := f.config(t, killed2, f.tier(t), false)
	cfg3.Tiering.DeleteGrace = time.Hour
	e3 := openEngine(t, cfg3)
	defer e3.Close()
	if st, err := e3.TierNow(ctx); err != nil || st.BucketDeletes != 0 {
		t.Fatalf("pass after the second restart: %+v, %v; want nothing deleted within the grace", st, err)
	}
	for _, k := range old {
		if got := pending(e3)[k]; got != stamps[k] {
			t.Fatalf("the second restart changed the grace of %s: unlisted %d, was %d", k, got, stamps[k])
		}
	}

	// The grace ends: the next pass deletes them.
	grace := 200 * time.Millisecond
	engine.SetDeleteGrace(e3, grace)
	for _, u := range pending(e3) {
		if d := time.Until(time.Unix(0, u).Add(grace)); d > 0 {
			time.Sleep(d + 10*time.Millisecond)
		}
	}
	st, err = e3.TierNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BucketDeletes < len(old) {
		t.Fatalf("pass after the grace: %+v, want the %d replaced objects deleted", st, len(old))
	}
	for _, k := range old {
		if objectExists(t, tr2, k) {
			t.Fatalf("object %s is still in the bucket after its grace", k)
		}
	}
	checkBucketMatches(t, tr2, e3.Manifest(), f.today-2*int64(segment.WindowDuration))
	if n := pendingGauge(t, e3); n != 0 {
		t.Fatalf("silt_tier_bucket_pending_deletes %v after the deletes, want 0", n)
	}
	if err := ro.ReloadBucketManifest(ctx); err != nil {
		t.Fatal(err)
	}
	sameResults(t, "the read-only node reloaded after the deletes", beforeCold, runAll(t, ro, coldQs))
	sameResults(t, "the writer after the deletes", before, runAll(t, e3, qs))
}

// pendingGauge reads silt_tier_bucket_pending_deletes from e's registry.
func pendingGauge(t *testing.T, e *engine.Engine) float64 {
	t.Helper()
	mfs, err := e.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "silt_tier_bucket_pending_deletes" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no silt_tier_bucket_pending_deletes")
	return 0
}
