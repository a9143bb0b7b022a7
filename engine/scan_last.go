package engine

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// Last-value scans answer "the latest value of each field per series"
// (last(x, time) grouped by tags) without reading every row: a segment is
// immutable, so its per-series last values are computed once and kept in
// memory (lastCache); heads answer from their block index, a few rows per
// series and block (Head.LatestRows). Sources are folded oldest first and a
// value at an equal time replaces the older one, which is exactly the
// merge's "last written wins" for duplicates.
//
// Across writers (a cluster's query node, where TableScan.crossWriter holds
// for the scan's sources) the source order is not the write order: the
// full scan merges two writers' copies of a point by their write stamps
// (scan_stamps.go), and so does this fold. Each field's last value then
// carries the stamp of the copy it came from, and at an equal time the
// greater stamp wins; equal stamps leave it to the source order (the later
// source wins), as the merge's stable sort by stamp does. Since each
// source holds one copy of a point (a segment is deduplicated; a query
// node's head of a writer's rows is that writer's merged scan), comparing
// field by field on (time, stamp) keeps, of each field, the newest copy's
// value that has one — what the merge's point answers. Stamps come from
// where the full scan reads them, with its fallbacks: a segment's stamp
// column (0 there, or no column at all: the segment's write_max), a
// head's stamp runs (none: math.MaxInt64, after every segment).
//
// The single-writer path pays nothing for it: a summary keeps stamps only
// when a cross-writer scan asked for them (lastSet.stamped), and a
// segment without the stamp column needs none kept (its write_max stands
// for every point). A stamped summary costs 8 bytes per series and field
// more and replaces the plain one in the cache (a query node's), so the
// cache still holds one summary per segment, bounded as before.

// maxCachedSeries bounds the series of one segment whose summary is kept;
// past it the summary is computed per query and dropped.
const maxCachedSeries = 200_000

// lastCache maps a segment's path to its *lastSet over every field.
type lastCache struct{ m sync.Map }

// lastSet keeps, per series and field, the value at the largest time seen.
type lastSet struct {
	fields  []columnar.FieldSchema
	fieldAt map[string]int
	series  map[string]*lastSeries
	order   []*lastSeries // insertion order, for deterministic output
	key     []byte
	tagIdx  []int // scratch: a batch's tag vectors sorted by name
	// Scratch of addBatch: per field, the batch's vector; the series whose
	// values the batch replaces.
	vecs    []*columnar.FieldVector
	touched []*lastSeries
	// byIDs finds a batch row's series by a hash of its tag ids (checked
	// against a row of that series), sparing the key of every row when
	// the series of a batch interleave, as in arrival order.
	byIDs map[uint64]idSeries
	// slab and its per-field arrays: the next entries add hands out.
	slab   []lastSeries
	slabT  []int64 // per entry nf times, and in a stamped set nf stamps after them
	slabV  []columnar.FieldValue
	slabAt []int32
	// tagSlab: the next series' tags seriesOf hands out.
	tagSlab []columnar.TagValue
	hint    int // the series expected, when known: the first slab's size
	// stamped: each field's last value keeps its write stamp (lastSeries.stamps)
	// and an equal time is decided by it; set before the first add.
	stamped bool
	headSt  columnar.FieldVector // scratch: a head batch's rows' stamps
}

type idSeries struct {
	e   *lastSeries
	row int // a row of the batch in e
}

type lastSeries struct {
	tags []columnar.TagValue // sorted by key
	t    []int64             // per field; math.MinInt64: no value yet
	v    []columnar.FieldValue
	// at is, during addBatch, per field the row of the batch holding the
	// new last value (-1: none); values are copied once per batch, not
	// once per newer row.
	at      []int32
	touched bool
}

// stamps returns, in a stamped set, per field the write stamp of the value
// (0 in a segment's summary: the row had none, and the segment's write_max
// stands for it when merged); empty otherwise. They live in t's capacity,
// past its length (a stamped set carves t twice as long): a plain set's
// entries, a single node's, carry no more than before.
func (e *lastSeries) stamps() []int64 { return e.t[len(e.t):cap(e.t)] }

