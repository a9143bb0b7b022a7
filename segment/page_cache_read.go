package segment

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/siltdb/silt/columnar"
)

// readRunsCached is readRuns through the segment's page cache: each page
// the runs touch is taken from the cache, or decoded whole and cached, and
// the runs' rows are copied from it into batch column r of b. The column
// chunk reader is opened only when a page misses, so a query answered
// from the cache reads nothing from the file. first is the column's page
// index (nil: the chunk is one unit); rows is the row group's size.
func (s *Segment) readRunsCached(rgr *file.RowGroupReader, g int, rows int64, r batchColumn, b *columnar.ColumnBatch, runs []rowRun, total int, first []int64, sc *pageScratch) error {
	sizeColumn(r, b, total, sc)
	if r.kind == 'g' && sc.dict == nil {
		sc.dict = map[string]int32{}
	}
	var cr file.ColumnChunkReader
	var pos int64 // next row cr returns
	off := 0
	for _, run := range runs {
		row, end := run.start, run.start+run.n
		for row < end {
			p, lo, hi := pageOf(first, rows, row)
			k := pageKey{gen: s.gen, rowGroup: int32(g), col: int32(r.col), page: int32(p)}
			pg := s.cache.get(k)
			if pg == nil {
				if cr == nil {
					var err error
					if cr, err = rgr.Column(r.col); err != nil {
						return fmt.Errorf("read segment column %s: %w", r.name, err)
					}
				}
				if pos != lo {
					if err := cr.SeekToRow(lo); err != nil {
						return fmt.Errorf("seek to row %d: %w", lo, err)
					}
				}
				var err error
				if pg, err = decodePage(cr, r, int(hi-lo), sc); err != nil {
					return err
				}
				pos = hi
				s.cache.put(k, pg)
			}
			m := int(min(end, hi) - row)
			copyPageRows(pg, int(row-lo), m, r, b, off, sc)
			off += m
			row += int64(m)
		}
	}
	if r.kind == 'f' && !sc.sawNull {
		b.Fields[r.slot].Null = nil
	}
	return nil
}

// pageOf returns the page holding row of a column chunk of rows rows whose
// pages start at first, and the page's rows [lo, hi); page -1 (the whole
// chunk) without a page index.
func pageOf(first []int64, rows, row int64) (int, int64, int64) {
	if len(first) == 0 {
		return -1, 0, rows
	}
	i, found := slices.BinarySearch(first, row)
	if !found {
		i--
	}
	hi := rows
	if i+1 < len(first) {
		hi = first[i+1]
	}
	return i, first[i], hi
}

// decodePage decodes the next n rows of cr — one page — into a new
// decodedPage whose buffers are its own (Go-allocated, exactly sized).
func decodePage(cr file.ColumnChunkReader, r batchColumn, n int, sc *pageScratch) (*decodedPage, error) {
	if sc.dec == nil {
		sc.dec = &pageScratch{}
		sc.tmp = &columnar.ColumnBatch{Tags: make([]columnar.TagVector, 1), Fields: make([]columnar.FieldVector, 1)}
	}
	dec, tmp := sc.dec, sc.tmp
	r.slot = 0
	tmp.Fields[0].Type = r.typ
	sizeColumn(r, tmp, n, dec)
	maxDef := cr.Descriptor().MaxDefinitionLevel()
	for done := 0; done < n; {
		k, err := readRows(cr, r, tmp, done, n-done, maxDef, dec)
		if err != nil {
			return nil, err
		}
		if k == 0 {
			return nil, fmt.Errorf("column chunk ended %d rows short of a page's end", n-done)
		}
		done += k
	}
	pg := &decodedPage{n: n}
	switch r.kind {
	case 't':
		pg.i64 = slices.Clone(tmp.Time[:n])
		pg.stretches = ascendingStretches(pg.i64)
	case 'g':
		// Dictionary strings were copied out of the page by tagIDs.
		pg.dict = slices.Clip(slices.Clone(tmp.Tags[0].Dict))
		pg.ids = slices.Clone(tmp.Tags[0].IDs[:n])
	case 'f':
		fc := &tmp.Fields[0]
		switch r.typ {
		case columnar.FieldFloat:
			pg.f64 = slices.Clone(fc.F[:n])
		case columnar.FieldInt:
			pg.i64 = slices.Clone(fc.I[:n])
		case columnar.FieldUint:
			pg.i64 = slices.Clone(unsafe.Slice((*int64)(unsafe.Pointer(unsafe.SliceData(fc.U))), n))
		case columnar.FieldBool:
			pg.b = slices.Clone(fc.B[:n])
		default:
			// Strings were copied out of the page by readRows.
			pg.s = slices.Clone(fc.S[:n])
		}
		if dec.sawNull {
			pg.nulls = slices.Clone(fc.Null[:n])
		}
	}
	pg.bytes = pg.size()
	return pg, nil
}

// copyPageRows copies rows [from, from+m) of pg into batch column r of b
// from row off on. Tag ids are mapped into the batch's dictionary, which
// gains only the values the copied rows hold, in order of appearance (as
// an uncached read builds it).
func copyPageRows(pg *decodedPage, from, m int, r batchColumn, b *columnar.ColumnBatch, off int, sc *pageScratch) {
	switch r.kind {
	case 't':
		copy(b.Time[off:off+m], pg.i64[from:from+m])
	case 'g':
		tv := &b.Tags[r.slot]
		sc.remap = slices.Grow(sc.remap[:0], len(pg.dict))[:len(pg.dict)]
		for i := range sc.remap {
			sc.remap[i] = -2 // not yet seen in this batch
		}
		dst := tv.IDs[off : off+m]
		for i, id := range pg.ids[from : from+m] {
			if id < 0 {
				dst[i] = -1
				continue
			}
			bid := sc.remap[id]
			if bid == -2 {
				v := pg.dict[id]
				var ok bool
				if bid, ok = sc.dict[v]; !ok {
					bid = int32(len(tv.Dict))
					tv.Dict = append(tv.Dict, v)
					sc.dict[v] = bid
				}
				sc.remap[id] = bid
			}
			dst[i] = bid
		}
	case 'f':
		fc := &b.Fields[r.slot]
		switch fc.Type {
		case columnar.FieldFloat:
			copy(fc.F[off:off+m], pg.f64[from:from+m])
		case columnar.FieldInt:
			copy(fc.I[off:off+m], pg.i64[from:from+m])
		case columnar.FieldUint:
			copy(fc.U[off:off+m], unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(pg.i64))), len(pg.i64))[from:from+m])
		case columnar.FieldBool:
			copy(fc.B[off:off+m], pg.b[from:from+m])
		default:
			copy(fc.S[off:off+m], pg.s[from:from+m])
		}
		nulls := fc.Null[off : off+m]
		if pg.nulls == nil {
			clear(nulls)
			return
		}
		copy(nulls, pg.nulls[from:from+m])
		if slices.Contains(nulls, true) {
			sc.sawNull = true
		}
	}
}
