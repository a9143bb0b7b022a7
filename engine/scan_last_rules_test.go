package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// The last-value fold's rule across writers, source kind by source kind,
// against a model of it: of each series' field, the value of the greatest
// (time, stamp, source position) among the sources' rows in [minT, maxT),
// where a row's stamp is its own, or where it has none (no column, null,
// 0) its source's fallback — a segment's write_max, math.MaxInt64 for a
// head — and a segment without the stamp column gives every row its
// write_max. A plain fold (one writer) decides by (time, source position)
// alone. Times, stamps and write_max come from a few values each, so
// equal times and equal stamps meet often; each source holds a point
// once, as segments and a query node's heads do.
func TestLastSetStampRules(t *testing.T) {
	fields := []columnar.FieldSchema{{Name: "usage", Type: columnar.FieldFloat}, {Name: "idle", Type: columnar.FieldFloat}}
	hosts := []string{"a", "b", "c"}
	const (
		stampedSummary = iota // a segment's cached summary with its stamps (query node)
		plainSummary          // a segment without the stamp column: its summary has none
		scanned               // a segment reaching past the range, read row by row
		head                  // a head, its rows' stamps from its runs
		kinds
	)
	type row struct {
		host  int
		t     int64
		stamp int64 // -1: null
		v     [2]float64
		has   [2]bool
	}
	type best struct {
		t, st int64
		src   int
		v     float64
	}
	rng := rand.New(rand.NewPCG(16, 21))
	for c := range 3000 {
		stamped := c%4 != 0
		minT, maxT := int64(math.MinInt64), int64(math.MaxInt64)
		if rng.IntN(2) == 0 {
			minT, maxT = 2, 4 // [2, 4): times 1 and 4 left out
		}
		acc := newLastSet(fields)
		acc.stamped = stamped
		model := map[string]best{}
		for src := range 2 + rng.IntN(5) {
			kind := rng.IntN(kinds)
			writeMax := int64(rng.IntN(4))
			var rows []row
			for h := range hosts {
				for tt := int64(1); tt <= 4; tt++ {
					if rng.IntN(2) == 0 {
						continue
					}
					r := row{host: h, t: tt, stamp: int64(rng.IntN(5)) - 1}
					if kind == plainSummary {
						r.stamp = -1
					}
					for k := range 2 {
						r.has[k] = rng.IntN(3) > 0
						r.v[k] = float64(src*1000 + len(rows)*10 + k)
					}
					rows = append(rows, r)
				}
			}
			rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
			// The model.
			fallback := writeMax
			if kind == head {
				fallback = math.MaxInt64
			}
			for _, r := range rows {
				if r.t < minT || r.t >= maxT {
					continue
				}
				st := fallback
				if r.stamp > 0 {
					st = r.stamp
				}
				if !stamped {
					st = 0
				}
				for k, f := range fields {
					if !r.has[k] {
						continue
					}
					key := hosts[r.host] + "." + f.Name
					old, ok := model[key]
					if !ok || r.t > old.t || r.t == old.t && (st > old.st || st == old.st && src > old.src) {
						model[key] = best{r.t, st, src, r.v[k]}
					}
				}
			}
			// The source as a batch.
			b := &columnar.ColumnBatch{Len: len(rows), Tags: []columnar.TagVector{{Name: "host", Dict: hosts}}}
			for k, f := range fields {
				b.Fields = append(b.Fields, columnar.FieldVector{Name: f.Name, Type: f.Type, Null: make([]bool, len(rows)), F: make([]float64, len(rows))})
				for i, r := range rows {
					b.Fields[k].Null[i], b.Fields[k].F[i] = !r.has[k], r.v[k]
				}
			}
			stamps := &columnar.FieldVector{Name: "stamp", Type: columnar.FieldInt, Null: make([]bool, len(rows)), I: make([]int64, len(rows))}
			for i, r := range rows {
				b.Time = append(b.Time, r.t)
				b.Tags[0].IDs = append(b.Tags[0].IDs, int32(r.host))
				stamps.Null[i] = r.stamp < 0
				stamps.I[i] = max(r.stamp, 0)
			}
			// A segment's summary serves only when the segment ends
			// before maxT (runLast's covered); else it is read row by row.
			covered := true
			for _, r := range rows {
				covered = covered && r.t < maxT
			}
			switch {
			case kind == plainSummary && !covered:
				acc.addBatchStamped(b, minT, maxT, nil, writeMax)
			case kind == stampedSummary && !covered:
				acc.addBatchStamped(b, minT, maxT, stamps, writeMax)
			case kind == stampedSummary, kind == plainSummary:
				sum := newLastSet(fields)
				if kind == stampedSummary {
					sum.stamped = true
					sum.addBatchStamped(b, math.MinInt64, math.MaxInt64, stamps, 0)
				} else {
					sum.addBatch(b, math.MinInt64, math.MaxInt64)
				}
				acc.merge(sum, minT, maxT, writeMax)
			case kind == scanned:
				acc.addBatchStamped(b, minT, maxT, stamps, writeMax)
			default: // head
				acc.addBatchStamped(b, minT, maxT, stamps, math.MaxInt64)
			}
		}
		got := map[string]best{}
		for _, e := range acc.order {
			for k, f := range fields {
				if e.t[k] != math.MinInt64 {
					got[e.tags[0].Value+"."+f.Name] = best{t: e.t[k], v: math.Float64frombits(e.v[k].Num)}
				}
			}
		}
		for key, w := range model {
			if g := got[key]; g.t != w.t || g.v != w.v {
				t.Fatalf("case %d (stamped %v, [%d, %d)): %s is %v at %d, the model's %v at %d (stamp %d, source %d)",
					c, stamped, minT, maxT, key, g.v, g.t, w.v, w.t, w.st, w.src)
			}
		}
		if len(got) != len(model) {
			t.Fatalf("case %d: %d last values, the model's %d: %v", c, len(got), len(model), fmt.Sprint(got))
		}
	}
}
