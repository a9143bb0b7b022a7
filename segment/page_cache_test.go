package segment

import (
	"path/filepath"
	"testing"

	"github.com/siltdb/silt/columnar"
)

func testPage(n int) *decodedPage {
	p := &decodedPage{n: n, i64: make([]int64, n)}
	p.bytes = p.size()
	return p
}

// TestPageCacheBound fills a cache past its bound and checks that it
// holds at most its bytes, evicts the least recently used page first,
// and counts hits, misses and evictions.
func TestPageCacheBound(t *testing.T) {
	one := testPage(1000).bytes
	c := NewPageCache(10 * one)
	key := func(i int) pageKey { return pageKey{gen: 1, rowGroup: 0, col: 1, page: int32(i)} }
	for i := range 10 {
		c.put(key(i), testPage(1000))
	}
	if st := c.Stats(); st.Bytes != 10*one || st.Pages != 10 || st.Evictions != 0 {
		t.Fatalf("after 10 pages of %d bytes: %+v", one, st)
	}
	if c.get(key(0)) == nil { // page 0 becomes the most recent
		t.Fatal("page 0 missing")
	}
	c.put(key(10), testPage(1000))
	if c.get(key(1)) != nil {
		t.Fatal("page 1, the least recently used, was not evicted")
	}
	if c.get(key(0)) == nil || c.get(key(10)) == nil {
		t.Fatal("pages 0 and 10 should be cached")
	}
	st := c.Stats()
	if st.Bytes > st.MaxBytes || st.Evictions != 1 || st.Hits != 3 || st.Misses != 1 {
		t.Fatalf("stats %+v: want ≤ bound, 1 eviction, 3 hits, 1 miss", st)
	}
	// A page larger than a quarter of the bound is not kept.
	c.put(key(99), testPage(3000))
	if c.get(key(99)) != nil {
		t.Fatal("an oversized page was cached")
	}
	// Many pages of varying sizes: the bound always holds.
	for i := range 1000 {
		c.put(pageKey{gen: 2, page: int32(i)}, testPage(100+i%2000))
		if st := c.Stats(); st.Bytes > st.MaxBytes {
			t.Fatalf("after %d puts: %d bytes over the bound %d", i, st.Bytes, st.MaxBytes)
		}
	}
	var nilCache *PageCache
	if nilCache.Stats() != (PageCacheStats{}) || NewPageCache(0) != nil {
		t.Fatal("a zero bound must mean no cache")
	}
}

// TestPageCacheSegmentClose checks that closing a segment drops its pages
// and that a reopened segment (a new generation) never sees them.
func TestPageCacheSegmentClose(t *testing.T) {
	h := pagedHead(t)
	dir := t.TempDir()
	ms, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { return 1 })
	if err != nil {
		t.Fatal(err)
	}
	c := NewPageCache(1 << 30)
	read := func() *Segment {
		seg, err := OpenSegment(filepath.Join(dir, ms[0].Path))
		if err != nil {
			t.Fatal(err)
		}
		seg.SetPageCache(c)
		if err := seg.ScanBatches([]string{"host", "usage"}, nil, func(*columnar.ColumnBatch) error { return nil }); err != nil {
			t.Fatal(err)
		}
		return seg
	}
	a := read()
	st := c.Stats()
	if st.Pages == 0 || st.Hits != 0 {
		t.Fatalf("after a cold read: %+v", st)
	}
	b := read() // the same file, another handle: its own pages
	if st2 := c.Stats(); st2.Hits != 0 || st2.Pages != 2*st.Pages {
		t.Fatalf("a second handle of the same file hit the first's pages: %+v", st2)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if st2 := c.Stats(); st2.Pages != st.Pages || st2.Bytes != st.Bytes {
		t.Fatalf("closing a segment left its pages: %+v, want %+v", st2, st)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if st2 := c.Stats(); st2.Pages != 0 || st2.Bytes != 0 {
		t.Fatalf("closing every segment left pages: %+v", st2)
	}
}

// BenchmarkPageCache measures a hit (lookup and recency update) and a
// put with eviction, on a full cache.
func BenchmarkPageCache(b *testing.B) {
	p := testPage(4096)
	const pages = 4096
	c := NewPageCache(pages * p.bytes)
	for i := range pages {
		c.put(pageKey{gen: 1, page: int32(i)}, p)
	}
	b.Run("hit", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if c.get(pageKey{gen: 1, page: int32(i % pages)}) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("put-evict", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			c.put(pageKey{gen: 2, page: int32(i)}, p)
		}
	})
}
