package segment

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/siltdb/silt/columnar"
)

// Folding the head's rows into partials straight from its column chunks.
// A read of partials at a width no block partial nests in (TSBS's
// per-minute queries over a head of sparse series, whose blocks keep
// hourly partials) folds the rows themselves. Gathering them into batches
// first copied every value of every field read, with a chunk lookup and a
// validity test per value, and then split the batch into runs again: most
// of such a query's time. Here a sealed block is exactly one chunk of each
// column (head_column.go), and a block lists each series' rows in time
// order, so a series' rows of one block fold window by window in one typed
// loop per field over that chunk's values, and each window's partials go
// to the table once.

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

// foldChunk folds into p, which must be empty, the values of rows (head
// row numbers in time order, all in the chunk starting at row base) of a
// column of type typ whose chunk holds num and valid (chunkValues); times
// are the head's. It is foldRun over a chunk's values in place: the same
// arithmetic in the same order, so the partials are those a batch of the
// same rows gives.
func foldChunk(p *partial, typ columnar.FieldType, num, valid []uint64, base int32, rows []int32, times []int64) {
	first, last := int32(-1), int32(-1)
	n, mean, m2 := p.n, p.mean, p.m2
	switch typ {
	case columnar.FieldFloat:
		var sum, mn, mx float64
		for _, r := range rows {
			j := int(r - base)
			if j >= len(num) || valid[j>>6]&(1<<(j&63)) == 0 {
				continue
			}
			v := math.Float64frombits(num[j])
			if n == 0 {
				mn, mx, first = v, v, r
			} else {
				if FloatLess(v, mn) {
					mn = v
				}
				if FloatLess(mx, v) {
					mx = v
				}
			}
			sum += v
			last = r
			n++
			d := v - mean
			mean += d / float64(n)
			m2 += d * (v - mean)
		}
		p.sum, p.min, p.max = math.Float64bits(sum), math.Float64bits(mn), math.Float64bits(mx)
	case columnar.FieldInt:
		var sum, mn, mx int64
		for _, r := range rows {
			j := int(r - base)
			if j >= len(num) || valid[j>>6]&(1<<(j&63)) == 0 {
				continue
			}
			v := int64(num[j])
			if n == 0 {
				mn, mx, first = v, v, r
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if (v > 0 && s < sum) || (v < 0 && s > sum) {
				p.overflow = true
			}
			sum = s
			last = r
			n++
			f := float64(v)
			d := f - mean
			mean += d / float64(n)
			m2 += d * (f - mean)
		}
		p.sum, p.min, p.max = uint64(sum), uint64(mn), uint64(mx)
	case columnar.FieldUint:
		var sum, mn, mx uint64
		for _, r := range rows {
			j := int(r - base)
			if j >= len(num) || valid[j>>6]&(1<<(j&63)) == 0 {
				continue
			}
			v := num[j]
			if n == 0 {
				mn, mx, first = v, v, r
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if s < sum {
				p.overflow = true
			}
			sum = s
			last = r
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
		p.first, p.ft = num[first-base], times[first]
		p.last, p.lt = num[last-base], times[last]
	}
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
// each (never, as heads are built); the caller then scans the rows.
func (h *Head) foldRows(keep []bool, minT, maxT, width int64, tagCols, fieldCols []int, fs []columnar.FieldSchema, skip func(*headBlock) bool, t *partialTable) (bool, error) {
	tailChunk := h.sealed >> chunkShift
	if h.sealed&chunkMask != 0 || (len(h.times) > h.sealed && (len(h.times)-1)>>chunkShift != tailChunk) {
		return false, nil
	}
	for _, blk := range h.blocks {
		if blk.lo&chunkMask != 0 || (blk.hi-1)>>chunkShift != blk.lo>>chunkShift {
			return false, nil
		}
	}
	f := headFolder{h: h, width: width, tagCols: tagCols, fieldCols: fieldCols, fs: fs, t: t,
		ps:      make([]partial, len(fieldCols)),
		num:     make([][]uint64, len(fieldCols)),
		valid:   make([][]uint64, len(fieldCols)),
		scratch: make([][]uint64, len(fieldCols)),
		vals:    make([]string, len(tagCols)),
		has:     make([]bool, len(tagCols)),
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
		f.chunk(int(blk.lo >> chunkShift))
		inside := blk.minT >= minT && (blk.maxT < maxT || maxT == math.MaxInt64)
		for k, sid := range blk.sids {
			if !kept(sid) {
				continue
			}
			g := blk.rows[blk.start[k]:blk.start[k+1]]
			if !inside {
				g = h.timeRun(g, minT, maxT)
			}
			if err := f.series(sid, g); err != nil {
				return true, err
			}
		}
	}
	// The unsealed tail, fewer than a chunk of rows: its rows of the kept
	// series in range, by series and time (equal times in arrival order).
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
	f.chunk(tailChunk)
	for i := 0; i < len(tail); {
		j := i + 1
		for j < len(tail) && h.series[tail[j]] == h.series[tail[i]] {
			j++
		}
		if err := f.series(h.series[tail[i]], tail[i:j]); err != nil {
			return true, err
		}
		i = j
	}
	return true, nil
}

// groupUnknown marks a series whose group is not looked up yet;
// groupNone one whose partials go through the table's map (no window
// index, or past its groups).
const (
	groupUnknown = -2
	groupNone    = -1
)

// headFolder is foldRows' state: the current chunk's values per field,
// each series' group, and scratch partials.
type headFolder struct {
	h         *Head
	width     int64
	tagCols   []int
	fieldCols []int
	fs        []columnar.FieldSchema
	t         *partialTable

	base    int32 // first row of the current chunk
	num     [][]uint64
	valid   [][]uint64
	scratch [][]uint64

	groupOf  []int32 // per series id (or groupMap, for a few series of a large head)
	groupMap map[uint32]int32
	vals     []string
	has      []bool
	ps       []partial
}

// chunk makes chunk k the one rows are read from.
func (f *headFolder) chunk(k int) {
	f.base = int32(k << chunkShift)
	for j, c := range f.fieldCols {
		f.num[j], f.valid[j], f.scratch[j] = f.h.fields[c].chunkValues(k, f.scratch[j])
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

// series folds rows (of series sid, in time order, in the current chunk)
// window by window into the table.
func (f *headFolder) series(sid uint32, rows []int32) error {
	if len(rows) == 0 {
		return nil
	}
	times := f.h.times
	g := f.group(sid)
	for i := 0; i < len(rows); {
		w := WindowStart(times[rows[i]], f.width)
		j := len(rows)
		if w <= math.MaxInt64-f.width {
			end := w + f.width
			for j = i + 1; j < len(rows) && times[rows[j]] < end; j++ {
			}
		}
		clear(f.ps)
		for k := range f.ps {
			foldChunk(&f.ps[k], f.fs[k].Type, f.num[k], f.valid[k], f.base, rows[i:j], times)
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