func newLastSet(fields []columnar.FieldSchema) *lastSet {
	s := &lastSet{fields: fields, fieldAt: map[string]int{}, series: map[string]*lastSeries{}}
	for i, f := range fields {
		s.fieldAt[f.Name] = i
	}
	return s
}

// addBatch folds the batch's rows with time in [minT, maxT) into s. The
// batch must hold every tag of its rows (series identity).
func (s *lastSet) addBatch(b *columnar.ColumnBatch, minT, maxT int64) {
	s.addBatchStamped(b, minT, maxT, nil, 0)
}

// addBatchStamped is addBatch for a stamped set: row r's write stamp is
// stamps.I[r], or fallback where stamps is nil, the row null or 0. An
// unstamped set ignores them.
func (s *lastSet) addBatchStamped(b *columnar.ColumnBatch, minT, maxT int64, stamps *columnar.FieldVector, fallback int64) {
	s.tagIdx = s.tagIdx[:0]
	for i := range b.Tags {
		s.tagIdx = append(s.tagIdx, i)
	}
	slices.SortFunc(s.tagIdx, func(x, y int) int { return strings.Compare(b.Tags[x].Name, b.Tags[y].Name) })
	s.vecs = s.vecs[:0]
	for range s.fields {
		s.vecs = append(s.vecs, nil)
	}
	for j := range b.Fields {
		if k, ok := s.fieldAt[b.Fields[j].Name]; ok && s.fields[k].Type == b.Fields[j].Type {
			s.vecs[k] = &b.Fields[j]
		}
	}
	s.touched = s.touched[:0]
	if s.byIDs == nil {
		s.byIDs = map[uint64]idSeries{}
	}
	clear(s.byIDs) // ids are the batch's own
	var cur *lastSeries
	prev := -1
	for r := 0; r < b.Len; r++ {
		t := b.Time[r]
		if t < minT || (t >= maxT && maxT != math.MaxInt64) {
			continue
		}
		if prev < 0 || !sameSeries(b, prev, r) {
			h := idsHash(b, r)
			if m, ok := s.byIDs[h]; ok && sameSeries(b, m.row, r) {
				cur = m.e
			} else {
				cur = s.seriesOf(b, r)
				if !ok {
					s.byIDs[h] = idSeries{cur, r}
				}
			}
			if !cur.touched {
				cur.touched = true
				s.touched = append(s.touched, cur)
			}
		}
		prev = r
		if s.stamped {
			st := fallback
			if stamps != nil && !stamps.IsNull(r) && stamps.I[r] != 0 {
				st = stamps.I[r]
			}
			cst := cur.stamps()
			for k, fv := range s.vecs {
				if fv == nil || fv.IsNull(r) || t < cur.t[k] || t == cur.t[k] && st < cst[k] {
					continue
				}
				cur.t[k], cst[k] = t, st
				cur.at[k] = int32(r)
			}
			continue
		}
		for k, fv := range s.vecs {
			if fv == nil || fv.IsNull(r) || t < cur.t[k] {
				continue
			}
			cur.t[k] = t
			cur.at[k] = int32(r)
		}
	}
	for _, e := range s.touched {
		for k, r := range e.at {
			if r >= 0 {
				e.v[k] = fieldValue(s.vecs[k], int(r))
				e.at[k] = -1
			}
		}
		e.touched = false
	}
}

// idsHash mixes row r's tag ids (FNV-1a over the ids).
func idsHash(b *columnar.ColumnBatch, r int) uint64 {
	h := uint64(14695981039346656037)
	for i := range b.Tags {
		h = (h ^ uint64(uint32(b.Tags[i].IDs[r]))) * 1099511628211
	}
	return h
}

func sameSeries(b *columnar.ColumnBatch, r1, r2 int) bool {
	for i := range b.Tags {
		if b.Tags[i].IDs[r1] != b.Tags[i].IDs[r2] {
			return false
		}
	}
	return true
}

