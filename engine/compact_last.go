package engine

import (
	"math"
	"path/filepath"
	"slices"
	"sort"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// Compaction outputs get their last-value summaries when they are made, as
// flushed segments do (lastCache.fromHead): otherwise the first lastpoint,
// last() or stat-panel query after every merge reads each new output whole.
//
// When the merge drops nothing (no retention trim) and every input's
// summary is cached, an output's summary is the inputs' summaries merged,
// restricted to the output's series. That is exact: the merge keeps every
// series and time, and gives each field of a point the value of the newest
// input holding that field there; lastSet.merge folds the inputs oldest
// first, a value at an equal time replacing the older one, so a field's
// last value is the newest input's at the largest time — the same value.
// Otherwise the summaries are folded from the rows as the merge writes them
// (compaction.Job.Written), never by reading the outputs back.

// compactLast builds the summaries of one merge's outputs.
type compactLast struct {
	fields   []columnar.FieldSchema // the outputs' fields
	tagOrder []string
	inputs   []*lastSet // oldest first; nil: fold the written rows

	// Folding the written rows (inputs nil): per output id its summary;
	// the output and series the last point went to. cur is nil while an
	// output past maxCachedSeries series is written: its summary would not
	// be cached, so none is kept.
	byOut    map[uint64]*lastSet
	cur      *lastSet
	curID    uint64
	started  bool
	e        *lastSeries
	tags     []columnar.TagValue // e's tags as the merge gave them
	sorted   []columnar.TagValue // scratch: tags sorted by key
	key      []byte
	fieldKey []string // per position in a point's fields: the key last seen there
	fieldAt  []int    // and its index in fields (-1: not summarized)
}

// forCompaction prepares the summaries of a merge of inputs (absolute
// paths, oldest first) into outputs with the given fields. dropsNothing
// says every input row reaches an output (no retention cut). Written, when
// not nil, must be set as the merge's compaction.Job.Written.
func (c *lastCache) forCompaction(inputs []string, fields []columnar.FieldSchema, tagOrder []string, dropsNothing bool) (cl *compactLast, written func(uint64, *columnar.Point)) {
	cl = &compactLast{fields: fields, tagOrder: tagOrder}
	if dropsNothing {
		for _, p := range inputs {
			v, ok := c.m.Load(p)
			if !ok {
				cl.inputs = nil
				break
			}
			cl.inputs = append(cl.inputs, v.(*lastSet))
		}
	}
	if cl.inputs != nil {
		return cl, nil
	}
	cl.byOut = map[uint64]*lastSet{}
	return cl, cl.written
}

// written folds p, just written to output id, into that output's summary.
// The merge writes series by series, so the series is looked up only when
// it changes. Strings are kept, not copied: the segment reader gives each
// point strings of its own.
func (cl *compactLast) written(id uint64, p *columnar.Point) {
	if !cl.started || id != cl.curID {
		cl.cur, cl.curID, cl.e, cl.started = newLastSet(cl.fields), id, nil, true
		cl.byOut[id] = cl.cur
	}
	if cl.cur == nil {
		return
	}
	if cl.e == nil || !slices.Equal(p.Tags, cl.tags) {
		if len(cl.cur.order) >= maxCachedSeries {
			delete(cl.byOut, id)
			cl.cur = nil
			return
		}
		cl.tags = append(cl.tags[:0], p.Tags...)
		cl.e = cl.seriesOf(p.Tags)
	}
	e := cl.e
	for i := range p.Fields {
		fv := &p.Fields[i]
		k := cl.field(i, fv.Key)
		if k < 0 || cl.fields[k].Type != fv.Type || p.Time < e.t[k] {
			continue
		}
		e.t[k] = p.Time
		e.v[k] = columnar.FieldValue{Key: cl.fields[k].Name, Type: fv.Type, Num: fv.Num, Str: fv.Str}
	}
}

// field returns the index in fields of the field named key at position i
// of a point (-1: not summarized), remembering it per position: the merge
// gives a field the same position in point after point.
func (cl *compactLast) field(i int, key string) int {
	if i < len(cl.fieldKey) && cl.fieldKey[i] == key {
		return cl.fieldAt[i]
	}
	for len(cl.fieldKey) <= i {
		cl.fieldKey, cl.fieldAt = append(cl.fieldKey, ""), append(cl.fieldAt, -1)
	}
	k, ok := cl.cur.fieldAt[key]
	if !ok {
		k = -1
	}
	cl.fieldKey[i], cl.fieldAt[i] = key, k
	return k
}

// seriesOf returns the current output's entry of the series with tags,
// creating it; the key is lastSet.seriesOf's.
func (cl *compactLast) seriesOf(tags []columnar.TagValue) *lastSeries {
	cl.sorted = append(cl.sorted[:0], tags...)
	columnar.SortTags(cl.sorted)
	cl.key = seriesKey(cl.key[:0], cl.sorted)
	if e, ok := cl.cur.series[string(cl.key)]; ok {
		return e
	}
	return cl.cur.add(string(cl.key), slices.Clone(cl.sorted))
}

// seriesKey appends the lastSet key of a series' tags (sorted by key).
func seriesKey(dst []byte, tags []columnar.TagValue) []byte {
	for _, tv := range tags {
		dst = append(append(append(append(dst, tv.Key...), 0), tv.Value...), 0)
	}
	return dst
}

// result returns the summaries of outs, the merge's raw outputs in the
// order written, by id. It returns nil when the inputs' summaries do not
// account for the outputs (an output without a recorded series range, or a
// series no output's range holds): nothing is cached then.
func (cl *compactLast) result(outs []segment.SegmentMeta) map[uint64]*lastSet {
	if cl.inputs == nil {
		return cl.byOut
	}
	for _, o := range outs {
		if !o.SeriesKnown() {
			return nil
		}
	}
	// The merged summary holds at most what the cache would hold of the
	// outputs (each of them up to maxCachedSeries series), give or take
	// one input's.
	all := newLastSet(cl.fields)
	for _, s := range cl.inputs {
		if len(all.order) > maxCachedSeries*len(outs) {
			return nil
		}
		all.merge(s, math.MinInt64, math.MaxInt64, 0) // one writer's sources: no stamps
	}
	// Outputs are split between series, in series order: each series
	// belongs to the first output whose last series is not before it.
	sums := make([]*lastSet, len(outs))
	for i := range sums {
		sums[i] = newLastSet(cl.fields)
	}
	var key []byte
	for _, se := range all.order {
		i := sort.Search(len(outs), func(i int) bool {
			return segment.CompareSeries(outs[i].LastSeries, se.tags, cl.tagOrder) >= 0
		})
		if i == len(outs) || segment.CompareSeries(se.tags, outs[i].FirstSeries, cl.tagOrder) < 0 {
			return nil
		}
		key = seriesKey(key[:0], se.tags)
		sums[i].series[string(key)] = se
		sums[i].order = append(sums[i].order, se)
	}
	res := make(map[uint64]*lastSet, len(outs))
	for i, o := range outs {
		res[o.ID] = sums[i]
	}
	return res
}

// install caches the summaries of outs (committed to the manifest).
func (c *lastCache) install(dataDir string, outs []segment.SegmentMeta, sums map[uint64]*lastSet) {
	for _, o := range outs {
		if s, ok := sums[o.ID]; ok && len(s.order) <= maxCachedSeries {
			c.m.Store(filepath.Join(dataDir, filepath.FromSlash(o.Path)), s)
		}
	}
}
