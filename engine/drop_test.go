package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// segmentFiles lists the .parquet files under dir's segments/<db>/.
func dbSegmentFiles(t *testing.T, dir, db string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(dir, "segments", db), func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if strings.HasSuffix(p, ".parquet") {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func manifestNames(m *manifest.Manifest, db, table string) int {
	n := 0
	for _, s := range m.Segments {
		if s.DB == db && (table == "" || s.Table == table) {
			n++
		}
	}
	return n
}

// checkDropped asserts that db.cpu is gone and db.mem is as written.
func checkDropped(t *testing.T, e *Engine, dir string, mem []point) {
	t.Helper()
	tables, ok := e.Tables("db")
	if !ok {
		t.Fatal("database db went with its table")
	}
	if _, ok := tables["cpu"]; ok {
		t.Error("table cpu still in the catalog")
	}
	if got, want := dump(t, e, "db"), expect(mem...); !reflect.DeepEqual(got, want) {
		t.Errorf("after drop: tables %d, mem points %d; want %d tables, %d points", len(got), len(got["mem"]), len(want), len(want["mem"]))
	}
	n := 0
	if err := e.Scan("db", "cpu", func(*columnar.Point) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a scan of the dropped table returned %d points", n)
	}
	if k := manifestNames(e.Manifest(), "db", "cpu"); k != 0 {
		t.Errorf("the manifest still names %d segments of cpu", k)
	}
	if _, ok := e.Manifest().Schemas["db"]["cpu"]; ok {
		t.Error("the manifest still has cpu's schema")
	}
}

// setup writes cpu and mem into segments, a frozen set and the active head.
func setup(t *testing.T, e *Engine) (mem []point) {
	t.Helper()
	cpu := gen("cpu", 600, 0)
	mem = gen("mem", 600, 1000)
	write(t, e, "db", slices.Concat(cpu[:200], mem[:200])...)
	if err := e.Flush(); err != nil { // segments
		t.Fatal(err)
	}
	write(t, e, "db", slices.Concat(cpu[200:400], mem[200:400])...)
	if err := e.freeze(); err != nil { // a frozen set, not flushed
		t.Fatal(err)
	}
	write(t, e, "db", slices.Concat(cpu[400:], mem[400:])...) // active head
	return mem
}

func TestDropTable(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	mem := setup(t, e)
	before := len(dbSegmentFiles(t, dir, "db"))
	if err := e.DropTable("db", "cpu"); err != nil {
		t.Fatal(err)
	}
	checkDropped(t, e, dir, mem)
	if after := len(dbSegmentFiles(t, dir, "db")); after >= before {
		t.Errorf("%d segment files before the drop, %d after: cpu's were not deleted", before, after)
	}
	if err := e.DropTable("db", "cpu"); !errors.Is(err, ErrTableNotFound) {
		t.Errorf("second drop: %v, want ErrTableNotFound", err)
	}
	// The frozen set flushes without bringing cpu back.
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	checkDropped(t, e, dir, mem)
	if got := e.HeadBytes(); got != 0 {
		t.Errorf("head bytes after flushing everything: %d", got)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	checkDropped(t, e, dir, mem)
}

func TestDropDatabase(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	setup(t, e)
	other := gen("cpu", 300, 7)
	write(t, e, "keep", other...)
	if err := e.SetRetention("db", 0); err != nil { // a setting the drop removes
		t.Fatal(err)
	}
	if err := e.DropDatabase("db"); err != nil {
		t.Fatal(err)
	}
	if err := e.DropDatabase("db"); err != nil {
		t.Errorf("dropping a missing database: %v (InfluxDB: no error)", err)
	}
	check := func() {
		t.Helper()
		if got := e.Databases(); !reflect.DeepEqual(got, []string{"keep"}) {
			t.Errorf("databases %v", got)
		}
		if _, ok := e.Tables("db"); ok {
			t.Error("Tables(db) still answers")
		}
		if k := manifestNames(e.Manifest(), "db", ""); k != 0 || e.Manifest().Databases["db"] != nil {
			t.Errorf("manifest: %d segments of db, meta %v", k, e.Manifest().Databases["db"])
		}
		if got, want := dump(t, e, "keep"), expect(other...); !reflect.DeepEqual(got, want) {
			t.Errorf("database keep changed: %d points", len(got["cpu"]))
		}
	}
	check()
	if files := dbSegmentFiles(t, dir, "db"); len(files) != 0 {
		t.Errorf("segment files left: %v", files)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	check()
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	check()
}

// TestDropSurvivesCrash crashes at each point of a drop: before the WAL
// record is synced nothing is promised; after it, the drop must hold.
func TestDropSurvivesCrash(t *testing.T) {
	for _, stage := range []string{"after-wal-sync", "after-return", "after-return-and-write"} {
		t.Run(stage, func(t *testing.T) {
			dir := t.TempDir()
			e := open(t, testConfig(dir))
			mem := setup(t, e)
			switch stage {
			case "after-wal-sync": // before the manifest commit
				e.flushMu.Lock()
				pos, _, found, err := e.dropApply("db", "cpu")
				if err == nil {
					err = e.wal.Sync(pos)
				}
				e.flushMu.Unlock()
				if err != nil || !found {
					t.Fatal(found, err)
				}
			default:
				if err := e.DropTable("db", "cpu"); err != nil {
					t.Fatal(err)
				}
			}
			var again []point
			if stage == "after-return-and-write" {
				again = gen("cpu", 30, 99)
				write(t, e, "db", again...)
			}
			if err := e.crash(); err != nil {
				t.Fatal(err)
			}
			e = open(t, testConfig(dir))
			if again == nil {
				checkDropped(t, e, dir, mem)
			} else if got, want := dump(t, e, "db"), expect(append(mem, again...)...); !reflect.DeepEqual(got, want) {
				t.Errorf("after recreate and crash: cpu %d points, want %d", len(got["cpu"]), len(want["cpu"]))
			}
			// The replayed drop was committed: its files are gone.
			live := map[string]bool{}
			for _, s := range e.Manifest().Segments {
				live[filepath.Join(dir, filepath.FromSlash(s.Path))] = true
			}
			for _, f := range dbSegmentFiles(t, dir, "db") {
				if !live[f] {
					t.Errorf("file %s not named by the manifest", f)
				}
			}
			// And a second crash (the drop is replayed again) changes nothing.
			if err := e.crash(); err != nil {
				t.Fatal(err)
			}
			e = open(t, testConfig(dir))
			defer e.Close()
			if again == nil {
				checkDropped(t, e, dir, mem)
			}
		})
	}
}

// TestWriteAfterDropRecreates: the new table starts from scratch, so a
// field may change type, and the replay of the WAL (old rows, drop, new
// rows) reproduces exactly that.
func TestWriteAfterDropRecreates(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	setup(t, e)
	if err := e.DropTable("db", "cpu"); err != nil {
		t.Fatal(err)
	}
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("region"), []byte("eu"))
	b.AddString([]byte("v"), []byte("now a string"))
	b.EndRow(5e9)
	res, err := e.Write("db", &b)
	if err != nil || res.Written != 1 || len(res.Rejected) != 0 {
		t.Fatalf("write after drop: %+v %v", res, err)
	}
	check := func(when string) {
		t.Helper()
		tables, _ := e.Tables("db")
		s := tables["cpu"]
		if s == nil || !slices.Equal(s.Tags, []string{"region"}) || len(s.Fields) != 1 || s.Fields[0].Type != columnar.FieldString {
			t.Fatalf("%s: cpu schema %+v, want the new one only", when, s)
		}
		var got []string
		err := e.Scan("db", "cpu", func(p *columnar.Point) error {
			got = append(got, p.Fields[0].Str)
			return nil
		})
		if err != nil || !slices.Equal(got, []string{"now a string"}) {
			t.Fatalf("%s: cpu rows %q, %v", when, got, err)
		}
	}
	check("in the head")
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	check("after crash")
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	check("after flush and reopen")
}

// TestDropRacesFlush drops while a flush and a freeze run: once DropTable
// returns no scan sees the rows, and no flush (of a set frozen before or
// during the drop) brings segments of the table back. Rows written after a
// drop are TestDropModel's and TestWriteAfterDropRecreates' business.
func TestDropRacesFlush(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	defer e.Close()
	for round := range 20 {
		write(t, e, "db", gen("cpu", 300, float64(round))...)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := e.Flush(); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			_ = e.freeze() // a frozen set that the drop may meet
		}()
		if err := e.DropTable("db", "cpu"); err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := e.Scan("db", "cpu", func(*columnar.Point) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("round %d: %d points right after the drop", round, n)
		}
		wg.Wait()
		if err := e.Flush(); err != nil {
			t.Fatal(err)
		}
		if k := manifestNames(e.Manifest(), "db", "cpu"); k != 0 {
			t.Fatalf("round %d: a flush brought back %d segments of the dropped table", round, k)
		}
	}
}

// TestReplayedDropKeepsLaterCreate: CREATE DATABASE after DROP DATABASE
// is a manifest commit, not a WAL record; replaying the drop must not undo
// it.
func TestReplayedDropKeepsLaterCreate(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	setup(t, e)
	if err := e.DropDatabase("db"); err != nil {
		t.Fatal(err)
	}
	if err := e.CreateDatabase("db"); err != nil {
		t.Fatal(err)
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	e = open(t, testConfig(dir))
	defer e.Close()
	tables, ok := e.Tables("db")
	if !ok || len(tables) != 0 {
		t.Fatalf("db after replay: exists %v, tables %d; want it empty", ok, len(tables))
	}
}

func TestDropRecordRoundTrip(t *testing.T) {
	p := appendDropRecord(nil, "d b", "", -5)
	db, table, at, err := decodeDropRecord(p)
	if err != nil || db != "d b" || table != "" || at != -5 {
		t.Fatalf("%q %q %d %v", db, table, at, err)
	}
	for i := 1; i < len(p); i++ {
		if _, _, _, err := decodeDropRecord(p[:i]); err == nil {
			t.Errorf("truncated to %d bytes: decoded", i)
		}
	}
	if _, _, _, err := decodeDropRecord(append(p, 0)); err == nil {
		t.Error("trailing byte: decoded")
	}
}

// TestDropDuringMerge: a merge whose inputs were dropped while it ran
// commits nothing and leaves no output files behind.
func TestDropDuringMerge(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	defer e.Close()
	mem := setup(t, e)
	var inputs []segment.SegmentMeta
	for _, s := range e.Manifest().Segments {
		if s.Table == "cpu" {
			inputs = append(inputs, s)
		}
	}
	if len(inputs) == 0 {
		t.Fatal("no cpu segments")
	}
	// A merge output, written before the drop.
	out := inputs[0]
	out.ID = e.nextID.Add(1) - 1
	out.Path = segment.SegmentPath("db", "cpu", out.Window, out.ID)
	src, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(inputs[0].Path)))
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(dir, filepath.FromSlash(out.Path))
	if err := os.WriteFile(outFile, src, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.DropTable("db", "cpu"); err != nil {
		t.Fatal(err)
	}
	if err := e.swapSegments(inputs, []segment.SegmentMeta{out}); err == nil {
		t.Fatal("the merge committed over a dropped table")
	}
	if _, err := os.Stat(outFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("merge output left behind: %v", err)
	}
	checkDropped(t, e, dir, mem)
}

// TestDropModel runs random writes, drops, flushes, freezes and merges,
// with crashes and clean restarts in between, and compares every table
// with a model of what was acknowledged (last write wins). Steps:
// SILT_DROP_STEPS (default 300).
func TestDropModel(t *testing.T) {
	steps := 300
	if v, err := strconv.Atoi(os.Getenv("SILT_DROP_STEPS")); err == nil && v > 0 {
		steps = v
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	cfg := testConfig(dir)
	e := open(t, cfg)
	defer func() { e.Close() }()
	model := map[string]map[string]map[string]float64{} // db → table → host@time → v
	dbs, tables := []string{"x", "y"}, []string{"a", "b", "c"}
	check := func(step int, what string) {
		t.Helper()
		var want []string
		for db := range model {
			want = append(want, db)
		}
		slices.Sort(want)
		if got := e.Databases(); !slices.Equal(got, want) {
			t.Fatalf("step %d (%s): databases %v, want %v (seed %d)", step, what, got, want, seed)
		}
		for _, db := range dbs {
			got := dump(t, e, db)
			w := model[db]
			if w == nil {
				w = map[string]map[string]float64{}
			}
			if !reflect.DeepEqual(got, w) {
				for tb := range w {
					t.Logf("%s.%s: got %d points, want %d", db, tb, len(got[tb]), len(w[tb]))
				}
				for tb := range got {
					t.Logf("%s.%s: got %d points", db, tb, len(got[tb]))
				}
				t.Fatalf("step %d (%s): database %s differs (seed %d)", step, what, db, seed)
			}
		}
	}
	for step := range steps {
		db, tb := dbs[rng.IntN(len(dbs))], tables[rng.IntN(len(tables))]
		var what string
		switch r := rng.IntN(100); {
		case r < 45:
			what = "write " + db + "." + tb
			var pts []point
			for range 1 + rng.IntN(40) {
				pts = append(pts, point{tb, fmt.Sprintf("h%d", rng.IntN(5)), int64(rng.IntN(50)) * 1e9, float64(rng.IntN(1000))})
			}
			write(t, e, db, pts...)
			if model[db] == nil {
				model[db] = map[string]map[string]float64{}
			}
			if model[db][tb] == nil {
				model[db][tb] = map[string]float64{}
			}
			for _, p := range pts {
				model[db][tb][fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
			}
		case r < 60:
			what = "drop table " + db + "." + tb
			err := e.DropTable(db, tb)
			_, exists := model[db][tb]
			if exists && err != nil || !exists && !errors.Is(err, ErrTableNotFound) {
				t.Fatalf("step %d: %s: %v (exists %v)", step, what, err, exists)
			}
			delete(model[db], tb)
		case r < 66:
			what = "drop database " + db
			if err := e.DropDatabase(db); err != nil {
				t.Fatal(err)
			}
			delete(model, db)
		case r < 76:
			what = "flush"
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
		case r < 84:
			what = "freeze"
			if err := e.freeze(); err != nil {
				t.Fatal(err)
			}
		case r < 88:
			what = "compact"
			if err := e.Compact(context.Background()); err != nil {
				t.Fatal(err)
			}
		case r < 96:
			what = "crash"
			if err := e.crash(); err != nil {
				t.Fatal(err)
			}
			e = open(t, cfg)
		default:
			what = "close"
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			e = open(t, cfg)
		}
		check(step, what)
	}
}

// TestDropRecordGolden pins the bytes docs/format/wal.md describes.
func TestDropRecordGolden(t *testing.T) {
	got := appendDropRecord(nil, "db", "cpu", 1)
	want := []byte{3, 2, 'd', 'b', 3, 'c', 'p', 'u', 2} // type, len db, db, len table, table, zigzag varint 1
	if !slices.Equal(got, want) {
		t.Fatalf("drop record % x, want % x", got, want)
	}
}
