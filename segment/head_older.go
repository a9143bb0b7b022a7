package segment

import (
	"encoding/binary"
	"math"
)

// Rows that may repeat a point of an older source.
//
// A scan merges sources point by point only where they may share a point;
// elsewhere it reads each alone, from rollups and live partials. Sources
// whose time ranges overlap used to be merged wholesale: after every flush
// the new head starts where the flushed segment ends, and the rows of the
// writes in flight at the cut (a second or two of every series) overlap
// it, so every dashboard panel over the last minutes merged the cut's
// rows one point at a time — the largest cost of queries under ingest.
//
// A head whose older sources are known (SetOlder: the engine's heads)
// keeps, per series, a floor: no older source holds a point of that series
// after it. A row after its series' floor cannot repeat an older point;
// the rows at or before it are spanned by [lo, hi], and RepeatsOlderIn
// tells a scan whether the head can be read alone over a stretch.
type olderBound struct {
	known bool  // false: nothing is known of older sources (every row may repeat one)
	all   int64 // no older source holds a point after this time
	// prev is the head frozen just before this one, while the engine
	// still holds it: a series it holds gets its own floor from it. The
	// engine forgets it (ForgetOlder) when it retires that head, so a chain
	// of flushed heads is never kept reachable.
	prev   *Head
	floor  []int64 // per series of this head
	lo, hi int64   // span of the rows at or before their series' floor
}

// SetOlder declares what is older than the empty head h: prev, the head
// of the same table frozen just before it (nil: none), and every older
// source's points at or before all. The engine calls it when it creates a
// head; a head without it (a query node's copy of a writer's rows) may
// repeat any older point.
func (h *Head) SetOlder(prev *Head, all int64) {
	h.older = olderBound{known: true, all: all, prev: prev, lo: math.MaxInt64, hi: math.MinInt64}
}

// Reserve makes room for rows rows in the empty head h's time and series
// columns, the two that grow by appending one value per row: a head of
// millions of rows otherwise copies them at every doubling, about 5% of
// the write path's CPU under a steady load. The engine passes the size of
// the table's previous head.
func (h *Head) Reserve(rows int) {
	if len(h.times) == 0 && rows > 0 {
		h.times = make([]int64, 0, rows)
		h.series = make([]uint32, 0, rows)
		// Counted now, rows or not: --max-head-bytes bounds what is held.
		h.reserved = rows
		h.bytes += int64(rows) * rowOverhead
	}
}

// ForgetOlder drops h's reference to prev, a head the engine retires;
// series h has not seen yet get the bound of all older sources instead.
func (h *Head) ForgetOlder(prev *Head) {
	if h.older.prev == prev {
		h.older.prev = nil
	}
}

// RepeatsOlderIn reports whether h may hold, in [lo, hi) (hi MaxInt64:
// unbounded), a point an older source holds too.
func (h *Head) RepeatsOlderIn(lo, hi int64) bool {
	o := &h.older
	if !o.known {
		return true
	}
	return o.lo <= o.hi && o.hi >= lo && (o.lo < hi || hi == math.MaxInt64)
}

// newSeriesFloor records the floor of series sid, just added with tag ids
// ids.
func (o *olderBound) newSeriesFloor(h *Head, ids []int32) {
	if !o.known {
		return
	}
	f := o.all
	if p := o.prev; p != nil {
		if psid, ok := p.seriesByValues(h, ids); ok {
			f = p.seriesLast[psid]
			if !p.older.known {
				f = math.MaxInt64
			} else if int(psid) < len(p.older.floor) {
				f = max(f, p.older.floor[psid])
			} else {
				f = math.MaxInt64
			}
		}
	}
	o.floor = append(o.floor, f)
}

// note records a row of series sid at time t.
func (o *olderBound) note(sid uint32, t int64) {
	if o.known && t <= o.floor[sid] {
		o.lo, o.hi = min(o.lo, t), max(o.hi, t)
	}
}

// seriesByValues finds in h the series of other's tag ids ids (other's
// dictionaries), by value. h must be frozen: its dictionaries are read
// without the engine's lock.
func (h *Head) seriesByValues(other *Head, ids []int32) (uint32, bool) {
	var buf [64]byte
	key := buf[:0]
	for col, id := range ids {
		pid := int32(-1)
		if id >= 0 {
			if col >= len(h.dicts) {
				return 0, false
			}
			v, ok := h.dicts[col].ids[other.dicts[col].vals[id]]
			if !ok {
				return 0, false
			}
			pid = v
		}
		key = binary.LittleEndian.AppendUint32(key, uint32(pid))
	}
	// h's keys have absent trailing tags trimmed, as ids has.
	sid, ok := h.seriesMap[string(key)]
	return sid, ok
}
