package segment

import (
	"encoding/binary"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// partialTable combines the partials a read-time fold produces into one
// per window and group (the distinct values of the tags kept). A head
// folds block by block, and a live series has rows in every block, so one
// window of one host arrives as dozens of partials (one per block the
// window spans); combining them as they arrive holds a partial per output
// row instead of per block, which is what keeps a fold of a dense live
// head within its bound (and the reader from combining them again).
type partialTable struct {
	fields []columnar.FieldSchema
	nf     int
	limit  int // most slots held; past it add fails with ErrTooManyPartials

	nt     int // tags kept
	hint   int // slots expected, for the map made on first use
	idx    map[string]int32
	key    []byte // scratch
	starts []int64
	rows   []int64
	vals   []string  // slot s's tag values are vals[s*nt:(s+1)*nt] (shared, never written)
	has    []bool    // and whether it has them, has[s*nt:(s+1)*nt]
	parts  []partial // slot s's partials are parts[s*nf:(s+1)*nf]

	// The window index (indexWindows), for a fold over a known range
	// of few groups: slot of group g and window k (of width, from base) is
	// slotOf[g*nw+k], -1 none. A group (tag values kept) is looked up
	// once per partial, or once per series (groupOf) by a fold that
	// knows its series; then a partial finds its slot by arithmetic
	// instead of hashing its window and tag values.
	base, width int64
	nw          int
	maxGroups   int
	indexOn     bool // indexWindows made the index
	groups      map[string]int32
	groupVals   []string // group g's tag values are groupVals[g*nt:(g+1)*nt]
	groupHas    []bool
	slotOf      []int32

	// idxRoom and groupsRoom are the entries idx and groups were made
	// for: a map keeps that room however few it holds (release).
	idxRoom, groupsRoom int

	// emit's output buffers, kept with the table so a recycled table
	// passes its batches in memory already touched (see partialTables).
	// The batch's vectors are views of them cut to its rows, and each
	// holds only the slice of its type: a recycled table's batch must not
	// carry what an earlier fold left, or it would look as large as that
	// fold's (ArrayBytes, which the scan charges its query per batch).
	out columnar.ColumnBatch
	// outFields are the rollup columns of outFor (appendRollupFields),
	// kept so a recycled table emitting the same fields again names its
	// columns without building them anew.
	outFields, outFor []columnar.FieldSchema
	outWant           PartSet
	outParts          []int // the indexes in RollupParts of outWant's parts

	// want are the parts emit passes on (the count always among them),
	// and fold the parts to compute (PartM2: the running mean and
	// squared deviations).
	want  PartSet
	dicts []map[string]int32
	nulls [][]bool
	words [][]uint64 // per out.Fields entry: its values as words
	ids   [][]int32  // per out.Tags entry: its ids
	dictv [][]string // per out.Tags entry: its dictionary
}

// partialTables recycles the tables of finished folds. A dashboard's
// query over the head folds into a table of a few hundred kilobytes and
// emits it through batches as large; allocated afresh per query, that
// memory is mostly pages the runtime has just returned to the kernel, and
// faulting them back in (zeroed, often as huge pages) cost several times
// the fold itself when a server was otherwise idle between queries
// (single-groupby-5-1-12 over the head: ~270 page faults and 10 ms of CPU
// a query right after a load, against 2 ms once the heap settled). A
// recycled table's arrays are warm. Only tables within
// maxPooledPartialBytes are kept, so the pool holds little next to what
// queries already use; sync.Pool drops what no query took back within two
// collections.
var partialTables sync.Pool

// maxPooledPartialBytes is the largest table (its arrays' capacity)
// partialTables keeps.
const maxPooledPartialBytes = 4 << 20

// maxPooledDictValues: a table whose emit met more distinct values of a
// tag is not kept (a map does not shrink when cleared).
const maxPooledDictValues = 1 << 12

// maxHeldPartialBytes bounds the memory one fold's combined partials take:
// the slot limit is this over a slot's size (partials of every field, its
// tag values and index entry). Past it the fold gives up (ErrTooManyPartials)
// and the caller reads the range raw, under the reader's own accounting.
var maxHeldPartialBytes = 48 << 20

// newPartialTable returns a table for partials of fields per window and
// distinct values of tags. hint is how many slots the caller expects
// (0: unknown): the table starts with room for them (within its limit,
// and at most maxPartialHintBytes' worth), so a fold of a known shape — a dashboard's
// windows times its series — grows nothing while it runs.
func newPartialTable(tags []string, fields []columnar.FieldSchema, hint int) *partialTable {
	slot := len(fields)*int(unsafeSizeofPartial) + len(tags)*(16+1) + 96
	t, _ := partialTables.Get().(*partialTable)
	if t == nil {
		t = &partialTable{}
	}
	t.fields, t.nf, t.nt = fields, len(fields), len(tags)
	t.want = AllParts
	t.limit = min(maxHeldPartials, maxHeldPartialBytes/slot)
	hint = min(hint, t.limit, maxPartialHintBytes/slot)
	t.hint = hint
	t.starts = slices.Grow(t.starts[:0], hint)
	t.rows = slices.Grow(t.rows[:0], hint)
	t.vals = slices.Grow(t.vals[:0], hint*t.nt)
	t.has = slices.Grow(t.has[:0], hint*t.nt)
	t.parts = slices.Grow(t.parts[:0], hint*t.nf)
	t.base, t.width, t.nw, t.maxGroups = 0, 0, 0, 0
	t.indexOn = false
	t.groupVals, t.groupHas, t.slotOf = t.groupVals[:0], t.groupHas[:0], t.slotOf[:0]
	return t
}

// release gives t back to partialTables once its fold is over: nothing
// may use t, or a batch its emit passed, afterwards. Its strings are
// dropped first (they are head dictionary values and segment tag values:
// a pooled table must not keep them alive).
func (t *partialTable) release() {
	if t == nil {
		return
	}
	clear(t.vals)
	clear(t.groupVals)
	for _, d := range t.dictv {
		clear(d[:cap(d)]) // an earlier batch of the emit may have held more
	}
	clear(t.out.Tags)
	clear(t.out.Fields)
	t.out.Time, t.out.Sel = nil, nil // Time: the table's starts
	big := false
	for _, d := range t.dicts {
		big = big || len(d) > maxPooledDictValues
		clear(d)
	}
	// The maps are kept, cleared, unless large: made for many entries
	// (the window index's groups are the head's series: 14 MB of map
	// for 2^18 of them) or grown to them. footprint does not see them.
	for _, m := range []struct {
		m    *map[string]int32
		room *int
	}{{&t.idx, &t.idxRoom}, {&t.groups, &t.groupsRoom}} {
		if *m.m != nil && max(len(*m.m), *m.room) > maxPooledDictValues {
			*m.m, *m.room = nil, 0
		}
		clear(*m.m)
	}
	t.fields = nil
	if !recyclePartialTables || big || t.footprint() > maxPooledPartialBytes {
		return
	}
	if poisonRecycled {
		t.poison()
	}
	partialTables.Put(t)
}

// recyclePartialTables turns partialTables on; poisonRecycled fills a
// recycled table's arrays with garbage first, so a test sees a fold that
// reads what an earlier one left.
var recyclePartialTables, poisonRecycled = true, false

// poison overwrites every array t keeps, to their capacity.
func (t *partialTable) poison() {
	fill := func(s []uint64) {
		for i := range s[:cap(s)] {
			s[:cap(s)][i] = 0xdeadbeefdeadbeef
		}
	}
	fill(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(t.starts))), cap(t.starts)))
	fill(unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(t.rows))), cap(t.rows)))
	for i := range t.parts[:cap(t.parts)] {
		t.parts[:cap(t.parts)][i] = partial{n: 7, sum: 99, min: 3, max: 1, ft: -5, lt: 5, mean: 1, m2: -1}
	}
	for i := range t.has[:cap(t.has)] {
		t.has[:cap(t.has)][i] = true
	}
	for i := range t.slotOf[:cap(t.slotOf)] {
		t.slotOf[:cap(t.slotOf)][i] = 0
	}
	for _, nl := range t.nulls {
		for i := range nl[:cap(nl)] {
			nl[:cap(nl)][i] = true
		}
	}
	for _, w := range t.words {
		fill(w)
	}
	for _, ids := range t.ids {
		for i := range ids[:cap(ids)] {
			ids[:cap(ids)][i] = 1
		}
	}
}

