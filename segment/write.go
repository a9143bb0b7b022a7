package segment

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/fileutil"
)

// SegmentMeta describes one segment file; the manifest holds a list of them.
type SegmentMeta struct {
	ID      uint64 `json:"id"`
	DB      string `json:"db"`
	Table   string `json:"table"`
	Window  string `json:"window"`
	Path    string `json:"path"` // relative to the data directory, slash separated
	Rows    int64  `json:"rows"`
	Series  int    `json:"series"`
	MinTime int64  `json:"min_time"`
	MaxTime int64  `json:"max_time"`
	Bytes   int64  `json:"bytes"`
	// Tier is "" for a segment on local disk and TierS3 for one moved to
	// the object store (key = Path under --s3.prefix). Checksum is the
	// file's CRC-64/NVME (checksum.go), the same value as the object's
	// tiering.ObjectInfo.Checksum once tiered; segments written before it
	// was recorded locally have it only once tiered. Both are omitted when
	// empty, so older manifests load unchanged.
	Tier     string `json:"tier,omitempty"`
	Checksum string `json:"checksum,omitempty"`
	// Rollup is the window width (ns) of a rollup segment (rollup.go), 0
	// for a segment of raw rows; Of is then the id of the raw segment it
	// summarizes. A rollup lives and dies with its raw segment: it is
	// never scanned as rows, merged, or counted in a window's segments.
	Rollup int64  `json:"rollup_ns,omitempty"`
	Of     uint64 `json:"of,omitempty"`
	// FirstSeries and LastSeries are the tags of the segment's first and
	// last series in its sort order (absent in manifests written before
	// they were recorded: the key range is then unknown). Segments whose
	// series ranges are disjoint hold no common point even when their
	// times overlap — compaction splits a window's merge by series — so
	// scans read them without merging.
	FirstSeries []columnar.TagValue `json:"first_series,omitempty"`
	LastSeries  []columnar.TagValue `json:"last_series,omitempty"`
	// Fresh marks a segment flushed from a head none of whose points
	// repeats one of an older source of its node (head_older.go): scans
	// read it without merging it with the older segments it overlaps in
	// time (the writes in flight at its flush's cut). Absent (false) in
	// older manifests, from compaction, and across nodes: merged, as
	// before.
	Fresh bool `json:"fresh,omitempty"`
	// Seq is the id of the newest flushed segment whose rows the segment
	// holds: a compaction output's is its inputs' newest, so that a fresh
	// segment flushed after them is known to be newer than all its rows.
	// 0 (absent): the segment's own id.
	Seq uint64 `json:"seq,omitempty"`
	// SeqMin is the id of the oldest flushed segment whose rows it holds
	// (0: DataSeq). A fresh compaction output merged only fresh segments:
	// it repeats no point of a segment whose rows are all older than
	// SeqMin.
	SeqMin uint64 `json:"seq_min,omitempty"`
	// WriteMin and WriteMax bound the write times of the segment's rows:
	// stamps of the node's write clock (a hybrid logical clock: Unix
	// nanoseconds, kept monotonic and moved past every stamp the node
	// saw in other writers' manifests). A flushed segment has its head's
	// first and last write; a compaction output the range of its inputs.
	// A cluster's query node orders the segments of different writers by
	// them (docs/scaling.md). 0 (absent, as in manifests written before
	// they were recorded): unknown; WriteMin 1 with a WriteMax: the
	// segment also holds rows written before stamps were recorded.
	WriteMin int64 `json:"write_min,omitempty"`
	WriteMax int64 `json:"write_max,omitempty"`
	// Deduped lists other writers' segments (keys under the cluster's
	// root) that may hold winning copies of this one's points (NewerPeers)
	// and that it was checked against: rewritten without the points whose
	// copy there wins (PeerCopyWins), or found to hold none. The writer's
	// Iceberg table then publishes it (docs/iceberg.md). Absent: none.
	Deduped []string `json:"deduped,omitempty"`
	// Shadowed, set on a copy of the manifest a cluster writer publishes
	// from, marks a segment another writer's segment may hold a winning
	// copy of one of its points in: its window is withheld from the
	// Iceberg table until the segment is checked (rewritten without those
	// points). Not stored.
	Shadowed bool `json:"-"`
	// Order, when set, places the segment among a scan's sources before
	// its id does: a query node's union (package cluster) orders the
	// segments of different writers by write time. Not stored.
	Order uint64 `json:"-"`
	// Slot, when set, is the writer a query node's union read the
	// segment from (package cluster): scans merge the copies of a point
	// in segments of different slots by their write stamps. Not stored.
	Slot uint64 `json:"-"`
}

