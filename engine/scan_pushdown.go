package engine

import (
	"context"
	"math"
	"slices"
	"sync"

	"github.com/siltdb/silt/columnar"
)

// Aggregation pushed down to other nodes. A query node's scan that reads
// rollups (widths) can take another node's rows outside the bucket as the
// batches that node's own scan of them delivers — partials per series and
// window where its engine folds them, raw rows elsewhere — instead of
// fetching every raw row and folding them here (TierConfig.Overlay).
//
// Partials cannot be deduplicated after the fact: where the same point is
// in another node's rows and in the bucket, or in two nodes' rows, the
// raw path's merge keeps one copy, while two partials would count it
// twice. So a node's batches are taken only where its rows can share no
// point with any other source of the scan: no bucket segment the scan
// reads, no other node's rows (raw or pushed) and no head of this node
// overlaps the time range of its rows. Otherwise the scan is opened again
// with that node's rows fetched raw, through the merge.

// Pushdown is what a query node's scan asks of TierConfig.Overlay, passed
// in its context (PushdownFrom): the hook may answer a node's rows with a
// PushedSource (AddSource) instead of a head.
type Pushdown struct {
	// The scan's range after retention, its rollup widths (coarsest
	// first), and the columns and tag sets of TableScan.
	Min, Max      int64
	Widths        []int64
	Columns       []string
	RollupColumns []string
	Tags          map[string][]string
	// Refuse names the nodes whose rows must come raw: an earlier open
	// found their batches could hold a point another source holds.
	Refuse map[string]bool

	mu      sync.Mutex
	sources []PushedSource
}

// PushedSource is one node's rows of the scan's range as its own scan
// delivers them.
type PushedSource struct {
	Node string
	// Rows says whether the node holds any rows in range; Min and Max are
	// then the first and last time of its sources there (inclusive).
	Rows     bool
	Min, Max int64
	// Key, if set, is a tag every series of the node's rows has, and
	// Values its values there: a source whose series all have other
	// values of Key shares no point with it, whatever its time range.
	Key    string
	Values []string
	// Run passes the batches to emit, once; Close releases the source
	// whether or not it ran.
	Run   func(ctx context.Context, emit func(*columnar.ColumnBatch) error) error
	Close func()
}

// AddSource records a node's pushed source; safe for concurrent use.
func (p *Pushdown) AddSource(s PushedSource) {
	p.mu.Lock()
	p.sources = append(p.sources, s)
	p.mu.Unlock()
}

type pushdownKey struct{}

// PushdownFrom returns the pushdown a scan asks of TierConfig.Overlay
// through ctx, or nil: then every node's rows come as heads.
func PushdownFrom(ctx context.Context) *Pushdown {
	p, _ := ctx.Value(pushdownKey{}).(*Pushdown)
	return p
}

// PushdownScan is a TableScan plus the batches other nodes pushed for it.
// Its RunBatches delivers both; Close releases both.
type PushdownScan struct {
	*TableScan
	pushed []PushedSource
	// Pushed names the nodes whose rows came as their own scan's batches.
	Pushed []string
}

// maxPushdownOpens bounds the opens of one scan: each refuses the nodes
// found inexact and tries again; the last takes every node raw.
const maxPushdownOpens = 3

// OpenScanPushdown is OpenScanContext for a scan whose Columns, Tags and
// RollupColumns are given now: on a query node (TierConfig.Overlay), with
// rollup widths and not lastOnly, other nodes' rows may come as their own
// scan's batches (Pushdown) where that is exact, else as heads.
func (e *Engine) OpenScanPushdown(ctx context.Context, db, table string, minT, maxT int64, widths []int64, cols, rollupCols []string, tags map[string][]string, lastOnly bool) (*PushdownScan, error) {
	if e.cfg.Tiering.Overlay == nil || len(widths) == 0 || lastOnly {
		ts, err := e.OpenScanContext(ctx, db, table, minT, maxT, widths)
		if err != nil {
			return nil, err
		}
		return &PushdownScan{TableScan: ts}, nil
	}
	refuse := map[string]bool{}
	for open := 1; ; open++ {
		p := &Pushdown{Min: max(minT, e.VisibleMin(db)), Max: maxT, Widths: widths,
			Columns: cols, RollupColumns: rollupCols, Tags: tags, Refuse: refuse}
		pctx := ctx
		if open < maxPushdownOpens {
			pctx = context.WithValue(ctx, pushdownKey{}, p)
		}
		ts, err := e.OpenScanContext(pctx, db, table, minT, maxT, widths)
		if err != nil {
			closeSources(p.sources)
			return nil, err
		}
		ps := &PushdownScan{TableScan: ts}
		inexact := false
		for i, s := range p.sources {
			if s.Rows && !ts.alone(s, p.sources, i) {
				refuse[s.Node] = true
				inexact = true
			}
		}
		if !inexact {
			for _, s := range p.sources {
				if s.Rows {
					ps.pushed = append(ps.pushed, s)
					ps.Pushed = append(ps.Pushed, s.Node)
				} else {
					s.Close() // nothing to read
				}
			}
			slices.Sort(ps.Pushed)
			return ps, nil
		}
		closeSources(p.sources)
		if err := ts.Close(); err != nil {
			return nil, err
		}
	}
}

