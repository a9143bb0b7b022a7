package iceberg_test

// One Iceberg table per Silt table for a cluster: writers tier into their
// own prefixes (cl/nodes/<id>/) of one real MinIO and commit their
// published windows into the tables at the cluster's root (cl/iceberg/),
// at the same time. Independent readers must see every writer's published
// rows once: none lost to a concurrent commit, none twice.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

const clusterRoot = "cl"

// newWriters starts MinIO and n cluster writers w1..wn, each writing its
// own hosts (the series a consumer group's partitions split between them).
func newWriters(t *testing.T, n int) []*fixture {
	if testing.Short() {
		t.Skip("-short: starts MinIO and DuckDB")
	}
	srv := miniotest.Start(t)
	out := make([]*fixture, n)
	for i := range out {
		out[i] = newFixtureOn(t, srv, fmt.Sprintf("%s/nodes/w%d", clusterRoot, i+1), clusterRoot)
		out[i].hosts = 10 * i
	}
	return out
}

// tierAll runs a tiering pass on every writer at once (each pass ends
// with its writer's commit into the shared tables) and returns each
// pass's error.
func tierAll(ws []*fixture) []error {
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = w.e.TierNow(context.Background())
		}()
	}
	wg.Wait()
	return errs
}

// checkCluster compares the shared table db.cpu with Silt: the rows of
// each writer's published windows (wins[i] for ws[i]), through iceberg-go's
// scan and DuckDB over the listed files. Every listed file must be a live
// cold raw segment of one writer, and every segment of a published window
// must be listed. It returns the version read.
func checkCluster(t *testing.T, ws []*fixture, wins [][]int64) int {
	t.Helper()
	r := ws[0]
	tbl, v := r.loadTable(t)
	r.checkMetadataParses(t)
	if l := tbl.Metadata().Properties()[iceberg.LayoutProperty]; l != strconv.Itoa(iceberg.Layout) {
		t.Fatalf("layout property %q", l)
	}
	got, files := icebergRows(t, tbl)
	var want []string
	listed := map[string]bool{}
	for _, p := range files {
		if listed[p] {
			t.Fatalf("the table lists %s twice", p)
		}
		listed[p] = true
	}
	owned := 0
	for i, w := range ws {
		m := w.e.Manifest()
		live := map[string]segment.SegmentMeta{}
		for _, s := range m.Segments {
			live[w.pub.Location+"/"+w.pub.DataPrefix+s.Path] = s
		}
		windows := map[string]bool{}
		for _, p := range files {
			if !strings.HasPrefix(p, w.pub.Location+"/"+w.pub.DataPrefix) {
				continue
			}
			owned++
			s, ok := live[p]
			if !ok || !s.Cold() || s.IsRollup() {
				t.Fatalf("the table lists %s, which is not a live cold raw segment of w%d", p, i+1)
			}
			windows[s.Window] = true
		}
		for _, win := range wins[i] {
			name := segment.WindowName(win)
			if !windows[name] {
				t.Fatalf("w%d: window %s is not published (published: %v)", i+1, name, windows)
			}
			for _, s := range m.Segments {
				if s.Window == name && !s.IsRollup() && !listed[w.pub.Location+"/"+w.pub.DataPrefix+s.Path] {
					t.Fatalf("w%d: window %s is published without its segment %s", i+1, name, s.Path)
				}
			}
			want = append(want, w.siltRows(t, win, win+int64(segment.WindowDuration))...)
		}
		if len(windows) != len(wins[i]) {
			t.Fatalf("w%d: published windows %v, want %d", i+1, windows, len(wins[i]))
		}
	}
	if owned != len(files) {
		t.Fatalf("the table lists %d files, %d of them the writers'", len(files), owned)
	}
	slices.Sort(want)
	sameRows(t, "iceberg-go scan of the cluster table", want, got)
	if d := r.duckRows(t, files); d != nil {
		sameRows(t, "DuckDB over the cluster table's files", want, d)
	}
	return v
}

func days(from, to int64, except ...int64) []int64 {
	var out []int64
	for w := from; w < to; w += int64(segment.WindowDuration) {
		if !slices.Contains(except, w) {
			out = append(out, w)
		}
	}
	return out
}