// Stamped reports whether m records the write times of its rows.
func (m SegmentMeta) Stamped() bool { return m.WriteMax != 0 }

// StampRange returns the write-time range of segs, as a compaction
// output of them records it: 0, 0 when none is stamped, and a WriteMin of
// 1 when some are not (they hold rows written before stamps were kept).
func StampRange(segs []SegmentMeta) (lo, hi int64) {
	unstamped := false
	for _, s := range segs {
		if !s.Stamped() {
			unstamped = true
			continue
		}
		if lo == 0 || s.WriteMin < lo {
			lo = s.WriteMin
		}
		hi = max(hi, s.WriteMax)
	}
	if hi == 0 {
		return 0, 0
	}
	if unstamped {
		lo = 1
	}
	return lo, hi
}

// DataSeqMin is m's SeqMin, or its DataSeq when it has none.
func (m SegmentMeta) DataSeqMin() uint64 {
	if m.SeqMin != 0 {
		return m.SeqMin
	}
	return m.DataSeq()
}

// DataSeq is m's Seq, or its id when it has none: segments are flushed
// in id order, so a fresh segment with a larger DataSeq than another's
// repeats none of its points.
func (m SegmentMeta) DataSeq() uint64 {
	if m.Seq != 0 {
		return m.Seq
	}
	return m.ID
}

// SeriesKnown reports whether m records its series range.
func (m SegmentMeta) SeriesKnown() bool { return m.FirstSeries != nil && m.LastSeries != nil }

// CompareSeries orders two series (tags sorted by key or not) as segments
// sort them: tag values in tagOrder, a series lacking a tag first.
func CompareSeries(a, b []columnar.TagValue, tagOrder []string) int {
	for _, k := range tagOrder {
		av, ah := tagValueOf(a, k)
		bv, bh := tagValueOf(b, k)
		switch {
		case ah != bh:
			if !ah {
				return -1
			}
			return 1
		case ah:
			if c := strings.Compare(av, bv); c != 0 {
				return c
			}
		}
	}
	return 0
}

// seriesTagsOf returns the tags of head series sid (never nil).
func (h *Head) seriesTagsOf(sid uint32) []columnar.TagValue {
	out := []columnar.TagValue{}
	for col, d := range h.dicts {
		if id := h.tagID(sid, col); id >= 0 {
			out = append(out, columnar.TagValue{Key: h.Schema.Tags[col], Value: d.vals[id]})
		}
	}
	return out
}

// IsRollup reports whether the segment holds a rollup, not raw rows.
func (m SegmentMeta) IsRollup() bool { return m.Rollup != 0 }

// TierS3 is SegmentMeta.Tier of a segment held in the object store.
const TierS3 = "s3"

// Cold reports whether the segment lives in the object store, not on disk.
func (m SegmentMeta) Cold() bool { return m.Tier != "" }

// Key-value metadata written into every segment's Parquet footer.
const (
	MetaKeyInfo  = "silt.segment" // JSON SegmentInfo
	MetaKeyIndex = "silt.index"   // base64 tag index, see index.go
)

// SegmentInfo is the JSON stored under MetaKeyInfo.
type SegmentInfo struct {
	Version int                    `json:"version"`
	DB      string                 `json:"db"`
	Table   string                 `json:"table"`
	MinTime int64                  `json:"min_time"`
	MaxTime int64                  `json:"max_time"`
	Rows    int64                  `json:"rows"`
	Series  int                    `json:"series"`
	Tags    []string               `json:"tags"`
	Fields  []columnar.FieldSchema `json:"fields"`
	Sorting []string               `json:"sorted_by"`
	Extra   json.RawMessage        `json:"extra,omitempty"`
	// WriteStamps: the segment has the stamp column (StampColumn, format
	// version 2). Absent in version 1 segments: their rows' stamps are
	// unknown, bounded by the manifest's write_min and write_max.
	WriteStamps bool `json:"write_stamps,omitempty"`
}

