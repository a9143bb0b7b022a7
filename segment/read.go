package segment

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/siltdb/silt/columnar"
)

// Segment is an open segment file, read with Apache Arrow's Parquet reader
// (segments are written with parquet-go; both are tested against each
// other and against DuckDB). The footer is parsed once, at open. The bytes
// come from a local file (OpenSegment) or any ReaderAtSeeker, such as a
// cold segment in the object store (OpenSegmentReader).
type Segment struct {
	src   io.Closer // closed with the segment; may be nil
	ra    io.ReaderAt
	size  int64
	name  string
	rdr   *file.Reader
	Info  SegmentInfo
	Index TagIndex
	pages pageBounds // the time column's page bounds, read on first use
	// gen identifies this open handle in the page cache (page_cache.go);
	// cache, when set, holds decoded pages of its scans.
	gen   uint64
	cache *PageCache
}

// OpenSegment opens the segment at path and reads its footer and tag index.
func OpenSegment(path string) (*Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, errors.Join(fmt.Errorf("stat segment %s: %w", path, err), f.Close())
	}
	// A section reader, not the file: closing the Parquet reader closes its
	// source when it can, and the segment owns the file.
	return OpenSegmentReader(io.NewSectionReader(f, 0, st.Size()), path, f)
}

// Path returns the name the segment was opened with: the file's path, or
// the name given to OpenSegmentReader.
func (s *Segment) Path() string { return s.name }

// FooterBytes is the size of the segment's Parquet footer in the file. Its
// parsed form, which an open segment holds, is about twice that: per row
// group and column, its offsets, sizes and statistics, so it grows with
// a table's width.
func (s *Segment) FooterBytes() int64 { return int64(s.rdr.MetaData().Size()) }

// Close closes the Parquet reader and the source.
func (s *Segment) Close() error {
	s.cache.dropSegment(s.gen)
	err := s.rdr.Close()
	if s.src != nil {
		err = errors.Join(err, s.src.Close())
	}
	return err
}

// Scan calls fn with every row of the segment in file order (sorted by
// series, then time). The Point is reused between calls.
func (s *Segment) Scan(fn func(p *columnar.Point) error) error {
	cols := slices.Clone(s.Info.Tags)
	for _, f := range s.Info.Fields {
		cols = append(cols, f.Name)
	}
	return s.ScanColumns(cols, nil, fn)
}

// Scan calls fn with every row of the frozen head in arrival order (no
// deduplication). The Point is reused between calls.
func (h *Head) Scan(fn func(p *columnar.Point) error) error {
	h.Finish()
	var p columnar.Point
	for i := range h.times {
		h.fillPoint(&p, i, nil)
		if err := fn(&p); err != nil {
			return err
		}
	}
	return nil
}

// ScanOrdered calls fn with the frozen head's points in segment order —
// window, series, time — with duplicates merged as a flush would write
// them. The Point is reused between calls.
func (h *Head) ScanOrdered(fn func(p *columnar.Point) error) error {
	h.Finish()
	var p columnar.Point
	runs, _ := h.flushOrder()
	for _, run := range runs {
		k := 0 // next override in byOut, sorted by (Out, Col)
		byOut := run.Overrides
		if len(byOut) > 0 {
			byOut = append([]override(nil), byOut...)
			sortOverridesByOut(byOut)
		}
		for out, src := range run.Rows {
			h.fillPoint(&p, int(src), func(c, row int) int {
				if k < len(byOut) && int(byOut[k].Out) == out && int(byOut[k].Col) == c {
					row = int(byOut[k].Src)
					k++
				}
				return row
			})
			if err := fn(&p); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortOverridesByOut(o []override) {
	slices.SortFunc(o, func(a, b override) int {
		if c := cmp.Compare(a.Out, b.Out); c != 0 {
			return c
		}
		return cmp.Compare(a.Col, b.Col)
	})
}

// fillPoint sets p to row i of the head. fieldRow, if not nil, names the
// row each field column's value comes from (merged duplicates).
func (h *Head) fillPoint(p *columnar.Point, i int, fieldRow func(col, row int) int) {
	p.Time = h.times[i]
	p.Tags, p.Fields = p.Tags[:0], p.Fields[:0]
	sid := h.series[i]
	for c, d := range h.dicts {
		if id := h.tagID(sid, c); id >= 0 {
			p.Tags = append(p.Tags, columnar.TagValue{Key: h.Schema.Tags[c], Value: d.vals[id]})
		}
	}
	for c, col := range h.fields {
		row := i
		if fieldRow != nil {
			row = fieldRow(c, i)
		}
		if !col.isValid(row) {
			continue
		}
		fv := columnar.FieldValue{Key: h.Schema.Fields[c].Name, Type: col.typ}
		if col.typ == columnar.FieldString {
			fv.Str = string(col.strAt(row))
		} else {
			fv.Num = col.numAt(row)
		}
		p.Fields = append(p.Fields, fv)
	}
	columnar.SortTags(p.Tags)
}