// footprint is the bytes of t's arrays (their capacity), the output
// buffers included.
func (t *partialTable) footprint() int {
	n := 8*cap(t.starts) + 8*cap(t.rows) + 16*cap(t.vals) + cap(t.has) + int(unsafeSizeofPartial)*cap(t.parts) +
		16*cap(t.groupVals) + cap(t.groupHas) + 4*cap(t.slotOf) + cap(t.key)
	for j := range t.ids {
		n += 4*cap(t.ids[j]) + 16*cap(t.dictv[j])
	}
	for _, w := range t.words {
		n += 8 * cap(w)
	}
	for _, nl := range t.nulls {
		n += cap(nl)
	}
	return n
}

// maxPartialHintBytes caps the room a table takes before it holds
// anything: past it, a table grows as it fills.
const maxPartialHintBytes = 4 << 20

// maxPartialHint bounds each factor of a hint (windows, groups), so their
// product cannot overflow.
const maxPartialHint = 1 << 20

func (t *partialTable) len() int { return len(t.starts) }

// maxWindowIndex bounds the entries of a table's window index (groups
// times windows): 4 bytes each.
const maxWindowIndex = 1 << 18

// indexWindows gives t a window index for partials of windows of width
// starting in [lo, hi] (both window starts) of at most groups groups, if
// it fits within maxWindowIndex; partials outside it, or of groups past
// the bound, still go through the map. It reports whether it did.
func (t *partialTable) indexWindows(lo, hi, width int64, groups int) bool {
	if width <= 0 || hi < lo || groups <= 0 {
		return false
	}
	nw := (hi-lo)/width + 1
	if nw <= 0 || nw > maxWindowIndex/int64(groups) {
		return false
	}
	t.base, t.width, t.nw, t.maxGroups = lo, width, int(nw), groups
	if t.groups == nil {
		t.groups, t.groupsRoom = make(map[string]int32, groups), groups
	}
	t.indexOn = true
	return true
}

