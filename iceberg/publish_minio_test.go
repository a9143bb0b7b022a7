package iceberg_test

// The Iceberg tables end to end: a real engine tiers to a real MinIO
// (internal/testutil/miniotest: the test skips without the binary, or fails
// under CI=true) and publishes after each pass; independent readers —
// iceberg-go's table scan, and DuckDB over exactly the data files the
// manifests list — must return the rows Silt returns for the published
// windows. A commit stopped after its data and manifests are written must
// leave the previous version current and whole.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

const (
	db     = "db"
	bucket = "silt"
	prefix = "node-a"
)

type fixture struct {
	srv *miniotest.Server
	tr  *tiering.Tier
	// root is the store at the publisher's Location: f.tr.S3 for a node
	// alone in its prefix, the cluster's root for a cluster writer.
	root  *tiering.S3Store
	pub   *iceberg.Publisher
	e     *engine.Engine
	today int64
	hosts int // the first host number write uses (writers hold different series)
}

func newFixture(t *testing.T) *fixture {
	if testing.Short() {
		t.Skip("-short: starts MinIO and DuckDB")
	}
	srv := miniotest.Start(t)
	return newFixtureOn(t, srv, prefix, "")
}

// s3Options addresses the test bucket under a key prefix.
func s3Options(srv *miniotest.Server, prefix string) tiering.S3Options {
	return tiering.S3Options{Endpoint: srv.Endpoint, Bucket: bucket, Prefix: prefix, Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", MaxRetries: 1}
}

// openTier opens a tiering store on the test bucket under prefix, the
// bucket made if it is not there yet.
func openTier(t *testing.T, srv *miniotest.Server, prefix string) *tiering.Tier {
	t.Helper()
	cfg := tiering.DefaultConfig()
	cfg.S3 = s3Options(srv, prefix)
	tr, err := tiering.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.S3.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tr
}

// newFixtureOn opens an engine tiering into srv. With root empty it is a
// node alone in prefix, publishing there; else a cluster writer whose
// prefix is root + "/" + dataPrefix, publishing into the tables at root.
func newFixtureOn(t *testing.T, srv *miniotest.Server, prefix, root string) *fixture {
	tr := openTier(t, srv, prefix)
	var err error
	f := &fixture{srv: srv, tr: tr, root: tr.S3, today: segment.WindowOf(time.Now().UnixNano())}
	f.pub = &iceberg.Publisher{Store: tr.S3, Location: "s3://" + bucket + "/" + prefix}
	if root != "" {
		if f.root, err = tiering.NewS3Store(s3Options(srv, root)); err != nil {
			t.Fatal(err)
		}
		own := strings.TrimPrefix(prefix, root+"/") + "/"
		f.pub = &iceberg.Publisher{Store: f.root, Location: "s3://" + bucket + "/" + root, DataPrefix: own,
			Legacy: own + iceberg.DefaultRoot}
	}
	e, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, FlushBytes: 1 << 30, MaxHeadBytes: 1 << 30,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Compaction: engine.CompactionConfig{Interval: time.Hour},
		Tiering: engine.TierConfig{Tier: tr, After: 48 * time.Hour, Interval: time.Hour,
			Publish: func(ctx context.Context, m *manifest.Manifest) error {
				_, err := f.pub.PublishAll(ctx, m)
				return err
			}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	f.e = e
	return f
}

// write writes 3 hosts every 20 minutes over [from, to), twice with a
// flush between (the second round overwrites every third point and adds a
// string and a bool field on some rows), then compacts.
func (f *fixture) write(t *testing.T, from, to int64) {
	t.Helper()
	step := int64(20 * time.Minute)
	for round := range 2 {
		var b columnar.Batch
		line := 0
		for ts := from; ts < to; ts += step {
			if round == 1 && (ts/step)%3 != 0 {
				continue
			}
			for h := range 3 {
				line++
				b.StartRow([]byte("cpu"), line)
				b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%d", f.hosts+h)))
				if h != 2 { // a tag missing on some series: nulls
					b.AddTag([]byte("region"), []byte([]string{"eu", "us"}[h%2]))
				}
				b.AddFloat([]byte("usage"), float64((ts/step)%97)+float64(h)/10+float64(round))
				b.AddNum([]byte("n"), columnar.FieldInt, uint64(ts/step%1000-500+int64(round)*1000))
				b.AddNum([]byte("u"), columnar.FieldUint, uint64(ts/step%5000))
				if round == 1 {
					b.AddString([]byte("note"), []byte(fmt.Sprintf("fix %d", ts/step%7)))
					b.AddNum([]byte("ok"), columnar.FieldBool, uint64(ts/step%2))
				}
				b.EndRow(ts)
			}
		}
		if _, err := f.e.Write(db, &b); err != nil {
			t.Fatal(err)
		}
		if err := f.e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

var columns = []string{"time", "host", "region", "usage", "n", "u", "note", "ok"}

// siltRows returns Silt's answer for [from, to), one canonical line a row.
func (f *fixture) siltRows(t *testing.T, from, to int64) []string {
	t.Helper()
	tables, ok := f.e.Tables(db)
	if !ok {
		t.Fatal("no database")
	}
	cat, names := exec.Catalog(tables)
	q, err := sql.Compile(fmt.Sprintf("SELECT %s FROM cpu WHERE time >= %d AND time < %d", strings.Join(columns, ", "), from, to), cat, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	res, err := exec.Run(context.Background(), q, exec.EngineSource{Engine: f.e, DB: db}, names)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, 0, len(res.Rows))
	for _, r := range res.Rows {
		out = append(out, canon(r...))
	}
	slices.Sort(out)
	return out
}

// canon formats one row's values the same way whatever reader produced
// them: times as Unix nanoseconds, floats in shortest form, NULL for nil.
func canon(vals ...any) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
			parts[i] = "NULL"
		case time.Time:
			parts[i] = strconv.FormatInt(x.UnixNano(), 10)
		case float64:
			parts[i] = strconv.FormatFloat(x, 'g', -1, 64)
		case json.Number:
			parts[i] = x.String()
		default:
			parts[i] = fmt.Sprint(x)
		}
	}
	return strings.Join(parts, "|")
}

// ---- iceberg-go over MinIO ----------------------------------------------

// s3IO is iceberg-go's file system interface over the test's bucket: it
// turns s3://bucket/key into ranged GETs, nothing more, so every decision
// about what to read is iceberg-go's.
type s3IO struct {
	s   *tiering.S3Store
	loc string // the URL of s's prefix
}

func (o s3IO) key(name string) (string, error) {
	k, ok := strings.CutPrefix(name, o.loc+"/")
	if !ok {
		return "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return k, nil
}

func (o s3IO) Open(name string) (iceio.File, error) {
	k, err := o.key(name)
	if err != nil {
		return nil, err
	}
	info, err := o.s.Stat(context.Background(), k)
	if errors.Is(err, tiering.ErrNotFound) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	} else if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &s3File{s: o.s, key: k, size: info.Size}, nil
}

func (o s3IO) Remove(name string) error { return errors.New("read-only") }

type s3File struct {
	s    *tiering.S3Store
	key  string
	size int64
	off  int64
}

func (f *s3File) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), f.size-off)
	rc, err := f.s.GetRange(context.Background(), f.key, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	got, err := io.ReadFull(rc, p[:n])
	if err == nil && n < int64(len(p)) {
		err = io.EOF
	}
	return got, err
}

