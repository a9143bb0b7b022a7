package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// TestTierMinIOMergesDuplicates: a late write rewrites a point of a window
// already in MinIO and is tiered beside it, so the window's objects hold
// that point twice. Compaction merges the window: while the objects cannot
// be read back intact (a corrupted download) nothing changes; once they
// can, the window's segments become local merged ones, every query answers
// as before, and the next pass uploads them and deletes the objects they
// replaced — a fresh read-only node on the bucket answers the same.
func TestTierMinIOMergesDuplicates(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO")
	}
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	faults := tiering.NewFaultStore(tr.Store)
	tr.Store, tr.Uploader.Store = faults, faults
	// A node that publishes nothing merges too.
	e := openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	ctx := context.Background()
	f.writeDays(t, e)
	if _, err := e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
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
		if s.Window == name && !s.IsRollup() {
			if !s.Cold() {
				t.Fatalf("segment %s of window %s is not tiered", s.Path, name)
			}
			old = append(old, s.Path)
		}
	}
	if len(old) < 2 {
		t.Fatalf("window %s has %d segments, want the late one beside the others", name, len(old))
	}
	qs := f.tierQueries()
	before := runAll(t, e, qs)
	if !strings.Contains(fmt.Sprint(before["raw-cold"]), "3.141592653589793") {
		t.Fatalf("the late value is not in the answer before the merge: %v", before["raw-cold"])
	}

	// Every download arrives damaged: the merge fails, the window stays
	// as it is, and no downloaded file is left in the data directory.
	faults.Add(tiering.Fault{Op: "get", Key: "segments/", Corrupt: true})
	if err := e.Compact(ctx); !errors.Is(err, tiering.ErrChecksum) {
		t.Fatalf("compaction with damaged downloads: %v, want a checksum mismatch", err)
	}
	faults.Clear()
	for _, s := range e.Manifest().Segments {
		if s.Window == name && !s.IsRollup() && !s.Cold() {
			t.Fatalf("a failed merge changed window %s: %s is local", name, s.Path)
		}
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".tmp") {
			t.Errorf("a failed merge left %s", p)
		}
		return nil
	})
	sameResults(t, "after a failed merge", before, runAll(t, e, qs))

	if err := e.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range e.Manifest().Segments {
		if s.Window == name && !s.IsRollup() && s.Cold() {
			t.Fatalf("the merge left segment %s of window %s in the bucket", s.Path, name)
		}
	}
	sameResults(t, "after the merge", before, runAll(t, e, qs))
	st, err := e.TierNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Segments == 0 || st.BucketDeletes < len(old) {
		t.Fatalf("pass after the merge: %+v, want the merged segments uploaded and the %d replaced objects deleted", st, len(old))
	}
	for _, k := range old {
		if objectExists(t, tr, k) {
			t.Fatalf("object %s, replaced by the merge, is still in the bucket", k)
		}
	}
	sameResults(t, "after the merged window was tiered", before, runAll(t, e, qs))
	ro := openEngine(t, f.config(t, t.TempDir(), f.tier(t), true))
	defer ro.Close()
	if got := runAll(t, ro, map[string]string{"cold-only": qs["cold-only"], "raw-cold": qs["raw-cold"]}); !rowsEqual(got["cold-only"], before["cold-only"]) ||
		!rowsEqual(got["raw-cold"], before["raw-cold"]) {
		t.Fatalf("a read-only node on the bucket answers differently after the merge")
	}
}
