package segment

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"

	"github.com/siltdb/silt/columnar"
)

// Head is the in-memory, append-only columnar buffer of one table between
// flushes. Rows keep arrival order; a series is identified by its tuple of
// tag dictionary ids. Per row the head finds a known series with one lookup
// by a hash of the row's tags, and a new one with a dictionary lookup per
// tag and one series lookup — no sorting, no allocation once warmed up.
//
// Column layout (all slices indexed by row unless noted):
//
//	times   []int64          timestamp[ns]
//	series  []uint32         series id → seriesTags[id][tagCol] = dictionary id (-1 absent)
//	fields  []*fieldColumn   values + validity bitmap, padded lazily to the row count,
//	                         in fixed-size chunks (head_column.go)
//
// Arrow views of these columns are built by Record (head_arrow.go); flushing
// sorts them into a segment (write.go).
//
// A Head is not safe for concurrent use: the engine appends under its lock and
// freezes a head (no more appends) before flushing or reading it unlocked.
// A frozen head is read by scans and its flush at once, so their paths only
// read it (Finish of a finished head writes nothing; folds publish their
// copies atomically); the flush's own record (flushed, flushedRank, ...) is
// written and read by the flusher alone.
type Head struct {
	Schema *columnar.TableSchema // shared with the engine's catalog; grows

	// flushed is what the last WriteSegments wrote, a run per segment,
	// and the schema it wrote them with, kept for BuildFlushedRollups.
	flushed       []flushRun
	flushedTags   []string
	flushedFields []columnar.FieldSchema
	flushedRank   []int32 // per series, its rank in segment order (seriesRanks), for the flushed rollups

	times     []int64
	series    []uint32
	seriesMap map[string]uint32
	// seriesByHash finds a known series by its row's tags (RowTagsHash)
	// without a lookup per tag; sameTags checks what it finds.
	seriesByHash map[uint64]uint32
	seriesTags   [][]int32
	dicts        []*tagDict
	fields       []*fieldColumn

	minTime, maxTime int64
	bytes            int64
	// copies counts what readers add to sealed blocks (their
	// block-ordered columns, head_fold.go), shared with Views.
	copies *copyBytes

	// seriesLast is the latest time of each series. A row at or before it
	// is late, and only a late row can repeat a point: where the head
	// holds a point twice is tracked from them (head_dups.go).
	seriesLast []int64
	late       lateRows

	// The read index (head_blocks.go): sealed blocks cover rows
	// [0, sealed); sealStamp and sealLocal are the writer's per-series
	// scratch for sealing, sealGen its generation.
	blocks    []*headBlock
	spans     []*headBlock // span rollups (head_span_rollup.go), nil entries included
	sealed    int
	sealGen   uint32
	sealStamp []uint32
	sealLocal []int32
	// sealedLast is each series' latest time in the sealed blocks: a late
	// row after it cannot repeat a sealed point (head_dups.go).
	sealedLast []int64

	keyScratch  []byte
	hashScratch []byte
	idScratch   []int32
	// Column indices of the previous row's tags and fields, reused when
	// the next row has the same shape (the common case: one writer's rows
	// all carry the same keys in the same order).
	shapeTags   []int
	shapeFields []int
	// shapeRepeats: shapeTags names a column twice (a key repeated in
	// the row); colSeen is repeatsColumn's scratch.
	shapeRepeats bool
	colSeen      []bool

	// older: which rows may repeat a point of an older source (head_older.go).
	older olderBound
	// reserved rows of times and series were counted in bytes by Reserve.
	reserved int
	// stamps are the rows' write stamps, a run per batch (head_stamps.go).
	stamps []stampRun

	view bool // a read-only View: columns are not padded, readers check bounds
}

type tagDict struct {
	ids  map[string]int32 // the appender's alone
	vals []string
	// The series index (head_index.go): the lookup of values' ids, shared
	// with Views, and per id the series with that value.
	lookup *valueLookup
	post   []posting
}

// NewHead returns an empty head for a table with schema s.
func NewHead(s *columnar.TableSchema) *Head {
	return &Head{Schema: s, seriesMap: map[string]uint32{}, seriesByHash: map[uint64]uint32{}, minTime: math.MaxInt64, maxTime: math.MinInt64, copies: new(copyBytes)}
}

