package segment

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/siltdb/silt/columnar"
)

// Segments are sorted by series, then time, so the rows a query wants —
// a few series over a few hours — are a few short runs of each row group.
// ScanRowGroupsRange reads those runs page by page with Arrow's column
// chunk readers, seeking past pages through the Parquet offset index
// instead of decompressing and decoding whole row groups (32k rows), and
// it leaves out pages whose time bounds (the column index of the time
// column) miss the query's range. Pages are PageRows rows (write.go): a
// series' day at 10 s is about two pages.

// rowRun is a run of consecutive rows of one row group, relative to it.
type rowRun struct{ start, n int64 }

// rgPages is what a row group's page index says: where each column's
// pages start, and the time bounds of the time column's pages.
type rgPages struct {
	first      [][]int64 // per column: first row of each page; nil if unknown
	minT, maxT []int64   // per page of the time column; nil if unknown
	timeCol    int
}

// pageBounds caches each row group's page index, read on first use.
type pageBounds struct {
	once sync.Once
	rgs  []rgPages
}

func (s *Segment) rowGroupPages(g int) *rgPages {
	s.pages.once.Do(func() {
		md := s.rdr.MetaData()
		s.pages.rgs = make([]rgPages, s.rdr.NumRowGroups())
		pir := s.rdr.GetPageIndexReader()
		for g := range s.pages.rgs {
			s.pages.rgs[g] = readPageIndex(pir, g, md.Schema.NumColumns(), md.Schema.ColumnIndexByName(columnar.TimeColumn))
		}
	})
	return &s.pages.rgs[g]
}

func readPageIndex(pir *metadata.PageIndexReader, g, cols, timeCol int) rgPages {
	p := rgPages{first: make([][]int64, cols), timeCol: timeCol}
	if pir == nil {
		return p
	}
	rg, err := pir.RowGroup(g)
	if err != nil || rg == nil {
		return p
	}
	for c := range cols {
		oi, err := rg.GetOffsetIndex(c)
		if err != nil || oi == nil {
			continue
		}
		for _, l := range oi.GetPageLocations() {
			p.first[c] = append(p.first[c], l.FirstRowIndex)
		}
	}
	if timeCol < 0 || len(p.first[timeCol]) < 2 {
		return p // one page: nothing to prune
	}
	ci, err := rg.GetColumnIndex(timeCol)
	if err != nil || ci == nil {
		return p
	}
	if typed, ok := ci.(*metadata.TypedColumnIndex[int64]); ok && len(typed.MinValues()) == len(p.first[timeCol]) && len(typed.MaxValues()) == len(p.first[timeCol]) {
		p.minT, p.maxT = slices.Clone(typed.MinValues()), slices.Clone(typed.MaxValues())
	}
	return p
}

// rowRuns returns the runs of row group g (n rows, starting at segment row
// start) to read: the rows want holds (all when want is nil) within the
// time pages that meet [minT, maxT). Runs are ascending and disjoint.
func (s *Segment) rowRuns(dst []rowRun, g int, start, n int64, want []rowSpan, minT, maxT int64) []rowRun {
	dst = dst[:0]
	ranges := []rowRun{{0, n}}
	if minT != math.MinInt64 || maxT != math.MaxInt64 {
		if tp := s.rowGroupPages(g); tp.minT != nil {
			first := tp.first[tp.timeCol]
			ranges = ranges[:0]
			for i, f := range first {
				if tp.maxT[i] < minT || (maxT != math.MaxInt64 && tp.minT[i] >= maxT) {
					continue
				}
				end := n
				if i+1 < len(first) {
					end = first[i+1]
				}
				if k := len(ranges); k > 0 && ranges[k-1].start+ranges[k-1].n == f {
					ranges[k-1].n = end - ranges[k-1].start
					continue
				}
				ranges = append(ranges, rowRun{f, end - f})
			}
		}
	}
	for _, r := range ranges {
		if want == nil {
			dst = append(dst, r)
			continue
		}
		spansIn(want, uint64(start+r.start), uint64(start+r.start+r.n), func(a, b uint64) {
			row := int64(a) - start
			if k := len(dst); k > 0 && dst[k-1].start+dst[k-1].n == row {
				dst[k-1].n += int64(b - a)
			} else {
				dst = append(dst, rowRun{row, int64(b - a)})
			}
		})
	}
	return dst
}

// pageScratch holds a scan's reusable decode buffers.
type pageScratch struct {
	defs  []int16
	bytes []parquet.ByteArray
	dict  map[string]int32
	// sawNull says a row of the column being read lacks its value.
	sawNull bool
	// For reads through the page cache (page_cache_read.go): the scratch
	// a page is decoded with, and a page's tag ids mapped to the batch's.
	dec   *pageScratch
	tmp   *columnar.ColumnBatch
	remap []int32
	// For narrowRuns (narrow.go): the runs cut to the time range, and
	// without a cache a page's times.
	narrowed []rowRun
	times    *columnar.ColumnBatch
}