func TestIcebergMinIOCluster(t *testing.T) {
	ws := newWriters(t, 2)
	w1, w2 := ws[0], ws[1]
	day := int64(segment.WindowDuration)
	today := w1.today
	ctx := context.Background()
	coldEnd := today - 2*day
	// w1 from six days back, w2 from five: both tier four and three
	// windows, in one table.
	w1.write(t, today-6*day, time.Now().Add(-time.Hour).UnixNano())
	w2.write(t, today-5*day, time.Now().Add(-time.Hour).UnixNano())
	// Both pass at once, and w1's commit is held, after its manifests
	// are written, until w2 has committed: w1 then loses version 1 to
	// w2, reads it, and commits version 2 on top of it.
	w2done := make(chan struct{})
	held := false
	w1.pub.BeforeCommit = func(string, string, int) error {
		if !held {
			held = true
			<-w2done
		}
		return nil
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, errs[0] = w1.e.TierNow(ctx) }()
	go func() { defer wg.Done(); defer close(w2done); _, errs[1] = w2.e.TierNow(ctx) }()
	wg.Wait()
	w1.pub.BeforeCommit = nil
	for i, err := range errs {
		if err != nil {
			t.Fatalf("w%d: tier pass: %v", i+1, err)
		}
	}
	if !held || w1.pub.Retries() != 1 {
		t.Fatalf("w1's commit was held %v and retried %d times, want once: the race did not happen", held, w1.pub.Retries())
	}
	v1 := checkCluster(t, ws, [][]int64{days(today-6*day, coldEnd), days(today-5*day, coldEnd)})
	if v1 != 2 {
		t.Fatalf("two writers' first commits made version %d, want 2", v1)
	}

	// A late write on w1 rewrites a point of a window both writers
	// published: w1's files of it leave the table, w2's stay.
	late := today - 5*day
	w1.lateWrite(t, late)
	// w2 writes a new window (nine days back) meanwhile; both pass at once.
	w2.write(t, today-9*day, today-8*day)
	for i, err := range tierAll(ws) {
		if err != nil {
			t.Fatalf("w%d: tier pass: %v", i+1, err)
		}
	}
	w2wins := append([]int64{today - 9*day}, days(today-5*day, coldEnd)...)
	v2 := checkCluster(t, ws, [][]int64{days(today-6*day, coldEnd, late), w2wins})

	// A crash between w2's upload and its commit: w2's new window (eight
	// days back) is in the bucket, its manifests too, its version not.
	before, _ := icebergRows(t, must(w1.loadTable(t)))
	crash := errors.New("simulated crash before the Iceberg commit")
	w2.pub.BeforeCommit = func(string, string, int) error { return crash }
	w2.write(t, today-8*day, today-7*day)
	if _, err := w2.e.TierNow(ctx); !errors.Is(err, crash) {
		t.Fatalf("w2 tier pass: %v, want the simulated crash", err)
	}
	tbl, v := w1.loadTable(t)
	if v != v2 {
		t.Fatalf("after the crash the current version is %d, want %d", v, v2)
	}
	if after, _ := icebergRows(t, tbl); !slices.Equal(before, after) {
		t.Fatalf("after the crash the table reads %d rows, before %d", len(after), len(before))
	}
	checkCluster(t, ws, [][]int64{days(today-6*day, coldEnd, late), w2wins})

	// w1 commits on: a new window ten days back, and the late window,
	// back once compaction merged it; then w2 restarts (a fresh
	// publisher) and commits its window on top: nothing of either is
	// lost.
	w1.compactTiered(t, late)
	w1.write(t, today-10*day, today-9*day)
	if _, err := w1.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	w2.pub = &iceberg.Publisher{Store: w2.root, Location: w2.pub.Location, DataPrefix: w2.pub.DataPrefix, Legacy: w2.pub.Legacy}
	if _, err := w2.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	v4 := checkCluster(t, ws, [][]int64{append([]int64{today - 10*day}, days(today-6*day, coldEnd)...),
		append([]int64{today - 9*day, today - 8*day}, days(today-5*day, coldEnd)...)})
	if v4 != v2+2 {
		t.Fatalf("version %d after two more commits on %d", v4, v2)
	}
}

// TestIcebergMinIOLegacyTables: a writer that published its own table
// under its prefix (the layout before the shared tables) moves its files
// into the shared table once, and its old table is emptied after that,
// pointing at the new one; neither reader sees a row twice or misses one.
func TestIcebergMinIOLegacyTables(t *testing.T) {
	ws := newWriters(t, 1)
	w := ws[0]
	day := int64(segment.WindowDuration)
	ctx := context.Background()
	shared := w.pub
	// The old layout: the writer's own store and location, table under
	// nodes/w1/iceberg/.
	w.pub = &iceberg.Publisher{Store: w.tr.S3, Location: "s3://" + bucket + "/" + clusterRoot + "/nodes/w1"}
	sharedRoot := w.root
	w.root = w.tr.S3
	w.write(t, w.today-5*day, w.today-3*day)
	if _, err := w.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	wins := days(w.today-5*day, w.today-3*day)
	w.checkPublished(t, wins...)
	legacy := w.pub

	// The upgrade: the same writer now publishes into the shared table.
	w.pub, w.root = shared, sharedRoot
	if _, err := w.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	checkCluster(t, ws, [][]int64{wins})

	// The old table: a last version with no files, naming its successor.
	v, key, err := legacy.Current(ctx, db, "cpu")
	if err != nil || v != 2 {
		t.Fatalf("legacy table at version %d (%v), want 2: one commit, then emptied", v, err)
	}
	old, err := table.NewFromLocation(ctx, table.Identifier{db, "cpu"}, legacy.Location+"/"+key,
		func(context.Context) (iceio.IO, error) { return s3IO{w.tr.S3, legacy.Location}, nil }, nil)
	if err != nil {
		t.Fatalf("iceberg-go cannot load the emptied legacy table: %v", err)
	}
	if rows, files := icebergRows(t, old); len(rows)+len(files) != 0 {
		t.Fatalf("the legacy table still lists %d files, %d rows", len(files), len(rows))
	}
	if got, want := old.Metadata().Properties()[iceberg.MovedToProperty], shared.Location+"/"+shared.TableKey(db, "cpu"); got != want {
		t.Fatalf("legacy table's %s = %q, want %q", iceberg.MovedToProperty, got, want)
	}
	// A restarted writer finds it emptied and commits nothing there.
	w.pub = &iceberg.Publisher{Store: shared.Store, Location: shared.Location, DataPrefix: shared.DataPrefix, Legacy: shared.Legacy}
	if _, err := w.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	if v2, _, _ := legacy.Current(ctx, db, "cpu"); v2 != v {
		t.Fatalf("the restarted writer committed version %d to the emptied legacy table", v2)
	}
}