// StampColumn is the Parquet column of a point's write stamp (the newest
// write of the point, a stamp of its writer's clock), in segments of
// format version 2 (SegmentInfo.WriteStamps). Readers of a table's rows
// (scans, DuckDB over the files, the Iceberg table's schema) never see
// it as a field: it is not in the table's schema. A table with a tag or
// field of that name gets no stamp column.
const StampColumn = "_silt_write_stamp"

// StampFieldID is the stamp column's Parquet field id: far above the ids
// an Iceberg table's columns get (numbered from 1), below the ids the
// Iceberg spec reserves for metadata columns (from 2^31-1 down).
const StampFieldID = 2_000_000_000

// stampable reports whether segments of schema s can carry the stamp
// column.
func stampable(s *columnar.TableSchema) bool {
	_, tag := s.Tag([]byte(StampColumn))
	_, field := s.FieldCol(StampColumn)
	return !tag && !field
}

// RowGroupRows bounds the rows of one Parquet row group; smaller groups prune
// better, larger ones compress better.
const RowGroupRows = 32 << 10

// PageRows is the most rows a data page holds. A query of a few series
// over hours decodes only the pages holding them (pages.go): at 4096 a
// series' day at 10 s intervals is about two pages. Smaller pages cost
// bytes (TSBS cpu rows, zstd: 0.81 bytes/value in one page per row group,
// 0.77 at 8192 rows, 0.80 at 4096, 0.87 at 2048, 1.00 at 1024).
const PageRows = 4096

// RollupPath returns the path of rollup segment id relative to the data
// directory: beside its window's raw segments, one directory down, so
// that a glob over a table's segments (segments/db/table/*/*.parquet, as
// DuckDB users write it) reads raw rows only.
func RollupPath(db, table, window string, id uint64) string {
	return filepath.ToSlash(filepath.Join("segments", PathName(db), PathName(table), window, "rollups", fmt.Sprintf("%020d.parquet", id)))
}

// SegmentPath returns the path of segment id relative to the data directory.
func SegmentPath(db, table, window string, id uint64) string {
	return filepath.ToSlash(filepath.Join("segments", PathName(db), PathName(table), window, fmt.Sprintf("%020d.parquet", id)))
}

// WriteSegments writes the frozen head h of db.table as one segment per
// window under dataDir and returns their metadata. Each file is written to a
// temporary name, fsynced, renamed and its directory fsynced, so a segment
// either exists whole or not at all. newID hands out segment ids.
func WriteSegments(dataDir, db, table string, h *Head, newID func() uint64) ([]SegmentMeta, error) {
	h.Finish()
	var metas []SegmentMeta
	// The flush's own record of what it wrote, for BuildFlushedRollups:
	// written by the flusher alone (scans of the frozen head never touch
	// these fields) and read by it after.
	h.flushed, h.flushedRank = h.flushOrder()
	h.flushedTags, h.flushedFields = slices.Clone(h.Schema.Tags), slices.Clone(h.Schema.Fields)
	for _, run := range h.flushed {
		id := newID()
		rel := SegmentPath(db, table, WindowName(run.Window), id)
		m, err := writeSegment(filepath.Join(dataDir, filepath.FromSlash(rel)), db, table, h, &run)
		if err != nil {
			return metas, err
		}
		m.ID, m.Path, m.Window = id, rel, WindowName(run.Window)
		metas = append(metas, m)
	}
	return metas, nil
}

