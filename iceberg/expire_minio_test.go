package iceberg_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/segment"
)

// TestIcebergMinIOExpiry: an engine tiers four windows into MinIO and
// publishes them; then three writers commit to the one table at once, over
// and over (each commit withdrawing a window or bringing it back), with
// snapshot expiry and a short metadata log, and one of them is stopped
// once between its manifests and its version (a crash). Afterwards:
//
//   - the current version and every version of its metadata log load in
//     iceberg-go, and every snapshot they hold has its manifest list and
//     manifests (iceberg-go reads them all): no delete removed a file a
//     version still names, whichever writer committed what;
//   - the table's metadata/ holds nothing else (the crashed attempt's files
//     are swept once old), far fewer objects than the commits wrote;
//   - iceberg-go's scan and DuckDB over the listed files return Silt's rows.
func TestIcebergMinIOExpiry(t *testing.T) {
	f := newFixture(t)
	day := int64(segment.WindowDuration)
	ctx := context.Background()
	f.write(t, f.today-6*day, time.Now().Add(-time.Hour).UnixNano())
	if _, err := f.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	coldEnd := f.today - 2*day
	var wins []int64
	for w := f.today - 6*day; w < coldEnd; w += day {
		wins = append(wins, w)
	}
	f.checkPublished(t, wins...)
	var full iceberg.Table
	for _, tb := range iceberg.Tables(f.e.Manifest()) {
		if tb.DB == db && tb.Name == "cpu" {
			full = tb
		}
	}
	if len(full.Files) < len(wins) {
		t.Fatalf("table has %d files for %d windows", len(full.Files), len(wins))
	}

	// The commit clock: 20 s later at each reading, shared by the writers,
	// so snapshots age as commits go by; a jump past OrphanAge at the end.
	// OrphanAge stays far above the clock's run during the commits: the
	// sweep compares it with the store's real times, and a clock that ran
	// past OrphanAge would make a commit in flight look abandoned (its
	// sweep-protected manifests deleted before its version names them),
	// which real clocks never do (an attempt that long gives up first).
	const orphanAge = 1000 * time.Hour
	base := time.Now()
	var ticks atomic.Int64
	var jump atomic.Int64
	clock := func() time.Time {
		return base.Add(time.Duration(ticks.Add(1))*20*time.Second + time.Duration(jump.Load()))
	}
	const keep, writers, rounds = 3, 3, 30
	pubs := make([]*iceberg.Publisher, writers)
	for i := range pubs {
		pubs[i] = &iceberg.Publisher{Store: f.root, Location: f.pub.Location, Now: clock, MaxAttempts: 100,
			PreviousVersions: keep, MinSnapshots: 2, MaxSnapshotAge: time.Minute, OrphanAge: orphanAge}
	}
	var commits atomic.Int64
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				tb := full
				if (r+i)%2 == 0 {
					drop := full.Files[(r+i)%len(full.Files)]
					tb.Files = slices.DeleteFunc(slices.Clone(full.Files), func(d iceberg.DataFile) bool { return d.Key == drop.Key })
				}
				if i == 0 && r == rounds/2 {
					// A table no other writer commits (no files), so
					// that the attempt writes a manifest and a list.
					p.BeforeCommit = func(string, string, int) error { return errors.New("killed before the version") }
					if _, err := p.Publish(ctx, iceberg.Table{DB: db, Name: "cpu", Schema: full.Schema}); err == nil {
						errs[i] = errors.New("the stopped commit succeeded")
						return
					}
					p.BeforeCommit = nil
				}
				res, err := p.Publish(ctx, tb)
				if err != nil {
					errs[i] = fmt.Errorf("round %d: %w", r, err)
					return
				}
				if res.Committed {
					commits.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	// Every version a reader can reach, and every snapshot in it, is
	// whole; it returns the current table and the objects under
	// metadata/ that no reachable version names.
	fsys := s3IO{f.root, f.pub.Location}
	key2 := func(loc string) string { return strings.TrimPrefix(loc, f.pub.Location+"/") }
	check := func(when string) (*table.Table, []string, int) {
		t.Helper()
		v, key, err := f.pub.Current(ctx, db, "cpu")
		if err != nil {
			t.Fatal(err)
		}
		cur, err := table.NewFromLocation(ctx, table.Identifier{db, "cpu"}, f.pub.Location+"/"+key,
			func(context.Context) (iceio.IO, error) { return fsys, nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		locs := []string{f.pub.Location + "/" + key}
		for l := range cur.Metadata().PreviousFiles() {
			locs = append(locs, l.MetadataFile)
		}
		if len(locs) != keep+1 {
			t.Fatalf("%s: version %d: %d versions reachable, want the current one and %d before it", when, v, len(locs), keep)
		}
		named := map[string]bool{"iceberg/db/cpu/metadata/version-hint.text": true}
		snaps := 0
		for _, loc := range locs {
			tbl, err := table.NewFromLocation(ctx, table.Identifier{db, "cpu"}, loc,
				func(context.Context) (iceio.IO, error) { return fsys, nil }, nil)
			if err != nil {
				t.Fatalf("%s: iceberg-go cannot load %s: %v", when, loc, err)
			}
			named[key2(loc)] = true
			for _, s := range tbl.Metadata().Snapshots() {
				snaps++
				mfs, err := s.Manifests(fsys)
				if err != nil {
					t.Fatalf("%s: %s: snapshot %d: manifest list: %v", when, loc, s.SnapshotID, err)
				}
				named[key2(s.ManifestList)] = true
				for _, mf := range mfs {
					for _, err := range mf.Entries(fsys, false) {
						if err != nil {
							t.Fatalf("%s: %s: snapshot %d: manifest %s: %v", when, loc, s.SnapshotID, mf.FilePath(), err)
						}
					}
					named[key2(mf.FilePath())] = true
				}
			}
		}
		objs, err := f.root.List(ctx, "iceberg/db/cpu/metadata/")
		if err != nil {
			t.Fatal(err)
		}
		var unnamed []string
		for _, o := range objs {
			if !named[o.Key] {
				unnamed = append(unnamed, o.Key)
			}
		}
		t.Logf("%s: %d commits by %d writers; %d objects under metadata/ (%d snapshots in %d reachable versions, %d named by none); %d deleted",
			when, commits.Load(), writers, len(objs), snaps, len(locs), len(unnamed), pubs[0].Deleted()+pubs[1].Deleted()+pubs[2].Deleted())
		// Without expiry each commit leaves a metadata file, a manifest
		// list and one or two manifests: 3 objects or more a commit.
		if n := commits.Load(); n < rounds || int64(2*len(objs)) > n {
			t.Fatalf("%s: %d objects under metadata/ after %d commits: expiry does not bound them", when, len(objs), n)
		}
		return cur, unnamed, len(objs)
	}
	// Before the sweep: only the stopped attempt's manifest and list may
	// be named by no version (the commits' own expiry deleted the rest).
	_, unnamed, _ := check("after the concurrent commits")
	if len(unnamed) > iceberg.MaxManifests+1 {
		t.Fatalf("objects named by no version: %v; want the stopped attempt's manifests and list only", unnamed)
	}
	for _, k := range unnamed {
		if !strings.HasSuffix(k, ".avro") {
			t.Fatalf("object %s is named by no reachable version", k)
		}
	}
	// A commit twice OrphanAge of the clock later sweeps them; the table
	// ends with every window.
	jump.Store(int64(2 * orphanAge))
	if _, err := pubs[1].Publish(ctx, iceberg.Table{DB: db, Name: "cpu", Schema: full.Schema}); err != nil {
		t.Fatal(err)
	}
	if _, err := pubs[1].Publish(ctx, full); err != nil {
		t.Fatal(err)
	}
	commits.Add(2)
	cur, unnamed, _ := check("after the sweep")
	if len(unnamed) > 0 {
		t.Fatalf("objects named by no reachable version after the sweep: %v", unnamed)
	}
	got, files := icebergRows(t, cur)
	var want []string
	for _, w := range wins {
		want = append(want, f.siltRows(t, w, w+day)...)
	}
	slices.Sort(want)
	sameRows(t, "iceberg-go scan after the expiring commits", want, got)
	if d := f.duckRows(t, files); d != nil {
		sameRows(t, "DuckDB over the listed files after the expiring commits", want, d)
	}
}
