package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// Segments known to share no point.
//
// A scan merges point by point the sources that may share a point
// (overlapGroups); a fresh segment (head_older.go) is kept apart from the
// older ones it overlaps only in time. A segment that is not fresh — a
// head that rewrote some older points, such as history written again —
// is linked to every older segment it overlaps, even those it shares no
// point with: on a server whose history was rewritten once, every panel
// over the last minutes merged the flushes of those minutes with the
// rewrite's segment, one point at a time and never from rollups (the
// second run of `silt bench dashboard` on one server: its backfill
// rewrites the first run's, and its segment spans the first run's live
// rows, which it repeats none of).
//
// So a loop next to the compactor's (apartLoop) reads such pairs once — their rows in the
// other's time range, series and time only — and remembers the pairs that
// share no point. Segments never change, so the answer holds as long as
// both live; it is kept in memory only (a restart reads them again).
// Scans keep apart the pairs found apart; the others are merged as
// before.

// apartSet is an immutable set of segment pairs, replaced whole.
type apartSet map[[2]uint64]bool // pairKey → true: share no point; false: share one, or not told

func pairKey(a, b uint64) [2]uint64 {
	if a > b {
		a, b = b, a
	}
	return [2]uint64{a, b}
}

// pointsApart reports whether segments a and b were found to share no
// point.
func (c *compactor) pointsApart(a, b segment.SegmentMeta) bool {
	if c == nil || a.Order != 0 || b.Order != 0 {
		return false
	}
	s := c.apart.Load()
	return s != nil && (*s)[pairKey(a.ID, b.ID)]
}

// apartLoop checks the pairs of new segments (checkApart) about every
// second, on its own goroutine: a compaction pass can take minutes under
// a steady load, and the pairs matter most then. It runs when compaction
// does (not with Compaction.Disabled, whose tests call checkApart).
func (e *Engine) apartLoop() {
	defer close(e.comp.apartDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastGen uint64
	for {
		select {
		case <-e.comp.stop:
			return
		case <-tick.C:
		}
		gen := e.Manifest().Generation
		if gen == lastGen {
			continue
		}
		// A failed read leaves its pair merged and out of the set: it is
		// read again at the next pass.
		if err := e.checkApart(e.comp.ctx); err != nil {
			if errors.Is(err, context.Canceled) {
				return
			}
			e.log.Warn("check segments for shared points", "err", err)
		}
		lastGen = gen
	}
}

// maxApartSetRows bounds the rows of the smaller side of a pair held in
// memory while the pair is checked (about 100 bytes each): a pair with
// more in the other's range stays merged. A rewrite of history shares few
// rows with a flush of the last seconds.
const maxApartSetRows = 256 << 10

// apartState is what compactor keeps for checkApart.
type apartState = atomic.Pointer[apartSet]

// checkApart finds, for every table, the pairs of local segments a scan
// would merge — overlapping in time and series, not kept apart by
// freshness — that it has not read yet, reads them and publishes which
// share no point. Pairs whose segments are gone are forgotten.
func (e *Engine) checkApart(ctx context.Context) error {
	_, picked := e.acquireSegments(func(m *manifest.Manifest) []segment.SegmentMeta {
		var out []segment.SegmentMeta
		for _, s := range m.Segments {
			if !s.IsRollup() && !s.Cold() && s.Order == 0 {
				out = append(out, s)
			}
		}
		return out
	})
	defer e.refs.release(picked)
	m := e.Manifest()
	var prev apartSet
	if p := e.comp.apart.Load(); p != nil {
		prev = *p
	}
	next := apartSet{}
	byTable := map[[2]string][]segment.SegmentMeta{}
	for _, s := range picked {
		k := [2]string{s.DB, s.Table}
		byTable[k] = append(byTable[k], s)
	}
	var errs []error
	for k, segs := range byTable {
		var tagOrder []string
		if ts := m.Schemas[k[0]][k[1]]; ts != nil {
			tagOrder = ts.Tags
		}
		// By first time: a segment's partners follow it until one starts
		// after its last time.
		slices.SortFunc(segs, func(a, b segment.SegmentMeta) int { return cmp.Compare(a.MinTime, b.MinTime) })
		for i, a := range segs {
			for _, b := range segs[i+1:] {
				if b.MinTime > a.MaxTime {
					break
				}
				if !segmentsMayShare(a, b, tagOrder) || freshApart(a, b) {
					continue
				}
				key := pairKey(a.ID, b.ID)
				if v, ok := prev[key]; ok {
					next[key] = v
					continue
				}
				if ctx.Err() != nil {
					continue // told at a later run
				}
				apart, err := e.readApart(ctx, a, b, tagOrder)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				next[key] = apart
			}
		}
	}
	e.comp.apart.Store(&next)
	return errors.Join(errs...)
}

// freshApart reports whether freshness alone keeps a and b apart: the one
// with the newer rows is fresh and all its rows are newer than the
// other's (overlapGroups' rule).
func freshApart(a, b segment.SegmentMeta) bool {
	newer, older := a, b
	if b.DataSeq() > a.DataSeq() {
		newer, older = b, a
	}
	return newer.Fresh && newer.DataSeqMin() > older.DataSeq()
}

// errShared stops a read that found a shared point.
var errShared = errors.New("the segments share a point")

// readApart reads segments a and b where their times overlap and reports
// whether no series holds a point at the same time in both. The side with
// fewer rows expected there is held in memory (up to maxApartSetRows; past
// that the pair is taken as sharing); the other is streamed against it.
// A cancelled ctx stops the read between batches (Close waits for the
// loop, and a pair can span millions of rows).
func (e *Engine) readApart(ctx context.Context, a, b segment.SegmentMeta, tagOrder []string) (bool, error) {
	if len(tagOrder) == 0 {
		return false, nil
	}
	lo, hi := max(a.MinTime, b.MinTime), min(a.MaxTime, b.MaxTime)
	small, big := a, b
	if rowsIn(b, lo, hi) < rowsIn(a, lo, hi) {
		small, big = b, a
	}
	ss, err := e.refs.segment(small)
	if err != nil {
		return false, fmt.Errorf("check segments %d and %d for shared points: %w", a.ID, b.ID, err)
	}
	bs, err := e.refs.segment(big)
	if err != nil {
		return false, fmt.Errorf("check segments %d and %d for shared points: %w", a.ID, b.ID, err)
	}
	held := map[string]struct{}{}
	times := map[int64]struct{}{} // a cheap first test for the streamed rows
	var key []byte
	err = seriesRows(ctx, ss, tagOrder, lo, hi, &key, func(t int64, k []byte) error {
		if len(held) >= maxApartSetRows {
			return errShared // too many to hold: merged as before
		}
		times[t] = struct{}{}
		held[string(k)] = struct{}{}
		return nil
	})
	if errors.Is(err, errShared) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check segments %d and %d for shared points: read %d: %w", a.ID, b.ID, small.ID, err)
	}
	if len(held) == 0 {
		return true, nil
	}
	err = seriesRows(ctx, bs, tagOrder, lo, hi, &key, func(t int64, k []byte) error {
		if _, ok := held[string(k)]; ok {
			return errShared
		}
		return nil
	}, times)
	if errors.Is(err, errShared) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check segments %d and %d for shared points: read %d: %w", a.ID, b.ID, big.ID, err)
	}
	return true, nil
}

