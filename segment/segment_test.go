package segment

import (
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/siltdb/silt/columnar"
)

// testBatch builds rows for table cpu with varying tag and field sets, over
// two windows, with series' times out of order (but no point twice).
func testBatch() *columnar.Batch {
	b := &columnar.Batch{}
	day := int64(WindowDuration)
	for i := 0; i < 1000; i++ {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), []byte(fmt.Sprintf("h%d", i%7)))
		if i%3 == 0 {
			b.AddTag([]byte("region"), []byte("eu"))
		}
		b.AddFloat([]byte("usage"), float64(i)/3)
		if i%5 == 0 {
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(-i)))
			b.AddString([]byte("msg"), []byte(fmt.Sprintf("m%d", i)))
			b.AddNum([]byte("ok"), columnar.FieldBool, uint64(i%2))
		}
		// Two windows; a series repeats its times only every 5250 rows, so
		// no two of these rows are the same point (tests add duplicates).
		b.EndRow(int64(i%250)*1e9 + int64(i%2)*day)
	}
	return b
}

func admitAll(t testing.TB, s *columnar.TableSchema, h *Head, b *columnar.Batch) {
	for i := range b.Rows {
		if err := s.Admit(b, &b.Rows[i]); err != nil {
			t.Fatal(err)
		}
		h.Append(b, &b.Rows[i], false)
	}
}

// mergeKey identifies a point.
func mergeKey(p *columnar.Point) string { return fmt.Sprint(p.Time, p.Tags) }

// expected merges points field by field, later writes winning.
func mergedPoints(t *testing.T, scan func(func(*columnar.Point) error) error) map[string]map[string]columnar.FieldValue {
	out := map[string]map[string]columnar.FieldValue{}
	if err := scan(func(p *columnar.Point) error {
		k := mergeKey(p)
		if out[k] == nil {
			out[k] = map[string]columnar.FieldValue{}
		}
		for _, f := range p.Fields {
			out[k][f.Key] = f
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSegmentRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := columnar.NewTableSchema()
	h := NewHead(s)
	admitAll(t, s, h, testBatch())
	want := mergedPoints(t, h.Scan)

	var id uint64
	metas, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
	if err != nil {
		t.Fatal(err)
	}
	if len(metas) != 2 {
		t.Fatalf("want 2 windows, got %d", len(metas))
	}
	got := map[string]map[string]columnar.FieldValue{}
	var rows int64
	for _, m := range metas {
		seg, err := OpenSegment(filepath.Join(dir, m.Path))
		if err != nil {
			t.Fatal(err)
		}
		var prev string
		part := mergedPoints(t, func(fn func(*columnar.Point) error) error {
			return seg.Scan(func(p *columnar.Point) error {
				rows++
				// Sorted by series then time: tags never go backwards.
				// Series order: tag values in column order, absent first.
				k := ""
				for _, col := range seg.Info.Tags {
					v := "\x00"
					for _, tg := range p.Tags {
						if tg.Key == col {
							v = "\x01" + tg.Value + "\x00"
						}
					}
					k += v
				}
				if k < prev {
					t.Errorf("rows not sorted by series: %s after %s", k, prev)
				}
				prev = k
				return fn(p)
			})
		})
		for k, v := range part {
			if _, dup := got[k]; dup {
				t.Errorf("point %s in two segments", k)
			}
			got[k] = v
		}
		// The index must name exactly the rows holding each host.
		for v, bm := range seg.Index["host"] {
			n := 0
			_ = seg.Scan(func(p *columnar.Point) error {
				for _, tg := range p.Tags {
					if tg.Key == "host" && tg.Value == v {
						if !bm.Contains(uint32(n)) {
							t.Errorf("index host=%s lacks row %d", v, n)
						}
					}
				}
				n++
				return nil
			})
		}
		if err := seg.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if int(rows) != len(want) {
		t.Errorf("segments hold %d rows, want %d distinct points", rows, len(want))
	}
	if !reflect.DeepEqual(got, want) {
		keys := []string{}
		for k := range want {
			if !reflect.DeepEqual(got[k], want[k]) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		t.Fatalf("%d points differ, e.g. %s: got %v want %v", len(keys), keys[0], got[keys[0]], want[keys[0]])
	}
}

func TestHeadArrowRecord(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := testBatch()
	admitAll(t, s, h, b)
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rec := h.Record(mem)
	defer rec.Release()
	if rec.NumRows() != int64(len(b.Rows)) {
		t.Fatalf("rows %d", rec.NumRows())
	}
	i := 0
	_ = h.Scan(func(p *columnar.Point) error {
		if got := rec.Column(0).(*array.Timestamp).Value(i); int64(got) != p.Time {
			t.Fatalf("row %d time %d want %d", i, got, p.Time)
		}
		host := rec.Column(1).(*array.Dictionary)
		if got := host.Dictionary().(*array.String).Value(host.GetValueIndex(i)); got != p.Tags[0].Value {
			t.Fatalf("row %d host %s want %s", i, got, p.Tags[0].Value)
		}
		usage := rec.Column(1 + len(s.Tags)).(*array.Float64)
		if got := math.Float64frombits(p.Fields[0].Num); usage.Value(i) != got {
			t.Fatalf("row %d usage %v want %v", i, usage.Value(i), got)
		}
		if rec.Column(1+len(s.Tags)+1).IsValid(i) != (i%5 == 0) {
			t.Fatalf("row %d validity of n wrong", i)
		}
		i++
		return nil
	})
}
