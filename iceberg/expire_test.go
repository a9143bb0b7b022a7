package iceberg

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/tiering"
)

// metadataObjects checks the objects under a table's metadata/ against
// what its current version and the versions of its metadata log name:
// every named object must exist (a reader of any of them finds its
// manifests). It returns the objects no version names (besides the
// version hint), and how many objects there are.
func metadataObjects(t *testing.T, p *Publisher) (unnamed []string, total int) {
	t.Helper()
	ctx := context.Background()
	dir := p.TableKey("db", "cpu")
	v, key, err := p.Current(ctx, "db", "cpu")
	if err != nil || v == 0 {
		t.Fatalf("current version %d: %v", v, err)
	}
	objs, err := p.Store.List(ctx, dir+"/metadata/")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, o := range objs {
		have[o.Key] = true
	}
	named := map[string]bool{dir + "/metadata/" + versionHintName: true}
	keys := []string{key}
	for _, l := range readMetadata(t, p, key).MetadataLog {
		keys = append(keys, p.keyOf(l.MetadataFile))
	}
	for _, k := range keys {
		if !have[k] {
			t.Fatalf("version %s, current or in the metadata log of v%d, is gone", k, v)
		}
		named[k] = true
		md := readMetadata(t, p, k)
		for _, s := range md.Snapshots {
			lk := p.keyOf(s.ManifestList)
			if !have[lk] {
				t.Fatalf("%s names manifest list %s, which is gone", k, lk)
			}
			named[lk] = true
			ms, err := p.listManifests(ctx, lk)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if !have[m] {
					t.Fatalf("%s names manifest %s (through %s), which is gone", k, m, lk)
				}
				named[m] = true
			}
		}
	}
	for _, o := range objs {
		if !named[o.Key] {
			unnamed = append(unnamed, o.Key)
		}
	}
	return unnamed, len(objs)
}

// TestSnapshotExpiry: commits one simulated minute apart keep the
// snapshots younger than MaxSnapshotAge and at least MinSnapshots (a model
// of Iceberg's rule over every commit's snapshot id and time), and after
// each commit the metadata directory holds exactly what the current
// version and its log name: expired manifests, manifest lists and
// metadata files are deleted, nothing named is. An attempt stopped before
// its put (a crash) leaves a manifest and a list, which a sweep deletes
// once they are older than OrphanAge, not before.
func TestSnapshotExpiry(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	st := &memStore{MemStore: tiering.NewMemStore()}
	st.MemStore.Now = now
	const age, minKeep, keep = 3 * time.Minute, 2, 4
	p := &Publisher{Store: st, Location: "s3://b/cl", Now: now, PreviousVersions: keep,
		MaxSnapshotAge: age, MinSnapshots: minKeep, OrphanAge: 15 * time.Minute}
	type snap struct {
		id int64
		at time.Time
	}
	var model []snap
	var files []DataFile
	crashed := false
	for i := range 40 {
		// Every 7th commit, a gap of 10 minutes: only MinSnapshots stay.
		if i%7 == 6 {
			clock = clock.Add(10 * time.Minute)
		} else {
			clock = clock.Add(time.Minute)
		}
		files = append(files, fileOf("", i))
		if i%3 == 2 {
			files = files[1:] // a window retired: a manifest is rewritten
		}
		if i == 20 {
			// A crash between the manifests and the version.
			p.BeforeCommit = func(string, string, int) error { return errors.New("killed") }
			if _, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: slices.Clone(files)}); err == nil {
				t.Fatal("the stopped commit succeeded")
			}
			p.BeforeCommit = nil
			crashed = true
		}
		r, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: slices.Clone(files)})
		if err != nil || !r.Committed {
			t.Fatalf("commit %d: %+v, %v", i, r, err)
		}
		model = append(model, snap{r.SnapshotID, clock})
		var want []int64
		for j, s := range model {
			if len(model)-j <= minKeep || !s.at.Before(clock.Add(-age)) {
				want = append(want, s.id)
			}
		}
		md := readMetadata(t, p, r.MetadataKey)
		var got, logged []int64
		for _, s := range md.Snapshots {
			got = append(got, s.SnapshotID)
		}
		for _, l := range md.SnapshotLog {
			logged = append(logged, l.SnapshotID)
		}
		if !slices.Equal(got, want) || !slices.Equal(logged, want) {
			t.Fatalf("commit %d: snapshots %v, log %v; want %v", i, got, logged, want)
		}
		if cur := currentFiles(t, p); len(cur) != len(files) {
			t.Fatalf("commit %d: %d files, want %d", i, len(cur), len(files))
		}
		unnamed, total := metadataObjects(t, p)
		switch {
		case !crashed:
			if len(unnamed) > 0 {
				t.Fatalf("commit %d: objects no version names: %v", i, unnamed)
			}
		default:
			// The stopped attempt's manifest and list, until a sweep
			// finds them older than OrphanAge.
			for _, k := range unnamed {
				if !strings.HasSuffix(k, ".avro") {
					t.Fatalf("commit %d: unnamed %s", i, k)
				}
			}
			if len(unnamed) == 0 {
				crashed = false
			}
		}
		if total > 1+(keep+1)*3*(minKeep+int(age/time.Minute)+1) {
			t.Fatalf("commit %d: %d objects under metadata/", i, total)
		}
	}
	if crashed {
		t.Fatal("the stopped attempt's files were never swept")
	}
	if p.Deleted() == 0 {
		t.Fatal("nothing was deleted")
	}
}

