package exec

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/siltdb/silt/query/sql"
)

// TestScalarAggregatesMatchGrouped compares the one-pass min, max and sum
// of a query without GROUP BY with the grouped path run as one group, on
// double and bigint columns with NULLs, NaN, infinities, signed zeros,
// all-NULL and empty columns, and bigint overflow.
func TestScalarAggregatesMatchGrouped(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	floats := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1.5, -2.25, math.MaxFloat64}
	for trial := 0; trial < 300; trial++ {
		n := r.IntN(40)
		if trial%50 == 0 {
			n = 0
		}
		nullRate := []int{0, 0, 3, 100}[r.IntN(4)] // percent
		for _, typ := range []sql.Type{sql.TypeFloat64, sql.TypeInt64} {
			fc := &fieldCol{typ: typ, null: make([]bool, n)}
			for k := 0; k < n; k++ {
				if r.IntN(100) < nullRate {
					fc.null[k] = true
					fc.nulls++
				}
				if typ == sql.TypeFloat64 {
					v := float64(r.IntN(7)) - 3
					if r.IntN(4) == 0 {
						v = floats[r.IntN(len(floats))]
					}
					fc.f = append(fc.f, v)
				} else {
					v := r.Int64N(9) - 4
					if trial%7 == 0 && r.IntN(3) == 0 {
						v = math.MaxInt64 - r.Int64N(3) // sums overflow
					}
					fc.i = append(fc.i, v)
				}
			}
			cat := sql.MapCatalog{"m": {Fields: []sql.Field{{Name: "v", Type: typ}}}}
			for _, fn := range []string{"min", "max", "sum"} {
				q, err := sql.Compile(`SELECT `+fn+`(v) FROM m`, cat, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				tbl := &table{n: n, time: make([]int64, n), tags: map[int]*tagCol{}, flds: map[int]*fieldCol{q.Scan[0].Index: fc}}
				a := q.Aggregates[0]
				rc := &evalCtx{n: n, tbl: tbl, all: true}
				got, ok, gerr := scalarAggregate(context.Background(), rc, a)
				if !ok && gerr == nil {
					t.Fatalf("%s(%s): the one-pass path did not apply", fn, typ)
				}
				want, werr := aggregate(context.Background(), rc, a, make([]int32, n), 1)
				if (gerr != nil) != (werr != nil) || gerr != nil && !errors.Is(gerr, werr) {
					t.Fatalf("%s(%s) over %v %v: error %v, grouped %v", fn, typ, fc.f, fc.i, gerr, werr)
				}
				if gerr != nil {
					continue
				}
				g, w := got.value(0), want.value(0)
				if gf, isF := g.(float64); isF {
					if wf, _ := w.(float64); math.Float64bits(gf) != math.Float64bits(wf) {
						t.Fatalf("%s(%s) over %v null %v: %v, grouped %v", fn, typ, fc.f, fc.null, g, w)
					}
					continue
				}
				if g != w {
					t.Fatalf("%s(%s) over %v null %v: %v, grouped %v", fn, typ, fc.i, fc.null, g, w)
				}
			}
		}
	}
}
