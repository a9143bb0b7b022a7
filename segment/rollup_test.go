package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

type rollupCollector struct{ rows []columnar.Point }

func (c *rollupCollector) Append(p *columnar.Point) error {
	q := columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags), Fields: slices.Clone(p.Fields)}
	slices.SortFunc(q.Fields, func(a, b columnar.FieldValue) int { return cmpStr(a.Key, b.Key) })
	c.rows = append(c.rows, q)
	return nil
}

// BuildRollups against a model that groups points by (series, window) in
// a map: series with their own time spans (a series may start in the
// window where the previous one ends), NULLs, ints and floats, NaN, and
// more rows than a batch holds so that windows continue across batches.
func TestBuildRollupsAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	schema := columnar.NewTableSchema()
	schema.AddTag("host")
	schema.AddTag("dc")
	schema.AddField("f", columnar.FieldFloat)
	schema.AddField("i", columnar.FieldInt)
	schema.AddField("u", columnar.FieldUint)
	schema.AddField("s", columnar.FieldString)
	path := filepath.Join(t.TempDir(), "seg.parquet")
	sw, err := NewSegmentWriter(path, "db", "t", schema, 4096)
	if err != nil {
		t.Fatal(err)
	}
	var points []columnar.Point
	base := int64(1_767_225_600_000_000_000)
	for h := range 40 {
		tags := []columnar.TagValue{{Key: "host", Value: fmt.Sprintf("h%03d", h)}}
		if h%3 != 0 {
			tags = []columnar.TagValue{{Key: "dc", Value: fmt.Sprintf("d%d", h%4)}, {Key: "host", Value: fmt.Sprintf("h%03d", h)}}
		}
		start := base + int64(r.IntN(7200))*1e9
		n := 1 + r.IntN(2500)
		t0 := start
		for range n {
			t0 += int64(1+r.IntN(20)) * 1e9
			p := columnar.Point{Time: t0, Tags: tags}
			if r.IntN(5) != 0 {
				v := r.NormFloat64()*1000 + 1e6
				if r.IntN(500) == 0 {
					v = math.NaN()
				}
				p.Fields = append(p.Fields, columnar.FieldValue{Key: "f", Type: columnar.FieldFloat, Num: math.Float64bits(v)})
			}
			if r.IntN(4) != 0 {
				p.Fields = append(p.Fields, columnar.FieldValue{Key: "i", Type: columnar.FieldInt, Num: uint64(int64(r.IntN(2000) - 1000))})
			}
			if r.IntN(3) != 0 {
				p.Fields = append(p.Fields, columnar.FieldValue{Key: "u", Type: columnar.FieldUint, Num: uint64(r.IntN(1 << 20))})
			}
			p.Fields = append(p.Fields, columnar.FieldValue{Key: "s", Type: columnar.FieldString, Str: "x"})
			points = append(points, p)
		}
	}
	// Segment order: series by tags in schema order (host, dc; absent
	// first), then time.
	slices.SortStableFunc(points, func(a, b columnar.Point) int {
		if c := CompareSeries(a.Tags, b.Tags, schema.Tags); c != 0 {
			return c
		}
		return int(a.Time - b.Time)
	})
	seg := writeAndOpen(t, sw, path, points)
	defer seg.Close()
	if seg.NumRowGroups() < 2 {
		t.Fatalf("%d row groups: want windows continued across batches", seg.NumRowGroups())
	}
	widths := []int64{60e9, 3600e9}
	outs := []*rollupCollector{{}, {}}
	windows, err := BuildRollups(seg, widths, []RollupWriter{outs[0], outs[1]})
	if err != nil {
		t.Fatal(err)
	}
	for wi, w := range widths {
		model := rollupModel(points, w, []columnar.FieldSchema{{Name: "f", Type: columnar.FieldFloat}, {Name: "i", Type: columnar.FieldInt}, {Name: "u", Type: columnar.FieldUint}})
		got := outs[wi].rows
		if int64(len(got)) != windows[wi] || len(got) != len(model) {
			t.Fatalf("width %d: %d rows (reported %d), model %d", w, len(got), windows[wi], len(model))
		}
		for k := range got {
			if d := diffPoint(got[k], model[k]); d != "" {
				t.Fatalf("width %d row %d (%v %d): %s", w, k, got[k].Tags, got[k].Time, d)
			}
		}
	}
}