// groupOf returns the group of tag values vals/has in the window index
// (adding it), or -1: no index, or more groups than it was made for.
// vals and has are copied; their strings are kept.
func (t *partialTable) groupOf(vals []string, has []bool) int32 {
	if !t.indexOn {
		return -1
	}
	k := appendGroupKey(t.key[:0], vals, has)
	t.key = k
	if g, ok := t.groups[string(k)]; ok {
		return g
	}
	g := int32(len(t.groups))
	if int(g) >= t.maxGroups {
		return -1
	}
	t.groups[string(k)] = g
	t.groupVals = append(t.groupVals, vals...)
	t.groupHas = append(t.groupHas, has...)
	t.slotOf = slices.Grow(t.slotOf, t.nw)
	for range t.nw {
		t.slotOf = append(t.slotOf, -1)
	}
	return g
}

// addGroup is add for a partial of group g (groupOf) of the window at
// start, which must be in the window index's range.
func (t *partialTable) addGroup(g int32, start, rows int64, ps []partial) error {
	i := int(g)*t.nw + int((start-t.base)/t.width)
	if s := t.slotOf[i]; s >= 0 {
		return t.combine(s, rows, ps)
	}
	if len(t.starts) >= t.limit {
		return ErrTooManyPartials
	}
	t.slotOf[i] = int32(len(t.starts))
	t.starts = append(t.starts, start)
	t.rows = append(t.rows, rows)
	t.vals = append(t.vals, t.groupVals[int(g)*t.nt:(int(g)+1)*t.nt]...)
	t.has = append(t.has, t.groupHas[int(g)*t.nt:(int(g)+1)*t.nt]...)
	t.parts = append(t.parts, ps...)
	return nil
}

