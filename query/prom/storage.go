// Package prom answers Prometheus' query API over Silt's tables: a
// storage.Queryable adapter on the engine's scans, evaluated by Prometheus'
// own promql engine, and the HTTP API's parameters and JSON envelope
// (docs/prometheus.md).
//
// The data model is the one remote write stores (ingest/promremote): a
// metric is a table, its labels the table's tags and its samples the float
// field "value". Any table of the database with a numeric "value" field
// answers as a metric, so data written as line protocol is queryable too.
package prom

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
)

// ValueField is the field that holds a sample's value.
const ValueField = "value"

// Queryable is a storage.Queryable over the tables of one database. One
// Queryable serves one request: what its Selects load is charged to it.
type Queryable struct {
	Eng *engine.Engine
	DB  string
	// MaxMemoryBytes bounds what the series its Selects load hold, all
	// Selects of the request together: their samples' arrays (by
	// capacity) and their labels (--query-max-memory); 0: no bound.
	// The promql engine holds the samples it evaluates on top, bounded
	// by its own MaxSamples (EngineMaxSamples).
	MaxMemoryBytes int64
	// Shared, if not nil, is the request's part of the memory all
	// running queries share (--query-max-memory-total): what is charged
	// is reserved from it too, and the request's caller releases it once
	// the answer is sent.
	Shared query.Hold

	used   atomic.Int64 // bytes charged so far
	shared atomic.Int64 // of used, reserved of Shared
}

// ErrMemoryLimit is returned when a query would hold more than
// Queryable.MaxMemoryBytes, or more than the shared budget has left: it
// is every query language's error (query.ErrMemoryLimit), so that one
// test tells them all.
var ErrMemoryLimit = query.ErrMemoryLimit

// Charge adds n bytes to what the request holds and fails, wrapping
// ErrMemoryLimit, when that passes MaxMemoryBytes or the shared budget.
// what names the holder in the error: a constant, so that charging
// allocates nothing.
func (q *Queryable) Charge(n int64, what string) error {
	used := q.used.Add(n)
	if q.MaxMemoryBytes > 0 && used > q.MaxMemoryBytes {
		return fmt.Errorf("%w: %s bring what the query holds to %d bytes, past %d bytes (--query-max-memory); narrow its time range or its selectors",
			ErrMemoryLimit, what, used, q.MaxMemoryBytes)
	}
	if q.Shared == nil {
		return nil
	}
	if err := q.Shared.Grow(n); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	q.shared.Add(n)
	return nil
}

// Used is what the request's Selects hold, in bytes.
func (q *Queryable) Used() int64 { return q.used.Load() }

// Per-item costs charged to MaxMemoryBytes: a float sample in a series'
// array, and what a series holds besides its samples and label bytes
// (its struct, its entry in the scan's map, the labels' string header).
const (
	sampleBytes         = 16
	seriesOverheadBytes = 96
)

// EngineMaxSamples is the promql engine's MaxSamples for a query memory
// budget of maxBytes: the engine counts the samples its evaluation holds
// at once, 16 bytes each in its arrays, which grow by doubling, so twice
// that is charged.
func EngineMaxSamples(maxBytes int64) int {
	return int(max(1, maxBytes/(2*sampleBytes)))
}

// Querier implements storage.Queryable. mint and maxt are inclusive, in
// milliseconds.
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{q: q, mint: mint, maxt: maxt}, nil
}

type querier struct {
	q          *Queryable
	mint, maxt int64
}

func (*querier) Close() error { return nil }