// Len returns the number of rows appended.
func (h *Head) Len() int { return len(h.times) }

// Bytes returns an estimate of the memory the head holds.
func (h *Head) Bytes() int64 { return h.bytes }

// copyBytes counts the memory readers add to a head and its Views: the
// block-ordered copies of columns that folds make on first read
// (head_fold.go). They are not in Bytes, which the writer keeps and the
// engine tracks by the change each append makes; a head adds them to its
// own total and, until Retire, to a shared total (the engine's), within
// the room its owner allows: past it a fold copies for itself only.
type copyBytes struct {
	mu      sync.Mutex
	own     int64
	shared  *atomic.Int64
	allow   func(n int64) bool
	retired bool
}

// take reports whether a copy of n bytes may be kept, and counts it if so.
// A retired head keeps none: it is on its way out.
func (c *copyBytes) take(n int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retired || (c.allow != nil && !c.allow(n)) {
		return false
	}
	c.own += n
	if c.shared != nil {
		c.shared.Add(n)
	}
	return true
}

// give takes back n bytes take counted (a copy another reader published
// first).
func (c *copyBytes) give(n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.own -= n
	if c.shared != nil && !c.retired {
		c.shared.Add(-n)
	}
}

// CountCopiesIn makes total count, from now on, the memory readers add to
// h (CopyBytes) until Retire; allow (nil: always) says whether a copy of n
// more bytes may be kept — an owner's bound on what reads add to its
// memory. Called before h is read.
func (h *Head) CountCopiesIn(total *atomic.Int64, allow func(n int64) bool) {
	h.copies.mu.Lock()
	defer h.copies.mu.Unlock()
	h.copies.shared, h.copies.allow = total, allow
	total.Add(h.copies.own)
}

// CopyBytes returns the memory readers added to h and its Views.
func (h *Head) CopyBytes() int64 {
	h.copies.mu.Lock()
	defer h.copies.mu.Unlock()
	return h.copies.own
}

// Retire takes h's copies off the total CountCopiesIn gave, for good: the
// head is gone from its owner's accounts (flushed and released, or
// dropped), and keeps no more copies.
func (h *Head) Retire() {
	c := h.copies
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shared != nil && !c.retired {
		c.shared.Add(-c.own)
	}
	c.retired = true
}

// TimeRange returns the smallest and largest time appended.
func (h *Head) TimeRange() (int64, int64) { return h.minTime, h.maxTime }

// Series returns the number of distinct series.
func (h *Head) Series() int { return len(h.seriesTags) }

// Per-row and per-entry overheads used by the memory estimate, measured
// with heap profiles of a head of 1M new series (two tags, one of 1M
// values): a series takes its seriesMap entry (key string, slot, and the
// map's growth slack: about 56 bytes), its seriesTags slice (header with
// append slack, and the ids: about 35), seriesLast, sealedLast and the
// sealing scratch (24) and its floor for older sources (8); a dictionary value its string, map entry (about 54) and vals entry
// (about 17). TestHeadBytesTrackHeap checks the estimate against the heap.
const (
	rowOverhead    = 8 + 4
	seriesOverhead = 120
	dictOverhead   = 64
	// An entry of seriesByHash (a series', or another order of its tags):
	// its 12 bytes in a 16-byte slot, with the map's control bytes and
	// growth slack.
	seriesHashOverhead = 28
)

// Append adds row r of b. The row must already have been admitted to
// h.Schema (TableSchema.Admit), so every tag and field has a column.
// sameShape promises that r has the same table, tag keys and field keys in
// the same order as the row appended before it, which saves the column
// lookups.
func (h *Head) Append(b *columnar.Batch, r *columnar.Row, sameShape bool) {
	h.append(b, r, sameShape, 0, false)
}

// AppendHashed is Append given RowTagsHash of r, computed by the caller
// before it took the lock that serializes its appends: hashing was the
// part of an append that needs nothing of the head. A wrong hash costs
// the row the lookups by tag, never its series (sameTags checks).
func (h *Head) AppendHashed(b *columnar.Batch, r *columnar.Row, sameShape bool, hash uint64) {
	h.append(b, r, sameShape, hash, true)
}

