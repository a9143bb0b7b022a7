package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// flushRollupWidths are the widths the flushed rollups are compared at:
// each block partial width and some that only coarser ones nest in.
var flushRollupWidths = []int64{1e9, 10e9, 60e9, 300e9, 3600e9}

// headRow appends one row of host at t: a float every row, an int on
// some, a uint on others, a string that gets no rollup.
func headRow(b *columnar.Batch, r *rand.Rand, host string, t int64) {
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte(host))
	if !strings.HasSuffix(host, "0") {
		b.AddTag([]byte("dc"), []byte(host[len(host)-1:]))
	}
	b.AddFloat([]byte("usage"), r.NormFloat64()*100+50)
	if r.IntN(3) != 0 {
		b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(r.IntN(20000)-10000)))
	}
	if r.IntN(4) == 0 {
		b.AddNum([]byte("u"), columnar.FieldUint, uint64(r.IntN(1<<30)))
	}
	if r.IntN(5) == 0 {
		b.AddString([]byte("s"), []byte("x"))
	}
	b.EndRow(t)
}

// flushTestHeads builds the heads the flushed rollups are checked on.
// Each ends before midnight and continues after it, so the flush writes a
// segment per day; each keeps an unsealed tail.
func flushTestHeads(t *testing.T) map[string]*Head {
	base := int64(1_767_225_600_000_000_000) + int64(WindowDuration) - 30*60e9 // 23:30
	build := func(fill func(b *columnar.Batch, r *rand.Rand)) *Head {
		r := rand.New(rand.NewPCG(7, 8))
		s := columnar.NewTableSchema()
		h := NewHead(s)
		b := &columnar.Batch{}
		fill(b, r)
		admitAll(t, s, h, b)
		return h
	}
	heads := map[string]*Head{}
	// Dense, in order: 4 hosts, a row each every 10 ms (1 s partials).
	dense := func(b *columnar.Batch, r *rand.Rand, from int64, rows int) {
		for i := range rows {
			headRow(b, r, fmt.Sprintf("h%d", i%4), from+int64(i/4)*1e7)
		}
	}
	heads["dense in order"] = build(func(b *columnar.Batch, r *rand.Rand) {
		dense(b, r, base+30*60e9-20e9, 20*blockRows+700)
	})
	// Several writers whose requests interleave: each sends rounds of a
	// later stretch of time, so every series goes back in time at each
	// switch (late rows) without repeating a point.
	heads["interleaved writers"] = build(func(b *columnar.Batch, r *rand.Rand) {
		const writers, hosts, step = 4, 12, int64(50e6)
		rounds := 12 * blockRows / hosts
		next := make([]int, writers) // each writer's next round
		for done := 0; done < rounds; {
			w := r.IntN(writers)
			k := next[w]*writers + w
			if k >= rounds {
				continue
			}
			next[w]++
			done++
			for hst := range hosts {
				headRow(b, r, fmt.Sprintf("w%02d", hst), base+30*60e9-60e9+int64(k)*step)
			}
		}
	})
	// Dense data with rewrites: some points written again, with every
	// field or a few (the flush merges them field by field), in sealed
	// blocks and in the tail.
	heads["rewritten"] = build(func(b *columnar.Batch, r *rand.Rand) {
		from := base + 30*60e9 - 20e9
		n := 16*blockRows + 300
		dense(b, r, from, n)
		for k := range 8 {
			i := r.IntN(n)
			if k%4 == 0 {
				i = n - 1 - r.IntN(200) // in the tail
			}
			host, at := fmt.Sprintf("h%d", i%4), from+int64(i/4)*1e7
			if k%3 == 0 {
				b.StartRow([]byte("cpu"), 1)
				b.AddTag([]byte("host"), []byte(host))
				if host != "h0" {
					b.AddTag([]byte("dc"), []byte(host[1:]))
				}
				b.AddNum([]byte("n"), columnar.FieldInt, uint64(int64(k)))
				b.EndRow(at)
				continue
			}
			headRow(b, r, host, at)
		}
	})
	// Sparse series (50 hosts, a row each every 10 s: 1 h partials) for
	// hours, then dense ones (1 s partials) over the midnight.
	heads["sparse and dense"] = build(func(b *columnar.Batch, r *rand.Rand) {
		from := base - 4*3600e9
		steps := (4*3600e9 + 20*60e9) / 10e9
		for i := range int(steps) * 50 {
			headRow(b, r, fmt.Sprintf("s%02d", i%50), from+int64(i/50)*10e9)
		}
		dense(b, r, base+30*60e9-10e9, 10*blockRows+100)
	})
	return heads
}