// metricTables returns, sorted, the tables whose name the __name__
// matchers accept and that hold a numeric value field, with their schemas.
func (q *querier) metricTables(ms []*labels.Matcher) ([]string, map[string]*columnar.TableSchema) {
	for _, m := range ms {
		if m.Name == metricLabel && m.Type == labels.MatchEqual {
			// One table: no copy of every schema.
			tabs, ok := q.q.Eng.Tables(q.q.DB)
			if !ok {
				return nil, nil
			}
			s := tabs[m.Value]
			if s == nil || !hasValue(s) || !matchAll(ms, metricLabel, m.Value) {
				return nil, nil
			}
			return []string{m.Value}, map[string]*columnar.TableSchema{m.Value: s}
		}
	}
	tabs, ok := q.q.Eng.Tables(q.q.DB)
	if !ok {
		return nil, nil
	}
	var names []string
	for name, s := range tabs {
		if hasValue(s) && matchAll(ms, metricLabel, name) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, tabs
}

func hasValue(s *columnar.TableSchema) bool {
	for _, f := range s.Fields {
		if f.Name == ValueField {
			return f.Type == columnar.FieldFloat || f.Type == columnar.FieldInt || f.Type == columnar.FieldUint
		}
	}
	return false
}

// matchAll reports whether every matcher on label accepts v.
func matchAll(ms []*labels.Matcher, label, v string) bool {
	for _, m := range ms {
		if m.Name == label && !m.Matches(v) {
			return false
		}
	}
	return true
}

// series is one selected series: its labels and samples.
type series struct {
	lset labels.Labels
	s    []fsample // ascending by time
}

// Select implements storage.Querier: for each table the __name__ matchers
// accept, one scan over the hints' time range (or the querier's) with the
// equality and set matchers pushed down to the tag indexes; the other
// matchers are applied to each batch's tag dictionaries.
func (q *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = max(mint, hints.Start), min(maxt, hints.End)
	}
	// A Select builds its series whole before returning them: one that
	// found an object gone from the store (a writer replaced a segment
	// after its delete grace) is run again on the reloaded manifests. What
	// a failed run charged stays charged until the request ends (a retry
	// may so reach --query-max-memory sooner; it never answers short).
	var out []*series
	err := q.q.Eng.RetryGone(ctx, nil, func(ctx context.Context) error {
		var err error
		out, err = q.selectSeries(ctx, mint, maxt, ms)
		return err
	})
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	return &seriesSet{s: out, i: -1}
}

