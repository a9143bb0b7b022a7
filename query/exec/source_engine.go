package exec

import (
	"context"
	"errors"
	"slices"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// EngineSource reads one database of an engine: the head, frozen heads and
// segments as one table, pruned by the spec's time range and tag sets.
type EngineSource struct {
	Engine *engine.Engine
	DB     string
	// Raw answers from raw rows only, never from rollups.
	Raw bool
}

// RollupWidths implements RollupSource.
func (s EngineSource) RollupWidths(table string, tr sql.TimeRange) []int64 {
	if s.Raw {
		return nil
	}
	return s.Engine.RollupWidthsForScan(s.DB, table, tr.Min, tr.Max)
}

// RetryGone runs a query over the engine, again on the reloaded manifests
// when an object it read is gone from the object store
// (engine.Engine.RetryGone): RunLimited and RunColumns call it.
func (s EngineSource) RetryGone(ctx context.Context, sent func() bool, run func(context.Context) error) error {
	return s.Engine.RetryGone(ctx, sent, run)
}

// ScanBatches implements BatchSource.
func (s EngineSource) ScanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	return s.scanBatches(ctx, spec, stats, nil, fn)
}

// scanBatches is ScanBatches that shows the opened scan to opened (nil:
// nobody) before running it: EXPLAIN counts its heads and row groups.
func (s EngineSource) scanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, opened func(*engine.TableScan), fn func(*columnar.ColumnBatch) error) error {
	// On a cluster's query node, a rollup scan may take writers' rows as
	// their own scans' partials (engine.Pushdown).
	ts, err := s.Engine.OpenScanPushdown(ctx, s.DB, spec.Table, spec.Time.Min, spec.Time.Max, spec.Rollups,
		spec.Columns, spec.RollupColumns, spec.Tags, spec.LastOnly)
	if err != nil {
		return err
	}
	if opened != nil {
		opened(ts.TableScan)
	}
	ts.Columns, ts.Tags, ts.LastOnly, ts.RollupColumns = spec.Columns, spec.Tags, spec.LastOnly, spec.RollupColumns
	ts.Filter = spec.Filter
	ts.Lookahead = scanLookahead(ctx) // scan_hold.go
	if ts.Columns == nil {
		ts.Columns = []string{}
	}
	// The readers' buffers are the query's while the scan runs.
	readers := query.NewScanCharge(scanHold(ctx))
	err = ts.RunBatches(ctx, func(b *columnar.ColumnBatch) error {
		if err := readers.Batch(b.ArrayBytes()); err != nil {
			return err
		}
		return fn(b)
	})
	readers.Done()
	if stats != nil { // after the run, which counts what rollups replaced
		stats.SegmentsScanned += ts.SegmentsScanned
		stats.SegmentsPruned += ts.SegmentsPruned
		stats.BytesRead += ts.BytesRead
		for _, n := range ts.Missing {
			if !slices.Contains(stats.MissingNodes, n) {
				stats.MissingNodes = append(stats.MissingNodes, n)
			}
		}
	}
	return errors.Join(err, ts.Close())
}

// TimeBounds implements TimeBounder.
func (s EngineSource) TimeBounds(table string) (lo, hi int64, ok bool) {
	return s.Engine.TimeBounds(s.DB, table)
}
