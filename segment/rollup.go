package segment

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/siltdb/silt/columnar"
)

// A rollup summarizes a segment's rows per series and window of a fixed
// width: for each numeric field, the partial aggregates every decomposable
// aggregate can be finished from (count, sum, min, max, first, last with
// their times, and the sum of squared deviations from the window's mean for
// variance). A rollup row's time is its window's start. Rollups are
// segments themselves (same Parquet format, tag index and footer), named by
// the manifest with SegmentMeta.Rollup and .Of; the engine builds them
// whenever it writes a raw segment — a flush or a compaction output — so
// late and duplicate points, which compaction merges, rebuild the windows
// they touch.
//
// A rollup is exact for the rows of its own segment, which are already
// deduplicated; it answers queries only where no other source can hold a
// row of the same series and time.

// Partial aggregate kinds: a rollup column is RollupColumn(field, kind).
const (
	PartCount     = "n"     // int64: non-NULL values
	PartSum       = "sum"   // the field's type
	PartMin       = "min"   // the field's type (floats: NaN above all, as PostgreSQL)
	PartMax       = "max"   // the field's type
	PartFirst     = "first" // the value at the smallest time
	PartLast      = "last"  // the value at the largest time
	PartFirstTime = "ft"    // int64
	PartLastTime  = "lt"    // int64
	PartM2        = "m2"    // float64: sum of squared deviations from the window mean
)

// RollupRows is the rollup column counting the window's rows (count(*)).
const RollupRows = ":rows"

// RollupColumn names the rollup column holding part of field. Field names
// are never empty and kinds hold no ':', so names cannot collide.
func RollupColumn(field, part string) string { return field + ":" + part }

// RollupParts lists the kinds of a numeric field, in column order.
var RollupParts = []string{PartCount, PartSum, PartMin, PartMax, PartFirst, PartLast, PartFirstTime, PartLastTime, PartM2}

// Rollable reports whether a field of type t gets rollup columns.
func Rollable(t columnar.FieldType) bool {
	return t == columnar.FieldFloat || t == columnar.FieldInt || t == columnar.FieldUint
}

// RollupPartType is the type of part of a field of type t.
func RollupPartType(t columnar.FieldType, part string) columnar.FieldType {
	switch part {
	case PartCount, PartFirstTime, PartLastTime:
		return columnar.FieldInt
	case PartM2:
		return columnar.FieldFloat
	}
	return t
}

// RollupSchema is the schema of the rollups of a segment with these tags
// and fields: the same tags (so the same series order), the row count, and
// the parts of every numeric field.
func RollupSchema(tags []string, fields []columnar.FieldSchema) *columnar.TableSchema {
	s := columnar.NewTableSchema()
	for _, t := range tags {
		s.AddTag(t)
	}
	for _, f := range appendRollupFields(nil, fields) {
		s.AddField(f.Name, f.Type)
	}
	return s
}

// appendRollupFields appends to dst the field columns of RollupSchema for
// fields: the row count, then each rollable field's parts.
func appendRollupFields(dst []columnar.FieldSchema, fields []columnar.FieldSchema) []columnar.FieldSchema {
	dst = append(dst, columnar.FieldSchema{Name: RollupRows, Type: columnar.FieldInt})
	for _, f := range fields {
		if !Rollable(f.Type) {
			continue
		}
		for _, p := range RollupParts {
			dst = append(dst, columnar.FieldSchema{Name: RollupColumn(f.Name, p), Type: RollupPartType(f.Type, p)})
		}
	}
	return dst
}

// ErrRollupOverflow: an integer field's sum over one window leaves int64
// or uint64; the segment gets no rollup (queries read its raw rows, which
// report the overflow as PostgreSQL would).
var ErrRollupOverflow = errors.New("rollup: an integer sum overflows within one window")

// RollupWriter receives one rollup's rows; *SegmentWriter is one.
type RollupWriter interface {
	Append(p *columnar.Point) error
}

