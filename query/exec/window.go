package exec

import (
	"context"
	"fmt"
	"math"

	"github.com/siltdb/silt/query/sql"
)

// window computes a RelWindow: its input's columns and one more per
// window function. Each function sorts the rows by its partition keys
// and ORDER BY (a permutation; the input stays in place), then walks the
// partitions: ranking functions count positions and peer groups (rows
// equal in every ORDER BY key), lag and lead read other positions, and
// frame functions aggregate over each row's frame: running for a frame
// that starts at the partition's first row, backwards for one that ends
// at its last, directly otherwise (bounded ROWS frames).
func (r *relRun) window(rel *sql.Rel) (*relation, error) {
	in, err := r.rel(rel.Input)
	if err != nil {
		return nil, err
	}
	tbl := derivedTable(in)
	m := &relation{n: in.n, cols: append([]*vec(nil), in.cols...)}
	var added int64
	for _, w := range rel.Windows {
		v, err := r.windowColumn(tbl, in.n, w)
		if err != nil {
			return nil, err
		}
		m.cols = append(m.cols, v)
		b := vecBytes(v)
		added += b
		if err := r.charge(b+8*int64(in.n), "a window function's column"); err != nil {
			return nil, err
		}
		r.used -= 8 * int64(in.n) // the sort permutation is freed
	}
	m.bytes = added
	return m, nil
}