func (q *querier) selectSeries(ctx context.Context, mint, maxt int64, ms []*labels.Matcher) ([]*series, error) {
	if mint > maxt {
		return nil, nil
	}
	names, schemas := q.metricTables(ms)
	var out []*series
	for _, table := range names {
		got, err := q.scanTable(ctx, table, schemas[table], mint, maxt, ms)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	slices.SortFunc(out, func(a, b *series) int { return labels.Compare(a.lset, b.lset) })
	return out, nil
}

// nsPerMs converts Prometheus' millisecond timestamps to Silt's nanoseconds.
const nsPerMs = 1_000_000

// scanTable selects the series of one table.
func (q *querier) scanTable(ctx context.Context, table string, s *columnar.TableSchema, mint, maxt int64, ms []*labels.Matcher) ([]*series, error) {
	// Matchers on labels the table lacks see "" on every row: they either
	// rule the table out or hold for all of it.
	var rowMs []*labels.Matcher
	push := map[string][]string{}
	for _, m := range ms {
		if m.Name == metricLabel {
			continue
		}
		if !slices.Contains(s.Tags, m.Name) {
			if !m.Matches("") {
				return nil, nil
			}
			continue
		}
		rowMs = append(rowMs, m)
		if _, done := push[m.Name]; done || m.Matches("") {
			continue
		}
		switch {
		case m.Type == labels.MatchEqual:
			push[m.Name] = []string{m.Value}
		case m.Type == labels.MatchRegexp:
			if set := m.SetMatches(); len(set) > 0 {
				push[m.Name] = set
			}
		}
	}
	lo := mint * nsPerMs
	if mint < math.MinInt64/nsPerMs {
		lo = math.MinInt64
	}
	hi := int64(math.MaxInt64)
	if maxt < math.MaxInt64/nsPerMs-1 {
		hi = (maxt + 1) * nsPerMs
	}
	ts, err := q.q.Eng.OpenScanRange(q.q.DB, table, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", table, err)
	}
	defer ts.Close()
	// Tags identify series: every one is read, with the value.
	ts.Columns = append(slices.Clone(s.Tags), ValueField)
	if len(push) > 0 {
		ts.Tags = push
	}
	byKey := map[string]*series{}
	var key []byte
	var ok [][]int8 // per row matcher, per dictionary entry: 0 unknown, 1 match, 2 not
	var tagOf []int // per row matcher: its tag vector
	var vals []string
	// The readers' buffers are the request's while the scan runs.
	readers := query.NewScanCharge(q.q.Shared)
	err = ts.RunBatches(ctx, func(b *columnar.ColumnBatch) error {
		if err := readers.Batch(b.ArrayBytes()); err != nil {
			return err
		}
		var fv *columnar.FieldVector
		for i := range b.Fields {
			if b.Fields[i].Name == ValueField {
				fv = &b.Fields[i]
			}
		}
		if fv == nil {
			return nil
		}
		tagOf = tagOf[:0]
		ok = ok[:0]
		for _, m := range rowMs {
			at := -1
			for i := range b.Tags {
				if b.Tags[i].Name == m.Name {
					at = i
				}
			}
			tagOf = append(tagOf, at)
			size := 0
			if at >= 0 {
				size = len(b.Tags[at].Dict)
			}
			ok = append(ok, make([]int8, size))
		}
	rows:
		for r := range b.Rows() {
			t := b.Time[r]
			if t < lo || t >= hi || fv.IsNull(r) {
				continue
			}
			for k, m := range rowMs {
				at := tagOf[k]
				if at < 0 || b.Tags[at].IDs[r] < 0 {
					if !m.Matches("") {
						continue rows
					}
					continue
				}
				id := b.Tags[at].IDs[r]
				if ok[k][id] == 0 {
					ok[k][id] = 2
					if m.Matches(b.Tags[at].Dict[id]) {
						ok[k][id] = 1
					}
				}
				if ok[k][id] == 2 {
					continue rows
				}
			}
			key = key[:0]
			for i := range b.Tags {
				if id := b.Tags[i].IDs[r]; id >= 0 {
					key = append(key, b.Tags[i].Dict[id]...)
				}
				key = append(key, 0xff)
			}
			sr := byKey[string(key)]
			if sr == nil {
				vals = vals[:0]
				sb := labels.NewScratchBuilder(len(b.Tags) + 1)
				sb.Add(metricLabel, table)
				for i := range b.Tags {
					if id := b.Tags[i].IDs[r]; id >= 0 && b.Tags[i].Dict[id] != "" {
						sb.Add(strings.Clone(b.Tags[i].Name), strings.Clone(b.Tags[i].Dict[id]))
					}
				}
				sb.Sort()
				sr = &series{lset: sb.Labels()}
				byKey[string(key)] = sr
				if err := q.q.Charge(int64(len(key))+int64(sr.lset.ByteSize())+seriesOverheadBytes, "the selected series"); err != nil {
					return err
				}
			}
			var v float64
			switch fv.Type {
			case columnar.FieldFloat:
				v = fv.F[r]
			case columnar.FieldInt:
				v = float64(fv.I[r])
			case columnar.FieldUint:
				v = float64(fv.U[r])
			default:
				continue
			}
			c := cap(sr.s)
			sr.s = append(sr.s, fsample{t: t / nsPerMs, f: v})
			if grown := cap(sr.s) - c; grown > 0 {
				// The array grew: what it added is charged, so the
				// series is charged its capacity (the old array is
				// garbage the collector takes back).
				if err := q.q.Charge(int64(grown)*sampleBytes, "the selected samples"); err != nil {
					return err
				}
			}
		}
		return nil
	})
	readers.Done()
	if err != nil {
		return nil, err
	}
	out := make([]*series, 0, len(byKey))
	for _, sr := range byKey {
		sortSamples(sr)
		out = append(out, sr)
	}
	return out, nil
}

// sortSamples orders a series' samples by time: batches come in no
// particular order. Scans deduplicate, so no two share a time.
func sortSamples(s *series) {
	cmpT := func(a, b fsample) int { return cmp.Compare(a.t, b.t) }
	if !slices.IsSortedFunc(s.s, cmpT) {
		slices.SortFunc(s.s, cmpT)
	}
}

// LabelValues implements storage.LabelQuerier.
func (q *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	if len(ms) == 0 {
		names, _ := q.metricTables(nil)
		if name == metricLabel {
			return limit(names, hints), nil, nil
		}
		exact := true
		for _, table := range names {
			vs, ok, err := q.q.Eng.TagValues(q.q.DB, table, name, nil)
			if err != nil {
				return nil, nil, err
			}
			if !ok {
				exact = false
				break
			}
			for _, v := range vs {
				set[v] = struct{}{}
			}
		}
		if exact {
			return limit(sortedKeys(set), hints), nil, nil
		}
		clear(set)
	}
	ss, err := q.selectSeries(ctx, q.mint, q.maxt, ms)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range ss {
		if v := s.lset.Get(name); v != "" {
			set[v] = struct{}{}
		}
	}
	return limit(sortedKeys(set), hints), nil, nil
}

// LabelNames implements storage.LabelQuerier.
func (q *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	set := map[string]struct{}{}
	if len(ms) == 0 {
		names, schemas := q.metricTables(nil)
		for _, table := range names {
			set[metricLabel] = struct{}{}
			for _, t := range schemas[table].Tags {
				set[t] = struct{}{}
			}
		}
		return limit(sortedKeys(set), hints), nil, nil
	}
	ss, err := q.selectSeries(ctx, q.mint, q.maxt, ms)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range ss {
		s.lset.Range(func(l labels.Label) { set[l.Name] = struct{}{} })
	}
	return limit(sortedKeys(set), hints), nil, nil
}

func sortedKeys(set map[string]struct{}) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func limit(vs []string, hints *storage.LabelHints) []string {
	if hints != nil && hints.Limit > 0 && len(vs) > hints.Limit {
		return vs[:hints.Limit]
	}
	return vs
}

type seriesSet struct {
	s []*series
	i int
}

func (ss *seriesSet) Next() bool                     { ss.i++; return ss.i < len(ss.s) }
func (ss *seriesSet) At() storage.Series             { return ss.s[ss.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }
func (s *series) Labels() labels.Labels              { return s.lset }
func (s *series) Iterator(chunkenc.Iterator) chunkenc.Iterator {
	return storage.NewListSeriesIterator(fsamples(s.s))
}

// fsample is one float sample. Its methods are on the pointer, so that
// fsamples.Get hands out a pointer into the series' slice: no allocation
// per sample.
type fsample struct {
	t int64
	f float64
}

func (s *fsample) T() int64                    { return s.t }
func (*fsample) ST() int64                     { return 0 }
func (s *fsample) F() float64                  { return s.f }
func (*fsample) H() *histogram.Histogram       { return nil }
func (*fsample) FH() *histogram.FloatHistogram { return nil }
func (*fsample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s *fsample) Copy() chunks.Sample         { c := *s; return &c }

// fsamples are a series' samples as storage.Samples.
type fsamples []fsample

func (s fsamples) Get(i int) chunks.Sample { return &s[i] }
func (s fsamples) Len() int                { return len(s) }

// metricLabel is the label that names a series' metric: the table.
const metricLabel = model.MetricNameLabel

// reserve reserves n bytes of the shared budget for what the engine's
// evaluation may hold: not what the request holds against
// MaxMemoryBytes, which the engine bounds itself (EngineMaxSamples).
func (q *Queryable) reserve(n int64) error {
	if q == nil || q.Shared == nil || n <= 0 {
		return nil
	}
	if err := q.Shared.Grow(n); err != nil {
		return fmt.Errorf("the samples its evaluation may hold (%d bytes): %w", n, err)
	}
	return nil
}

// unreserve gives back n bytes reserve reserved.
func (q *Queryable) unreserve(n int64) {
	if q == nil || q.Shared == nil || n <= 0 {
		return
	}
	q.Shared.Shrink(n)
}

// unchargeSelected gives back what the Selects charged, for a query
// evaluated again, which selects again.
func (q *Queryable) unchargeSelected() {
	if q == nil {
		return
	}
	q.used.Store(0)
	if q.Shared != nil {
		q.Shared.Shrink(q.shared.Swap(0))
	}
}
