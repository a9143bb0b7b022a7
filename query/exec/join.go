package exec

import (
	"fmt"

	"github.com/siltdb/silt/query/sql"
)

// joinBatch is how many candidate pairs a join collects before it tests
// them against the residual ON condition: it bounds the memory of
// candidates that the condition will mostly reject (a cross join with a
// non-equality condition).
const joinBatch = 1 << 16

// join computes a RelJoin: a hash join on the equality keys (a build
// table over R's rows keyed by their encoded key values; rows with a NULL
// key match nothing), candidate pairs tested against the rest of the ON
// condition a batch at a time, then the outer side's unmatched rows with
// NULLs for the other side. Without keys every pair is a candidate (a
// nested loop). Each kept pair is charged to the statement's memory limit
// as it is found, so an exploding join stops at the limit.
func (r *relRun) join(rel *sql.Rel) (*relation, error) {
	l, err := r.rel(rel.L)
	if err != nil {
		return nil, err
	}
	rr, err := r.rel(rel.R)
	if err != nil {
		return nil, err
	}
	m, nl := len(rel.Merged), len(l.cols)
	side := func(in *relation, base int) *table {
		t := &table{n: in.n, derived: map[int]*vec{}}
		for i, v := range in.cols {
			t.derived[base+i] = v
		}
		return t
	}
	lt, rt := side(l, m), side(rr, m+nl)
	lk, rk := make([]*vec, len(rel.LeftKeys)), make([]*vec, len(rel.RightKeys))
	for i := range rel.LeftKeys {
		if lk[i], err = (&evalCtx{n: l.n, tbl: lt, all: true}).eval(rel.LeftKeys[i]); err != nil {
			return nil, err
		}
		if rk[i], err = (&evalCtx{n: rr.n, tbl: rt, all: true}).eval(rel.RightKeys[i]); err != nil {
			return nil, err
		}
	}
	// Bytes a joined row takes in the output columns.
	rowBytes := int64(8)
	for _, c := range rel.Cols {
		switch c.Type {
		case sql.TypeString:
			rowBytes += 17
		case sql.TypeBool, sql.TypeNull:
			rowBytes += 2
		default:
			rowBytes += 9
		}
	}
	var li, ri []int32 // kept pairs; -1: the NULL side of an outer join
	matchedL, matchedR := make([]bool, l.n), make([]bool, rr.n)
	var candL, candR []int32
	flush := func() error {
		if len(candL) == 0 {
			return nil
		}
		keep := make([]bool, len(candL))
		for k := range keep {
			keep[k] = true
		}
		if rel.On != nil {
			v, err := r.pairEval(rel, l, rr, m, candL, candR)
			if err != nil {
				return err
			}
			for k := range keep {
				keep[k] = v.b[k] && !v.isNull(k)
			}
		}
		n := 0
		for k, ok := range keep {
			if !ok {
				continue
			}
			li, ri = append(li, candL[k]), append(ri, candR[k])
			matchedL[candL[k]], matchedR[candR[k]] = true, true
			n++
		}
		candL, candR = candL[:0], candR[:0]
		if err := r.ctx.Err(); err != nil {
			return err
		}
		return r.charge(int64(n)*rowBytes, "the join's rows")
	}
	add := func(a, b int) error {
		candL, candR = append(candL, int32(a)), append(candR, int32(b))
		if len(candL) >= joinBatch {
			return flush()
		}
		return nil
	}
	if len(lk) > 0 {
		// Build over R: head[key] is the first row, next chains the rest.
		head := make(map[string]int32, rr.n)
		next := make([]int32, rr.n)
		var buf []byte
		hasNull := func(keys []*vec, k int) bool {
			for _, v := range keys {
				if v.isNull(k) || v.typ == sql.TypeNull {
					return true
				}
			}
			return false
		}
		enc := func(keys []*vec, k int) []byte {
			buf = buf[:0]
			for _, v := range keys {
				buf = appendKey(buf, v, k)
			}
			return buf
		}
		if err := r.charge(int64(rr.n)*(4+48), "the join's hash table"); err != nil {
			return nil, err
		}
		for k := rr.n - 1; k >= 0; k-- { // backwards: chains run in row order
			if err := r.tick(k); err != nil {
				return nil, err
			}
			next[k] = -1
			if hasNull(rk, k) {
				continue
			}
			s := enc(rk, k)
			if h, ok := head[string(s)]; ok {
				next[k] = h
			}
			head[string(s)] = int32(k)
		}
		for a := 0; a < l.n; a++ {
			if err := r.tick(a); err != nil {
				return nil, err
			}
			if hasNull(lk, a) {
				continue
			}
			h, ok := head[string(enc(lk, a))]
			if !ok {
				continue
			}
			for b := h; b >= 0; b = next[b] {
				if err := add(a, int(b)); err != nil {
					return nil, err
				}
			}
		}
		r.used -= int64(rr.n) * (4 + 48) // the hash table is freed
	} else {
		for a := 0; a < l.n; a++ {
			if err := r.tick(a); err != nil {
				return nil, err
			}
			for b := 0; b < rr.n; b++ {
				if err := add(a, b); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	var extra int64
	if rel.Join == sql.JoinLeft || rel.Join == sql.JoinFull {
		for a, ok := range matchedL {
			if !ok {
				li, ri = append(li, int32(a)), append(ri, -1)
				extra++
			}
		}
	}
	if rel.Join == sql.JoinRight || rel.Join == sql.JoinFull {
		for b, ok := range matchedR {
			if !ok {
				li, ri = append(li, -1), append(ri, int32(b))
				extra++
			}
		}
	}
	if err := r.charge(extra*rowBytes, "the outer join's unmatched rows"); err != nil {
		return nil, err
	}
	out := &relation{n: len(li), cols: make([]*vec, 0, len(rel.Cols))}
	for k, pair := range rel.Merged {
		t := rel.Cols[k].Type
		lv, err := castTo(l.cols[pair[0]], t)
		if err != nil {
			return nil, err
		}
		rv, err := castTo(rr.cols[pair[1]], t)
		if err != nil {
			return nil, err
		}
		b := newBuilder(t, len(li))
		for j := range li {
			a, c := int(li[j]), int(ri[j])
			if a >= 0 && !lv.isNull(a) {
				b.add(lv, a)
			} else {
				b.add(rv, c)
			}
		}
		out.cols = append(out.cols, b.v)
	}
	for _, v := range l.cols {
		out.cols = append(out.cols, gatherNull(v, li))
	}
	for _, v := range rr.cols {
		out.cols = append(out.cols, gatherNull(v, ri))
	}
	for _, v := range out.cols {
		out.bytes += vecBytes(v)
	}
	// The rows were charged as found; the vectors replace that estimate.
	r.used += out.bytes - int64(len(li))*rowBytes
	return out, r.charge(0, "the join's columns")
}

// pairEval evaluates the join's residual ON condition over candidate
// pairs: only the columns it reads are gathered.
func (r *relRun) pairEval(rel *sql.Rel, l, rr *relation, m int, ls, rs []int32) (*vec, error) {
	nl := len(l.cols)
	t := &table{n: len(ls), derived: map[int]*vec{}}
	var err error
	sql.Walk(rel.On, func(e sql.Expr) bool {
		c, ok := e.(*sql.ColumnRef)
		if !ok || err != nil {
			return err == nil
		}
		i := c.Column.Index
		if _, done := t.derived[i]; done {
			return true
		}
		switch {
		case i < m:
			err = fmt.Errorf("exec: ON reads a USING column")
		case i < m+nl:
			t.derived[i] = gatherNull(l.cols[i-m], ls)
		default:
			t.derived[i] = gatherNull(rr.cols[i-m-nl], rs)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return (&evalCtx{n: len(ls), tbl: t, all: true}).eval(rel.On)
}
