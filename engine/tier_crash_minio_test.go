package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

var errKilled = errors.New("killed at a failpoint")

// TestTierMinIOCrashAtEveryStep "kills" a node at each step of tiering a
// late segment into a window of the bucket, merging that window (it now
// holds a point twice) and tiering the merge: upload recorded, uploaded,
// bucket manifest put, committed cold; inputs downloaded; merge committed;
// retired objects recorded, bucket manifest republished, objects deleted.
// The kill is exact: the failpoint copies the data directory (what a
// kill -9 leaves: every commit is atomic and synced) and ends the
// operation, and the copy is then opened as the restarted node, against
// the same bucket. After compactions and passes: no object in the node's
// prefix that no segment names, the bucket manifest naming exactly the
// cold segments, nothing local left, and every query answering as before
// the kill (the late write included).
func TestTierMinIOCrashAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO")
	}
	f := newTierFixture(t)
	steps := []struct {
		step string
		n    int // at its n-th call since the late write
	}{
		// The late segment's pass. The restarted node merges the window
		// before any pass resumes the upload: its object must not stay.
		{"pass.recorded", 1}, {"pass.uploaded", 1}, {"pass.manifest", 1}, {"pass.committed", 1},
		// The merge, and the pass after it (started: the merge committed).
		{"merge.downloaded", 1}, {"pass.start", 2},
		{"sync.recorded", 2}, {"sync.published", 1}, {"sync.deleted", 1},
		// The merged segments' upload in that pass.
		{"pass.recorded", 2}, {"pass.uploaded", 2}, {"pass.manifest", 2}, {"pass.committed", 2},
	}
	for i, sc := range steps {
		for _, inPass := range []bool{false, true} {
			name := fmt.Sprintf("%s#%d/merge-first", sc.step, sc.n)
			if inPass {
				name = fmt.Sprintf("%s#%d/merge-in-pass", sc.step, sc.n)
			}
			t.Run(name, func(t *testing.T) {
				f.prefix = fmt.Sprintf("crash-step-%d-%v", i, inPass)
				crashAt(t, f, sc.step, sc.n, inPass)
			})
		}
	}
}

// crashAt kills a node at the n-th call of failpoint step and restarts
// it. The restarted node merges the window either before its first pass
// or, inPass, inside it: after the pass synced the bucket (and, after a
// start, listed it) and before it builds the bucket manifest of its
// uploads — the race of a merge committing while a pass runs.
func crashAt(t *testing.T, f *tierFixture, step string, n int, inPass bool) {
	ctx := context.Background()
	dir := t.TempDir()
	tr := f.tier(t)
	faults := tiering.NewFaultStore(tr.Store)
	tr.Store, tr.Uploader.Store = faults, faults
	e := openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	f.writeDays(t, e)
	if _, err := e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	// A late write rewrites a point of a tiered window.
	win := f.today - 4*int64(segment.WindowDuration)
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
	qs := f.tierQueries()
	before := runAll(t, e, qs)
	if !strings.Contains(fmt.Sprint(before["raw-cold"]), "3.141592653589793") {
		t.Fatalf("the late value is not in the answer: %v", before["raw-cold"])
	}

	// From here the failpoint counts calls; at the chosen one it copies
	// the data directory and ends the operation.
	killed := filepath.Join(t.TempDir(), "data")
	calls := map[string]int{}
	fired := false
	engine.SetTierFailpoint(e, func(s string) error {
		calls[s]++
		if fired || s != step || calls[s] != n {
			return nil
		}
		fired = true
		copyDir(t, dir, killed)
		return errKilled
	})
	// The sequence: the late segment's pass, the merge, the pass after.
	for _, op := range []func() error{
		func() error { _, err := e.TierNow(ctx); return err },
		func() error { return e.Compact(ctx) },
		func() error { _, err := e.TierNow(ctx); return err },
	} {
		if err := op(); err != nil && !errors.Is(err, errKilled) {
			t.Fatal(err)
		}
		if fired {
			break
		}
	}
	if !fired {
		t.Fatalf("failpoint %s#%d never reached (calls: %v)", step, n, calls)
	}
	// The killed node does nothing more to the bucket.
	faults.Add(tiering.Fault{Err: tiering.ErrInjected})

	// The restart: a new engine on the copy, the same bucket prefix. The
	// merge runs first, as it may after a start, before a pass resumes
	// an upload.
	tr2 := f.tier(t)
	e2 := openEngine(t, f.config(t, killed, tr2, false))
	defer e2.Close()
	sameResults(t, "after the restart", before, runAll(t, e2, qs))
	if inPass {
		merged := false
		engine.SetTierFailpoint(e2, func(s string) error {
			if s == "sync.recorded" && !merged {
				merged = true
				if err := e2.Compact(ctx); err != nil {
					t.Errorf("merge inside the pass: %v", err)
				}
			}
			return nil
		})
	}
	for i := range 3 {
		if i > 0 || !inPass {
			if err := e2.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e2.TierNow(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sameResults(t, "after the passes that follow the restart", before, runAll(t, e2, qs))
	checkBucketMatches(t, tr2, e2.Manifest(), f.today-2*int64(segment.WindowDuration))
}

// checkBucketMatches fails on an object in the prefix's segments/ that no
// cold segment of m names (an orphan), a cold segment without its object,
// a segment of a window before coldEnd still local, a bucket manifest
// naming other segments than m's cold ones, and a ledger left with work.
func checkBucketMatches(t *testing.T, tr *tiering.Tier, m *manifest.Manifest, coldEnd int64) {
	t.Helper()
	ctx := context.Background()
	objs, err := tr.Store.List(ctx, "segments/")
	if err != nil {
		t.Fatal(err)
	}
	cold := map[string]bool{}
	var coldIDs []uint64
	for _, s := range m.Segments {
		if s.Cold() {
			cold[s.Path] = true
			coldIDs = append(coldIDs, s.ID)
		} else if s.MaxTime < coldEnd {
			t.Errorf("segment %s of a tiered window is still local", s.Path)
		}
	}
	for _, o := range objs {
		if !cold[o.Key] {
			t.Errorf("orphan: object %s is named by no segment", o.Key)
		}
		delete(cold, o.Key)
	}
	for k := range cold {
		t.Errorf("cold segment %s has no object", k)
	}
	if !m.Bucket.Empty() {
		t.Errorf("the ledger still holds work: %+v", *m.Bucket)
	}
	info, err := tr.Store.Stat(ctx, engine.BucketManifestKey)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := tr.Store.GetRange(ctx, engine.BucketManifestKey, 0, info.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	bm := manifest.NewManifest()
	if err := json.NewDecoder(rc).Decode(bm); err != nil {
		t.Fatal(err)
	}
	if bm.Version != manifest.VersionBase || bm.Bucket != nil {
		t.Errorf("bucket manifest has version %d and ledger %v: readers expect version 1 without one", bm.Version, bm.Bucket)
	}
	var named []uint64
	for _, s := range bm.Segments {
		named = append(named, s.ID)
	}
	slices.Sort(named)
	slices.Sort(coldIDs)
	if !slices.Equal(named, coldIDs) {
		t.Errorf("bucket manifest names %v, the cold segments are %v", named, coldIDs)
	}
}

// copyDir copies the data directory src to dst as a kill -9 would leave
// it (LOCK left out: it belongs to the live process).
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if rel == "LOCK" {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, raw, 0o644)
	})
	if err != nil {
		t.Fatalf("copy the data directory at the failpoint: %v", err)
	}
}
