package segment

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// Row scans that recycle their arrays (scan_arrays.go) pass the same rows
// as scans that make new ones: across column sets of every type (two
// floats, so two vectors of one type must not share an array), ranges
// cutting blocks and batches of a few rows (many flushes per scan), with
// the arrays overwritten when given back, so that an array lent twice or
// read after its scan shows.
func TestScanArraysRecycled(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	for i := range 3*blockRows + 123 {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", i%37))
		if i%3 == 0 {
			b.AddTag([]byte("region"), []byte("eu"))
		}
		b.AddFloat([]byte("a"), float64(i)/3)
		b.AddFloat([]byte("z"), -float64(i))
		if i%5 == 0 {
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(-i)))
			b.AddString([]byte("msg"), fmt.Appendf(nil, "m%d", i))
			b.AddNum([]byte("ok"), columnar.FieldBool, uint64(i%2))
			b.AddNum([]byte("u"), columnar.FieldUint, uint64(i))
		}
		b.EndRow(int64(i/37) * 1e9)
	}
	admitAll(t, s, h, &b)
	v := h.View()
	colSets := [][]string{
		{"host", "a", "z"},
		{"host", "region", "n", "msg", "ok", "u"},
		{"z", "a", "n"},
		{"region", "host", "a", "z", "n", "msg", "ok", "u"},
	}
	render := func(cols []string, lo, hi int64) string {
		var out strings.Builder
		err := v.ScanRange(cols, nil, lo, hi, 7, func(cb *columnar.ColumnBatch) error {
			for i := range cb.Len {
				fmt.Fprintf(&out, "%d", cb.Time[i])
				for _, tv := range cb.Tags {
					id := tv.IDs[i]
					if id < 0 {
						out.WriteString(" -")
						continue
					}
					fmt.Fprintf(&out, " %s=%s", tv.Name, tv.Dict[id])
				}
				for _, fv := range cb.Fields {
					if fv.IsNull(i) {
						fmt.Fprintf(&out, " %s:null", fv.Name)
						continue
					}
					switch fv.Type {
					case columnar.FieldFloat:
						fmt.Fprintf(&out, " %s:%g", fv.Name, fv.F[i])
					case columnar.FieldInt:
						fmt.Fprintf(&out, " %s:%d", fv.Name, fv.I[i])
					case columnar.FieldUint:
						fmt.Fprintf(&out, " %s:%d", fv.Name, fv.U[i])
					case columnar.FieldBool:
						fmt.Fprintf(&out, " %s:%v", fv.Name, fv.B[i])
					case columnar.FieldString:
						fmt.Fprintf(&out, " %s:%q", fv.Name, fv.S[i])
					}
				}
				out.WriteByte('\n')
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	ranges := [][2]int64{{math.MinInt64, math.MaxInt64}, {3e9, 40e9}, {0, 1e9}, {20e9, math.MaxInt64}}
	defer func() { recycleScanArrays, poisonScanArrays = true, false }()
	recycleScanArrays, poisonScanArrays = false, false
	var want []string
	for _, cols := range colSets {
		for _, r := range ranges {
			want = append(want, render(cols, r[0], r[1]))
		}
	}
	recycleScanArrays, poisonScanArrays = true, true
	for round := range 3 {
		k := 0
		for _, cols := range colSets {
			for _, r := range ranges {
				if got := render(cols, r[0], r[1]); got != want[k] {
					t.Fatalf("round %d, columns %v, range %v: recycled arrays give other rows:\n%.600s\nwant\n%.600s", round, cols, r, got, want[k])
				}
				if want[k] == "" && r[0] == math.MinInt64 {
					t.Fatalf("columns %v: no rows over the whole head", cols)
				}
				k++
			}
		}
	}
}
