package exec

import (
	"github.com/siltdb/silt/query/sql"
)

// setOp computes UNION, INTERSECT and EXCEPT, with or without ALL, as
// PostgreSQL does: rows compare as wholes, NULLs equal each other; UNION
// ALL keeps every row; INTERSECT ALL keeps min(m, n) copies of a row that
// is m times in L and n times in R, EXCEPT ALL max(m-n, 0); the others
// keep one copy. The rows come in no particular order.
func (r *relRun) setOp(rel *sql.Rel) (*relation, error) {
	l, err := r.rel(rel.L)
	if err != nil {
		return nil, err
	}
	rr, err := r.rel(rel.R)
	if err != nil {
		return nil, err
	}
	lc, rc := make([]*vec, len(rel.Cols)), make([]*vec, len(rel.Cols))
	for i, c := range rel.Cols {
		if lc[i], err = castTo(l.cols[i], c.Type); err != nil {
			return nil, err
		}
		if rc[i], err = castTo(rr.cols[i], c.Type); err != nil {
			return nil, err
		}
	}
	// Which rows of L and then of R to keep.
	var keepL, keepR []int
	var buf []byte
	key := func(cols []*vec, k int) string {
		buf = buf[:0]
		for _, v := range cols {
			buf = appendKey(buf, v, k)
		}
		return string(buf)
	}
	switch rel.SetOp {
	case sql.SetUnion:
		if rel.All {
			keepL, keepR = identity(l.n), identity(rr.n)
			break
		}
		seen := map[string]struct{}{}
		for k := 0; k < l.n; k++ {
			if err := r.tick(k); err != nil {
				return nil, err
			}
			s := key(lc, k)
			if _, ok := seen[s]; !ok {
				seen[s] = struct{}{}
				keepL = append(keepL, k)
			}
		}
		for k := 0; k < rr.n; k++ {
			if err := r.tick(k); err != nil {
				return nil, err
			}
			s := key(rc, k)
			if _, ok := seen[s]; !ok {
				seen[s] = struct{}{}
				keepR = append(keepR, k)
			}
		}
	case sql.SetIntersect, sql.SetExcept:
		count := map[string]int{}
		for k := 0; k < rr.n; k++ {
			if err := r.tick(k); err != nil {
				return nil, err
			}
			count[key(rc, k)]++
		}
		done := map[string]bool{}
		intersect := rel.SetOp == sql.SetIntersect
		for k := 0; k < l.n; k++ {
			if err := r.tick(k); err != nil {
				return nil, err
			}
			s := key(lc, k)
			n := count[s]
			keep := false
			switch {
			case rel.All && intersect:
				keep = n > 0
				if keep {
					count[s]--
				}
			case rel.All:
				keep = n == 0
				if !keep {
					count[s]--
				}
			default:
				keep = (n > 0) == intersect && !done[s]
				done[s] = true
			}
			if keep {
				keepL = append(keepL, k)
			}
		}
	}
	m := &relation{n: len(keepL) + len(keepR), cols: make([]*vec, len(rel.Cols))}
	for i, c := range rel.Cols {
		b := newBuilder(c.Type, m.n)
		for _, k := range keepL {
			b.add(lc[i], k)
		}
		for _, k := range keepR {
			b.add(rc[i], k)
		}
		m.cols[i] = b.v
	}
	return m, r.hold(m, rel.SetOp.String()+"'s rows")
}

// tick checks the context every ctxCheckRows rows of a loop.
func (r *relRun) tick(k int) error {
	if k%ctxCheckRows == 0 {
		return r.ctx.Err()
	}
	return nil
}
