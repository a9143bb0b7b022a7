package segment

import (
	"encoding/binary"
	"math"

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

	idx    map[string]int32
	key    []byte // scratch
	starts []int64
	rows   []int64
	vals   [][]string // per slot: the kept tags' values (shared, never written)
	has    [][]bool
	parts  []partial // slot s's partials are parts[s*nf:(s+1)*nf]
}

// maxHeldPartialBytes bounds the memory one fold's combined partials take:
// the slot limit is this over a slot's size (partials of every field, its
// tag values and index entry). Past it the fold gives up (ErrTooManyPartials)
// and the caller reads the range raw, under the reader's own accounting.
var maxHeldPartialBytes = 48 << 20

func newPartialTable(tags []string, fields []columnar.FieldSchema) *partialTable {
	slot := len(fields)*int(unsafeSizeofPartial) + len(tags)*(16+1) + 96
	return &partialTable{fields: fields, nf: len(fields), idx: map[string]int32{},
		limit: min(maxHeldPartials, maxHeldPartialBytes/slot)}
}

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
	t.vals = append(t.vals, append([]string(nil), vals...))
	t.has = append(t.has, append([]bool(nil), has...))
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