// rowsIn estimates s's rows in [lo, hi], as if spread evenly over its
// time range.
func rowsIn(s segment.SegmentMeta, lo, hi int64) float64 {
	span := float64(s.MaxTime) - float64(s.MinTime) + 1
	return float64(s.Rows) * (float64(hi) - float64(lo) + 1) / span
}

// seriesRows calls fn with the time and key (series and time) of every row
// of seg in [lo, hi]; with only, just for the rows whose time is in it
// (the key is built only for them). A tag a row lacks and an empty one
// give the same key: two rows are told apart only when surely distinct.
func seriesRows(ctx context.Context, seg *segment.Segment, tagOrder []string, lo, hi int64, key *[]byte, fn func(t int64, k []byte) error, only ...map[int64]struct{}) error {
	var cols []string
	for _, t := range tagOrder {
		if slices.Contains(seg.Info.Tags, t) {
			cols = append(cols, t)
		}
	}
	maxT := hi + 1
	if hi == math.MaxInt64 {
		maxT = math.MaxInt64
	}
	return seg.ScanRowGroupsCounted(cols, nil, lo, maxT, 0, seg.NumRowGroups(), nil, func(b *columnar.ColumnBatch) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		row := func(r int32) error {
			t := b.Time[r]
			if t < lo || t > hi {
				return nil
			}
			if len(only) > 0 {
				if _, ok := only[0][t]; !ok {
					return nil
				}
			}
			k := (*key)[:0]
			k = strconv.AppendInt(k, t, 10)
			for _, name := range tagOrder {
				k = append(k, 0)
				for i := range b.Tags {
					if tv := &b.Tags[i]; tv.Name == name && tv.IDs[r] >= 0 {
						k = append(k, tv.Dict[tv.IDs[r]]...)
						break
					}
				}
			}
			*key = k
			return fn(t, k)
		}
		if b.Sel != nil {
			for _, r := range b.Sel {
				if err := row(r); err != nil {
					return err
				}
			}
			return nil
		}
		for r := range int32(b.Len) {
			if err := row(r); err != nil {
				return err
			}
		}
		return nil
	})
}
