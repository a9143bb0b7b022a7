package segment

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	arrowparquet "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/fileutil"
)

// This file holds the streaming forms of segment I/O that compaction uses:
// a pull reader that decodes batchRows rows at a time, and a writer that
// takes points in segment order and keeps only one row group's compressed
// pages (plus a small batch of values) in memory. Both bound memory by
// their batch sizes, not by the segment.

// RowReader reads a segment's rows in file order, batchRows at a time.
// Not safe for concurrent use.
type RowReader struct {
	seg   *Segment
	pr    *file.Reader
	rr    pqarrow.RecordReader
	rec   arrow.RecordBatch
	arrs  []arrow.Array
	kinds []byte // per column: 't' time, 'g' tag, 'f' field
	names []string
	types []columnar.FieldType
	i, n  int
	last  []string // previous tag value per column: repeated values share a string
	// stampCol is the position of the write stamp column among names
	// (-1: the segment has none), stamp the stamp of the row Next
	// returned last.
	stampCol int
	stamp    int64
}

// Stamp returns the write stamp of the row Next returned last: 0 when the
// segment has no stamp column (format version 1) or the row no stamp.
func (r *RowReader) Stamp() int64 { return r.stamp }

// Rows opens a pull reader over every column of the segment that decodes
// batchRows rows per step (the reader's memory is about batchRows times the
// row width, plus one column chunk per column).
func (s *Segment) Rows(batchRows int) (*RowReader, error) {
	// A second reader with buffered streams: the segment's own reader
	// loads each column chunk whole (fast for queries), which for a merge
	// of many inputs would cost a row group per input; this one reads
	// pages through a 64 KiB buffer per column.
	props := arrowparquet.NewReaderProperties(memory.DefaultAllocator)
	props.BufferedStreamEnabled = true
	props.BufferSize = 64 << 10
	pr, err := file.NewParquetReader(io.NewSectionReader(s.ra, 0, s.size), file.WithReadProps(props), file.WithMetadata(s.rdr.MetaData()))
	if err != nil {
		return nil, fmt.Errorf("parquet reader for segment: %w", err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: int64(max(batchRows, 1))}, memory.DefaultAllocator)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("arrow reader for segment: %w", err), pr.Close())
	}
	r := &RowReader{seg: s, pr: pr, stampCol: -1}
	sch := pr.MetaData().Schema
	var idx []int
	add := func(name string, kind byte, typ columnar.FieldType) {
		if i := sch.ColumnIndexByName(name); i >= 0 {
			idx = append(idx, i)
			r.names = append(r.names, name)
			r.kinds = append(r.kinds, kind)
			r.types = append(r.types, typ)
		}
	}
	add(columnar.TimeColumn, 't', 0)
	for _, t := range s.Info.Tags {
		add(t, 'g', 0)
	}
	for _, f := range s.Info.Fields {
		add(f.Name, 'f', f.Type)
	}
	if s.Info.WriteStamps {
		n := len(r.names)
		if add(StampColumn, 's', 0); len(r.names) > n {
			r.stampCol = n
		}
	}
	r.last = make([]string, len(r.names))
	if pr.NumRowGroups() == 0 {
		return r, nil
	}
	groups := make([]int, pr.NumRowGroups())
	for g := range groups {
		groups[g] = g
	}
	if r.rr, err = fr.GetRecordReader(context.Background(), idx, groups); err != nil {
		return nil, errors.Join(fmt.Errorf("read segment rows: %w", err), pr.Close())
	}
	return r, nil
}

