package segment

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/siltdb/silt/columnar"
)

// ScanColumns is Scan restricted to the named columns (time is always
// read): only their column chunks are decoded. Names the segment does not
// have are ignored. The Point is reused between calls; its strings are the
// caller's to keep.
//
// tags, if not empty, says that only rows whose tag k has one of tags[k]
// (for every k) are wanted: the segment's tag index then picks the rows, and
// only the row groups holding them are read. Other rows may be skipped but
// callers must still filter (a tag the index lacks disables the shortcut).
func (s *Segment) ScanColumns(cols []string, tags map[string][]string, fn func(p *columnar.Point) error) error {
	return s.ScanColumnsRange(cols, tags, math.MinInt64, math.MaxInt64, fn)
}

// ScanColumnsRange is ScanColumns of the rows with time in [minT, maxT)
// (maxT == math.MaxInt64: unbounded): rows outside are not made into
// points.
func (s *Segment) ScanColumnsRange(cols []string, tags map[string][]string, minT, maxT int64, fn func(p *columnar.Point) error) error {
	var p columnar.Point
	var owned [][]string // per tag vector: Dict cloned, since Points outlive the batch
	// Only the pages that may hold [minT, maxT): an overlap stretch is
	// usually a few minutes at a segment's edge.
	return s.ScanRowGroupsRange(cols, tags, minT, maxT, 0, s.NumRowGroups(), func(b *columnar.ColumnBatch) error {
		owned = owned[:0]
		for _, tv := range b.Tags {
			c := make([]string, len(tv.Dict))
			for i, v := range tv.Dict {
				c[i] = strings.Clone(v)
			}
			owned = append(owned, c)
		}
		emit := func(i int) error {
			if t := b.Time[i]; t < minT || (t >= maxT && maxT != math.MaxInt64) {
				return nil
			}
			b.RowPoint(i, &p, owned)
			return fn(&p)
		}
		if b.Sel != nil {
			for _, i := range b.Sel {
				if err := emit(int(i)); err != nil {
					return err
				}
			}
			return nil
		}
		for i := 0; i < b.Len; i++ {
			if err := emit(i); err != nil {
				return err
			}
		}
		return nil
	})
}

// batchColumn is one column ScanBatches decodes.
type batchColumn struct {
	name string
	kind byte // 't' time, 'g' tag, 'f' field, 'x' tag rebuilt from the index
	typ  columnar.FieldType
	slot int // index into the batch's Tags or Fields
	col  int // the Parquet column

	// For 'x': the constrained values present in the segment and their
	// row bitmaps, in Dict order.
	vals []string
	bms  []*roaring.Bitmap
}

// span is a run of a record's rows that are consecutive segment rows.
type span struct {
	off int   // first record row
	row int64 // its segment row
	n   int
}

// ScanBatches decodes the named columns (time always; names the segment
// lacks are left out of the batches) a record batch at a time and passes
// them to fn as ColumnBatches: tags stay dictionary-encoded as Parquet
// stores them, numeric fields are the decoded Arrow buffers themselves.
// Rows come in file order. tags prunes as in ScanColumns, through the
// batches' Sel. The batch and its slices are reused after fn returns.
func (s *Segment) ScanBatches(cols []string, tags map[string][]string, fn func(*columnar.ColumnBatch) error) error {
	return s.ScanRowGroups(cols, tags, 0, s.rdr.NumRowGroups(), fn)
}

// NumRowGroups returns the number of Parquet row groups in the segment.
func (s *Segment) NumRowGroups() int { return s.rdr.NumRowGroups() }

// ScanRowGroups is ScanBatches over row groups [first, end) only: disjoint
// ranges of one segment can be decoded concurrently.
func (s *Segment) ScanRowGroups(cols []string, tags map[string][]string, first, end int, fn func(*columnar.ColumnBatch) error) error {
	return s.ScanRowGroupsRange(cols, tags, math.MinInt64, math.MaxInt64, first, end, fn)
}