func (h *Head) append(b *columnar.Batch, r *columnar.Row, sameShape bool, hash uint64, hashed bool) {
	s := h.Schema
	for len(h.dicts) < len(s.Tags) {
		h.dicts = append(h.dicts, &tagDict{ids: map[string]int32{}})
	}
	for len(h.fields) < len(s.Fields) {
		h.fields = append(h.fields, &fieldColumn{typ: s.Fields[len(h.fields)].Type})
	}

	// Series identity: the tag dictionary ids in column order, trailing
	// absent tags trimmed so that adding a tag column later keeps old ids.
	tags, fields := b.RowTags(r), b.RowFields(r)
	if !sameShape || len(h.shapeTags) != len(tags) || len(h.shapeFields) != len(fields) {
		h.shapeTags, h.shapeFields = h.shapeTags[:0], h.shapeFields[:0]
		for _, t := range tags {
			col, _ := s.Tag(b.Bytes(t.Key))
			h.shapeTags = append(h.shapeTags, col)
		}
		for _, f := range fields {
			col, _ := s.Field(b.Bytes(f.Key))
			h.shapeFields = append(h.shapeFields, col)
		}
		h.shapeRepeats = repeatsColumn(h.shapeTags, &h.colSeen)
	}
	// The series: one lookup by a hash of the row's tag values (the
	// common case, a series seen before), checked against the series'
	// own values. Only a new series, or a row whose hash names another
	// series, takes a dictionary lookup per tag and the lookup by ids:
	// under the engine's lock, those lookups were two fifths of an append.
	// A row naming a tag twice (its last value counts) always takes the
	// lookups: sameTags counts the row's tags as distinct columns.
	sid, ok := uint32(0), false
	if !h.shapeRepeats {
		if !hashed {
			hash, h.hashScratch = RowTagsHash(h.hashScratch, b, r)
		}
		sid, ok = h.seriesByHash[hash]
	}
	if ok && h.sameTags(sid, b, tags) {
		if r.Time > h.seriesLast[sid] {
			h.seriesLast[sid] = r.Time
		} else {
			h.late.add(int32(len(h.times)), r.Time)
		}
	} else {
		sid = h.seriesOf(b, r, tags)
		if _, taken := h.seriesByHash[hash]; !taken && !h.shapeRepeats {
			h.seriesByHash[hash] = sid
			h.bytes += seriesHashOverhead
		}
	}
	h.older.note(sid, r.Time)

	row := len(h.times)
	h.times = append(h.times, r.Time)
	h.series = append(h.series, sid)
	if row >= h.reserved {
		h.bytes += rowOverhead
	}
	if r.Time < h.minTime {
		h.minTime = r.Time
	}
	if r.Time > h.maxTime {
		h.maxTime = r.Time
	}

	for i, f := range fields {
		c := h.fields[h.shapeFields[i]]
		if c.n > row {
			// Duplicate key within one line: the later value wins, as in
			// InfluxDB.
			h.bytes += c.setLast(b, &f)
			continue
		}
		h.bytes += c.pad(row)
		h.bytes += c.append(b, &f)
	}
	h.sealBlocks()
}

