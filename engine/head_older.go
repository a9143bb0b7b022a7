package engine

import (
	"math"

	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// What is older than a new head (segment/head_older.go): a scan reads a
// head alone, without merging, over a stretch where none of its rows can
// repeat an older source's point. Only a flush adds points to segments, so
// a head's older sources are the frozen heads before it and the segments
// of its table.

// tableMaxTimes caches, per manifest, each table's latest segment time, so
// that creating a head after every flush does not walk every segment.
type tableMaxTimes struct {
	m  *manifest.Manifest
	by map[string]int64 // db + "\x00" + table
}

// newHeadLocked returns a new head for db.table, with its older sources
// declared: the table's newest frozen head, and the latest time of every
// frozen head and segment of the table. Call it under e.mu.
func (e *Engine) newHeadLocked(db, table string) *segment.Head {
	h := segment.NewHead(e.catalog[db][table])
	h.CountCopiesIn(&e.copyBytes, e.keepCopy)
	all := e.segmentMaxTimeLocked(db, table)
	var prev *segment.Head
	for _, fs := range e.frozen {
		if p := fs.heads[db][table]; p != nil && p.Len() > 0 {
			_, hi := p.TimeRange()
			all = max(all, hi)
			prev = p
		}
	}
	h.SetOlder(prev, all)
	if prev != nil {
		// The stream goes on at about the same rate: the next head holds
		// about as many rows.
		h.Reserve(prev.Len())
	}
	return h
}

// segmentMaxTimeLocked returns the latest time of db.table's segments
// (MinInt64: none). Call it under e.mu.
func (e *Engine) segmentMaxTimeLocked(db, table string) int64 {
	m := e.manifest.Load()
	c := &e.maxTimes
	if c.m != m {
		c.m, c.by = m, map[string]int64{}
		for _, s := range m.Segments {
			k := s.DB + "\x00" + s.Table
			if t, ok := c.by[k]; !ok || s.MaxTime > t {
				c.by[k] = s.MaxTime
			}
		}
	}
	if t, ok := c.by[db+"\x00"+table]; ok {
		return t
	}
	return math.MinInt64
}

// forgetOlderLocked drops every remaining head's reference to the heads of
// fs, a frozen set being retired. Call it under e.mu.
func (e *Engine) forgetOlderLocked(fs *frozenSet) {
	forget := func(heads map[string]map[string]*segment.Head) {
		for db, tables := range fs.heads {
			for table, old := range tables {
				if h := heads[db][table]; h != nil {
					h.ForgetOlder(old)
				}
			}
		}
	}
	for _, other := range e.frozen {
		if other != nil && other != fs {
			forget(other.heads)
		}
	}
	forget(e.heads)
}