// alone reports whether pushed source s (index i of all) can share no
// point with any other source of ts or other pushed source with rows:
// none overlaps it in time, or those that do hold none of its series
// (their values of s.Key, a tag all their series have, are not among
// s.Values).
func (ts *TableScan) alone(s PushedSource, all []PushedSource, i int) bool {
	hit := func(lo, hi int64) bool { return hi >= s.Min && lo <= s.Max }
	var mine map[string]bool
	// apart reports whether a source with these values of s.Key (every
	// series has one when every) holds none of s's series.
	apart := func(vals []string, every, ok bool) bool {
		if s.Key == "" || !ok || !every {
			return false
		}
		if mine == nil {
			mine = make(map[string]bool, len(s.Values))
			for _, v := range s.Values {
				mine[v] = true
			}
		}
		for _, v := range vals {
			if mine[v] {
				return false
			}
		}
		return true
	}
	for k, m := range ts.metas {
		if hit(m.MinTime, m.MaxTime) && !apart(ts.segs[k].KeyValues(s.Key)) {
			return false
		}
	}
	for _, h := range ts.heads {
		if h.Len() == 0 || !hit(h.TimeRange()) {
			continue
		}
		if vals, every := h.KeyValues(s.Key); !apart(vals, every, true) {
			return false
		}
	}
	for j, o := range all {
		if j != i && o.Rows && hit(o.Min, o.Max) && !apart(o.Values, o.Key == s.Key, o.Key != "") {
			return false
		}
	}
	return true
}

// KeyValues returns the values of tag key among the series of the scan's
// sources in its range; ok is false when a source cannot tell or has
// series without the tag (see Head.KeyValues).
func (ts *TableScan) KeyValues(key string) (vals []string, ok bool) {
	seen := map[string]bool{}
	add := func(vs []string, every, ok bool) bool {
		for _, v := range vs {
			if !seen[v] {
				seen[v] = true
				vals = append(vals, v)
			}
		}
		return every && ok
	}
	overlaps := func(lo, hi int64) bool { return hi >= ts.minT && (lo < ts.maxT || ts.maxT == math.MaxInt64) }
	for k, m := range ts.metas {
		if overlaps(m.MinTime, m.MaxTime) && !add(ts.segs[k].KeyValues(key)) {
			return nil, false
		}
	}
	for _, h := range ts.heads {
		if h.Len() == 0 || !overlaps(h.TimeRange()) {
			continue
		}
		if vs, every := h.KeyValues(key); !add(vs, every, true) {
			return nil, false
		}
	}
	slices.Sort(vals)
	return vals, true
}

func closeSources(ss []PushedSource) {
	for _, s := range ss {
		if s.Close != nil {
			s.Close()
		}
	}
}

// RunBatches is TableScan.RunBatches followed by the pushed sources'
// batches, all through fn (never concurrently).
func (ps *PushdownScan) RunBatches(ctx context.Context, fn func(*columnar.ColumnBatch) error) error {
	if err := ps.TableScan.RunBatches(ctx, fn); err != nil {
		return err
	}
	for i, s := range ps.pushed {
		err := s.Run(ctx, fn)
		s.Close()
		ps.pushed[i].Close = func() {}
		if err != nil {
			return err
		}
	}
	return nil
}

// Close releases the scan and the pushed sources not run.
func (ps *PushdownScan) Close() error {
	closeSources(ps.pushed)
	ps.pushed = nil
	return ps.TableScan.Close()
}

// OpenLocalScanRollups is OpenLocalScan that also opens the local
// segments' rollups of widths (coarsest first), as OpenScanRollups: how a
// writer answers a query node's pushed-down scan of its rows.
func (e *Engine) OpenLocalScanRollups(db, table string, minT, maxT int64, widths []int64) (*TableScan, error) {
	return e.openScan(context.Background(), db, table, minT, maxT, widths, true)
}

// SourceRange returns the first and last time of the scan's sources
// within its range (inclusive); ok is false when no source has rows
// there. A source's rows may not fill its range: it is a bound.
func (ts *TableScan) SourceRange() (lo, hi int64, ok bool) {
	lo, hi = math.MaxInt64, math.MinInt64
	add := func(a, b int64) {
		a = max(a, ts.minT)
		if ts.maxT != math.MaxInt64 {
			b = min(b, ts.maxT-1)
		}
		if a <= b {
			lo, hi, ok = min(lo, a), max(hi, b), true
		}
	}
	for _, m := range ts.metas {
		add(m.MinTime, m.MaxTime)
	}
	for _, h := range ts.heads {
		if h.Len() > 0 {
			add(h.TimeRange())
		}
	}
	return lo, hi, ok
}

// RollupWidthsForScan is RollupWidthsIn on a query node that reads other
// nodes' rows (TierConfig.Overlay): where the range reaches past the
// newest row of db.table in the bucket, the rest is live writers' rows,
// whose heads fold partials of any width as they are read (pushed down,
// or here from their raw rows) — so every width a head offers, as on the
// node holding them. A dashboard's last hours are all such rows, and
// would otherwise be read raw for want of a rollup segment in range.
func (e *Engine) RollupWidthsForScan(db, table string, minT, maxT int64) []int64 {
	out := e.RollupWidthsIn(db, table, minT, maxT)
	if e.cfg.Tiering.Overlay == nil || e.cfg.Rollups.Disabled {
		return out
	}
	newest := int64(math.MinInt64)
	for _, s := range e.Manifest().Segments {
		if s.DB == db && s.Table == table && !s.IsRollup() {
			newest = max(newest, s.MaxTime)
		}
	}
	if maxT != math.MaxInt64 && newest != math.MinInt64 && maxT <= newest {
		return out
	}
	out = append(out, e.RollupWidths()...)
	out = append(out, headRollupWidths...)
	slices.Sort(out)
	return slices.Compact(out)
}