// ScanRowGroupsRange is ScanRowGroups reading only the pages that may hold
// rows with time in [minT, maxT) (maxT == math.MaxInt64: unbounded) and
// the rows tags selects (pages.go). Batches hold just the rows read, a
// batch per row group; rows of a page outside the range may be among
// them, so callers still filter by time.
func (s *Segment) ScanRowGroupsRange(cols []string, tags map[string][]string, minT, maxT int64, first, end int, fn func(*columnar.ColumnBatch) error) error {
	return s.scanRowGroups(cols, tags, minT, maxT, first, end, nil, nil, fn)
}

// scanRowGroups is ScanRowGroupsRange counting into rs (read_stats.go),
// reading late the columns f does not test (late.go; nil f: none).
func (s *Segment) scanRowGroups(cols []string, tags map[string][]string, minT, maxT int64, first, end int, rs *ReadStats, f *RowFilter, fn func(*columnar.ColumnBatch) error) error {
	want, indexed := s.matchingRows(tags)
	if indexed && len(want) == 0 {
		if rs != nil {
			for g := first; g < end; g++ {
				rs.skipped(s.rdr.MetaData().RowGroup(g).NumRows())
			}
		}
		return nil
	}
	if !indexed {
		want = nil
	}
	rdr := s.rdr
	sch := rdr.MetaData().Schema
	isTag := map[string]bool{}
	for _, t := range s.Info.Tags {
		isTag[t] = true
	}
	fieldType := map[string]columnar.FieldType{}
	for _, f := range s.Info.Fields {
		fieldType[f.Name] = f.Type
	}
	if s.Info.WriteStamps {
		// Asked for by name (a cluster's merge across writers): the
		// write stamps, read as an integer field.
		fieldType[StampColumn] = columnar.FieldInt
	}
	// The batch and the decoding scratch come from a pool: a dashboard
	// refresh runs many short reads (a part per core, per piece and
	// segment), and each sized its columns afresh to its rows.
	bufs := scanBufPool.Get().(*scanBuffers)
	defer scanBufPool.Put(bufs)
	b := bufs.start()
	sc := &bufs.sc
	var reads []batchColumn
	add := func(name string) {
		i := sch.ColumnIndexByName(name)
		if i < 0 || slices.ContainsFunc(reads, func(r batchColumn) bool { return r.name == name }) {
			return
		}
		switch {
		case name == columnar.TimeColumn:
			reads = append(reads, batchColumn{name: name, kind: 't', col: i})
		case isTag[name] && indexed && len(tags[name]) > 0:
			// Every wanted row has one of the few values tags[name] asks
			// for, and the index says which: the column need not be
			// decoded at all (decoding it dominates a scan of a few series).
			x := batchColumn{name: name, kind: 'x', slot: len(b.Tags), col: i}
			for _, v := range tags[name] {
				if bm, ok := s.Index[name][v]; ok && !slices.Contains(x.vals, v) {
					x.vals = append(x.vals, v)
					x.bms = append(x.bms, bm)
				}
			}
			reads = append(reads, x)
			bufs.addTag(name)
		case isTag[name] && len(s.Index[name]) > 0 && len(s.Index[name]) <= maxRebuiltValues:
			// Rows are sorted by series, so each value's rows are a few
			// runs the index holds: filling ids run by run is far cheaper
			// than decoding the column (TSBS's ten tags were most of a
			// SELECT *'s decoding). The index lists every row that has
			// the tag, so rows it leaves out lack it.
			x := batchColumn{name: name, kind: 'x', slot: len(b.Tags), col: i}
			x.vals, x.bms = s.indexValues(name)
			reads = append(reads, x)
			bufs.addTag(name)
		case isTag[name]:
			reads = append(reads, batchColumn{name: name, kind: 'g', slot: len(b.Tags), col: i})
			bufs.addTag(name)
		default:
			reads = append(reads, batchColumn{name: name, kind: 'f', typ: fieldType[name], slot: len(b.Fields), col: i})
			bufs.addField(name, fieldType[name])
		}
	}
	add(columnar.TimeColumn)
	for _, c := range cols {
		add(c)
	}
	// A range cuts the runs to its rows by the time column first
	// (narrow.go), added first above.
	bounded := (minT != math.MinInt64 || maxT != math.MaxInt64) && len(reads) > 0 && reads[0].kind == 't'
	var tcol batchColumn
	if bounded {
		tcol = reads[0]
	}
	late := prepareLate(f, cols, reads)
	ls := &bufs.late
	var runs []rowRun
	var spans []span
	var start int64 // segment row of row group g's first row
	for g := 0; g < end; g++ {
		n := rdr.MetaData().RowGroup(g).NumRows()
		rgStart := start
		start += n
		if g < first {
			continue
		}
		if want != nil && !spansMeet(want, uint64(rgStart), uint64(rgStart+n)) {
			rs.skipped(n)
			continue
		}
		runs = s.rowRuns(runs, g, rgStart, n, want, minT, maxT)
		rgr := rdr.RowGroup(g)
		pages := s.rowGroupPages(g)
		if bounded && len(runs) > 0 {
			var err error
			if sc.narrowed, err = s.narrowRuns(sc.narrowed, runs, rgr, g, n, pages, tcol, minT, maxT, sc); err != nil {
				return fmt.Errorf("segment %s, row group %d: %w", s.name, g, err)
			}
			runs, sc.narrowed = sc.narrowed, runs
		}
		total := 0
		spans = spans[:0]
		for _, r := range runs {
			spans = append(spans, span{off: total, row: rgStart + r.start, n: int(r.n)})
			total += int(r.n)
		}
		if total == 0 {
			rs.skipped(n)
			continue
		}
		rs.read(int64(total), n)
		var values int64 // column values decoded or copied from cached pages
		read := func(r batchColumn, runs []rowRun, total int) error {
			values += int64(total)
			if s.cache != nil {
				if err := s.readRunsCached(rgr, g, n, r, b, runs, total, pages.first[r.col], sc); err != nil {
					return fmt.Errorf("segment %s, row group %d: %w", s.name, g, err)
				}
				return nil
			}
			cr, err := rgr.Column(r.col)
			if err != nil {
				return fmt.Errorf("read segment column %s: %w", r.name, err)
			}
			if err := readRuns(cr, r, b, runs, total, pages.first[r.col], sc); err != nil {
				return fmt.Errorf("segment %s, row group %d: %w", s.name, g, err)
			}
			return nil
		}
		rest := reads
		var pos []int32 // with a filter: the positions kept, of total
		kept := total
		if late != nil {
			for _, r := range reads[:late.early] {
				if err := read(r, runs, total); err != nil {
					return err
				}
			}
			rest = reads[late.early:]
			pos = late.selectRows(b, reads, total, minT, maxT, ls)
			kept = len(pos)
			rs.filtered(int64(total - kept))
			if kept == 0 {
				rs.values(values)
				continue
			}
			if kept < total {
				for _, r := range reads[:late.early] {
					compactColumn(r, b, pos)
				}
				ls.sel = selectedRuns(ls.sel, runs, pos)
				ls.built = false
			}
		}
		for _, r := range rest {
			switch {
			case r.kind == 'x':
				// From the index, run by run: cheap for every row read,
				// so the selection is taken afterwards.
				rebuildTags(&b.Tags[r.slot], r, total, spans)
				if kept < total {
					compactColumn(r, b, pos)
				}
			case kept == total:
				if err := read(r, runs, total); err != nil {
					return err
				}
			default:
				// Columns share page boundaries as a rule (pages are
				// PageRows rows): the runs built for one serve the next.
				first := pages.first[r.col]
				if !ls.built || !slices.Equal(ls.first, first) {
					ls.runs, ls.idx, ls.decoded = coalesceRuns(ls.runs, ls.idx, ls.sel, first)
					ls.first, ls.built = first, true
				}
				if err := read(r, ls.runs, ls.decoded); err != nil {
					return err
				}
				if ls.decoded > kept {
					compactColumn(r, b, ls.idx)
				}
			}
		}
		rs.values(values)
		b.Len, b.Sel = kept, nil
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// maxRebuiltValues bounds the values of a tag whose column is rebuilt
// from the index rather than decoded: each batch looks at every value.
const maxRebuiltValues = 4096

// indexValues returns the values of tag name in the segment's index and
// their row bitmaps, in order of first row.
func (s *Segment) indexValues(name string) ([]string, []*roaring.Bitmap) {
	byVal := s.Index[name]
	vals := make([]string, 0, len(byVal))
	for v := range byVal {
		vals = append(vals, v)
	}
	slices.SortFunc(vals, func(a, b string) int { return cmp.Compare(byVal[a].Minimum(), byVal[b].Minimum()) })
	bms := make([]*roaring.Bitmap, len(vals))
	for i, v := range vals {
		bms[i] = byVal[v]
	}
	return vals, bms
}

// rebuildTags sets tv for the n rows of a batch from the tag index: the
// rows of spans each value's bitmap holds get the value, the others -1
// (rows lacking the tag, or holding a value r leaves out). The batch's
// dictionary holds the values found, in r's order. Series are contiguous
// rows, so each bitmap meets a span in a few runs, filled whole.
func rebuildTags(tv *columnar.TagVector, r batchColumn, n int, spans []span) {
	tv.Dict = tv.Dict[:0]
	tv.IDs = slices.Grow(tv.IDs[:0], n)[:n]
	for i := range tv.IDs {
		tv.IDs[i] = -1
	}
	if len(spans) == 0 {
		return
	}
	lo := uint64(spans[0].row)
	last := spans[len(spans)-1]
	hi := uint64(last.row) + uint64(last.n)
	for v, bm := range r.bms {
		if !bm.IntersectsWithInterval(lo, hi) {
			continue
		}
		id := int32(-1)
		for _, sp := range spans {
			bitmapRuns(bm, uint64(sp.row), uint64(sp.row)+uint64(sp.n), func(a, b uint64) {
				if id < 0 {
					id = int32(len(tv.Dict))
					tv.Dict = append(tv.Dict, r.vals[v])
				}
				off := sp.off + int(int64(a)-sp.row)
				ids := tv.IDs[off : off+int(b-a)]
				for i := range ids {
					ids[i] = id
				}
			})
		}
	}
}

// matchingRows returns the rows whose tags satisfy tags according to the
// segment's index (row_spans.go), and false when the index cannot tell (no
// constraint, no index, or a constrained tag the index lacks).
func (s *Segment) matchingRows(tags map[string][]string) ([]rowSpan, bool) {
	if len(tags) == 0 || s.Index == nil {
		return nil, false
	}
	var out []rowSpan
	firstKey := true
	for k, vals := range tags {
		byVal, ok := s.Index[k]
		if !ok {
			if slices.Contains(s.Info.Tags, k) {
				return nil, false // tag column without an index entry: cannot tell
			}
			return nil, true // the segment has no such tag: no row has a value
		}
		var spans []rowSpan
		for i, v := range vals {
			if b, ok := byVal[v]; ok && !slices.Contains(vals[:i], v) {
				spans = bitmapSpans(spans, b)
			}
		}
		spans = unionSpans(spans)
		if firstKey {
			out, firstKey = spans, false
		} else {
			out = intersectSpans(out, spans)
		}
		if len(out) == 0 {
			return nil, true
		}
	}
	return out, true
}

// stringAt returns the string at row i of a string-like Arrow array.
func stringAt(a arrow.Array, i int) (string, error) {
	switch x := a.(type) {
	case *array.String:
		return x.Value(i), nil
	case *array.LargeString:
		return x.Value(i), nil
	case *array.Binary:
		return string(x.Value(i)), nil
	case *array.Dictionary:
		return stringAt(x.Dictionary(), x.GetValueIndex(i))
	}
	return "", fmt.Errorf("unexpected arrow type %s", a.DataType())
}