func writeSegment(path, db, table string, h *Head, run *flushRun) (m SegmentMeta, err error) {
	dir := filepath.Dir(path)
	if err := fileutil.MkdirAllSync(dir); err != nil {
		return m, err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return m, fmt.Errorf("create segment %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.Close(), os.Remove(tmp))
		}
	}()
	hf := newHashingFile(f)
	bw := bufio.NewWriterSize(hf, 1<<20)
	stamped := h.Stamped() && stampable(h.Schema)
	sch := segmentSchema(h.Schema, stamped)
	// zstd's fastest level: BenchmarkFlush is 18% faster than the default
	// level for 5% more bytes (4.25 vs 4.04 bytes/value on TSBS cpu rows),
	// and flush speed bounds sustained ingest. Compaction can spend more.
	w := parquet.NewWriter(bw, sch,
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.PageBufferSize(1<<20),
		parquet.DataPageStatistics(true),
		parquet.CreatedBy("silt", "1", ""),
	)

	info := SegmentInfo{Version: 1, DB: db, Table: table, MinTime: math.MaxInt64, MaxTime: math.MinInt64,
		Rows: int64(len(run.Rows)), Tags: h.Schema.Tags, Fields: h.Schema.Fields,
		Sorting: append(append([]string{}, h.Schema.Tags...), columnar.TimeColumn)}
	if stamped {
		info.Version, info.WriteStamps = 2, true
	}
	for _, src := range run.Rows {
		t := h.times[src]
		info.MinTime = min(info.MinTime, t)
		info.MaxTime = max(info.MaxTime, t)
	}
	if len(run.Rows) > 0 {
		m.FirstSeries = h.seriesTagsOf(h.series[run.Rows[0]])
		m.LastSeries = h.seriesTagsOf(h.series[run.Rows[len(run.Rows)-1]])
	}
	idx := newTagIndex(h, run)
	info.Series = idx.series

	cols := segmentColumns(sch, h.Schema, stamped)
	var vals []parquet.Value
	var srcs, seriesRuns []int32
	for start := 0; start < len(run.Rows); start += RowGroupRows {
		end := min(start+RowGroupRows, len(run.Rows))
		rg := w.BeginRowGroup()
		writers := rg.ColumnWriters()
		seriesRuns = h.seriesRunEnds(seriesRuns, run, start, end)
		for _, c := range cols {
			vals = h.columnValues(vals, &srcs, c, run, start, end, seriesRuns)
			// A page every PageRows rows: the pages the reader can
			// skip (pages.go).
			for rest := vals; len(rest) > 0; {
				k := min(len(rest), PageRows)
				if _, err := writers[c.leaf].WriteRowValues(rest[:k]); err != nil {
					return m, fmt.Errorf("write column %s of %s: %w", c.name, path, err)
				}
				if err := writers[c.leaf].Flush(); err != nil {
					return m, fmt.Errorf("write page of column %s of %s: %w", c.name, path, err)
				}
				rest = rest[k:]
			}
		}
		if _, err := rg.Commit(); err != nil {
			return m, fmt.Errorf("commit row group of %s: %w", path, err)
		}
	}
	infoJSON, err := json.Marshal(info)
	if err != nil {
		return m, err
	}
	w.SetKeyValueMetadata(MetaKeyInfo, string(infoJSON))
	w.SetKeyValueMetadata(MetaKeyIndex, idx.encode())
	if err := w.Close(); err != nil {
		return m, fmt.Errorf("close parquet writer %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return m, fmt.Errorf("write segment %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		return m, fmt.Errorf("fsync segment %s: %w", tmp, err)
	}
	st, err := f.Stat()
	if err != nil {
		return m, fmt.Errorf("stat segment %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return m, fmt.Errorf("close segment %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return m, fmt.Errorf("rename segment %s: %w", path, err)
	}
	if err := fileutil.SyncDir(dir); err != nil {
		return m, err
	}
	return SegmentMeta{DB: db, Table: table, Rows: info.Rows, Series: info.Series,
		MinTime: info.MinTime, MaxTime: info.MaxTime, Bytes: st.Size(), Checksum: hf.sum(),
		FirstSeries: m.FirstSeries, LastSeries: m.LastSeries}, nil
}

// segmentSchema maps a table schema to Parquet: time is a required
// timestamp[ns] (UTC values) with delta encoding, tags optional dictionary-encoded
// strings, fields optional columns of their type (integers delta-encoded).
// All zstd.
func segmentSchema(s *columnar.TableSchema, stamped bool) *parquet.Schema {
	g := parquet.Group{}
	if stamped {
		// A dictionary: a flush's rows hold one stamp per write batch
		// (hundreds), so an index of a few bits a row, where deltas of
		// stamps sorted by series would take tens of bits.
		// Its own Parquet field id (StampFieldID), where no other column
		// has one: an Iceberg reader takes the other columns by the
		// table's name mapping and leaves out, by that id, a column its
		// schema lacks (iceberg-go fails on a column it can map by
		// neither).
		g[StampColumn] = parquet.FieldID(parquet.Encoded(parquet.Int(64), &parquet.RLEDictionary), StampFieldID)
	}
	// Not flagged isAdjustedToUTC although the values are UTC: DuckDB maps
	// a UTC-adjusted nanosecond timestamp to TIMESTAMPTZ, which holds only
	// microseconds, and silently drops the last three digits; unflagged it
	// reads TIMESTAMP_NS exactly (cmd/silt/duckdb_test.go).
	g[columnar.TimeColumn] = parquet.Encoded(parquet.TimestampAdjusted(parquet.Nanosecond, false), &parquet.DeltaBinaryPacked)
	for _, t := range s.Tags {
		g[t] = parquet.Optional(parquet.Encoded(parquet.String(), &parquet.RLEDictionary))
	}
	for _, f := range s.Fields {
		var n parquet.Node
		switch f.Type {
		case columnar.FieldFloat:
			n = parquet.Leaf(parquet.DoubleType)
		case columnar.FieldInt:
			// Delta-encoded and bit-packed, as time is: metrics are small
			// or slowly changing integers, so zstd gets a byte or two a
			// value instead of eight. TSBS cpu rows (integer fields):
			// 0.52 bytes/value against 0.72 plain, and a full scan of the
			// fields 35-40 ms against 62-97 ms.
			n = parquet.Encoded(parquet.Int(64), &parquet.DeltaBinaryPacked)
		case columnar.FieldUint:
			n = parquet.Encoded(parquet.Uint(64), &parquet.DeltaBinaryPacked)
		case columnar.FieldBool:
			n = parquet.Leaf(parquet.BooleanType)
		case columnar.FieldString:
			n = parquet.String()
		}
		g[f.Name] = parquet.Optional(n)
	}
	return parquet.NewSchema("silt", g)
}

type segmentColumn struct {
	name  string
	leaf  int
	kind  byte // 't' time, 'g' tag, 'f' field, 's' write stamp
	index int  // tag or field column of the head
}

func segmentColumns(sch *parquet.Schema, s *columnar.TableSchema, stamped bool) []segmentColumn {
	leaf := func(name string) int {
		l, ok := sch.Lookup(name)
		if !ok {
			panic("segment schema lacks column " + name) // broken invariant
		}
		return l.ColumnIndex
	}
	cols := []segmentColumn{{name: columnar.TimeColumn, leaf: leaf(columnar.TimeColumn), kind: 't'}}
	for i, t := range s.Tags {
		cols = append(cols, segmentColumn{name: t, leaf: leaf(t), kind: 'g', index: i})
	}
	for i, f := range s.Fields {
		cols = append(cols, segmentColumn{name: f.Name, leaf: leaf(f.Name), kind: 'f', index: i})
	}
	if stamped {
		cols = append(cols, segmentColumn{name: StampColumn, leaf: leaf(StampColumn), kind: 's'})
	}
	return cols
}

// columnValues sets dst to the Parquet values of column c for output rows
// [start, end) of run. seriesRuns are the ends of those rows' runs of one
// series, relative to start (seriesRunEnds).
//
// It runs for every value a flush writes, so each kind has its own loop:
// a tag's value is made once per series run and copied along it, and a
// field's values are read from the chunk that holds them, its source rows
// remapped only when a duplicate point overrode some of them. srcs is
// scratch for those rows.
func (h *Head) columnValues(dst []parquet.Value, srcs *[]int32, c segmentColumn, run *flushRun, start, end int, seriesRuns []int32) []parquet.Value {
	rows := run.Rows[start:end]
	n := len(rows)
	dst = slices.Grow(dst[:0], n)[:n]
	leaf := c.leaf
	null := parquet.Value{}.Level(0, 0, leaf)
	switch c.kind {
	case 't':
		times := h.times
		for i, src := range rows {
			dst[i] = parquet.Int64Value(times[src]).Level(0, 0, leaf)
		}
	case 's':
		// The written row of a merged point is its newest copy (flushOrder),
		// so its stamp is the point's newest write.
		sc := stampCursor{runs: h.stamps}
		for i, src := range rows {
			dst[i] = parquet.Int64Value(sc.of(src)).Level(0, 0, leaf)
		}
	case 'g':
		d := h.dicts[c.index]
		i := 0
		for _, e := range seriesRuns {
			v := null
			if id := h.tagID(h.series[rows[i]], c.index); id >= 0 {
				v = parquet.ByteArrayValue(unsafeBytes(d.vals[id])).Level(0, 1, leaf)
			}
			run := dst[i:e]
			for k := range run {
				run[k] = v
			}
			i = int(e)
		}
	case 'f':
		col := h.fields[c.index]
		if hasOverrides(run, c.index) {
			*srcs = overriddenRows((*srcs)[:0], run, c.index, start, end)
			rows = *srcs
		}
		chunks := col.chunkList()
		switch col.typ {
		case columnar.FieldFloat:
			for i, r := range rows {
				ch, j := chunks[r>>chunkShift], r&chunkMask
				if ch.valid[j>>6]&(1<<(j&63)) == 0 {
					dst[i] = null
					continue
				}
				dst[i] = parquet.DoubleValue(math.Float64frombits(ch.num[j])).Level(0, 1, leaf)
			}
		case columnar.FieldInt, columnar.FieldUint:
			for i, r := range rows {
				ch, j := chunks[r>>chunkShift], r&chunkMask
				if ch.valid[j>>6]&(1<<(j&63)) == 0 {
					dst[i] = null
					continue
				}
				dst[i] = parquet.Int64Value(int64(ch.num[j])).Level(0, 1, leaf)
			}
		case columnar.FieldBool:
			for i, r := range rows {
				ch, j := chunks[r>>chunkShift], r&chunkMask
				if ch.valid[j>>6]&(1<<(j&63)) == 0 {
					dst[i] = null
					continue
				}
				dst[i] = parquet.BooleanValue(ch.num[j] != 0).Level(0, 1, leaf)
			}
		case columnar.FieldString:
			for i, r := range rows {
				if !col.isValid(int(r)) {
					dst[i] = null
					continue
				}
				dst[i] = parquet.ByteArrayValue(col.strAt(int(r))).Level(0, 1, leaf)
			}
		}
	}
	return dst
}

// seriesRunEnds sets dst to the ends, relative to start, of the runs of
// one series among output rows [start, end) of run.
func (h *Head) seriesRunEnds(dst []int32, run *flushRun, start, end int) []int32 {
	dst = dst[:0]
	rows := run.Rows[start:end]
	for i := 0; i < len(rows); {
		sid := h.series[rows[i]]
		j := i + 1
		for j < len(rows) && h.series[rows[j]] == sid {
			j++
		}
		dst = append(dst, int32(j))
		i = j
	}
	return dst
}

// tagIndex maps each tag value to the segment rows holding it.
type tagIndex struct {
	cols   []string
	vals   [][]string
	bms    [][]*roaring.Bitmap
	series int
}

func newTagIndex(h *Head, run *flushRun) *tagIndex {
	ti := &tagIndex{cols: h.Schema.Tags}
	local := make([]map[int32]int, len(h.dicts)) // dictionary id → position in vals
	ti.vals = make([][]string, len(h.dicts))
	ti.bms = make([][]*roaring.Bitmap, len(h.dicts))
	for c := range local {
		local[c] = map[int32]int{}
	}
	rows := run.Rows
	for i := 0; i < len(rows); {
		sid := h.series[rows[i]]
		j := i + 1
		for j < len(rows) && h.series[rows[j]] == sid {
			j++
		}
		ti.series++
		for c := range h.dicts {
			id := h.tagID(sid, c)
			if id < 0 {
				continue
			}
			p, ok := local[c][id]
			if !ok {
				p = len(ti.vals[c])
				local[c][id] = p
				ti.vals[c] = append(ti.vals[c], h.dicts[c].vals[id])
				ti.bms[c] = append(ti.bms[c], roaring.New())
			}
			ti.bms[c][p].AddRange(uint64(i), uint64(j))
		}
		i = j
	}
	for c := range ti.bms {
		for _, bm := range ti.bms[c] {
			bm.RunOptimize()
		}
	}
	return ti
}