// seriesOf returns the entry of row r's series, creating it.
func (s *lastSet) seriesOf(b *columnar.ColumnBatch, r int) *lastSeries {
	s.key = s.key[:0]
	for _, i := range s.tagIdx {
		tv := &b.Tags[i]
		if id := tv.IDs[r]; id >= 0 {
			s.key = append(append(append(append(s.key, tv.Name...), 0), tv.Dict[id]...), 0)
		}
	}
	if e, ok := s.series[string(s.key)]; ok {
		return e
	}
	// The key is one copy of the series' tags (name NUL value NUL …):
	// the tags are slices of it, not a copy of each name and value.
	key := string(s.key)
	n := 0
	for _, i := range s.tagIdx {
		if b.Tags[i].IDs[r] >= 0 {
			n++
		}
	}
	if len(s.tagSlab) < n {
		s.tagSlab = make([]columnar.TagValue, max(n*min(max(len(s.order), s.hint, 16), 1024), n))
	}
	tags := s.tagSlab[:0:n]
	s.tagSlab = s.tagSlab[n:]
	at := 0
	for _, i := range s.tagIdx {
		tv := &b.Tags[i]
		if id := tv.IDs[r]; id >= 0 {
			name := key[at : at+len(tv.Name)]
			at += len(tv.Name) + 1
			value := key[at : at+len(tv.Dict[id])]
			at += len(tv.Dict[id]) + 1
			tags = append(tags, columnar.TagValue{Key: name, Value: value})
		}
	}
	return s.add(key, tags)
}

// add creates the entry of a series (key as seriesOf builds it) with no
// values yet.
func (s *lastSet) add(key string, tags []columnar.TagValue) *lastSeries {
	if len(s.slab) == 0 {
		// Entries and their per-field arrays are carved from chunks:
		// a few allocations per chunk of series rather than four per
		// series (a lastpoint query over a head makes them all anew).
		// Chunks grow with the set: small sets waste little, large
		// ones allocate rarely.
		n := min(max(len(s.order), s.hint, 16), 1024)
		s.slab = make([]lastSeries, n)
		nf := len(s.fields)
		nt := nf
		if s.stamped {
			nt = 2 * nf // times, then stamps (lastSeries.stamps)
		}
		s.slabT = make([]int64, n*nt)
		s.slabV = make([]columnar.FieldValue, n*nf)
		s.slabAt = make([]int32, n*nf)
	}
	nf := len(s.fields)
	nt := nf
	if s.stamped {
		nt = 2 * nf
	}
	e := &s.slab[0]
	s.slab = s.slab[1:]
	e.tags = tags
	e.t, s.slabT = s.slabT[:nf:nt], s.slabT[nt:]
	e.v, s.slabV = s.slabV[:nf:nf], s.slabV[nf:]
	e.at, s.slabAt = s.slabAt[:nf:nf], s.slabAt[nf:]
	for k := range e.t {
		e.t[k], e.at[k] = math.MinInt64, -1
	}
	st := e.stamps()
	for k := range st {
		st[k] = math.MinInt64
	}
	s.series[key] = e
	s.order = append(s.order, e)
	return e
}

func fieldValue(fv *columnar.FieldVector, r int) columnar.FieldValue {
	v := columnar.FieldValue{Key: fv.Name, Type: fv.Type}
	switch fv.Type {
	case columnar.FieldFloat:
		v.Num = math.Float64bits(fv.F[r])
	case columnar.FieldInt:
		v.Num = uint64(fv.I[r])
	case columnar.FieldUint:
		v.Num = fv.U[r]
	case columnar.FieldBool:
		if fv.B[r] {
			v.Num = 1
		}
	case columnar.FieldString:
		v.Str = strings.Clone(fv.S[r])
	}
	return v
}