// rollupModel computes the rollup rows of sorted points naively.
func rollupModel(points []columnar.Point, w int64, fields []columnar.FieldSchema) []columnar.Point {
	var out []columnar.Point
	for i := 0; i < len(points); {
		j := i
		win := WindowStart(points[i].Time, w)
		for j < len(points) && CompareSeries(points[j].Tags, points[i].Tags, []string{"host", "dc"}) == 0 && WindowStart(points[j].Time, w) == win {
			j++
		}
		group := points[i:j]
		p := columnar.Point{Time: win, Tags: slices.Clone(points[i].Tags)}
		slices.SortFunc(p.Tags, func(a, b columnar.TagValue) int { return cmpStr(a.Key, b.Key) })
		p.Fields = append(p.Fields, columnar.FieldValue{Key: RollupRows, Type: columnar.FieldInt, Num: uint64(len(group))})
		for _, f := range fields {
			var vals []columnar.FieldValue
			var times []int64
			for _, q := range group {
				for _, fv := range q.Fields {
					if fv.Key == f.Name {
						vals = append(vals, fv)
						times = append(times, q.Time)
					}
				}
			}
			p.Fields = append(p.Fields, columnar.FieldValue{Key: RollupColumn(f.Name, PartCount), Type: columnar.FieldInt, Num: uint64(len(vals))})
			if len(vals) == 0 {
				continue
			}
			num := func(fv columnar.FieldValue) float64 {
				switch f.Type {
				case columnar.FieldFloat:
					return math.Float64frombits(fv.Num)
				case columnar.FieldInt:
					return float64(int64(fv.Num))
				}
				return float64(fv.Num)
			}
			less := func(a, b columnar.FieldValue) bool {
				switch f.Type {
				case columnar.FieldFloat:
					return FloatLess(math.Float64frombits(a.Num), math.Float64frombits(b.Num))
				case columnar.FieldInt:
					return int64(a.Num) < int64(b.Num)
				}
				return a.Num < b.Num
			}
			mn, mx := vals[0], vals[0]
			var sumF float64
			var sumI uint64
			for _, v := range vals {
				if less(v, mn) {
					mn = v
				}
				if less(mx, v) {
					mx = v
				}
				sumF += num(v)
				sumI += v.Num
			}
			sum := sumI
			if f.Type == columnar.FieldFloat {
				sum = math.Float64bits(sumF)
			}
			mean := sumF / float64(len(vals))
			var m2 float64
			for _, v := range vals {
				d := num(v) - mean
				m2 += d * d
			}
			p.Fields = append(p.Fields,
				columnar.FieldValue{Key: RollupColumn(f.Name, PartSum), Type: f.Type, Num: sum},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartMin), Type: f.Type, Num: mn.Num},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartMax), Type: f.Type, Num: mx.Num},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartFirst), Type: f.Type, Num: vals[0].Num},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartLast), Type: f.Type, Num: vals[len(vals)-1].Num},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartFirstTime), Type: columnar.FieldInt, Num: uint64(times[0])},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartLastTime), Type: columnar.FieldInt, Num: uint64(times[len(times)-1])},
				columnar.FieldValue{Key: RollupColumn(f.Name, PartM2), Type: columnar.FieldFloat, Num: math.Float64bits(m2)},
			)
		}
		slices.SortFunc(p.Fields, func(a, b columnar.FieldValue) int { return cmpStr(a.Key, b.Key) })
		out = append(out, p)
		i = j
	}
	return out
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// diffPoint compares rollup rows; float sums and m2 within 1e-9 relative
// (the orders of summation differ), NaN equal to NaN.
func diffPoint(a, b columnar.Point) string {
	if a.Time != b.Time || !slices.Equal(a.Tags, b.Tags) || len(a.Fields) != len(b.Fields) {
		return fmt.Sprintf("got %v, want %v", a, b)
	}
	for i := range a.Fields {
		x, y := a.Fields[i], b.Fields[i]
		if x.Key != y.Key || x.Type != y.Type {
			return fmt.Sprintf("field %d: %s/%s vs %s/%s", i, x.Key, x.Type, y.Key, y.Type)
		}
		if x.Num == y.Num {
			continue
		}
		if x.Type == columnar.FieldFloat {
			fx, fy := math.Float64frombits(x.Num), math.Float64frombits(y.Num)
			if math.IsNaN(fx) && math.IsNaN(fy) || math.Abs(fx-fy) <= 1e-9*math.Max(1, math.Max(math.Abs(fx), math.Abs(fy))) {
				continue
			}
			return fmt.Sprintf("%s: %v, want %v", x.Key, fx, fy)
		}
		return fmt.Sprintf("%s: %d, want %d", x.Key, x.Num, y.Num)
	}
	return ""
}

