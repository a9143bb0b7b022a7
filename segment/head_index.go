package segment

import (
	"hash/maphash"
	"math"
	"slices"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// The head's series index: per tag column, value → the series holding it,
// as segments have (TagIndex). MatchSeries then costs the postings of the
// query's values, not a look at every series' tags for every key — at a
// million series that was tens of milliseconds per query.
//
// It is written by the appender, under the lock that serializes Append, and
// read by Views without any lock while the appender goes on, so everything
// a reader reaches is either immutable or published atomically:
//
//   - tagDict.lookup finds a value's dictionary id: an open-addressing
//     table of ids whose slots are only ever filled, atomically; when it
//     grows, a new table is published whole. (The dictionary's Go map is
//     the appender's alone.)
//   - tagDict.post holds, per dictionary id, the series with that value: a
//     postingSet, an immutable roaring bitmap plus a tail of series added
//     since, filled in place up to a count published after each entry.
//     When the tail is full the appender publishes a new set whose bitmap
//     holds the old one's series and the tail: readers of the old set still
//     see every series it had.
//
// Series ids only grow, and a View knows how many series it has: what a
// reader finds past that count is newer than the view and ignored.

// posting is the series of one tag value: most values of a
// high-cardinality tag have one series, kept without a set.
type posting struct {
	first atomic.Uint32              // the value's first series + 1 (0: none yet)
	more  atomic.Pointer[postingSet] // the series after it
}

// postingSet is the series of one tag value, after its first, at some
// moment.
type postingSet struct {
	frozen *roaring.Bitmap // immutable once published; nil: none
	tail   []uint32        // fixed length; entries below n are set
	n      atomic.Int32
}

// Tail lengths: a set's tail holds half as many series as its bitmap (the
// bitmap is copied once per tail, so appends stay amortized O(1)), within
// these bounds.
const (
	minPostingTail = 4
	maxPostingTail = 4096
)

// valueSlots is one generation of a dictionary's value lookup: slot i holds
// a dictionary id + 1, or 0 while empty. The length is a power of two.
type valueSlots struct {
	slot []atomic.Int32
}

// valueLookup finds a tag value's dictionary id, for the appender and
// Views alike (see the package comment above).
type valueLookup struct {
	cur  atomic.Pointer[valueSlots]
	seed maphash.Seed
	n    int // values inserted (appender only)
}

// indexValue indexes value id of d, just appended to d.vals, and returns
// the bytes the index grew by. Called by Append only.
func (d *tagDict) indexValue(id int32) int64 {
	var grown int64
	if d.lookup == nil {
		d.lookup = &valueLookup{seed: maphash.MakeSeed()}
	}
	l := d.lookup
	s := l.cur.Load()
	if s == nil || 2*(l.n+1) > len(s.slot) {
		size := 16
		if s != nil {
			size = 2 * len(s.slot)
			grown -= 4 * int64(len(s.slot))
		}
		ns := &valueSlots{slot: make([]atomic.Int32, size)}
		for old := range id {
			l.place(ns, d.vals[old], old)
		}
		grown += 4 * int64(size)
		l.cur.Store(ns)
		s = ns
	}
	l.place(s, d.vals[id], id)
	l.n++
	// One posting per value; a View shares them up to its values.
	d.post = slices.Grow(d.post, 1)[:len(d.post)+1]
	return grown + postingBytes
}

// place fills the first free slot of v's probe sequence with id.
func (l *valueLookup) place(s *valueSlots, v string, id int32) {
	mask := uint64(len(s.slot) - 1)
	for i := maphash.String(l.seed, v) & mask; ; i = (i + 1) & mask {
		if s.slot[i].Load() == 0 {
			s.slot[i].Store(id + 1)
			return
		}
	}
}

// find returns the dictionary id of v among vals (a dictionary's values,
// or a View's prefix of them).
func (d *tagDict) find(vals []string, v string) (int32, bool) {
	if d.lookup == nil {
		return -1, false
	}
	l := d.lookup
	s := l.cur.Load()
	if s == nil {
		return -1, false
	}
	mask := uint64(len(s.slot) - 1)
	for i := maphash.String(l.seed, v) & mask; ; i = (i + 1) & mask {
		x := s.slot[i].Load()
		if x == 0 {
			return -1, false
		}
		// An id past vals is a value newer than the view: not v's.
		if id := x - 1; int(id) < len(vals) && vals[id] == v {
			return id, true
		}
	}
}

// addPosting records that series sid has value id and returns the bytes
// the index grew by. Called by Append only, once per new series and tag.
func (d *tagDict) addPosting(id int32, sid uint32) int64 {
	p := &d.post[id]
	if p.first.Load() == 0 {
		p.first.Store(sid + 1)
		return 0
	}
	s := p.more.Load()
	if s != nil {
		if n := int(s.n.Load()); n < len(s.tail) {
			s.tail[n] = sid
			s.n.Store(int32(n + 1))
			return 0
		}
	}
	ns := &postingSet{tail: make([]uint32, minPostingTail)}
	if s != nil {
		if s.frozen != nil {
			ns.frozen = s.frozen.Clone()
		} else {
			ns.frozen = roaring.New()
		}
		ns.frozen.AddMany(s.tail)
		ns.frozen.RunOptimize()
		ns.tail = make([]uint32, min(max(int(ns.frozen.GetCardinality()/2), minPostingTail), maxPostingTail))
	}
	ns.tail[0] = sid
	ns.n.Store(1)
	p.more.Store(ns)
	return ns.bytes() - s.bytes()
}

// bytes is the memory of s (nil: none): the set, its tail, its bitmap.
func (s *postingSet) bytes() int64 {
	if s == nil {
		return 0
	}
	n := int64(postingSetBytes) + 4*int64(len(s.tail))
	if s.frozen != nil {
		n += int64(s.frozen.GetSizeInBytes()) + roaringBytes + roaringContainerBytes*int64(s.frozen.Stats().Containers)
	}
	return n
}

// A roaring bitmap's memory besides what GetSizeInBytes counts (its values
// and keys): the bitmap's own struct, and per container the interface in
// the container slice, its struct and its copy-on-write flag.
const (
	roaringBytes          = 80
	roaringContainerBytes = 48
)

// The size of a posting (one per value) and of a postingSet's struct.
const (
	postingBytes    = 16
	postingSetBytes = 48
)

// orPosting adds to dst the series below nSeries that have value id.
func (d *tagDict) orPosting(dst *roaring.Bitmap, id int32, nSeries uint32) {
	p := &d.post[id]
	if f := p.first.Load(); f != 0 && f-1 < nSeries {
		dst.Add(f - 1)
	}
	s := p.more.Load()
	if s == nil {
		return
	}
	if s.frozen != nil {
		dst.Or(s.frozen)
	}
	for _, sid := range s.tail[:s.n.Load()] {
		if sid < nSeries {
			dst.Add(sid)
		}
	}
}

// matchBitmap returns the series (of this head or view) that have, for
// every key of tags, one of its values: AND over keys of the OR of their
// values' postings. tags must not be empty.
func (h *Head) matchBitmap(tags map[string][]string) *roaring.Bitmap {
	nSeries := uint32(len(h.seriesTags))
	var acc *roaring.Bitmap
	for k, vals := range tags {
		c, ok := h.Schema.TagCol(k)
		if !ok || c >= len(h.dicts) {
			return roaring.New()
		}
		d := h.dicts[c]
		u := roaring.New()
		for _, v := range vals {
			if id, ok := d.find(d.vals, v); ok {
				d.orPosting(u, id, nSeries)
			}
		}
		if acc == nil {
			acc = u
		} else {
			acc.And(u)
		}
		if acc.IsEmpty() {
			return acc
		}
	}
	// Bitmaps published after the view may hold newer series.
	if acc.Maximum() >= nSeries {
		acc.RemoveRange(uint64(nSeries), math.MaxUint32+1)
	}
	return acc
}
