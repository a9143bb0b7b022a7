// Package merge is Silt's one last-write-wins k-way merge: it turns sorted
// point streams (segments, heads, compaction runs), oldest first, into one
// sorted stream holding one point per series and time, in which each field
// takes the value of the newest stream that has it. Compaction writes its
// output from it and scans read overlapping sources through it, so both
// resolve a rewritten point the same way.
//
// Order is the order segments are written in: day window, then the series'
// tag values in the table's tag order (a series lacking a tag first), then
// time. Compare is that order; the Merger uses it on keys it caches per
// source, rebuilt only when a source's series changes.
package merge

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// Source is one sorted input of a Merger.
type Source interface {
	// Next returns the source's next point, or nil at its end (with the
	// error that ended it, if any). The point and its slices stay valid
	// until the following call; the Merger never modifies them.
	Next() (*columnar.Point, error)
}

// Stamped is a Source that knows the write stamp of the point its Next
// returned last (segment.RowReader.Stamp: the stamp column, or a
// fallback where a source has none): 0 is unknown, older than every
// stamp.
type Stamped interface {
	Stamp() int64
}

// ErrOutOfOrder is returned by a Merger built with CheckOrder when a source
// yields points out of merge order, or one point twice.
var ErrOutOfOrder = errors.New("points out of order (a source is not sorted by window, series and time)")

// SourceError is a source's error, with the source's position among the
// Merger's sources, so the caller can say which input failed.
type SourceError struct {
	Source int
	Err    error
}

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// key is a point's place in merge order: its window, its tag values in the
// table's tag order (has[i] false: tag i absent) and its time.
type key struct {
	window int64
	vals   []string
	has    []bool
	time   int64
}

// compare is the merge order; the one comparator behind Compare and the
// Merger's heap.
func compare(a, b *key) int {
	if c := cmp.Compare(a.window, b.window); c != 0 {
		return c
	}
	for i := range a.vals {
		switch {
		case a.has[i] != b.has[i]:
			if !a.has[i] {
				return -1
			}
			return 1
		case a.has[i]:
			if c := strings.Compare(a.vals[i], b.vals[i]); c != 0 {
				return c
			}
		}
	}
	return cmp.Compare(a.time, b.time)
}

// setSeries fills k's tag values from tags in tagOrder.
func (k *key) setSeries(tags []columnar.TagValue, tagOrder []string) {
	if len(k.vals) != len(tagOrder) {
		k.vals, k.has = make([]string, len(tagOrder)), make([]bool, len(tagOrder))
	}
	for i, name := range tagOrder {
		k.vals[i], k.has[i] = "", false
		for _, t := range tags {
			if t.Key == name {
				k.vals[i], k.has[i] = t.Value, true
				break
			}
		}
	}
}

// setTime sets k's time and window.
func (k *key) setTime(t int64) {
	k.time, k.window = t, segment.WindowOf(t)
}

// Compare orders two points as the merge does (see the package comment).
// It builds keys on every call: for tests and checks, not hot loops.
func Compare(tagOrder []string, a, b *columnar.Point) int {
	var ka, kb key
	ka.setSeries(a.Tags, tagOrder)
	ka.setTime(a.Time)
	kb.setSeries(b.Tags, tagOrder)
	kb.setTime(b.Time)
	return compare(&ka, &kb)
}

// cursor is one source's position in the merge.
type cursor struct {
	src  Source
	cur  *columnar.Point
	prio int // the source's position: higher is newer
	key  key
	// stamped is the source as a Stamped (nil if it is not), stamp its
	// current point's.
	stamped Stamped
	stamp   int64
	// The tags key was built from: sources sort by series, so a source's
	// series lasts many points and the key is rebuilt only when it ends.
	keyTags []columnar.TagValue
	keyed   bool // key holds a series
}

// less is the heap's order: merge order, then the older source first, so
// versions of one point leave the heap oldest first.
func less(a, b *cursor) bool {
	if c := compare(&a.key, &b.key); c != 0 {
		return c < 0
	}
	return a.prio < b.prio
}

// Merger merges sources into one stream. It is not safe for concurrent use.
type Merger struct {
	tagOrder []string
	check    bool
	keyed    bool // more than one source or check: keys are needed

	all  []cursor
	heap []*cursor // a binary min-heap by less

	// The cursors behind the point Next returned last, advanced at the
	// start of the next call (their points are what it returned):
	// rootOnly means heap[0] alone, else the popped cursors in same.
	rootOnly bool
	same     []*cursor

	// byStamp: versions of one point are ordered by write stamp, then by
	// source (OrderByStamp); outStamp is the stamp of the point returned
	// last (Stamp).
	byStamp  bool
	outStamp int64

	out     columnar.Point // a merged point of several versions
	prev    key            // of the last point returned, with check
	hasPrev bool
	started bool
	err     error
}

// New returns a Merger of sources, given oldest first, ordered by tagOrder
// (the table's tag order). With check, a source out of order ends the merge
// with ErrOutOfOrder instead of passing the disorder on.
func New(tagOrder []string, check bool, sources ...Source) *Merger {
	m := &Merger{tagOrder: tagOrder, check: check, keyed: check || len(sources) > 1}
	m.all = make([]cursor, len(sources))
	m.heap = make([]*cursor, 0, len(sources))
	for i, s := range sources {
		st, _ := s.(Stamped)
		m.all[i] = cursor{src: s, prio: i, stamped: st}
	}
	return m
}

// OrderByStamp makes the merge resolve the versions of a point by their
// write stamps (Stamped sources; others' points have stamp 0), the
// greatest winning, and by source order between equal stamps: a cluster's
// query node merging the copies two writers hold (docs/scaling.md). A
// writer's own sources need not: their order is their order of writes.
// Call it before the first Next.
func (m *Merger) OrderByStamp() { m.byStamp = true }

