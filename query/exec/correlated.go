package exec

import (
	"fmt"

	"github.com/siltdb/silt/query/sql"
)

// corrAnswer is a correlated subquery's answer for one combination of
// outer values.
type corrAnswer struct {
	val     *vec // SubScalar: its one row; nil: no row (NULL)
	exists  bool // SubExists; SubIn: the subquery has a row
	set     map[sql.Value]bool
	hasNull bool // SubIn: a NULL among the values
}

// part returns a run for one part of r's statement (a correlated
// subquery for one combination of outer values, a round of a recursive
// query). It reuses the relations r holds and holds its own within what r
// leaves of the memory limit, with its own reservation of the shared
// budget, which done gives back with its relations.
func (r *relRun) part() *relRun {
	c := &relRun{ctx: r.ctx, src: r.src, stats: r.stats, lim: r.remaining(), cache: map[*sql.Rel]*relation{}, parent: r}
	if r.lim.res != nil {
		c.lim.res = &reservation{b: r.lim.res.b}
	}
	return c
}

// done ends a part: what it scanned counts for r; what it held is given
// back.
func (c *relRun) done() {
	c.parent.scanned += c.scanned
	c.lim.res.release()
}

// correlated evaluates a correlated subquery over the rows of c: it
// evaluates the outer expressions, and runs the subquery once per
// distinct combination of their values (answers are kept for the
// statement, so a subquery correlated on a tag runs once per tag value).
func (r *relRun) correlated(x *sql.Subquery, c *evalCtx) (*vec, error) {
	args := make([]*vec, len(x.Outer))
	for i, o := range x.Outer {
		v, err := c.eval(o)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	var xv *vec
	if x.Mode == sql.SubIn {
		v, err := c.eval(x.X)
		if err != nil {
			return nil, err
		}
		xv = v
	}
	if r.corr == nil {
		r.corr = map[*sql.Subquery]map[string]*corrAnswer{}
	}
	answers := r.corr[x]
	if answers == nil {
		answers = map[string]*corrAnswer{}
		r.corr[x] = answers
	}
	var out *builder
	var bools *vec
	if x.Mode == sql.SubScalar {
		out = newBuilder(x.T, c.n)
	} else {
		bools = newVec(sql.TypeBool, c.n)
	}
	vals := make([]sql.Value, len(args))
	var buf []byte
	for k := 0; k < c.n; k++ {
		buf = buf[:0]
		for _, a := range args {
			buf = appendKey(buf, a, k)
		}
		ans, ok := answers[string(buf)]
		if !ok {
			for i, a := range args {
				vals[i] = valueAt(a, k)
			}
			var err error
			if ans, err = r.answer(x, vals); err != nil {
				return nil, err
			}
			answers[string(buf)] = ans
			if err := r.charge(int64(len(buf))+64, "a correlated subquery's answers"); err != nil {
				return nil, err
			}
		}
		switch x.Mode {
		case sql.SubScalar:
			if ans.val == nil {
				out.add(nil, -1)
			} else {
				out.add(ans.val, 0)
			}
		case sql.SubExists:
			bools.b[k] = ans.exists
		case sql.SubIn:
			// PostgreSQL's IN: FALSE over no rows; else TRUE on a match,
			// NULL for a NULL value or a NULL among the values.
			switch {
			case !ans.exists:
			case xv.isNull(k):
				bools.setNull(k)
			case ans.set[valueAt(xv, k)]:
				bools.b[k] = true
			case ans.hasNull:
				bools.setNull(k)
			}
		}
	}
	if out != nil {
		return out.v, nil
	}
	return bools, nil
}

// answer runs a correlated subquery for one combination of outer values.
func (r *relRun) answer(x *sql.Subquery, vals []sql.Value) (*corrAnswer, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	bound, err := x.BindOuter(vals)
	if err != nil {
		return nil, err
	}
	p := r.part()
	defer p.done()
	m, err := p.rel(bound)
	if err != nil {
		return nil, err
	}
	ans := &corrAnswer{exists: m.n > 0}
	switch x.Mode {
	case sql.SubScalar:
		if m.n > 1 {
			return nil, dataError("21000", "more than one row returned by a subquery used as an expression")
		}
		if m.n == 1 {
			ans.val = m.cols[0]
		}
	case sql.SubIn:
		col, err := castTo(m.cols[0], x.Elem)
		if err != nil {
			return nil, err
		}
		ans.set = make(map[sql.Value]bool, m.n)
		for k := 0; k < m.n; k++ {
			if col.isNull(k) || col.typ == sql.TypeNull {
				ans.hasNull = true
				continue
			}
			ans.set[valueAt(col, k)] = true
		}
		if err := r.charge(int64(len(ans.set))*48, fmt.Sprintf("a correlated IN subquery's %d values", len(ans.set))); err != nil {
			return nil, err
		}
	}
	return ans, nil
}
