package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/segment"
)

func testConfig(dir string) Config {
	return Config{DataDir: dir, FlushInterval: time.Hour, FlushBytes: 1 << 30, MaxHeadBytes: 2 << 30,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func open(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type point struct {
	table, host string
	t           int64
	v           float64
}

func write(t *testing.T, e *Engine, db string, pts ...point) sink.WriteResult {
	t.Helper()
	var b columnar.Batch
	for i, p := range pts {
		b.StartRow([]byte(p.table), i+1)
		b.AddTag([]byte("host"), []byte(p.host))
		b.AddFloat([]byte("v"), p.v)
		b.EndRow(p.t)
	}
	res, err := e.Write(db, &b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// dump returns table → "host@time" → v.
func dump(t *testing.T, e *Engine, db string) map[string]map[string]float64 {
	t.Helper()
	tables, _ := e.Tables(db)
	out := map[string]map[string]float64{}
	for name := range tables {
		out[name] = map[string]float64{}
		err := e.Scan(db, name, func(p *columnar.Point) error {
			k := fmt.Sprintf("%s@%d", p.Tags[0].Value, p.Time)
			if _, dup := out[name][k]; dup {
				return fmt.Errorf("point %s twice", k)
			}
			out[name][k] = math.Float64frombits(p.Fields[0].Num)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func expect(pts ...point) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	for _, p := range pts {
		if out[p.table] == nil {
			out[p.table] = map[string]float64{}
		}
		out[p.table][fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
	}
	return out
}

func gen(table string, n int, base float64) []point {
	var pts []point
	for i := 0; i < n; i++ {
		pts = append(pts, point{table, fmt.Sprintf("h%d", i%13), int64(i/13) * 1e9, base + float64(i)})
	}
	return pts
}

func TestReopenAfterCleanClose(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	pts := append(gen("cpu", 500, 0), gen("mem", 300, 1000)...)
	write(t, e, "db1", pts...)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean close leaves everything in segments: the WAL holds no records.
	e = open(t, testConfig(dir))
	defer e.Close()
	if got := e.headRows.Load(); got != 0 {
		t.Errorf("%d rows replayed from the WAL after a clean close", got)
	}
	if got, want := dump(t, e, "db1"), expect(pts...); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen: got %d tables, want %d", len(got), len(want))
	}
}

func TestReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	first := gen("cpu", 400, 0)
	write(t, e, "db", first...)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	second := gen("cpu", 800, 5000)[400:] // new points, head only
	write(t, e, "db", second...)
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	if got := e.headRows.Load(); got != int64(len(second)) {
		t.Errorf("replayed %d rows, want %d (only the unflushed ones)", got, len(second))
	}
	if got, want := dump(t, e, "db"), expect(append(first, second...)...); !reflect.DeepEqual(got, want) {
		t.Fatalf("after crash: %d points, want %d", len(got["cpu"]), len(want["cpu"]))
	}
}

func TestLastWriteWins(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	a := point{"cpu", "h1", 10, 1}
	write(t, e, "db", a, point{"cpu", "h1", 10, 2}) // same request
	if got := dump(t, e, "db")["cpu"]["h1@10"]; got != 2 {
		t.Fatalf("in head: got %v want 2", got)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	write(t, e, "db", point{"cpu", "h1", 10, 3}) // head overrides segment
	if got := dump(t, e, "db")["cpu"]["h1@10"]; got != 3 {
		t.Fatalf("head over segment: got %v want 3", got)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := dump(t, e, "db")["cpu"]["h1@10"]; got != 3 {
		t.Fatalf("newer segment over older: got %v want 3", got)
	}
	write(t, e, "db", point{"cpu", "h1", 10, 4})
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	if got := dump(t, e, "db")["cpu"]["h1@10"]; got != 4 {
		t.Fatalf("after replay: got %v want 4", got)
	}
}

// Duplicates merge field by field, as in InfluxDB: a later write of one
// field keeps the other fields of the point.
func TestDuplicateMergesFields(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddFloat([]byte("x"), 1)
	b.AddFloat([]byte("y"), 1)
	b.EndRow(5)
	b.StartRow([]byte("cpu"), 2)
	b.AddFloat([]byte("y"), 2)
	b.EndRow(5)
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		var got []columnar.FieldValue
		if err := e.Scan("db", "cpu", func(p *columnar.Point) error { got = append(got, p.Fields...); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || math.Float64frombits(got[0].Num) != 1 || math.Float64frombits(got[1].Num) != 2 {
			t.Fatalf("%s: fields %+v, want x=1 y=2", stage, got)
		}
	}
	check("head")
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	check("segment")
}

func TestSchemaConflictRejectsOnlyThatRow(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	write(t, e, "db", point{"cpu", "a", 1, 1})
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddNum([]byte("v"), columnar.FieldInt, 7)
	b.EndRow(2)
	b.StartRow([]byte("cpu"), 2)
	b.AddFloat([]byte("v"), 8)
	b.EndRow(3)
	res, err := e.Write("db", &b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 1 || len(res.Rejected) != 1 || res.Rejected[0].Code != columnar.CodeFieldTypeConflict || res.Rejected[0].Line != 1 {
		t.Fatalf("got %+v", res)
	}
	// The schema survives restarts, with and without a flush in between.
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	b.Reset()
	b.StartRow([]byte("cpu"), 1)
	b.AddNum([]byte("v"), columnar.FieldInt, 7)
	b.EndRow(4)
	if res, err := e.Write("db", &b); err != nil || len(res.Rejected) != 1 {
		t.Fatalf("after replay: %+v %v", res, err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	b.Reset()
	b.StartRow([]byte("cpu"), 1)
	b.AddNum([]byte("v"), columnar.FieldInt, 7)
	b.EndRow(5)
	if res, err := e.Write("db", &b); err != nil || len(res.Rejected) != 1 {
		t.Fatalf("after flush and reopen: %+v %v", res, err)
	}
}

func TestBackpressure(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxHeadBytes = 64 << 10
	e := open(t, cfg)
	defer e.Close()
	// Hold flushes so the head cannot drain while we fill it.
	e.flushMu.Lock()
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		var b columnar.Batch
		b.StartRow([]byte("cpu"), 1)
		b.AddTag([]byte("host"), []byte(fmt.Sprint(i)))
		b.AddFloat([]byte("v"), 1)
		b.EndRow(int64(i))
		_, err = e.Write("db", &b)
	}
	if !errors.Is(err, sink.ErrBackpressure) {
		t.Fatalf("got %v, want sink.ErrBackpressure", err)
	}
	if hb := e.HeadBytes(); hb > cfg.MaxHeadBytes+4<<10 {
		t.Errorf("head grew to %d bytes, bound %d", hb, cfg.MaxHeadBytes)
	}
	e.flushMu.Unlock()
	// The flusher drains the head; writes are accepted again.
	deadline := time.Now().Add(30 * time.Second)
	for errors.Is(err, sink.ErrBackpressure) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		var b columnar.Batch
		b.StartRow([]byte("cpu"), 1)
		b.AddFloat([]byte("v"), 1)
		b.EndRow(1)
		_, err = e.Write("db", &b)
	}
	if err != nil {
		t.Fatalf("writes still refused after flush: %v", err)
	}
}

func TestOrphanSegmentsRemoved(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	write(t, e, "db", gen("cpu", 10, 0)...)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(dir, "segments", "db", "cpu", "1970-01-01", "00000000000000000099.parquet")
	tmp := filepath.Join(dir, "segments", "db", "cpu", "1970-01-01", "00000000000000000098.parquet.tmp")
	for _, p := range []string{orphan, tmp} {
		if err := os.WriteFile(p, []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	for _, p := range []string{orphan, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", p, err)
		}
	}
	if got := len(dump(t, e, "db")["cpu"]); got != 10 {
		t.Errorf("%d points, want 10", got)
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	defer e.Close()
	if _, err := Open(testConfig(dir)); err == nil {
		t.Fatal("second engine on one data dir was allowed")
	}
}

// Rows of one shape skip the schema check and column lookups; a rejected or
// differently shaped row in between must not confuse either shortcut.
func TestShapeShortcut(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	var b columnar.Batch
	add := func(line int, a, c string, fa, fc string, ta columnar.FieldType) {
		b.StartRow([]byte("m"), line)
		b.AddTag([]byte(a), []byte("x"))
		b.AddTag([]byte(c), []byte("y"))
		b.AddNum([]byte(fa), ta, 1)
		b.AddNum([]byte(fc), columnar.FieldFloat, math.Float64bits(float64(line)))
		b.EndRow(int64(line))
	}
	add(1, "a", "c", "f", "g", columnar.FieldFloat)
	add(2, "a", "c", "f", "g", columnar.FieldFloat) // same shape
	add(3, "a", "c", "f", "g", columnar.FieldInt)   // conflict
	add(4, "a", "c", "f", "g", columnar.FieldInt)   // same shape as a rejected row
	add(5, "c", "a", "g", "f", columnar.FieldFloat) // other order
	add(6, "a", "c", "f", "g", columnar.FieldFloat) // back to the first shape
	add(7, "a", "c", "f", "g", columnar.FieldFloat)
	res, err := e.Write("db", &b)
	if err != nil {
		t.Fatal(err)
	}
	if res.Written != 5 || len(res.Rejected) != 2 || res.Rejected[0].Line != 3 || res.Rejected[1].Line != 4 {
		t.Fatalf("%+v", res)
	}
	got := map[int64]string{}
	if err := e.Scan("db", "m", func(p *columnar.Point) error {
		got[p.Time] = fmt.Sprint(p.Tags, p.Fields)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, line := range []int64{1, 2, 6, 7} {
		want := fmt.Sprint([]columnar.TagValue{{Key: "a", Value: "x"}, {Key: "c", Value: "y"}}, []columnar.FieldValue{
			{Key: "f", Type: columnar.FieldFloat, Num: 1}, {Key: "g", Type: columnar.FieldFloat, Num: math.Float64bits(float64(line))}})
		if got[line] != want {
			t.Errorf("line %d: %s want %s", line, got[line], want)
		}
	}
	if want := fmt.Sprint([]columnar.TagValue{{Key: "a", Value: "y"}, {Key: "c", Value: "x"}}, []columnar.FieldValue{
		{Key: "f", Type: columnar.FieldFloat, Num: math.Float64bits(5)}, {Key: "g", Type: columnar.FieldFloat, Num: 1}}); got[5] != want {
		t.Errorf("line 5: %s want %s", got[5], want)
	}
}

// Writers, readers and flushes at once: run under -race (make test-race).
// Every acknowledged point must be readable at the end.
func TestConcurrentWriteScanFlush(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.FlushBytes = 32 << 10 // many small flushes while writing
	e := open(t, cfg)
	defer e.Close()
	const writers, batches, rows = 4, 30, 50
	done := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func(w int) {
			for i := 0; i < batches; i++ {
				var b columnar.Batch
				for r := 0; r < rows; r++ {
					b.StartRow([]byte("cpu"), r+1)
					b.AddTag([]byte("w"), []byte(fmt.Sprint(w)))
					b.AddFloat([]byte("v"), float64(i))
					if r%7 == 0 {
						b.AddString([]byte(fmt.Sprintf("s%d", i%3)), []byte("x")) // schema grows meanwhile
					}
					b.EndRow(int64(i*rows + r))
				}
				if _, err := e.Write("db", &b); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}(w)
	}
	// A scanner and a flusher of their own, so that scans read frozen
	// heads while a flush writes them out (the engine hands scans the
	// frozen heads themselves, unlocked), besides the flush loop's.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	loop := func(f func()) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				f()
			}
		}()
	}
	loop(func() { _ = e.Scan("db", "cpu", func(*columnar.Point) error { return nil }) })
	loop(func() { _ = e.Flush() })
	for w := 0; w < writers; w++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	bg.Wait()
	n := 0
	if err := e.Scan("db", "cpu", func(*columnar.Point) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != writers*batches*rows {
		t.Fatalf("%d points, want %d", n, writers*batches*rows)
	}
}

// A randomized model check of Scan: random tag subsets (so schemas grow
// between flushes), times over several day windows, overwrites of single
// fields, random flushes and a crash; Scan must equal a map-based model and
// come out sorted without duplicates.
func TestScanMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	model := map[string]map[string]float64{} // series@time → field → value
	keys := []string{"c", "a", "b", "d"}
	for round := 0; round < 40; round++ {
		b := modelBatch(rng, model, keys, 50, 3, 3, 20)
		if _, err := e.Write("db", b); err != nil {
			t.Fatal(err)
		}
		switch rng.IntN(4) {
		case 0:
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		case 1:
			if err := e.crash(); err != nil {
				t.Fatal(err)
			}
			e = open(t, testConfig(dir))
		}
	}
	defer e.Close()
	got := map[string]map[string]float64{}
	var prev *columnar.Point
	tables, _ := e.Tables("db")
	less := comparePoints(tables["m"].Tags)
	err := e.Scan("db", "m", func(p *columnar.Point) error {
		if prev != nil && less(prev, p) >= 0 {
			return fmt.Errorf("out of order or duplicate: %v then %v", prev, p)
		}
		prev = &columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags)}
		var tags []string
		for _, tg := range p.Tags {
			tags = append(tags, tg.Key+"="+tg.Value)
		}
		k := fmt.Sprint(tags, "@", p.Time)
		got[k] = map[string]float64{}
		for _, f := range p.Fields {
			got[k][f.Key] = math.Float64frombits(f.Num)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, model) {
		n := 0
		for k, v := range model {
			if !reflect.DeepEqual(got[k], v) && n < 5 {
				t.Errorf("%s: got %v want %v", k, got[k], v)
				n++
			}
		}
		t.Fatalf("scan differs from model: %d points vs %d", len(got), len(model))
	}
}

// Names are user input: path separators and dot-names must not escape the
// segments directory.
func TestHostileNamesStayInsideDataDir(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	for _, db := range []string{"..", "../../etc", "a/b", ".", "x\\y"} {
		write(t, e, db, point{"../t", "h", 1, 1}, point{"..", "h", 2, 2})
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(filepath.Dir(dir), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && filepath.Ext(p) == ".parquet" {
			rel, _ := filepath.Rel(filepath.Join(dir, "segments"), p)
			if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("segment outside the segments dir: %s", p)
			}
			parts := strings.Split(rel, string(filepath.Separator))
			if n := len(parts); n != 4 && (n != 5 || parts[3] != "rollups") {
				t.Errorf("segment %s is not at <db>/<table>/<window>/<id> or <db>/<table>/<window>/rollups/<id>", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	for _, db := range []string{"..", "../../etc", "a/b", ".", "x\\y"} {
		if got := dump(t, e, db); len(got["../t"]) != 1 || len(got[".."]) != 1 {
			t.Errorf("db %q read back %v", db, got)
		}
	}
}

// Range scans skip segments and heads wholly outside the range and still
// deliver every point inside it.
func TestOpenScanRangePrunes(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	day := int64(segment.WindowDuration)
	for d := int64(0); d < 3; d++ {
		write(t, e, "db", point{"m", "a", d*day + 5, float64(d)}, point{"m", "b", d*day + 6, float64(d)})
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(t, e, "db", point{"m", "a", 3*day + 1, 3}) // head, day 3
	ts, err := e.OpenScanRange("db", "m", day, 2*day)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	if err := ts.Run(func(p *columnar.Point) error { got = append(got, p.Time); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if ts.SegmentsScanned != 1 || ts.SegmentsPruned != 2 || ts.BytesRead <= 0 {
		t.Errorf("scanned %d pruned %d bytes %d", ts.SegmentsScanned, ts.SegmentsPruned, ts.BytesRead)
	}
	if fmt.Sprint(got) != fmt.Sprint([]int64{day + 5, day + 6}) {
		t.Errorf("got %v", got)
	}
}

// A batch that writes nothing — every row rejected, or the WAL append
// failed — leaves no database, table or column behind.
func TestUnwrittenBatchLeavesNoSchema(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write(t, e, "db", point{"cpu", "a", 1, 1})

	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("newtag"), []byte("x"))
	b.AddFloat([]byte("newfield"), 1)
	b.AddNum([]byte("v"), columnar.FieldInt, 1) // conflicts: v is float
	b.EndRow(2)
	res, err := e.Write("db", &b)
	if err != nil || len(res.Rejected) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	b.Reset()
	b.StartRow([]byte("mem"), 1)
	b.AddFloat([]byte("time"), 1) // reserved
	b.EndRow(2)
	if _, err := e.Write("fresh", &b); err != nil {
		t.Fatal(err)
	}
	if dbs := e.Databases(); len(dbs) != 1 || dbs[0] != "db" {
		t.Errorf("databases %v", dbs)
	}
	tables, _ := e.Tables("db")
	if s := tables["cpu"]; len(s.Tags) != 1 || len(s.Fields) != 1 {
		t.Errorf("cpu schema grew: %+v", s)
	}

	// The WAL refuses the append: the new columns are undone too.
	e.mu.Lock()
	_ = e.wal.Close()
	e.mu.Unlock()
	b.Reset()
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("z"))
	b.AddNum([]byte("other"), columnar.FieldBool, 1)
	b.EndRow(3)
	if _, err := e.Write("db", &b); err == nil {
		t.Fatal("write to a closed WAL succeeded")
	}
	tables, _ = e.Tables("db")
	if s := tables["cpu"]; len(s.Fields) != 1 {
		t.Errorf("field of an unwritten row stayed: %+v", s.Fields)
	}
	if _, ok := tables["cpu"].Field([]byte("other")); ok {
		t.Error("lookup still finds the undone field")
	}
}

// TestTablesSnapshotFollowsWrites: Tables and a scan's head view share one
// read-only copy of a table's schema while no write changes it (a copy per
// query was a tenth of a small query's work), and a write that adds a
// column gives the next query a copy with it, leaving the copies already
// handed out as they were.
func TestTablesSnapshotFollowsWrites(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write(t, e, "db", point{"cpu", "a", 1, 1})
	first, _ := e.Tables("db")
	again, _ := e.Tables("db")
	if first["cpu"] != again["cpu"] {
		t.Error("an unchanged schema is copied again for every caller")
	}
	write(t, e, "db", point{"cpu", "b", 2, 2}) // no new column
	if now, _ := e.Tables("db"); now["cpu"] != first["cpu"] {
		t.Error("a write adding no column made a new copy")
	}

	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("c"))
	b.AddTag([]byte("dc"), []byte("eu"))
	b.AddFloat([]byte("v"), 3)
	b.AddNum([]byte("n"), columnar.FieldInt, 3)
	b.EndRow(3)
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	now, _ := e.Tables("db")
	s := now["cpu"]
	if c, ok := s.TagCol("dc"); !ok || c != 1 || len(s.Tags) != 2 {
		t.Errorf("schema after the write has tags %v (dc at %d %v)", s.Tags, c, ok)
	}
	if c, ok := s.FieldCol("n"); !ok || c != 1 || len(s.Fields) != 2 {
		t.Errorf("schema after the write has fields %v (n at %d %v)", s.Fields, c, ok)
	}
	if old := first["cpu"]; len(old.Tags) != 1 || len(old.Fields) != 1 {
		t.Errorf("a copy handed out before the write changed: %v %v", old.Tags, old.Fields)
	}
	if _, ok := first["cpu"].TagCol("dc"); ok {
		t.Error("a copy handed out before the write finds its tag")
	}
	// The scan's view of the head reads the same copy, new column and all.
	ts, err := e.OpenScan("db", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	if len(ts.heads) != 1 || ts.heads[0].Schema != s {
		t.Errorf("the head view's schema is not the catalog's copy")
	}
}

// TestTablesSnapshotConcurrentWrites: readers of Tables and of scans' head
// views read their snapshots while a writer adds a column a write (run
// with -race: the snapshots are read without the engine's lock).
func TestTablesSnapshotConcurrentWrites(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write(t, e, "db", point{"cpu", "a", 1, 1})
	const n = 60
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			var b columnar.Batch
			b.StartRow([]byte("cpu"), 1)
			b.AddTag([]byte("host"), []byte("a"))
			b.AddTag([]byte(fmt.Sprintf("t%d", i)), []byte("x"))
			b.AddNum([]byte(fmt.Sprintf("f%d", i)), columnar.FieldInt, uint64(i))
			b.EndRow(int64(2 + i))
			if _, err := e.Write("db", &b); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := 0
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		tables, _ := e.Tables("db")
		s := tables["cpu"]
		for i, k := range s.Tags {
			if c, ok := s.TagCol(k); !ok || c != i {
				t.Fatalf("snapshot: tag %q at %d %v, want %d", k, c, ok, i)
			}
		}
		for i, f := range s.Fields {
			if c, ok := s.FieldCol(f.Name); !ok || c != i {
				t.Fatalf("snapshot: field %q at %d %v, want %d", f.Name, c, ok, i)
			}
		}
		seen = max(seen, len(s.Fields))
		ts, err := e.OpenScan("db", "cpu")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range ts.heads {
			_ = len(h.Schema.Tags) + len(h.Schema.Fields)
		}
		ts.Close()
	}
	if tables, _ := e.Tables("db"); len(tables["cpu"].Fields) != n+1 || len(tables["cpu"].Tags) != n+1 {
		t.Errorf("after the writes: %d tags %d fields, want %d each", len(tables["cpu"].Tags), len(tables["cpu"].Fields), n+1)
	}
}

// writeRounds writes rounds of random points into e's table m, each round
// flushed but the last: several days (disjoint segments), late points into
// the day before (overlapping ones), rewrites of earlier points of days 3+
// (duplicates across sources), and one day large enough for several row
// groups. Host a stops writing after round 3 but for a rewrite of its
// latest point, which so lies in two segments.
func writeRounds(t *testing.T, e *Engine) {
	rng := rand.New(rand.NewPCG(7, 11))
	day := int64(24 * time.Hour)
	hosts := []string{"a", "b", "c", "d"}
	var recent []point // of days 3 and later
	latestA := point{t: math.MinInt64}
	for round := range 6 {
		var pts []point
		for range 300 {
			d := int64(round)
			if round >= 3 && rng.IntN(4) == 0 {
				d-- // late, into the day before
			}
			h := hosts[rng.IntN(len(hosts))]
			if round >= 4 && h == "a" {
				continue
			}
			pts = append(pts, point{"m", h, d*day + rng.Int64N(50)*int64(time.Minute), float64(rng.IntN(1000))})
		}
		for range 20 {
			if len(recent) > 0 {
				p := recent[rng.IntN(len(recent))]
				if p.host == "a" {
					continue
				}
				p.v = float64(1000 + rng.IntN(1000))
				pts = append(pts, p)
			}
		}
		if round == 4 {
			p := latestA
			p.v = -1
			pts = append(pts, p)
		}
		if round == 0 {
			// Enough rows in day 0 for several row groups, which a scan
			// decodes in parallel parts.
			for i := range 3 * segment.RowGroupRows {
				pts = append(pts, point{"m", hosts[i%len(hosts)], 60*int64(time.Minute) + int64(i/len(hosts))*int64(time.Second), float64(i)})
			}
		}
		write(t, e, "db", pts...)
		for _, p := range pts {
			if p.t >= 3*day {
				recent = append(recent, p)
			}
			if p.host == "a" && p.t > latestA.t {
				latestA = p
			}
		}
		if round < 5 {
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// RunBatches delivers exactly the points of the ordered merge (Run), in
// any order: time-disjoint sources are decoded on their own, overlapping
// ones merged, so no point comes twice and the newest value wins.
func TestRunBatchesMatchesMerge(t *testing.T) {
	cfg := testConfig(t.TempDir())
	// The overlapping segments are the point: a merge in the background
	// (slow runs under -race reach it) would leave none.
	cfg.Compaction.Disabled = true
	e := open(t, cfg)
	defer e.Close()
	writeRounds(t, e)
	key := func(host string, tm int64) string { return fmt.Sprint(host, "@", tm) }
	want := map[string]float64{}
	wantTime := map[string]int64{}
	if err := e.Scan("db", "m", func(p *columnar.Point) error {
		want[key(p.Tags[0].Value, p.Time)] = math.Float64frombits(p.Fields[0].Num)
		wantTime[key(p.Tags[0].Value, p.Time)] = p.Time
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	day := int64(24 * time.Hour)
	// Ranges that cut through the overlapping sources, whose groups are
	// sliced where each source starts and ends.
	ranges := [][2]int64{{math.MinInt64, math.MaxInt64}, {day + int64(10*time.Minute), 3*day + int64(20*time.Minute)}, {3 * day, math.MaxInt64}}
	for _, c := range []struct {
		tags map[string][]string
		r    [2]int64
	}{{nil, ranges[0]}, {map[string][]string{"host": {"b", "d"}}, ranges[0]}, {nil, ranges[1]}, {nil, ranges[2]}, {map[string][]string{"host": {"b", "d"}}, ranges[1]}} {
		tags := c.tags
		ts, err := e.OpenScanRange("db", "m", c.r[0], c.r[1])
		if err != nil {
			t.Fatal(err)
		}
		if c.r == ranges[0] && (len(ts.overlapGroups()) < 2 || len(ts.overlapGroups()) == len(ts.segs)+len(ts.heads)) {
			t.Fatalf("want both lone and merged sources, got groups %v", ts.overlapGroups())
		}
		ts.Columns, ts.Tags = []string{"host", "v"}, tags
		got := map[string]float64{}
		err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			take := func(i int) {
				host := b.Tags[0].Dict[b.Tags[0].IDs[i]]
				if tags != nil && !slices.Contains(tags["host"], host) {
					return // a hint, not a filter: callers filter
				}
				if tm := b.Time[i]; tm < c.r[0] || (tm >= c.r[1] && c.r[1] != math.MaxInt64) {
					return // outside the range: callers filter
				}
				k := key(host, b.Time[i])
				if _, dup := got[k]; dup {
					t.Errorf("point %s twice", k)
				}
				got[k] = b.Fields[0].F[i]
			}
			for i := range b.Rows() {
				take(i)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_ = ts.Close()
		n := 0
		for k, v := range want {
			if tags != nil && !strings.HasPrefix(k, "b@") && !strings.HasPrefix(k, "d@") {
				continue
			}
			if tm := wantTime[k]; tm < c.r[0] || (tm >= c.r[1] && c.r[1] != math.MaxInt64) {
				continue
			}
			n++
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("tags %v range %v: point %s = %v (present %v), want %v", tags, c.r, k, g, ok, v)
			}
		}
		if len(got) != n {
			t.Errorf("tags %v range %v: %d points, want %d", tags, c.r, len(got), n)
		}
	}
}

// A LastOnly scan gives, per series, the value at the latest time in the
// range — the newest write when several sources hold that point — from
// cached segment summaries and head passes alike.
func TestRunBatchesLastOnly(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	writeRounds(t, e)
	day := int64(24 * time.Hour)
	for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {0, 3*day + int64(20*time.Minute)}, {2 * day, math.MaxInt64}} {
		type last struct {
			t int64
			v float64
		}
		want := map[string]last{}
		if err := e.Scan("db", "m", func(p *columnar.Point) error {
			if p.Time < r[0] || (p.Time >= r[1] && r[1] != math.MaxInt64) {
				return nil
			}
			if w, ok := want[p.Tags[0].Value]; !ok || p.Time > w.t {
				want[p.Tags[0].Value] = last{p.Time, math.Float64frombits(p.Fields[0].Num)}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for pass := range 2 { // the second pass reads cached summaries
			ts, err := e.OpenScanRange("db", "m", r[0], r[1])
			if err != nil {
				t.Fatal(err)
			}
			ts.Columns, ts.LastOnly = []string{"host", "v"}, true
			got := map[string]last{}
			err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
				for i := range b.Len {
					host := b.Tags[0].Dict[b.Tags[0].IDs[i]]
					if _, dup := got[host]; dup {
						t.Errorf("range %v pass %d: host %s twice", r, pass, host)
					}
					got[host] = last{b.Time[i], b.Fields[0].F[i]}
				}
				return nil
			})
			_ = ts.Close()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("range %v pass %d:\n got %v\nwant %v", r, pass, got, want)
			}
		}
	}
}

// modelBatch returns n random rows of table m and records them in model
// (series@time → field → value, later writes winning): tags are random
// subsets of keys with values below nv, times fall in the first nw
// windows, below span ns into each, and rows carry x, y or both.
func modelBatch(rng *rand.Rand, model map[string]map[string]float64, keys []string, n, nv, nw, span int) *columnar.Batch {
	var b columnar.Batch
	for i := 0; i < n; i++ {
		b.StartRow([]byte("m"), i+1)
		var tags []string
		for _, k := range keys[:1+rng.IntN(len(keys))] {
			if rng.IntN(3) > 0 {
				v := fmt.Sprint(rng.IntN(nv))
				b.AddTag([]byte(k), []byte(v))
				tags = append(tags, k+"="+v)
			}
		}
		sort.Strings(tags)
		ts := int64(rng.IntN(nw))*int64(segment.WindowDuration) + int64(rng.IntN(span))
		k := fmt.Sprint(tags, "@", ts)
		if model[k] == nil {
			model[k] = map[string]float64{}
		}
		nf := 0
		for _, f := range []string{"x", "y"} {
			if rng.IntN(2) == 0 {
				v := float64(rng.IntN(1000))
				b.AddFloat([]byte(f), v)
				model[k][f] = v
				nf++
			}
		}
		if nf == 0 {
			b.AddFloat([]byte("x"), 1)
			model[k]["x"] = 1
		}
		b.EndRow(ts)
	}
	return &b
}

// A LastOnly scan of the head spans many batches: a field's last value
// may lie in an earlier batch than the series' newest row, and a later
// duplicate of a time replaces only the fields it writes.
func TestRunBatchesLastOnlyHeadBatches(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	rng := rand.New(rand.NewPCG(3, 5))
	type last struct {
		t int64
		v float64
	}
	want := map[[2]string]last{} // host, field → last
	var b columnar.Batch
	n := 3*BatchRows + 100
	for i := range n {
		host := fmt.Sprint("h", rng.IntN(3))
		ts := int64(i / 2) // pairs of rows share a time: duplicates when the host repeats
		b.StartRow([]byte("m"), i+1)
		b.AddTag([]byte("host"), []byte(host))
		for _, f := range []string{"x", "y"} {
			if f == "x" && i > BatchRows/2 && host == "h1" {
				continue // h1's x ends in the first batch
			}
			if rng.IntN(2) == 0 {
				continue
			}
			v := float64(rng.IntN(1000))
			b.AddFloat([]byte(f), v)
			if w, ok := want[[2]string{host, f}]; !ok || ts >= w.t {
				want[[2]string{host, f}] = last{ts, v}
			}
		}
		b.AddFloat([]byte("z"), 1) // every row has a value
		b.EndRow(ts)
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	ts, err := e.OpenScanRange("db", "m", math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns, ts.LastOnly = []string{"host", "x", "y"}, true
	got := map[[2]string]last{}
	err = ts.RunBatches(context.Background(), func(cb *columnar.ColumnBatch) error {
		for i := range cb.Len {
			host := cb.Tags[0].Dict[cb.Tags[0].IDs[i]]
			for _, fv := range cb.Fields {
				if fv.IsNull(i) {
					continue
				}
				k := [2]string{host, fv.Name}
				if _, dup := got[k]; dup {
					t.Errorf("%v twice", k)
				}
				got[k] = last{cb.Time[i], fv.F[i]}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// A segment alone that reaches past the scan's range has its rows narrowed
// to the range (row groups hold whole days of a few series): RunBatches
// delivers exactly the range's rows, with and without a tag constraint.
func TestRunBatchesClipsLoneSegmentToRange(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	hosts := []string{"a", "b", "c", "d"}
	var pts []point
	for i := range 2 * segment.RowGroupRows {
		pts = append(pts, point{"m", hosts[i%len(hosts)], int64(i/len(hosts)) * int64(time.Second), float64(i)})
	}
	write(t, e, "db", pts...)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	lo, hi := int64(time.Hour), int64(2*time.Hour)
	for _, tags := range []map[string][]string{nil, {"host": {"b", "d"}}} {
		want := 0
		for _, p := range pts {
			if p.t >= lo && p.t < hi && (tags == nil || slices.Contains(tags["host"], p.host)) {
				want++
			}
		}
		ts, err := e.OpenScanRange("db", "m", lo, hi)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts.segs) != 1 || len(ts.heads) != 0 {
			t.Fatalf("want one segment alone, got %d segments %d heads", len(ts.segs), len(ts.heads))
		}
		ts.Columns, ts.Tags = []string{"host", "v"}, tags
		got := 0
		err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			take := func(i int) {
				if b.Time[i] < lo || b.Time[i] >= hi {
					t.Errorf("row at %d outside [%d, %d)", b.Time[i], lo, hi)
				}
				got++
			}
			for i := range b.Rows() {
				take(i)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := ts.Close(); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("tags %v: %d rows, want %d", tags, got, want)
		}
	}
}

// The last-value summary a flush caches for each new segment, computed
// from the frozen head's block index, equals the one read back from the
// segment's file: sparse fields, duplicates, late rows, several windows and
// enough rows to seal blocks.
func TestFlushCachesSegmentLastValues(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	model := map[string]map[string]float64{}
	for range 6 {
		write := modelBatch(rng, model, []string{"a", "b", "c"}, 5000, 5, 3, 4000)
		if _, err := e.Write("db", write); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range e.Manifest().Segments {
		if m.IsRollup() {
			continue
		}
		path := filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path))
		cached, ok := e.lastCache.m.Load(path)
		if !ok {
			t.Fatalf("no summary cached for %s", m.Path)
		}
		seg, err := e.refs.segment(m)
		if err != nil {
			t.Fatal(err)
		}
		var fresh lastCache
		read, err := fresh.segment(seg, false)
		if err != nil {
			t.Fatal(err)
		}
		got, want := lastValues(cached.(*lastSet)), lastValues(read)
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: cached summary of %d values differs from the file's %d", m.Path, len(got), len(want))
		}
		n++
	}
	if n < 3 {
		t.Fatalf("%d segments, want one per window", n)
	}
}