// BuildRollups reads seg once, in file order (series, then time, no
// duplicates), and appends its rollup rows for every width to outs[i]
// (the points are in the order a SegmentWriter needs). It returns the
// number of windows written per width.
//
// The work is column at a time: a pass over time and tag ids finds the
// runs of rows sharing series and window, then each field folds its runs
// in a typed loop. No map is touched per row.
func BuildRollups(seg *Segment, widths []int64, outs []RollupWriter) ([]int64, error) {
	fields := rollableFields(seg.Info.Fields)
	cols := append(slices.Clone(seg.Info.Tags), columnar.TimeColumn)
	for _, f := range fields {
		cols = append(cols, f.Name)
	}
	return buildRollups(seg.Info.Tags, fields, func(fn func(*columnar.ColumnBatch) error) error {
		return seg.ScanBatches(cols, nil, fn)
	}, widths, outs)
}

// buildFlushedRollupsFromRows is BuildRollups of the i-th segment h's
// last flush wrote (WriteSegments), from the head's rows rather than the
// file: the flush has them in memory, sorted, so nothing is read back.
// BuildFlushedRollups takes the head's live partials where they are exact
// and falls back on this; it is also the reference its tests compare with.
func buildFlushedRollupsFromRows(h *Head, i int, widths []int64, outs []RollupWriter) ([]int64, error) {
	if i < 0 || i >= len(h.flushed) {
		return nil, fmt.Errorf("rollup: the head's last flush wrote %d segments, not %d", len(h.flushed), i+1)
	}
	fields := rollableFields(h.flushedFields)
	return buildRollups(h.flushedTags, fields, func(fn func(*columnar.ColumnBatch) error) error {
		return h.flushedBatches(&h.flushed[i], fields, fn)
	}, widths, outs)
}

// FlushedSchema returns the tags and fields h's last flush wrote its
// segments with.
func (h *Head) FlushedSchema() ([]string, []columnar.FieldSchema) {
	return h.flushedTags, h.flushedFields
}

func rollableFields(all []columnar.FieldSchema) []columnar.FieldSchema {
	var fields []columnar.FieldSchema
	for _, f := range all {
		if Rollable(f.Type) {
			fields = append(fields, f)
		}
	}
	return fields
}

// buildRollups folds the batches scan passes, in (series, time) order,
// into rollup rows of every width.
func buildRollups(tags []string, fields []columnar.FieldSchema, scan func(func(*columnar.ColumnBatch) error) error, widths []int64, outs []RollupWriter) ([]int64, error) {
	if len(widths) != len(outs) {
		return nil, fmt.Errorf("rollup: %d widths, %d writers", len(widths), len(outs))
	}
	for _, w := range widths {
		if w <= 0 {
			return nil, fmt.Errorf("rollup: width %d", w)
		}
	}
	bs := make([]*rollupBuilder, len(widths))
	for i, w := range widths {
		bs[i] = newRollupBuilder(w, tags, fields, outs[i])
	}
	if err := scan(rollupFeeder(tags, fields, bs)); err != nil {
		return nil, err
	}
	windows := make([]int64, len(bs))
	for i, rb := range bs {
		if err := rb.finish(); err != nil {
			return nil, err
		}
		windows[i] = rb.windows
	}
	return windows, nil
}

// rollupFeeder returns the batch callback that folds batches of rows in
// (series, time) order into the builders bs. A series may continue from
// one batch into the next; a series that comes again later (a head's next
// block) starts new windows, whose partials the reader combines.
func rollupFeeder(tags []string, fields []columnar.FieldSchema, bs []*rollupBuilder) func(b *columnar.ColumnBatch) error {
	var prev []string // the last row's tag values (nil: none yet)
	var prevHas []bool
	var newSeries []bool
	tagVec := make([]*columnar.TagVector, len(tags))
	fvs := make([]*columnar.FieldVector, len(fields))
	var dense columnar.ColumnBatch
	return func(b *columnar.ColumnBatch) error {
		if b.Sel != nil {
			// Selected rows (a tag index or time filter): folded from a
			// dense copy of them.
			compactSel(&dense, b)
			b = &dense
		}
		n := b.Len
		newSeries = slices.Grow(newSeries[:0], n)[:n]
		clear(newSeries)
		for i, t := range tags {
			tagVec[i] = nil
			for j := range b.Tags {
				if b.Tags[j].Name == t {
					tagVec[i] = &b.Tags[j]
				}
			}
		}
		// Series boundaries: within the batch by dictionary id, at its
		// start by value against the previous batch's last row.
		if n > 0 {
			newSeries[0] = prev == nil || !sameSeries(tagVec, 0, prev, prevHas)
		}
		for _, tv := range tagVec {
			if tv == nil {
				continue
			}
			ids := tv.IDs
			for r := 1; r < n; r++ {
				if ids[r] != ids[r-1] {
					newSeries[r] = true
				}
			}
		}
		for i, f := range fields {
			fvs[i] = nil
			for j := range b.Fields {
				if b.Fields[j].Name == f.Name && b.Fields[j].Type == f.Type {
					fvs[i] = &b.Fields[j]
				}
			}
		}
		for _, rb := range bs {
			if err := rb.add(b, tagVec, newSeries, fvs); err != nil {
				return err
			}
		}
		if n > 0 {
			prev, prevHas = seriesOf(tagVec, n-1, prev, prevHas)
		}
		return nil
	}
}

