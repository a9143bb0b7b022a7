package engine

import (
	"fmt"
	"iter"
	"math"
	"slices"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/merge"
	"github.com/siltdb/silt/segment"
)

// Per-point write stamps in a cluster's merge (docs/scaling.md, "Per-point
// write stamps"). A query node's scan merges the copies of a point two
// writers hold by their write stamps, the newest winning (ties: the
// union's order of the sources), where a merge's sources span writers: a
// stretch of segments of different slots (SegmentMeta.Slot), or a query
// node's overlay heads (the writers' rows outside the bucket) with any
// other source. Elsewhere — every scan of a standalone node or a writer,
// and every stretch one writer's sources hold alone — the source order
// decides and no stamp is read. The last-value scan (scan_last.go) follows
// the same rule: where crossWriter holds for all its sources, a field's
// value at an equal time is the one of the greater stamp.
//
// A source's stamps: a segment's stamp column, read only in such a merge;
// a segment written before the column (format version 1) gives each of
// its points its write_max (0 before stamps were recorded: the oldest, so
// the union's order decides between such segments, as before); a head
// its rows' stamps, and a head without them (a writer of an older build)
// math.MaxInt64, after every segment as before.

// StampMergeOff disables the merge by stamps, for tests only: with it a
// query node orders writers' copies by the union's order of their
// sources, as before per-point stamps, which the cross-writer tests
// must catch.
var StampMergeOff = false

// crossWriter reports whether sources srcs (indices: segments, then heads)
// span writers, so that their merge must order a point's copies by stamp.
func (ts *TableScan) crossWriter(srcs []int) bool {
	if StampMergeOff || len(srcs) < 2 {
		return false
	}
	var slot uint64
	seen := false
	for _, i := range srcs {
		if i >= len(ts.segs) {
			if i-len(ts.segs) >= ts.ownHeads {
				return true // a writer's rows outside the bucket, with another source
			}
			continue // this node's own head: its slot is this node's
		}
		s := uint64(0)
		if i < len(ts.metas) {
			s = ts.metas[i].Slot
		}
		if seen && s != slot {
			return true
		}
		slot, seen = s, true
	}
	return false
}

// stampedSource is a scan source whose points carry write stamps, a
// merge.Stamped.
type stampedSource struct {
	next  func() (*columnar.Point, error, bool)
	stamp int64 // of the point Next returned last, set by the producer
}

func (s *stampedSource) Next() (*columnar.Point, error) {
	p, err, ok := s.next()
	if !ok {
		return nil, nil
	}
	return p, err
}

func (s *stampedSource) Stamp() int64 { return s.stamp }

// stampedSegment returns a sequence of the segment's points in [lo, hi)
// (with cols and tags as ScanColumnsRange) whose stamps it sets in *st:
// the stamp column's, or the segment's write_max where it has none.
func stampedSegment(seg *segment.Segment, meta segment.SegmentMeta, cols []string, tags map[string][]string, lo, hi int64, st *int64) iter.Seq2[*columnar.Point, error] {
	if !seg.Info.WriteStamps {
		return pushSeq(func(fn func(*columnar.Point) error) error {
			return seg.ScanColumnsRange(cols, tags, lo, hi, func(p *columnar.Point) error {
				*st = meta.WriteMax
				return fn(p)
			})
		})
	}
	withStamp := append(append(make([]string, 0, len(cols)+1), cols...), segment.StampColumn)
	return pushSeq(func(fn func(*columnar.Point) error) error {
		return seg.ScanColumnsRange(withStamp, tags, lo, hi, func(p *columnar.Point) error {
			*st = 0
			for k := range p.Fields {
				if p.Fields[k].Key == segment.StampColumn {
					*st = int64(p.Fields[k].Num)
					p.Fields = append(p.Fields[:k], p.Fields[k+1:]...)
					break
				}
			}
			*st = segment.PointStamp(*st, meta)
			return fn(p)
		})
	})
}

