package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// zoneRow is a row as written, for the models below: nil values are
// absent (NULL).
type zoneRow struct {
	time int64
	host string
	f    *float64 // float random walk, with NaNs and negative zeros
	i    *int64   // int random walk around zero
	u    *uint64  // some series' mix values below and above 2^63
}

// zoneHead writes rows into a head: two blocks' worth of 20 hosts (each
// host's points in time order except for some swapped neighbours, as
// concurrent writers leave them), then a block of 1500 sparse hosts (too
// few rows each for zones per series), then a tail; field "late" appears
// only after the first block is sealed. Each host's times are distinct,
// so the head has no duplicates.
func zoneHead(t testing.TB) (*Head, []zoneRow) {
	rng := rand.New(rand.NewPCG(21, 8))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var rows []zoneRow
	walkF := map[string]float64{}
	walkI := map[string]int64{}
	step := map[string]int64{}
	var b columnar.Batch
	write := func(host string) {
		step[host]++
		r := zoneRow{time: step[host] * 1e9, host: host}
		if rng.IntN(9) != 0 {
			v := walkF[host] + rng.NormFloat64()*3
			walkF[host] = v
			switch rng.IntN(60) {
			case 0:
				v = math.NaN()
			case 1:
				v = math.Copysign(0, -1)
			}
			r.f = &v
		}
		if rng.IntN(11) != 0 {
			v := walkI[host] + int64(rng.IntN(7)) - 3
			walkI[host] = v
			r.i = &v
		}
		if rng.IntN(5) == 0 {
			v := uint64(rng.IntN(1000))
			if host[len(host)-1]%3 == 0 && rng.IntN(2) == 0 {
				v = math.MaxUint64 - v // negative as an int64: only uint64's order keeps it the maximum
			}
			r.u = &v
		}
		rows = append(rows, r)
	}
	for range 2 * blockRows {
		write(fmt.Sprintf("h%02d", rng.IntN(20)))
	}
	for range blockRows {
		write(fmt.Sprintf("s%04d", rng.IntN(1500)))
	}
	for range 777 {
		write(fmt.Sprintf("h%02d", rng.IntN(20)))
	}
	// Swap some neighbours of one host: out of arrival order in time
	// (sealed rows only: the tail's late rows count as possible
	// duplicates until sealed).
	last := map[string]int{}
	for k := range rows[:3*blockRows] {
		if p, ok := last[rows[k].host]; ok && rng.IntN(10) == 0 {
			rows[p].time, rows[k].time = rows[k].time, rows[p].time
		}
		last[rows[k].host] = k
	}
	for k, r := range rows {
		b.StartRow([]byte("cpu"), k+1)
		b.AddTag([]byte("host"), []byte(r.host))
		if r.f != nil {
			b.AddFloat([]byte("f"), *r.f)
		}
		if r.i != nil {
			b.AddNum([]byte("i"), columnar.FieldInt, uint64(*r.i))
		}
		if r.u != nil {
			b.AddNum([]byte("u"), columnar.FieldUint, *r.u)
		}
		b.AddString([]byte("msg"), fmt.Appendf(nil, "m%d", k))
		if k >= blockRows+5 {
			b.AddNum([]byte("late"), columnar.FieldInt, uint64(k))
		}
		b.EndRow(r.time)
	}
	admitAll(t, s, h, &b)
	if len(h.blocks) != 3 || !h.NoDuplicates() {
		t.Fatalf("want 3 sealed blocks without duplicates, have %d (no duplicates: %v)", len(h.blocks), h.NoDuplicates())
	}
	return h, rows
}

// zoneModel is a zone computed from rows as written.
type zoneModel struct {
	values     bool
	min, max   float64 // ints as floats: the model's ints are small
	nan        bool
	umin, umax uint64 // uints exactly (their values reach 2^64-1)
}

func (z *zoneModel) addUint(v uint64) {
	if !z.values {
		z.umin, z.umax, z.values = v, v, true
		return
	}
	z.umin, z.umax = min(z.umin, v), max(z.umax, v)
}

func (z *zoneModel) add(v float64) {
	switch {
	case math.IsNaN(v):
		z.nan = true
	case !z.values:
		z.min, z.max, z.values = v, v, true
	default:
		z.min, z.max = math.Min(z.min, v), math.Max(z.max, v)
	}
}

