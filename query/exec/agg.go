package exec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/siltdb/silt/query/sql"
)

var timeColumn = sql.Column{Name: sql.TimeColumn, Kind: sql.KindTime, Type: sql.TypeTimestamp}

// group assigns dense group ids to the selected rows and computes the
// aggregates; it returns the group context (keys and aggregate results).
func group(ctx context.Context, q *sql.Query, rc *evalCtx) (*evalCtx, error) {
	n := rc.n
	var gids []int32 // nil: every row is in group 0
	keyVecs := make([]*vec, len(q.GroupBy))
	var bucketed *vec // the one key, grouped by bucketGroups
	if db := timeBucketKey(q); db != nil {
		tv, err := rc.eval(db.X)
		if err != nil {
			return nil, err
		}
		if bucketed, gids, err = bucketGroups(ctx, tv, db.Bucket); err != nil {
			return nil, err
		}
		if bucketed != nil {
			defer putInt32s(gids) // aggregates keep no reference to gids
		}
	}
	for i, k := range q.GroupBy {
		if bucketed != nil {
			break
		}
		v, err := rc.eval(k.Expr)
		if err != nil {
			return nil, err
		}
		keyVecs[i] = v
	}
	if len(keyVecs) > 0 && gids == nil {
		gids = make([]int32, n)
	}
	var first []int // a row of each group
	switch {
	case bucketed != nil:
		keyVecs[0] = bucketed
	case len(keyVecs) == 0:
		first = []int{0} // the one group exists even without rows
	case len(keyVecs) == 1 && keyVecs[0].ids != nil:
		v := keyVecs[0]
		slot := make([]int32, len(v.dict)+1) // id+1 → gid+1
		for k, id := range v.ids {
			s := &slot[id+1]
			if *s == 0 {
				first = append(first, k)
				*s = int32(len(first))
			}
			gids[k] = *s - 1
		}
	default:
		var err error
		if first, err = denseGroups(ctx, q, keyVecs, gids); err != nil {
			return nil, err
		}
	}
	ng := len(first)
	if bucketed != nil {
		ng = bucketed.n
	}
	out := &evalCtx{n: ng}
	if bucketed != nil {
		out.keys = keyVecs // already one value per group
	} else if len(keyVecs) > 0 {
		same := sameGroups(gids, ng)
		for _, v := range keyVecs {
			if same { // each row its own group, in order: the keys as they are
				out.keys = append(out.keys, v)
				continue
			}
			out.keys = append(out.keys, v.gather(first))
		}
	}
	for _, a := range q.Aggregates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		agg := aggregate
		if rc.tbl != nil && rc.tbl.partial {
			agg = partialAggregate
		}
		arc, agids := rc, gids
		if a.Filter != nil { // FILTER (WHERE ...): aggregate the rows it keeps
			fv, err := rc.eval(a.Filter)
			if err != nil {
				return nil, err
			}
			if !allTrue(fv) {
				keep := trueRows(fv)
				arc = rc.subset(keep)
				if gids != nil {
					agids = make([]int32, len(keep))
					for j, k := range keep {
						agids[j] = gids[k]
					}
				}
			}
			a.Filter = nil
		}
		v, err := agg(ctx, arc, a, agids, ng)
		if err != nil {
			return nil, err
		}
		out.aggs = append(out.aggs, v)
	}
	return out, nil
}

