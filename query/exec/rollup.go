package exec

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// Rollups (segment/rollup.go) hold per series and window the partial
// aggregates of every numeric field. A query whose aggregates all
// decompose into those partials, grouped by tags and by time buckets made
// of whole windows, can read a window's one partial row instead of its raw
// rows. The executor then works on a table of partials: raw rows a source
// still delivers (heads, overlapping segments, the ragged ends of the time
// range) become partials of one row each, so one query mixes resolutions
// freely, and the aggregates are finished from the partials.

// RollupSource is a BatchSource that can deliver rollup rows: the widths
// it holds rollups of for table within tr, in nanoseconds, ascending
// (none: nil — the query then reads raw rows as such).
type RollupSource interface {
	RollupWidths(table string, tr sql.TimeRange) []int64
}

// rollupParts maps each aggregate to the partial kinds it reads.
var rollupParts = map[sql.AggFunc][]string{
	sql.AggCount:      {segment.PartCount},
	sql.AggSum:        {segment.PartCount, segment.PartSum},
	sql.AggMin:        {segment.PartCount, segment.PartMin},
	sql.AggMax:        {segment.PartCount, segment.PartMax},
	sql.AggAvg:        {segment.PartCount, segment.PartSum},
	sql.AggStddevSamp: {segment.PartCount, segment.PartSum, segment.PartM2},
	sql.AggStddevPop:  {segment.PartCount, segment.PartSum, segment.PartM2},
	sql.AggVarSamp:    {segment.PartCount, segment.PartSum, segment.PartM2},
	sql.AggVarPop:     {segment.PartCount, segment.PartSum, segment.PartM2},
	sql.AggFirst:      {segment.PartCount, segment.PartFirst, segment.PartFirstTime},
	sql.AggLast:       {segment.PartCount, segment.PartLast, segment.PartLastTime},
}