func (f *s3File) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.off)
	f.off += int64(n)
	return n, err
}

func (f *s3File) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		f.off = off
	case io.SeekCurrent:
		f.off += off
	case io.SeekEnd:
		f.off = f.size + off
	}
	return f.off, nil
}

func (f *s3File) Close() error               { return nil }
func (f *s3File) Stat() (fs.FileInfo, error) { return fileInfo{f}, nil }

type fileInfo struct{ f *s3File }

func (i fileInfo) Name() string       { return filepath.Base(i.f.key) }
func (i fileInfo) Size() int64        { return i.f.size }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

// loadTable opens the current version of db.cpu the way a file-system
// catalog does (Publisher.Current: the hint, then the versions after it),
// parsing the metadata with iceberg-go, which validates it.
func (f *fixture) loadTable(t *testing.T) (*table.Table, int) {
	t.Helper()
	v, key, err := f.pub.Current(context.Background(), db, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if v == 0 {
		t.Fatal("no Iceberg table for db.cpu")
	}
	loc := f.pub.Location + "/" + key
	tbl, err := table.NewFromLocation(context.Background(), table.Identifier{db, "cpu"}, loc,
		func(context.Context) (iceio.IO, error) { return s3IO{f.root, f.pub.Location}, nil }, nil)
	if err != nil {
		t.Fatalf("iceberg-go cannot load %s: %v", loc, err)
	}
	return tbl, v
}

// icebergRows scans the table with iceberg-go and returns canonical rows,
// plus the data files its plan reads.
func icebergRows(t *testing.T, tbl *table.Table) ([]string, []string) {
	t.Helper()
	ctx := context.Background()
	scan := tbl.Scan()
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, task := range tasks {
		files = append(files, task.File.FilePath())
	}
	slices.Sort(files)
	at, err := scan.ToArrowTable(ctx)
	if err != nil {
		t.Fatalf("iceberg-go scan: %v", err)
	}
	defer at.Release()
	sch := at.Schema()
	idx := make([]int, len(columns))
	for i, c := range columns {
		is := sch.FieldIndices(c)
		if len(is) != 1 {
			t.Fatalf("scan has no column %s: %s", c, sch)
		}
		idx[i] = is[0]
	}
	var out []string
	tr := array.NewTableReader(at, 4096)
	defer tr.Release()
	vals := make([]any, len(columns))
	for tr.Next() {
		rec := tr.RecordBatch()
		for r := 0; r < int(rec.NumRows()); r++ {
			for i, c := range idx {
				vals[i] = arrowValue(t, rec.Column(c), r)
			}
			out = append(out, canon(vals...))
		}
	}
	slices.Sort(out)
	return out, files
}

func arrowValue(t *testing.T, col arrow.Array, r int) any {
	if col.IsNull(r) {
		return nil
	}
	switch a := col.(type) {
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return time.Unix(0, int64(a.Value(r))*int64(unit.Multiplier()))
	case *array.String:
		return a.Value(r)
	case *array.Float64:
		return a.Value(r)
	case *array.Int64:
		return a.Value(r)
	case *array.Uint64:
		return a.Value(r)
	case *array.Boolean:
		return a.Value(r)
	case *array.Dictionary:
		return arrowValue(t, a.Dictionary(), a.GetValueIndex(r))
	}
	t.Fatalf("unexpected Arrow column type %s", col.DataType())
	return nil
}

// ---- DuckDB over the listed data files -----------------------------------

func duckDBDir() string {
	if d := os.Getenv("SILT_DUCKDB_DIR"); d != "" {
		return d
	}
	tools := os.Getenv("SILT_TOOLS_DIR")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "silt-tools")
	}
	return filepath.Join(tools, "duckdb")
}

