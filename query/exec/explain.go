package exec

import (
	"context"
	"sync"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// EXPLAIN runs a query through the executor it describes, so the plan it
// shows is the one the executor takes, never a second opinion of it: the
// query's source is wrapped to record every scan the executor asks for
// (its ScanSpec: the time range, the tag sets pushed into the index, last
// values, rollups) and, without ANALYZE, to deliver no rows, so nothing
// is read and the operators run on nothing. With ANALYZE the wrapped
// source reads for real and records what it delivered and how long it
// took, the executor's phases are timed at their ends (profile: a clock
// read per phase, none per row), and the query's own stats are shown.

// Explain collects the plans of the queries run under a context made by
// WithExplain: each SELECT that RunLimited executes is recorded instead
// of (Analyze false: as well as, without reading data) being run.
// InfluxQL's EXPLAIN runs its statement this way, and shows every SQL plan
// the statement ran.
type Explain struct {
	Analyze bool

	mu   sync.Mutex
	runs []*explainRun
}

type explainKey struct{}

// WithExplain makes the queries RunLimited runs under ctx record their
// plans in ex.
func WithExplain(ctx context.Context, ex *Explain) context.Context {
	return context.WithValue(ctx, explainKey{}, ex)
}

// explainRun is one query as the executor ran it.
type explainRun struct {
	q     *sql.Query
	mu    sync.Mutex // guards scans
	scans []*scanRecord
	prof  profile
	stats query.Stats
	err   error
	total time.Duration
}

// scanRecord is one ScanBatches call: what was asked, and with ANALYZE
// what came back.
type scanRecord struct {
	spec     ScanSpec
	planOnly bool
	derived  bool // the source is not the engine: rows in memory (a subquery's)

	stats       query.Stats // segments, bytes: the source's own counts
	opened      bool        // the engine scan was opened: heads, rowGroups known
	heads       int
	bytesPruned int64 // of the segment files pruned by time
	groups      int   // row groups in the segments read
	rollups     int   // rollup segments opened
	// headBlocks are the sealed blocks of the heads read, meeting those
	// the time range meets (the others are skipped).
	headBlocks, headMeeting int
	read                    segment.ReadStats // the segment reads' counts

	batches, rows, rollupRows int64
	wall, consume             time.Duration
}

// recordingSource wraps a query's source for EXPLAIN.
type recordingSource struct {
	src      BatchSource
	run      *explainRun
	planOnly bool
}

// recordingRollupSource is a recordingSource over a RollupSource, so the
// executor still finds the rollups it would use.
type recordingRollupSource struct {
	*recordingSource
	rs RollupSource
}

func (s recordingRollupSource) RollupWidths(table string, tr sql.TimeRange) []int64 {
	return s.rs.RollupWidths(table, tr)
}

// TimeBounds forwards the source's time bounds (bucket_limit.go), so a
// plan narrows limited bucket orders as the query itself does.
func (s *recordingSource) TimeBounds(table string) (int64, int64, bool) {
	if tb, ok := s.src.(TimeBounder); ok {
		return tb.TimeBounds(table)
	}
	return 0, 0, false
}

func wrapForExplain(src BatchSource, run *explainRun, planOnly bool) BatchSource {
	r := &recordingSource{src: src, run: run, planOnly: planOnly}
	if rs, ok := src.(RollupSource); ok {
		return recordingRollupSource{r, rs}
	}
	return r
}

func (s *recordingSource) ScanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	rec := &scanRecord{spec: spec, planOnly: s.planOnly}
	s.run.mu.Lock()
	s.run.scans = append(s.run.scans, rec)
	s.run.mu.Unlock()
	es, isEngine := s.src.(EngineSource)
	rec.derived = !isEngine
	if s.planOnly {
		if isEngine {
			return rec.planEngine(es, spec)
		}
		return nil
	}
	start := time.Now()
	var consume time.Duration
	count := func(b *columnar.ColumnBatch) error {
		t0 := time.Now()
		rec.batches++
		n := int64(b.Len)
		if b.Sel != nil {
			n = int64(len(b.Sel))
		}
		if b.Rollup != 0 {
			rec.rollupRows += n
		} else {
			rec.rows += n
		}
		err := fn(b)
		consume += time.Since(t0)
		return err
	}
	// The source counts into the query's stats as it always does (every
	// field it keeps); this scan's share is what they grew by.
	if stats == nil {
		stats = &query.Stats{}
	}
	before := *stats
	var err error
	if isEngine {
		err = es.scanBatches(ctx, spec, stats, rec.shape, count)
	} else {
		err = s.src.ScanBatches(ctx, spec, stats, count)
	}
	rec.wall, rec.consume = time.Since(start), consume
	rec.stats.SegmentsScanned = stats.SegmentsScanned - before.SegmentsScanned
	rec.stats.SegmentsPruned = stats.SegmentsPruned - before.SegmentsPruned
	rec.stats.BytesRead = stats.BytesRead - before.BytesRead
	return err
}