// stampedHead returns a sequence of the head's points in [lo, hi) whose
// stamps it sets in *st (fallback where the head has none).
func stampedHead(h *segment.Head, lo, hi, fallback int64, st *int64) iter.Seq2[*columnar.Point, error] {
	return pushSeq(func(fn func(*columnar.Point) error) error {
		return h.ScanOrderedRangeStamped(lo, hi, fallback, func(p *columnar.Point, s int64) error {
			*st = s
			return fn(p)
		})
	})
}

// mergeByStamp merges the scan's sources srcs (indices as crossWriter's)
// in [lo, hi) into fn, ordering the copies of a point by write stamp.
// cols are a segment's columns to read (nil: every column).
func (ts *TableScan) mergeByStamp(srcs []int, cols []string, lo, hi int64, fn func(*columnar.Point) error) error {
	return ts.mergeStamped(srcs, cols, lo, hi, true, func(p *columnar.Point, _ int64) error { return fn(p) })
}

// RunStamped is Run passing each point's write stamp (the newest of its
// copies'; 0 where no source knows it, rows written before stamps): a
// writer serves its rows outside the bucket with them, for the query
// node's merge (cluster.RowsPath with stamps). Copies of a point are
// resolved as Run resolves them.
func (ts *TableScan) RunStamped(fn func(p *columnar.Point, stamp int64) error) error {
	if ts.clip {
		inner := fn
		fn = func(p *columnar.Point, st int64) error {
			if p.Time < ts.visibleMin {
				return nil
			}
			return inner(p, st)
		}
	}
	var cols []string
	if ts.Columns != nil {
		cols = append(slices.Clone(ts.tagOrder), ts.Columns...)
	}
	all := ts.allSources()
	return ts.mergeStamped(all, cols, math.MinInt64, math.MaxInt64, ts.crossWriter(all), fn)
}

// mergeStamped merges sources srcs in [lo, hi) into fn with each point's
// stamp, by stamp (byStamp) or by source order.
func (ts *TableScan) mergeStamped(srcs []int, cols []string, lo, hi int64, byStamp bool, fn func(*columnar.Point, int64) error) error {
	sources := make([]merge.Source, len(srcs))
	for k, i := range srcs {
		s := &stampedSource{}
		var seq iter.Seq2[*columnar.Point, error]
		if i < len(ts.segs) {
			seg := ts.segs[i]
			var meta segment.SegmentMeta
			if i < len(ts.metas) {
				meta = ts.metas[i]
			}
			c := cols
			if c == nil {
				c = append(append([]string(nil), seg.Info.Tags...), fieldNames(seg.Info.Fields)...)
			}
			seq = stampedSegment(seg, meta, c, ts.Tags, lo, hi, &s.stamp)
		} else {
			// An own head without stamps holds rows replayed by an
			// older build: unknown (0) to a writer's reader; an overlay
			// head without them, newer than every segment, as before.
			fallback := int64(math.MaxInt64)
			if !byStamp {
				fallback = 0
			}
			seq = stampedHead(ts.heads[i-len(ts.segs)], lo, hi, fallback, &s.stamp)
		}
		next, stop := iter.Pull2(seq)
		defer stop()
		s.next = next
		sources[k] = s
	}
	m := merge.New(ts.tagOrder, false, sources...)
	if byStamp {
		m.OrderByStamp()
	}
	for p := m.Next(); p != nil; p = m.Next() {
		sortFields(p.Fields)
		if err := fn(p, m.Stamp()); err != nil {
			return err
		}
	}
	if err := m.Err(); err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	return nil
}

func fieldNames(fs []columnar.FieldSchema) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// allSources lists every source of the scan (segments, then heads).
func (ts *TableScan) allSources() []int {
	out := make([]int, len(ts.segs)+len(ts.heads))
	for i := range out {
		out[i] = i
	}
	return out
}