// seriesOf returns the id of row r's series (tags are its tags, at columns
// h.shapeTags) by its tag dictionary ids, adding its values and the series
// when new, and notes whether r is late for it.
func (h *Head) seriesOf(b *columnar.Batch, r *columnar.Row, tags []columnar.Tag) uint32 {
	s := h.Schema
	ids := h.idScratch[:0]
	for range s.Tags {
		ids = append(ids, -1)
	}
	for i, t := range tags {
		col := h.shapeTags[i]
		d := h.dicts[col]
		v := b.Bytes(t.Value)
		id, ok := d.ids[string(v)]
		if !ok {
			id = int32(len(d.vals))
			str := string(v)
			d.ids[str] = id
			d.vals = append(d.vals, str)
			h.bytes += int64(2*len(v)) + dictOverhead + d.indexValue(id)
		}
		ids[col] = id
	}
	end := len(ids)
	for end > 0 && ids[end-1] < 0 {
		end--
	}
	key := h.keyScratch[:0]
	for _, id := range ids[:end] {
		key = binary.LittleEndian.AppendUint32(key, uint32(id))
	}
	sid, ok := h.seriesMap[string(key)]
	if !ok {
		sid = uint32(len(h.seriesTags))
		h.seriesMap[string(key)] = sid
		h.seriesTags = append(h.seriesTags, append([]int32(nil), ids[:end]...))
		h.seriesLast = append(h.seriesLast, r.Time)
		h.older.newSeriesFloor(h, ids[:end])
		h.bytes += int64(len(key)*2) + seriesOverhead
		for col, id := range ids[:end] {
			if id >= 0 {
				h.bytes += h.dicts[col].addPosting(id, sid)
			}
		}
	} else if r.Time > h.seriesLast[sid] {
		h.seriesLast[sid] = r.Time
	} else {
		h.late.add(int32(len(h.times)), r.Time)
	}
	h.keyScratch, h.idScratch = key, ids
	return sid
}

// RowTagsHash hashes row r's tag keys and values in row order, with
// scratch as its buffer (returned, grown). The same tags in the same order
// hash alike, which is all seriesByHash needs: sameTags decides. It reads
// the keys' bytes rather than the head's column numbers so that a writer
// can hash its rows before it takes the engine lock, when the columns of
// a new key are not yet known (Head.AppendHashed).
func RowTagsHash(scratch []byte, b *columnar.Batch, r *columnar.Row) (uint64, []byte) {
	key := scratch[:0]
	for _, t := range b.RowTags(r) {
		k, v := b.Bytes(t.Key), b.Bytes(t.Value)
		key = binary.LittleEndian.AppendUint32(key, uint32(len(k)))
		key = append(key, k...)
		key = binary.LittleEndian.AppendUint32(key, uint32(len(v)))
		key = append(key, v...)
	}
	return maphash.Bytes(rowTagsSeed, key), key
}

// repeatsColumn reports whether cols holds a column twice; seen is
// scratch, left all false.
func repeatsColumn(cols []int, seen *[]bool) bool {
	rep := false
	for _, c := range cols {
		for len(*seen) <= c {
			*seen = append(*seen, false)
		}
		if (*seen)[c] {
			rep = true
		}
		(*seen)[c] = true
	}
	for _, c := range cols {
		(*seen)[c] = false
	}
	return rep
}

// rowTagsSeed seeds RowTagsHash: any seed does, one per process.
var rowTagsSeed = maphash.MakeSeed()

// sameTags reports whether series sid has exactly the tags of a row (tags,
// at columns h.shapeTags, no column twice): each with the row's value, and
// no other.
func (h *Head) sameTags(sid uint32, b *columnar.Batch, tags []columnar.Tag) bool {
	st := h.seriesTags[sid]
	n := 0
	for _, id := range st {
		if id >= 0 {
			n++
		}
	}
	if n != len(tags) {
		return false // a tag the row lacks, or a key the row repeats
	}
	for i, t := range tags {
		col := h.shapeTags[i]
		if col >= len(st) || st[col] < 0 || h.dicts[col].vals[st[col]] != string(b.Bytes(t.Value)) {
			return false
		}
	}
	return true
}

// Finish pads every field column to the row count. Call it before reading
// the head's columns: under the engine lock for an active head, once at
// freeze time for a frozen one. On a finished head it writes nothing, so
// concurrent readers of a frozen head may call it.
func (h *Head) Finish() {
	for len(h.fields) < len(h.Schema.Fields) {
		h.fields = append(h.fields, &fieldColumn{typ: h.Schema.Fields[len(h.fields)].Type})
	}
	for len(h.dicts) < len(h.Schema.Tags) {
		h.dicts = append(h.dicts, &tagDict{ids: map[string]int32{}})
	}
	if h.view {
		return // reads beyond a column's end see absent values
	}
	for _, c := range h.fields {
		if c.n < len(h.times) {
			h.bytes += c.pad(len(h.times))
		}
	}
}