// The zones a block keeps are the ranges of each series' values there
// and of the whole block, as computed from the rows as written: per
// series for a block of a few dense series, the whole block only for one
// of many sparse series, nothing for strings, all NULL for a field that
// appeared after the block was sealed; the same through a View.
func TestHeadZonesAgainstModel(t *testing.T) {
	h, rows := zoneHead(t)
	v := h.View() // first, so that it builds the zones from its columns
	h.Finish()
	fields := map[string]func(r zoneRow) (float64, bool){
		"f": func(r zoneRow) (float64, bool) {
			if r.f == nil {
				return 0, false
			}
			return *r.f, true
		},
		"i": func(r zoneRow) (float64, bool) {
			if r.i == nil {
				return 0, false
			}
			return float64(*r.i), true
		},
		"u":    func(zoneRow) (float64, bool) { return 0, false }, // exact, below
		"late": func(zoneRow) (float64, bool) { return 0, false }, // set below
	}
	for _, head := range []*Head{v, h} {
		perSeriesBlocks := 0
		for bi, blk := range head.blocks {
			for name, value := range fields {
				c, _ := head.Schema.FieldCol(name)
				typ := head.Schema.Fields[c].Type
				want := map[string]*zoneModel{}
				var whole zoneModel
				for k := int(blk.lo); k < int(blk.hi); k++ {
					r := rows[k]
					v, ok := value(r)
					if name == "late" && k >= blockRows+5 {
						v, ok = float64(k), true
					}
					if want[r.host] == nil {
						want[r.host] = &zoneModel{}
					}
					if name == "u" && r.u != nil {
						want[r.host].addUint(*r.u)
						whole.addUint(*r.u)
					}
					if ok {
						want[r.host].add(v)
						whole.add(v)
					}
				}
				z := head.zonesOf(blk, c)
				if z == nil {
					t.Fatalf("block %d field %s: no zones", bi, name)
				}
				check := func(what string, r FieldRange, m zoneModel) {
					t.Helper()
					var lo, hi float64
					switch typ {
					case columnar.FieldFloat:
						lo, hi = r.Float()
					case columnar.FieldInt:
						a, b := r.Int()
						lo, hi = float64(a), float64(b)
					default:
						a, b := r.Uint()
						if r.Type != typ || r.Values != m.values || r.NaN || (m.values && (a != m.umin || b != m.umax)) {
							t.Fatalf("block %d field %s %s: range %+v (%d..%d), want %+v", bi, name, what, r, a, b, m)
						}
						return
					}
					if r.Type != typ || r.Values != m.values || r.NaN != m.nan || (m.values && (lo != m.min || hi != m.max)) {
						t.Fatalf("block %d field %s %s: range %+v (%v..%v), want %+v", bi, name, what, r, lo, hi, m)
					}
				}
				check("whole", z.fieldRange(typ, len(z.zones)-1), whole)
				if wantPer := bi < 2 && !(name == "late" && bi == 0); wantPer != z.perSeries {
					t.Fatalf("block %d (%d series): per series %v", bi, len(blk.sids), z.perSeries)
				}
				if !z.perSeries {
					continue
				}
				perSeriesBlocks++
				if len(z.zones) != len(blk.sids)+1 {
					t.Fatalf("block %d field %s: %d zones for %d series", bi, name, len(z.zones), len(blk.sids))
				}
				for k, sid := range blk.sids {
					host := head.dicts[0].vals[head.tagID(sid, 0)]
					check(host, z.fieldRange(typ, k), *want[host])
				}
			}
			c, _ := head.Schema.FieldCol("msg")
			if head.zonesOf(blk, c) != nil {
				t.Fatalf("block %d: zones of a string field", bi)
			}
		}
		if perSeriesBlocks == 0 {
			t.Fatal("no block kept zones per series")
		}
	}
	if h.CopyBytes() == 0 {
		t.Fatal("zones kept but not counted")
	}
}

