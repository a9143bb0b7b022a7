package segment

import (
	"encoding/binary"
	"math"
	"slices"

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
	idx    map[string]int32
	key    []byte // scratch
	starts []int64
	rows   []int64
	vals   []string  // slot s's tag values are vals[s*nt:(s+1)*nt] (shared, never written)
	has    []bool    // and whether it has them, has[s*nt:(s+1)*nt]
	parts  []partial // slot s's partials are parts[s*nf:(s+1)*nf]
}

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
	t := &partialTable{fields: fields, nf: len(fields), nt: len(tags),
		limit: min(maxHeldPartials, maxHeldPartialBytes/slot)}
	hint = min(hint, t.limit, maxPartialHintBytes/slot)
	t.idx = make(map[string]int32, hint)
	t.starts = make([]int64, 0, hint)
	t.rows = make([]int64, 0, hint)
	t.vals = make([]string, 0, hint*t.nt)
	t.has = make([]bool, 0, hint*t.nt)
	t.parts = make([]partial, 0, hint*t.nf)
	return t
}

// maxPartialHintBytes caps the room a table takes before it holds
// anything: past it, a table grows as it fills.
const maxPartialHintBytes = 4 << 20

// maxPartialHint bounds each factor of a hint (windows, groups), so their
// product cannot overflow.
const maxPartialHint = 1 << 20

func (t *partialTable) len() int { return len(t.starts) }

// add combines the partials ps of the window at start (rows rows) of the
// group vals/has into the table. vals and has are copied when they start a
// slot; their strings are kept (callers pass strings they do not reuse).
func (t *partialTable) add(start, rows int64, vals []string, has []bool, ps []partial) error {
	k := binary.LittleEndian.AppendUint64(t.key[:0], uint64(start))
	for i, v := range vals {
		if !has[i] {
			k = append(k, 0)
			continue
		}
		k = append(k, 1)
		k = binary.AppendUvarint(k, uint64(len(v)))
		k = append(k, v...)
	}
	t.key = k
	if s, ok := t.idx[string(k)]; ok {
		t.rows[s] += rows
		dst := t.parts[int(s)*t.nf : (int(s)+1)*t.nf]
		for f := range dst {
			if mergePartial(&dst[f], &ps[f], t.fields[f].Type) {
				return ErrRollupOverflow
			}
		}
		return nil
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
	schema := RollupSchema(tags, t.fields)
	b := columnar.ColumnBatch{Rollup: width, Tags: make([]columnar.TagVector, len(tags))}
	for j, name := range tags {
		b.Tags[j].Name = name
	}
	b.Fields = make([]columnar.FieldVector, len(schema.Fields))
	for i, f := range schema.Fields {
		b.Fields[i] = columnar.FieldVector{Name: f.Name, Type: f.Type}
	}
	dicts := make([]map[string]int32, len(tags))
	for j := range dicts {
		dicts[j] = map[string]int32{}
	}
	var nulls [][]bool // per field: where it has no value (n == 0), shared by its part columns
	for lo := 0; lo < t.len(); lo += max {
		hi := min(lo+max, t.len())
		n := hi - lo
		b.Len, b.Time = n, t.starts[lo:hi:hi]
		for j := range tags {
			tv, dict := &b.Tags[j], dicts[j]
			clear(dict)
			tv.Dict = tv.Dict[:0]
			tv.IDs = slices.Grow(tv.IDs[:0], n)[:n]
			for i := range n {
				k := (lo+i)*t.nt + j
				if !t.has[k] {
					tv.IDs[i] = -1
					continue
				}
				v := t.vals[k]
				id, ok := dict[v]
				if !ok {
					id = int32(len(tv.Dict))
					tv.Dict = append(tv.Dict, v)
					dict[v] = id
				}
				tv.IDs[i] = id
			}
		}
		b.Fields[0].I = t.rows[lo:hi:hi] // RollupRows
		nulls = slices.Grow(nulls[:0], t.nf)[:t.nf]
		for k := range t.nf {
			cols := b.Fields[1+k*len(RollupParts) : 1+(k+1)*len(RollupParts)]
			null := slices.Grow(nulls[k][:0], n)[:n]
			anyNull := false
			count := &cols[0]
			count.Null, count.I = nil, slices.Grow(count.I[:0], n)[:n]
			for i := range n {
				c := t.parts[(lo+i)*t.nf+k].n
				count.I[i] = c
				null[i] = c == 0
				anyNull = anyNull || c == 0
			}
			nulls[k] = null
			if !anyNull {
				null = nil
			}
			for p := 1; p < len(RollupParts); p++ {
				t.fillPart(&cols[p], null, lo, n, k, p)
			}
		}
		if err := fn(&b); err != nil {
			return err
		}
	}
	return nil
}

// fillPart fills column fv (of type RollupPartType) with part p
// (RollupParts order) of field k of slots [lo, lo+n); null marks the
// slots without a value.
func (t *partialTable) fillPart(fv *columnar.FieldVector, null []bool, lo, n, k, p int) {
	fv.Null = null
	bits := func(pt *partial) uint64 {
		switch p {
		case 1:
			return pt.sum
		case 2:
			return pt.min
		case 3:
			return pt.max
		case 4:
			return pt.first
		case 5:
			return pt.last
		case 6:
			return uint64(pt.ft)
		case 7:
			return uint64(pt.lt)
		}
		return math.Float64bits(pt.m2)
	}
	switch fv.Type {
	case columnar.FieldFloat:
		fv.F = slices.Grow(fv.F[:0], n)[:n]
		for i := range n {
			fv.F[i] = math.Float64frombits(bits(&t.parts[(lo+i)*t.nf+k]))
		}
	case columnar.FieldInt:
		fv.I = slices.Grow(fv.I[:0], n)[:n]
		for i := range n {
			fv.I[i] = int64(bits(&t.parts[(lo+i)*t.nf+k]))
		}
	case columnar.FieldUint:
		fv.U = slices.Grow(fv.U[:0], n)[:n]
		for i := range n {
			fv.U[i] = bits(&t.parts[(lo+i)*t.nf+k])
		}
	}
}
