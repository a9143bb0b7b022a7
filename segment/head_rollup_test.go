package segment

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// ScanRollup's partials, combined per series and window, equal the
// aggregates of the merged points in range — with and without late and
// duplicate points, for all series and a tag subset, ranges cutting blocks
// (on minute boundaries, as a reader's rollup pieces are aligned).
func TestHeadScanRollup(t *testing.T) {
	ranges := [][2]int64{{math.MinInt64, math.MaxInt64}, {120e9, 360e9}, {0, 60e9}, {180e9, math.MaxInt64},
		{math.MinInt64, 240e9}, {720e9, 780e9}, {120e9, 120e9}}
	for _, late := range []bool{false, true} {
		h := blockedHead(t, late)
		for _, tags := range []map[string][]string{nil, {"host": {"h03", "h30"}}} {
			for _, perSeries := range []bool{true, false} {
				for _, r := range ranges {
					name := fmt.Sprintf("late=%v tags=%v perSeries=%v range=%v", late, tags, perSeries, r)
					checkRollup(t, name, h, tags, perSeries, r[0], r[1], 60e9)
				}
			}
		}
	}
}

// Dense sealed blocks keep partials from the seal (live rollups), and a
// read of any width they nest in gives the same aggregates as folding the
// rows; a rewrite makes the head read its rows again, still exactly.
func TestHeadBlockRollups(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	n := 3*blockRows + 500
	for i := range n { // 4 hosts, a row each every 10 ms
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%4))
		b.AddFloat([]byte("usage"), float64(i%1000)/7)
		if i%3 == 0 {
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(i)))
		}
		b.EndRow(int64(i/4) * 1e7)
	}
	admitAll(t, s, h, &b)
	if !slices.ContainsFunc(h.blocks, func(blk *headBlock) bool { return blk.roll != nil && blk.roll.width == 1e9 }) {
		t.Fatal("dense blocks kept no 1 s partials")
	}
	check := func(stage string) {
		for _, width := range []int64{1e9, 10e9, 60e9} {
			for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {10e9, 50e9}, {0, 60e9}, {20e9, math.MaxInt64}} {
				for _, tags := range []map[string][]string{nil, {"host": {"h1", "h2"}}} {
					for _, perSeries := range []bool{true, false} {
						name := fmt.Sprintf("%s width=%d range=%v tags=%v perSeries=%v", stage, width, r, tags, perSeries)
						checkRollup(t, name, h, tags, perSeries, r[0], r[1], width)
					}
				}
			}
		}
	}
	check("in order")
	// Rewrite one point of the first block: its partials are stale now.
	var dup columnar.Batch
	dup.StartRow([]byte("cpu"), 1)
	dup.AddTag([]byte("host"), []byte("h1"))
	dup.AddFloat([]byte("usage"), 1e6)
	dup.EndRow(5e7)
	admitAll(t, s, h, &dup)
	check("rewritten")
}

// Sealed blocks of sparse series (50 hosts, a row each every 10 s, as
// TSBS writes) keep coarse partials (an hour), and reads at widths they
// nest in (1 h, a day) or not (1 m, 10 m: the rows are folded) give
// the aggregates of the rows, with and without a rewrite.
func TestHeadSparseBlockRollups(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	const hosts = 50
	n := 4*blockRows + 300
	for i := range n {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", i%hosts))
		b.AddFloat([]byte("usage"), float64(i%997)/3)
		b.EndRow(int64(i/hosts) * 10e9)
	}
	admitAll(t, s, h, &b)
	if !slices.ContainsFunc(h.blocks, func(blk *headBlock) bool { return blk.roll != nil && blk.roll.width == 3600e9 }) {
		t.Fatal("sparse blocks kept no 1 h partials")
	}
	check := func(stage string) {
		for _, width := range []int64{60e9, 600e9, 3600e9, 86400e9} {
			for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {width, 3 * width}, {0, width}, {2 * width, math.MaxInt64}} {
				for _, tags := range []map[string][]string{nil, {"host": {"h01", "h17"}}} {
					for _, perSeries := range []bool{true, false} {
						name := fmt.Sprintf("%s width=%d range=%v tags=%v perSeries=%v", stage, width, r, tags, perSeries)
						checkRollup(t, name, h, tags, perSeries, r[0], r[1], width)
					}
				}
			}
		}
	}
	check("in order")
	var dup columnar.Batch
	dup.StartRow([]byte("cpu"), 1)
	dup.AddTag([]byte("host"), []byte("h01"))
	dup.AddFloat([]byte("usage"), 1e6)
	dup.EndRow(10e9)
	admitAll(t, s, h, &dup)
	check("rewritten")
}

