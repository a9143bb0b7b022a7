package segment

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/siltdb/silt/columnar"
)

// Folding the head's rows into partials from block-ordered copies of
// their columns. A read of partials at a width no block partial nests in
// (TSBS's per-minute queries over a head of sparse series, whose blocks
// keep hourly partials) folds the rows themselves. Rows stay in arrival
// order in the head's columns, so one series' rows of a block lie a row
// per series apart (a hundred hosts: 800 bytes between two values of one
// host): reading them in place missed the processor's caches on almost
// every value, and that was most of such a query's time. A sealed block
// therefore keeps its rows' times in its own order (series, then time),
// and the first fold that reads a field of the block copies that field's
// values into the same order (orderedColumn): a series' rows of a block
// are then a contiguous run of times and values, folded window by window
// in one typed loop per field, and each window's partials go to the table
// once. The unsealed tail (fewer than blockRows rows) is gathered into the
// same shape per fold.

// chunkValues returns the values and validity words of column c's chunk k
// (rows [k*chunkRows, (k+1)*chunkRows)): row k*chunkRows+j has a value if
// j < len(num) and bit j of valid is set. A View's current chunk has its
// last validity word apart (fieldColumn.tail): it is copied with the
// others into scratch, which is returned for reuse.
func (c *fieldColumn) chunkValues(k int, scratch []uint64) (num, valid, _ []uint64) {
	switch {
	case k < len(c.full):
		ch := c.full[k]
		return ch.num, ch.valid, scratch
	case k == len(c.full):
		ch := &c.cur
		if !c.hasTail {
			return ch.num, ch.valid, scratch
		}
		scratch = append(append(scratch[:0], ch.valid...), c.tail)
		return ch.num, scratch, scratch
	}
	return nil, nil, scratch // no values yet in that chunk
}

// orderedColumn is one field's values of a sealed block in the block's
// order: position i holds row blk.rows[i], which has a value if bit i of
// valid is set.
type orderedColumn struct {
	num   []uint64
	valid []uint64
}

// orderedColumnBytes is what an orderedColumn of n rows adds to the head.
func orderedColumnBytes(n int) int64 { return int64(8*n+8*((n+63)/64)) + 64 }

// orderedColumn returns field column c's values of sealed block blk in
// the block's order, copying them on first use; nil when the column has
// no values in the block. Any reader may build it: the copy depends only
// on rows every reader of the block sees alike (a sealed block's rows are
// all appended, and later appends write past them), and the first to
// publish it wins. A copy is kept (and counted, CopyBytes) only within
// the room the head's owner allows (CountCopiesIn); past it, or on a
// retired head, the fold that made it uses it alone.
func (h *Head) orderedColumn(blk *headBlock, c int) *orderedColumn {
	if c >= len(blk.cols) {
		return nil // a column made after the block was sealed
	}
	if oc := blk.cols[c].Load(); oc != nil {
		if oc.num == nil {
			return nil
		}
		return oc
	}
	num, valid, _ := h.fields[c].chunkValues(int(blk.lo>>chunkShift), nil)
	if len(num) == 0 {
		// No value in the block (a field its rows lack): nothing to copy.
		blk.cols[c].CompareAndSwap(nil, &noValues)
		return nil
	}
	n := len(blk.rows)
	oc := &orderedColumn{num: make([]uint64, n), valid: make([]uint64, (n+63)/64)}
	for i, r := range blk.rows {
		j := int(r - blk.lo)
		if j < len(num) && valid[j>>6]&(1<<(j&63)) != 0 {
			oc.num[i] = num[j]
			oc.valid[i>>6] |= 1 << (i & 63)
		}
	}
	size := orderedColumnBytes(n)
	if !h.copies.take(size) {
		return oc
	}
	if blk.cols[c].CompareAndSwap(nil, oc) {
		return oc
	}
	h.copies.give(size) // another reader published first
	return blk.cols[c].Load()
}

// noValues marks a block column with no value: an orderedColumn without
// values, shared.
var noValues orderedColumn