// rollupWidths returns the widths of avail (ascending) whose windows q can
// be answered from: every group key is a tag or a time bucket made of
// whole windows (width a multiple, origin on a window boundary), WHERE
// beyond the time range tests tags only, and every aggregate is count(*),
// count(DISTINCT tag), or one of rollupParts over a numeric field. The
// time range need not be aligned: sources deliver raw rows for its ragged
// ends. Nil when q cannot use rollups.
func rollupWidths(q *sql.Query, avail []int64) []int64 {
	if len(avail) == 0 || q.Table == nil || !q.Aggregated || len(q.Aggregates) == 0 || lastOnly(q) {
		return nil
	}
	var bucket *sql.Bucket
	for _, k := range q.GroupBy {
		switch {
		case k.Column.Kind == sql.KindTag:
		case k.IsTime():
			b := k.Bucket
			bucket = &b
		default:
			return nil
		}
	}
	for _, a := range q.Aggregates {
		if a.Filter != nil {
			return nil
		}
		switch a.Func {
		case sql.AggCountStar:
			continue
		case sql.AggCountDistinct:
			if ref, ok := a.Arg.(*sql.ColumnRef); ok && ref.Column.Kind == sql.KindTag {
				continue
			}
			return nil
		}
		if _, ok := rollupParts[a.Func]; !ok {
			return nil
		}
		ref, ok := a.Arg.(*sql.ColumnRef)
		if !ok || ref.Column.Kind != sql.KindField || !segment.Rollable(fieldType(ref.Column.Type)) {
			return nil
		}
	}
	if !tagsOnly(q.Residual) {
		return nil
	}
	var out []int64
	for _, w := range avail {
		if bucket != nil && (bucket.Width%w != 0 || ((bucket.Origin%w)+w)%w != 0) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// tagsOnly reports whether e (nil: true) reads no column but tags.
func tagsOnly(e sql.Expr) bool {
	ok := true
	if e != nil {
		sql.Walk(e, func(x sql.Expr) bool {
			if ref, isRef := x.(*sql.ColumnRef); isRef && ref.Column.Kind != sql.KindTag {
				ok = false
			}
			return ok
		})
	}
	return ok
}

// Partial columns live in the table under synthetic indexes, below every
// real column's.
const partRowsIndex = -1

func partIndex(field int, part string) int {
	return -2 - field*len(segment.RollupParts) - slices.Index(segment.RollupParts, part)
}

// partColumn is the table column holding part of field.
func partColumn(field sql.Column, part string) sql.Column {
	return sql.Column{Name: segment.RollupColumn(field.Name, part), Kind: sql.KindField,
		Type: sqlPartType(field.Type, part), Index: partIndex(field.Index, part)}
}

var partRowsColumn = sql.Column{Name: segment.RollupRows, Kind: sql.KindField, Type: sql.TypeInt64, Index: partRowsIndex}

func sqlPartType(t sql.Type, part string) sql.Type {
	switch segment.RollupPartType(fieldType(t), part) {
	case columnar.FieldInt:
		return sql.TypeInt64
	case columnar.FieldFloat:
		return sql.TypeFloat64
	}
	return t
}

// partSlot is a partial column being materialized: from rollup batches it
// is read as is; from raw batches it is made from the raw field (raw, of
// type rawTyp): a count of 1 where the value is not NULL, the value itself
// for sum/min/max/first/last, the row's time for the times, 0 for m2.
type partSlot struct {
	fieldSlot
	raw    string
	rawTyp columnar.FieldType
	part   string
}

// partColumns returns the partial columns q's aggregates read.
func partColumns(q *sql.Query) []sql.Column {
	cols := []sql.Column{partRowsColumn}
	seen := map[int]bool{partRowsIndex: true}
	for _, a := range q.Aggregates {
		ref, ok := a.Arg.(*sql.ColumnRef)
		if !ok || ref.Column.Kind != sql.KindField {
			continue
		}
		for _, p := range rollupParts[a.Func] {
			c := partColumn(ref.Column, p)
			if !seen[c.Index] {
				seen[c.Index] = true
				cols = append(cols, c)
			}
		}
	}
	return cols
}

// appendPart appends the selected rows of batch b to the partial column.
func (ps *partSlot) appendPart(b *columnar.ColumnBatch, sel []int32, all bool) {
	if b.Rollup != 0 {
		ps.appendBatch(batchField(b, ps.name, ps.typ), sel, all)
		return
	}
	fc := ps.col
	n := len(sel)
	if ps.raw == "" { // rows: one per raw row
		for range n {
			fc.i = append(fc.i, 1)
		}
		fc.null = append(fc.null, make([]bool, n)...)
		return
	}
	fv := batchField(b, ps.raw, ps.rawTyp)
	switch ps.part {
	case segment.PartSum, segment.PartMin, segment.PartMax, segment.PartFirst, segment.PartLast:
		ps.appendBatch(fv, sel, all)
		return
	}
	fc.null = append(fc.null, make([]bool, n)...)
	switch ps.part {
	case segment.PartCount:
		for _, r := range sel {
			c := int64(1)
			if fv == nil || fv.IsNull(int(r)) {
				c = 0
			}
			fc.i = append(fc.i, c)
		}
	case segment.PartFirstTime, segment.PartLastTime:
		fc.i = gather(fc.i, b.Time, sel, all)
	case segment.PartM2:
		fc.f = append(fc.f, make([]float64, n)...)
	}
}

// resolutionName describes the resolutions that answered: "raw", a width
// ("1h"), or several joined by "+" (coarsest first, raw last).
func resolutionName(widths map[int64]bool) string {
	var ws []int64
	raw := false
	for w := range widths {
		if w == 0 {
			raw = true
			continue
		}
		ws = append(ws, w)
	}
	slices.Sort(ws)
	slices.Reverse(ws)
	var parts []string
	for _, w := range ws {
		parts = append(parts, shortDuration(time.Duration(w)))
	}
	if raw || len(parts) == 0 {
		parts = append(parts, "raw")
	}
	return strings.Join(parts, "+")
}

func shortDuration(d time.Duration) string {
	// "1h0m0s" reads "1h", "1m0s" "1m"; "10s" stays.
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

// partialAggregate finishes aggregate a over the partial rows of rc with
// group ids gids (nil: one group). As aggregate's, its loops run in blocks
// of ctxCheckRows rows with a check of ctx between them (blockEnd).
func partialAggregate(ctx context.Context, rc *evalCtx, a sql.Aggregate, gids []int32, ng int) (*vec, error) {
	if a.Func == sql.AggCountDistinct {
		return aggregate(ctx, rc, a, gids, ng)
	}
	if gids == nil {
		gids = make([]int32, rc.n)
	}
	n := len(gids)
	col := func(c sql.Column) (*vec, error) { return rc.column(c) }
	if a.Func == sql.AggCountStar {
		rows, err := col(partRowsColumn)
		if err != nil {
			return nil, err
		}
		out := newVec(sql.TypeInt64, ng)
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				out.i[g] += rows.i[lo+j]
			}
		}
		return out, nil
	}
	field := a.Arg.(*sql.ColumnRef).Column
	nv, err := col(partColumn(field, segment.PartCount))
	if err != nil {
		return nil, err
	}
	cnt := nv.i
	// Rows that are their groups already (a single series' windows at
	// the query's own width) need no per-group arrays: counts are the
	// count column, extremes and first/last the part column as is.
	same := sameGroups(gids, ng)
	counts := cnt // read only
	if !same {
		counts = make([]int64, ng)
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				counts[g] += cnt[lo+j]
			}
		}
	}
	nullEmpty := func(out *vec) *vec {
		for g, c := range counts {
			if c == 0 {
				out.setNull(g)
			}
		}
		return out
	}
	part := func(p string) (*vec, error) { return col(partColumn(field, p)) }
	switch a.Func {
	case sql.AggCount:
		if same {
			counts = slices.Clone(counts)
		}
		return &vec{typ: sql.TypeInt64, n: ng, i: counts}, nil
	case sql.AggSum:
		x, err := part(segment.PartSum)
		if err != nil {
			return nil, err
		}
		out := newVec(a.Type, ng)
		if err := sumGroups(ctx, out, x, gids, func(k int) bool { return cnt[k] > 0 }); err != nil {
			return nil, err
		}
		return nullEmpty(out), nil
	case sql.AggMin, sql.AggMax:
		p, want := segment.PartMin, -1
		if a.Func == sql.AggMax {
			p, want = segment.PartMax, 1
		}
		x, err := part(p)
		if err != nil {
			return nil, err
		}
		if same {
			return nonEmpty(x, cnt), nil
		}
		best := noRows(ng)
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				if cnt[k] == 0 {
					continue
				}
				if b := best[g]; b < 0 || compareAt(x, k, x, b) == want {
					best[g] = k
				}
			}
		}
		return pick(x, best), nil
	case sql.AggAvg, sql.AggStddevSamp, sql.AggStddevPop, sql.AggVarSamp, sql.AggVarPop:
		x, err := part(segment.PartSum)
		if err != nil {
			return nil, err
		}
		sums, err := cast(x, sql.TypeFloat64)
		if err != nil {
			return nil, err
		}
		out := newVec(sql.TypeFloat64, ng)
		if a.Func == sql.AggAvg {
			sum := out.f
			for lo, hi := 0, 0; lo < n; lo = hi {
				if hi, err = blockEnd(ctx, lo, n); err != nil {
					return nil, err
				}
				for j, g := range gids[lo:hi] {
					if k := lo + j; cnt[k] > 0 {
						sum[g] += sums.f[k]
					}
				}
			}
			for g := range sum {
				sum[g] /= float64(counts[g])
			}
			return nullEmpty(out), nil
		}
		m2v, err := part(segment.PartM2)
		if err != nil {
			return nil, err
		}
		// Chan et al.'s pairwise combination of (count, mean, M2): stable
		// where summing squares would cancel catastrophically.
		cn := make([]float64, ng) // each group's count so far
		mean := make([]float64, ng)
		m2 := out.f
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				c := cnt[k]
				if c == 0 {
					continue
				}
				nb := float64(c)
				mb := sums.f[k] / nb
				na := cn[g]
				if na == 0 {
					cn[g], mean[g], m2[g] = nb, mb, m2v.f[k]
					continue
				}
				nt := na + nb
				d := mb - mean[g]
				mean[g] += d * nb / nt
				m2[g] += m2v.f[k] + d*d*na*nb/nt
				cn[g] = nt
			}
		}
		finishVariance(out, a.Func, m2, mean, counts)
		return out, nil
	case sql.AggFirst, sql.AggLast:
		vp, tp := segment.PartFirst, segment.PartFirstTime
		if a.Func == sql.AggLast {
			vp, tp = segment.PartLast, segment.PartLastTime
		}
		x, err := part(vp)
		if err != nil {
			return nil, err
		}
		if same {
			return nonEmpty(x, cnt), nil
		}
		tv, err := part(tp)
		if err != nil {
			return nil, err
		}
		best := noRows(ng)
		first := a.Func == sql.AggFirst
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				if cnt[k] == 0 {
					continue
				}
				b := best[g]
				if b < 0 || (first && tv.i[k] < tv.i[b]) || (!first && tv.i[k] > tv.i[b]) {
					best[g] = k
				}
			}
		}
		return pick(x, best), nil
	}
	return nil, fmt.Errorf("exec: aggregate %s over rollups", a.Func)
}