// The rollups a flush writes from the head's partials equal those of
// folding the flushed rows (the path kept as the fallback), row by row, for
// heads in order, out of order, with rewritten points, sparse and dense,
// at widths the partials nest in and not: the same windows in the same
// order, with the same counts, minima, maxima, firsts, lasts, their times
// and integer sums; float sums and squared deviations, which a
// combination of several partials adds in another order, equal up to
// rounding.
func TestFlushedRollupsFromPartials(t *testing.T) {
	for name, h := range flushTestHeads(t) {
		widths := flushRollupWidths
		if name == "sparse and dense" {
			widths = widths[1:] // one window per sparse row: long, and nothing a rollup keeps
		}
		t.Run(name, func(t *testing.T) {
			var id uint64
			metas, err := WriteSegments(t.TempDir(), "db", "cpu", h, func() uint64 { id++; return id })
			if err != nil {
				t.Fatal(err)
			}
			if len(metas) != 2 {
				t.Fatalf("%d segments, want one per day", len(metas))
			}
			for _, mode := range []struct {
				combine bool
				cover   float64
			}{{false, 0}, {true, 0}, {true, flushPartialsMinCover}} {
				combine, cover := mode.combine, mode.cover
				{
					var st flushRollupStats
					for i := range metas {
						compareFlushedRollups(t, h, i, widths, cover, combine, &st)
					}
					// Uncombined, a window needs a block partial of its own
					// width: 1 s, as dense blocks keep.
					if st.partialWindows == 0 && (combine || name == "dense in order") {
						t.Errorf("combine %v cover %v: no window came from partials (%d from rows)", combine, cover, st.rowWindows)
					}
					if name == "rewritten" && cover == 0 && combine && st.rowWindows == 0 {
						t.Errorf("no window folded from rows although points were rewritten")
					}
					t.Logf("combine %v cover %v: %d windows from partials, %d from rows", combine, cover, st.partialWindows, st.rowWindows)
				}
			}
		})
	}
}

// compareFlushedRollups compares segment i's rollups from partials (taken
// at any cover; combined or only where one covers a window) with those
// from rows: without combining, bit for bit.
func compareFlushedRollups(t *testing.T, h *Head, i int, ws []int64, cover float64, combine bool, st *flushRollupStats) {
	t.Helper()
	defer func(c float64, b bool) { flushPartialsMinCover, flushPartialsCombine = c, b }(flushPartialsMinCover, flushPartialsCombine)
	flushPartialsMinCover, flushPartialsCombine = cover, combine
	want := make([]*rollupCollector, len(ws))
	got := make([]*rollupCollector, len(ws))
	wantOuts := make([]RollupWriter, len(ws))
	gotOuts := make([]RollupWriter, len(ws))
	for k := range ws {
		want[k], got[k] = &rollupCollector{}, &rollupCollector{}
		wantOuts[k], gotOuts[k] = want[k], got[k]
	}
	wantN, err := buildFlushedRollupsFromRows(h, i, ws, wantOuts)
	if err != nil {
		t.Fatal(err)
	}
	gotN, err := buildFlushedRollups(h, i, ws, gotOuts, st)
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range ws {
		if gotN[k] != wantN[k] || int64(len(got[k].rows)) != gotN[k] || len(got[k].rows) != len(want[k].rows) {
			t.Fatalf("segment %d width %d: %d windows (%d rows) from partials, %d (%d rows) from rows",
				i, w, gotN[k], len(got[k].rows), wantN[k], len(want[k].rows))
		}
		rounded := 0
		for r := range want[k].rows {
			msg, inexact := rollupRowDiff(&got[k].rows[r], &want[k].rows[r])
			if inexact {
				if !combine {
					msg = "float sum or m2 differs without combining partials"
				}
				rounded++
			}
			if msg != "" {
				t.Fatalf("segment %d width %d row %d: %s\n partials %v\n rows     %v", i, w, r, msg, got[k].rows[r], want[k].rows[r])
			}
		}
		if rounded > 0 {
			t.Logf("segment %d width %d: %d of %d windows with float sums or m2 rounded otherwise", i, w, rounded, len(want[k].rows))
		}
	}
}