// foldOrdered folds into p, which must be empty, the values at positions
// [lo, hi) of a column of type typ laid out as num and valid (an
// orderedColumn, or the tail gathered alike; num nil: no values), whose
// times are times (in time order). It is foldRun over the values in
// place: the same arithmetic in the same order, so the partials are those
// a batch of the same rows gives.
//
// Without moments it leaves the mean and M2 alone (zero in an empty p):
// for a read that passes no PartM2 on, whose partials' M2 nobody sees.
func foldOrdered(p *partial, typ columnar.FieldType, num, valid []uint64, lo, hi int, times []int64, moments bool) {
	if num == nil {
		return
	}
	if !moments {
		foldOrderedPlain(p, typ, num, valid, lo, hi, times)
		return
	}
	num, times = num[:hi], times[:hi]
	first, last := -1, -1
	n, mean, m2 := p.n, p.mean, p.m2
	switch typ {
	case columnar.FieldFloat:
		var sum, mn, mx float64
		for i := lo; i < hi; i++ {
			if valid[i>>6]&(1<<(i&63)) == 0 {
				continue
			}
			v := math.Float64frombits(num[i])
			if n == 0 {
				mn, mx, first = v, v, i
			} else {
				if FloatLess(v, mn) {
					mn = v
				}
				if FloatLess(mx, v) {
					mx = v
				}
			}
			sum += v
			last = i
			n++
			d := v - mean
			mean += d / float64(n)
			m2 += d * (v - mean)
		}
		p.sum, p.min, p.max = math.Float64bits(sum), math.Float64bits(mn), math.Float64bits(mx)
	case columnar.FieldInt:
		var sum, mn, mx int64
		for i := lo; i < hi; i++ {
			if valid[i>>6]&(1<<(i&63)) == 0 {
				continue
			}
			v := int64(num[i])
			if n == 0 {
				mn, mx, first = v, v, i
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if (v > 0 && s < sum) || (v < 0 && s > sum) {
				p.overflow = true
			}
			sum = s
			last = i
			n++
			f := float64(v)
			d := f - mean
			mean += d / float64(n)
			m2 += d * (f - mean)
		}
		p.sum, p.min, p.max = uint64(sum), uint64(mn), uint64(mx)
	case columnar.FieldUint:
		var sum, mn, mx uint64
		for i := lo; i < hi; i++ {
			if valid[i>>6]&(1<<(i&63)) == 0 {
				continue
			}
			v := num[i]
			if n == 0 {
				mn, mx, first = v, v, i
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if s < sum {
				p.overflow = true
			}
			sum = s
			last = i
			n++
			f := float64(v)
			d := f - mean
			mean += d / float64(n)
			m2 += d * (f - mean)
		}
		p.sum, p.min, p.max = sum, mn, mx
	}
	p.n, p.mean, p.m2 = n, mean, m2
	if first >= 0 {
		p.first, p.ft = num[first], times[first]
		p.last, p.lt = num[last], times[last]
	}
}

// foldOrderedPlain is foldOrdered without the mean and M2: the count,
// sum, min, max, first and last, in the same order, so each is what
// foldOrdered gives.
func foldOrderedPlain(p *partial, typ columnar.FieldType, num, valid []uint64, lo, hi int, times []int64) {
	if lo < hi && allSet(valid, lo, hi) {
		foldDense(p, typ, num[lo:hi], times[lo], times[hi-1])
		return
	}
	num, times = num[:hi], times[:hi]
	first, last := -1, -1
	n := p.n
	switch typ {
	case columnar.FieldFloat:
		var sum, mn, mx float64
		for i := lo; i < hi; i++ {
			if valid[i>>6]&(1<<(i&63)) == 0 {
				continue
			}
			v := math.Float64frombits(num[i])
			if n == 0 {
				mn, mx, first = v, v, i
			} else {
				if FloatLess(v, mn) {
					mn = v
				}
				if FloatLess(mx, v) {
					mx = v
				}
			}
			sum += v
			last = i
			n++
		}
		p.sum, p.min, p.max = math.Float64bits(sum), math.Float64bits(mn), math.Float64bits(mx)
	case columnar.FieldInt:
		var sum, mn, mx int64
		for i := lo; i < hi; i++ {
			if valid[i>>6]&(1<<(i&63)) == 0 {
				continue
			}
			v := int64(num[i])
			if n == 0 {
				mn, mx, first = v, v, i
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if (v > 0 && s < sum) || (v < 0 && s > sum) {
				p.overflow = true
			}
			sum = s
			last = i
			n++
		}
		p.sum, p.min, p.max = uint64(sum), uint64(mn), uint64(mx)
	case columnar.FieldUint:
		var sum, mn, mx uint64
		for i := lo; i < hi; i++ {
			if valid[i>>6]&(1<<(i&63)) == 0 {
				continue
			}
			v := num[i]
			if n == 0 {
				mn, mx, first = v, v, i
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if s < sum {
				p.overflow = true
			}
			sum = s
			last = i
			n++
		}
		p.sum, p.min, p.max = sum, mn, mx
	}
	p.n = n
	if first >= 0 {
		p.first, p.ft = num[first], times[first]
		p.last, p.lt = num[last], times[last]
	}
}

// allSet reports whether bits [lo, hi) of valid are all set.
func allSet(valid []uint64, lo, hi int) bool {
	for lo < hi {
		k := min(64-lo&63, hi-lo)
		mask := uint64(1)<<k - 1 // k == 64: every bit
		if (valid[lo>>6]>>(lo&63))&mask != mask {
			return false
		}
		lo += k
	}
	return true
}

// foldDense is foldOrderedPlain over values that are all present (num,
// not empty; ft and lt the first's and last's times): the loops without
// the validity test, the same arithmetic in the same order. An integer
// sum's overflow is gathered branch-free: s = sum+v left the type iff
// sum and v share a sign that s lacks.
func foldDense(p *partial, typ columnar.FieldType, num []uint64, ft, lt int64) {
	switch typ {
	case columnar.FieldFloat:
		v0 := math.Float64frombits(num[0])
		var sum float64 // 0 + v0, not v0: -0 sums to +0, as foldOrdered's
		sum += v0
		mn, mx := v0, v0
		for _, u := range num[1:] {
			v := math.Float64frombits(u)
			if FloatLess(v, mn) {
				mn = v
			}
			if FloatLess(mx, v) {
				mx = v
			}
			sum += v
		}
		p.sum, p.min, p.max = math.Float64bits(sum), math.Float64bits(mn), math.Float64bits(mx)
	case columnar.FieldInt:
		v0 := int64(num[0])
		sum, mn, mx := v0, v0, v0
		var ov int64
		for _, u := range num[1:] {
			v := int64(u)
			mn, mx = min(mn, v), max(mx, v)
			s := sum + v
			ov |= (sum ^ s) & (v ^ s)
			sum = s
		}
		p.overflow = p.overflow || ov < 0
		p.sum, p.min, p.max = uint64(sum), uint64(mn), uint64(mx)
	case columnar.FieldUint:
		sum, mn, mx := num[0], num[0], num[0]
		var carry uint64
		for _, v := range num[1:] {
			mn, mx = min(mn, v), max(mx, v)
			var c uint64
			sum, c = bits.Add64(sum, v, 0)
			carry |= c
		}
		p.overflow = p.overflow || carry != 0
		p.sum, p.min, p.max = sum, mn, mx
	default:
		return
	}
	p.n = int64(len(num))
	p.first, p.ft = num[0], ft
	p.last, p.lt = num[len(num)-1], lt
}

// foldRows folds into t, as partials per window of width and group of the
// tags tagCols, the fields fieldCols (of types fs, in that order) of the
// head's rows whose series keep holds (nil: all) and whose time is in
// [minT, maxT), leaving out the blocks skip reports (answered from their
// partials): what foldClean's rows are, with no two of them the same
// point. Rows of one series, block and window fold into one partial per
// field, added to t in the order a scan of the same rows passes them
// (blocks in order, series ascending, then the unsealed tail). It reports
// false, having folded nothing, for a head whose blocks are not one chunk
// each (never, as heads are built); the caller then scans the rows. few
// is keptFew(keep).
func (h *Head) foldRows(keep []bool, few []uint32, minT, maxT, width int64, tagCols, fieldCols []int, fs []columnar.FieldSchema, skip func(*headBlock) bool, t *partialTable) (bool, error) {
	tailChunk := h.sealed >> chunkShift
	if h.sealed&chunkMask != 0 || (len(h.times) > h.sealed && (len(h.times)-1)>>chunkShift != tailChunk) {
		return false, nil
	}
	for _, blk := range h.blocks {
		if blk.lo&chunkMask != 0 || (blk.hi-1)>>chunkShift != blk.lo>>chunkShift {
			return false, nil
		}
	}
	f := headFolder{h: h, width: width, tagCols: tagCols, fieldCols: fieldCols, fs: fs, t: t, moments: t.want.Has(PartM2),
		ps:    make([]partial, len(fieldCols)),
		dense: make([]bool, len(fieldCols)),
		num:   make([][]uint64, len(fieldCols)),
		valid: make([][]uint64, len(fieldCols)),
		vals:  make([]string, len(tagCols)),
		has:   make([]bool, len(tagCols)),
	}
	if keep == nil || len(h.seriesTags) <= 1<<12 {
		f.groupOf = make([]int32, len(h.seriesTags))
		for i := range f.groupOf {
			f.groupOf[i] = groupUnknown
		}
	} else {
		f.groupMap = map[uint32]int32{}
	}
	kept := func(sid uint32) bool { return keep == nil || (int(sid) < len(keep) && keep[sid]) }
	for _, blk := range h.blocks {
		if !overlapsSpan(blk.minT, blk.maxT, minT, maxT) || (skip != nil && skip(blk)) {
			continue
		}
		inside := blk.minT >= minT && (blk.maxT < maxT || maxT == math.MaxInt64)
		read := false
		// A read of a few series finds each in the block's directory
		// (ascending) rather than testing every series of the block:
		// a host of a hundred, in each of a day's hundred blocks.
		byFew := few != nil && len(few)*8 < len(blk.sids)
		for x := 0; ; x++ {
			var k int
			if byFew {
				if x == len(few) {
					break
				}
				var ok bool
				if k, ok = slices.BinarySearch(blk.sids, few[x]); !ok {
					continue
				}
			} else {
				if x == len(blk.sids) {
					break
				}
				if k = x; !kept(blk.sids[k]) {
					continue
				}
			}
			sid := blk.sids[k]
			lo, hi := int(blk.start[k]), int(blk.start[k+1])
			if !inside {
				lo, hi = timeRange(blk.times, lo, hi, minT, maxT)
			}
			if lo == hi {
				continue
			}
			if !read { // the block's columns, once it has a series to fold
				f.times = blk.times
				for j, c := range fieldCols {
					f.num[j], f.valid[j] = nil, nil
					if oc := h.orderedColumn(blk, c); oc != nil {
						f.num[j], f.valid[j] = oc.num, oc.valid
					}
				}
				read = true
			}
			if err := f.series(sid, lo, hi); err != nil {
				return true, err
			}
		}
	}
	// The unsealed tail, fewer than a chunk of rows: its rows of the kept
	// series in range, by series and time (equal times in arrival order),
	// gathered into the blocks' shape.
	var tail []int32
	for i := h.sealed; i < len(h.times); i++ {
		if kept(h.series[i]) && inSpan(h.times[i], minT, maxT) {
			tail = append(tail, int32(i))
		}
	}
	if len(tail) == 0 {
		return true, nil
	}
	slices.SortStableFunc(tail, func(a, b int32) int {
		if c := cmp.Compare(h.series[a], h.series[b]); c != 0 {
			return c
		}
		return h.byTime(a, b)
	})
	f.gatherTail(tailChunk, tail)
	for i := 0; i < len(tail); {
		j := i + 1
		for j < len(tail) && h.series[tail[j]] == h.series[tail[i]] {
			j++
		}
		if err := f.series(h.series[tail[i]], i, j); err != nil {
			return true, err
		}
		i = j
	}
	return true, nil
}

// maxFewSeries bounds the series keptFew lists.
const maxFewSeries = 256

// keptFew returns, ascending, the series keep holds when they are few
// (at most maxFewSeries and an eighth of keep), for reads that look each
// up in a block's sorted directory; otherwise nil, and the reader tests
// every series of a block against keep.
func keptFew(keep []bool) []uint32 {
	if keep == nil {
		return nil
	}
	var out []uint32
	for sid, k := range keep {
		if !k {
			continue
		}
		if len(out) == maxFewSeries || len(out)*8 >= len(keep) {
			return nil
		}
		out = append(out, uint32(sid))
	}
	if len(out)*8 >= len(keep) {
		return nil
	}
	return out
}

// timeRange narrows positions [lo, hi) of times (in time order) to those
// with time in [minT, maxT).
func timeRange(times []int64, lo, hi int, minT, maxT int64) (int, int) {
	g := times[lo:hi]
	i, _ := slices.BinarySearch(g, minT)
	j := len(g)
	if maxT != math.MaxInt64 {
		j, _ = slices.BinarySearch(g, maxT)
	}
	if j < i {
		return lo, lo
	}
	return lo + i, lo + j
}

// groupUnknown marks a series whose group is not looked up yet;
// groupNone one whose partials go through the table's map (no window
// index, or past its groups).
const (
	groupUnknown = -2
	groupNone    = -1
)

// headFolder is foldRows' state: the current block's times and values
// per field (in the block's order, or the tail's gathered alike), each
// series' group, and scratch partials.
type headFolder struct {
	h         *Head
	width     int64
	tagCols   []int
	fieldCols []int
	fs        []columnar.FieldSchema
	t         *partialTable
	moments   bool // fold the mean and M2 (the table passes PartM2 on)

	times []int64
	num   [][]uint64
	valid [][]uint64

	groupOf  []int32 // per series id (or groupMap, for a few series of a large head)
	groupMap map[uint32]int32
	vals     []string
	has      []bool
	ps       []partial

	// seriesInPlace's scratch: whether each field's values in the run
	// are all present, and a partial to merge from.
	dense   []bool
	scratch partial
}

// gatherTail makes rows (unsealed rows, all in chunk k, grouped by series
// and in time order) the current block: their times and values copied in
// that order.
func (f *headFolder) gatherTail(k int, rows []int32) {
	h, base := f.h, int32(k<<chunkShift)
	f.times = make([]int64, len(rows))
	for i, r := range rows {
		f.times[i] = h.times[r]
	}
	var scratch []uint64
	for j, c := range f.fieldCols {
		var num, valid []uint64
		num, valid, scratch = h.fields[c].chunkValues(k, scratch)
		on := make([]uint64, len(rows))
		ov := make([]uint64, (len(rows)+63)/64)
		for i, r := range rows {
			if x := int(r - base); x < len(num) && valid[x>>6]&(1<<(x&63)) != 0 {
				on[i] = num[x]
				ov[i>>6] |= 1 << (i & 63)
			}
		}
		f.num[j], f.valid[j] = on, ov
	}
}

// tagsOf sets f.vals and f.has to series sid's values of the kept tags.
func (f *headFolder) tagsOf(sid uint32) {
	for j, c := range f.tagCols {
		id := f.h.tagID(sid, c)
		f.has[j], f.vals[j] = id >= 0, ""
		if id >= 0 {
			f.vals[j] = f.h.dicts[c].vals[id]
		}
	}
}

// group returns sid's group in the table's window index, or groupNone.
func (f *headFolder) group(sid uint32) int32 {
	var g int32 = groupUnknown
	if f.groupOf != nil {
		g = f.groupOf[sid]
	} else if v, ok := f.groupMap[sid]; ok {
		g = v
	}
	if g != groupUnknown {
		return g
	}
	f.tagsOf(sid)
	g = f.t.groupOf(f.vals, f.has)
	if g < 0 {
		g = groupNone
	}
	if f.groupOf != nil {
		f.groupOf[sid] = g
	} else {
		f.groupMap[sid] = g
	}
	return g
}

// series folds positions [lo, hi) of the current block (series sid's
// rows, in time order) window by window into the table.
func (f *headFolder) series(sid uint32, lo, hi int) error {
	times := f.times
	g := f.group(sid)
	if !f.moments && g >= 0 && f.t.indexed(WindowStart(times[lo], f.width)) && f.t.indexed(WindowStart(times[hi-1], f.width)) {
		return f.seriesInPlace(g, lo, hi)
	}
	for i := lo; i < hi; {
		w := WindowStart(times[i], f.width)
		j := hi
		if w <= math.MaxInt64-f.width {
			end := w + f.width
			for j = i + 1; j < hi && times[j] < end; j++ {
			}
		}
		clear(f.ps)
		for k := range f.ps {
			foldOrdered(&f.ps[k], f.fs[k].Type, f.num[k], f.valid[k], i, j, times, f.moments)
			if f.ps[k].overflow {
				return fmt.Errorf("%w (field %s)", ErrRollupOverflow, f.fs[k].Name)
			}
		}
		var err error
		if g >= 0 && f.t.indexed(w) {
			err = f.t.addGroup(g, w, int64(j-i), f.ps)
		} else {
			f.tagsOf(sid)
			err = f.t.add(w, int64(j-i), f.vals, f.has, f.ps)
		}
		if err != nil {
			return err
		}
		i = j
	}
	return nil
}

// seriesInPlace is series for a run whose windows are all in the table's
// window index, of group g, without moments: the common read of a
// dashboard (TSBS's per-minute maxima: six rows per series and window).
// Folding each window into scratch partials and copying them into the
// table cost about what the values' own arithmetic does, so each field's
// values fold straight into a new slot's partials, or into scratch merged
// into a slot an earlier block (or series of the group) began; whether a
// field's values are all present is tested once per run rather than per
// window. The windows go in order, every field of one before the next,
// as series does: the fields' runs are read side by side. Per slot and
// field the partials are what series gives: the same folds, merged in
// the same order.
func (f *headFolder) seriesInPlace(g int32, lo, hi int) error {
	times, t := f.times, f.t
	dense := f.dense[:len(f.fs)]
	for k := range f.fs {
		dense[k] = f.num[k] != nil && allSet(f.valid[k], lo, hi)
	}
	for i := lo; i < hi; {
		w := WindowStart(times[i], f.width)
		j := hi
		if w <= math.MaxInt64-f.width {
			end := w + f.width
			for j = i + 1; j < hi && times[j] < end; j++ {
			}
		}
		s, fresh, err := t.slotGroup(g, w, int64(j-i))
		if err != nil {
			return err
		}
		slot := t.parts[int(s)*t.nf : (int(s)+1)*t.nf]
		for k := range f.fs {
			num, typ := f.num[k], f.fs[k].Type
			if num == nil {
				continue // no values in the block: the partial stays as it is
			}
			p := &slot[k]
			if !fresh {
				f.scratch = partial{}
				p = &f.scratch
			}
			if dense[k] {
				foldDense(p, typ, num[i:j], times[i], times[j-1])
			} else {
				foldOrderedPlain(p, typ, num, f.valid[k], i, j, times)
			}
			if p.overflow {
				return fmt.Errorf("%w (field %s)", ErrRollupOverflow, f.fs[k].Name)
			}
			if !fresh && mergePartial(&slot[k], p, typ) {
				return ErrRollupOverflow
			}
		}
		i = j
	}
	return nil
}