// checkRollup compares ScanRollup over [minT, maxT) (aligned on width or
// unbounded, as a reader's rollup pieces are) with the aggregates of the
// merged points, per series (perSeries) or per window over all series.
func checkRollup(t *testing.T, name string, h *Head, tags map[string][]string, perSeries bool, minT, maxT, width int64) {
	t.Helper()
	type agg struct {
		n             int64
		sum, min, max float64
		ft, lt        int64
		first, last   float64
	}
	matches := func(p *columnar.Point) bool {
		for k, vals := range tags {
			found := false
			for _, tv := range p.Tags {
				found = found || (tv.Key == k && slices.Contains(vals, tv.Value))
			}
			if !found {
				return false
			}
		}
		return true
	}
	want := map[string]*agg{}
	if err := h.ScanOrdered(func(p *columnar.Point) error {
		if !inSpan(p.Time, minT, maxT) || !matches(p) {
			return nil
		}
		for _, f := range p.Fields {
			if f.Key != "usage" {
				continue
			}
			v := math.Float64frombits(f.Num)
			k := fmt.Sprint(WindowStart(p.Time, width))
			if perSeries {
				k = fmt.Sprint(p.Tags, WindowStart(p.Time, width))
			}
			a := want[k]
			if a == nil {
				a = &agg{min: v, max: v, ft: p.Time, first: v, lt: p.Time, last: v}
				want[k] = a
			}
			a.n++
			a.sum += v
			a.min, a.max = min(a.min, v), max(a.max, v)
			if p.Time < a.ft {
				a.ft, a.first = p.Time, v
			}
			if p.Time >= a.lt { // points of one series come in time order
				a.lt, a.last = p.Time, v
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]*agg{}
	seen := map[string]bool{}
	cols := []string{"usage", "msg"}
	if perSeries {
		cols = append(cols, h.Schema.Tags...)
	}
	err := h.ScanRollup(cols, h.MatchSeries(tags), minT, maxT, width, 500, func(b *columnar.ColumnBatch) error {
		if b.Rollup != width {
			t.Fatalf("batch marked rollup %d, want %d", b.Rollup, width)
		}
		dicts := make([][]string, len(b.Tags))
		for j := range b.Tags {
			dicts[j] = b.Tags[j].Dict
		}
		for i := range b.Rows() {
			var p columnar.Point
			b.RowPoint(int(i), &p, dicts)
			part := map[string]uint64{}
			for _, f := range p.Fields {
				part[f.Key] = f.Num
			}
			n := int64(part[RollupColumn("usage", PartCount)])
			if n == 0 {
				continue
			}
			f := func(k string) float64 { return math.Float64frombits(part[RollupColumn("usage", k)]) }
			k := fmt.Sprint(p.Time)
			if perSeries {
				k = fmt.Sprint(p.Tags, p.Time)
			}
			if seen[k] {
				t.Fatalf("%s: two partials of window and group %s: a fold passes one", name, k)
			}
			seen[k] = true
			a := got[k]
			ft, lt := int64(part[RollupColumn("usage", PartFirstTime)]), int64(part[RollupColumn("usage", PartLastTime)])
			if a == nil {
				a = &agg{min: f(PartMin), max: f(PartMax), ft: ft, first: f(PartFirst), lt: lt, last: f(PartLast)}
				got[k] = a
			}
			a.n += n
			a.sum += f(PartSum)
			a.min, a.max = min(a.min, f(PartMin)), max(a.max, f(PartMax))
			if ft < a.ft {
				a.ft, a.first = ft, f(PartFirst)
			}
			if lt > a.lt {
				a.lt, a.last = lt, f(PartLast)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Across series, first and last at a shared time are any of the tied
	// values: only their times are compared.
	if !perSeries {
		for _, m := range []map[string]*agg{got, want} {
			for _, a := range m {
				a.first, a.last = 0, 0
			}
		}
	}
	// Sums of partials may round differently from one sum.
	for k, a := range got {
		if w := want[k]; w != nil && math.Abs(a.sum-w.sum) <= 1e-9*math.Abs(w.sum) {
			a.sum = w.sum
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: %d windows, want %d (or partials differ)", name, len(got), len(want))
	}
}

// A fold that would hold more partials than maxHeldPartials gives up
// before passing any on, so the caller can read the rows raw instead.
func TestHeadScanRollupBounded(t *testing.T) {
	h := blockedHead(t, false)
	defer func(n int) { maxHeldPartials = n }(maxHeldPartials)
	maxHeldPartials = 5
	emitted := 0
	err := h.ScanRollup([]string{"host", "usage"}, nil, math.MinInt64, math.MaxInt64, 60e9, 500, func(b *columnar.ColumnBatch) error {
		emitted += b.Len
		return nil
	})
	if !FoldAbandoned(err) || emitted != 0 {
		t.Fatalf("fold of many windows under a bound of 5: err %v, %d partials emitted; want ErrTooManyPartials and none", err, emitted)
	}
	maxHeldPartials = 1 << 20
	if err := h.ScanRollup([]string{"host", "usage"}, nil, math.MinInt64, math.MaxInt64, 60e9, 500, func(b *columnar.ColumnBatch) error {
		emitted += b.Len
		return nil
	}); err != nil || emitted == 0 {
		t.Fatalf("unbounded fold: err %v, %d partials", err, emitted)
	}
}

// Partials of one window folded piece by piece and merged equal the
// partial of the whole run: counts, exact integer sums, extremes, first
// and last by time, and the squared deviations (to rounding).
func TestMergePartial(t *testing.T) {
	const n = 1000
	times := make([]int64, n)
	for i := range times {
		times[i] = int64(i) * 1e6
	}
	vecs := []*columnar.FieldVector{
		{Type: columnar.FieldFloat, F: make([]float64, n), Null: make([]bool, n)},
		{Type: columnar.FieldInt, I: make([]int64, n)},
		{Type: columnar.FieldUint, U: make([]uint64, n)},
	}
	for i := range n {
		x := math.Sin(float64(i)) * 1e3
		vecs[0].F[i], vecs[0].Null[i] = x+1e6, i%7 == 0
		vecs[1].I[i] = int64(x)
		vecs[2].U[i] = uint64(i * i)
	}
	for _, fv := range vecs {
		var whole partial
		foldRun(&whole, fv, times, 0, n)
		for _, cuts := range [][]int{{0, 1, n}, {0, 500, n}, {0, 3, 10, 600, 999, n}} {
			var merged partial
			// Merged out of order: last piece first.
			for c := len(cuts) - 2; c >= 0; c-- {
				var p partial
				foldRun(&p, fv, times, cuts[c], cuts[c+1])
				if mergePartial(&merged, &p, fv.Type) {
					t.Fatalf("%v cuts %v: overflow", fv.Type, cuts)
				}
			}
			m2, wm2 := merged.m2, whole.m2
			merged.m2, merged.mean, whole.m2, whole.mean = 0, 0, 0, 0
			if fv.Type == columnar.FieldFloat {
				ms, ws := math.Float64frombits(merged.sum), math.Float64frombits(whole.sum)
				if math.Abs(ms-ws) > 1e-9*math.Abs(ws) {
					t.Errorf("%v cuts %v: sum %v, want %v", fv.Type, cuts, ms, ws)
				}
				merged.sum = whole.sum
			}
			if merged != whole {
				t.Errorf("%v cuts %v: merged %+v, want %+v", fv.Type, cuts, merged, whole)
			}
			if math.Abs(m2-wm2) > 1e-9*wm2 {
				t.Errorf("%v cuts %v: m2 %v, want %v", fv.Type, cuts, m2, wm2)
			}
			merged.m2, whole.m2 = m2, wm2
		}
	}
	big := partial{n: 1, sum: uint64(math.MaxInt64), min: 1, max: 1, ft: 1, lt: 1}
	one := partial{n: 1, sum: 1, min: 1, max: 1, ft: 2, lt: 2}
	if !mergePartial(&big, &one, columnar.FieldInt) {
		t.Error("an int64 sum past MaxInt64 merged without overflow")
	}
}

// A live head's series have rows in every block, so one window arrives as
// a partial per block; combined, a fold holds one per window and group,
// and a bound of exactly the windows read is enough.
func TestHeadScanRollupCombinesBlocks(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	n := 6 * blockRows
	for i := range n { // 4 hosts, a row each every 10 ms: a minute spans several blocks
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%4))
		b.AddFloat([]byte("usage"), float64(i%1000)/7)
		b.EndRow(int64(i/4) * 1e7)
	}
	admitAll(t, s, h, &b)
	windows := 4 * int((int64(n/4-1)*1e7)/60e9+1)
	if len(h.blocks) < 2*windows/4 {
		t.Fatalf("%d blocks for %d windows: the test needs windows spanning blocks", len(h.blocks), windows)
	}
	defer func(n int) { maxHeldPartials = n }(maxHeldPartials)
	maxHeldPartials = windows
	checkRollup(t, "bound of the windows read", h, nil, true, math.MinInt64, math.MaxInt64, 60e9)
	maxHeldPartials = windows - 1
	err := h.ScanRollup([]string{"host", "usage"}, nil, math.MinInt64, math.MaxInt64, 60e9, 500, func(*columnar.ColumnBatch) error { return nil })
	if !FoldAbandoned(err) {
		t.Fatalf("fold of %d windows under a bound of %d: err %v, want ErrTooManyPartials", windows, windows-1, err)
	}
}

// BenchmarkHeadScanRollupMinutes reads per-minute partials of five fields
// of one host over 12 hours of a TSBS-shaped head (100 hosts, a row each
// every 10 s, a day): TSBS's single-groupby-5-1-12 over the head, whose
// width no block partial nests in, so its rows are folded as they are read.
// cpu-ms/op is the process CPU time per read, steadier than ns/op on a
// busy machine.
func BenchmarkHeadScanRollupMinutes(b *testing.B) {
	h := tsbsShapedHead(b, 100, "a", "b", "c", "d", "e")
	v := h.View()
	keep := v.MatchSeries(map[string][]string{"hostname": {"host_42"}})
	b.ReportAllocs()
	cpu0 := processCPU(b)
	for b.Loop() {
		n := 0
		err := v.ScanRollup([]string{"hostname", "a", "b", "c", "d", "e"}, keep, 4*3600e9, 16*3600e9, 60e9, 1024, func(cb *columnar.ColumnBatch) error {
			n += cb.Len
			return nil
		})
		if err != nil || n != 720 {
			b.Fatalf("%d partials, %v", n, err)
		}
	}
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
}

// A fold of rows that reads no rollable field (count(*) by window and
// tags, or only a string field) passes the row count of each window and
// series, and nothing else; a table recycled from a fold of fields names
// its columns anew, and the other way round. The counts are the rows the
// head holds per window, counted from its scan.
func TestFoldRollupsRowsOnly(t *testing.T) {
	h := blockedHead(t, false)
	const width = 60e9
	want := map[string]int64{}
	var pts []columnar.Point
	if err := h.Scan(func(p *columnar.Point) error {
		want[fmt.Sprint(p.Tags, WindowStart(p.Time, width))]++
		q := *p
		q.Tags, q.Fields = slices.Clone(p.Tags), slices.Clone(p.Fields)
		pts = append(pts, q)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	defer func() { recyclePartialTables = true }()
	usage := []columnar.FieldSchema{{Name: "usage", Type: columnar.FieldFloat}}
	msg := []columnar.FieldSchema{{Name: "msg", Type: columnar.FieldString}}
	for k, fields := range [][]columnar.FieldSchema{nil, msg, usage, nil, usage, msg} {
		// The first two folds take new tables, the others recycled ones
		// of other fields.
		recyclePartialTables = k >= 2
		got := map[string]int64{}
		scan := func(feeds []func(*columnar.ColumnBatch) error) error {
			bb := columnar.NewBatchBuilder(h.Schema.Tags, fields, 64)
			for i := range pts {
				if err := bb.Add(&pts[i], feeds[0]); err != nil {
					return err
				}
			}
			return bb.Flush(feeds[0])
		}
		err := FoldRollups(h.Schema.Tags, fields, []int64{width}, 500, scan, func(b *columnar.ColumnBatch) error {
			if len(b.Fields) == 0 || b.Fields[0].Name != RollupRows {
				t.Fatalf("fields %v: a rollup batch without the row count first", fields)
			}
			if rollable := len(fields) > 0 && Rollable(fields[0].Type); !rollable && len(b.Fields) != 1 {
				t.Fatalf("fields %v: %d field columns, want the row count only", fields, len(b.Fields))
			}
			dicts := make([][]string, len(b.Tags))
			for j := range b.Tags {
				dicts[j] = b.Tags[j].Dict
			}
			for i := range b.Rows() {
				var p columnar.Point
				b.RowPoint(int(i), &p, dicts)
				got[fmt.Sprint(p.Tags, p.Time)] += b.Fields[0].I[i]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("fields %v: %d windows, want %d (or counts differ)", fields, len(got), len(want))
		}
	}
}