// A series that ends exactly at a row-group (batch) boundary, in the same
// window as the next series starts: the window must not continue.
func TestBuildRollupsSeriesAtBatchBoundary(t *testing.T) {
	schema := columnar.NewTableSchema()
	schema.AddTag("host")
	schema.AddField("f", columnar.FieldFloat)
	path := filepath.Join(t.TempDir(), "seg.parquet")
	sw, err := NewSegmentWriter(path, "db", "t", schema, 4096)
	if err != nil {
		t.Fatal(err)
	}
	base := int64(1_767_225_600_000_000_000)
	var points []columnar.Point
	for i := range RowGroupRows {
		points = append(points, columnar.Point{Time: base + int64(i)*1e9, Tags: []columnar.TagValue{{Key: "host", Value: "a"}},
			Fields: []columnar.FieldValue{{Key: "f", Type: columnar.FieldFloat, Num: math.Float64bits(float64(i))}}})
	}
	last := points[len(points)-1].Time
	for i := range 10 {
		points = append(points, columnar.Point{Time: last + int64(i+1)*1e9, Tags: []columnar.TagValue{{Key: "host", Value: "b"}},
			Fields: []columnar.FieldValue{{Key: "f", Type: columnar.FieldFloat, Num: math.Float64bits(-1)}}})
	}
	seg := writeAndOpen(t, sw, path, points)
	defer seg.Close()
	if seg.NumRowGroups() != 2 {
		t.Fatalf("%d row groups, want 2 (series a fills the first)", seg.NumRowGroups())
	}
	var out rollupCollector
	if _, err := BuildRollups(seg, []int64{3600e9}, []RollupWriter{&out}); err != nil {
		t.Fatal(err)
	}
	model := rollupModel(points, 3600e9, []columnar.FieldSchema{{Name: "f", Type: columnar.FieldFloat}})
	if len(out.rows) != len(model) {
		t.Fatalf("%d rows, model %d", len(out.rows), len(model))
	}
	for k := range model {
		if d := diffPoint(out.rows[k], model[k]); d != "" {
			t.Fatalf("row %d: %s", k, d)
		}
	}
}

// writeAndOpen appends points to sw, closes it and opens the segment at path.
func writeAndOpen(t *testing.T, sw *SegmentWriter, path string, points []columnar.Point) *Segment {
	t.Helper()
	for i := range points {
		if err := sw.Append(&points[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	seg, err := OpenSegment(path)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// BuildFlushedRollups, from the head's rows, gives the rollup rows
// BuildRollups gives from the segments the flush wrote: across windows,
// batches, series some tags lack, sparse fields, late points and
// duplicate points whose fields merge (the flush's overrides).
func TestBuildFlushedRollupsMatchesSegments(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := &columnar.Batch{}
	day := int64(WindowDuration)
	base := int64(1_767_225_600_000_000_000)
	var written []int64
	for i := range 90000 {
		host := r.IntN(37)
		t0 := base + int64(i/37)*10e9 + int64(i%2)*day
		if i%11 == 0 && len(written) > 0 {
			t0 = written[r.IntN(len(written))] // a duplicate, or a late point
		}
		written = append(written, t0)
		b.StartRow([]byte("cpu"), 1)
		b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%02d", host)))
		if host%3 != 0 {
			b.AddTag([]byte("dc"), []byte(fmt.Sprintf("d%d", host%4)))
		}
		if r.IntN(4) != 0 {
			b.AddFloat([]byte("f"), r.NormFloat64()*100)
		}
		if r.IntN(3) != 0 {
			b.AddNum([]byte("i"), columnar.FieldInt, uint64(int64(r.IntN(2000)-1000)))
		}
		if r.IntN(2) != 0 {
			b.AddNum([]byte("u"), columnar.FieldUint, uint64(r.IntN(1<<20)))
		}
		if i%5 == 0 {
			b.AddString([]byte("s"), []byte("x"))
		}
		b.EndRow(t0)
	}
	admitAll(t, s, h, b)
	dir := t.TempDir()
	var id uint64
	metas, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) < 2 {
		t.Fatalf("%d segments: want a window each for two days", len(metas))
	}
	widths := []int64{10e9, 60e9, 3600e9}
	for i, m := range metas {
		seg, err := OpenSegment(filepath.Join(dir, m.Path))
		if err != nil {
			t.Fatal(err)
		}
		if seg.NumRowGroups() < 2 {
			t.Fatalf("segment %d: %d row groups, want batches to continue windows", i, seg.NumRowGroups())
		}
		want := []*rollupCollector{{}, {}, {}}
		wantN, err := BuildRollups(seg, widths, []RollupWriter{want[0], want[1], want[2]})
		seg.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := []*rollupCollector{{}, {}, {}}
		gotN, err := BuildFlushedRollups(h, i, widths, []RollupWriter{got[0], got[1], got[2]})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(gotN, wantN) {
			t.Fatalf("segment %d: windows %v from the head, %v from the file", i, gotN, wantN)
		}
		for w := range widths {
			if len(got[w].rows) != len(want[w].rows) || len(want[w].rows) == 0 {
				t.Fatalf("segment %d width %d: %d rows from the head, %d from the file", i, widths[w], len(got[w].rows), len(want[w].rows))
			}
			for k := range want[w].rows {
				if g, x := fmt.Sprint(got[w].rows[k]), fmt.Sprint(want[w].rows[k]); g != x {
					t.Fatalf("segment %d width %d row %d:\n head %s\n file %s", i, widths[w], k, g, x)
				}
			}
		}
	}
}