// merge folds o, a newer source, into s: values in [minT, maxT) only. In
// a stamped set, a value of o at an equal time replaces s's unless its
// stamp is smaller: o's stamp, or fallback where o has none (an unstamped
// summary, or a 0 in a stamped one: rows without a stamp).
func (s *lastSet) merge(o *lastSet, minT, maxT, fallback int64) {
	if len(s.series) == 0 && s.hint == 0 {
		// The first source's series are about all there are.
		s.series = make(map[string]*lastSeries, len(o.order))
		s.hint = len(o.order)
	}
	var key []byte
	for _, oe := range o.order {
		key = key[:0]
		for _, tv := range oe.tags {
			key = append(append(append(append(key, tv.Key...), 0), tv.Value...), 0)
		}
		e, ok := s.series[string(key)]
		for k, t := range oe.t {
			if t == math.MinInt64 || t < minT || (t >= maxT && maxT != math.MaxInt64) {
				continue
			}
			j, has := s.fieldAt[o.fields[k].Name]
			if !has || s.fields[j].Type != o.fields[k].Type {
				continue
			}
			if !ok {
				e, ok = s.add(string(key), oe.tags), true
			}
			if s.stamped {
				st := fallback
				if o.stamped && oe.stamps()[k] != 0 {
					st = oe.stamps()[k]
				}
				if est := e.stamps(); t > e.t[j] || t == e.t[j] && st >= est[j] {
					e.t[j], e.v[j], est[j] = t, oe.v[k], st
				}
				continue
			}
			if t >= e.t[j] {
				e.t[j], e.v[j] = t, oe.v[k]
			}
		}
	}
}