// readRuns decodes runs of column chunk cr into batch column r of b, rows
// packed from 0 in run order. Runs in the current page are reached by
// skipping rows; farther ones by seeking through the offset index, so
// pages between runs are never decompressed.
func readRuns(cr file.ColumnChunkReader, r batchColumn, b *columnar.ColumnBatch, runs []rowRun, total int, pageFirst []int64, sc *pageScratch) error {
	maxDef := cr.Descriptor().MaxDefinitionLevel()
	var pos int64 // next row cr returns
	off := 0
	sizeColumn(r, b, total, sc)
	for _, run := range runs {
		if run.start != pos {
			if run.start > pos && samePage(pageFirst, pos, run.start) {
				if err := skipRows(cr, run.start-pos); err != nil {
					return err
				}
			} else if err := cr.SeekToRow(run.start); err != nil {
				return fmt.Errorf("seek to row %d: %w", run.start, err)
			}
		}
		for done := int64(0); done < run.n; {
			k, err := readRows(cr, r, b, off, int(run.n-done), maxDef, sc)
			if err != nil {
				return err
			}
			if k == 0 {
				return fmt.Errorf("column chunk ended %d rows short of row %d", run.n-done, run.start+run.n)
			}
			done += int64(k)
			off += k
		}
		pos = run.start + run.n
	}
	if r.kind == 'f' && !sc.sawNull {
		b.Fields[r.slot].Null = nil
	}
	return nil
}

// sizeColumn makes batch column r of b total rows long, ready to be
// filled from row 0 (a tag column with an empty dictionary).
func sizeColumn(r batchColumn, b *columnar.ColumnBatch, total int, sc *pageScratch) {
	if r.kind == 'g' {
		tv := &b.Tags[r.slot]
		tv.Dict = tv.Dict[:0]
		tv.IDs = slices.Grow(tv.IDs[:0], total)[:total]
		clear(sc.dict)
	}
	if r.kind == 't' {
		b.Time = slices.Grow(b.Time[:0], total)[:total]
	}
	sc.sawNull = false
	if r.kind == 'f' {
		fc := &b.Fields[r.slot]
		fc.Null = slices.Grow(fc.Null[:0], total)[:total]
		switch fc.Type {
		case columnar.FieldFloat:
			fc.F = slices.Grow(fc.F[:0], total)[:total]
		case columnar.FieldInt:
			fc.I = slices.Grow(fc.I[:0], total)[:total]
		case columnar.FieldUint:
			fc.U = slices.Grow(fc.U[:0], total)[:total]
		case columnar.FieldBool:
			fc.B = slices.Grow(fc.B[:0], total)[:total]
		default:
			fc.S = slices.Grow(fc.S[:0], total)[:total]
		}
	}
}

// samePage reports whether rows a < b lie in the same page (or, without
// an offset index, whether b is near enough to skip to).
func samePage(first []int64, a, b int64) bool {
	if len(first) == 0 {
		return b-a < PageRows
	}
	pa, _ := slices.BinarySearch(first, a+1)
	pb, _ := slices.BinarySearch(first, b+1)
	return pa == pb
}

// skipRows reads and drops n rows within the current page.
func skipRows(cr file.ColumnChunkReader, n int64) error {
	var err error
	switch c := cr.(type) {
	case *file.Int64ColumnChunkReader:
		_, err = c.Skip(n)
	case *file.Float64ColumnChunkReader:
		_, err = c.Skip(n)
	case *file.BooleanColumnChunkReader:
		_, err = c.Skip(n)
	case *file.ByteArrayColumnChunkReader:
		_, err = c.Skip(n)
	default:
		return fmt.Errorf("unexpected column reader %T", cr)
	}
	return err
}