// rollupRowDiff says how two rollup rows (fields sorted by name) differ,
// or "": float sums and m2 within rounding, everything else exactly;
// inexact says a float sum or m2 differs within rounding.
func rollupRowDiff(got, want *columnar.Point) (msg string, inexact bool) {
	if got.Time != want.Time || fmt.Sprint(got.Tags) != fmt.Sprint(want.Tags) || len(got.Fields) != len(want.Fields) {
		return "window, series or fields differ", false
	}
	num := func(p *columnar.Point, key string) (columnar.FieldValue, bool) {
		for _, f := range p.Fields {
			if f.Key == key {
				return f, true
			}
		}
		return columnar.FieldValue{}, false
	}
	for k, g := range got.Fields {
		x := want.Fields[k]
		if g.Key != x.Key || g.Type != x.Type {
			return fmt.Sprintf("field %s/%s", g.Key, x.Key), false
		}
		if g.Num == x.Num {
			continue
		}
		field, part, _ := strings.Cut(g.Key, ":")
		if g.Type != columnar.FieldFloat || part != PartSum && part != PartM2 {
			return fmt.Sprintf("%s: %d, want %d", g.Key, g.Num, x.Num), false
		}
		// The scale of the rounding: n times the largest magnitude
		// (sum), n times the squared spread plus the mean's (m2).
		n, _ := num(want, RollupColumn(field, PartCount))
		lo, _ := num(want, RollupColumn(field, PartMin))
		hi, _ := num(want, RollupColumn(field, PartMax))
		a, b := math.Float64frombits(g.Num), math.Float64frombits(x.Num)
		toF := func(f columnar.FieldValue) float64 {
			switch f.Type {
			case columnar.FieldInt:
				return float64(int64(f.Num))
			case columnar.FieldUint:
				return float64(f.Num)
			}
			return math.Float64frombits(f.Num)
		}
		mag := max(math.Abs(toF(lo)), math.Abs(toF(hi)))
		scale := float64(n.Num) * mag
		if part == PartM2 {
			scale *= mag
		}
		if math.IsNaN(a) || math.IsNaN(b) || math.Abs(a-b) > 1e-12*scale {
			return fmt.Sprintf("%s: %v, want %v (beyond rounding)", g.Key, a, b), false
		}
		inexact = true
	}
	return "", inexact
}

// discardRollups counts the rollup rows it is given.
type discardRollups struct{ rows int }

func (d *discardRollups) Append(*columnar.Point) error { d.rows++; return nil }

// BenchmarkFlushedRollups measures building the rollups of a flushed head
// from its rows (the fold every flush did) and from its live partials
// (combined, and uncombined: only windows one block partial covers), at
// the widths the engine keeps for it (DefaultRollups, dense enough): a
// TSBS-shaped day (100 hosts, a row each every 10 s, ten fields: 1 h
// partials and spans; 1 h rollups) and a dense live stream (100 hosts, ten
// rows each a second for 15 minutes, five fields: 10 s partials; 10 s,
// 1 m and 1 h rollups). cpu-ms/op is the process CPU per build.
func BenchmarkFlushedRollups(b *testing.B) {
	heads := []struct {
		name   string
		widths []int64
		h      func() *Head
	}{
		{"tsbs", []int64{3600e9}, func() *Head {
			return tsbsShapedHead(b, 100, "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
				"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice")
		}},
		{"live", []int64{10e9, 60e9, 3600e9}, func() *Head {
			s := columnar.NewTableSchema()
			h := NewHead(s)
			var batch columnar.Batch
			const hosts, perSec, secs = 100, 10, 900
			for i := range hosts * perSec * secs {
				batch.StartRow([]byte("cpu"), i+1)
				batch.AddTag([]byte("hostname"), fmt.Appendf(nil, "host_%d", i%hosts))
				for _, f := range []string{"a", "b", "c", "d", "e"} {
					batch.AddFloat([]byte(f), float64(i%997)/3)
				}
				batch.EndRow(int64(i/hosts) * (1e9 / perSec))
			}
			admitAll(b, s, h, &batch)
			return h
		}},
	}
	for _, hc := range heads {
		h := hc.h()
		h.Finish()
		h.flushed, h.flushedRank = h.flushOrder()
		h.flushedTags, h.flushedFields = slices.Clone(h.Schema.Tags), slices.Clone(h.Schema.Fields)
		for _, mode := range []string{"rows", "partials", "partials-uncombined"} {
			b.Run(hc.name+"/"+mode, func(b *testing.B) {
				defer func(c bool) { flushPartialsCombine = c }(flushPartialsCombine)
				flushPartialsCombine = mode != "partials-uncombined"
				outs := make([]RollupWriter, len(hc.widths))
				for k := range outs {
					outs[k] = &discardRollups{}
				}
				var st flushRollupStats
				b.ReportAllocs()
				cpu0 := processCPU(b)
				for b.Loop() {
					for i := range h.flushed {
						var err error
						if mode == "rows" {
							_, err = buildFlushedRollupsFromRows(h, i, hc.widths, outs)
						} else {
							_, err = buildFlushedRollups(h, i, hc.widths, outs, &st)
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/1e3/float64(b.N), "cpu-ms/op")
				if mode != "rows" {
					b.ReportMetric(float64(st.partialWindows)/float64(max(st.partialWindows+st.rowWindows, 1)), "from-partials")
				}
			})
		}
	}
}
