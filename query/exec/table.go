package exec

import (
	"context"
	"fmt"
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
	bytes int64             // heldBytes, as charged to the query's memory limit
	// capRows is how many rows every column has room for (reserve).
	capRows int
	// maxBytes is the query's Limits.MaxMemoryBytes (0: none), which the
	// answer's rows are charged against too (execute).
	maxBytes int64
	// res is the query's part of Limits.Shared, which the answer's rows
	// are reserved from too (execute).
	res *reservation
	// partial: the rows are partial aggregates (rollup.go), in flds under
	// partColumn indexes; fields are not scanned as such.
	partial bool
	// derived holds the columns of a relation (a query's Input), by
	// Column.Index, in place of scanned ones (rel.go).
	derived map[int]*vec
	// corr runs the correlated subqueries of the query over the table
	// (set for a query run by a relRun).
	corr *relRun
}

// heldBytes is what the columns' arrays take, spare capacity included:
// appends double an array as it grows, so up to half of it may be spare.
func (t *table) heldBytes() int64 {
	n := int64(cap(t.time)) * 8
	for _, tc := range t.tags {
		n += int64(cap(tc.ids))*4 + int64(cap(tc.null))
	}
	for _, fc := range t.flds {
		n += int64(cap(fc.null)) + int64(cap(fc.b))
		n += int64(cap(fc.f)+cap(fc.i)+cap(fc.u)) * 8
		n += int64(cap(fc.s)) * 16
	}
	return n
}

type tagCol struct {
	nulls int     // rows without the tag
	null  []bool  // per row: tag absent
	ids   []int32 // -1: NULL (tag absent)
	dict  []string
	idx   map[string]int32
	// indexed: dict[:indexed] are in idx. The values after come from a
	// stable dictionary (columnar.TagVector.Stable) that filled the empty
	// column: distinct, so nothing had to be looked up, and put in idx
	// only if a later batch needs to look values up (most lastpoint
	// answers are one batch).
	indexed int
}