// sameGroups reports whether gids puts every row k in group k, and there
// is at least one.
func sameGroups(gids []int32, ng int) bool {
	if ng == 0 || len(gids) != ng {
		return false
	}
	for k, g := range gids {
		if int(g) != k {
			return false
		}
	}
	return true
}

// nonEmpty is x's rows as groups of one: a copy of x, NULL where cnt says
// a row's window held no value. It is pick with best[g] = g where cnt[g] > 0.
func nonEmpty(x *vec, cnt []int64) *vec {
	out := &vec{typ: x.typ, n: x.n, dict: x.dict, i: slices.Clone(x.i), u: slices.Clone(x.u),
		f: slices.Clone(x.f), b: slices.Clone(x.b), s: slices.Clone(x.s), ids: slices.Clone(x.ids)}
	for k, c := range cnt {
		if c == 0 || x.isNull(k) {
			out.setNull(k)
		}
	}
	return out
}

// partSlots creates t's partial columns for q's aggregates.
func partSlots(q *sql.Query, t *table) []*partSlot {
	var parts []*partSlot
	fieldOf := map[int]sql.Column{}
	for _, a := range q.Aggregates {
		if ref, ok := a.Arg.(*sql.ColumnRef); ok && ref.Column.Kind == sql.KindField {
			for _, p := range rollupParts[a.Func] {
				fieldOf[partColumn(ref.Column, p).Index] = ref.Column
			}
		}
	}
	for _, c := range partColumns(q) {
		fc := &fieldCol{typ: c.Type}
		t.flds[c.Index] = fc
		ps := &partSlot{fieldSlot: fieldSlot{name: c.Name, col: fc, typ: fieldType(c.Type)}}
		if f, ok := fieldOf[c.Index]; ok {
			ps.raw, ps.rawTyp = f.Name, fieldType(f.Type)
			ps.part = c.Name[len(f.Name)+1:]
		}
		parts = append(parts, ps)
	}
	return parts
}
