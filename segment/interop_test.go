package segment

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/siltdb/silt/columnar"
)

// Segments are written with parquet-go; reading them with Apache Arrow's own
// Parquet implementation (a second, independent reader) proves the files are
// standard: same rows, same values, the right logical types, zstd, and the
// footer metadata intact.
func TestSegmentsReadableByArrowParquet(t *testing.T) {
	dir, metas, ref := writeTestSegments(t)
	want := map[string]string{} // time+tags → fields, from the head the segments came from
	for _, m := range metas {
		path := filepath.Join(dir, m.Path)
		seg, err := OpenSegment(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := scanRef(ref[m.Window], func(p *columnar.Point) error {
			tags := map[string]string{}
			for _, tg := range p.Tags {
				tags[tg.Key] = tg.Value
			}
			fields := map[string]any{}
			for _, f := range p.Fields {
				fields[f.Key] = fieldAny(f)
			}
			want[fmt.Sprint(p.Time, tags)] = fmt.Sprint(fields)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		_ = seg.Close()

		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := file.NewParquetReader(f)
		if err != nil {
			t.Fatalf("arrow cannot open %s: %v", path, err)
		}
		md := rdr.MetaData()
		info := md.KeyValueMetadata().FindValue(MetaKeyInfo)
		if info == nil {
			t.Fatal("footer lacks " + MetaKeyInfo)
		}
		var si SegmentInfo
		if err := json.Unmarshal([]byte(*info), &si); err != nil || si.Rows != md.NumRows {
			t.Fatalf("segment info %v rows %d vs %d", err, si.Rows, md.NumRows)
		}
		for c := 0; c < md.Schema.NumColumns(); c++ {
			cc, err := md.RowGroup(0).ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			if codec := cc.Compression(); codec.String() != "ZSTD" {
				t.Errorf("column %d compressed with %s", c, codec)
			}
		}
		_ = rdr.Close()

		f2, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := pqarrow.ReadTable(context.Background(), f2, parquet.NewReaderProperties(nil), pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		_ = f2.Close()
		if err != nil {
			t.Fatalf("arrow cannot read %s: %v", path, err)
		}
		got := arrowRows(t, tbl)
		tbl.Release()
		if len(got) != int(m.Rows) {
			t.Fatalf("arrow read %d rows, segment has %d", len(got), m.Rows)
		}
		for k, v := range got {
			if want[k] != v {
				t.Fatalf("row %s: arrow %s, silt %s", k, v, want[k])
			}
		}
	}
}

func fieldAny(f columnar.FieldValue) any {
	switch f.Type {
	case columnar.FieldFloat:
		return math.Float64frombits(f.Num)
	case columnar.FieldInt:
		return int64(f.Num)
	case columnar.FieldUint:
		return f.Num
	case columnar.FieldBool:
		return f.Num != 0
	}
	return f.Str
}

// arrowRows flattens an Arrow table into the same keys as the test's own
// reader, checking logical types on the way.
func arrowRows(t *testing.T, tbl arrow.Table) map[string]string {
	out := map[string]string{}
	tr := array.NewTableReader(tbl, 1<<20)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		sch := rec.Schema()
		for i := 0; i < int(rec.NumRows()); i++ {
			var ts int64
			tags := map[string]string{}
			fields := map[string]any{}
			for c, fd := range sch.Fields() {
				col := rec.Column(c)
				if col.IsNull(i) {
					continue
				}
				switch a := col.(type) {
				case *array.Timestamp:
					if u := fd.Type.(*arrow.TimestampType).Unit; u != arrow.Nanosecond {
						t.Fatalf("time unit %v", u)
					}
					ts = int64(a.Value(i))
				case *array.String:
					if fd.Name == "msg" {
						fields[fd.Name] = a.Value(i)
					} else {
						tags[fd.Name] = a.Value(i)
					}
				case *array.Dictionary:
					tags[fd.Name] = a.Dictionary().(*array.String).Value(a.GetValueIndex(i))
				case *array.Float64:
					fields[fd.Name] = a.Value(i)
				case *array.Int64:
					fields[fd.Name] = a.Value(i)
				case *array.Uint64:
					fields[fd.Name] = a.Value(i)
				case *array.Boolean:
					fields[fd.Name] = a.Value(i)
				default:
					t.Fatalf("column %s has unexpected arrow type %s", fd.Name, fd.Type)
				}
			}
			out[fmt.Sprint(ts, tags)] = fmt.Sprint(fields)
		}
	}
	return out
}

// ScanColumns gives the points the segments were written from, restricted
// to the columns asked for.
func TestScanColumnsMatchesScan(t *testing.T) {
	dir, metas, ref := writeTestSegments(t)
	// The reads run one after another, each on the batch buffers the one
	// before left in the pool: the last list puts other types in each
	// column slot.
	for _, cols := range [][]string{nil, {"host", "region", "usage", "n", "msg", "ok"}, {"usage"}, {"region", "nope"}, {"ok", "msg", "n", "usage", "host"}} {
		keep := map[string]bool{columnar.TimeColumn: true}
		for _, c := range cols {
			keep[c] = true
		}
		for _, m := range metas {
			seg, err := OpenSegment(filepath.Join(dir, m.Path))
			if err != nil {
				t.Fatal(err)
			}
			var want, got []string
			if err := scanRef(ref[m.Window], func(p *columnar.Point) error {
				q := columnar.Point{Time: p.Time}
				for _, tg := range p.Tags {
					if keep[tg.Key] {
						q.Tags = append(q.Tags, tg)
					}
				}
				for _, f := range p.Fields {
					if keep[f.Key] {
						q.Fields = append(q.Fields, f)
					}
				}
				sortFieldValues(q.Fields)
				want = append(want, fmt.Sprint(q))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := seg.ScanColumns(cols, nil, func(p *columnar.Point) error {
				q := columnar.Point{Time: p.Time, Tags: append([]columnar.TagValue(nil), p.Tags...), Fields: append([]columnar.FieldValue(nil), p.Fields...)}
				sortFieldValues(q.Fields)
				got = append(got, fmt.Sprint(q))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if cols == nil {
				// No columns named: only time.
				for i := range want {
					want[i] = fmt.Sprint(columnar.Point{Time: parseTime(want[i])})
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("cols %v segment %s:\n got %v\nwant %v", cols, m.Path, got[:min(3, len(got))], want[:min(3, len(want))])
			}
			if err := seg.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func sortFieldValues(f []columnar.FieldValue) {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && f[j].Key < f[j-1].Key; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
}

func parseTime(s string) int64 {
	var t int64
	fmt.Sscanf(s, "{%d", &t)
	return t
}

// With tag constraints, ScanColumns delivers exactly the rows the index
// names: the written points filtered by the tags.
func TestScanColumnsTagIndex(t *testing.T) {
	dir, metas, ref := writeTestSegments(t)
	for _, tags := range []map[string][]string{
		{"host": {"h1", "h3"}},
		{"host": {"h2"}, "region": {"eu"}},
		{"host": {"nope"}},
		{"absent": {"x"}},
	} {
		for _, m := range metas {
			seg, err := OpenSegment(filepath.Join(dir, m.Path))
			if err != nil {
				t.Fatal(err)
			}
			var want, got []string
			_ = scanRef(ref[m.Window], func(p *columnar.Point) error {
				for k, vals := range tags {
					v, ok := "", false
					for _, tg := range p.Tags {
						if tg.Key == k {
							v, ok = tg.Value, true
						}
					}
					if !ok || !slices.Contains(vals, v) {
						return nil
					}
				}
				want = append(want, fmt.Sprint(p.Time, p.Tags))
				return nil
			})
			if err := seg.ScanColumns(append(slices.Clone(seg.Info.Tags), "usage"), tags, func(p *columnar.Point) error {
				got = append(got, fmt.Sprint(p.Time, p.Tags))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("tags %v: got %d rows, want %d", tags, len(got), len(want))
			}
			_ = seg.Close()
		}
	}
}

// writeTestSegments writes testBatch's head as segments and returns the
// directory, the segments, and per window the head's points in segment
// order: the reference segment readers are checked against.
func writeTestSegments(t *testing.T) (string, []SegmentMeta, map[string][]columnar.Point) {
	t.Helper()
	dir := t.TempDir()
	s := columnar.NewTableSchema()
	h := NewHead(s)
	admitAll(t, s, h, testBatch())
	ref := map[string][]columnar.Point{}
	if err := h.ScanOrdered(func(p *columnar.Point) error {
		w := WindowName(WindowOf(p.Time))
		ref[w] = append(ref[w], columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags), Fields: slices.Clone(p.Fields)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var id uint64
	metas, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
	if err != nil {
		t.Fatal(err)
	}
	return dir, metas, ref
}

func scanRef(points []columnar.Point, fn func(*columnar.Point) error) error {
	for i := range points {
		if err := fn(&points[i]); err != nil {
			return err
		}
	}
	return nil
}

// A constrained tag is rebuilt from the index instead of decoded: across
// several row groups, and over any range of them, the rows delivered and
// every column of them match the unconstrained scan filtered by the tags.
func TestScanRowGroupsConstrainedTagsFromIndex(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := &columnar.Batch{}
	const hosts, perHost = 9, 9000 // 81,000 rows: three row groups
	for i := 0; i < hosts*perHost; i++ {
		host := i % hosts
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%d", host)))
		if host%2 == 0 {
			b.AddTag([]byte("region"), []byte(fmt.Sprintf("r%d", host%4)))
		}
		b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(i)))
		b.EndRow(int64(i/hosts) * 1e9)
	}
	admitAll(t, s, h, b)
	dir := t.TempDir()
	var id uint64
	metas, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
	if err != nil || len(metas) != 1 {
		t.Fatalf("write: %v, %d segments", err, len(metas))
	}
	seg, err := OpenSegment(filepath.Join(dir, metas[0].Path))
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()
	if seg.NumRowGroups() < 3 {
		t.Fatalf("want several row groups, got %d", seg.NumRowGroups())
	}
	cols := []string{"host", "region", "n"}
	rows := func(tags map[string][]string, first, end int) []string {
		var out []string
		err := seg.ScanRowGroups(cols, tags, first, end, func(cb *columnar.ColumnBatch) error {
			var p columnar.Point
			owned := make([][]string, len(cb.Tags))
			for i, tv := range cb.Tags {
				owned[i] = slices.Clone(tv.Dict)
			}
			emit := func(i int) {
				cb.RowPoint(i, &p, owned)
				out = append(out, fmt.Sprint(p.Time, p.Tags, p.Fields))
			}
			if cb.Sel != nil {
				for _, i := range cb.Sel {
					emit(int(i))
				}
			} else {
				for i := 0; i < cb.Len; i++ {
					emit(i)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	n := seg.NumRowGroups()
	for _, tags := range []map[string][]string{
		{"host": {"h1", "h4", "h4", "h8"}},
		{"host": {"h0", "h2", "h6", "h3"}, "region": {"r2"}},
		{"host": {"h5", "nope"}},
	} {
		for _, rg := range [][2]int{{0, n}, {1, n}, {0, 1}, {1, 2}} {
			want := rowsFiltered(t, seg, cols, tags, rg[0], rg[1])
			got := rows(tags, rg[0], rg[1]) // the index is exact: no filtering

			if len(want) == 0 && rg == [2]int{0, n} {
				t.Fatalf("tags %v: reference has no rows", tags)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("tags %v groups %v: got %d rows, want %d\n got %.200v\nwant %.200v", tags, rg, len(got), len(want), got, want)
			}
		}
	}
}

// rowsFiltered scans row groups [first, end) of seg without tag
// constraints and keeps the rows whose tags match tags.
func rowsFiltered(t *testing.T, seg *Segment, cols []string, tags map[string][]string, first, end int) []string {
	t.Helper()
	var out []string
	err := seg.ScanRowGroups(cols, nil, first, end, func(cb *columnar.ColumnBatch) error {
		var p columnar.Point
		owned := make([][]string, len(cb.Tags))
		for i, tv := range cb.Tags {
			owned[i] = slices.Clone(tv.Dict)
		}
	rows:
		for i := 0; i < cb.Len; i++ {
			cb.RowPoint(i, &p, owned)
			for k, vals := range tags {
				v := ""
				for _, tg := range p.Tags {
					if tg.Key == k {
						v = tg.Value
					}
				}
				if !slices.Contains(vals, v) {
					continue rows
				}
			}
			out = append(out, fmt.Sprint(p.Time, p.Tags, p.Fields))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