// shape records what an opened engine scan holds.
func (rec *scanRecord) shape(ts *engine.TableScan) {
	rec.opened = true
	rec.heads, rec.groups, rec.rollups = ts.Heads(), ts.RowGroups(), ts.RollupSegments()
	rec.bytesPruned = ts.BytesPruned
	rec.headBlocks, rec.headMeeting = ts.HeadBlocks()
	ts.Read = &rec.read
}

// planEngine opens the engine scan spec asks for — which prunes segments
// and heads by time from the manifest and footers, reading no rows — and
// records what it would read.
func (rec *scanRecord) planEngine(es EngineSource, spec ScanSpec) error {
	ts, err := es.Engine.OpenScanRollups(es.DB, spec.Table, spec.Time.Min, spec.Time.Max, spec.Rollups)
	if err != nil {
		return err
	}
	rec.shape(ts)
	rec.stats.SegmentsScanned, rec.stats.SegmentsPruned, rec.stats.BytesRead = ts.SegmentsScanned, ts.SegmentsPruned, ts.BytesRead
	return ts.Close()
}

// run executes q for EXPLAIN, recording its plan.
func (ex *Explain) run(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (*query.Result, error) {
	r := &explainRun{q: q}
	ex.mu.Lock()
	ex.runs = append(ex.runs, r)
	ex.mu.Unlock()
	// Queries the run starts (none today) are not recorded twice.
	ctx = context.WithValue(ctx, explainKey{}, (*Explain)(nil))
	ctx = context.WithValue(ctx, profileKey{}, &r.prof)
	start := time.Now()
	res, err := runLimited(ctx, q, wrapForExplain(src, r, !ex.Analyze), tables, lim)
	r.total, r.err = time.Since(start), err
	if res != nil {
		r.stats = res.Stats
	}
	return res, err
}

// runExplain answers a QueryExplain: its query run under an Explain, and
// the plan as rows of one text column. With ANALYZE the answer's stats
// are the query's.
func runExplain(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (*query.Result, error) {
	ex := &Explain{Analyze: q.Analyze}
	res, err := ex.run(ctx, q.Explained, src, tables, lim)
	if err != nil {
		return nil, err
	}
	out := &query.Result{Columns: []query.Column{{Name: sql.ExplainColumn, Type: query.TypeString}}}
	if ex.Analyze {
		out.Stats = res.Stats
	}
	for _, line := range ex.Lines() {
		out.Rows = append(out.Rows, []any{line})
	}
	out.Stats.Rows = len(out.Rows)
	return out, nil
}

// profile times the executor's phases for EXPLAIN ANALYZE. The executor
// calls mark at the end of each phase; outside EXPLAIN it has no profile
// and mark does nothing.
type profile struct {
	last time.Time
	ops  [numOps]opStat
	// peak is the most bytes the query had charged against its memory
	// limit: materialized columns, and the answer's rows on top of them.
	peak int64
	// materialized counts the rows kept by the scan (time range, tag and
	// field filters applied) across the query's tables.
	materialized int64
}

type opStat struct {
	runs int
	time time.Duration
	rows int64 // rows (or groups) the phase passed on, summed over runs
}

// The phases the executor marks, in order.
const (
	opFilter    = iota // WHERE beyond what the scan applied
	opAggregate        // grouping, aggregates and HAVING
	opProject          // outputs and ORDER BY keys
	opSort             // DISTINCT, ORDER BY, OFFSET and LIMIT
	opOutput           // the answer's rows as values
	numOps
)

type profileKey struct{}

func profileOf(ctx context.Context) *profile {
	p, _ := ctx.Value(profileKey{}).(*profile)
	return p
}

// begin starts the clock of the first phase.
func (p *profile) begin() {
	if p != nil {
		p.last = time.Now()
	}
}

// mark ends phase op, which passed rows on.
func (p *profile) mark(op int, rows int) {
	if p == nil {
		return
	}
	now := time.Now()
	p.ops[op].runs++
	p.ops[op].time += now.Sub(p.last)
	p.ops[op].rows += int64(rows)
	p.last = now
}

// charged notes that the query holds b bytes against its memory limit.
func (p *profile) charged(b int64) {
	if p != nil && b > p.peak {
		p.peak = b
	}
}

// table notes a materialized table.
func (p *profile) table(t *table) {
	if p == nil || t == nil {
		return
	}
	p.materialized += int64(t.n)
	p.charged(t.bytes)
}
