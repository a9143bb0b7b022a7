package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// A pushed source is taken only where it can share no point with another
// source of the scan — its rows' time range overlaps none, or those it
// overlaps hold none of its values of a tag all their series have: one
// that overlaps this node's head otherwise is refused
// and the scan opened again with it in Refuse (its rows then come as
// heads); a source without rows is closed; the kept one's batches follow
// the scan's and it is closed once. A scan without widths, or reading
// last values only, asks for no pushdown.
func TestOpenScanPushdownTakesOnlyLoneSources(t *testing.T) {
	cfg := testConfig(t.TempDir())
	var opens []map[string]bool // Refuse at each open with a pushdown
	plain := 0
	runs, closes := map[string]int{}, map[string]int{}
	src := func(node string, rows bool, lo, hi int64) PushedSource {
		return PushedSource{Node: node, Rows: rows, Min: lo, Max: hi,
			Run: func(_ context.Context, emit func(*columnar.ColumnBatch) error) error {
				runs[node]++
				return emit(&columnar.ColumnBatch{Len: 1, Time: []int64{lo}, Rollup: 10,
					Tags: []columnar.TagVector{{Name: "host", Dict: []string{node}, IDs: []int32{0}}}})
			},
			Close: func() { closes[node]++ }}
	}
	cfg.Tiering.Overlay = func(ctx context.Context, db, table string, minT, maxT int64, s *columnar.TableSchema) ([]*segment.Head, []string, error) {
		pd := PushdownFrom(ctx)
		if pd == nil {
			plain++
			return nil, nil, nil
		}
		opens = append(opens, maps.Clone(pd.Refuse))
		if !pd.Refuse["near"] {
			pd.AddSource(src("near", true, 50, 60)) // inside the head's rows
		}
		// Inside the head's rows too, but of other hosts: kept.
		apart := src("apart", true, 20, 40)
		apart.Key, apart.Values = "host", []string{"i"}
		pd.AddSource(apart)
		if !pd.Refuse["same"] {
			same := src("same", true, 20, 40) // and one of the head's hosts
			same.Key, same.Values = "host", []string{"g", "h"}
			pd.AddSource(same)
		}
		pd.AddSource(src("far", true, 1000, 2000))
		pd.AddSource(src("empty", false, 0, 0))
		return nil, nil, nil
	}
	e := open(t, cfg)
	defer e.Close()
	var pts []point
	for i := range 10 {
		pts = append(pts, point{"cpu", "h", int64(i * 10), float64(i)})
	}
	write(t, e, "db", pts...)

	ps, err := e.OpenScanPushdown(context.Background(), "db", "cpu", 0, 3000, []int64{10}, []string{"host", "v"}, nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(opens) != 2 || len(opens[0]) != 0 || !opens[1]["near"] || !opens[1]["same"] || len(opens[1]) != 2 {
		t.Fatalf("opens with Refuse %v, want none then near and same", opens)
	}
	if !slices.Equal(ps.Pushed, []string{"apart", "far"}) {
		t.Fatalf("pushed %v, want [apart far]", ps.Pushed)
	}
	ps.Columns = []string{"host", "v"}
	var fromFar, fromApart, fromHead int
	err = ps.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		if len(b.Tags) > 0 && b.Tags[0].Name == "host" && len(b.Tags[0].Dict) == 1 && b.Tags[0].Dict[0] == "far" {
			fromFar += b.Len
		} else if b.Rollup == 10 && len(b.Tags) > 0 && b.Tags[0].Dict[0] == "apart" {
			fromApart += b.Len
		} else {
			fromHead += b.Len
		}
		return nil
	})
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if fromFar != 1 || fromApart != 1 || fromHead == 0 {
		t.Fatalf("rows from far %d, apart %d, the head %d", fromFar, fromApart, fromHead)
	}
	// near: refused in the first open (closed), not asked in the second;
	// far: closed in the first open, run and closed once from the second;
	// empty: closed in both.
	if fmt.Sprint(runs) != "map[apart:1 far:1]" || fmt.Sprint(closes) != "map[apart:2 empty:2 far:2 near:1 same:1]" {
		t.Fatalf("runs %v closes %v", runs, closes)
	}

	for _, c := range []struct {
		widths   []int64
		lastOnly bool
	}{{nil, false}, {[]int64{10}, true}} {
		ps, err := e.OpenScanPushdown(context.Background(), "db", "cpu", 0, 3000, c.widths, []string{"v"}, nil, nil, c.lastOnly)
		if err != nil {
			t.Fatal(err)
		}
		if err := ps.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if plain != 2 || len(opens) != 2 {
		t.Fatalf("scans without widths or of last values: %d plain opens, %d with a pushdown", plain, len(opens)-2)
	}
}

// A writer answers a pushed-down scan of a table or database it does not
// have (yet) with no rows, not an error: the query node would count it
// as down.
func TestOpenLocalScanRollupsOfNothing(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write(t, e, "db", point{"cpu", "h", 10, 1})
	for _, c := range [][2]string{{"db", "mem"}, {"nodb", "cpu"}} {
		ts, err := e.OpenLocalScanRollups(c[0], c[1], 0, 100, []int64{10})
		if err != nil {
			t.Fatalf("%s.%s: %v", c[0], c[1], err)
		}
		if _, _, ok := ts.SourceRange(); ok {
			t.Fatalf("%s.%s: a source range", c[0], c[1])
		}
		ts.Columns = []string{"v"}
		n := 0
		if err := ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error { n += b.Len; return nil }); err != nil || n != 0 {
			t.Fatalf("%s.%s: %d rows, %v", c[0], c[1], n, err)
		}
		if err := ts.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ts, err := e.OpenLocalScanRollups("db", "cpu", 0, 100, []int64{10})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	if lo, hi, ok := ts.SourceRange(); !ok || lo != 10 || hi != 10 {
		t.Fatalf("source range %d..%d %v, want 10..10", lo, hi, ok)
	}
	if vals, ok := ts.KeyValues("host"); !ok || fmt.Sprint(vals) != "[h]" {
		t.Fatalf("host values %v %v", vals, ok)
	}
}

// A series without the tag makes the values no proof: it could be the
// same series as another source's without it.
func TestKeyValuesOfSeriesWithoutTheTag(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write(t, e, "db", point{"cpu", "h", 10, 1})
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddFloat([]byte("v"), 2)
	b.EndRow(20)
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	ts, err := e.OpenLocalScanRollups("db", "cpu", 0, 100, []int64{10})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	if vals, ok := ts.KeyValues("host"); ok {
		t.Fatalf("host values %v given as proof with a series lacking host", vals)
	}
}
