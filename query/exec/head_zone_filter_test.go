package exec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
)

// TestHeadZoneFilterRandom: filtered scans of a head whose sealed blocks
// keep value ranges (zones) return what the same filter evaluated only by
// the executor returns (wrapped in CASE, so no conjunct reaches the scan's
// row test or the zones). The head holds floats with NaN, ±Inf, -0 and
// NULLs, ints and uints with NULLs (the uints of some hosts beyond 2^63,
// where int64's order differs, and near 2^64, where float64 rounds), a
// field that appears only after the first block is sealed, each host in
// time order (no duplicates: the path that uses zones); the filters
// compare every field with int and float constants (fractions, negatives,
// out of range, uint64's extremes), alone and in pairs, over whole and cut
// ranges, all hosts and some. Every conjunct of every filter that compiles
// must reach the scan as a field filter (so the zones are asked).
func TestHeadZoneFilterRandom(t *testing.T) {
	eng := openHeadEngine(t)
	rng := rand.New(rand.NewPCG(17, 22))
	const hosts = 20
	walkF := make([]float64, hosts)
	walkI := make([]int64, hosts)
	step := make([]int64, hosts)
	var b columnar.Batch
	write := func(n int, late bool) {
		b = columnar.Batch{}
		for k := range n {
			h := rng.IntN(hosts)
			step[h]++
			b.StartRow([]byte("z"), k+1)
			b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", h))
			// Each host's values keep to their own band, so the ranges of
			// most hosts' rows of a block exclude a constant; the odd
			// values (NaN, ±Inf, zeros) are each a few hosts'.
			if rng.IntN(9) != 0 {
				walkF[h] = max(-4, min(4, walkF[h]+rng.NormFloat64()))
				v := float64(h*10-100) + walkF[h]
				if rng.IntN(40) == 0 {
					switch h % 10 {
					case 1:
						v = math.NaN()
					case 2:
						v = math.Copysign(0, -1)
					case 3:
						v = math.Inf(1)
					case 4:
						v = math.Inf(-1)
					case 5:
						v = 0
					}
				}
				b.AddFloat([]byte("f"), v)
			}
			if rng.IntN(11) != 0 {
				walkI[h] = max(-3, min(3, walkI[h]+int64(rng.IntN(3))-1))
				b.AddNum([]byte("i"), columnar.FieldInt, uint64(int64(h*5-50)+walkI[h]))
			}
			if rng.IntN(4) != 0 {
				u := uint64(rng.IntN(4)) + uint64(h)*4
				switch h % 5 {
				case 3:
					u += 1 << 63 // above every int64
				case 4:
					u = math.MaxUint64 - uint64(rng.IntN(4)) - uint64(h)*4096
				}
				b.AddNum([]byte("u"), columnar.FieldUint, u)
			}
			if late && rng.IntN(3) != 0 {
				b.AddNum([]byte("late"), columnar.FieldInt, uint64(int64(rng.IntN(10))+int64(h*10-100)))
			}
			b.EndRow(int64(step[h]) * 1e9)
		}
		res, err := eng.Write(testDB, &b)
		if err != nil || len(res.Rejected) > 0 {
			t.Fatalf("write: %v %v", err, res.Rejected)
		}
	}
	write(9000, false) // a sealed block without "late"
	write(9000, true)
	write(7000, true) // another block and a tail
	if n := len(eng.Manifest().Raw()); n != 0 {
		t.Fatalf("flushed %d segments", n)
	}
	consts := []string{"0", "-0.0", "0.0", "3", "-4", "2.5", "-7.5", "17", "-33", "41.5", "-60.5", "90.5", "-1", "1e300", "-1e300", "9223372036854775807", "-9223372036854775808", "'NaN'", "'Infinity'",
		"9223372036854775808", "9223372036854775830", "18446744073709551615", "18446744073709551600", "18446744073709490000", "1.8446744073709552e19", "9.3e18"}
	fields := []string{"f", "i", "u", "late"}
	ops := []string{"<", "<=", ">", ">=", "=", "!=", "<>"}
	cond := func() string {
		return fmt.Sprintf("%s %s %s", fields[rng.IntN(len(fields))], ops[rng.IntN(len(ops))], consts[rng.IntN(len(consts))])
	}
	ranges := []string{"", " AND time >= '1970-01-01T00:01:40Z' AND time < '1970-01-01T00:11:40Z'", " AND time > '1970-01-01T00:05:33Z'"}
	checked, kept, errs := 0, 0, 0
	perField := map[string]int{} // filters checked by their first field
	scanned := map[string]int{}  // conjuncts found as field filters, by field
	schemas, _ := eng.Tables(testDB)
	cat, _ := Catalog(schemas)
	for q := range 300 {
		c := cond()
		first := c[:strings.IndexByte(c, ' ')]
		if q%3 == 0 {
			c += " AND " + cond()
		}
		rg := ranges[q%len(ranges)]
		hostSel := ""
		if q%4 == 1 {
			hostSel = " AND host IN ('h03', 'h11')"
		}
		sel := `SELECT time, host, f, i, u, late FROM z WHERE `
		order := ` ORDER BY host, time`
		if q, err := sql.Compile(sel+c+rg+hostSel+order, cat, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)); err == nil {
			conj := strings.Count(c, " AND ") + 1
			if ff := fieldFilters(q.Residual); len(ff) != conj {
				t.Fatalf("WHERE %s: %d field filters reach the scan, want %d: %+v (residual %s)", c, len(ff), conj, ff, q.Residual)
			} else {
				for _, f := range ff {
					scanned[f.name]++
				}
			}
		}
		got, gerr := runSQL(eng, sel+c+rg+hostSel+order)
		want, werr := runSQL(eng, sel+"CASE WHEN "+c+" THEN true ELSE false END"+rg+hostSel+order)
		if (gerr != nil) != (werr != nil) {
			t.Fatalf("%s: error %v, without the scan's test %v", c, gerr, werr)
		}
		if gerr != nil {
			errs++
			continue
		}
		g, w := fmt.Sprint(got.Rows), fmt.Sprint(want.Rows)
		if g != w {
			t.Fatalf("WHERE %s%s%s: %d rows, without the scan's test %d\n%s", c, rg, hostSel, len(got.Rows), len(want.Rows), firstDiff(got.Rows, want.Rows))
		}
		checked++
		perField[first]++
		kept += len(got.Rows)
	}
	t.Logf("%d filters checked (%d rows kept; by field %v; field filters %v), %d errors on both sides", checked, kept, perField, scanned, errs)
	if checked < 120 || kept == 0 {
		t.Fatalf("only %d filters checked, %d rows kept", checked, kept)
	}
	for _, f := range fields {
		if perField[f] < 10 || scanned[f] < 10 {
			t.Fatalf("only %d filters on %s checked, %d conjuncts on it tested by the scan", perField[f], f, scanned[f])
		}
	}
}

