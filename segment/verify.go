package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Verify reads a whole segment, as `silt check` does: the Parquet footer
// and page index, Silt's segment info and tag index, and every page of
// every column chunk, decompressed and decoded, with the page checksums
// (CRC-32 of each page, written by the segment writer) checked. It
// returns the segment's info, or an error saying where the file is damaged.
// Scans never pay for this: they read only the pages they need.
func Verify(r io.ReaderAt, size int64, name string) (info SegmentInfo, err error) {
	// The Parquet readers trust lengths in page headers: damage there can
	// make them index out of range. A panic is damage, reported as such.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("unreadable (the Parquet reader failed: %v)", p)
		}
	}()
	return verify(r, size, name)
}

func verify(r io.ReaderAt, size int64, name string) (SegmentInfo, error) {
	seg, err := OpenSegmentReader(io.NewSectionReader(r, 0, size), name, nil)
	if err != nil {
		return SegmentInfo{}, fmt.Errorf("footer: %w", err)
	}
	info := seg.Info
	if err := seg.Close(); err != nil {
		return info, fmt.Errorf("close %s: %w", name, err)
	}
	f, err := parquet.OpenFile(r, size)
	if err != nil {
		return info, fmt.Errorf("footer: %w", err)
	}
	if f.NumRows() != info.Rows {
		return info, fmt.Errorf("footer: the Parquet footer counts %d rows, the segment info %d", f.NumRows(), info.Rows)
	}
	cols := f.Schema().Columns()
	for g, rg := range f.RowGroups() {
		for c, cc := range rg.ColumnChunks() {
			col := "?"
			if c < len(cols) {
				col = fmt.Sprint(cols[c])
			}
			rows, err := readChunk(cc)
			if err != nil {
				return info, fmt.Errorf("row group %d, column %s: %w", g, col, err)
			}
			if rows != rg.NumRows() {
				return info, fmt.Errorf("row group %d, column %s: pages hold %d rows, the row group %d", g, col, rows, rg.NumRows())
			}
		}
	}
	return info, nil
}

// readChunk decodes every page of a column chunk and counts its rows.
func readChunk(cc parquet.ColumnChunk) (rows int64, err error) {
	pages := cc.Pages()
	defer func() { err = errors.Join(err, pages.Close()) }()
	for {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows += p.NumRows()
		parquet.Release(p)
	}
}
