package engine_test

// Tiering end to end against a real MinIO server (internal/testutil/miniotest: the
// test skips without the binary, or fails under CI=true). The oracle is
// the engine itself before tiering: every query must answer the same after
// its windows moved to the bucket, on a restarted node and on a fresh
// read-only node.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

const tierDB = "db"

// tierFixture is a MinIO server, a bucket and the data written.
type tierFixture struct {
	srv    *miniotest.Server
	prefix string
	today  int64 // start of the current day window (ns)
	now    time.Time
}

func newTierFixture(t testing.TB) *tierFixture {
	srv := miniotest.Start(t)
	now := time.Now()
	return &tierFixture{srv: srv, prefix: "silt-test", now: now, today: segment.WindowOf(now.UnixNano())}
}

// tier opens the tiering layer on the fixture's bucket with its own cache.
func (f *tierFixture) tier(t testing.TB) *tiering.Tier {
	t.Helper()
	cfg := tiering.DefaultConfig()
	cfg.S3 = tiering.S3Options{Endpoint: f.srv.Endpoint, Bucket: "silt", Prefix: f.prefix, Insecure: true,
		AccessKey: f.srv.AccessKey, SecretKey: f.srv.SecretKey, Addressing: "path", MaxRetries: 1}
	cfg.CacheDir = t.TempDir()
	cfg.CacheMaxBytes = 64 << 20
	cfg.CacheBlockBytes = 64 << 10
	tr, err := tiering.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.S3.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Fail fast while MinIO is stopped: the outage test waits for these.
	tr.Uploader.Retry = tiering.RetryPolicy{Attempts: 2, Initial: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	return tr
}

func (f *tierFixture) config(t testing.TB, dir string, tr *tiering.Tier, readOnly bool) engine.Config {
	return engine.Config{DataDir: dir, FlushInterval: time.Hour, FlushBytes: 1 << 30, MaxHeadBytes: 2 << 30,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Compaction: engine.CompactionConfig{Interval: time.Hour}, // the test compacts itself
		Tiering:    engine.TierConfig{Tier: tr, After: 48 * time.Hour, Interval: time.Hour, ReadOnly: readOnly}}
}

func openEngine(t testing.TB, cfg engine.Config) *engine.Engine {
	t.Helper()
	e, err := engine.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// writeDays writes 3 hosts × two fields every 20 minutes from six days ago
// until an hour ago, in two rounds with a flush between (so windows get
// several segments, some points overwritten), then compacts.
func (f *tierFixture) writeDays(t *testing.T, e *engine.Engine) {
	t.Helper()
	start := f.today - 6*int64(segment.WindowDuration)
	end := f.now.Add(-time.Hour).UnixNano()
	step := int64(20 * time.Minute)
	for round := range 2 {
		var b columnar.Batch
		line := 0
		for ts := start; ts < end; ts += step {
			if round == 1 && (ts/step)%3 != 0 {
				continue // the second round overwrites every third point
			}
			for h := range 3 {
				line++
				b.StartRow([]byte("cpu"), line)
				b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%d", h)))
				b.AddTag([]byte("region"), []byte([]string{"eu", "us"}[h%2]))
				b.AddFloat([]byte("usage"), float64((ts/step)%97)+float64(h)/10+float64(round))
				b.AddNum([]byte("n"), columnar.FieldInt, uint64(ts/step%1000+int64(round)*1000))
				b.EndRow(ts)
			}
		}
		if _, err := e.Write(tierDB, &b); err != nil {
			t.Fatal(err)
		}
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// tierQueries cover whole-table aggregates, per-day buckets, last values,
// tag-filtered raw rows in a cold window, and ranges within the cold and
// the local part.
func (f *tierFixture) tierQueries() map[string]string {
	day := int64(segment.WindowDuration)
	coldEnd := f.today - 2*day // windows before it are tiered (--tier.after 48h)
	return map[string]string{
		"count":   "SELECT count(*) FROM cpu",
		"by-host": "SELECT host, avg(usage), max(n), min(usage) FROM cpu GROUP BY host ORDER BY host",
		"by-day": "SELECT date_bin('1 day', time, TIMESTAMP '2000-01-01') AS d, region, sum(usage), count(n) FROM cpu " +
			"GROUP BY d, region ORDER BY d, region",
		"last": "SELECT host, last(usage, time), max(time) FROM cpu GROUP BY host ORDER BY host",
		"raw-cold": fmt.Sprintf("SELECT time, host, usage, n FROM cpu WHERE host = 'h1' AND time >= %d AND time < %d ORDER BY time",
			coldEnd-2*day, coldEnd-day),
		"cold-only":  fmt.Sprintf("SELECT region, count(*), sum(n) FROM cpu WHERE time < %d GROUP BY region ORDER BY region", coldEnd),
		"local-only": fmt.Sprintf("SELECT host, count(*), avg(usage) FROM cpu WHERE time >= %d GROUP BY host ORDER BY host", f.today-day),
	}
}

func runSQL(e *engine.Engine, text string) ([][]any, error) {
	tables, ok := e.Tables(tierDB)
	if !ok {
		return nil, fmt.Errorf("no database %s", tierDB)
	}
	cat, names := exec.Catalog(tables)
	q, err := sql.Compile(text, cat, time.Now())
	if err != nil {
		return nil, err
	}
	res, err := exec.Run(context.Background(), q, exec.EngineSource{Engine: e, DB: tierDB}, names)
	if err != nil {
		return nil, err
	}
	return res.Rows, nil
}

func runAll(t *testing.T, e *engine.Engine, qs map[string]string) map[string][][]any {
	t.Helper()
	out := map[string][][]any{}
	for name, q := range qs {
		rows, err := runSQL(e, q)
		if err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		if len(rows) == 0 {
			t.Fatalf("query %s returned nothing: the test would prove nothing", name)
		}
		out[name] = rows
	}
	return out
}

func sameResults(t *testing.T, what string, want, got map[string][][]any) {
	t.Helper()
	for name, w := range want {
		if !rowsEqual(w, got[name]) {
			t.Errorf("%s: query %s differs:\nwant %v\n got %v", what, name, trunc(w), trunc(got[name]))
		}
	}
}

// rowsEqual compares results exactly, except floats to 1e-12 relative:
// sums of floats depend on the order batches arrive in, which parallel
// decoding does not fix (it differs between two runs on local data too).
func rowsEqual(a, b [][]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			x, xok := a[i][j].(float64)
			y, yok := b[i][j].(float64)
			if xok && yok {
				if math.Abs(x-y) > 1e-12*max(math.Abs(x), math.Abs(y), 1) {
					return false
				}
				continue
			}
			if !reflect.DeepEqual(a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func trunc(rows [][]any) [][]any { return rows[:min(len(rows), 6)] }

func objectExists(t *testing.T, tr *tiering.Tier, key string) bool {
	t.Helper()
	_, err := tr.Store.Stat(context.Background(), key)
	if errors.Is(err, tiering.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// TestTierMinIO: data over seven days; windows older than two days go to
// MinIO; local files gone, objects there, every query unchanged — also
// after a restart, and on a fresh read-only node; retention then drops a
// cold window and its objects leave the bucket.
func TestTierMinIO(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	e := openEngine(t, f.config(t, dir, tr, false))
	f.writeDays(t, e)
	qs := f.tierQueries()
	before := runAll(t, e, qs)

	st, err := e.TierNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var cold, local int
	for _, s := range e.Manifest().Segments {
		// Due: the window ended more than --tier.after (48h) ago.
		due := segment.WindowOf(s.MinTime)+int64(segment.WindowDuration) <= f.now.Add(-48*time.Hour).UnixNano()
		_, statErr := os.Stat(filepath.Join(dir, filepath.FromSlash(s.Path)))
		switch {
		case due && !s.Cold():
			t.Errorf("segment %s is due but still local", s.Path)
		case !due && s.Cold():
			t.Errorf("segment %s is recent but was tiered", s.Path)
		case s.Cold():
			cold++
			if statErr == nil {
				t.Errorf("cold segment %s still has its local file", s.Path)
			}
			if !objectExists(t, tr, s.Path) {
				t.Errorf("cold segment %s is not in the bucket", s.Path)
			}
			if s.Checksum == "" {
				t.Errorf("cold segment %s has no checksum", s.Path)
			}
		default:
			local++
			if statErr != nil {
				t.Errorf("local segment %s: %v", s.Path, statErr)
			}
		}
	}
	if cold == 0 || local == 0 || st.Segments != cold {
		t.Fatalf("%d cold and %d local segments, pass reported %+v: want both kinds", cold, local, st)
	}
	if !objectExists(t, tr, engine.BucketManifestKey) {
		t.Fatal("no bucket manifest")
	}
	sameResults(t, "after tiering", before, runAll(t, e, qs))
	// Twice: the second run reads through the caches.
	sameResults(t, "after tiering, cached", before, runAll(t, e, qs))

	// A restart serves the cold segments from the manifest.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash between the commit and the deletion leaves a local copy of a
	// cold segment: the next start deletes it.
	var leftover string
	for _, s := range e.Manifest().Segments {
		if s.Cold() {
			leftover = filepath.Join(dir, filepath.FromSlash(s.Path))
			break
		}
	}
	if err := os.WriteFile(leftover, []byte("left by a crash"), 0o644); err != nil {
		t.Fatal(err)
	}
	e = openEngine(t, f.config(t, dir, tr, false))
	if _, err := os.Stat(leftover); err == nil {
		t.Errorf("local copy of a cold segment %s survived the start", leftover)
	}
	sameResults(t, "after restart", before, runAll(t, e, qs))
	if st, err := e.TierNow(context.Background()); err != nil || st.Segments != 0 || st.BucketDeletes != 0 {
		t.Fatalf("second pass: %+v, %v: want nothing to do", st, err)
	}

	// A fresh read-only node answers the cold queries the same.
	ro := openEngine(t, f.config(t, t.TempDir(), f.tier(t), true))
	coldQs := map[string]string{"raw-cold": qs["raw-cold"], "cold-only": qs["cold-only"]}
	sameResults(t, "read-only node", map[string][][]any{"raw-cold": before["raw-cold"], "cold-only": before["cold-only"]}, runAll(t, ro, coldQs))
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddFloat([]byte("usage"), 1)
	b.EndRow(f.now.UnixNano())
	if _, err := ro.Write(tierDB, &b); !errors.Is(err, engine.ErrReadOnly) {
		t.Fatalf("write to a read-only node: %v, want ErrReadOnly", err)
	}

	// Retention drops the two oldest cold windows; the next pass deletes
	// their objects. It is set so that its cutoff falls ten minutes into
	// the window four days back whatever the time of day: a plain four
	// days would expire most of the raw-cold window late in the day (the
	// test failed from about 23:40 UTC on).
	keep := f.now.Sub(time.Unix(0, f.today-4*int64(segment.WindowDuration))) - 10*time.Minute
	var oldest []segment.SegmentMeta
	for _, s := range e.Manifest().Segments {
		if s.MaxTime < f.now.Add(-keep).UnixNano() {
			oldest = append(oldest, s)
		}
	}
	if len(oldest) == 0 {
		t.Fatal("no segment old enough for the retention test")
	}
	if err := e.SetRetention(tierDB, keep); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err = e.TierNow(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.BucketDeletes < len(oldest) {
		t.Errorf("pass deleted %d objects, want at least %d", st.BucketDeletes, len(oldest))
	}
	for _, s := range oldest {
		if !s.Cold() {
			t.Fatalf("segment %s is not cold", s.Path)
		}
		if objectExists(t, tr, s.Path) {
			t.Errorf("expired cold segment %s is still in the bucket", s.Path)
		}
	}
	for _, s := range e.Manifest().Segments {
		if s.Cold() && !objectExists(t, tr, s.Path) {
			t.Errorf("live cold segment %s was deleted from the bucket", s.Path)
		}
	}

	// The read-only node follows the bucket: after a reload it serves the
	// segments retention left, with the retention setting, as the writer.
	if err := ro.ReloadBucketManifest(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wantIDs, gotIDs []uint64
	for _, s := range e.Manifest().Segments {
		if s.Cold() {
			wantIDs = append(wantIDs, s.ID)
		}
	}
	for _, s := range ro.Manifest().Segments {
		gotIDs = append(gotIDs, s.ID)
	}
	if !reflect.DeepEqual(wantIDs, gotIDs) {
		t.Errorf("read-only node serves segments %v after reload, want %v", gotIDs, wantIDs)
	}
	sameResults(t, "read-only node after retention", runAll(t, e, coldQs), runAll(t, ro, coldQs))
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestTierMinIOOutage: with MinIO down, tiering fails and keeps everything
// local, ingest and local queries work; once it is back the pass
// completes. Down again, queries needing cold data fail with
// ErrColdUnavailable while local ones still work; back up, they answer as
// before.
func TestTierMinIOOutage(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	e := openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	f.writeDays(t, e)
	qs := f.tierQueries()
	before := runAll(t, e, qs)
	files := func() int {
		n := 0
		for _, s := range e.Manifest().Segments {
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(s.Path))); err == nil {
				n++
			}
		}
		return n
	}
	nLocal := files()

	f.srv.Stop()
	if _, err := e.TierNow(context.Background()); !errors.Is(err, tiering.ErrUnavailable) {
		t.Fatalf("tiering with MinIO down: %v, want ErrUnavailable", err)
	}
	for _, s := range e.Manifest().Segments {
		if s.Cold() {
			t.Fatalf("segment %s marked cold while the store was down", s.Path)
		}
	}
	if got := files(); got != nLocal {
		t.Fatalf("%d local segment files after a failed pass, want %d", got, nLocal)
	}
	// Ingest and queries keep working.
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("h9"))
	b.AddFloat([]byte("usage"), 1)
	b.EndRow(f.now.UnixNano())
	if _, err := e.Write(tierDB, &b); err != nil {
		t.Fatal(err)
	}
	sameResults(t, "store down, nothing tiered", map[string][][]any{"cold-only": before["cold-only"]},
		runAll(t, e, map[string]string{"cold-only": qs["cold-only"]}))

	f.srv.Restart()
	st, err := e.TierNow(context.Background())
	if err != nil || st.Segments == 0 {
		t.Fatalf("pass after the store came back: %+v, %v", st, err)
	}
	if files() >= nLocal {
		t.Fatalf("local files not retired after tiering: %d of %d left", files(), nLocal)
	}

	f.srv.Stop()
	_, err = runSQL(e, qs["cold-only"])
	if !engine.IsColdUnavailable(err) || !errors.Is(err, engine.ErrColdUnavailable) {
		t.Fatalf("cold query with the store down: %v, want ErrColdUnavailable", err)
	}
	if _, err := runSQL(e, qs["local-only"]); err != nil {
		t.Fatalf("local query with the store down: %v", err)
	}
	if _, err := e.Write(tierDB, &b); err != nil {
		t.Fatalf("write with the store down: %v", err)
	}
	f.srv.Restart()
	sameResults(t, "store back", map[string][][]any{"cold-only": before["cold-only"], "raw-cold": before["raw-cold"]},
		runAll(t, e, map[string]string{"cold-only": qs["cold-only"], "raw-cold": qs["raw-cold"]}))
}

// TestTierMinIOKilledMidPass: MinIO is killed (SIGKILL) while a pass is
// uploading — some objects are in, others not. Nothing is marked cold or
// deleted locally; after a restart of MinIO the next pass completes,
// reusing what verified, and queries answer as before.
func TestTierMinIOKilledMidPass(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	// Slow every segment put down so the kill lands mid-pass: with two
	// uploads at a time, a third put starts only once one has finished,
	// and the kill comes then, while the third is still in its delay.
	inner := tr.Store
	faults := tiering.NewFaultStore(tr.Store)
	faults.Add(tiering.Fault{Op: "put", Key: "segments/", Delay: 500 * time.Millisecond})
	tr.Store, tr.Uploader.Store = faults, faults
	tr.Uploader.Concurrency = 2
	e := openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	f.writeDays(t, e)
	qs := f.tierQueries()
	before := runAll(t, e, qs)

	done := make(chan error, 1)
	go func() { _, err := e.TierNow(context.Background()); done <- err }()
	// Polled, not slept: on a busy machine a fixed sleep could end before
	// the first upload did (and nothing would be left to resume). The
	// kill comes once the bucket holds a segment, while the next two
	// puts are in their delay.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
		objs, err := inner.List(context.Background(), "")
		if err != nil {
			t.Fatalf("list the bucket during the pass: %v", err)
		}
		if slices.ContainsFunc(objs, func(o tiering.ObjectInfo) bool { return strings.Contains(o.Key, "segments/") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no segment in the bucket a minute into the pass")
		}
	}
	f.srv.Kill()
	if err := <-done; !errors.Is(err, tiering.ErrUnavailable) {
		t.Fatalf("pass cut by the kill: %v, want ErrUnavailable", err)
	}
	for _, s := range e.Manifest().Segments {
		if s.Cold() {
			t.Fatalf("segment %s marked cold by a cut pass", s.Path)
		}
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(s.Path))); err != nil {
			t.Fatalf("local segment lost after a cut pass: %v", err)
		}
	}
	f.srv.Restart()
	faults.Clear()
	st, err := e.TierNow(context.Background())
	if err != nil || st.Segments == 0 {
		t.Fatalf("pass after restart: %+v, %v", st, err)
	}
	if st.Resumed == 0 {
		t.Errorf("no upload resumed: the kill did not land mid-pass (%+v)", st)
	}
	sameResults(t, "after a cut pass and its resumption", before, runAll(t, e, qs))
}

// TestTierMinIODuringQueries: queries run while a pass moves their
// segments; each answers as before (from the local file it holds, or the
// cold copy), and the local files go once the queries let go of them.
func TestTierMinIODuringQueries(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	e := openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	f.writeDays(t, e)
	qs := f.tierQueries()
	before := runAll(t, e, qs)

	stop := make(chan struct{})
	errs := make(chan error, 2)
	for w := range 2 {
		go func() {
			names := []string{"count", "by-day", "cold-only", "raw-cold", "last"}
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				name := names[(i+w)%len(names)]
				rows, err := runSQL(e, qs[name])
				if err != nil {
					errs <- fmt.Errorf("query %s during tiering: %w", name, err)
					return
				}
				if !rowsEqual(before[name], rows) {
					errs <- fmt.Errorf("query %s during tiering: %v, want %v", name, trunc(rows), trunc(before[name]))
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	st, err := e.TierNow(context.Background())
	time.Sleep(50 * time.Millisecond)
	close(stop)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err != nil || st.Segments == 0 {
		t.Fatalf("pass: %+v, %v", st, err)
	}
	for _, s := range e.Manifest().Segments {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(s.Path))); s.Cold() && err == nil {
			t.Errorf("cold segment %s kept its local file after the queries ended", s.Path)
		}
	}
	sameResults(t, "after tiering", before, runAll(t, e, qs))
}

// TestTierMinIOLostDisk: a node whose data directory lost its manifest and
// segments adopts the bucket's manifest and serves every tiered segment. A
// node that could not read the bucket at start (so started empty) refuses
// to tier into it rather than republish or delete what it does not know.
func TestTierMinIOLostDisk(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	e := openEngine(t, f.config(t, dir, tr, false))
	f.writeDays(t, e)
	qs := map[string]string{"cold-only": f.tierQueries()["cold-only"], "raw-cold": f.tierQueries()["raw-cold"]}
	before := runAll(t, e, qs)
	if _, err := e.TierNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	objects := func() int {
		objs, err := tr.Store.List(context.Background(), "segments/")
		if err != nil {
			t.Fatal(err)
		}
		return len(objs)
	}
	nObj := objects()

	// The store is down while an empty node starts: it starts empty, and
	// once the store is back its pass refuses the bucket.
	f.srv.Stop()
	empty := openEngine(t, f.config(t, t.TempDir(), tr, false))
	f.srv.Restart()
	if _, err := empty.TierNow(context.Background()); err == nil || !strings.Contains(err.Error(), "never wrote") {
		t.Fatalf("pass of a node that does not know the bucket: %v, want a refusal", err)
	}
	if err := empty.Close(); err != nil {
		t.Fatal(err)
	}
	if got := objects(); got != nObj {
		t.Fatalf("%d objects in the bucket after the refused pass, want %d", got, nObj)
	}

	// The disk is lost (manifest and segments; the WAL was empty).
	if err := os.Remove(filepath.Join(dir, manifest.ManifestFile)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "segments")); err != nil {
		t.Fatal(err)
	}
	e = openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	sameResults(t, "adopted bucket manifest", before, runAll(t, e, qs))
	if _, err := e.TierNow(context.Background()); err != nil {
		t.Fatalf("pass after adopting the bucket: %v", err)
	}
	if got := objects(); got != nObj {
		t.Fatalf("%d objects in the bucket after adopting it, want %d", got, nObj)
	}
}

// TestTierMinIOColdReadFails: a cold segment already open (footer in
// memory) whose columns must still be fetched fails the query mid-scan
// with an error IsColdUnavailable recognizes (the HTTP layer's 503
// cold-unavailable), and works again once the store answers.
func TestTierMinIOColdReadFails(t *testing.T) {
	f := newTierFixture(t)
	cfg := tiering.DefaultConfig()
	cfg.S3 = tiering.S3Options{Endpoint: f.srv.Endpoint, Bucket: "silt", Prefix: f.prefix, Insecure: true,
		AccessKey: f.srv.AccessKey, SecretKey: f.srv.SecretKey, Addressing: "path", MaxRetries: 1}
	tr, err := tiering.Open(cfg, nil) // no block cache: every column read is a GET
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.S3.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	faults := tiering.NewFaultStore(tr.Store)
	tr.Store, tr.Uploader.Store = faults, faults
	// Nor a cache of decoded pages: the pages the first cold query
	// reads would answer the second without a GET.
	ecfg := f.config(t, t.TempDir(), tr, false)
	ecfg.QueryCacheBytes = -1
	e := openEngine(t, ecfg)
	defer e.Close()
	// One day of 20 hosts every 10 s, three days ago: a segment well
	// beyond the 64 KiB tail a cold open reads.
	g := bench.NewCPU(20, time.Unix(0, f.today-3*int64(segment.WindowDuration)).UTC(), 10*time.Second, 1)
	var body []byte
	for range 8640 {
		body = g.AppendInterval(body)
	}
	var batch columnar.Batch
	lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
	if _, err := e.Write(tierDB, &batch); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	q := "SELECT hostname, avg(usage_system) FROM cpu GROUP BY hostname ORDER BY hostname"
	want, err := runSQL(e, q)
	if err != nil || len(want) != 20 {
		t.Fatalf("local query: %d rows, %v", len(want), err)
	}
	if st, err := e.TierNow(context.Background()); err != nil || st.Segments == 0 || st.Bytes <= tiering.DefaultTailBytes {
		t.Fatalf("tier: %+v, %v: want a segment larger than the tail", st, err)
	}
	// Open the cold segment (footer in memory) with another column.
	if _, err := runSQL(e, "SELECT count(*) FROM cpu WHERE hostname = 'host_1'"); err != nil {
		t.Fatal(err)
	}
	faults.Add(tiering.Fault{Op: "get", Err: tiering.ErrUnavailable})
	_, err = runSQL(e, q)
	if !engine.IsColdUnavailable(err) {
		t.Fatalf("mid-scan read with the store failing: %v, want a cold-unavailable error", err)
	}
	faults.Clear()
	got, err := runSQL(e, q)
	if err != nil || !rowsEqual(want, got) {
		t.Fatalf("after the store recovered: %v, %v", err, got)
	}
}

// TestTierMinIOFailedPassStrays: a pass uploads every due segment, then
// fails to publish the bucket manifest; before the next pass retention
// drops the oldest windows, whose objects are then named by nothing. The
// next pass deletes them: the bucket holds exactly the cold segments
// without waiting for a restart.
func TestTierMinIOFailedPassStrays(t *testing.T) {
	f := newTierFixture(t)
	dir := t.TempDir()
	tr := f.tier(t)
	faults := tiering.NewFaultStore(tr.Store)
	tr.Store, tr.Uploader.Store = faults, faults
	e := openEngine(t, f.config(t, dir, tr, false))
	defer e.Close()
	ctx := context.Background()
	// A pass with nothing due publishes the empty bucket manifest, so the
	// next pass's only manifest put is the one after its uploads.
	if _, err := e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	f.writeDays(t, e)
	faults.Add(tiering.Fault{Op: "put", Key: engine.BucketManifestKey, Err: tiering.ErrUnavailable})
	if _, err := e.TierNow(ctx); err == nil {
		t.Fatal("pass with the bucket manifest put failing succeeded")
	}
	faults.Clear()
	objs, err := tr.Store.List(ctx, "segments/")
	if err != nil || len(objs) == 0 {
		t.Fatalf("the failed pass left %d objects (%v); want its uploads there", len(objs), err)
	}
	// Retention drops the windows six and five days back.
	if err := e.SetRetention(tierDB, time.Duration(f.now.UnixNano()-(f.today-4*int64(segment.WindowDuration)))); err != nil {
		t.Fatal(err)
	}
	if err := e.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	objs, err = tr.Store.List(ctx, "segments/")
	if err != nil {
		t.Fatal(err)
	}
	cold := map[string]bool{}
	for _, s := range e.Manifest().Segments {
		if s.Cold() {
			cold[s.Path] = true
		}
	}
	if len(cold) == 0 {
		t.Fatal("nothing tiered after the failed pass")
	}
	for _, o := range objs {
		if !cold[o.Key] {
			t.Errorf("object %s is named by no segment after the next pass", o.Key)
		}
	}
	if len(objs) != len(cold) {
		t.Errorf("bucket holds %d segment objects, the manifest %d cold segments", len(objs), len(cold))
	}
}