// aggregate computes one aggregate over (gids[k], arg[k]) into a vector of
// ng groups. Its loops over rows (and over groups) run in blocks of
// ctxCheckRows, with a check of ctx before each block (blockEnd): one
// aggregate over millions of rows and groups runs for 100 ms and more,
// and a check inside the loops' bodies measured 5-10% slower.
func aggregate(ctx context.Context, rc *evalCtx, a sql.Aggregate, gids []int32, ng int) (*vec, error) {
	if gids == nil { // one group: fast paths, else group ids of zeros
		if v, ok, err := scalarAggregate(ctx, rc, a); ok || err != nil {
			return v, err
		}
		gids = make([]int32, rc.n)
	}
	n := len(gids)
	var err error
	if a.Func == sql.AggCountStar {
		out := newVec(sql.TypeInt64, ng)
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for _, g := range gids[lo:hi] {
				out.i[g]++
			}
		}
		return out, nil
	}
	x, err := rc.eval(a.Arg)
	if err != nil {
		return nil, err
	}
	live := func(k int) bool { return x.null == nil || !x.null[k] }
	counts := make([]int64, ng)
	switch {
	case x.null == nil && ng == 1:
		counts[0] = int64(len(gids))

	case x.null == nil:
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for _, g := range gids[lo:hi] {
				counts[g]++
			}
		}
	default:
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				if !x.null[lo+j] {
					counts[g]++
				}
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
	switch a.Func {
	case sql.AggCount:
		return &vec{typ: sql.TypeInt64, n: ng, i: counts}, nil
	case sql.AggCountDistinct:
		out := newVec(sql.TypeInt64, ng)
		seen := map[uint64]struct{}{}
		var buf []byte
		sseen := map[string]struct{}{}
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				if !live(k) {
					continue
				}
				if x.ids != nil {
					key := uint64(g)<<32 | uint64(uint32(x.ids[k]))
					if _, ok := seen[key]; !ok {
						seen[key] = struct{}{}
						out.i[g]++
					}
					continue
				}
				buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(g))
				buf = appendKey(buf, x, k)
				if _, ok := sseen[string(buf)]; !ok {
					sseen[string(buf)] = struct{}{}
					out.i[g]++
				}
			}
		}
		return out, nil
	case sql.AggSum:
		out := newVec(a.Type, ng)
		switch x.typ {
		case sql.TypeFloat64:
			if x.null == nil && ng == 1 {
				var sum float64
				for lo, hi := 0, 0; lo < len(x.f); lo = hi {
					if hi, err = blockEnd(ctx, lo, len(x.f)); err != nil {
						return nil, err
					}
					for _, f := range x.f[lo:hi] {
						sum += f
					}
				}
				out.f[0] = sum
			} else if x.null == nil {
				for lo, hi := 0, 0; lo < n; lo = hi {
					if hi, err = blockEnd(ctx, lo, n); err != nil {
						return nil, err
					}
					for j, g := range gids[lo:hi] {
						out.f[g] += x.f[lo+j]
					}
				}
			} else {
				for lo, hi := 0, 0; lo < n; lo = hi {
					if hi, err = blockEnd(ctx, lo, n); err != nil {
						return nil, err
					}
					for j, g := range gids[lo:hi] {
						if k := lo + j; !x.null[k] {
							out.f[g] += x.f[k]
						}
					}
				}
			}
		default:
			if err := sumGroups(ctx, out, x, gids, live); err != nil {
				return nil, err
			}
		}
		return nullEmpty(out), nil
	case sql.AggMin, sql.AggMax:
		best := noRows(ng)
		want := -1
		if a.Func == sql.AggMax {
			want = 1
		}
		switch x.typ {
		case sql.TypeFloat64:
			for lo, hi := 0, 0; lo < n; lo = hi {
				if hi, err = blockEnd(ctx, lo, n); err != nil {
					return nil, err
				}
				for j, g := range gids[lo:hi] {
					k := lo + j
					if !live(k) {
						continue
					}
					if b := best[g]; b < 0 || cmpFloat(x.f[k], x.f[b]) == want {
						best[g] = k
					}
				}
			}
		case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval: // compared as compareAt does
			if err := bestInt64Rows(ctx, best, x.i, x.null, gids, want == 1); err != nil { // agg_kernels.go
				return nil, err
			}
		default:
			for lo, hi := 0, 0; lo < n; lo = hi {
				if hi, err = blockEnd(ctx, lo, n); err != nil {
					return nil, err
				}
				for j, g := range gids[lo:hi] {
					k := lo + j
					if !live(k) {
						continue
					}
					if b := best[g]; b < 0 || compareAt(x, k, x, b) == want {
						best[g] = k
					}
				}
			}
		}
		return pick(x, best), nil
	case sql.AggAvg, sql.AggStddevSamp, sql.AggStddevPop, sql.AggVarSamp, sql.AggVarPop:
		f, err := cast(x, sql.TypeFloat64)
		if err != nil {
			return nil, err
		}
		sum := make([]float64, ng)
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				if k := lo + j; live(k) {
					sum[g] += f.f[k]
				}
			}
		}
		out := newVec(sql.TypeFloat64, ng)
		if a.Func == sql.AggAvg {
			for g := range sum {
				out.f[g] = sum[g] / float64(counts[g])
			}
			return nullEmpty(out), nil
		}
		// Two passes: the mean, then squared deviations from it.
		mean := sum
		for g := range mean {
			mean[g] /= float64(counts[g])
		}
		m2 := out.f
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				if k := lo + j; live(k) {
					d := f.f[k] - mean[g]
					m2[g] += d * d
				}
			}
		}
		finishVariance(out, a.Func, m2, mean, counts)
		return out, nil
	case sql.AggFirst, sql.AggLast:
		tv, err := rc.column(timeColumn)
		if err != nil {
			return nil, err
		}
		best := noRows(ng)
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				if !live(k) {
					continue
				}
				b := best[g]
				if b < 0 || (a.Func == sql.AggFirst && tv.i[k] < tv.i[b]) || (a.Func == sql.AggLast && tv.i[k] > tv.i[b]) {
					best[g] = k
				}
			}
		}
		return pick(x, best), nil
	case sql.AggBoolAnd, sql.AggBoolOr:
		out := newVec(sql.TypeBool, ng)
		and := a.Func == sql.AggBoolAnd
		if and {
			for g := range out.b {
				out.b[g] = true
			}
		}
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return nil, err
			}
			for j, g := range gids[lo:hi] {
				if k := lo + j; live(k) && x.b[k] != and {
					out.b[g] = !and
				}
			}
		}
		return nullEmpty(out), nil
	case sql.AggStringAgg:
		return stringAgg(ctx, rc, a, x, gids, ng, live)
	case sql.AggMode:
		rows, err := groupRows(ctx, gids, ng, live)
		if err != nil {
			return nil, err
		}
		best := noRows(ng)
		var since int // rows sorted since the last check
		for g, rs := range rows {
			if since += len(rs); since >= ctxCheckRows {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				since = 0
			}
			slices.SortStableFunc(rs, func(p, q int) int {
				if a.Desc {
					return compareAt(x, q, x, p)
				}
				return compareAt(x, p, x, q)
			})
			// The longest run of equal values; the first in order wins ties.
			bestLen := 0
			for start := 0; start < len(rs); {
				end := start + 1
				for end < len(rs) && compareAt(x, rs[end], x, rs[start]) == 0 {
					end++
				}
				if end-start > bestLen {
					best[g], bestLen = rs[start], end-start
				}
				start = end
			}
		}
		return pick(x, best), nil
	case sql.AggPercentileCont, sql.AggPercentileDisc:
		rows, err := groupRows(ctx, gids, ng, live)
		if err != nil {
			return nil, err
		}
		var f *vec
		if a.Func == sql.AggPercentileCont {
			if f, err = cast(x, sql.TypeFloat64); err != nil {
				return nil, err
			}
		}
		best := make([]int, ng)
		out := newVec(sql.TypeFloat64, ng)
		var since int // rows sorted since the last check
		for g, rs := range rows {
			if since += len(rs); since >= ctxCheckRows {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				since = 0
			}
			best[g] = -1
			if len(rs) == 0 {
				out.setNull(g)
				continue
			}
			slices.SortFunc(rs, func(p, q int) int { return compareAt(x, p, x, q) })
			if a.Func == sql.AggPercentileDisc {
				r := int64(math.Ceil(a.Fraction * float64(len(rs))))
				if r < 1 {
					r = 1
				}
				best[g] = rs[r-1]
				continue
			}
			pos := a.Fraction * float64(len(rs)-1)
			lo := math.Floor(pos)
			hi := math.Ceil(pos)
			lv, hv := f.f[rs[int(lo)]], f.f[rs[int(hi)]]
			if lo == hi {
				out.f[g] = lv
			} else {
				out.f[g] = lv + (pos-lo)*(hv-lv)
			}
		}
		if a.Func == sql.AggPercentileDisc {
			return pick(x, best), nil
		}
		return out, nil
	}
	return nil, fmt.Errorf("exec: unsupported aggregate %s", a.Func)
}