// compactSel sets dst to the rows src.Sel selects, in order, without Sel.
func compactSel(dst, src *columnar.ColumnBatch) {
	n := len(src.Sel)
	dst.Len, dst.Sel, dst.Rollup = n, nil, src.Rollup
	dst.Time = slices.Grow(dst.Time[:0], n)[:n]
	for i, r := range src.Sel {
		dst.Time[i] = src.Time[r]
	}
	dst.Tags = slices.Grow(dst.Tags[:0], len(src.Tags))[:len(src.Tags)]
	for j := range src.Tags {
		st, dt := &src.Tags[j], &dst.Tags[j]
		dt.Name, dt.Dict, dt.Stable = st.Name, st.Dict, st.Stable // dst's vectors are reused: the flag goes with the dictionary
		dt.IDs = slices.Grow(dt.IDs[:0], n)[:n]
		for i, r := range src.Sel {
			dt.IDs[i] = st.IDs[r]
		}
	}
	dst.Fields = slices.Grow(dst.Fields[:0], len(src.Fields))[:len(src.Fields)]
	for j := range src.Fields {
		sf, df := &src.Fields[j], &dst.Fields[j]
		df.Name, df.Type = sf.Name, sf.Type
		df.Null = df.Null[:0]
		if sf.Null != nil {
			df.Null = gatherSel(df.Null, sf.Null, src.Sel)
		} else {
			df.Null = nil
		}
		switch sf.Type {
		case columnar.FieldFloat:
			df.F = gatherSel(df.F[:0], sf.F, src.Sel)
		case columnar.FieldInt:
			df.I = gatherSel(df.I[:0], sf.I, src.Sel)
		case columnar.FieldUint:
			df.U = gatherSel(df.U[:0], sf.U, src.Sel)
		case columnar.FieldBool:
			df.B = gatherSel(df.B[:0], sf.B, src.Sel)
		case columnar.FieldString:
			df.S = gatherSel(df.S[:0], sf.S, src.Sel)
		}
	}
}

func gatherSel[T any](dst, src []T, sel []int32) []T {
	for _, r := range sel {
		dst = append(dst, src[r])
	}
	return dst
}

func sameSeries(tagVec []*columnar.TagVector, r int, vals []string, has []bool) bool {
	for i, tv := range tagVec {
		h := tv != nil && tv.IDs[r] >= 0
		if h != has[i] || h && tv.Dict[tv.IDs[r]] != vals[i] {
			return false
		}
	}
	return true
}

func seriesOf(tagVec []*columnar.TagVector, r int, vals []string, has []bool) ([]string, []bool) {
	vals = slices.Grow(vals[:0], len(tagVec))[:len(tagVec)]
	has = slices.Grow(has[:0], len(tagVec))[:len(tagVec)]
	for i, tv := range tagVec {
		has[i] = tv != nil && tv.IDs[r] >= 0
		vals[i] = ""
		if has[i] {
			vals[i] = string([]byte(tv.Dict[tv.IDs[r]])) // dictionaries alias decode buffers
		}
	}
	return vals, has
}

// partial is one field's partial aggregate over one window of one series.
// Integer sums are exact in i or u; floats fold in f.
type partial struct {
	n             int64
	sum, min, max uint64 // the field's encoding (Float64bits for floats)
	first, last   uint64
	ft, lt        int64
	mean, m2      float64
	overflow      bool // an integer sum left its type
}