func firstDiff(a, b [][]any) string {
	var s strings.Builder
	for i := range max(len(a), len(b)) {
		var x, y any
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if fmt.Sprint(x) != fmt.Sprint(y) {
			fmt.Fprintf(&s, "row %d: got %v, want %v", i, x, y)
			break
		}
	}
	return s.String()
}

// A point rewritten in the head after its first value was flushed: a
// filter that the old value passes and the new one fails keeps nothing
// (the scan's row test must not drop the head's rewrite and let the
// segment's older value through), and the reverse keeps the new value.
func TestHeadFilterRewriteOverSegment(t *testing.T) {
	eng := openHeadEngine(t)
	write := func(f float64, i int64) {
		var b columnar.Batch
		for h := range 20 {
			for k := range 600 {
				b.StartRow([]byte("z"), h*600+k+1)
				b.AddTag([]byte("host"), fmt.Appendf(nil, "h%02d", h))
				b.AddFloat([]byte("f"), f+float64(h))
				b.AddNum([]byte("i"), columnar.FieldInt, uint64(i+int64(h)))
				b.EndRow(int64(k+1) * 1e9)
			}
		}
		if res, err := eng.Write(testDB, &b); err != nil || len(res.Rejected) > 0 {
			t.Fatalf("write: %v %v", err, res.Rejected)
		}
	}
	write(100, 100)
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	write(-100, -100) // every point again, in the head, in order
	for _, c := range []string{"f > 90", "f < 0", "i > 90", "i < 0", "i > 90.5", "f >= 100 AND i >= 100"} {
		sel := `SELECT time, host, f, i FROM z WHERE `
		got, gerr := runSQL(eng, sel+c+` ORDER BY host, time`)
		want, werr := runSQL(eng, sel+"CASE WHEN "+c+" THEN true ELSE false END"+` ORDER BY host, time`)
		if gerr != nil || werr != nil {
			t.Fatalf("%s: %v / %v", c, gerr, werr)
		}
		if fmt.Sprint(got.Rows) != fmt.Sprint(want.Rows) {
			t.Fatalf("WHERE %s: %d rows, without the scan's test %d\n%s", c, len(got.Rows), len(want.Rows), firstDiff(got.Rows, want.Rows))
		}
		t.Logf("WHERE %s: %d rows", c, len(got.Rows))
	}
}