// readRows decodes up to n rows of cr into column r of b from row off on,
// returning how many it decoded.
func readRows(cr file.ColumnChunkReader, r batchColumn, b *columnar.ColumnBatch, off, n int, maxDef int16, sc *pageScratch) (int, error) {
	var defs []int16
	if maxDef > 0 {
		sc.defs = slices.Grow(sc.defs[:0], n)[:n]
		defs = sc.defs
	}
	var total int64
	var vals int
	var err error
	switch r.kind {
	case 't':
		c, ok := cr.(*file.Int64ColumnChunkReader)
		if !ok {
			return 0, fmt.Errorf("time column read by %T", cr)
		}
		total, vals, err = c.ReadBatch(int64(n), b.Time[off:off+n], defs, nil)
		if err == nil && int64(vals) != total {
			err = fmt.Errorf("time column has nulls")
		}
	case 'g':
		c, ok := cr.(*file.ByteArrayColumnChunkReader)
		if !ok {
			return 0, fmt.Errorf("tag column read by %T", cr)
		}
		sc.bytes = slices.Grow(sc.bytes[:0], n)[:n]
		total, vals, err = c.ReadBatchInPage(int64(n), sc.bytes, defs, nil) // values alias the page
		if err == nil {
			tagIDs(&b.Tags[r.slot], off, int(total), sc.bytes[:vals], defs, maxDef, sc)
		}
	case 'f':
		fc := &b.Fields[r.slot]
		switch fc.Type {
		case columnar.FieldFloat:
			total, vals, err = readPacked(cr, fc.F[off:off+n], defs)
			spread(fc.F[off:], int(total), vals, defs, maxDef)
		case columnar.FieldInt:
			total, vals, err = readPacked(cr, fc.I[off:off+n], defs)
			spread(fc.I[off:], int(total), vals, defs, maxDef)
		case columnar.FieldUint:
			u := fc.U[off : off+n]
			i := unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(u))), len(u))
			total, vals, err = readPacked(cr, i, defs)
			spread(i, int(total), vals, defs, maxDef)
		case columnar.FieldBool:
			total, vals, err = readPacked(cr, fc.B[off:off+n], defs)
			spread(fc.B[off:], int(total), vals, defs, maxDef)
		default:
			sc.bytes = slices.Grow(sc.bytes[:0], n)[:n]
			total, vals, err = readPacked(cr, sc.bytes, defs)
			k := 0
			for i := 0; i < int(total) && err == nil; i++ {
				if defs == nil || defs[i] == maxDef {
					fc.S[off+i] = string(sc.bytes[k])
					k++
				} else {
					fc.S[off+i] = ""
				}
			}
		}
		if err == nil {
			nulls := fc.Null[off : off+int(total)]
			if vals == int(total) {
				clear(nulls)
			} else {
				sc.sawNull = true
				for i := range nulls {
					nulls[i] = defs[i] != maxDef
				}
			}
		}
	}
	if err != nil {
		return 0, fmt.Errorf("decode column %s: %w", r.name, err)
	}
	return int(total), nil
}

// readPacked reads up to len(vals) rows of a typed column: values packed
// at the front of vals, definition levels in defs.
func readPacked[T int64 | float64 | bool | parquet.ByteArray](cr file.ColumnChunkReader, vals []T, defs []int16) (int64, int, error) {
	n := int64(len(vals))
	switch c := cr.(type) {
	case *file.Int64ColumnChunkReader:
		if v, ok := any(vals).([]int64); ok {
			return c.ReadBatch(n, v, defs, nil)
		}
	case *file.Float64ColumnChunkReader:
		if v, ok := any(vals).([]float64); ok {
			return c.ReadBatch(n, v, defs, nil)
		}
	case *file.BooleanColumnChunkReader:
		if v, ok := any(vals).([]bool); ok {
			return c.ReadBatch(n, v, defs, nil)
		}
	case *file.ByteArrayColumnChunkReader:
		// Within the page: the values alias the page (ReadBatch would
		// copy every one), and the callers copy what they keep.
		if v, ok := any(vals).([]parquet.ByteArray); ok {
			return c.ReadBatchInPage(n, v, defs, nil)
		}
	}
	return 0, 0, fmt.Errorf("column of type %T read by %T", vals, cr)
}

// spread moves vals packed values to the rows (of total) whose definition
// level says they hold one, zeroing the others; from the back, so packed
// values are never overwritten before they move.
func spread[T any](dst []T, total, vals int, defs []int16, maxDef int16) {
	if vals == total {
		return
	}
	var zero T
	k := vals - 1
	for i := total - 1; i >= 0; i-- {
		if defs[i] == maxDef {
			dst[i] = dst[k]
			k--
		} else {
			dst[i] = zero
		}
	}
}

// tagIDs sets tag ids for rows [off, off+total) from their packed values:
// rows are sorted by series, so a value mostly repeats the previous row's.
func tagIDs(tv *columnar.TagVector, off, total int, vals []parquet.ByteArray, defs []int16, maxDef int16, sc *pageScratch) {
	if sc.dict == nil {
		sc.dict = map[string]int32{}
	}
	last := int32(-1)
	var lastV parquet.ByteArray
	k := 0
	for i := 0; i < total; i++ {
		if defs != nil && defs[i] != maxDef {
			tv.IDs[off+i] = -1
			continue
		}
		v := vals[k]
		k++
		if last >= 0 && string(v) == string(lastV) {
			tv.IDs[off+i] = last
			continue
		}
		id, ok := sc.dict[string(v)]
		if !ok {
			id = int32(len(tv.Dict))
			s := string(v)
			tv.Dict = append(tv.Dict, s)
			sc.dict[s] = id
		}
		tv.IDs[off+i], last, lastV = id, id, v
	}
}