// TestIcebergMinIOConcurrentCommits races writers' commits into one table
// on MinIO's conditional puts, without engines: each writer adds one data
// file per commit and drops its oldest every third. The final snapshot
// must list exactly every writer's last set. Writers commit back to back,
// far more often than tiering passes do, so a commit may lose many times:
// the bound on attempts is raised here (TestCommitGivesUpAfterMaxAttempts
// tests it). SILT_ICEBERG_WRITERS and SILT_ICEBERG_COMMITS scale it (the
// figures in docs/iceberg.md).
func TestIcebergMinIOConcurrentCommits(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO")
	}
	writers, commits := envInt("SILT_ICEBERG_WRITERS", 3), envInt("SILT_ICEBERG_COMMITS", 8)
	srv := miniotest.Start(t)
	root, err := tiering.NewS3Store(s3Options(srv, clusterRoot))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	sch := columnar.NewTableSchema()
	sch.AddTag("host")
	sch.AddField("usage", columnar.FieldFloat)
	loc := "s3://" + bucket + "/" + clusterRoot
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	pubs := make([]*iceberg.Publisher, writers)
	final := make([][]iceberg.DataFile, writers)
	lat := make([][]time.Duration, writers)
	attempts := make([]int, writers)
	most := make([]int, writers) // attempts of a writer's worst commit
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range pubs {
		pubs[i] = &iceberg.Publisher{Store: root, Location: loc, DataPrefix: fmt.Sprintf("nodes/w%d/", i+1), MaxAttempts: 1000}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var files []iceberg.DataFile
			for c := range commits {
				w := start + int64(c)*int64(segment.WindowDuration)
				files = append(files, iceberg.DataFile{Key: fmt.Sprintf("nodes/w%d/segments/db/cpu/%s/%020d.parquet", i+1, segment.WindowName(w), c),
					Window: segment.WindowName(w), Rows: 100, Bytes: 4096, MinTime: w, MaxTime: w + 1000})
				if c%3 == 2 {
					files = files[1:]
				}
				t0 := time.Now()
				r, err := pubs[i].Publish(context.Background(), iceberg.Table{DB: db, Name: "cpu", Schema: sch, Files: slices.Clone(files)})
				if err != nil {
					errs[i] = err
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				attempts[i] += r.Attempts
				most[i] = max(most[i], r.Attempts)
			}
			final[i] = files
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("w%d: %v", i+1, err)
		}
	}
	reader := &fixture{root: root, pub: pubs[0]}
	tbl, v := reader.loadTable(t)
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, task := range tasks {
		got = append(got, task.File.FilePath())
	}
	for _, fs := range final {
		for _, f := range fs {
			want = append(want, loc+"/"+f.Key)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the final snapshot lists %d files, the writers' last sets %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	var all []time.Duration
	var retries int64
	tries := 0
	for i := range pubs {
		all = append(all, lat[i]...)
		retries += pubs[i].Retries()
		tries += attempts[i]
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	if v != writers*commits {
		t.Fatalf("version %d after %d commits", v, writers*commits)
	}
	if int64(tries) != int64(writers*commits)+retries {
		t.Fatalf("%d attempts for %d commits and %d retries", tries, writers*commits, retries)
	}
	t.Logf("%d writers × %d commits: version %d; commit latency median %v, p90 %v, max %v; %d retries (%.2f a commit, at most %d attempts for one)",
		writers, commits, v, all[len(all)/2].Round(time.Millisecond), all[len(all)*9/10].Round(time.Millisecond),
		all[len(all)-1].Round(time.Millisecond), retries, float64(retries)/float64(writers*commits), slices.Max(most))
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