// blockEnd returns the end of the block of rows from lo, at most
// ctxCheckRows of the n, or ctx's error: the long loops of aggregate and
// partialAggregate run block by block and check their query's deadline
// between blocks, not inside the loop over a block's rows.
func blockEnd(ctx context.Context, lo, n int) (int, error) {
	if err := ctx.Err(); err != nil {
		return lo, err
	}
	return min(lo+ctxCheckRows, n), nil
}

// groupRows lists the rows of each of ng groups that live accepts, in row
// order.
func groupRows(ctx context.Context, gids []int32, ng int, live func(int) bool) ([][]int, error) {
	rows := make([][]int, ng)
	var err error
	for lo, hi := 0, 0; lo < len(gids); lo = hi {
		if hi, err = blockEnd(ctx, lo, len(gids)); err != nil {
			return nil, err
		}
		for j, g := range gids[lo:hi] {
			if k := lo + j; live(k) {
				rows[g] = append(rows[g], k)
			}
		}
	}
	return rows, nil
}

// stringAgg joins each group's non-NULL texts with a.Sep, in a.Order's
// order when there is one (stable: ties keep row order).
func stringAgg(ctx context.Context, rc *evalCtx, a sql.Aggregate, x *vec, gids []int32, ng int, live func(int) bool) (*vec, error) {
	var ord *vec
	if a.Order != nil {
		var err error
		if ord, err = rc.eval(a.Order); err != nil {
			return nil, err
		}
	}
	rows, err := groupRows(ctx, gids, ng, live)
	if err != nil {
		return nil, err
	}
	out := newVec(sql.TypeString, ng)
	var b strings.Builder
	var since int // rows joined since the last check
	for g, rs := range rows {
		if since += len(rs); since >= ctxCheckRows {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			since = 0
		}
		if len(rs) == 0 {
			out.setNull(g)
			continue
		}
		if ord != nil {
			slices.SortStableFunc(rs, func(p, q int) int {
				pn, qn := ord.isNull(p) || ord.typ == sql.TypeNull, ord.isNull(q) || ord.typ == sql.TypeNull
				var c int
				switch { // NULLs last ascending, first descending, as PostgreSQL
				case pn && qn:
				case pn:
					c = 1
				case qn:
					c = -1
				default:
					c = compareAt(ord, p, ord, q)
				}
				if a.Desc {
					c = -c
				}
				return c
			})
		}
		b.Reset()
		for j, k := range rs {
			if j > 0 {
				b.WriteString(a.Sep)
			}
			b.WriteString(x.str(k))
		}
		out.s[g] = b.String()
	}
	return out, nil
}