// tagID returns the dictionary id of tag column col for series sid, or -1.
func (h *Head) tagID(sid uint32, col int) int32 {
	t := h.seriesTags[sid]
	if col < len(t) {
		return t[col]
	}
	return -1
}

// NoDuplicates reports whether no two rows of the head are the same point,
// so that its rows need no merging (ScanRange gives what ScanOrdered
// would, in another order). The common case: each writer sends its series
// in time order, or several writers' rows interleave without repeating a
// point. NoDuplicatesIn asks the same of a time range.
func (h *Head) NoDuplicates() bool { return h.NoDuplicatesIn(math.MinInt64, math.MaxInt64) }

// View returns a read-only snapshot of the head's rows so far, cheap enough
// for every query: it shares the head's column memory. Call it under the
// lock that serializes Append; afterwards the view may be read without any
// lock while the head takes more rows. This is safe because Append only
// writes past the view's lengths (the slices are capped, so nothing appends
// into them) with one exception, the validity word of the last rows, which
// the view copies (fieldColumn.tail); full column chunks and sealed blocks
// are immutable.
func (h *Head) View() *Head {
	n := len(h.times)
	v := &Head{Schema: h.Schema.Snapshot(), view: true, minTime: h.minTime, maxTime: h.maxTime, late: h.late.view(), copies: h.copies,
		times: h.times[:n:n], series: h.series[:n:n],
		seriesTags: h.seriesTags[:len(h.seriesTags):len(h.seriesTags)],
		blocks:     h.blocks[:len(h.blocks):len(h.blocks)], sealed: h.sealed,
		spans: h.spans[:len(h.spans):len(h.spans)], older: olderBound{known: h.older.known, lo: h.older.lo, hi: h.older.hi},
		stamps: h.stampsView()}
	// The columns' views in one slab each: a view is taken per query,
	// and a table of 20 columns was 40 small allocations more.
	dicts := make([]tagDict, len(h.dicts))
	v.dicts = make([]*tagDict, len(h.dicts))
	for i, d := range h.dicts {
		n := len(d.vals)
		dicts[i] = tagDict{vals: d.vals[:n:n], lookup: d.lookup, post: d.post[:n:n]}
		v.dicts[i] = &dicts[i]
	}
	fields := make([]fieldColumn, len(h.fields))
	v.fields = make([]*fieldColumn, len(h.fields))
	for i, c := range h.fields {
		c.viewTo(&fields[i])
		v.fields[i] = &fields[i]
	}
	return v
}

// HasSeries reports whether the head holds the series of row r of b (its
// table's tags, by value). It neither changes the head nor needs r admitted.
func (h *Head) HasSeries(b *columnar.Batch, r *columnar.Row) bool {
	s := h.Schema
	ids := h.idScratch[:0]
	for range s.Tags {
		ids = append(ids, -1)
	}
	defer func() { h.idScratch = ids }()
	for _, t := range b.RowTags(r) {
		col, ok := s.Tag(b.Bytes(t.Key))
		if !ok || col >= len(h.dicts) {
			return false
		}
		id, ok := h.dicts[col].ids[string(b.Bytes(t.Value))]
		if !ok {
			return false
		}
		ids[col] = id
	}
	end := len(ids)
	for end > 0 && ids[end-1] < 0 {
		end--
	}
	key := h.keyScratch[:0]
	for _, id := range ids[:end] {
		key = binary.LittleEndian.AppendUint32(key, uint32(id))
	}
	h.keyScratch = key
	_, ok := h.seriesMap[string(key)]
	return ok
}

// SeriesKey appends an identity of row r's series to dst: its table and its
// tags in row order (so two rows naming the same tags in another order get
// different keys).
func SeriesKey(dst []byte, b *columnar.Batch, r *columnar.Row) []byte {
	dst = append(dst, b.Bytes(r.Table)...)
	for _, t := range b.RowTags(r) {
		dst = append(dst, 0)
		dst = append(dst, b.Bytes(t.Key)...)
		dst = append(dst, 0)
		dst = append(dst, b.Bytes(t.Value)...)
	}
	return dst
}