// TestSweepSparesYoungAndNewer: a sweep deletes neither a manifest younger
// than OrphanAge (a commit in flight may name it next) nor a version newer
// than the one it sweeps for (another writer committed it meanwhile); it
// deletes old unnamed manifests and versions that left the log.
func TestSweepSparesYoungAndNewer(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	st := &memStore{MemStore: tiering.NewMemStore()}
	st.MemStore.Now = now
	p := &Publisher{Store: st, Location: "s3://b/cl", Now: now, PreviousVersions: 2, OrphanAge: time.Hour}
	var files []DataFile
	for i := range 3 {
		files = append(files, fileOf("", i))
		if _, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: slices.Clone(files)}); err != nil {
			t.Fatal(err)
		}
	}
	dir := p.TableKey("db", "cpu")
	put := func(k string) {
		if _, err := st.Put(ctx, k, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	put(dir + "/metadata/old-m0.avro")
	put(dir + "/metadata/v1.metadata.json") // left by a crash, out of the log of v3 (v1 is in it: keep 2)
	clock = clock.Add(2 * time.Hour)
	put(dir + "/metadata/young-m0.avro")
	_, key, _ := p.Current(ctx, "db", "cpu")
	md := readMetadata(t, p, key)
	md.MetadataLog = md.MetadataLog[1:] // v3 as if its log held v2 only
	if _, err := p.sweep(ctx, dir, 3, md, clock); err != nil {
		t.Fatal(err)
	}
	exists := func(k string) bool {
		_, err := st.Stat(ctx, dir+"/metadata/"+k)
		return err == nil
	}
	if exists("old-m0.avro") || exists("v1.metadata.json") {
		t.Fatal("the sweep left an old unnamed manifest or a version out of the log")
	}
	if !exists("young-m0.avro") || !exists("v2.metadata.json") || !exists("v3.metadata.json") {
		t.Fatal("the sweep deleted a young manifest or a version it must keep")
	}
	// A version newer than the one swept for is another writer's commit.
	md.MetadataLog = nil
	if _, err := p.sweep(ctx, dir, 2, md, clock); err != nil {
		t.Fatal(err)
	}
	if !exists("v3.metadata.json") {
		t.Fatal("the sweep for v2 deleted v3")
	}
}

// TestClockBehindKeepsLogsInOrder: a writer whose clock is ten minutes
// behind commits after another: its version is dated no earlier than the
// one before, so the snapshot and metadata logs stay in order and
// iceberg-go (readMetadata) accepts the version.
func TestClockBehindKeepsLogsInOrder(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	st := &memStore{MemStore: tiering.NewMemStore()}
	ahead := &Publisher{Store: st, Location: "s3://b/cl", DataPrefix: "nodes/a/", Now: func() time.Time { return at }}
	behind := &Publisher{Store: st, Location: "s3://b/cl", DataPrefix: "nodes/b/", Now: func() time.Time { return at.Add(-10 * time.Minute) },
		MaxSnapshotAge: time.Hour}
	ahead.MaxSnapshotAge = time.Hour
	for i, p := range []*Publisher{ahead, behind, ahead, behind} {
		r, err := p.Publish(ctx, Table{DB: "db", Name: "cpu", Schema: schemaWith("usage"), Files: []DataFile{fileOf(p.DataPrefix, i)}})
		if err != nil || !r.Committed {
			t.Fatalf("commit %d: %+v, %v", i, r, err)
		}
		md := readMetadata(t, p, r.MetadataKey)
		if len(md.SnapshotLog) != i+1 {
			t.Fatalf("commit %d: snapshot log %+v", i, md.SnapshotLog)
		}
		if got := md.LastUpdatedMS; got < at.UnixMilli() {
			t.Fatalf("commit %d dated %d, before the version it follows (%d)", i, got, at.UnixMilli())
		}
	}
}
