package exec

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// table is a scanned table materialized into typed column vectors: time,
// the scanned tags dictionary-encoded (per-query dictionaries), the scanned
// fields typed with a validity vector.
type table struct {
	n     int
	time  []int64
	tags  map[int]*tagCol   // by Column.Index
	flds  map[int]*fieldCol // by Column.Index
	stats int64             // points scanned
}

type tagCol struct {
	nulls int     // rows without the tag
	null  []bool  // per row: tag absent
	ids   []int32 // -1: NULL (tag absent)
	dict  []string
	idx   map[string]int32
}

type fieldCol struct {
	typ   sql.Type
	nulls int    // rows without a value
	null  []bool // validity, inverted: true where the value is NULL
	f     []float64
	i     []int64
	u     []uint64
	b     []bool
	s     []string
}

const checkEvery = 4096

// materialize scans q.Table, keeping points inside q.TimeRange and the
// q.Scan columns.
func materialize(ctx context.Context, q *sql.Query, src PointSource, stats *query.Stats, lim Limits) (*table, error) {
	t := &table{tags: map[int]*tagCol{}, flds: map[int]*fieldCol{}}
	tagSlot := map[string]*tagCol{}
	type fslot struct {
		fc  *fieldCol
		typ columnar.FieldType
	}
	fieldSlot := map[string]fslot{}
	var tagList []*tagCol
	var fieldList []*fieldCol
	for _, c := range q.Scan {
		switch c.Kind {
		case sql.KindTag:
			tc := &tagCol{idx: map[string]int32{}}
			t.tags[c.Index] = tc
			tagSlot[c.Name] = tc
			tagList = append(tagList, tc)
		case sql.KindField:
			fc := &fieldCol{typ: c.Type}
			t.flds[c.Index] = fc
			fieldSlot[c.Name] = fslot{fc, fieldType(c.Type)}
			fieldList = append(fieldList, fc)
		}
	}
	if q.TimeRange.IsEmpty() {
		return t, nil
	}
	tr := q.TimeRange
	filters := tagFilters(q.Residual)
	// Bytes a materialized row takes: time, a dictionary id and null flag
	// per tag, a value and null flag per field (strings: header only).
	rowBytes := int64(8 + 5*len(tagList))
	for _, fc := range fieldList {
		if fc.typ == sql.TypeString {
			rowBytes += 17
		} else {
			rowBytes += 9
		}
	}
	spec := ScanSpec{Table: q.Table.Name, Time: tr, Columns: make([]string, len(q.Scan)), Tags: tagSets(q.Residual)}
	for i, c := range q.Scan {
		spec.Columns[i] = c.Name
	}
	err := src.ScanPoints(ctx, spec, stats, func(p *columnar.Point) error {
		t.stats++
		if t.stats%checkEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !tr.Contains(p.Time) {
			return nil
		}
		for _, f := range filters {
			if !f.pass(p.Tags) {
				return nil
			}
		}
		if lim.MaxMemoryBytes > 0 && int64(t.n+1)*rowBytes > lim.MaxMemoryBytes {
			return fmt.Errorf("%w: %d rows of %d bytes passed %d bytes (--query-max-memory); narrow the time range or the columns",
				ErrMemoryLimit, t.n+1, rowBytes, lim.MaxMemoryBytes)
		}
		t.time = append(t.time, p.Time)
		for _, tc := range tagList {
			tc.ids = append(tc.ids, -1)
			tc.null = append(tc.null, true)
			tc.nulls++
		}
		for _, fc := range fieldList {
			fc.null = append(fc.null, true)
			fc.nulls++
			switch fc.typ {
			case sql.TypeFloat64:
				fc.f = append(fc.f, 0)
			case sql.TypeInt64:
				fc.i = append(fc.i, 0)
			case sql.TypeUint64:
				fc.u = append(fc.u, 0)
			case sql.TypeBool:
				fc.b = append(fc.b, false)
			case sql.TypeString:
				fc.s = append(fc.s, "")
			}
		}
		row := t.n
		t.n++
		if len(tagList) > 0 {
			for _, tv := range p.Tags {
				tc := tagSlot[tv.Key]
				if tc == nil {
					continue
				}
				id, ok := tc.idx[tv.Value]
				if !ok {
					s := strings.Clone(tv.Value)
					id = int32(len(tc.dict))
					tc.dict = append(tc.dict, s)
					tc.idx[s] = id
				}
				if tc.ids[row] < 0 {
					tc.nulls--
				}
				tc.ids[row] = id
				tc.null[row] = false
			}
		}
		if len(fieldList) > 0 {
			for _, fv := range p.Fields {
				fs, ok := fieldSlot[fv.Key]
				if !ok || fs.typ != fv.Type {
					continue
				}
				fc := fs.fc
				if fc.null[row] {
					fc.nulls--
				}
				fc.null[row] = false
				switch fc.typ {
				case sql.TypeFloat64:
					fc.f[row] = math.Float64frombits(fv.Num)
				case sql.TypeInt64:
					fc.i[row] = int64(fv.Num)
				case sql.TypeUint64:
					fc.u[row] = fv.Num
				case sql.TypeBool:
					fc.b[row] = fv.Num != 0
				case sql.TypeString:
					fc.s[row] = strings.Clone(fv.Str)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func fieldType(t sql.Type) columnar.FieldType {
	switch t {
	case sql.TypeFloat64:
		return columnar.FieldFloat
	case sql.TypeInt64:
		return columnar.FieldInt
	case sql.TypeUint64:
		return columnar.FieldUint
	case sql.TypeBool:
		return columnar.FieldBool
	case sql.TypeString:
		return columnar.FieldString
	}
	return 0
}

// vector returns the whole column as a vec (not copied).
func (t *table) vector(c sql.Column) (*vec, error) {
	switch c.Kind {
	case sql.KindTime:
		return &vec{typ: sql.TypeTimestamp, n: t.n, i: t.time}, nil
	case sql.KindTag:
		tc := t.tags[c.Index]
		if tc == nil {
			return nil, fmt.Errorf("exec: tag %q not scanned", c.Name)
		}
		v := &vec{typ: sql.TypeString, n: t.n, ids: tc.ids, dict: tc.dict}
		if tc.nulls > 0 {
			v.null = tc.null
		}
		return v, nil
	case sql.KindField:
		fc := t.flds[c.Index]
		if fc == nil {
			return nil, fmt.Errorf("exec: field %q not scanned", c.Name)
		}
		v := &vec{typ: fc.typ, n: t.n, f: fc.f, i: fc.i, u: fc.u, b: fc.b, s: fc.s}
		if fc.nulls > 0 {
			v.null = fc.null
		}
		return v, nil
	}
	return nil, fmt.Errorf("exec: column %q", c.Name)
}

// tagFilter is a conjunct of WHERE over one tag and constants (tag = c,
// tag <> c, tag < c..., tag [NOT] IN (...), tag ~ re) that rejects rows
// where the tag is absent (NULL). It is applied while materializing, once
// per distinct tag value; the conjunct is evaluated again afterwards, which
// changes nothing for rows that passed.
type tagFilter struct {
	key   string
	expr  sql.Expr
	cache map[string]bool
}

func tagFilters(residual sql.Expr) []*tagFilter {
	if residual == nil {
		return nil
	}
	conj := []sql.Expr{residual}
	if l, ok := residual.(*sql.Logic); ok && l.Op == sql.OpAnd {
		conj = l.Args
	}
	var out []*tagFilter
	tagRef := func(e sql.Expr) (string, bool) {
		c, ok := e.(*sql.ColumnRef)
		if !ok || c.Column.Kind != sql.KindTag {
			return "", false
		}
		return c.Column.Name, true
	}
	for _, e := range conj {
		var key string
		var ok bool
		switch x := e.(type) {
		case *sql.Binary:
			if c, isConst := x.R.(*sql.Const); isConst && x.Op.Comparison() && !c.Value.Null {
				key, ok = tagRef(x.L)
			}
		case *sql.InList:
			key, ok = tagRef(x.X)
		case *sql.Match:
			key, ok = tagRef(x.X)
		}
		if ok {
			out = append(out, &tagFilter{key: key, expr: e, cache: map[string]bool{}})
		}
	}
	return out
}

// tagSets extracts the top-level conjuncts `tag = 'v'` and `tag IN ('v',
// ...)` of the residual predicate: a row can pass only if it has one of the
// listed values, which lets sources use tag indexes. NULL never equals, so
// the NULL in an IN list is dropped.
func tagSets(residual sql.Expr) map[string][]string {
	if residual == nil {
		return nil
	}
	conj := []sql.Expr{residual}
	if l, ok := residual.(*sql.Logic); ok && l.Op == sql.OpAnd {
		conj = l.Args
	}
	out := map[string][]string{}
	add := func(key string, vals []string) {
		if have, ok := out[key]; ok {
			// Two constraints on one tag: a row must meet both.
			var both []string
			for _, v := range vals {
				if slices.Contains(have, v) {
					both = append(both, v)
				}
			}
			vals = both
		}
		out[key] = vals
	}
	for _, e := range conj {
		switch x := e.(type) {
		case *sql.Binary:
			c, isConst := x.R.(*sql.Const)
			ref, isRef := x.L.(*sql.ColumnRef)
			if isConst && isRef && x.Op == sql.OpEq && ref.Column.Kind == sql.KindTag && !c.Value.Null && c.Value.Type == sql.TypeString {
				add(ref.Column.Name, []string{c.Value.Str})
			}
		case *sql.InList:
			ref, isRef := x.X.(*sql.ColumnRef)
			if !isRef || x.Not || ref.Column.Kind != sql.KindTag {
				continue
			}
			vals := []string{}
			for _, v := range x.Values {
				if !v.Null && v.Type == sql.TypeString {
					vals = append(vals, v.Str)
				}
			}
			add(ref.Column.Name, vals)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func (f *tagFilter) pass(tags []columnar.TagValue) bool {
	for _, tv := range tags {
		if tv.Key != f.key {
			continue
		}
		if r, ok := f.cache[tv.Value]; ok {
			return r
		}
		v := &vec{typ: sql.TypeString, n: 1, s: []string{tv.Value}}
		var r *vec
		switch x := f.expr.(type) {
		case *sql.Binary:
			r = compare(x.Op, v, constVec(x.R.(*sql.Const).Value, 1))
		case *sql.InList:
			r = inList(x, v)
		case *sql.Match:
			r = match(x, v)
		}
		ok := r.b[0] && !r.isNull(0)
		f.cache[strings.Clone(tv.Value)] = ok
		return ok
	}
	return false // tag absent: NULL rejects the row
}
