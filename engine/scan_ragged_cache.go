package engine

import (
	"container/list"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// A dashboard refreshing every second over "the last 15 minutes" moves its
// range's ragged start by a second each time, and the start stays inside
// the same rollup window for the window's width (10 refreshes of a 10 s
// window, 60 of a minute's). Each refresh read that window's rollup rows
// afresh, twice (once to see whether a series straddles the edge, once to
// emit the partials); the segment's pages are filtered by time only to
// the page, so a window's read copied a page per series and column to
// keep one row each: a third to a half of the panels' CPU under ingest.
//
// The window's rows are a sealed segment's, never changed, so the rows a
// scan with the same columns and tag filter reads are the same on every
// refresh: windowCache keeps them, compacted to the window's own rows.
// The key names the segment by its open handle (a weak pointer: a
// segment closed and reopened, or another file, is another key; an entry
// never keeps a segment alive), so the cache is exact by construction;
// it only saves reading. Bounded by bytes, least recently used first out.

// rollupWindowKey identifies the rows of one window of one rollup segment as a
// scan with given columns and tag filter reads them.
type rollupWindowKey struct {
	seg    weak.Pointer[segment.Segment]
	ws, w  int64
	filter string // the columns and the tag filter, encoded by windowFilter
}

// windowEntry is a cached window: its rows as compact batches.
type windowEntry struct {
	key     rollupWindowKey
	batches []*columnar.ColumnBatch
	bytes   int64
}

// windowCache holds recently read rollup windows. The zero of max turns it
// off.
type windowCache struct {
	max int64

	mu    sync.Mutex
	bytes int64
	lru   list.List // of *windowEntry, most recently used first
	byKey map[rollupWindowKey]*list.Element

	hits, misses atomic.Uint64
}

func newWindowCache(max int64) *windowCache {
	return &windowCache{max: max, byKey: map[rollupWindowKey]*list.Element{}}
}

// register exports the cache's counters on reg.
func (c *windowCache) register(reg *prometheus.Registry) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "silt_scan_window_cache_hits_total",
			Help: "Rollup windows at a query range's ragged ends taken from the window cache."},
			func() float64 { return float64(c.hits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "silt_scan_window_cache_misses_total",
			Help: "Rollup windows at a query range's ragged ends read from their segment (then cached)."},
			func() float64 { return float64(c.misses.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "silt_scan_window_cache_bytes",
			Help: "Memory held by the window cache (at most a sixteenth of --query-cache-bytes)."},
			func() float64 {
				c.mu.Lock()
				defer c.mu.Unlock()
				return float64(c.bytes)
			}),
	)
}

// windowFilter encodes cols and tags (names sorted, each name's values
// sorted) into the part of the key that says what a scan reads.
func windowFilter(cols []string, tags map[string][]string) string {
	var sb strings.Builder
	for _, c := range cols {
		sb.WriteString(strconv.Quote(c))
	}
	sb.WriteByte('|')
	names := make([]string, 0, len(tags))
	for n := range tags {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		sb.WriteString(strconv.Quote(n))
		sb.WriteByte('=')
		vs := slices.Clone(tags[n])
		slices.Sort(vs)
		for _, v := range vs {
			sb.WriteString(strconv.Quote(v))
		}
		sb.WriteByte(';')
	}
	return sb.String()
}