// A filtered scan that skips the series' rows (and blocks) whose zones
// say none can pass delivers exactly the rows a model of the written rows
// says pass, for every comparison on a float field (with NaNs, negative
// zeros, NULLs) and an int field, over whole and cut blocks, all series
// and some, from the head and a View; and the zones do spare it rows.
func TestScanRangeFilteredZones(t *testing.T) {
	h, rows := zoneHead(t)
	v := h.View()
	h.Finish()
	type test struct {
		name  string
		field string
		op    string
		c     float64
	}
	holds := func(op string, v, c float64) bool {
		// NaN sorts above every number and equals itself, as in
		// PostgreSQL.
		cmp := func(a, b float64) int {
			an, bn := math.IsNaN(a), math.IsNaN(b)
			switch {
			case an && bn:
				return 0
			case an:
				return 1
			case bn:
				return -1
			case a < b:
				return -1
			case a > b:
				return 1
			}
			return 0
		}(v, c)
		switch op {
		case ">":
			return cmp > 0
		case ">=":
			return cmp >= 0
		case "<":
			return cmp < 0
		case "<=":
			return cmp <= 0
		case "=":
			return cmp == 0
		}
		return cmp != 0
	}
	var tests []test
	for _, op := range []string{">", ">=", "<", "<=", "=", "!="} {
		tests = append(tests, test{"f" + op + "5", "f", op, 5}, test{"i" + op + "4", "i", op, 4},
			test{"f" + op + "-8", "f", op, -8}, test{"i" + op + "-6", "i", op, -6})
	}
	tests = append(tests, test{"f>NaN", "f", ">=", math.NaN()}, test{"f=0", "f", "=", 0})
	filter := func(tc test, tested *int) *RowFilter {
		return &RowFilter{Fields: []string{tc.field},
			Keep: func(b *columnar.ColumnBatch, out []int32) []int32 {
				*tested += b.Len
				fv := &b.Fields[0]
				for r := range int32(b.Len) {
					if fv.IsNull(int(r)) {
						continue
					}
					v := float64(0)
					if fv.Type == columnar.FieldFloat {
						v = fv.F[r]
					} else {
						v = float64(fv.I[r])
					}
					if holds(tc.op, v, tc.c) {
						out = append(out, r)
					}
				}
				return out
			},
			MayPass: func(name string, r FieldRange) bool {
				if name != tc.field {
					t.Fatalf("MayPass asked about %s", name)
				}
				if r.NaN && holds(tc.op, math.NaN(), tc.c) {
					return true
				}
				if !r.Values {
					return false
				}
				var lo, hi float64
				if r.Type == columnar.FieldFloat {
					lo, hi = r.Float()
				} else {
					a, b := r.Int()
					lo, hi = float64(a), float64(b)
				}
				switch tc.op {
				case ">", ">=":
					return holds(tc.op, hi, tc.c)
				case "<", "<=":
					return holds(tc.op, lo, tc.c)
				case "=":
					return holds(">=", tc.c, lo) && holds("<=", tc.c, hi)
				}
				return !(holds("=", lo, tc.c) && holds("=", hi, tc.c))
			}}
	}
	render := func(time int64, host string, f *float64, i *int64) string {
		fs, is := "-", "-"
		if f != nil {
			fs = fmt.Sprint(math.Float64bits(*f))
		}
		if i != nil {
			is = fmt.Sprint(*i)
		}
		return fmt.Sprint(time, " ", host, " ", fs, " ", is)
	}
	spared := 0
	for _, head := range []*Head{v, h} {
		for _, span := range [][2]int64{{math.MinInt64, math.MaxInt64}, {100e9, 700e9}, {333e9, math.MaxInt64}} {
			for _, hosts := range [][]string{nil, {"h03", "h17", "s0007"}} {
				var match []bool
				if hosts != nil {
					match = head.MatchSeries(map[string][]string{"host": hosts})
				}
				for _, tc := range tests {
					var want []string
					inRange := 0
					for _, r := range rows {
						if !inSpan(r.time, span[0], span[1]) || (hosts != nil && !slices.Contains(hosts, r.host)) {
							continue
						}
						inRange++
						var v *float64
						if tc.field == "f" {
							v = r.f
						} else if r.i != nil {
							x := float64(*r.i)
							v = &x
						}
						if v != nil && holds(tc.op, *v, tc.c) {
							want = append(want, render(r.time, r.host, r.f, r.i))
						}
					}
					var got []string
					tested := 0
					err := head.ScanRangeFiltered([]string{"host", "f", "i", "msg"}, match, span[0], span[1], 500, filter(tc, &tested), func(b *columnar.ColumnBatch) error {
						for r := range b.Len {
							var f *float64
							var i *int64
							if fv := &b.Fields[0]; !fv.IsNull(r) {
								f = &fv.F[r]
							}
							if iv := &b.Fields[1]; !iv.IsNull(r) {
								i = &iv.I[r]
							}
							got = append(got, render(b.Time[r], b.Tags[0].Dict[b.Tags[0].IDs[r]], f, i))
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
					slices.Sort(got)
					slices.Sort(want)
					if !slices.Equal(got, want) {
						t.Fatalf("%s over %v hosts %v: %d rows, want %d", tc.name, span, hosts, len(got), len(want))
					}
					if tested < inRange {
						spared++
					}
				}
			}
		}
	}
	if spared < 10 {
		t.Fatalf("zones spared the test rows in only %d scans", spared)
	}
}

// Past the room its owner allows a head's copies, a filtered scan keeps
// no zones and builds none: it reads every row, and delivers the rows the
// scan without a range test does.
func TestScanRangeFilteredNoRoom(t *testing.T) {
	h, _ := zoneHead(t)
	h.Finish()
	var total atomic.Int64
	h.CountCopiesIn(&total, func(int64) bool { return false })
	keep := func(b *columnar.ColumnBatch, out []int32) []int32 {
		fv := &b.Fields[0]
		for r := range int32(b.Len) {
			if !fv.IsNull(int(r)) && fv.I[r] > 4 {
				out = append(out, r)
			}
		}
		return out
	}
	asked := 0
	mayPass := func(_ string, r FieldRange) bool {
		asked++
		_, hi := r.Int()
		return r.Values && hi > 4
	}
	scan := func(f *RowFilter) []string {
		var out []string
		if err := h.ScanRangeFiltered([]string{"host", "i"}, nil, 100e9, math.MaxInt64, 300, f, func(b *columnar.ColumnBatch) error {
			for r := range b.Len {
				out = append(out, fmt.Sprint(b.Time[r], b.Tags[0].Dict[b.Tags[0].IDs[r]], b.Fields[0].I[r]))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	want := scan(&RowFilter{Fields: []string{"i"}, Keep: keep})
	got := scan(&RowFilter{Fields: []string{"i"}, Keep: keep, MayPass: mayPass})
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	if asked != 0 || h.CopyBytes() != 0 || total.Load() != 0 {
		t.Fatalf("without room: %d range tests, %d bytes kept (%d counted)", asked, h.CopyBytes(), total.Load())
	}
}
