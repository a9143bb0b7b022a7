package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// foldHead is a head of sparse series (hosts, a row each per second, as
// TSBS's but denser in time) with float, int and uint fields that some
// rows lack, a field that appears only from the second block on, a string
// field, a tag only some series have, and, with late set, late rows of
// which some repeat a point exactly. rows rows are appended.
func foldHead(t testing.TB, rows int, late bool, seed uint64) (*columnar.TableSchema, *Head, func(from, to int)) {
	return foldHeadOf(t, 13, rows, late, seed)
}

// foldHeadOf is foldHead with the given number of hosts.
func foldHeadOf(t testing.TB, hosts, rows int, late bool, seed uint64) (*columnar.TableSchema, *Head, func(from, to int)) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	rng := rand.New(rand.NewPCG(seed, 7))
	add := func(from, to int) {
		var b columnar.Batch
		for i := from; i < to; i++ {
			host := i % hosts
			b.StartRow([]byte("cpu"), i+1)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", host))
			if host%4 == 0 {
				b.AddTag([]byte("dc"), []byte("eu"))
			}
			if rng.IntN(9) != 0 {
				b.AddFloat([]byte("f"), rng.NormFloat64()*100)
			}
			if rng.IntN(5) != 0 {
				b.AddNum([]byte("i"), columnar.FieldInt, uint64(rng.Int64N(2000)-1000))
			}
			b.AddNum([]byte("u"), columnar.FieldUint, rng.Uint64N(1<<40))
			if i >= blockRows+100 && i%3 == 0 {
				b.AddFloat([]byte("later"), float64(i))
			}
			if i%7 == 0 {
				b.AddString([]byte("msg"), []byte("x"))
			}
			tm := int64(i/hosts) * 1e9
			if late && i > 5*hosts && rng.IntN(25) == 0 {
				tm -= int64(rng.IntN(i/hosts+1)) * 1e9 // often exactly an earlier point
				if rng.IntN(3) == 0 {
					tm -= 3e8
				}
			}
			b.EndRow(tm)
		}
		admitAll(t, s, h, &b)
	}
	add(0, rows)
	return s, h, add
}