// rollupBuilder accumulates the rollup of one width.
type rollupBuilder struct {
	width   int64
	tags    []string
	fields  []columnar.FieldSchema
	out     RollupWriter
	comb    *partialTable // instead of out: partials combined per window and group (read-time folds)
	windows int64

	open    bool // a window is open (carried over between batches)
	start   int64
	lastT   int64 // the time of the open window's last row
	rows    int64
	tagVals []string
	tagHas  []bool
	acc     []partial // per field, of the open window

	runs  []int32 // scratch: first row of each run in a batch
	parts []partial
	p     columnar.Point

	// Computed once: the rollup column names per field (in RollupParts
	// order) and the tags in key order, so emitting a row builds no
	// string and sorts nothing.
	names   [][]string
	tagSort []int
	// plain: the fold's reader asks for no PartM2, so runs skip the
	// moments (FoldRollupsParts).
	plain bool
}

func newRollupBuilder(width int64, tags []string, fields []columnar.FieldSchema, out RollupWriter) *rollupBuilder {
	rb := &rollupBuilder{width: width, tags: tags, fields: fields, out: out, acc: make([]partial, len(fields))}
	// Every name is cut from one string, and the lists from one array: a
	// head's fold makes a builder per query, and a string per field and
	// part (TSBS's ten fields: 90) was most of a small query's
	// allocations.
	np := len(RollupParts)
	size := 0
	for _, f := range fields {
		for _, p := range RollupParts {
			size += len(f.Name) + 1 + len(p)
		}
	}
	var text strings.Builder
	text.Grow(size)
	for _, f := range fields {
		for _, p := range RollupParts {
			// RollupColumn's form, written in place.
			text.WriteString(f.Name)
			text.WriteByte(':')
			text.WriteString(p)
		}
	}
	all, at := text.String(), 0
	flat := make([]string, len(fields)*np)
	rb.names = make([][]string, len(fields))
	for k, f := range fields {
		for i, p := range RollupParts {
			n := len(f.Name) + 1 + len(p)
			flat[k*np+i] = all[at : at+n]
			at += n
		}
		rb.names[k] = flat[k*np : (k+1)*np : (k+1)*np]
	}
	for i := range tags {
		rb.tagSort = append(rb.tagSort, i)
	}
	sort.Slice(rb.tagSort, func(i, j int) bool { return tags[rb.tagSort[i]] < tags[rb.tagSort[j]] })
	return rb
}

// WindowStart returns the start of the window of width w holding t
// (windows are aligned on the Unix epoch; t before it floors downward).
func WindowStart(t, w int64) int64 {
	s := t - t%w
	if t%w < 0 {
		s -= w
	}
	return s
}