// runLast is RunBatches for a LastOnly scan: per series, for each field of
// Columns, the row at its largest time in the scan's range (with that
// field's value only, plus any other field with a value at the same time).
func (ts *TableScan) runLast(ctx context.Context, fn func(*columnar.ColumnBatch) error) error {
	var fields []columnar.FieldSchema
	for _, f := range ts.fields {
		if slices.Contains(ts.Columns, f.Name) {
			fields = append(fields, f)
		}
	}
	acc := newLastSet(fields)
	// Sources of several writers: equal times are decided by write stamp,
	// as the full scan's merge decides them (see the top of this file).
	acc.stamped = ts.crossWriter(ts.allSources())
	cache := &ts.eng.lastCache
	cols := slices.Clone(ts.tagOrder) // every tag: series identity
	for _, f := range fields {
		cols = append(cols, f.Name)
	}
	var stampCols []string // a segment's columns with its stamps, when read
	if acc.stamped {
		stampCols = append(slices.Clone(cols), segment.StampColumn)
	}
	for i, seg := range ts.segs { // oldest first
		if err := ctx.Err(); err != nil {
			return err
		}
		// A segment's points without a stamp of their own (no column, or
		// 0 in it) have its write_max, as in stampedSegment.
		var writeMax int64
		if i < len(ts.metas) {
			writeMax = ts.metas[i].WriteMax
		}
		readStamps := acc.stamped && seg.Info.WriteStamps
		covered := ts.maxT == math.MaxInt64 || seg.Info.MaxTime < ts.maxT
		if !covered {
			// The segment reaches past the range: its overall last values
			// may lie outside, so it is read for this query's range.
			c := cols
			if readStamps {
				c = stampCols
			}
			if err := seg.ScanBatches(c, nil, func(b *columnar.ColumnBatch) error {
				acc.addBatchStamped(b, ts.minT, ts.maxT, stampVector(b, readStamps), writeMax)
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		sum, err := cache.segment(seg, readStamps)
		if err != nil {
			return err
		}
		acc.merge(sum, ts.minT, ts.maxT, writeMax)
	}
	for _, h := range ts.heads {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The head's index gives a few candidate rows per series and block,
		// of the series the scan's tags select (a stat panel's one host).
		keep := h.MatchSeries(ts.Tags)
		fieldCols := h.FieldCols(ts.Columns)
		rows := h.LatestRows(keep, ts.minT, ts.maxT, fieldCols)
		if len(ts.segs) == 0 && len(ts.heads) == 1 && len(fieldCols) > 0 && h.OneCompleteRowEach(rows, fieldCols) {
			// Everything in one head (a live dashboard's data before its
			// first flush), and its latest rows a complete row per series:
			// they are the answer as they stand, sent without folding
			// them into a summary and rebuilding them from it. (With no
			// field of the head read there is no last value: the summary
			// answers nothing.)
			return h.ScanRows(cols, rows, BatchRows, fn)
		}
		if len(acc.series) == 0 && keep == nil {
			// Every series of the head gets an entry: size the map once.
			acc.series = make(map[string]*lastSeries, min(h.Series(), 1<<16))
			acc.hint = h.Series()
		}
		if !acc.stamped {
			if err := h.ScanRows(cols, rows, BatchRows, func(b *columnar.ColumnBatch) error {
				acc.addBatch(b, ts.minT, ts.maxT)
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		// Each row's stamp from the head's runs; a head without them (a
		// writer of an older build) is newer than every segment, as in
		// mergeStamped. A query node's head of a writer's rows holds one
		// row per point (the writer's merged scan, with each point's
		// newest stamp), so a row's stamp is its point's. (A node's own
		// heads may hold a point twice, but never meet another writer's
		// sources: only a read-only query node serves the union.)
		next := 0 // rows[next] is the first row of the next batch
		if err := h.ScanRows(cols, rows, BatchRows, func(b *columnar.ColumnBatch) error {
			if next+b.Len > len(rows) {
				return fmt.Errorf("last values: a head batch of %d rows past the %d rows asked (%d read)", b.Len, len(rows), next)
			}
			st := &acc.headSt
			st.I = st.I[:0]
			for _, r := range rows[next : next+b.Len] {
				st.I = append(st.I, h.StampOf(int(r)))
			}
			next += b.Len
			acc.addBatchStamped(b, ts.minT, ts.maxT, st, math.MaxInt64)
			return nil
		}); err != nil {
			return err
		}
	}
	// Only the tags the query reads go out (a lastpoint by host reads one
	// of TSBS's ten): the series are told apart already.
	var out []string
	for _, t := range ts.tagOrder {
		if slices.Contains(ts.Columns, t) {
			out = append(out, t)
		}
	}
	return acc.emit(out, BatchRows, fn)
}

// shortDict is the number of values a tag's dictionary is searched
// through before emit indexes it in a map.
const shortDict = 8

// emit passes s's last values to fn as batches of up to max rows: per
// series, a row per distinct time among its fields' last values, with the
// values of the fields at that time. The columns are sized once for the
// rows there are, where a BatchBuilder would grow each of them row by row.
func (s *lastSet) emit(tagOrder []string, max int, fn func(*columnar.ColumnBatch) error) error {
	nf := len(s.fields)
	done := make([]bool, nf)
	rows := 0
	for _, e := range s.order {
		clear(done)
		for k := range nf {
			if done[k] || e.t[k] == math.MinInt64 {
				continue
			}
			for j := k; j < nf; j++ {
				if e.t[j] == e.t[k] {
					done[j] = true
				}
			}
			rows++
		}
	}
	if rows == 0 {
		return nil
	}
	n := min(rows, max)
	var b columnar.ColumnBatch
	b.Time = make([]int64, 0, n)
	for _, t := range tagOrder {
		if !slices.ContainsFunc(b.Tags, func(tv columnar.TagVector) bool { return tv.Name == t }) {
			// Stable: the values are slices of the series' keys, strings
			// of their own that the last-value cache holds past the scan,
			// and idOf keeps each once per dictionary.
			b.Tags = append(b.Tags, columnar.TagVector{Name: t, IDs: make([]int32, 0, n), Stable: true})
		}
	}
	// at[j] is the column of a series' j-th tag (-1: not emitted), worked
	// out again only when a series' tag keys differ from the previous
	// one's (series of a table mostly share theirs).
	var at []int
	var atKeys []columnar.TagValue
	columnsOf := func(tags []columnar.TagValue) []int {
		if len(tags) == len(atKeys) && slices.EqualFunc(tags, atKeys, func(x, y columnar.TagValue) bool { return x.Key == y.Key }) {
			return at
		}
		at, atKeys = at[:0], tags
		for _, tv := range tags {
			at = append(at, slices.IndexFunc(b.Tags, func(c columnar.TagVector) bool { return c.Name == tv.Key }))
		}
		return at
	}
	// Per tag, the ids of its values: looked up in the dictionary itself
	// while it is short (most tags have a few values), in a map made
	// once it is not.
	dicts := make([]map[string]int32, len(b.Tags))
	idOf := func(i int, v string) int32 {
		tc := &b.Tags[i]
		if m := dicts[i]; m != nil {
			id, ok := m[v]
			if !ok {
				id = int32(len(tc.Dict))
				tc.Dict = append(tc.Dict, v)
				m[v] = id
			}
			return id
		}
		for id, d := range tc.Dict {
			if d == v {
				return int32(id)
			}
		}
		tc.Dict = append(tc.Dict, v)
		if len(tc.Dict) > shortDict {
			// Sized for every row of the batch: a tag past shortDict
			// values is mostly one per series (a host name).
			dicts[i] = make(map[string]int32, n)
			for id, d := range tc.Dict {
				dicts[i][d] = int32(id)
			}
		}
		return int32(len(tc.Dict) - 1)
	}
	b.Fields = make([]columnar.FieldVector, nf)
	nulls := make([][]bool, nf)
	for k, f := range s.fields {
		fc := &b.Fields[k]
		fc.Name, fc.Type = f.Name, f.Type
		nulls[k] = make([]bool, 0, n)
		switch f.Type {
		case columnar.FieldFloat:
			fc.F = make([]float64, 0, n)
		case columnar.FieldInt:
			fc.I = make([]int64, 0, n)
		case columnar.FieldUint:
			fc.U = make([]uint64, 0, n)
		case columnar.FieldBool:
			fc.B = make([]bool, 0, n)
		case columnar.FieldString:
			fc.S = make([]string, 0, n)
		}
	}
	flush := func() error {
		for k := range b.Fields {
			fc := &b.Fields[k]
			fc.Null = nulls[k]
			if !slices.Contains(fc.Null, true) {
				fc.Null = nil // consumers take a faster path without one
			}
		}
		err := fn(&b)
		b.Len, b.Time = 0, b.Time[:0]
		for i := range b.Tags {
			b.Tags[i].Dict, b.Tags[i].IDs = b.Tags[i].Dict[:0], b.Tags[i].IDs[:0]
			dicts[i] = nil
		}
		for k := range b.Fields {
			fc := &b.Fields[k]
			nulls[k] = nulls[k][:0]
			fc.F, fc.I, fc.U, fc.B, fc.S = fc.F[:0], fc.I[:0], fc.U[:0], fc.B[:0], fc.S[:0]
		}
		return err
	}
	for _, e := range s.order {
		clear(done)
		for k := range nf {
			if done[k] || e.t[k] == math.MinInt64 {
				continue
			}
			b.Len++
			b.Time = append(b.Time, e.t[k])
			for i := range b.Tags {
				b.Tags[i].IDs = append(b.Tags[i].IDs, -1)
			}
			for j, i := range columnsOf(e.tags) {
				if i < 0 {
					continue
				}
				tc := &b.Tags[i]
				tc.IDs[len(tc.IDs)-1] = idOf(i, e.tags[j].Value)
			}
			for j := range nf {
				has := !done[j] && e.t[j] == e.t[k]
				if has {
					done[j] = true
				}
				fc := &b.Fields[j]
				nulls[j] = append(nulls[j], !has)
				v := e.v[j]
				if !has {
					v = columnar.FieldValue{}
				}
				switch fc.Type {
				case columnar.FieldFloat:
					fc.F = append(fc.F, math.Float64frombits(v.Num))
				case columnar.FieldInt:
					fc.I = append(fc.I, int64(v.Num))
				case columnar.FieldUint:
					fc.U = append(fc.U, v.Num)
				case columnar.FieldBool:
					fc.B = append(fc.B, v.Num != 0)
				case columnar.FieldString:
					fc.S = append(fc.S, v.Str)
				}
			}
			if b.Len >= max {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if b.Len == 0 {
		return nil
	}
	return flush()
}

// stampVector returns the batch's stamp column (segment.StampColumn) when
// read, nil otherwise.
func stampVector(b *columnar.ColumnBatch, read bool) *columnar.FieldVector {
	if !read {
		return nil
	}
	for j := range b.Fields {
		if b.Fields[j].Name == segment.StampColumn && b.Fields[j].Type == columnar.FieldInt {
			return &b.Fields[j]
		}
	}
	return nil
}

// segment returns seg's summary over all its fields, computing and (for
// segments of moderate cardinality) caching it. stamped asks for the
// stamps of its values (the segment's stamp column, which it must have):
// a plain summary cached is then computed again with them and replaces it,
// and a stamped one also serves plain scans, which ignore its stamps.
func (c *lastCache) segment(seg *segment.Segment, stamped bool) (*lastSet, error) {
	if v, ok := c.m.Load(seg.Path()); ok {
		if sum := v.(*lastSet); sum.stamped || !stamped {
			return sum, nil
		}
	}
	cols := slices.Clone(seg.Info.Tags)
	for _, f := range seg.Info.Fields {
		cols = append(cols, f.Name)
	}
	if stamped {
		cols = append(cols, segment.StampColumn)
	}
	sum := newLastSet(slices.Clone(seg.Info.Fields))
	// Raw stamps (fallback 0): merge puts the segment's write_max in for
	// rows without one.
	sum.stamped = stamped
	if err := seg.ScanBatches(cols, nil, func(b *columnar.ColumnBatch) error {
		sum.addBatchStamped(b, math.MinInt64, math.MaxInt64, stampVector(b, stamped), 0)
		return nil
	}); err != nil {
		return nil, err
	}
	if len(sum.order) <= maxCachedSeries {
		c.keep(seg.Path(), sum)
	}
	return sum, nil
}

// keep caches sum, a summary segment computed, under path. A plain one
// never replaces what another query cached meanwhile: that may be a
// stamped summary, which serves plain scans too, and losing it would
// have the next cross-writer scan read the whole segment again.
func (c *lastCache) keep(path string, sum *lastSet) {
	if sum.stamped {
		c.m.Store(path, sum)
		return
	}
	c.m.LoadOrStore(path, sum)
}

// fromHead caches the summaries of segments metas just written from the
// frozen head h, computed from the head's block index (a few rows per
// series, Head.LatestRows) rather than by reading the new files back on the
// next lastpoint query — under a heavy load a flush lands every few
// seconds, and each new segment's summary would otherwise be a full read
// of it on some dashboard refresh.
func (c *lastCache) fromHead(dataDir string, metas []segment.SegmentMeta, h *segment.Head) {
	fields := slices.Clone(h.Schema.Fields)
	cols := slices.Clone(h.Schema.Tags)
	for _, f := range fields {
		cols = append(cols, f.Name)
	}
	fieldCols := h.FieldCols(cols)
	for _, m := range metas {
		hi := m.MaxTime
		if hi != math.MaxInt64 {
			hi++
		}
		sum := newLastSet(fields)
		err := h.ScanRows(cols, h.LatestRows(nil, m.MinTime, hi, fieldCols), BatchRows, func(b *columnar.ColumnBatch) error {
			sum.addBatch(b, math.MinInt64, math.MaxInt64)
			return nil
		})
		if err == nil && len(sum.order) <= maxCachedSeries {
			c.m.Store(filepath.Join(dataDir, filepath.FromSlash(m.Path)), sum)
		}
	}
}

// forget drops the summaries of segments that left the manifest (released
// by the engine's segment references) or were never committed (a failed
// flush removes its files: removeSegmentFiles). Those are the only ways a
// summary goes: last-value queries used to prune the cache against their
// own manifest snapshot, which dropped the summary a flush had just cached
// for segments it had not committed yet — the next stat panel then read a
// whole fresh segment back, 2.5M rows under the dashboard benchmark.
func (c *lastCache) forget(dataDir string, metas []segment.SegmentMeta) {
	for _, m := range metas {
		c.m.Delete(filepath.Join(dataDir, filepath.FromSlash(m.Path)))
	}
}