// Next fills p with the next row and reports false at the end. p's strings
// stay valid after later calls; its slices are reused.
func (r *RowReader) Next(p *columnar.Point) (bool, error) {
	for r.i >= r.n {
		if r.rr == nil || !r.rr.Next() {
			if r.rr != nil {
				if err := r.rr.Err(); err != nil && !errors.Is(err, context.Canceled) {
					return false, fmt.Errorf("read segment rows: %w", err)
				}
			}
			return false, nil
		}
		r.rec = r.rr.RecordBatch()
		r.arrs = r.arrs[:0]
		for _, name := range r.names {
			ci := r.rec.Schema().FieldIndices(name)
			if len(ci) == 0 {
				return false, fmt.Errorf("segment column %s missing from the arrow record", name)
			}
			r.arrs = append(r.arrs, r.rec.Column(ci[0]))
		}
		r.i, r.n = 0, int(r.rec.NumRows())
	}
	i := r.i
	r.i++
	p.Tags, p.Fields = p.Tags[:0], p.Fields[:0]
	r.stamp = 0
	for j, a := range r.arrs {
		if a.IsNull(i) {
			continue
		}
		switch r.kinds[j] {
		case 't':
			ts, ok := a.(*array.Timestamp)
			if !ok {
				return false, fmt.Errorf("segment time column is %s", a.DataType())
			}
			p.Time = int64(ts.Value(i))
		case 's':
			st, ok := a.(*array.Int64)
			if !ok {
				return false, fmt.Errorf("segment stamp column is %s", a.DataType())
			}
			r.stamp = st.Value(i)
		case 'g':
			v, err := stringAt(a, i)
			if err != nil {
				return false, fmt.Errorf("tag %s: %w", r.names[j], err)
			}
			if r.last[j] != v {
				r.last[j] = strings.Clone(v)
			}
			p.Tags = append(p.Tags, columnar.TagValue{Key: r.names[j], Value: r.last[j]})
		case 'f':
			fv := columnar.FieldValue{Key: r.names[j], Type: r.types[j]}
			switch x := a.(type) {
			case *array.Float64:
				fv.Num = math.Float64bits(x.Value(i))
			case *array.Int64:
				fv.Num = uint64(x.Value(i))
			case *array.Uint64:
				fv.Num = x.Value(i)
			case *array.Boolean:
				if x.Value(i) {
					fv.Num = 1
				}
			default:
				v, err := stringAt(a, i)
				if err != nil {
					return false, fmt.Errorf("field %s: %w", r.names[j], err)
				}
				fv.Str = strings.Clone(v)
			}
			p.Fields = append(p.Fields, fv)
		}
	}
	columnar.SortTags(p.Tags)
	return true, nil
}

// Close releases the reader (not the segment).
func (r *RowReader) Close() {
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	if r.pr != nil {
		_ = r.pr.Close() // a section reader over the segment's file: nothing to lose
		r.pr = nil
	}
}

// SegmentWriter writes one segment from points given in segment order
// (series, then time; each series and time at most once). Memory: one row
// group of compressed pages and batchRows uncompressed values per column.
type SegmentWriter struct {
	path, tmp string
	f         *os.File
	hf        *hashingFile // f, checksummed
	bw        *bufio.Writer
	//lint:ignore SA1019 the generic writer needs a Go type per schema; a segment's columns are known only at run time
	w         *parquet.Writer
	schema    *columnar.TableSchema
	cols      []segmentColumn
	vals      [][]parquet.Value // per cols entry, the pending batch
	pending   int
	batchRows int
	rgRows    int // rows in the open row group
	info      SegmentInfo
	idx       *tagIndex
	idxPos    []map[string]int    // per tag column: value → position in idx.vals
	seriesBeg int64               // first row of the current series
	curTags   []string            // current series' tag values
	curHas    []bool              // and whether it has each tag
	lastTags  []columnar.TagValue // the previous point's tags
	firstTags []columnar.TagValue // the first point's tags
	rows      int64
}

// NewSegmentWriter starts the segment at path (written as path+".tmp" and
// renamed by Close) for db.table with the given schema: the points'
// tags and fields must be in it.
func NewSegmentWriter(path, db, table string, schema *columnar.TableSchema, batchRows int) (*SegmentWriter, error) {
	return NewStampedSegmentWriter(path, db, table, schema, batchRows, false)
}

// NewStampedSegmentWriter is NewSegmentWriter for a segment that, with
// stamped (and a schema without a column of StampColumn's name), has the
// write stamp column: AppendStamped gives each point's.
func NewStampedSegmentWriter(path, db, table string, schema *columnar.TableSchema, batchRows int, stamped bool) (*SegmentWriter, error) {
	stamped = stamped && stampable(schema)
	if err := fileutil.MkdirAllSync(filepath.Dir(path)); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create segment %s: %w", tmp, err)
	}
	sch := segmentSchema(schema, stamped)
	hf := newHashingFile(f)
	bw := bufio.NewWriterSize(hf, 1<<20)
	sw := &SegmentWriter{path: path, tmp: tmp, f: f, hf: hf, bw: bw, schema: schema,
		batchRows: max(batchRows, 1),
		// The flush's fastest zstd level: the default level's larger
		// history cost 16 MiB more per writer (BenchmarkMerge heap profile)
		// for about 5% smaller files, and the writer's memory is what a
		// merge's bound is mostly spent on. 256 KiB pages (the flush uses
		// 1 MiB) for the same reason: one page buffer per column.
		w: parquet.NewWriter(bw, sch,
			parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
			parquet.PageBufferSize(256<<10),
			parquet.DataPageStatistics(true),
			parquet.CreatedBy("silt", "1", ""),
		),
		cols: segmentColumns(sch, schema, stamped),
		info: SegmentInfo{Version: 1, DB: db, Table: table, MinTime: math.MaxInt64, MaxTime: math.MinInt64,
			Tags: schema.Tags, Fields: schema.Fields, Sorting: append(append([]string{}, schema.Tags...), columnar.TimeColumn)},
		idx:     &tagIndex{cols: schema.Tags, vals: make([][]string, len(schema.Tags)), bms: make([][]*roaring.Bitmap, len(schema.Tags))},
		curTags: make([]string, len(schema.Tags)),
		curHas:  make([]bool, len(schema.Tags)),
	}
	if stamped {
		sw.info.Version, sw.info.WriteStamps = 2, true
	}
	sw.vals = make([][]parquet.Value, len(sw.cols))
	sw.idxPos = make([]map[string]int, len(schema.Tags))
	for i := range sw.idxPos {
		sw.idxPos[i] = map[string]int{}
	}
	return sw, nil
}