// duckRows downloads the data files and reads them with DuckDB's
// read_parquet, by column name (the table's name mapping), and returns
// canonical rows. Without node or DuckDB it skips, or fails when CI=true.
func (f *fixture) duckRows(t *testing.T, files []string) []string {
	t.Helper()
	dir := duckDBDir()
	node, err := osexec.LookPath("node")
	why := ""
	if err != nil {
		why = "node is not in PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "@duckdb", "node-api", "package.json")); err != nil {
		why = "DuckDB is not installed in " + dir + ": run bash bench/duckdb/install.sh"
	}
	if why != "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("CI=true, so a missing DuckDB fails rather than skips: %s", why)
		}
		t.Log("DuckDB check skipped: " + why)
		return nil
	}
	tmp := t.TempDir()
	var quoted []string
	for i, u := range files {
		k, err := s3IO{f.root, f.pub.Location}.key(u)
		if err != nil {
			t.Fatalf("data file %s is not in the bucket's prefix", u)
		}
		raw, err := readObject(f.root, k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(tmp, fmt.Sprintf("f%d.parquet", i))
		if err := os.WriteFile(p, raw, 0o644); err != nil {
			t.Fatal(err)
		}
		quoted = append(quoted, "'"+p+"'")
	}
	q := fmt.Sprintf("SELECT epoch_ns(time) AS time, host, region, usage, n, u, note, ok FROM read_parquet([%s], union_by_name = true)",
		strings.Join(quoted, ", "))
	script, _ := filepath.Abs(filepath.Join("..", "bench", "duckdb", "query.mjs"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // hang guard only
	defer cancel()
	cmd := osexec.CommandContext(ctx, node, script, q)
	cmd.Env = append(os.Environ(), "SILT_DUCKDB_DIR="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("duckdb: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		t.Fatalf("duckdb output: %v", err)
	}
	res := make([]string, 0, len(rows))
	vals := make([]any, len(columns))
	for _, r := range rows {
		for i, c := range columns {
			vals[i] = r[c]
		}
		res = append(res, canon(vals...))
	}
	slices.Sort(res)
	return res
}

func readObject(s *tiering.S3Store, key string) ([]byte, error) {
	info, err := s.Stat(context.Background(), key)
	if err != nil {
		return nil, err
	}
	rc, err := s.GetRange(context.Background(), key, 0, info.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func sameRows(t *testing.T, what string, want, got []string) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: Silt returned no rows: the comparison would prove nothing", what)
	}
	if slices.Equal(want, got) {
		return
	}
	t.Errorf("%s: %d rows, Silt has %d", what, len(got), len(want))
	for i := 0; i < min(len(want), len(got)); i++ {
		if want[i] != got[i] {
			t.Fatalf("%s: first difference at row %d:\n silt: %s\n  got: %s", what, i, want[i], got[i])
		}
	}
}

// ---- the tests -------------------------------------------------------------

// checkMetadataParses reads the current metadata of db.cpu, the bytes
// the publisher wrote, through iceberg-go's parser, which checks them
// against the spec (required fields, ids, references).
func (f *fixture) checkMetadataParses(t *testing.T) {
	t.Helper()
	_, key, err := f.pub.Current(context.Background(), db, "cpu")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readObject(f.root, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := table.ParseMetadataBytes(raw); err != nil {
		t.Fatalf("metadata %s does not validate: %v", key, err)
	}
}

// checkPublished compares the current Iceberg table with Silt over the
// published windows (their starts), through iceberg-go and DuckDB, and
// checks that the data files the manifests list are exactly the live cold
// segments of those windows. It returns the version read.
func (f *fixture) checkPublished(t *testing.T, wins ...int64) int {
	t.Helper()
	m := f.e.Manifest()
	tbl, v := f.loadTable(t)
	got, files := icebergRows(t, tbl)
	f.checkMetadataParses(t)
	if fv := tbl.Metadata().Version(); fv != iceberg.FormatVersion {
		t.Fatalf("format version %d", fv)
	}
	live := map[string]segment.SegmentMeta{}
	for _, s := range m.Segments {
		live[f.pub.Location+"/"+f.pub.DataPrefix+s.Path] = s
	}
	windows := map[string]bool{}
	for _, p := range files {
		s, ok := live[p]
		if !ok || !s.Cold() || s.IsRollup() {
			t.Fatalf("the table lists %s, which is not a live cold raw segment", p)
		}
		windows[s.Window] = true
	}
	var want []string
	for _, w := range wins {
		name := segment.WindowName(w)
		if !windows[name] {
			t.Fatalf("window %s is not published (published: %v)", name, windows)
		}
		for _, s := range m.Segments {
			if s.Window == name && !s.IsRollup() && !slices.Contains(files, f.pub.Location+"/"+f.pub.DataPrefix+s.Path) {
				t.Fatalf("window %s is published without its segment %s", name, s.Path)
			}
		}
		want = append(want, f.siltRows(t, w, w+int64(segment.WindowDuration))...)
	}
	slices.Sort(want)
	if len(windows) != len(wins) {
		t.Fatalf("published windows %v, want %d", windows, len(wins))
	}
	sameRows(t, "iceberg-go scan", want, got)
	if d := f.duckRows(t, files); d != nil {
		sameRows(t, "DuckDB over the listed files", want, d)
	}
	return v
}

// lateWrite rewrites one point of window win (h0 at 00:20) and flushes:
// the window then holds a segment that shares a point with another.
func (f *fixture) lateWrite(t *testing.T, win int64) {
	t.Helper()
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%d", f.hosts)))
	b.AddTag([]byte("region"), []byte("eu"))
	b.AddFloat([]byte("usage"), math.Pi)
	b.AddNum([]byte("n"), columnar.FieldInt, 7)
	b.EndRow(win + int64(20*time.Minute))
	if _, err := f.e.Write(db, &b); err != nil {
		t.Fatal(err)
	}
	if err := f.e.Flush(); err != nil {
		t.Fatal(err)
	}
}

// windowKeys returns the bucket keys of window win's raw segments.
func (f *fixture) windowKeys(win int64) []string {
	var out []string
	for _, s := range f.e.Manifest().Segments {
		if s.Window == segment.WindowName(win) && !s.IsRollup() && s.Cold() {
			out = append(out, s.Path)
		}
	}
	return out
}

// compactTiered runs compaction and checks that it merged window win,
// whose segments were all in the bucket, into local segments.
func (f *fixture) compactTiered(t *testing.T, win int64) {
	t.Helper()
	before := f.windowKeys(win)
	if len(before) < 2 {
		t.Fatalf("window %s has %d segments in the bucket, want the duplicate's two or more", segment.WindowName(win), len(before))
	}
	// Silt's answer for the window, the late write's value winning.
	rows := f.siltRows(t, win, win+int64(segment.WindowDuration))
	late := canon(time.Unix(0, win+int64(20*time.Minute)), fmt.Sprintf("h%d", f.hosts), "eu", math.Pi)
	if !slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, late+"|") }) {
		t.Fatalf("Silt's answer for window %s lacks the late write %s", segment.WindowName(win), late)
	}
	if err := f.e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The merge changes where the rows are, not what Silt answers.
	if after := f.siltRows(t, win, win+int64(segment.WindowDuration)); !slices.Equal(rows, after) {
		t.Fatalf("window %s: Silt answered %d rows before the merge, %d after", segment.WindowName(win), len(rows), len(after))
	}
	n := 0
	for _, s := range f.e.Manifest().Segments {
		if s.Window == segment.WindowName(win) && !s.IsRollup() {
			if s.Cold() {
				t.Fatalf("compaction left segment %s of window %s in the bucket", s.Path, s.Window)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("window %s has no segment after the merge", segment.WindowName(win))
	}
}

// snapshotSummary returns the current snapshot's summary.
func (f *fixture) snapshotSummary(t *testing.T) map[string]string {
	t.Helper()
	tbl, _ := f.loadTable(t)
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.Summary == nil {
		t.Fatal("no current snapshot")
	}
	out := map[string]string{"operation": string(snap.Summary.Operation)}
	for k, v := range snap.Summary.Properties {
		out[k] = v
	}
	return out
}

func TestIcebergMinIO(t *testing.T) {
	f := newFixture(t)
	day := int64(segment.WindowDuration)
	ctx := context.Background()
	wins := func(from, to int64, except ...int64) []int64 {
		var out []int64
		for w := from; w < to; w += day {
			if !slices.Contains(except, w) {
				out = append(out, w)
			}
		}
		return out
	}
	// Six days up to an hour ago: the four windows that ended 48 h ago
	// tier and publish; the last two stay local and unpublished.
	f.write(t, f.today-6*day, time.Now().Add(-time.Hour).UnixNano())
	if _, err := f.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	coldEnd := f.today - 2*day
	v1 := f.checkPublished(t, wins(f.today-6*day, coldEnd)...)

	// A late write into a published window overwrites a point there: the
	// window then holds two segments that share it. Silt answers with the
	// late value (last write wins); a reader of the raw files would see
	// both. So the window leaves the table, and the others stay. (The
	// late segment is tiered before compaction sees it.)
	late := f.today - 5*day
	f.lateWrite(t, late)
	if _, err := f.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	v2 := f.checkPublished(t, wins(f.today-6*day, coldEnd, late)...)
	if v2 != v1+1 {
		t.Fatalf("withdrawing a window made version %d after %d", v2, v1)
	}

	// Compaction merges the window with the duplicate (downloading its
	// segments), the next pass tiers the merged segment: the window is
	// back, in a snapshot that adds the merged file, and the objects it
	// replaced are deleted from the bucket once no snapshot names them.
	withdrawn := f.windowKeys(late)
	f.compactTiered(t, late)
	if _, err := f.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	v2 = f.checkPublished(t, wins(f.today-6*day, coldEnd)...)
	for _, k := range withdrawn {
		if _, err := f.tr.S3.Stat(ctx, k); !errors.Is(err, tiering.ErrNotFound) {
			t.Fatalf("segment %s, replaced by the merge, is still in the bucket (%v)", k, err)
		}
	}
	if sum := f.snapshotSummary(t); sum["operation"] != "append" || sum["added-data-files"] == "0" {
		t.Fatalf("the snapshot that brings the window back: %v", sum)
	}
	f.checkPublished(t, wins(f.today-6*day, coldEnd)...)

	// A crash between the data upload and the Iceberg commit: a new
	// window (eight days ago) is uploaded and marked cold, and the
	// publisher stops before writing the metadata version.
	before, _ := icebergRows(t, must(f.loadTable(t)))
	crash := errors.New("simulated crash before the Iceberg commit")
	f.pub.BeforeCommit = func(string, string, int) error { return crash }
	f.write(t, f.today-8*day, f.today-7*day)
	if _, err := f.e.TierNow(ctx); !errors.Is(err, crash) {
		t.Fatalf("tier pass: %v, want the simulated crash", err)
	}
	cold := 0
	for _, s := range f.e.Manifest().Segments {
		if s.Window == segment.WindowName(f.today-8*day) && s.Cold() {
			cold++
		}
	}
	if cold == 0 {
		t.Fatal("the new window was not uploaded: the crash point was not reached")
	}
	tbl, v := f.loadTable(t)
	if v != v2 {
		t.Fatalf("after the crash the current version is %d, want %d", v, v2)
	}
	after, _ := icebergRows(t, tbl)
	if !slices.Equal(before, after) {
		t.Fatalf("after the crash the table reads %d rows, before %d", len(after), len(before))
	}
	f.checkPublished(t, wins(f.today-6*day, coldEnd)...)

	// The restarted publisher (a fresh one: nothing remembered) commits.
	f.pub = &iceberg.Publisher{Store: f.tr.S3, Location: f.pub.Location}
	if _, err := f.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	if v3 := f.checkPublished(t, append([]int64{f.today - 8*day}, wins(f.today-6*day, coldEnd)...)...); v3 != v2+1 {
		t.Fatalf("version after the retry %d, want %d", v3, v2+1)
	}
}

// TestIcebergMinIOCommits checks the commit protocol alone: a version
// hint left behind by a crash after a commit, and two publishers racing
// for the same version.
func TestIcebergMinIOCommits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	day := int64(segment.WindowDuration)
	f.write(t, f.today-5*day, f.today-3*day)
	if _, err := f.e.TierNow(ctx); err != nil {
		t.Fatal(err)
	}
	m := f.e.Manifest()
	tables := iceberg.Tables(m)
	if len(tables) != 1 || len(tables[0].Files) == 0 {
		t.Fatalf("tables %+v", tables)
	}
	tb := tables[0]
	v1, _, err := f.pub.Current(ctx, db, "cpu")
	if err != nil || v1 == 0 {
		t.Fatalf("current version %d, %v", v1, err)
	}

	// Two publishers build the next version; the second to put it loses.
	// Allowed one attempt, it commits nothing and says what it tried.
	a := &iceberg.Publisher{Store: f.tr.S3, Location: f.pub.Location, MaxAttempts: 1}
	b := &iceberg.Publisher{Store: f.tr.S3, Location: f.pub.Location}
	one := tb
	one.Files = tb.Files[:1]
	var bRes iceberg.Result
	var bErr error
	raced := false
	race := func(with iceberg.Table) func(string, string, int) error {
		raced = false
		return func(string, string, int) error {
			if !raced {
				raced = true
				bRes, bErr = b.Publish(ctx, with)
			}
			return nil
		}
	}
	a.BeforeCommit = race(one)
	two := tb
	two.Files = tb.Files[1:]
	_, aErr := a.Publish(ctx, two)
	if bErr != nil || !bRes.Committed || bRes.Version != v1+1 {
		t.Fatalf("first committer: %+v, %v", bRes, bErr)
	}
	if !errors.Is(aErr, tiering.ErrPrecondition) || !strings.Contains(aErr.Error(), "gave up after 1 attempts") {
		t.Fatalf("second committer of version %d: %v, want a failed precondition after one attempt", v1+1, aErr)
	}
	tbl, v := f.loadTable(t)
	if v != v1+1 {
		t.Fatalf("current version %d, want %d", v, v1+1)
	}
	_, files := icebergRows(t, tbl)
	if len(files) != 1 || files[0] != f.pub.Location+"/"+one.Files[0].Key {
		t.Fatalf("the table lists %v, want the first committer's file", files)
	}
	// Allowed to try again, the loser reads the winner's version and
	// commits on top of it (both own every file here: the last commit
	// decides; writers with their own prefixes keep each other's files,
	// TestIcebergMinIOCluster).
	a.MaxAttempts = 0
	a.BeforeCommit = race(tb)
	ra, err := a.Publish(ctx, two)
	if bErr != nil || !bRes.Committed || bRes.Version != v1+2 {
		t.Fatalf("first committer: %+v, %v", bRes, bErr)
	}
	if err != nil || !ra.Committed || ra.Version != v1+3 || ra.Attempts != 2 || a.Retries() != 2 {
		t.Fatalf("second committer, retrying: %+v (retries %d), %v; want version %d in 2 attempts", ra, a.Retries(), err, v1+3)
	}
	if _, files := icebergRows(t, must(f.loadTable(t))); len(files) != len(two.Files) {
		t.Fatalf("the table lists %v, want the retried commit's %d files", files, len(two.Files))
	}
	a.BeforeCommit = nil

	// A crash after a commit, before its hint: the hint names an older
	// version, and readers (and the next commit) still find the newest.
	r, err := a.Publish(ctx, tb)
	if err != nil || !r.Committed {
		t.Fatalf("publish all files: %+v, %v", r, err)
	}
	hint := f.pub.TableKey(db, "cpu") + "/metadata/version-hint.text"
	if _, err := f.tr.S3.Put(ctx, hint, strings.NewReader(strconv.Itoa(v1)), int64(len(strconv.Itoa(v1)))); err != nil {
		t.Fatal(err)
	}
	if _, v := f.loadTable(t); v != r.Version {
		t.Fatalf("with a stale hint the current version reads as %d, want %d", v, r.Version)
	}
	f.checkPublished(t, f.today-5*day, f.today-4*day)

	// Dropping the Silt table empties the Iceberg table before the pass
	// deletes the segments it named; a restarted publisher finds it.
	f.pub = &iceberg.Publisher{Store: f.tr.S3, Location: f.pub.Location}
	if err := f.e.DropTable(db, "cpu"); err != nil {
		t.Fatal(err)
	}
	st, err := f.e.TierNow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.BucketDeletes == 0 {
		t.Fatal("the pass deleted no segment of the dropped table")
	}
	tbl, v = f.loadTable(t)
	rows, files := icebergRows(t, tbl)
	if len(rows) != 0 || len(files) != 0 {
		t.Fatalf("version %d of the dropped table lists %d files, %d rows", v, len(files), len(rows))
	}
}

func must[T any](v T, _ int) T { return v }