// index puts the values idx lacks into it (making it when nil).
func (tc *tagCol) index() {
	if tc.idx == nil {
		tc.idx = make(map[string]int32, len(tc.dict))
	}
	for i := tc.indexed; i < len(tc.dict); i++ {
		tc.idx[tc.dict[i]] = int32(i)
	}
	tc.indexed = len(tc.dict)
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

// tagSlot and fieldSlot are the table's columns by name, with per-batch
// scratch.
const checkEvery = 4096 // rows between context checks in long loops

type tagSlot struct {
	name  string
	col   *tagCol
	remap []int32 // batch dictionary id → table dictionary id
	// sparse is remap for a batch whose dictionary is far larger than
	// its rows (a head's every host, a stat panel's one row): clearing
	// an array of the whole dictionary would cost more than the rows.
	sparse map[int32]int32
}

type fieldSlot struct {
	name string
	col  *fieldCol
	typ  columnar.FieldType
}

// materialize scans q.Table, keeping rows inside q.TimeRange and the q.Scan
// columns.
func materialize(ctx context.Context, q *sql.Query, src BatchSource, stats *query.Stats, lim Limits) (*table, error) {
	t := &table{tags: map[int]*tagCol{}, flds: map[int]*fieldCol{}, maxBytes: lim.MaxMemoryBytes, res: lim.res}
	var tags []*tagSlot
	var fields []*fieldSlot
	var parts []*partSlot
	var widths []int64
	if rs, ok := src.(RollupSource); ok {
		if q.Table != nil && !q.TimeRange.IsEmpty() {
			widths = rollupWidths(q, rs.RollupWidths(q.Table.Name, q.TimeRange))
		}
	}
	t.partial = len(widths) > 0
	for _, c := range q.Scan {
		switch c.Kind {
		case sql.KindTag:
			tc := &tagCol{} // idx made when first needed (index)
			t.tags[c.Index] = tc
			tags = append(tags, &tagSlot{name: c.Name, col: tc})
		case sql.KindField:
			if t.partial {
				continue // read as partials
			}
			fc := &fieldCol{typ: c.Type}
			t.flds[c.Index] = fc
			fields = append(fields, &fieldSlot{name: c.Name, col: fc, typ: fieldType(c.Type)})
		}
	}
	if t.partial {
		parts = partSlots(q, t)
	}
	if q.TimeRange.IsEmpty() {
		return t, nil
	}
	tr := q.TimeRange
	filters := tagFilters(q.Residual)
	ffilters := fieldFilters(q.Residual)
	ffv := make([]*columnar.FieldVector, len(ffilters))
	// Bytes a materialized row takes: time, a dictionary id and null flag
	// per tag, a value and null flag per field (strings: header only).
	rowBytes := int64(8 + 5*len(tags))
	rowBytes += int64(9 * len(parts))
	for _, f := range fields {
		if f.col.typ == sql.TypeString {
			rowBytes += 17
		} else {
			rowBytes += 9
		}
	}
	spec := ScanSpec{Table: q.Table.Name, Time: tr, Columns: make([]string, len(q.Scan)), Tags: tagSets(q.Residual), LastOnly: lastOnly(q) || latestRows(ctx, q)}
	for i, c := range q.Scan {
		spec.Columns[i] = c.Name
	}
	spec.Filter = rowFilter(ffilters) // field_filter.go
	if t.partial {
		slices.Reverse(widths) // coarsest first
		spec.Rollups = widths
		for _, ts := range tags {
			spec.RollupColumns = append(spec.RollupColumns, ts.name)
		}
		for _, ps := range parts {
			spec.RollupColumns = append(spec.RollupColumns, ps.name)
		}
	}
	resolutions := map[int64]bool{}
	var sel []int32
	var pass [][]int8 // per filter: per batch dictionary id
	err := src.ScanBatches(ctx, spec, stats, func(b *columnar.ColumnBatch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The rows to take: those the source selected, inside the time
		// range, whose tags pass the tag filters (decided once per
		// distinct value of the batch).
		pass = pass[:0]
		var filterIDs [][]int32
		var filterDicts [][]string
		for _, f := range filters {
			tv := batchTag(b, f.key)
			if tv == nil {
				return nil // no row has the tag: NULL rejects them all
			}
			// Decided per dictionary entry on first use: 0 unknown, 1
			// passes, 2 fails.
			pass = append(pass, make([]int8, len(tv.Dict)))
			filterIDs = append(filterIDs, tv.IDs)
			filterDicts = append(filterDicts, tv.Dict)
		}
		nff := 0 // field filters that apply: raw rows only
		if b.Rollup == 0 {
			nff = len(ffilters)
			for k := range ffilters {
				ffv[k] = batchField(b, ffilters[k].name, ffilters[k].typ)
			}
		}
		rows := b.Len // at most the rows to consider
		if b.Sel != nil {
			rows = len(b.Sel) // a head's batch: the series' rows of a block
		}
		if cap(sel) < rows {
			// One array for the largest batch, not grown by doubling
			// row by row (and from the pool: per-query scratch).
			putInt32s(sel)
			sel = getInt32s(rows)
		}
		sel = sel[:0]
		consider := func(r int32) {
			if !tr.Contains(b.Time[r]) {
				return
			}
			for k := range nff {
				if !ffilters[k].pass(ffv[k], r) {
					return
				}
			}
			for k, ids := range filterIDs {
				id := ids[r]
				if id < 0 {
					return
				}
				p := &pass[k][id]
				if *p == 0 {
					*p = 2
					if filters[k].passValue(filterDicts[k][id]) {
						*p = 1
					}
				}
				if *p != 1 {
					return
				}
			}
			sel = append(sel, r)
		}
		if b.Sel != nil {
			t.stats += int64(len(b.Sel))
			for _, r := range b.Sel {
				consider(r)
			}
		} else {
			t.stats += int64(b.Len)
			for r := range int32(b.Len) {
				consider(r)
			}
		}
		if len(sel) == 0 {
			return nil
		}
		if lim.MaxMemoryBytes > 0 && int64(t.n+len(sel))*rowBytes > lim.MaxMemoryBytes {
			return fmt.Errorf("%w: %d rows of %d bytes passed %d bytes (--query-max-memory); narrow the time range or the columns",
				ErrMemoryLimit, t.n+len(sel), rowBytes, lim.MaxMemoryBytes)
		}
		all := len(sel) == b.Len // then sel is 0..Len-1
		if err := t.reserve(t.n+len(sel), lim); err != nil {
			return err
		}
		t.time = gather(t.time, b.Time, sel, all)
		for _, ts := range tags {
			ts.appendBatch(batchTag(b, ts.name), sel, all)
		}
		for _, fs := range fields {
			fs.appendBatch(batchField(b, fs.name, fs.typ), sel, all)
		}
		for _, ps := range parts {
			ps.appendPart(b, sel, all)
		}
		resolutions[b.Rollup] = true
		t.n += len(sel)
		held := t.heldBytes()
		if err := lim.res.grow(held - t.bytes); err != nil {
			return err
		}
		if t.bytes = held; lim.MaxMemoryBytes > 0 && t.bytes > lim.MaxMemoryBytes {
			return fmt.Errorf("%w: %d rows held %d bytes of columns, passed %d bytes (--query-max-memory); narrow the time range or the columns",
				ErrMemoryLimit, t.n, t.bytes, lim.MaxMemoryBytes)
		}
		return nil
	})
	putInt32s(sel)
	if err != nil {
		return nil, err
	}
	if stats != nil {
		stats.Resolution = resolutionName(resolutions)
	}
	profileOf(ctx).table(t) // EXPLAIN ANALYZE's; nil otherwise
	return t, nil
}

func batchTag(b *columnar.ColumnBatch, name string) *columnar.TagVector {
	for i := range b.Tags {
		if b.Tags[i].Name == name {
			return &b.Tags[i]
		}
	}
	return nil
}

// batchField returns the batch's column name if it has type typ.
func batchField(b *columnar.ColumnBatch, name string, typ columnar.FieldType) *columnar.FieldVector {
	for i := range b.Fields {
		if b.Fields[i].Name == name && b.Fields[i].Type == typ {
			return &b.Fields[i]
		}
	}
	return nil
}

// gather appends src's rows sel (all of src when all) to dst.
func gather[T any](dst, src []T, sel []int32, all bool) []T {
	if all {
		return append(dst, src...)
	}
	for _, r := range sel {
		dst = append(dst, src[r])
	}
	return dst
}

// appendBatch appends the selected rows of tv (nil: the batch lacks the
// tag) to the column, mapping the batch's dictionary onto the table's.
func (ts *tagSlot) appendBatch(tv *columnar.TagVector, sel []int32, all bool) {
	tc := ts.col
	if tv == nil {
		for range sel {
			tc.ids = append(tc.ids, -1)
			tc.null = append(tc.null, true)
		}
		tc.nulls += len(sel)
		return
	}
	n := len(sel)
	if all {
		n = len(tv.IDs)
	}
	tc.ids, tc.null = slices.Grow(tc.ids, n), slices.Grow(tc.null, n)
	// fresh: every value of a stable dictionary is new to an empty
	// column, and met once (the dictionary's values are distinct), so
	// it needs neither a copy nor a lookup.
	fresh := tv.Stable && len(tc.dict) == 0
	switch {
	case fresh:
		// Room for the values the rows may use, at most one each (a
		// lastpoint's hundred hosts, racks, ...), not grown by doubling.
		tc.dict = slices.Grow(tc.dict, min(len(tv.Dict), n))
	case len(tc.dict) == 0 && len(tv.Dict) > 8:
		// Sized once for the values the rows may use, not grown by
		// doubling from empty (a lastpoint's host names).
		tc.idx = make(map[string]int32, min(len(tv.Dict), n))
	default:
		tc.index()
	}
	// Batch ids map to table ids lazily: a batch may carry a dictionary
	// far larger than the values its rows use (a head's whole dictionary).
	sparse := len(tv.Dict) > 4*n+64
	if sparse {
		if ts.sparse == nil {
			ts.sparse = make(map[int32]int32, n)
		}
		clear(ts.sparse)
	} else {
		ts.remap = slices.Grow(ts.remap[:0], len(tv.Dict))[:len(tv.Dict)]
		for i := range ts.remap {
			ts.remap[i] = -1
		}
	}
	take := func(r int32) {
		if id := tv.IDs[r]; id >= 0 {
			var g int32
			if sparse {
				var ok bool
				if g, ok = ts.sparse[id]; !ok {
					g = -1
				}
			} else {
				g = ts.remap[id]
			}
			if g < 0 {
				v := tv.Dict[id]
				if fresh {
					g = int32(len(tc.dict))
					tc.dict = append(tc.dict, v)
				} else if known, ok := tc.idx[v]; ok {
					g = known
				} else {
					if !tv.Stable {
						v = strings.Clone(v) // batch strings may alias decode buffers
					}
					g = int32(len(tc.dict))
					tc.dict = append(tc.dict, v)
					tc.idx[v] = g
				}
				if sparse {
					ts.sparse[id] = g
				} else {
					ts.remap[id] = g
				}
			}
			tc.ids = append(tc.ids, g)
			tc.null = append(tc.null, false)
		} else {
			tc.ids = append(tc.ids, -1)
			tc.null = append(tc.null, true)
			tc.nulls++
		}
	}
	if all {
		for r := range int32(len(tv.IDs)) {
			take(r)
		}
	} else {
		for _, r := range sel {
			take(r)
		}
	}
	if !fresh {
		tc.indexed = len(tc.dict)
	}
}

// appendBatch appends the selected rows of fv (nil: the batch lacks the
// field) to the column.
func (fs *fieldSlot) appendBatch(fv *columnar.FieldVector, sel []int32, all bool) {
	fc := fs.col
	n := len(sel)
	if fv == nil {
		fc.null = append(fc.null, make([]bool, n)...)
		for i := len(fc.null) - n; i < len(fc.null); i++ {
			fc.null[i] = true
		}
		fc.nulls += n
		switch fc.typ {
		case sql.TypeFloat64:
			fc.f = append(fc.f, make([]float64, n)...)
		case sql.TypeInt64:
			fc.i = append(fc.i, make([]int64, n)...)
		case sql.TypeUint64:
			fc.u = append(fc.u, make([]uint64, n)...)
		case sql.TypeBool:
			fc.b = append(fc.b, make([]bool, n)...)
		case sql.TypeString:
			fc.s = append(fc.s, make([]string, n)...)
		}
		return
	}
	if fv.Null == nil {
		fc.null = append(fc.null, make([]bool, n)...)
	} else {
		from := len(fc.null)
		fc.null = gather(fc.null, fv.Null, sel, all)
		for _, isNull := range fc.null[from:] {
			if isNull {
				fc.nulls++
			}
		}
	}
	switch fc.typ {
	case sql.TypeFloat64:
		fc.f = gather(fc.f, fv.F, sel, all)
	case sql.TypeInt64:
		fc.i = gather(fc.i, fv.I, sel, all)
	case sql.TypeUint64:
		fc.u = gather(fc.u, fv.U, sel, all)
	case sql.TypeBool:
		fc.b = gather(fc.b, fv.B, sel, all)
	case sql.TypeString:
		from := len(fc.s)
		fc.s = gather(fc.s, fv.S, sel, all)
		for i := from; i < len(fc.s); i++ {
			fc.s[i] = strings.Clone(fc.s[i]) // batch strings may alias decode buffers
		}
	}
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
	if t.derived != nil {
		return t.derivedVector(c)
	}
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

// passValue reports whether a row whose tag has value v passes the filter.
func (f *tagFilter) passValue(v string) bool {
	if r, ok := f.cache[v]; ok {
		return r
	}
	in := &vec{typ: sql.TypeString, n: 1, s: []string{v}}
	var r *vec
	switch x := f.expr.(type) {
	case *sql.Binary:
		r = compare(x.Op, in, constVec(x.R.(*sql.Const).Value, 1))
	case *sql.InList:
		r = inList(x, in)
	case *sql.Match:
		r = match(x, in)
	}
	ok := r.b[0] && !r.isNull(0)
	f.cache[strings.Clone(v)] = ok
	return ok
}