// rollupRows runs ScanRollup over h and returns its partials, one string
// per window and group, sorted: every part of every field, exact, except
// where noted. Without tags kept (groups of several series), first and
// last at a time two series share are either value, so only their times
// are kept; float sums and M2 are rounded to 10 significant digits, as
// partials of several series combine in another order.
func rollupRows(t *testing.T, h *Head, cols []string, keep []bool, minT, maxT, width int64) []string {
	t.Helper()
	grouped := slices.Contains(cols, "host")
	var out []string
	err := h.ScanRollup(cols, keep, minT, maxT, width, 97, func(b *columnar.ColumnBatch) error {
		for i := range b.Len {
			var sb strings.Builder
			fmt.Fprint(&sb, b.Time[i])
			for _, tv := range b.Tags {
				v := "-"
				if id := tv.IDs[i]; id >= 0 {
					v = tv.Dict[id]
				}
				fmt.Fprintf(&sb, " %s=%s", tv.Name, v)
			}
			for _, fv := range b.Fields {
				if fv.Null != nil && fv.Null[i] {
					fmt.Fprintf(&sb, " %s=null", fv.Name)
					continue
				}
				var v any
				switch fv.Type {
				case columnar.FieldFloat:
					v = fv.F[i]
					if !grouped || strings.HasSuffix(fv.Name, ":m2") {
						v = fmt.Sprintf("%.10g", fv.F[i])
					}
				case columnar.FieldInt:
					v = fv.I[i]
				case columnar.FieldUint:
					v = fv.U[i]
				}
				if !grouped && (strings.HasSuffix(fv.Name, ":first") || strings.HasSuffix(fv.Name, ":last")) {
					v = "tie"
				}
				fmt.Fprintf(&sb, " %s=%v", fv.Name, v)
			}
			out = append(out, sb.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// Folding the head's rows straight from its column chunks (foldRows)
// gives the partials that gathering them into batches for a rollup
// builder gives — the path it replaced, independent of the chunk
// layout — part for part: with and without late and duplicate points
// (whose windows both merge from rows), for all series and a few, kept
// tags or none, ranges cutting blocks and reaching into the unsealed
// tail, widths the blocks' partials nest in and not, and a View whose
// current chunk's last validity word the head goes on writing.
func TestHeadFoldRowsMatchesScan(t *testing.T) {
	ranges := [][2]int64{{math.MinInt64, math.MaxInt64}, {120e9, 1800e9}, {0, 60e9}, {1200e9, math.MaxInt64}, {600e9, 660e9}}
	for _, late := range []bool{false, true} {
		_, h, add := foldHead(t, 3*blockRows+4321, late, 1)
		v := h.View()
		add(3*blockRows+4321, 3*blockRows+4400) // past the view: the head writes on
		for _, hv := range []struct {
			name string
			h    *Head
		}{{"head", h}, {"view", v}} {
			if late && hv.h.NoDuplicates() {
				t.Fatal("late rows repeat no point: the test needs duplicates")
			}
			for _, cols := range [][]string{{"host", "f", "i", "u", "later", "msg"}, {"f", "i"}, {"dc", "u", "later"}} {
				for _, keep := range [][]bool{nil, hv.h.MatchSeries(map[string][]string{"host": {"h01", "h04", "h12"}})} {
					for _, width := range []int64{10e9, 60e9, 3600e9} {
						for _, r := range ranges {
							minT, maxT := r[0], r[1]
							if minT != math.MinInt64 {
								minT = WindowStart(minT, width)
							}
							if maxT != math.MaxInt64 {
								maxT = max(WindowStart(maxT, width), minT)
							}
							name := fmt.Sprintf("late=%v %s cols=%v keep=%v width=%d range=[%d,%d)", late, hv.name, cols, keep != nil, width, minT, maxT)
							got := rollupRows(t, hv.h, cols, keep, minT, maxT, width)
							foldFromChunks = false
							want := rollupRows(t, hv.h, cols, keep, minT, maxT, width)
							foldFromChunks = true
							if len(want) == 0 && r[0] == math.MinInt64 {
								t.Fatalf("%s: no partials at all", name)
							}
							if !slices.Equal(got, want) {
								for i := range min(len(got), len(want)) {
									if got[i] != want[i] {
										t.Fatalf("%s: %d partials, want %d; first difference:\n got %s\nwant %s", name, len(got), len(want), got[i], want[i])
									}
								}
								t.Fatalf("%s: %d partials, want %d", name, len(got), len(want))
							}
						}
					}
				}
			}
		}
	}
}

// An integer sum that leaves int64 within one window fails a fold from
// the chunks as it fails a fold of batches: before anything is passed on,
// so the caller reads the rows raw.
func TestHeadFoldRowsOverflow(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var b columnar.Batch
	for i := range blockRows + 50 {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%3))
		b.AddNum([]byte("i"), columnar.FieldInt, uint64(int64(math.MaxInt64/4)))
		b.EndRow(int64(i/3) * 1e9)
	}
	admitAll(t, s, h, &b)
	emitted := 0
	err := h.ScanRollup([]string{"host", "i"}, nil, math.MinInt64, math.MaxInt64, 60e9, 100, func(b *columnar.ColumnBatch) error {
		emitted += b.Len
		return nil
	})
	if !FoldAbandoned(err) || emitted != 0 {
		t.Fatalf("err %v after %d partials, want ErrRollupOverflow before any", err, emitted)
	}
}

// BenchmarkHeadFoldTSBS runs the per-minute TSBS query shapes that read a
// head's rows (its sparse blocks keep hourly partials) over a head of a
// TSBS day (100 hosts with TSBS's ten tags and ten integer fields, a row
// each every 10 s): single-groupby-5-1-12 (five fields, one host, 12 h),
// 5-1-1, 1-8-1 (one field, eight hosts, one group) and 1-1-12, folded from
// the column chunks and, for comparison, through batches. cpu-ms/op is the
// process CPU time per read, steadier than ns/op on a busy machine.
// tsbsHead is a head of a TSBS cpu-only day (100 hosts, a row each every
// 10 s, ten int fields, ten tags), appended in batches of 5000 rows as
// TSBS's loader sends them, and the names of its fields.
func tsbsHead(b *testing.B) (*Head, []string) {
	const hosts, steps = 100, 8640
	s := columnar.NewTableSchema()
	h := NewHead(s)
	fields := []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
		"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
	tagKeys := []string{"arch", "datacenter", "hostname", "os", "rack", "region", "service", "service_environment", "service_version", "team"}
	rng := rand.New(rand.NewPCG(123, 1))
	var batch columnar.Batch
	for step := range steps {
		for host := range hosts {
			batch.StartRow([]byte("cpu"), 0)
			for _, k := range tagKeys {
				v := fmt.Sprintf("%s_%d", k, host%7)
				if k == "hostname" {
					v = fmt.Sprintf("host_%d", host)
				}
				batch.AddTag([]byte(k), []byte(v))
			}
			for _, f := range fields {
				batch.AddNum([]byte(f), columnar.FieldInt, uint64(rng.Int64N(100)))
			}
			batch.EndRow(int64(step) * 10e9)
		}
		if len(batch.Rows) >= 5000 || step == steps-1 {
			admitAll(b, s, h, &batch)
			batch.Reset()
		}
	}
	return h, fields
}

func BenchmarkHeadFoldTSBS(b *testing.B) {
	h, fields := tsbsHead(b)
	v := h.View()
	// Each read takes other hosts and another range, as TSBS's random
	// instances do, so its rows are not in the processor's caches from
	// the read before.
	const instances = 16
	keeps := func(n int) [][]bool {
		var out [][]bool
		for k := range instances {
			var hs []string
			for i := range n {
				hs = append(hs, fmt.Sprintf("host_%d", (k*n*37+i*13+5)%100))
			}
			out = append(out, v.MatchSeries(map[string][]string{"hostname": hs}))
		}
		return out
	}
	for _, c := range []struct {
		name   string
		fields int
		hosts  int
		hours  int64
	}{
		{"5-1-12", 5, 1, 12}, {"5-1-1", 5, 1, 1}, {"1-8-1", 1, 8, 1}, {"1-1-12", 1, 1, 12},
	} {
		keep := keeps(c.hosts)
		cols := fields[:c.fields]
		// chunks-max asks for what TSBS's max per minute reads: each
		// field's count and max (ScanRollupParts).
		var maxCols []string
		for _, f := range cols {
			maxCols = append(maxCols, RollupColumn(f, PartCount), RollupColumn(f, PartMax))
		}
		for _, mode := range []string{"chunks", "chunks-max", "batches"} {
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				foldFromChunks = mode != "batches"
				want := AllParts
				if mode == "chunks-max" {
					want = PartsOf(maxCols)
				}
				defer func() { foldFromChunks = true }()
				b.ReportAllocs()
				runtime.GC() // the head's making leaves garbage: its collection is not the reads'
				cpu0 := processCPU(b)
				i := 0
				for b.Loop() {
					k := i % instances
					i++
					minT := int64(k%(24-int(c.hours))) * 3600e9
					n := 0
					err := v.ScanRollupParts(cols, want, keep[k], minT, minT+c.hours*3600e9, 60e9, 8192, func(cb *columnar.ColumnBatch) error {
						n += cb.Len
						return nil
					})
					if err != nil || n != int(c.hours*60) {
						b.Fatalf("%d partials, %v", n, err)
					}
				}
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// A fold takes a table another fold released (partialTables), with every
// array it kept overwritten (poisonRecycled): what it answers must equal
// what a fresh table answers. A sequence of folds of different shapes —
// fields, kept tags, widths, ranges, late rows — runs twice, recycling off
// and on, so each fold's table comes from a fold of another shape.
func TestPartialTablesRecycled(t *testing.T) {
	defer func() { recyclePartialTables, poisonRecycled = true, false }()
	type query struct {
		cols       []string
		keep       bool
		minT, maxT int64
		width      int64
		late       bool
	}
	var qs []query
	for _, late := range []bool{false, true} {
		for _, cols := range [][]string{{"host", "f", "i", "u", "later"}, {"f"}, {"dc", "u", "later"}, {"host", "i"}} {
			for _, width := range []int64{10e9, 60e9, 3600e9} {
				for _, keep := range []bool{false, true} {
					qs = append(qs, query{cols, keep, 0, max(WindowStart(1800e9, width), width), width, late},
						query{cols, keep, math.MinInt64, math.MaxInt64, width, late})
				}
			}
		}
	}
	heads := map[bool]*Head{}
	for _, late := range []bool{false, true} {
		_, heads[late], _ = foldHead(t, 3*blockRows+4321, late, 3)
	}
	run := func() [][]string {
		var out [][]string
		for _, q := range qs {
			h := heads[q.late]
			var keep []bool
			if q.keep {
				keep = h.MatchSeries(map[string][]string{"host": {"h01", "h04", "h12"}})
			}
			out = append(out, rollupRows(t, h, q.cols, keep, q.minT, q.maxT, q.width))
		}
		return out
	}
	recyclePartialTables, poisonRecycled = false, false
	want := run()
	recyclePartialTables, poisonRecycled = true, true
	got := run()
	for i, q := range qs {
		if len(want[i]) == 0 {
			t.Fatalf("query %+v: no partials: the test needs some", q)
		}
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("query %+v on a recycled table: %d partials, want %d\n got %.200q\nwant %.200q", q, len(got[i]), len(want[i]), got[i], want[i])
		}
	}
}

// Readers of Views build a sealed block's ordered columns concurrently
// while the writer seals more blocks (run with -race): each View's folds
// answer what the batch fold of the same View answers, every copy is
// counted once in CopyBytes and in the total CountCopiesIn names, and
// Retire takes them off that total for good.
func TestOrderedColumnsUnderConcurrentReads(t *testing.T) {
	_, h, add := foldHead(t, 4*blockRows+77, true, 5)
	var total atomic.Int64
	h.CountCopiesIn(&total, nil)
	var mu sync.Mutex // stands in for the engine lock
	views := make([]*Head, 4)
	for i := range views {
		views[i] = h.View()
	}
	cols := [][]string{{"host", "f", "i"}, {"u", "later"}, {"dc", "f", "u"}, {"host", "i", "u", "later"}}
	foldViewsWhileWriting(t, views, cols, 60e9, func() {
		for k := range 3 {
			mu.Lock()
			from := 4*blockRows + 77 + k*blockRows
			add(from, from+blockRows)
			mu.Unlock()
		}
	})
	var built int64
	for _, blk := range h.blocks {
		for c := range blk.cols {
			if oc := blk.cols[c].Load(); oc != nil && oc.num != nil {
				built += orderedColumnBytes(len(blk.rows))
			}
		}
	}
	if built == 0 || h.CopyBytes() != built || total.Load() != built {
		t.Fatalf("copies built: %d bytes; head counts %d, total %d", built, h.CopyBytes(), total.Load())
	}
	h.Retire()
	after := rollupRows(t, h, []string{"host", "f", "i", "u", "later"}, nil, math.MinInt64, math.MaxInt64, 60e9) // copies not kept, after Retire
	foldFromChunks = false
	want := rollupRows(t, h, []string{"host", "f", "i", "u", "later"}, nil, math.MinInt64, math.MaxInt64, 60e9)
	foldFromChunks = true
	if total.Load() != 0 || h.CopyBytes() != built || !slices.Equal(after, want) {
		t.Fatalf("after Retire: total %d (want 0), head %d (want %d), partials equal: %v", total.Load(), h.CopyBytes(), built, slices.Equal(after, want))
	}
}

// A batch a recycled table emits holds what it passes and no more: its
// vectors are cut to its rows, and each holds only the slice of its type.
// The scan charges a query for its largest batch (ArrayBytes, times its
// readers), so a small fold's batch must weigh what a fresh table's does,
// not what the table's last, larger fold left in it.
func TestRecycledBatchesHoldTheirRows(t *testing.T) {
	defer func() { recyclePartialTables, poisonRecycled = true, false }()
	_, h, _ := foldHead(t, 3*blockRows+4321, false, 3)
	keep := h.MatchSeries(map[string][]string{"host": {"h01"}})
	type shape struct {
		bytes int64
		typed string // per field vector, which slices it holds
	}
	// small folds one host's "i" into one window and reports its batches'
	// shapes, and whether one of them is the batch last.
	small := func(last *columnar.ColumnBatch) (out []shape, took bool) {
		err := h.ScanRollup([]string{"host", "i"}, keep, 0, 600e9, 600e9, 8192, func(b *columnar.ColumnBatch) error {
			var typed strings.Builder
			for _, fv := range b.Fields {
				fmt.Fprintf(&typed, "%s:%v%v%v%v%v ", fv.Name, fv.F != nil, fv.I != nil, fv.U != nil, fv.B != nil, fv.S != nil)
			}
			out = append(out, shape{b.ArrayBytes(), typed.String()})
			took = took || b == last
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out, took
	}
	recyclePartialTables = false
	want, _ := small(nil)
	if len(want) == 0 {
		t.Fatal("no batches: the test needs some")
	}
	recyclePartialTables = true
	// A large fold (every host, other fields, a narrow width), then the
	// small one, until the small one took the large one's table (the
	// same batch): sync.Pool may drop what it is given (under -race, one
	// in four).
	for range 20 {
		var big *columnar.ColumnBatch
		err := h.ScanRollup([]string{"host", "f", "u", "later"}, nil, math.MinInt64, math.MaxInt64, 10e9, 8192, func(b *columnar.ColumnBatch) error {
			big = b
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		got, took := small(big)
		if !slices.Equal(got, want) {
			t.Fatalf("a small fold's batches on a recycled table: %+v; on a fresh one: %+v", got, want)
		}
		if took {
			return
		}
	}
	t.Fatal("no fold took a recycled table in 20 rounds")
}

// A table's maps keep the room they were made for, however few entries
// they got: release keeps none made for more than maxPooledDictValues
// (a window index made for every series of a large head, and a fold
// that found few groups), as footprint does not count them.
func TestReleaseDropsRoomyMaps(t *testing.T) {
	defer func() { recyclePartialTables = true }()
	recyclePartialTables = false // release trims t but keeps it from the pool
	fs := []columnar.FieldSchema{{Name: "f", Type: columnar.FieldFloat}}
	for _, groups := range []int{16, maxPooledDictValues + 1, 1 << 17} {
		tb := newPartialTable([]string{"dc"}, fs, 0)
		if !tb.indexWindows(0, 0, 60e9, groups) {
			t.Fatalf("%d groups: no window index", groups)
		}
		for _, dc := range []string{"eu", "us"} {
			if tb.groupOf([]string{dc}, []bool{true}) < 0 {
				t.Fatalf("%d groups: %s has no group", groups, dc)
			}
		}
		tb.release()
		if kept := tb.groups != nil; kept != (groups <= maxPooledDictValues) {
			t.Errorf("a map made for %d groups holding 2: kept %v after release", groups, kept)
		}
	}
}

// Views taken exactly at a block's end — the sealed block's chunk still
// the column's current one, and a column that lacks values since early in
// the block not yet padded to it — read ordered copies while the writer
// pads that column, cuts the chunk and seals more (run with -race): each
// view's folds equal the batch fold of the same view.
func TestOrderedColumnsAtBlockEdge(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var mu sync.Mutex // stands in for the engine lock
	add := func(from, to int) {
		var b columnar.Batch
		for i := from; i < to; i++ {
			b.StartRow([]byte("cpu"), i+1)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i%7))
			b.AddFloat([]byte("f"), float64(i%97))
			if i < 100 || i >= 2*blockRows+50 {
				b.AddNum([]byte("lag"), columnar.FieldInt, uint64(i))
			}
			b.EndRow(int64(i/7) * 1e9)
		}
		mu.Lock()
		admitAll(t, s, h, &b)
		mu.Unlock()
	}
	add(0, 2*blockRows)
	mu.Lock()
	if len(h.blocks) != 2 || h.fields[1].n >= 2*blockRows {
		t.Fatalf("want 2 sealed blocks and the lagging column not padded: %d blocks, column at %d rows", len(h.blocks), h.fields[1].n)
	}
	views := []*Head{h.View(), h.View(), h.View()}
	mu.Unlock()
	cols := [][]string{{"host", "f", "lag"}, {"lag"}, {"f", "lag"}}
	foldViewsWhileWriting(t, views, cols, 10e9, func() { add(2*blockRows, 3*blockRows+10) })
}

// foldViewsWhileWriting folds each of views over its columns (cols[i],
// windows of width ns) from their ordered copies, each in a goroutine of
// its own, while write runs in another; then checks that every view's
// partials equal what the batch fold of the same view makes of it.
func foldViewsWhileWriting(t *testing.T, views []*Head, cols [][]string, width int64, write func()) {
	t.Helper()
	got := make([][]string, len(views))
	var wg sync.WaitGroup
	for i, v := range views {
		wg.Go(func() { got[i] = rollupRows(t, v, cols[i], nil, math.MinInt64, math.MaxInt64, width) })
	}
	wg.Go(write)
	wg.Wait()
	foldFromChunks = false
	defer func() { foldFromChunks = true }()
	for i, v := range views {
		want := rollupRows(t, v, cols[i], nil, math.MinInt64, math.MaxInt64, width)
		if len(want) == 0 || !slices.Equal(got[i], want) {
			t.Fatalf("view %d: %d partials from ordered columns, %d from batches", i, len(got[i]), len(want))
		}
	}
}

// A read of a few series of a head of many (a dashboard's host or five of
// a hundred) finds them in each block's directory and folds their rows
// field by field straight into the table's slots (seriesInPlace); the
// partials it passes are those of a model folding the head's points (a
// point written twice merged field by field, the later value winning, as
// every read of the head merges them) window by window, computed here
// without the head's fold code. The head has late rows landing in windows
// that earlier blocks already folded, some repeating a point exactly;
// blocks dense enough for partials of a minute and spans of them; a field
// that only later blocks have; reads with and without the tag kept (a
// slot then takes several series, merged into a slot another series
// began), at widths the block partials nest in and not, asking for the
// parts without M2 (the in-place fold) and all of them.
func TestHeadFoldFewSeriesMatchesModel(t *testing.T) {
	const hosts = 64
	for _, late := range []bool{false, true} {
		_, h, _ := foldHeadOf(t, hosts, 9*blockRows+777, late, 3)
		if late && h.NoDuplicates() {
			t.Fatal("late rows repeat no point: the test needs duplicates")
		}
		if len(h.spans) == 0 || h.spans[0] == nil || h.blocks[0].roll == nil {
			t.Fatal("no block partials or spans: the test needs them")
		}
		// The head's points, duplicates merged (the model's input).
		var pts []modelPoint
		if err := h.ScanOrderedRange(math.MinInt64, math.MaxInt64, func(p *columnar.Point) error {
			q := modelPoint{t: p.Time, vals: map[string]float64{}}
			for _, tv := range p.Tags {
				if tv.Key == "host" {
					q.host = tv.Value
				}
			}
			for _, f := range p.Fields {
				switch f.Type {
				case columnar.FieldFloat:
					q.vals[f.Key] = math.Float64frombits(f.Num)
				case columnar.FieldInt:
					q.vals[f.Key] = float64(int64(f.Num))
				case columnar.FieldUint:
					q.vals[f.Key] = float64(f.Num)
				}
			}
			pts = append(pts, q)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		fields := []string{"f", "i", "u", "later"}
		for _, few := range [][]string{{"h07"}, {"h03", "h20", "h41", "h42", "h63"}} {
			keep := h.MatchSeries(map[string][]string{"host": few})
			if keptFew(keep) == nil {
				t.Fatalf("%v: not read as a few series", few)
			}
			for _, grouped := range []bool{true, false} {
				cols := fields
				if grouped {
					cols = append([]string{"host"}, fields...)
				}
				for _, width := range []int64{10e9, 60e9, 3600e9} {
					for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {WindowStart(200e9, width), WindowStart(900e9, width) + width}} {
						want := foldModel(pts, few, grouped, fields, r[0], r[1], width)
						for _, parts := range []PartSet{PartsOf(nonM2Columns(fields)), AllParts} {
							name := fmt.Sprintf("late=%v hosts=%v grouped=%v width=%d range=%v parts=%b", late, few, grouped, width, r, parts)
							got := foldGot(t, h, cols, parts, keep, grouped, r[0], r[1], width)
							if len(want) == 0 {
								t.Fatalf("%s: the model has no windows", name)
							}
							if !slices.Equal(got, want) {
								for i := range min(len(got), len(want)) {
									if got[i] != want[i] {
										t.Fatalf("%s: %d windows, want %d; first difference:\n got %s\nwant %s", name, len(got), len(want), got[i], want[i])
									}
								}
								t.Fatalf("%s: %d windows, want %d", name, len(got), len(want))
							}
						}
					}
				}
			}
		}
	}
}

// modelPoint is a point of a head as foldModel takes it: float, int and
// uint values alike (exactly: the test's values are small enough).
type modelPoint struct {
	host string
	t    int64
	vals map[string]float64
}

// nonM2Columns names every part but M2 of fields.
func nonM2Columns(fields []string) []string {
	var out []string
	for _, f := range fields {
		for _, p := range RollupParts {
			if p != PartM2 {
				out = append(out, RollupColumn(f, p))
			}
		}
	}
	return out
}

// foldModel folds points of the hosts few within [minT, maxT) into one
// line per window (and host, when grouped): each field's count, sum
// (rounded: float sums depend on their order), min, max, and the times
// of its first and last values, and the values there when grouped (one
// series: no two points share a time).
func foldModel(pts []modelPoint, few []string, grouped bool, fields []string, minT, maxT, width int64) []string {
	type acc struct {
		n                   int64
		sum, mn, mx, fv, lv float64
		ft, lt              int64
	}
	type key struct {
		w    int64
		host string
	}
	accs := map[key]map[string]*acc{}
	for _, p := range pts {
		if !slices.Contains(few, p.host) || !inSpan(p.t, minT, maxT) {
			continue
		}
		k := key{w: WindowStart(p.t, width)}
		if grouped {
			k.host = p.host
		}
		m := accs[k]
		if m == nil {
			m = map[string]*acc{}
			accs[k] = m
		}
		for _, f := range fields {
			v, ok := p.vals[f]
			if !ok {
				continue
			}
			a := m[f]
			if a == nil {
				a = &acc{mn: v, mx: v, fv: v, lv: v, ft: p.t, lt: p.t}
				m[f] = a
			}
			a.n++
			a.sum += v
			a.mn, a.mx = min(a.mn, v), max(a.mx, v)
			if p.t < a.ft {
				a.ft, a.fv = p.t, v
			}
			if p.t > a.lt {
				a.lt, a.lv = p.t, v
			}
		}
	}
	var out []string
	for k, m := range accs {
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d %s", k.w, k.host)
		for _, f := range fields {
			a := m[f]
			if a == nil {
				fmt.Fprintf(&sb, " %s=null", f)
				continue
			}
			fmt.Fprintf(&sb, " %s=%d/%.10g/%g/%g/%d/%d", f, a.n, a.sum, a.mn, a.mx, a.ft, a.lt)
			if grouped {
				fmt.Fprintf(&sb, "/%g/%g", a.fv, a.lv)
			}
		}
		out = append(out, sb.String())
	}
	slices.Sort(out)
	return out
}

// foldGot reads h's partials as foldModel writes its lines.
func foldGot(t *testing.T, h *Head, cols []string, parts PartSet, keep []bool, grouped bool, minT, maxT, width int64) []string {
	t.Helper()
	var out []string
	err := h.ScanRollupParts(cols, parts, keep, minT, maxT, width, 97, func(b *columnar.ColumnBatch) error {
		col := func(name string) *columnar.FieldVector {
			for i := range b.Fields {
				if b.Fields[i].Name == name {
					return &b.Fields[i]
				}
			}
			t.Fatalf("no column %s", name)
			return nil
		}
		num := func(fv *columnar.FieldVector, i int) float64 {
			switch fv.Type {
			case columnar.FieldFloat:
				return fv.F[i]
			case columnar.FieldInt:
				return float64(fv.I[i])
			}
			return float64(fv.U[i])
		}
		for i := range b.Len {
			var sb strings.Builder
			host := ""
			if grouped {
				if id := b.Tags[0].IDs[i]; id >= 0 {
					host = b.Tags[0].Dict[id]
				}
			}
			fmt.Fprintf(&sb, "%d %s", b.Time[i], host)
			for _, f := range []string{"f", "i", "u", "later"} {
				n := col(RollupColumn(f, PartCount)).I[i]
				if n == 0 {
					fmt.Fprintf(&sb, " %s=null", f)
					continue
				}
				fmt.Fprintf(&sb, " %s=%d/%.10g/%g/%g/%d/%d", f, n, num(col(RollupColumn(f, PartSum)), i), num(col(RollupColumn(f, PartMin)), i),
					num(col(RollupColumn(f, PartMax)), i), col(RollupColumn(f, PartFirstTime)).I[i], col(RollupColumn(f, PartLastTime)).I[i])
				if grouped {
					fmt.Fprintf(&sb, "/%g/%g", num(col(RollupColumn(f, PartFirst)), i), num(col(RollupColumn(f, PartLast)), i))
				}
			}
			out = append(out, sb.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
