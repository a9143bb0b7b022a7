package exec

import (
	"context"
	"fmt"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// relation is a materialized sql.Rel: n rows of dense column vectors.
type relation struct {
	n     int
	cols  []*vec
	bytes int64 // what its vectors hold, as charged to the query
}

// relRun runs the relations of one statement. Every relation it
// materializes stays charged to the statement's memory limit until the
// statement ends, and each query it runs gets what is left of the limit.
type relRun struct {
	ctx     context.Context
	src     BatchSource
	stats   *query.Stats
	lim     Limits
	used    int64 // bytes of relations held
	scanned int64 // points scanned by every query
	cache   map[*sql.Rel]*relation
	// parent is the run this one is a part of (a correlated subquery's
	// or a recursive round's, correlated.go): relations computed there
	// are reused, relations computed here are dropped with this run.
	parent *relRun
	// corr holds the answers of correlated subqueries, per subquery and
	// per encoded combination of outer values (correlated.go).
	corr map[*sql.Subquery]map[string]*corrAnswer
}

// runComposite runs a query that reads a relation (Input) or holds
// subqueries.
func runComposite(ctx context.Context, q *sql.Query, src BatchSource, stats *query.Stats, lim Limits) ([][]any, int64, error) {
	r := &relRun{ctx: ctx, src: src, stats: stats, lim: lim, cache: map[*sql.Rel]*relation{}}
	outs, perm, err := r.query(q)
	if err != nil {
		return nil, 0, err
	}
	rows, err := toRows(ctx, outs, perm, r.used, lim.MaxMemoryBytes, lim.res)
	return rows, r.scanned, err
}

// charge adds b bytes held for what to the statement's total.
func (r *relRun) charge(b int64, what string) error {
	r.used += b
	if err := r.lim.res.grow(b); err != nil {
		return err
	}
	if r.lim.MaxMemoryBytes > 0 && r.used > r.lim.MaxMemoryBytes {
		return fmt.Errorf("%w: %s brings the rows held for the statement to %d bytes, past %d bytes (--query-max-memory); narrow the time range or the columns, or filter inside the subqueries",
			ErrMemoryLimit, what, r.used, r.lim.MaxMemoryBytes)
	}
	return nil
}

// remaining is the limit a query run now gets: what the held relations
// leave of the statement's.
func (r *relRun) remaining() Limits {
	if r.lim.MaxMemoryBytes <= 0 {
		return r.lim
	}
	l := r.lim
	l.MaxMemoryBytes = max(1, r.lim.MaxMemoryBytes-r.used)
	return l
}

// query runs q (its subqueries first) and returns its answer as rows perm
// of outs.
func (r *relRun) query(q *sql.Query) ([]*vec, []int, error) {
	q, err := q.BindSubqueries(r.subRows)
	if err != nil {
		return nil, nil, err
	}
	var tbl *table
	switch {
	case q.Input != nil:
		in, err := r.rel(q.Input)
		if err != nil {
			return nil, nil, err
		}
		tbl = derivedTable(in)
		tbl.bytes, tbl.maxBytes = r.used, r.lim.MaxMemoryBytes
	case q.Table != nil:
		if tbl, err = materialize(r.ctx, q, r.src, r.stats, r.remaining()); err != nil {
			return nil, nil, err
		}
	}
	if tbl != nil {
		tbl.corr = r
	}
	outs, perm, scanned, err := executeVecs(r.ctx, q, tbl)
	if err != nil {
		return nil, nil, err
	}
	r.scanned += scanned
	return outs, perm, nil
}

// derivedTable is a table over a relation's columns.
func derivedTable(in *relation) *table {
	t := &table{n: in.n, derived: make(map[int]*vec, len(in.cols))}
	for i, v := range in.cols {
		t.derived[i] = v
	}
	return t
}

// derivedVector returns a derived table's column.
func (t *table) derivedVector(c sql.Column) (*vec, error) {
	v := t.derived[c.Index]
	if v == nil {
		return nil, fmt.Errorf("exec: column %q (%d) of a derived table", c.Name, c.Index)
	}
	return v, nil
}

// rel materializes rel, once per statement.
func (r *relRun) rel(rel *sql.Rel) (*relation, error) {
	for p := r; p != nil; p = p.parent {
		if m, ok := p.cache[rel]; ok {
			return m, nil
		}
	}
	if err := r.ctx.Err(); err != nil {
		return nil, err
	}
	var m *relation
	var err error
	switch rel.Kind {
	case sql.RelSelect:
		m, err = r.selectRel(rel)
	case sql.RelSetOp:
		m, err = r.setOp(rel)
	case sql.RelJoin:
		m, err = r.join(rel)
	case sql.RelWindow:
		m, err = r.window(rel)
	case sql.RelRecursive:
		m, err = r.recursive(rel) // recursive.go
	case sql.RelWorkTable:
		err = fmt.Errorf("exec: recursive reference to %q outside its recursive term", rel.Name)
	default:
		err = fmt.Errorf("exec: relation kind %d", rel.Kind)
	}
	if err != nil {
		return nil, err
	}
	r.cache[rel] = m
	return m, nil
}

// selectRel runs a query and keeps its answer as dense vectors.
func (r *relRun) selectRel(rel *sql.Rel) (*relation, error) {
	outs, perm, err := r.query(rel.Query)
	if err != nil {
		return nil, err
	}
	m := &relation{n: len(perm), cols: make([]*vec, len(outs))}
	for i, v := range outs {
		m.cols[i] = dense(v, perm)
	}
	return m, r.hold(m, "a subquery's "+fmt.Sprint(m.n)+" rows")
}

// hold charges a relation's vectors.
func (r *relRun) hold(m *relation, what string) error {
	for _, v := range m.cols {
		m.bytes += vecBytes(v)
	}
	return r.charge(m.bytes, what)
}

// dense returns rows idx of v as a vector with its own arrays and plain
// strings (no dictionary), of v's type.
func dense(v *vec, idx []int) *vec {
	if v.typ == sql.TypeNull {
		return newVec(sql.TypeNull, len(idx))
	}
	out := v.gather(idx)
	if out.ids != nil {
		s := make([]string, len(idx))
		for k := range s {
			s[k] = out.str(k)
		}
		out.ids, out.dict, out.s = nil, nil, s
	}
	return out
}

// vecBytes is what a dense vector's arrays take (string bytes shared with
// the scanned columns are not counted; those of computed strings are).
func vecBytes(v *vec) int64 {
	b := int64(len(v.null)) + int64(len(v.b))
	b += 8 * int64(len(v.i)+len(v.u)+len(v.f))
	b += 16 * int64(len(v.s))
	b += 4 * int64(len(v.ids))
	for _, s := range v.s {
		b += int64(len(s))
	}
	return b
}

// subRows runs a subquery and returns its first column's values, for
// sql.Query.BindSubqueries.
func (r *relRun) subRows(rel *sql.Rel) ([][]sql.Value, error) {
	m, err := r.rel(rel)
	if err != nil {
		return nil, err
	}
	rows := make([][]sql.Value, m.n)
	if len(m.cols) == 0 {
		return rows, nil
	}
	v := m.cols[0]
	for k := range rows {
		rows[k] = []sql.Value{valueAt(v, k)}
	}
	return rows, nil
}

// valueAt is row k of v as a constant.
func valueAt(v *vec, k int) sql.Value {
	if v.isNull(k) || v.typ == sql.TypeNull {
		return sql.NullValue(v.typ)
	}
	switch v.typ {
	case sql.TypeInt64:
		return sql.IntValue(v.i[k])
	case sql.TypeTimestamp:
		return sql.TimestampValue(v.i[k])
	case sql.TypeUint64:
		return sql.UintValue(v.u[k])
	case sql.TypeFloat64:
		return sql.FloatValue(v.f[k])
	case sql.TypeBool:
		return sql.BoolValue(v.b[k])
	case sql.TypeString:
		return sql.StringValue(v.str(k))
	}
	return sql.NullValue(v.typ)
}

// builder appends values to a vector of one type.
type builder struct{ v *vec }

func newBuilder(t sql.Type, capacity int) *builder {
	v := &vec{typ: t}
	switch t {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		v.i = make([]int64, 0, capacity)
	case sql.TypeUint64:
		v.u = make([]uint64, 0, capacity)
	case sql.TypeFloat64:
		v.f = make([]float64, 0, capacity)
	case sql.TypeBool:
		v.b = make([]bool, 0, capacity)
	case sql.TypeString:
		v.s = make([]string, 0, capacity)
	}
	return &builder{v: v}
}

// add appends row k of src (same type; k < 0 or src nil: NULL).
func (b *builder) add(src *vec, k int) {
	v := b.v
	null := src == nil || k < 0 || src.isNull(k) || src.typ == sql.TypeNull
	if null {
		if v.null == nil {
			v.null = make([]bool, v.n, cap(v.i)+cap(v.u)+cap(v.f)+cap(v.b)+cap(v.s)+1)
		}
	}
	if v.null != nil {
		v.null = append(v.null, null)
	}
	v.n++
	switch v.typ {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		var x int64
		if !null {
			x = src.i[k]
		}
		v.i = append(v.i, x)
	case sql.TypeUint64:
		var x uint64
		if !null {
			x = src.u[k]
		}
		v.u = append(v.u, x)
	case sql.TypeFloat64:
		var x float64
		if !null {
			x = src.f[k]
		}
		v.f = append(v.f, x)
	case sql.TypeBool:
		var x bool
		if !null {
			x = src.b[k]
		}
		v.b = append(v.b, x)
	case sql.TypeString:
		var x string
		if !null {
			x = src.str(k)
		}
		v.s = append(v.s, x)
	case sql.TypeNull:
		if !null {
			v.null[len(v.null)-1] = true
		}
	}
}

// gatherNull returns rows idx of v, NULL where idx is -1.
func gatherNull(v *vec, idx []int32) *vec {
	b := newBuilder(v.typ, len(idx))
	for _, k := range idx {
		b.add(v, int(k))
	}
	return b.v
}

// castTo converts v to type t when it differs (int64 to float64 in a set
// operation or a USING column).
func castTo(v *vec, t sql.Type) (*vec, error) {
	if v.typ == t || v.typ == sql.TypeNull {
		return v, nil
	}
	return cast(v, t)
}