// Stamp returns the write stamp of the point Next returned last: the
// greatest of its versions' (0 when no source is Stamped), what a
// compaction output records for it.
func (m *Merger) Stamp() int64 { return m.outStamp }

// advance moves c to its source's next point and reports whether it has
// one.
func (m *Merger) advance(c *cursor) (bool, error) {
	p, err := c.src.Next()
	if err != nil {
		return false, &SourceError{Source: c.prio, Err: err}
	}
	if p == nil {
		c.cur = nil
		return false, nil
	}
	c.cur = p
	if c.stamped != nil {
		c.stamp = c.stamped.Stamp()
	}
	if m.keyed {
		c.key.setTime(p.Time)
		if !c.keyed || !slices.Equal(c.keyTags, p.Tags) {
			c.keyTags, c.keyed = append(c.keyTags[:0], p.Tags...), true
			c.key.setSeries(p.Tags, m.tagOrder)
		}
	}
	return true, nil
}

// Next returns the next merged point, or nil at the end or on error (see
// Err). The point is valid until the following call; it may be a source's
// own point. The caller may reorder its Fields but must not change
// anything else.
func (m *Merger) Next() *columnar.Point {
	if m.err != nil {
		return nil
	}
	if err := m.step(); err != nil {
		m.err = err
		return nil
	}
	if len(m.heap) == 0 {
		return nil
	}
	top := m.heap[0]
	if !m.tied() {
		// The common case: one version of the point, passed on as it is.
		m.rootOnly = true
		if !m.checkOrder(&top.key) {
			return nil
		}
		m.outStamp = top.stamp
		return top.cur
	}
	// Versions of one point: pop them all (oldest first, by less) and
	// merge their fields, the newest source's value winning.
	m.rootOnly = false
	m.same = m.same[:0]
	for len(m.heap) > 0 && (len(m.same) == 0 || compare(&m.heap[0].key, &m.same[0].key) == 0) {
		m.same = append(m.same, m.pop())
	}
	if m.byStamp {
		// Oldest write first, so the newest write's fields win below
		// (insertion sort, stable: equal stamps keep source order).
		same := m.same
		for i := 1; i < len(same); i++ {
			for j := i; j > 0 && same[j].stamp < same[j-1].stamp; j-- {
				same[j], same[j-1] = same[j-1], same[j]
			}
		}
	}
	m.outStamp = 0
	for _, c := range m.same {
		m.outStamp = max(m.outStamp, c.stamp)
	}
	first := m.same[0]
	if !m.checkOrder(&first.key) {
		return nil
	}
	m.out.Time = first.cur.Time
	m.out.Tags = append(m.out.Tags[:0], first.cur.Tags...)
	m.out.Fields = m.out.Fields[:0]
	for _, c := range m.same {
		for _, f := range c.cur.Fields {
			if i := fieldIndex(m.out.Fields, f.Key); i < 0 {
				m.out.Fields = append(m.out.Fields, f)
			} else {
				m.out.Fields[i] = f
			}
		}
	}
	return &m.out
}

// Err returns the error that ended the merge, if any: a *SourceError
// wrapping a source's error, or ErrOutOfOrder.
func (m *Merger) Err() error { return m.err }

// step advances the cursors behind the last point returned (on the first
// call, every cursor) and restores the heap.
func (m *Merger) step() error {
	if !m.started {
		m.started = true
		for i := range m.all {
			c := &m.all[i]
			ok, err := m.advance(c)
			if err != nil {
				return err
			}
			if ok {
				m.heap = append(m.heap, c)
			}
		}
		for i := len(m.heap)/2 - 1; i >= 0; i-- {
			m.down(i)
		}
		return nil
	}
	if m.rootOnly {
		m.rootOnly = false
		ok, err := m.advance(m.heap[0])
		if err != nil {
			return err
		}
		if !ok {
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
		return nil
	}
	for _, c := range m.same {
		ok, err := m.advance(c)
		if err != nil {
			return err
		}
		if ok {
			m.push(c)
		}
	}
	m.same = m.same[:0]
	return nil
}

// tied reports whether another cursor holds the heap top's point: if any
// does, a child of the top does (a child is never less than its parent).
func (m *Merger) tied() bool {
	top := &m.heap[0].key
	for _, i := range [2]int{1, 2} {
		if i < len(m.heap) && compare(&m.heap[i].key, top) == 0 {
			return true
		}
	}
	return false
}

// checkOrder, with check, verifies that k comes after the previous point
// returned, and records it.
func (m *Merger) checkOrder(k *key) bool {
	if !m.check {
		return true
	}
	if m.hasPrev && compare(&m.prev, k) >= 0 {
		m.err = ErrOutOfOrder
		return false
	}
	m.prev.window, m.prev.time = k.window, k.time
	m.prev.vals = append(m.prev.vals[:0], k.vals...)
	m.prev.has = append(m.prev.has[:0], k.has...)
	m.hasPrev = true
	return true
}

func fieldIndex(fs []columnar.FieldValue, k string) int {
	for i := range fs {
		if fs[i].Key == k {
			return i
		}
	}
	return -1
}

func (m *Merger) push(c *cursor) {
	m.heap = append(m.heap, c)
	m.up(len(m.heap) - 1)
}

func (m *Merger) pop() *cursor {
	h := m.heap
	c := h[0]
	last := len(h) - 1
	h[0] = h[last]
	m.heap = h[:last]
	if last > 0 {
		m.down(0)
	}
	return c
}

func (m *Merger) up(i int) {
	h := m.heap
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (m *Merger) down(i int) {
	h := m.heap
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			j = r
		}
		if !less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