// Rows returns the number of rows appended so far.
func (sw *SegmentWriter) Rows() int64 { return sw.rows }

// Stamped reports whether the segment has the write stamp column.
func (sw *SegmentWriter) Stamped() bool { return sw.info.WriteStamps }

// Append adds p, which must sort after the previous point; in a stamped
// segment its stamp is 0 (unknown).
func (sw *SegmentWriter) Append(p *columnar.Point) error { return sw.AppendStamped(p, 0) }

// AppendStamped adds p, written at stamp st (kept only by a stamped
// segment), which must sort after the previous point.
func (sw *SegmentWriter) AppendStamped(p *columnar.Point, st int64) error {
	// Series change: close the previous series' index ranges. Points of
	// one series usually carry the same tags slice contents: compare those
	// first, then by schema tag.
	same := sw.rows > 0 && len(p.Tags) == len(sw.lastTags)
	if same {
		for i, t := range p.Tags {
			if t != sw.lastTags[i] {
				same = false
				break
			}
		}
	}
	if !same && sw.rows > 0 {
		same = true
		for c := range sw.curHas {
			v, ok := tagValueOf(p.Tags, sw.schema.Tags[c])
			if ok != sw.curHas[c] || v != sw.curTags[c] {
				same = false
				break
			}
		}
	}
	sw.lastTags = append(sw.lastTags[:0], p.Tags...)
	if sw.rows == 0 {
		sw.firstTags = cloneTags(p.Tags)
	}
	if !same {
		sw.endSeries()
		for c := range sw.curHas {
			sw.curTags[c], sw.curHas[c] = tagValueOf(p.Tags, sw.schema.Tags[c])
		}
		sw.seriesBeg = sw.rows
		sw.idx.series++
	}
	sw.info.MinTime = min(sw.info.MinTime, p.Time)
	sw.info.MaxTime = max(sw.info.MaxTime, p.Time)
	hint := 0 // the next field of p, when its fields follow the schema
	for i, c := range sw.cols {
		var v parquet.Value
		switch c.kind {
		case 't':
			v = parquet.Int64Value(p.Time).Level(0, 0, c.leaf)
		case 's':
			v = parquet.Int64Value(st).Level(0, 0, c.leaf)
		case 'g':
			if sw.curHas[c.index] {
				v = parquet.ByteArrayValue(unsafeBytes(sw.curTags[c.index])).Level(0, 1, c.leaf)
			} else {
				v = parquet.Value{}.Level(0, 0, c.leaf)
			}
		case 'f':
			v = parquet.Value{}.Level(0, 0, c.leaf)
			name := sw.schema.Fields[c.index].Name
			// Points whose fields come in schema order (rollups) are
			// matched at the hint; others by a scan.
			fields := p.Fields
			if hint < len(fields) && fields[hint].Key == name {
				fields = fields[hint : hint+1]
				hint++
			}
			for _, f := range fields {
				if len(f.Key) != len(name) || f.Key != name {
					continue
				}
				switch f.Type {
				case columnar.FieldFloat:
					v = parquet.DoubleValue(math.Float64frombits(f.Num))
				case columnar.FieldInt, columnar.FieldUint:
					v = parquet.Int64Value(int64(f.Num))
				case columnar.FieldBool:
					v = parquet.BooleanValue(f.Num != 0)
				case columnar.FieldString:
					// Copied: the point's string may be reused.
					v = parquet.ByteArrayValue([]byte(f.Str))
				}
				v = v.Level(0, 1, c.leaf)
				break
			}
		}
		sw.vals[i] = append(sw.vals[i], v)
	}
	sw.rows++
	sw.pending++
	if sw.pending >= sw.batchRows {
		return sw.flushBatch()
	}
	return nil
}

func tagValueOf(tags []columnar.TagValue, k string) (string, bool) {
	for _, t := range tags {
		if t.Key == k {
			return t.Value, true
		}
	}
	return "", false
}

