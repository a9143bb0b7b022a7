package segment

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// PageCache keeps decoded column pages of recently read segments, so a
// dashboard that re-reads the same hours every few seconds copies values
// out of memory instead of decompressing and decoding the same Parquet
// pages again (decoding — zstd and DELTA_BINARY_PACKED mostly — was most
// of a repeated query's time). It is bounded by the bytes of the buffers
// it holds and evicts the least recently used pages past the bound.
//
// Entries are keyed by the generation of the open segment handle (unique
// per open, never reused) rather than its file or manifest id: a segment
// that compaction, retention or a drop replaced can never be answered from
// its predecessor's pages, whatever path or id it reuses. Closing a handle
// drops its pages.
//
// Cached pages are immutable: readers copy the rows they want into their
// own batch buffers, and the pages' buffers come from Go's allocator,
// never from the Arrow pool that recycles decode buffers (arrow_pool.go).
type PageCache struct {
	max int64

	mu    sync.Mutex
	used  int64
	pages map[pageKey]*cacheEntry
	// lru is a ring through a sentinel: lru.next is the most recently
	// used entry, lru.prev the least.
	lru   cacheEntry
	bySeg map[uint64]int // entries per segment generation

	hits, misses, evictions, inserts atomic.Uint64
}

// pageKey names one page of one column chunk of an open segment; page is
// -1 for a whole column chunk (a segment without an offset index).
type pageKey struct {
	gen           uint64
	rowGroup, col int32
	page          int32
	_             int32 // padding, kept zero
}

type cacheEntry struct {
	key        pageKey
	page       *decodedPage
	prev, next *cacheEntry
}

// decodedPage is one page of one column, decoded: only the slices of its
// kind are set. Never written after it is cached.
type decodedPage struct {
	n     int
	i64   []int64   // time, int and uint (as bits) columns
	f64   []float64 // float fields
	b     []bool    // bool fields
	s     []string  // string fields
	nulls []bool    // fields: true where the row lacks the value; nil when none does
	dict  []string  // tags: the page's values
	ids   []int32   // tags: per row, index into dict, -1 where absent
	// stretches: the time column's, where its ascending stretches start
	// (narrow.go); nil when too many to help.
	stretches []int32
	bytes     int64 // memory held, counted once at insert
}

// entryOverhead approximates the bookkeeping of one entry beyond its
// buffers: the entry, the page header and the map slot.
const entryOverhead = int64(unsafe.Sizeof(cacheEntry{})+unsafe.Sizeof(decodedPage{})) + 64

// size returns the bytes p holds: its buffers' capacities and its strings.
func (p *decodedPage) size() int64 {
	n := entryOverhead
	n += int64(cap(p.i64))*8 + int64(cap(p.f64))*8 + int64(cap(p.b)) + int64(cap(p.nulls)) + int64(cap(p.ids))*4 + int64(cap(p.stretches))*4
	n += int64(cap(p.s)+cap(p.dict)) * int64(unsafe.Sizeof(""))
	for _, s := range p.s {
		n += int64(len(s))
	}
	for _, s := range p.dict {
		n += int64(len(s))
	}
	return n
}

// DefaultPageCacheBytes is the page cache's bound when none is configured:
// a day of a hundred hosts' ten cpu fields decoded is about 70 MiB.
const DefaultPageCacheBytes = 128 << 20

// NewPageCache returns a cache holding at most maxBytes of decoded pages.
// maxBytes <= 0 returns nil: no cache (every method of a nil cache is a
// no-op that misses).
func NewPageCache(maxBytes int64) *PageCache {
	if maxBytes <= 0 {
		return nil
	}
	c := &PageCache{max: maxBytes, pages: map[pageKey]*cacheEntry{}, bySeg: map[uint64]int{}}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// PageCacheStats are a cache's counters.
type PageCacheStats struct {
	Hits, Misses, Evictions, Inserts uint64
	Bytes, MaxBytes                  int64
	Pages                            int
}

// Stats returns the cache's counters (zero for a nil cache).
func (c *PageCache) Stats() PageCacheStats {
	if c == nil {
		return PageCacheStats{}
	}
	c.mu.Lock()
	bytes, pages := c.used, len(c.pages)
	c.mu.Unlock()
	return PageCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(),
		Inserts: c.inserts.Load(), Bytes: bytes, MaxBytes: c.max, Pages: pages}
}

func (c *PageCache) get(k pageKey) *decodedPage {
	c.mu.Lock()
	e := c.pages[k]
	if e != nil {
		c.unlink(e)
		c.pushFront(e)
	}
	c.mu.Unlock()
	if e == nil {
		c.misses.Add(1)
		return nil
	}
	c.hits.Add(1)
	return e.page
}

// put caches p under k (p.bytes already set), evicting the least recently
// used pages past the bound. A page larger than a quarter of the bound is
// not kept: it would flush the cache for one read.
func (c *PageCache) put(k pageKey, p *decodedPage) {
	if p.bytes > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pages[k]; ok {
		return // decoded concurrently by another scan
	}
	e := &cacheEntry{key: k, page: p}
	c.pages[k] = e
	c.bySeg[k.gen]++
	c.pushFront(e)
	c.used += p.bytes
	c.inserts.Add(1)
	for c.used > c.max {
		c.removeLocked(c.lru.prev)
		c.evictions.Add(1)
	}
}

// dropSegment forgets every page of segment generation gen.
func (c *PageCache) dropSegment(gen uint64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bySeg[gen] == 0 {
		return
	}
	for e := c.lru.next; e != &c.lru; {
		next := e.next
		if e.key.gen == gen {
			c.removeLocked(e)
		}
		e = next
	}
}

func (c *PageCache) removeLocked(e *cacheEntry) {
	c.unlink(e)
	delete(c.pages, e.key)
	if c.bySeg[e.key.gen]--; c.bySeg[e.key.gen] <= 0 {
		delete(c.bySeg, e.key.gen)
	}
	c.used -= e.page.bytes
}

func (c *PageCache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *PageCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// segmentGen numbers open segment handles for the page cache's keys.
var segmentGen atomic.Uint64

// SetPageCache makes the segment's scans read through c (nil: none). Call
// it before the segment is shared; Close drops its pages from c.
func (s *Segment) SetPageCache(c *PageCache) { s.cache = c }