func (r *relRun) windowColumn(tbl *table, n int, w sql.WindowFunc) (*vec, error) {
	ec := &evalCtx{n: n, tbl: tbl, all: true}
	parts := make([]*vec, len(w.Partition))
	var err error
	for i, e := range w.Partition {
		if parts[i], err = ec.eval(e); err != nil {
			return nil, err
		}
	}
	ords := make([]*vec, len(w.Order))
	for i, k := range w.Order {
		if ords[i], err = ec.eval(k.Expr); err != nil {
			return nil, err
		}
	}
	var args []*vec
	for _, e := range w.Args {
		v, err := ec.eval(e)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	var x *vec
	if w.Agg != nil && w.Agg.Arg != nil {
		if x, err = ec.eval(w.Agg.Arg); err != nil {
			return nil, err
		}
	}
	perm := identity(n)
	keys := append(append([]*vec(nil), parts...), ords...)
	spec := make([]sql.SortKey, 0, len(keys))
	for range parts {
		spec = append(spec, sql.SortKey{Output: -1})
	}
	spec = append(spec, w.Order...)
	if len(keys) > 0 {
		if err := sortRows(r.ctx, perm, keys, spec); err != nil {
			return nil, err
		}
	}
	out := newVec(w.Type, n)
	setNull := func(k int) { out.setNull(k) }
	// The walk checks the context once a partition and, within one, every
	// ctxCheckRows positions of each of its passes (check): a partition can
	// be every row of the input.
	check := func(k int) error {
		if k%ctxCheckRows == 0 {
			return r.ctx.Err()
		}
		return nil
	}
	for ps := 0; ps < n; {
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		pe := ps + 1
		for pe < n && sameRow(parts, perm[ps], perm[pe]) {
			if err := check(pe - ps); err != nil {
				return nil, err
			}
			pe++
		}
		// peerEnd[j-ps] is one past the last peer of position j; peerStart
		// the first.
		peerStart := make([]int, pe-ps)
		peerEnd := make([]int, pe-ps)
		for j := ps; j < pe; {
			e := j + 1
			for e < pe && sameRow(ords, perm[j], perm[e]) {
				if err := check(e - ps); err != nil {
					return nil, err
				}
				e++
			}
			for k := j; k < e; k++ {
				peerStart[k-ps], peerEnd[k-ps] = j, e
			}
			j = e
		}
		var rf *rangeFrame
		if w.Frame.RangeOffset() {
			rf = newRangeFrame(ords[0], w.Order[0].Desc, w.Frame, perm, ps, pe)
		}
		if err := fillWindow(r.ctx, out, w, args, x, perm, ps, pe, peerStart, peerEnd, rf, setNull); err != nil {
			return nil, err
		}
		ps = pe
	}
	return out, nil
}

// sameRow reports whether rows a and b are equal in every key (NULLs
// equal each other).
func sameRow(keys []*vec, a, b int) bool {
	for _, v := range keys {
		an, bn := v.isNull(a) || v.typ == sql.TypeNull, v.isNull(b) || v.typ == sql.TypeNull
		if an != bn {
			return false
		}
		if !an && compareAt(v, a, v, b) != 0 {
			return false
		}
	}
	return true
}

// fillWindow computes w for the partition at positions [ps, pe) of perm.
// rf finds the bounds of a RANGE frame with an offset (nil otherwise).
// Frame functions check ctx once ctxCheckRows positions and frame rows
// added have passed since the last check (a frame can be the whole
// partition); the ranking functions, a few operations a position, do not.
// The counting costs an addition next to a frame's closure and method
// calls.
func fillWindow(ctx context.Context, out *vec, w sql.WindowFunc, args []*vec, x *vec, perm []int, ps, pe int, peerStart, peerEnd []int, rf *rangeFrame, setNull func(int)) error {
	rows := pe - ps
	switch w.Name {
	case "row_number":
		for j := ps; j < pe; j++ {
			out.i[perm[j]] = int64(j - ps + 1)
		}
		return nil
	case "rank":
		for j := ps; j < pe; j++ {
			out.i[perm[j]] = int64(peerStart[j-ps] - ps + 1)
		}
		return nil
	case "dense_rank":
		d := int64(0)
		for j := ps; j < pe; j++ {
			if peerStart[j-ps] == j {
				d++
			}
			out.i[perm[j]] = d
		}
		return nil
	case "percent_rank":
		for j := ps; j < pe; j++ {
			if rows > 1 {
				out.f[perm[j]] = float64(peerStart[j-ps]-ps) / float64(rows-1)
			}
		}
		return nil
	case "cume_dist":
		for j := ps; j < pe; j++ {
			out.f[perm[j]] = float64(peerEnd[j-ps]-ps) / float64(rows)
		}
		return nil
	case "ntile":
		if args[0].isNull(0) {
			for j := ps; j < pe; j++ {
				setNull(perm[j])
			}
			return nil
		}
		b := args[0].i[0]
		per, extra := int64(rows)/b, int64(rows)%b
		// The first extra buckets hold per+1 rows.
		for j := ps; j < pe; j++ {
			i := int64(j - ps)
			var t int64
			if i < extra*(per+1) {
				t = i / (per + 1)
			} else {
				t = extra + (i-extra*(per+1))/max(per, 1)
			}
			out.i[perm[j]] = t + 1
		}
		return nil
	case "lag", "lead":
		src, offv, def := args[0], args[1], args[2]
		if offv.isNull(0) {
			for j := ps; j < pe; j++ {
				setNull(perm[j])
			}
			return nil
		}
		off := offv.i[0]
		if w.Name == "lag" {
			off = -off
		}
		for j := ps; j < pe; j++ {
			t := int64(j) + off
			if t >= int64(ps) && t < int64(pe) {
				copyValue(out, perm[j], src, perm[t])
			} else {
				copyValue(out, perm[j], def, perm[j])
			}
		}
		return nil
	}
	// Frame functions.
	frame := func(j int) (int, int) { // [lo, hi), clamped to the partition
		f := w.Frame
		var lo, hi int
		switch f.Start {
		case sql.BoundUnboundedPreceding:
			lo = ps
		case sql.BoundCurrentRow:
			lo = j
			if !f.Rows {
				lo = peerStart[j-ps]
			}
		case sql.BoundPreceding, sql.BoundFollowing:
			switch {
			case f.Rows && f.Start == sql.BoundPreceding:
				lo = satInt(j, -f.StartN)
			case f.Rows:
				lo = satInt(j, f.StartN)
			case rf.null(j):
				lo = peerStart[j-ps] // a NULL key's frame is its NULL peers
			default:
				lo = rf.lo[j-ps]
			}
		}
		switch f.End {
		case sql.BoundUnboundedFollowing:
			hi = pe
		case sql.BoundCurrentRow:
			hi = j + 1
			if !f.Rows {
				hi = peerEnd[j-ps]
			}
		case sql.BoundPreceding, sql.BoundFollowing:
			switch {
			case f.Rows && f.End == sql.BoundPreceding:
				hi = satInt(j, -f.EndN) + 1
			case f.Rows:
				hi = satInt(j, f.EndN) + 1
			case rf.null(j):
				hi = peerEnd[j-ps]
			default:
				hi = rf.hi[j-ps]
			}
		}
		lo, hi = max(lo, ps), min(hi, pe)
		if hi < lo {
			hi = lo
		}
		return lo, hi
	}
	switch w.Name {
	case "first_value", "last_value":
		src := args[0]
		for bs := ps; bs < pe; {
			be, err := blockEnd(ctx, bs, pe)
			if err != nil {
				return err
			}
			for j := bs; j < be; j++ {
				lo, hi := frame(j)
				switch {
				case lo >= hi:
					setNull(perm[j])
				case w.Name == "first_value":
					copyValue(out, perm[j], src, perm[lo])
				default:
					copyValue(out, perm[j], src, perm[hi-1])
				}
			}
			bs = be
		}
		return nil
	case "nth_value":
		src, nv := args[0], args[1]
		for bs := ps; bs < pe; {
			be, err := blockEnd(ctx, bs, pe)
			if err != nil {
				return err
			}
			for j := bs; j < be; j++ {
				lo, hi := frame(j)
				if nv.isNull(0) || int64(hi-lo) < nv.i[0] {
					setNull(perm[j])
					continue
				}
				copyValue(out, perm[j], src, perm[lo+int(nv.i[0])-1])
			}
			bs = be
		}
		return nil
	}
	if w.Agg == nil {
		return fmt.Errorf("exec: window function %s", w.Name)
	}
	acc := newFrameAcc(w.Agg, x)
	emit := func(j int) error { return acc.result(out, perm[j], setNull) }
	switch {
	case w.Frame.Start == sql.BoundUnboundedPreceding:
		// hi never decreases: add rows as the frame grows.
		at, since := ps, 0
		for j := ps; j < pe; j++ {
			_, hi := frame(j)
			if since += 1 + max(hi-at, 0); since >= ctxCheckRows {
				if err := ctx.Err(); err != nil {
					return err
				}
				since = 0
			}
			for ; at < hi; at++ {
				if err := acc.add(perm[at]); err != nil {
					return err
				}
			}
			if err := emit(j); err != nil {
				return err
			}
		}
	case w.Frame.End == sql.BoundUnboundedFollowing:
		// lo never increases going backwards.
		at, since := pe, 0
		for j := pe - 1; j >= ps; j-- {
			lo, _ := frame(j)
			if since += 1 + max(at-lo, 0); since >= ctxCheckRows {
				if err := ctx.Err(); err != nil {
					return err
				}
				since = 0
			}
			for ; at > lo; at-- {
				if err := acc.add(perm[at-1]); err != nil {
					return err
				}
			}
			if err := emit(j); err != nil {
				return err
			}
		}
	default:
		since := 0 // positions and frame rows since the last check
		for j := ps; j < pe; j++ {
			lo, hi := frame(j)
			if since += 1 + hi - lo; since >= ctxCheckRows {
				if err := ctx.Err(); err != nil {
					return err
				}
				since = 0
			}
			acc.reset()
			for k := lo; k < hi; k++ {
				if err := acc.add(perm[k]); err != nil {
					return err
				}
			}
			if err := emit(j); err != nil {
				return err
			}
		}
	}
	return nil
}

// satInt is j+d within the int range.
func satInt(j int, d int64) int {
	r := int64(j) + d
	if d > 0 && r < int64(j) {
		return math.MaxInt
	}
	if d < 0 && r > int64(j) {
		return math.MinInt
	}
	return int(r)
}

// copyValue sets row k of dst to row j of src (same type).
func copyValue(dst *vec, k int, src *vec, j int) {
	if src.isNull(j) || src.typ == sql.TypeNull {
		dst.setNull(k)
		return
	}
	switch dst.typ {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		dst.i[k] = src.i[j]
	case sql.TypeUint64:
		dst.u[k] = src.u[j]
	case sql.TypeFloat64:
		dst.f[k] = src.f[j]
	case sql.TypeBool:
		dst.b[k] = src.b[j]
	case sql.TypeString:
		dst.s[k] = src.str(j)
	}
}

// frameAcc accumulates an aggregate over a window frame's rows.
type frameAcc struct {
	a    *sql.Aggregate
	x    *vec
	n    int64 // rows counted (non-NULL x; every row for count(*))
	f    float64
	i    int64
	u    uint64
	best int // min/max: the row holding it, -1 none
}

func newFrameAcc(a *sql.Aggregate, x *vec) *frameAcc {
	return &frameAcc{a: a, x: x, best: -1}
}

func (c *frameAcc) reset() { c.n, c.f, c.i, c.u, c.best = 0, 0, 0, 0, -1 }

func (c *frameAcc) add(k int) error {
	if c.a.Func == sql.AggCountStar {
		c.n++
		return nil
	}
	x := c.x
	if x.isNull(k) || x.typ == sql.TypeNull {
		return nil
	}
	c.n++
	switch c.a.Func {
	case sql.AggSum, sql.AggAvg:
		switch x.typ {
		case sql.TypeFloat64:
			c.f += x.f[k]
		case sql.TypeInt64:
			if c.a.Func == sql.AggAvg {
				c.f += float64(x.i[k])
				return nil
			}
			s := c.i + x.i[k]
			if (x.i[k] > 0 && s < c.i) || (x.i[k] < 0 && s > c.i) {
				return errBigintRange
			}
			c.i = s
		case sql.TypeUint64:
			if c.a.Func == sql.AggAvg {
				c.f += float64(x.u[k])
				return nil
			}
			s := c.u + x.u[k]
			if s < c.u {
				return errUintRange
			}
			c.u = s
		}
	case sql.AggMin, sql.AggMax:
		want := -1
		if c.a.Func == sql.AggMax {
			want = 1
		}
		if c.best < 0 || compareAt(x, k, x, c.best) == want {
			c.best = k
		}
	}
	return nil
}

// result writes the aggregate of the rows added into row k of out.
func (c *frameAcc) result(out *vec, k int, setNull func(int)) error {
	switch c.a.Func {
	case sql.AggCountStar, sql.AggCount:
		out.i[k] = c.n
		return nil
	}
	if c.n == 0 {
		setNull(k)
		return nil
	}
	switch c.a.Func {
	case sql.AggSum:
		switch out.typ {
		case sql.TypeFloat64:
			out.f[k] = c.f
		case sql.TypeInt64:
			out.i[k] = c.i
		case sql.TypeUint64:
			out.u[k] = c.u
		}
	case sql.AggAvg:
		out.f[k] = c.f / float64(c.n)
	case sql.AggMin, sql.AggMax:
		copyValue(out, k, c.x, c.best)
	}
	return nil
}
