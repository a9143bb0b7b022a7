package segment

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// Views of one head share its sealed blocks, and so their zones: a view
// taken before later rows (and a block sealed after it, a field added
// after it) and a view taken after them each deliver, filtered, exactly
// the rows they hold that pass, whichever of them builds the zones first.
func TestHeadZonesSharedByViews(t *testing.T) {
	for _, laterFirst := range []bool{false, true} {
		s := columnar.NewTableSchema()
		h := NewHead(s)
		type row struct {
			t    int64
			host string
			g    *float64
			late bool
		}
		var rows []row
		write := func(n int, base float64, late bool) {
			var b columnar.Batch
			for k := range n {
				host := fmt.Sprintf("h%02d", k%20)
				r := row{t: int64(len(rows)/20+1) * 1e9, host: host, late: late}
				b.StartRow([]byte("cpu"), k+1)
				b.AddTag([]byte("host"), []byte(host))
				if k%13 != 0 {
					v := base + float64(k%20) + float64(k%7)/7
					r.g = &v
					b.AddFloat([]byte("g"), v)
				}
				if late {
					b.AddNum([]byte("late"), columnar.FieldInt, uint64(k))
				}
				b.EndRow(r.t)
				rows = append(rows, r)
			}
			admitAll(t, s, h, &b)
		}
		// A sealed block and a part of the next; the view then; the rest
		// of that block, with values far above the first ones, and a
		// field the view does not know.
		write(blockRows+blockRows/2, 0, false)
		early := h.View()
		nEarly := len(rows)
		write(blockRows, 1000, true)
		later := h.View()
		if len(early.blocks) != 1 || len(later.blocks) != 2 {
			t.Fatalf("views of %d and %d blocks, want 1 and 2", len(early.blocks), len(later.blocks))
		}
		// Some hosts (the per-series zones) and all (whole blocks
		// tested in place).
		scan := func(v *Head, n int, c float64, field string, hosts []string) {
			t.Helper()
			var match []bool
			if hosts != nil {
				match = v.MatchSeries(map[string][]string{"host": hosts})
			}
			var want []string
			for _, r := range rows[:n] {
				if hosts != nil && !slices.Contains(hosts, r.host) {
					continue
				}
				if field == "g" && r.g != nil && *r.g > c {
					want = append(want, fmt.Sprint(r.t, r.host))
				}
			}
			f := &RowFilter{Fields: []string{field},
				Keep: func(b *columnar.ColumnBatch, out []int32) []int32 {
					fv := &b.Fields[0]
					for r := range int32(b.Len) {
						if !fv.IsNull(int(r)) && fv.Type == columnar.FieldFloat && fv.F[r] > c {
							out = append(out, r)
						}
					}
					return out
				},
				MayPass: func(_ string, r FieldRange) bool {
					_, hi := r.Float()
					return r.Type != columnar.FieldFloat || r.NaN || (r.Values && hi > c)
				}}
			var got []string
			err := v.ScanRangeFiltered([]string{"host", field}, match, math.MinInt64, math.MaxInt64, 700, f, func(b *columnar.ColumnBatch) error {
				for r := range b.Len {
					got = append(got, fmt.Sprint(b.Time[r], b.Tags[0].Dict[b.Tags[0].IDs[r]]))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("later first %v: %s > %v over %d rows: %d rows, want %d", laterFirst, field, c, n, len(got), len(want))
			}
		}
		views := []func(){
			func() {
				for _, c := range []float64{-1, 5, 18.5, 500, 1010} {
					scan(early, nEarly, c, "g", nil)
					scan(early, nEarly, c, "g", []string{"h00", "h05", "h19"})
				}
			},
			func() {
				for _, c := range []float64{-1, 5, 18.5, 500, 1010} {
					scan(later, len(rows), c, "g", nil)
					scan(later, len(rows), c, "g", []string{"h00", "h05", "h19"})
				}
			},
		}
		if laterFirst {
			views[0], views[1] = views[1], views[0]
		}
		views[0]()
		views[1]()
		if h.CopyBytes() == 0 {
			t.Fatal("no zones were kept")
		}
	}
}
