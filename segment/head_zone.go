package segment

import (
	"math"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// Value ranges of sealed blocks ("zones"). A filtered scan of the head
// (`SELECT * … WHERE usage_user > 90`) used to gather and test the tested
// field of every row in range, one series' rows lying a row per series
// apart in the column (a cache miss per value), when most series' rows of
// a block cannot pass: TSBS's fields are random walks, and a host's
// usage_user over one block (82 points) is above 90 in about one block in
// ten. Segments skip nothing either, but read a host's rows contiguously.
// So a sealed block keeps, per numeric field that a filtered scan tested,
// the range of each series' values in the block and of the whole block:
// the scan asks the filter (RowFilter.MayPass) whether a row in that range
// can pass, and skips the series' rows, or the block, when none can.
//
// A sealed block's rows are never written again (a rewrite of a point is
// a new row, and the scans that merge rewrites do not use zones), so a
// range, once built, stays true. It is built on first use by any reader,
// from rows every reader of the block sees alike, and the first to
// publish it wins, as the block-ordered copies are (head_fold.go).

// FieldRange is the range of one numeric field's values over some rows:
// what a scan knows of them without reading them.
type FieldRange struct {
	Type columnar.FieldType
	// Values reports that some row has a value other than NaN, all of
	// them in [Min, Max] (in Type's encoding: see Float, Int, Uint).
	Values   bool
	Min, Max uint64
	// NaN reports that some row's value is a float NaN. Rows without a
	// value (NULL) are not described: a filter never passes them.
	NaN bool
}

// Float returns the bounds of a FieldFloat range.
func (r FieldRange) Float() (lo, hi float64) {
	return math.Float64frombits(r.Min), math.Float64frombits(r.Max)
}

// Int returns the bounds of a FieldInt range.
func (r FieldRange) Int() (lo, hi int64) { return int64(r.Min), int64(r.Max) }

// Uint returns the bounds of a FieldUint range.
func (r FieldRange) Uint() (lo, hi uint64) { return r.Min, r.Max }

// zone is a FieldRange without its type, kept per series of a block.
type zone struct {
	min, max uint64
	values   bool
	nan      bool
}

// blockZones is one field's zones of a sealed block: zones[k] those of
// series blk.sids[k] when perSeries, and the last one the whole block's.
type blockZones struct {
	zones     []zone
	perSeries bool
}

// minRowsPerZone is how many rows a block's series must hold on average
// for it to keep a zone per series: with fewer (many sparse series) the
// zones would cost about as much as the values, and a zone of a row or two
// spares little; such a block keeps its whole range only.
const minRowsPerZone = 16

// zoneBytes is what a block's zones of one field add to the head.
func zoneBytes(n int) int64 { return int64(n)*int64(unsafe.Sizeof(zone{})) + 48 }

// noZones are the zones of a column made after a block was sealed: none
// of the block's rows has a value in it.
var noZones = blockZones{zones: make([]zone, 1)}

// zonesOf returns field column c's zones of sealed block blk, building
// them on first use; nil for a column of a type without ranges (strings,
// booleans), or when the room the head's owner allows its copies
// (CountCopiesIn) is used up: zones are kept, and counted (CopyBytes),
// only within it.
func (h *Head) zonesOf(blk *headBlock, c int) *blockZones {
	if c >= len(h.fields) {
		return nil
	}
	typ := h.fields[c].typ
	if typ != columnar.FieldFloat && typ != columnar.FieldInt && typ != columnar.FieldUint {
		return nil
	}
	if c >= len(blk.zones) {
		return &noZones // a column made after the block: no value in it
	}
	if z := blk.zones[c].Load(); z != nil {
		return z
	}
	// Room is asked for first: past it the block is read without zones
	// rather than have every scan build them anew (a pass over all of
	// the block's rows, where a one-host scan reads a hundredth of them).
	n := 1
	if perSeriesZones(blk) {
		n = len(blk.sids) + 1
	}
	size := zoneBytes(n)
	if !h.copies.take(size) {
		return nil
	}
	z := h.buildZones(blk, c)
	if blk.zones[c].CompareAndSwap(nil, z) {
		return z
	}
	h.copies.give(size) // another reader published first
	return blk.zones[c].Load()
}

// perSeriesZones reports whether blk keeps a zone per series.
func perSeriesZones(blk *headBlock) bool { return len(blk.sids)*minRowsPerZone <= len(blk.rows) }

// buildZones computes field column c's zones of sealed block blk.
func (h *Head) buildZones(blk *headBlock, c int) *blockZones {
	col := h.fields[c]
	num, valid, _ := col.chunkValues(int(blk.lo>>chunkShift), nil)
	z := &blockZones{perSeries: perSeriesZones(blk)}
	if len(num) == 0 { // no value in the block: every zone empty
		z.zones = make([]zone, len(blk.sids)+1)
		if !z.perSeries {
			z.zones = z.zones[:1]
		}
		return z
	}
	var whole zone
	if z.perSeries {
		z.zones = make([]zone, len(blk.sids)+1)
		for k := range blk.sids {
			zk := &z.zones[k]
			for _, r := range blk.rows[blk.start[k]:blk.start[k+1]] {
				zk.add(col.typ, num, valid, int(r-blk.lo))
			}
			whole.merge(col.typ, zk)
		}
	} else {
		z.zones = make([]zone, 1)
		for j := range int(blk.hi - blk.lo) {
			whole.add(col.typ, num, valid, j)
		}
	}
	z.zones[len(z.zones)-1] = whole
	return z
}

// add widens z by chunk row j of a column of type typ laid out as num
// and valid (chunkValues): nothing when the row has no value.
func (z *zone) add(typ columnar.FieldType, num, valid []uint64, j int) {
	if j >= len(num) || valid[j>>6]&(1<<(j&63)) == 0 {
		return
	}
	v := num[j]
	if typ == columnar.FieldFloat && math.IsNaN(math.Float64frombits(v)) {
		z.nan = true
		return
	}
	if !z.values {
		z.min, z.max, z.values = v, v, true
		return
	}
	if zoneLess(typ, v, z.min) {
		z.min = v
	}
	if zoneLess(typ, z.max, v) {
		z.max = v
	}
}

// merge widens z by o.
func (z *zone) merge(typ columnar.FieldType, o *zone) {
	z.nan = z.nan || o.nan
	if !o.values {
		return
	}
	if !z.values {
		z.min, z.max, z.values = o.min, o.max, true
		return
	}
	if zoneLess(typ, o.min, z.min) {
		z.min = o.min
	}
	if zoneLess(typ, z.max, o.max) {
		z.max = o.max
	}
}

// zoneLess orders two values of type typ (floats other than NaN).
func zoneLess(typ columnar.FieldType, a, b uint64) bool {
	switch typ {
	case columnar.FieldFloat:
		return math.Float64frombits(a) < math.Float64frombits(b)
	case columnar.FieldInt:
		return int64(a) < int64(b)
	}
	return a < b
}

// fieldRange returns zone k of z (the last: the whole block) as a
// FieldRange of type typ.
func (z *blockZones) fieldRange(typ columnar.FieldType, k int) FieldRange {
	zk := z.zones[k]
	return FieldRange{Type: typ, Values: zk.values, Min: zk.min, Max: zk.max, NaN: zk.nan}
}