// sumGroups adds x[k] into out[gids[k]] for the rows live accepts, with
// PostgreSQL's errors when an integer sum leaves its type; it checks ctx
// between blocks of rows.
func sumGroups(ctx context.Context, out, x *vec, gids []int32, live func(k int) bool) error {
	n := len(gids)
	var err error
	switch x.typ {
	case sql.TypeFloat64:
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return err
			}
			for j, g := range gids[lo:hi] {
				if k := lo + j; live(k) {
					out.f[g] += x.f[k]
				}
			}
		}
	case sql.TypeInt64:
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				if !live(k) {
					continue
				}
				s, b := out.i[g], x.i[k]
				r := s + b
				if (b > 0 && r < s) || (b < 0 && r > s) {
					return errBigintRange
				}
				out.i[g] = r
			}
		}
	case sql.TypeUint64:
		for lo, hi := 0, 0; lo < n; lo = hi {
			if hi, err = blockEnd(ctx, lo, n); err != nil {
				return err
			}
			for j, g := range gids[lo:hi] {
				k := lo + j
				if !live(k) {
					continue
				}
				r := out.u[g] + x.u[k]
				if r < out.u[g] {
					return errUintRange
				}
				out.u[g] = r
			}
		}
	default:
		return fmt.Errorf("exec: sum of %s", x.typ)
	}
	return nil
}

// finishVariance turns per-group sums of squared deviations m2 (in out.f)
// into the variance or standard deviation f asks for: NULL for no value
// (or one, for the sample forms), NaN where the mean is not finite.
func finishVariance(out *vec, f sql.AggFunc, m2, mean []float64, counts []int64) {
	samp := f == sql.AggStddevSamp || f == sql.AggVarSamp
	for g, c := range counts {
		switch {
		case c == 0 || samp && c < 2:
			out.setNull(g)
			continue
		case samp:
			m2[g] /= float64(c - 1)
		default:
			m2[g] /= float64(c)
		}
		if math.IsInf(mean[g], 0) || math.IsNaN(mean[g]) {
			m2[g] = math.NaN()
		}
		if m2[g] < 0 { // rounding of a zero variance (pairwise combination)
			m2[g] = 0
		}
		if f == sql.AggStddevSamp || f == sql.AggStddevPop {
			m2[g] = math.Sqrt(m2[g])
		}
	}
}