// slotGroup returns the slot of group g's window at start (which must be
// in the window index's range), counting rows more rows in it: an
// existing slot (fresh false), whose partials the caller merges into, or
// a new one (fresh true) whose partials are all empty, for the caller to
// fold into in place. It is addGroup for a fold that writes the
// partials itself rather than copying them in.
func (t *partialTable) slotGroup(g int32, start, rows int64) (s int32, fresh bool, err error) {
	i := int(g)*t.nw + int((start-t.base)/t.width)
	if s := t.slotOf[i]; s >= 0 {
		t.rows[s] += rows
		return s, false, nil
	}
	if len(t.starts) >= t.limit {
		return -1, false, ErrTooManyPartials
	}
	s = int32(len(t.starts))
	t.slotOf[i] = s
	t.starts = append(t.starts, start)
	t.rows = append(t.rows, rows)
	t.vals = append(t.vals, t.groupVals[int(g)*t.nt:(int(g)+1)*t.nt]...)
	t.has = append(t.has, t.groupHas[int(g)*t.nt:(int(g)+1)*t.nt]...)
	n := len(t.parts)
	t.parts = slices.Grow(t.parts, t.nf)[:n+t.nf]
	clear(t.parts[n:]) // a recycled table's room holds an earlier fold's partials
	return s, true, nil
}

// indexed reports whether the window at start is in the window index.
func (t *partialTable) indexed(start int64) bool {
	return t.indexOn && start >= t.base && (start-t.base)/t.width < int64(t.nw) && (start-t.base)%t.width == 0
}

// combine folds ps (rows rows) into slot s.
func (t *partialTable) combine(s int32, rows int64, ps []partial) error {
	t.rows[s] += rows
	dst := t.parts[int(s)*t.nf : (int(s)+1)*t.nf]
	for f := range dst {
		if mergePartial(&dst[f], &ps[f], t.fields[f].Type) {
			return ErrRollupOverflow
		}
	}
	return nil
}

// add combines the partials ps of the window at start (rows rows) of the
// group vals/has into the table. vals and has are copied when they start a
// slot; their strings are kept (callers pass strings they do not reuse).
func (t *partialTable) add(start, rows int64, vals []string, has []bool, ps []partial) error {
	if t.indexed(start) {
		if g := t.groupOf(vals, has); g >= 0 {
			return t.addGroup(g, start, rows, ps)
		}
	}
	k := appendGroupKey(binary.LittleEndian.AppendUint64(t.key[:0], uint64(start)), vals, has)
	t.key = k
	if t.idx == nil {
		t.idx, t.idxRoom = make(map[string]int32, t.hint), t.hint
	}
	if s, ok := t.idx[string(k)]; ok {
		return t.combine(s, rows, ps)
	}
	if len(t.starts) >= t.limit {
		return ErrTooManyPartials
	}
	t.idx[string(k)] = int32(len(t.starts))
	t.starts = append(t.starts, start)
	t.rows = append(t.rows, rows)
	t.vals = append(t.vals, vals...)
	t.has = append(t.has, has...)
	t.parts = append(t.parts, ps...)
	return nil
}

// mergePartial folds src into dst (two partials of one field and window,
// over disjoint rows) and reports whether an integer sum left its type.
// First and last go to the earlier and later time; on a tie the partial
// already held wins, as when a reader combines partials.
func mergePartial(dst, src *partial, typ columnar.FieldType) (overflow bool) {
	if src.overflow || dst.overflow {
		return true
	}
	if src.n == 0 {
		return false
	}
	if dst.n == 0 {
		*dst = *src
		return false
	}
	switch typ {
	case columnar.FieldFloat:
		a, b := math.Float64frombits(dst.min), math.Float64frombits(src.min)
		if FloatLess(b, a) {
			dst.min = src.min
		}
		a, b = math.Float64frombits(dst.max), math.Float64frombits(src.max)
		if FloatLess(a, b) {
			dst.max = src.max
		}
		dst.sum = math.Float64bits(math.Float64frombits(dst.sum) + math.Float64frombits(src.sum))
	case columnar.FieldInt:
		dst.min = uint64(min(int64(dst.min), int64(src.min)))
		dst.max = uint64(max(int64(dst.max), int64(src.max)))
		a, b := int64(dst.sum), int64(src.sum)
		s := a + b
		if (b > 0 && s < a) || (b < 0 && s > a) {
			dst.overflow = true
			return true
		}
		dst.sum = uint64(s)
	case columnar.FieldUint:
		dst.min, dst.max = min(dst.min, src.min), max(dst.max, src.max)
		s := dst.sum + src.sum
		if s < dst.sum {
			dst.overflow = true
			return true
		}
		dst.sum = s
	}
	if src.ft < dst.ft {
		dst.first, dst.ft = src.first, src.ft
	}
	if src.lt > dst.lt {
		dst.last, dst.lt = src.last, src.lt
	}
	// Chan et al.'s pairwise update of (count, mean, M2).
	na, nb := float64(dst.n), float64(src.n)
	nt := na + nb
	d := src.mean - dst.mean
	dst.mean += d * nb / nt
	dst.m2 += src.m2 + d*d*na*nb/nt
	dst.n += src.n
	return false
}

