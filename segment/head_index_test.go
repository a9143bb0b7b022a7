package segment

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// bruteMatch is MatchSeries by definition: every series' tags against
// every key of tags.
func bruteMatch(h *Head, tags map[string][]string) []bool {
	if len(tags) == 0 {
		return nil
	}
	keep := make([]bool, len(h.seriesTags))
	for sid := range keep {
		keep[sid] = true
		for k, vals := range tags {
			c, ok := h.Schema.TagCol(k)
			if !ok || c >= len(h.dicts) {
				keep[sid] = false
				break
			}
			id := h.tagID(uint32(sid), c)
			if id < 0 || !slices.Contains(vals, h.dicts[c].vals[id]) {
				keep[sid] = false
				break
			}
		}
	}
	return keep
}

// indexRow appends one row of a series numbered i: host unique, rack of
// 7 values (absent for a third of the series), os of 3, zone of 2 on a few
// series only (a column added late), a late column for the last series.
func indexRow(b *columnar.Batch, i int) {
	b.StartRow([]byte("m"), 1)
	b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", i))
	if i%3 != 0 {
		b.AddTag([]byte("rack"), fmt.Appendf(nil, "r%d", i%7))
	}
	b.AddTag([]byte("os"), fmt.Appendf(nil, "os%d", i%3))
	if i > 5000 && i%11 == 0 {
		b.AddTag([]byte("zone"), fmt.Appendf(nil, "z%d", i%2))
	}
	b.AddFloat([]byte("v"), float64(i))
	b.EndRow(int64(i))
}

// matchCases are filters on indexRow's series, with values and keys that
// exist and that do not.
func matchCases(rng *rand.Rand, n int) []map[string][]string {
	host := func() string { return fmt.Sprint("h", rng.IntN(n+10)) }
	return []map[string][]string{
		{"host": {host()}},
		{"host": {host(), host(), host(), "nope"}},
		{"rack": {"r3"}},
		{"rack": {"r1", "r5", "r9"}, "os": {"os2"}},
		{"os": {"os0", "os1", "os2"}},
		{"os": {"os1"}, "zone": {"z1"}},
		{"rack": {"r2"}, "host": {host(), host(), "h14", "h16"}},
		{"rack": {}},
		{"missing": {"x"}},
		{"host": {"nope"}},
	}
}

// MatchSeries (the series index) equals the filter by definition, on the
// head and on views of it, while postings pass through several bitmap
// generations.
func TestMatchSeriesIndex(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	rng := rand.New(rand.NewPCG(5, 6))
	var views []*Head
	const n = 30000
	for i := range n {
		var b columnar.Batch
		indexRow(&b, i)
		if i%4 == 0 {
			indexRow(&b, rng.IntN(i+1)) // a series seen before
		}
		admitAll(t, s, h, &b)
		if i == 1 || i == 100 || i == 9000 || i == n-1 {
			views = append(views, h.View())
		}
	}
	if h.Series() != n {
		t.Fatalf("%d series, want %d", h.Series(), n)
	}
	for _, x := range append([]*Head{h}, views...) {
		for _, tags := range matchCases(rng, n) {
			got, want := x.MatchSeries(tags), bruteMatch(x, tags)
			if !slices.Equal(got, want) {
				t.Errorf("%d series, %v: index and definition differ", x.Series(), tags)
			}
		}
	}
	if got := h.MatchSeries(map[string][]string{"rack": {"r3"}}); slices.Index(got, true) < 0 {
		t.Fatal("rack r3 matches no series")
	}
}

// Views are read without a lock while the appender adds series, and so
// bitmap generations, under them: each view's matches stay those of its own
// series (run with -race).
func TestMatchSeriesIndexUnderAppends(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var mu sync.Mutex // stands in for the engine lock
	add := func(i int) {
		var b columnar.Batch
		indexRow(&b, i)
		mu.Lock()
		defer mu.Unlock()
		if err := s.Admit(&b, &b.Rows[0]); err != nil {
			t.Error(err)
		}
		h.Append(&b, &b.Rows[0], false)
	}
	const n = 20000
	for i := range n / 4 {
		add(i)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := n / 4; i < n; i++ {
			add(i)
		}
	}()
	rng := rand.New(rand.NewPCG(7, 8))
	for range 40 {
		mu.Lock()
		v := h.View()
		mu.Unlock()
		for _, tags := range matchCases(rng, n) {
			if got, want := v.MatchSeries(tags), bruteMatch(v, tags); !slices.Equal(got, want) {
				t.Fatalf("view of %d series, %v: index and definition differ", v.Series(), tags)
			}
		}
	}
	<-done
}

// indexBytes adds up what the series index of h holds, walking it.
func indexBytes(h *Head) int64 {
	var n int64
	for _, d := range h.dicts {
		if d.lookup != nil {
			n += 4 * int64(len(d.lookup.cur.Load().slot))
		}
		n += postingBytes * int64(len(d.post))
		for i := range d.post {
			n += d.post[i].more.Load().bytes()
		}
	}
	return n
}

// The index's memory is counted in the head's bytes (--max-head-bytes), and
// what is counted matches what the Go heap holds for it: postings of a tag
// unique per series, and of tags of few values whose bitmaps are rebuilt.
func TestMatchSeriesIndexBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 200_000
	vals := make([]string, n)
	for i := range vals {
		vals[i] = fmt.Sprint("v", i)
	}
	for _, values := range []int{n, 10, 1000} {
		t.Run(fmt.Sprint(values, " values"), func(t *testing.T) {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			d := &tagDict{vals: vals[:0:values]}
			var counted int64
			for sid := range n {
				id := int32(sid % values)
				if sid < values {
					d.vals = append(d.vals, vals[sid])
					counted += d.indexValue(id)
				}
				counted += d.addPosting(id, uint32(sid))
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			walked := indexBytes(&Head{dicts: []*tagDict{d}})
			t.Logf("%d values: counted %d B, walked %d B, heap %d B (%.1f B per series)", values, counted, walked, heap, float64(heap)/n)
			if counted != walked {
				t.Errorf("counted %d bytes as the index grew, it holds %d", counted, walked)
			}
			if counted < heap*3/4 || counted > heap*5/4 {
				t.Errorf("counted %d bytes, the heap grew by %d", counted, heap)
			}
			runtime.KeepAlive(d)
		})
	}
}