// pick gathers x at rows best (-1: NULL).
func pick(x *vec, best []int) *vec {
	idx := make([]int, len(best))
	var null []bool
	for g, b := range best {
		if b < 0 {
			if null == nil {
				null = make([]bool, len(best))
			}
			null[g] = true
			b = 0
		}
		idx[g] = b
	}
	if x.n == 0 {
		out := newVec(x.typ, len(best))
		out.null = null
		if x.ids != nil {
			out.s = make([]string, len(best))
		}
		return out
	}
	out := x.gather(idx)
	if null != nil {
		out.null = orNull(out.null, null, len(best))
	}
	return out
}

// scalarAggregate computes common aggregates of a query without GROUP BY
// in one pass without group ids, checking ctx between blocks of rows; ok
// is false when it does not apply.
func scalarAggregate(ctx context.Context, rc *evalCtx, a sql.Aggregate) (*vec, bool, error) {
	switch a.Func {
	case sql.AggCountStar:
		out := newVec(sql.TypeInt64, 1)
		out.i[0] = int64(rc.n)
		return out, true, nil
	case sql.AggMin, sql.AggMax:
		return scalarMinMax(ctx, rc, a) // agg_scalar.go
	case sql.AggSum:
		if a.Arg.Type() == sql.TypeInt64 && a.Type == sql.TypeInt64 {
			return scalarSumInt(ctx, rc, a) // agg_scalar.go
		}
	case sql.AggAvg, sql.AggCount:
	default:
		return nil, false, nil
	}
	if a.Arg.Type() != sql.TypeFloat64 {
		return nil, false, nil
	}
	x, err := rc.eval(a.Arg)
	if err != nil {
		return nil, false, err
	}
	var sum float64
	var cnt int64
	n := len(x.f)
	for lo, hi := 0, 0; lo < n; lo = hi {
		if hi, err = blockEnd(ctx, lo, n); err != nil {
			return nil, false, err
		}
		if x.null == nil {
			for _, f := range x.f[lo:hi] {
				sum += f
			}
			cnt += int64(hi - lo)
			continue
		}
		for j, f := range x.f[lo:hi] {
			if !x.null[lo+j] {
				sum += f
				cnt++
			}
		}
	}
	out := newVec(a.Type, 1)
	switch a.Func {
	case sql.AggCount:
		out.i[0] = cnt
		return out, true, nil
	case sql.AggSum:
		out.f[0] = sum
	case sql.AggAvg:
		out.f[0] = sum / float64(cnt)
	}
	if cnt == 0 {
		out.setNull(0)
	}
	return out, true, nil
}

// denseGroups assigns group ids (in first-seen order) for several keys or
// a time key: each key becomes a dense local code per row — a tag's
// dictionary id, a time bucket's index from the smallest (or, for keys not
// evenly spaced, an id from a map of distinct values) — and the codes are
// combined in mixed radix. When the product of the key cardinalities is
// small the combined code indexes a slot table directly; otherwise a map
// of uint64 codes assigns ids. It returns a row of each group.
func denseGroups(ctx context.Context, q *sql.Query, keyVecs []*vec, gids []int32) ([]int, error) {
	n := len(gids)
	codes := make([]uint64, n)
	space := uint64(1)
	local := make([]uint32, n)
	for i, v := range keyVecs {
		card, err := localCodes(ctx, v, q.GroupBy[i].Bucket.Width, local)
		if errors.Is(err, errNotDense) {
			return stringGroups(ctx, keyVecs, gids)
		}
		if err != nil {
			return nil, err
		}
		if space > math.MaxUint64/card {
			return stringGroups(ctx, keyVecs, gids)
		}
		for k := range codes {
			codes[k] += uint64(local[k]) * space
		}
		space *= card
	}
	// The loops below check ctx every checkEvery rows: over millions of
	// rows and groups (GROUP BY time(1ms), host) the map alone runs for
	// hundreds of milliseconds, the largest step of such a query that
	// checked no context (it stopped up to 0.7 s of CPU past a 300 ms
	// --query-timeout).
	var first []int
	if space <= 1<<22 || space <= 4*uint64(n) {
		slot := make([]int32, space) // code → gid+1
		for k, c := range codes {
			if k%checkEvery == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			s := &slot[c]
			if *s == 0 {
				first = append(first, k)
				*s = int32(len(first))
			}
			gids[k] = *s - 1
		}
		return first, nil
	}
	m := map[uint64]int32{}
	for k, c := range codes {
		if k%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		g, ok := m[c]
		if !ok {
			g = int32(len(first))
			m[c] = g
			first = append(first, k)
		}
		gids[k] = g
	}
	return first, nil
}