// get returns the cached rows of key, or reads them with scan (keeping the
// rows whose time is key.ws) and caches them. The batches returned are
// shared: callers must not change them.
func (c *windowCache) get(key rollupWindowKey, scan func(fn func(*columnar.ColumnBatch) error) error) ([]*columnar.ColumnBatch, error) {
	if c != nil && c.max > 0 {
		c.mu.Lock()
		if el, ok := c.byKey[key]; ok {
			c.lru.MoveToFront(el)
			c.mu.Unlock()
			c.hits.Add(1)
			return el.Value.(*windowEntry).batches, nil
		}
		c.mu.Unlock()
		c.misses.Add(1)
	}
	var out []*columnar.ColumnBatch
	var bytes int64
	err := scan(func(b *columnar.ColumnBatch) error {
		if cb := compactRollupWindow(b, key.ws); cb != nil {
			out = append(out, cb)
			bytes += batchBytes(cb)
		}
		return nil
	})
	if err != nil || c == nil || c.max <= 0 || bytes > c.max/4 {
		return out, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return out, nil // another scan cached it meanwhile
	}
	c.byKey[key] = c.lru.PushFront(&windowEntry{key: key, batches: out, bytes: bytes})
	c.bytes += bytes
	for c.bytes > c.max {
		el := c.lru.Back()
		ent := el.Value.(*windowEntry)
		c.lru.Remove(el)
		delete(c.byKey, ent.key)
		c.bytes -= ent.bytes
	}
	return out, nil
}

// compactRollupWindow copies the rows of b (those b.Sel selects) whose time is
// ws into a batch of its own: values, null flags, tag ids and dictionary
// strings all copied, since b's may be a cached page's or a decode
// buffer's. Nil when there is none.
func compactRollupWindow(b *columnar.ColumnBatch, ws int64) *columnar.ColumnBatch {
	var rows []int32
	if b.Sel != nil {
		for _, i := range b.Sel {
			if b.Time[i] == ws {
				rows = append(rows, i)
			}
		}
	} else {
		for i := range int32(b.Len) {
			if b.Time[i] == ws {
				rows = append(rows, i)
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	out := &columnar.ColumnBatch{Len: n, Time: make([]int64, n), Rollup: b.Rollup,
		Tags: make([]columnar.TagVector, len(b.Tags)), Fields: make([]columnar.FieldVector, len(b.Fields))}
	for k := range out.Time {
		out.Time[k] = ws
	}
	for t := range b.Tags {
		src, dst := &b.Tags[t], &out.Tags[t]
		dst.Name = src.Name
		dst.IDs = make([]int32, n)
		// Only the dictionary entries the kept rows use, renumbered.
		remap := map[int32]int32{}
		for k, i := range rows {
			id := src.IDs[i]
			if id < 0 {
				dst.IDs[k] = -1
				continue
			}
			nid, ok := remap[id]
			if !ok {
				nid = int32(len(dst.Dict))
				remap[id] = nid
				dst.Dict = append(dst.Dict, strings.Clone(src.Dict[id]))
			}
			dst.IDs[k] = nid
		}
	}
	for f := range b.Fields {
		src, dst := &b.Fields[f], &out.Fields[f]
		dst.Name, dst.Type = src.Name, src.Type
		if src.Null != nil {
			dst.Null = make([]bool, n)
			for k, i := range rows {
				dst.Null[k] = src.Null[i]
			}
		}
		switch {
		case src.F != nil:
			dst.F = gatherRows(src.F, rows)
		case src.I != nil:
			dst.I = gatherRows(src.I, rows)
		case src.U != nil:
			dst.U = gatherRows(src.U, rows)
		case src.B != nil:
			dst.B = gatherRows(src.B, rows)
		case src.S != nil:
			dst.S = make([]string, n)
			for k, i := range rows {
				dst.S[k] = strings.Clone(src.S[i])
			}
		}
	}
	return out
}

func gatherRows[T any](src []T, rows []int32) []T {
	out := make([]T, len(rows))
	for k, i := range rows {
		out[k] = src[i]
	}
	return out
}

// batchBytes is what a compact batch holds, its strings included.
func batchBytes(b *columnar.ColumnBatch) int64 {
	n := b.ArrayBytes()
	for t := range b.Tags {
		for _, s := range b.Tags[t].Dict {
			n += int64(len(s))
		}
	}
	for f := range b.Fields {
		for _, s := range b.Fields[f].S {
			n += int64(len(s))
		}
	}
	return n + 64*int64(1+len(b.Tags)+len(b.Fields))
}