// endSeries records the rows [seriesBeg, rows) in the tag index.
func (sw *SegmentWriter) endSeries() {
	if sw.rows == sw.seriesBeg {
		return
	}
	for c, has := range sw.curHas {
		if !has {
			continue
		}
		v := sw.curTags[c]
		p, ok := sw.idxPos[c][v]
		if !ok {
			p = len(sw.idx.vals[c])
			sw.idxPos[c][v] = p
			sw.idx.vals[c] = append(sw.idx.vals[c], v)
			sw.idx.bms[c] = append(sw.idx.bms[c], roaring.New())
		}
		sw.idx.bms[c][p].AddRange(uint64(sw.seriesBeg), uint64(sw.rows))
	}
}

// flushBatch hands the pending values to the Parquet writer, opening and
// committing row groups of RowGroupRows rows.
func (sw *SegmentWriter) flushBatch() error {
	done := 0
	for sw.pending > 0 {
		// Up to the next page boundary: a page every PageRows rows of
		// the row group, as a flush writes them (pages.go reads them).
		n := min(sw.pending, PageRows-sw.rgRows%PageRows)
		writers := sw.w.ColumnWriters()
		for i, c := range sw.cols {
			if _, err := writers[c.leaf].WriteRowValues(sw.vals[i][done : done+n]); err != nil {
				return fmt.Errorf("write column %s of %s: %w", c.name, sw.tmp, err)
			}
			if (sw.rgRows+n)%PageRows == 0 {
				if err := writers[c.leaf].Flush(); err != nil {
					return fmt.Errorf("write page of column %s of %s: %w", c.name, sw.tmp, err)
				}
			}
		}
		done += n
		sw.pending -= n
		sw.rgRows += n
		if sw.rgRows == RowGroupRows {
			if err := sw.w.Flush(); err != nil {
				return fmt.Errorf("commit row group of %s: %w", sw.tmp, err)
			}
			sw.rgRows = 0
		}
	}
	for i := range sw.vals {
		sw.vals[i] = sw.vals[i][:copy(sw.vals[i], sw.vals[i][done:])]
	}
	return nil
}

// Close finishes the file: footer with info and tag index, fsync, rename,
// fsync of the directory. With no rows it removes the file and returns a
// zero SegmentMeta (check Rows first).
func (sw *SegmentWriter) Close() (m SegmentMeta, err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, sw.f.Close(), os.Remove(sw.tmp))
		}
	}()
	if err := sw.flushBatch(); err != nil {
		return m, err
	}
	sw.endSeries()
	for c := range sw.idx.bms {
		for _, bm := range sw.idx.bms[c] {
			bm.RunOptimize()
		}
	}
	sw.info.Rows = sw.rows
	sw.info.Series = sw.idx.series
	infoJSON, err := json.Marshal(sw.info)
	if err != nil {
		return m, err
	}
	sw.w.SetKeyValueMetadata(MetaKeyInfo, string(infoJSON))
	sw.w.SetKeyValueMetadata(MetaKeyIndex, sw.idx.encode())
	if err := sw.w.Close(); err != nil {
		return m, fmt.Errorf("close parquet writer %s: %w", sw.tmp, err)
	}
	if err := sw.bw.Flush(); err != nil {
		return m, fmt.Errorf("write segment %s: %w", sw.tmp, err)
	}
	if err := sw.f.Sync(); err != nil {
		return m, fmt.Errorf("fsync segment %s: %w", sw.tmp, err)
	}
	st, err := sw.f.Stat()
	if err != nil {
		return m, fmt.Errorf("stat segment %s: %w", sw.tmp, err)
	}
	if err := sw.f.Close(); err != nil {
		return m, fmt.Errorf("close segment %s: %w", sw.tmp, err)
	}
	if err := os.Rename(sw.tmp, sw.path); err != nil {
		return m, fmt.Errorf("rename segment %s: %w", sw.path, err)
	}
	if err := fileutil.SyncDir(filepath.Dir(sw.path)); err != nil {
		return m, err
	}
	return SegmentMeta{DB: sw.info.DB, Table: sw.info.Table, Rows: sw.info.Rows, Series: sw.info.Series,
		MinTime: sw.info.MinTime, MaxTime: sw.info.MaxTime, Bytes: st.Size(), Checksum: sw.hf.sum(),
		FirstSeries: sw.firstTags, LastSeries: cloneTags(sw.lastTags)}, nil
}

// Abort removes the unfinished file.
func (sw *SegmentWriter) Abort() error {
	return errors.Join(sw.f.Close(), os.Remove(sw.tmp))
}

// cloneTags copies tags, strings included (never nil).
func cloneTags(tags []columnar.TagValue) []columnar.TagValue {
	out := make([]columnar.TagValue, len(tags))
	for i, t := range tags {
		out[i] = columnar.TagValue{Key: strings.Clone(t.Key), Value: strings.Clone(t.Value)}
	}
	return out
}