// localCodes sets local[k] to a dense code of v's row k (0 for NULL) and
// returns how many codes there are. width, when positive, is the spacing
// of an int64 key's values (a date_bin width): codes are then computed,
// not looked up.
func localCodes(ctx context.Context, v *vec, width int64, local []uint32) (uint64, error) {
	if v.ids != nil {
		for k, id := range v.ids {
			local[k] = uint32(id + 1)
		}
		return uint64(len(v.dict)) + 1, nil
	}
	if v.b != nil { // a boolean key: NULL, false, true
		for k, b := range v.b {
			switch {
			case v.isNull(k):
				local[k] = 0
			case b:
				local[k] = 2
			default:
				local[k] = 1
			}
		}
		return 3, nil
	}
	if v.f != nil { // a float key: an id per distinct value (-0 is 0, NaNs one value)
		m := map[uint64]uint32{}
		for k, f := range v.f {
			if k%checkEvery == 0 {
				if err := ctx.Err(); err != nil {
					return 0, err
				}
			}
			if v.isNull(k) {
				local[k] = 0
				continue
			}
			bits := math.Float64bits(f)
			switch {
			case f == 0:
				bits = 0
			case f != f:
				bits = math.Float64bits(math.NaN())
			}
			c, ok := m[bits]
			if !ok {
				c = uint32(len(m)) + 1
				m[bits] = c
			}
			local[k] = c
		}
		return uint64(len(m)) + 1, nil
	}
	if v.i == nil {
		return 0, errNotDense
	}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for k, t := range v.i {
		if !v.isNull(k) {
			lo, hi = min(lo, t), max(hi, t)
		}
	}
	if lo > hi { // all NULL
		clear(local)
		return 1, nil
	}
	if width > 0 && uint64(hi-lo)/uint64(width) < 1<<24 {
		even := true
		for k, t := range v.i {
			d := uint64(t - lo)
			if v.isNull(k) {
				local[k] = 0
				continue
			}
			if d%uint64(width) != 0 {
				even = false
				break
			}
			local[k] = uint32(d/uint64(width)) + 1
		}
		if even {
			return uint64(hi-lo)/uint64(width) + 2, nil
		}
	}
	m := map[int64]uint32{}
	for k, t := range v.i {
		if k%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		if v.isNull(k) {
			local[k] = 0
			continue
		}
		c, ok := m[t]
		if !ok {
			c = uint32(len(m)) + 1
			m[t] = c
		}
		local[k] = c
	}
	return uint64(len(m)) + 1, nil
}

var errNotDense = errors.New("group key is neither a tag nor an integer")

// stringGroups assigns group ids by the keys' encoded bytes: the general
// path, for key spaces too large to combine into one integer.
func stringGroups(ctx context.Context, keyVecs []*vec, gids []int32) ([]int, error) {
	var first []int
	m := map[string]int32{}
	var buf []byte
	for k := range gids {
		if k%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		buf = buf[:0]
		for _, v := range keyVecs {
			if v.ids != nil {
				buf = binary.LittleEndian.AppendUint32(buf, uint32(v.ids[k]))
			} else {
				buf = appendKey(buf, v, k)
			}
		}
		g, ok := m[string(buf)]
		if !ok {
			g = int32(len(first))
			m[string(buf)] = g
			first = append(first, k)
		}
		gids[k] = g
	}
	return first, nil
}

// noRows returns n row indexes set to -1: no row chosen yet for any group.
func noRows(n int) []int {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = -1
	}
	return rows
}