// add folds a batch. Runs are maximal row ranges sharing series and
// window; the batch's first run continues the open window when neither
// changed.
func (rb *rollupBuilder) add(b *columnar.ColumnBatch, tagVec []*columnar.TagVector, newSeries []bool, fvs []*columnar.FieldVector) error {
	n := b.Len
	if n == 0 {
		return nil
	}
	w := rb.width
	rb.runs = rb.runs[:0]
	cur := WindowStart(b.Time[0], w)
	continues := rb.open && !newSeries[0] && cur == rb.start && b.Time[0] >= rb.lastT
	rb.runs = append(rb.runs, 0)
	for r := 1; r < n; r++ {
		t := b.Time[r]
		// A run is in time order (first and last are its ends): rows
		// of several series that share the tags kept (a head's rollup
		// of some tags) start a new run where time goes back.
		if newSeries[r] || t < cur || t >= cur+w || t < b.Time[r-1] {
			rb.runs = append(rb.runs, int32(r))
			cur = WindowStart(t, w)
		}
	}
	nr := len(rb.runs)
	nf := len(rb.fields)
	rb.parts = slices.Grow(rb.parts[:0], nr*nf)[:nr*nf]
	clear(rb.parts)
	if continues {
		copy(rb.parts[:nf], rb.acc)
	} else if rb.open {
		if err := rb.emit(rb.acc); err != nil {
			return err
		}
	}
	// Field by field, run by run: typed loops over contiguous rows.
	for k, fv := range fvs {
		for ri, lo := range rb.runs {
			hi := int32(n)
			if ri+1 < nr {
				hi = rb.runs[ri+1]
			}
			p := &rb.parts[ri*nf+k]
			if fv == nil {
				continue
			}
			foldRunParts(p, fv, b.Time, int(lo), int(hi), !rb.plain)
		}
	}
	// Emit every run but the last, which may continue in the next batch.
	for ri := range nr - 1 {
		lo, hi := rb.runs[ri], rb.runs[ri+1]
		rows := int64(hi - lo)
		if ri == 0 && continues {
			rows += rb.rows
		}
		rb.setSeries(tagVec, int(lo))
		rb.start, rb.rows = WindowStart(b.Time[lo], w), rows
		if err := rb.emit(rb.parts[ri*nf : (ri+1)*nf]); err != nil {
			return err
		}
	}
	last := rb.runs[nr-1]
	rows := int64(int32(n) - last)
	if nr == 1 && continues {
		rows += rb.rows
	}
	rb.setSeries(tagVec, int(last))
	rb.open, rb.start, rb.rows = true, WindowStart(b.Time[last], w), rows
	rb.lastT = b.Time[n-1]
	copy(rb.acc, rb.parts[(nr-1)*nf:])
	return nil
}

func (rb *rollupBuilder) setSeries(tagVec []*columnar.TagVector, r int) {
	rb.tagVals, rb.tagHas = seriesOf(tagVec, r, rb.tagVals, rb.tagHas)
}

// emitWindow emits a partial computed elsewhere (a head block's) for the
// window starting at start of the series with tag values vals (has: which
// are present), without touching the open window.
func (rb *rollupBuilder) emitWindow(start, rows int64, vals []string, has []bool, ps []partial) error {
	saveStart, saveRows, saveVals, saveHas := rb.start, rb.rows, rb.tagVals, rb.tagHas
	rb.start, rb.rows, rb.tagVals, rb.tagHas = start, rows, vals, has
	err := rb.emit(ps)
	rb.start, rb.rows, rb.tagVals, rb.tagHas = saveStart, saveRows, saveVals, saveHas
	return err
}

// finish emits the open window.
func (rb *rollupBuilder) finish() error {
	if !rb.open {
		return nil
	}
	rb.open = false
	return rb.emit(rb.acc)
}

// emit appends the open window's row (series in tagVals, start, rows)
// with the partials ps.
func (rb *rollupBuilder) emit(ps []partial) error {
	for k, f := range rb.fields {
		if ps[k].overflow {
			return fmt.Errorf("%w (field %s)", ErrRollupOverflow, f.Name)
		}
	}
	rb.windows++
	if rb.comb != nil {
		return rb.comb.add(rb.start, rb.rows, rb.tagVals, rb.tagHas, ps)
	}
	rb.fillPoint(&rb.p, rb.start, rb.rows, rb.tagVals, rb.tagHas, ps)
	return rb.out.Append(&rb.p)
}

// fillPoint sets p to the rollup row of the window at start (rows rows)
// of the series with tag values vals (has: which are present) and the
// partials ps, its fields in the rollup schema's order (RollupSchema),
// which is what a SegmentWriter looks for first.
func (rb *rollupBuilder) fillPoint(p *columnar.Point, start, rows int64, vals []string, has []bool, ps []partial) {
	p.Time = start
	p.Tags = p.Tags[:0]
	for _, i := range rb.tagSort {
		if has[i] {
			p.Tags = append(p.Tags, columnar.TagValue{Key: rb.tags[i], Value: vals[i]})
		}
	}
	p.Fields = p.Fields[:0]
	p.Fields = append(p.Fields, columnar.FieldValue{Key: RollupRows, Type: columnar.FieldInt, Num: uint64(rows)})
	for k, f := range rb.fields {
		pt := &ps[k]
		names := rb.names[k] // in RollupParts order
		p.Fields = append(p.Fields, columnar.FieldValue{Key: names[0], Type: columnar.FieldInt, Num: uint64(pt.n)})
		if pt.n == 0 {
			continue
		}
		p.Fields = append(p.Fields,
			columnar.FieldValue{Key: names[1], Type: f.Type, Num: pt.sum},
			columnar.FieldValue{Key: names[2], Type: f.Type, Num: pt.min},
			columnar.FieldValue{Key: names[3], Type: f.Type, Num: pt.max},
			columnar.FieldValue{Key: names[4], Type: f.Type, Num: pt.first},
			columnar.FieldValue{Key: names[5], Type: f.Type, Num: pt.last},
			columnar.FieldValue{Key: names[6], Type: columnar.FieldInt, Num: uint64(pt.ft)},
			columnar.FieldValue{Key: names[7], Type: columnar.FieldInt, Num: uint64(pt.lt)},
			columnar.FieldValue{Key: names[8], Type: columnar.FieldFloat, Num: math.Float64bits(pt.m2)},
		)
	}
}