// emit passes fn the table's slots as rollup batches of up to max rows
// (Rollup = width) in the rollup schema of tags and the table's fields
// (RollupSchema), filled column by column: the row counts and window
// starts are the table's own slices, each part a typed loop.
func (t *partialTable) emit(tags []string, width int64, max int, fn func(*columnar.ColumnBatch) error) error {
	if len(t.outFields) == 0 || !slices.Equal(t.outFor, t.fields) || t.outWant != t.want { // never empty: the row count
		t.outFor, t.outWant = append(t.outFor[:0], t.fields...), t.want
		t.outFields = appendRollupFieldsOf(t.outFields[:0], t.fields, t.want)
		t.outParts = t.outParts[:0]
		for i := range RollupParts {
			if t.want&(1<<i) != 0 {
				t.outParts = append(t.outParts, i)
			}
		}
	}
	fields := t.outFields
	// The batch, its vectors' arrays and the dictionaries' maps are the
	// table's own (recycled with it): fn must not keep them, as it must
	// not keep any batch past its call.
	b := &t.out
	b.Rollup, b.Sel = width, nil
	b.Tags = slices.Grow(b.Tags[:0], len(tags))[:len(tags)]
	for j, name := range tags {
		b.Tags[j] = columnar.TagVector{Name: name}
	}
	b.Fields = slices.Grow(b.Fields[:0], len(fields))[:len(fields)]
	for i, f := range fields {
		b.Fields[i] = columnar.FieldVector{Name: f.Name, Type: f.Type}
	}
	for len(t.dicts) < len(tags) {
		t.dicts = append(t.dicts, map[string]int32{})
	}
	for len(t.ids) < len(tags) {
		t.ids, t.dictv = append(t.ids, nil), append(t.dictv, nil)
	}
	for len(t.words) < len(fields) {
		t.words = append(t.words, nil)
	}
	dicts := t.dicts[:len(tags)]
	nulls := t.nulls // per field: where it has no value (n == 0), shared by its part columns
	defer func() { t.nulls = nulls }()
	for lo := 0; lo < t.len(); lo += max {
		hi := min(lo+max, t.len())
		n := hi - lo
		b.Len, b.Time = n, t.starts[lo:hi:hi]
		for j := range tags {
			dict := dicts[j]
			clear(dict)
			vals := t.dictv[j][:0]
			ids := slices.Grow(t.ids[j][:0], n)[:n]
			for i := range n {
				k := (lo+i)*t.nt + j
				if !t.has[k] {
					ids[i] = -1
					continue
				}
				v := t.vals[k]
				id, ok := dict[v]
				if !ok {
					id = int32(len(vals))
					vals = append(vals, v)
					dict[v] = id
				}
				ids[i] = id
			}
			t.dictv[j], t.ids[j] = vals, ids
			b.Tags[j].Dict, b.Tags[j].IDs = vals[:len(vals):len(vals)], ids[:n:n]
		}
		b.Fields[0].I = t.rows[lo:hi:hi] // RollupRows
		nulls = slices.Grow(nulls[:0], t.nf)[:t.nf]
		np := len(t.outParts) // columns per field, the count first
		for k := range t.nf {
			c0 := 1 + k*np // the field's count column
			cols := b.Fields[c0 : c0+np]
			null := slices.Grow(nulls[k][:0], n)[:n]
			anyNull := false
			count := &cols[0]
			t.partColumn(c0, count, n) // RollupPartType: an int
			if t.want == AllParts {
				// One pass over the slots fills every part column: the
				// columns as words (a part's bits, as partial holds them).
				var w [len(partWords)][]uint64
				for p := range w {
					w[p] = t.partColumn(c0+1+p, &cols[1+p], n)
				}
				sum, mn, mx, first, last, ft, lt, m2 := w[0][:n], w[1][:n], w[2][:n], w[3][:n], w[4][:n], w[5][:n], w[6][:n], w[7][:n]
				for i := range n {
					pt := &t.parts[(lo+i)*t.nf+k]
					c := pt.n
					count.I[i] = c
					null[i] = c == 0
					anyNull = anyNull || c == 0
					sum[i], mn[i], mx[i], first[i], last[i] = pt.sum, pt.min, pt.max, pt.first, pt.last
					ft[i], lt[i], m2[i] = uint64(pt.ft), uint64(pt.lt), math.Float64bits(pt.m2)
				}
			} else {
				// Some parts only: a pass per part column.
				cnt := count.I[:n]
				for i := range n {
					c := t.parts[(lo+i)*t.nf+k].n
					cnt[i] = c
					null[i] = c == 0
					anyNull = anyNull || c == 0
				}
				for j, p := range t.outParts[1:] {
					t.fillPart(t.partColumn(c0+1+j, &cols[1+j], n)[:n], p, lo, k)
				}
			}
			nulls[k] = null
			null = null[:n:n]
			if !anyNull {
				null = nil
			}
			for p := 1; p < np; p++ {
				cols[p].Null = null
			}
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// fillPart sets w[i] to part p (an index into RollupParts, not the
// count) of field k of slot lo+i, as a word.
func (t *partialTable) fillPart(w []uint64, p, lo, k int) {
	ps := t.parts[lo*t.nf+k:]
	nf := t.nf
	switch RollupParts[p] {
	case PartSum:
		for i := range w {
			w[i] = ps[i*nf].sum
		}
	case PartMin:
		for i := range w {
			w[i] = ps[i*nf].min
		}
	case PartMax:
		for i := range w {
			w[i] = ps[i*nf].max
		}
	case PartFirst:
		for i := range w {
			w[i] = ps[i*nf].first
		}
	case PartLast:
		for i := range w {
			w[i] = ps[i*nf].last
		}
	case PartFirstTime:
		for i := range w {
			w[i] = uint64(ps[i*nf].ft)
		}
	case PartLastTime:
		for i := range w {
			w[i] = uint64(ps[i*nf].lt)
		}
	case PartM2:
		for i := range w {
			w[i] = math.Float64bits(ps[i*nf].m2)
		}
	}
}

// partWords are the parts after the count, in RollupParts order.
var partWords = [...]string{PartSum, PartMin, PartMax, PartFirst, PartLast, PartFirstTime, PartLastTime, PartM2}

// partColumn sizes fv, output column c (of its type, RollupPartType),
// to n values in t.words[c] and returns them as words: a float's bits,
// an integer's two's complement. fv gets them cut to n, as the slice of
// its type only.
func (t *partialTable) partColumn(c int, fv *columnar.FieldVector, n int) []uint64 {
	w := slices.Grow(t.words[c][:0], n)[:n]
	t.words[c] = w
	switch fv.Type {
	case columnar.FieldFloat:
		fv.F = unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(w))), n)
	case columnar.FieldInt:
		fv.I = unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(w))), n)
	default:
		fv.U = w[:n:n]
	}
	return w
}

// appendGroupKey appends to k the tag values vals/has as a map key: per
// tag a presence byte, then its length and bytes, so that no two groups
// share a key.
func appendGroupKey(k []byte, vals []string, has []bool) []byte {
	for i, v := range vals {
		if !has[i] {
			k = append(k, 0)
			continue
		}
		k = append(k, 1)
		k = binary.AppendUvarint(k, uint64(len(v)))
		k = append(k, v...)
	}
	return k
}