// FloatLess orders floats as PostgreSQL does: NaN above every number.
func FloatLess(a, b float64) bool {
	return !math.IsNaN(a) && (math.IsNaN(b) || a < b)
}

// foldRun folds rows [lo, hi) of fv (times t) into p: Welford's update for
// the mean and squared deviations, exact integer sums.
func foldRun(p *partial, fv *columnar.FieldVector, t []int64, lo, hi int) {
	foldRunParts(p, fv, t, lo, hi, true)
}

// foldRunParts is foldRun; without moments it leaves the mean and M2
// alone (a division per value, each waiting on the one before), for a
// fold whose reader asks for no PartM2 (foldOrdered does the same).
func foldRunParts(p *partial, fv *columnar.FieldVector, t []int64, lo, hi int, moments bool) {
	null := fv.Null
	switch fv.Type {
	case columnar.FieldFloat:
		x := fv.F
		sum, mn, mx := math.Float64frombits(p.sum), math.Float64frombits(p.min), math.Float64frombits(p.max)
		for r := lo; r < hi; r++ {
			if null != nil && null[r] {
				continue
			}
			v := x[r]
			if p.n == 0 {
				mn, mx, p.first, p.ft = v, v, math.Float64bits(v), t[r]
			} else {
				if FloatLess(v, mn) {
					mn = v
				}
				if FloatLess(mx, v) {
					mx = v
				}
			}
			sum += v
			p.last, p.lt = math.Float64bits(v), t[r]
			p.n++
			if moments {
				d := v - p.mean
				p.mean += d / float64(p.n)
				p.m2 += d * (v - p.mean)
			}
		}
		p.sum, p.min, p.max = math.Float64bits(sum), math.Float64bits(mn), math.Float64bits(mx)
	case columnar.FieldInt:
		x := fv.I
		sum, mn, mx := int64(p.sum), int64(p.min), int64(p.max)
		for r := lo; r < hi; r++ {
			if null != nil && null[r] {
				continue
			}
			v := x[r]
			if p.n == 0 {
				mn, mx, p.first, p.ft = v, v, uint64(v), t[r]
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if (v > 0 && s < sum) || (v < 0 && s > sum) {
				p.overflow = true
			}
			sum = s
			p.last, p.lt = uint64(v), t[r]
			p.n++
			if moments {
				f := float64(v)
				d := f - p.mean
				p.mean += d / float64(p.n)
				p.m2 += d * (f - p.mean)
			}
		}
		p.sum, p.min, p.max = uint64(sum), uint64(mn), uint64(mx)
	case columnar.FieldUint:
		x := fv.U
		sum, mn, mx := p.sum, p.min, p.max
		for r := lo; r < hi; r++ {
			if null != nil && null[r] {
				continue
			}
			v := x[r]
			if p.n == 0 {
				mn, mx, p.first, p.ft = v, v, v, t[r]
			} else {
				mn, mx = min(mn, v), max(mx, v)
			}
			s := sum + v
			if s < sum {
				p.overflow = true
			}
			sum = s
			p.last, p.lt = v, t[r]
			p.n++
			if moments {
				f := float64(v)
				d := f - p.mean
				p.mean += d / float64(p.n)
				p.m2 += d * (f - p.mean)
			}
		}
		p.sum, p.min, p.max = sum, mn, mx
	}
}
