package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// sortedRows must return a permutation ordered by (window, series rank,
// time, arrival) on both of its paths: the counting sort and the sparse
// fallback for many windows × many series.
func TestSortedRows(t *testing.T) {
	for _, c := range []struct {
		name            string
		rows, series, w int
	}{
		{"dense", 5000, 50, 2},
		{"sparse", 300, 3000, 20}, // ~285 series × 20 windows > 4·rows+1024
		{"single", 1, 1, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(c.rows), 9))
			s := columnar.NewTableSchema()
			h := NewHead(s)
			var b columnar.Batch
			for i := 0; i < c.rows; i++ {
				b.StartRow([]byte("m"), i+1)
				b.AddTag([]byte("k"), []byte(fmt.Sprint(rng.IntN(c.series))))
				b.AddFloat([]byte("v"), 1)
				// Out of order times, with repeats, across windows.
				b.EndRow(int64(rng.IntN(c.w))*int64(WindowDuration) + int64(rng.IntN(40)))
			}
			for i := range b.Rows {
				if err := s.Admit(&b, &b.Rows[i]); err != nil {
					t.Fatal(err)
				}
				h.Append(&b, &b.Rows[i], false)
			}
			perm, _ := h.sortedRows()
			rank := h.seriesRanks()
			seen := make([]bool, c.rows)
			key := func(r int32) [4]int64 {
				return [4]int64{WindowOf(h.times[r]), int64(rank[h.series[r]]), h.times[r], int64(r)}
			}
			for i, r := range perm {
				if seen[r] {
					t.Fatalf("row %d twice", r)
				}
				seen[r] = true
				if i > 0 {
					a, z := key(perm[i-1]), key(r)
					if fmt.Sprint(a) != fmt.Sprint(z) && !less4(a, z) {
						t.Fatalf("position %d: %v after %v", i, z, a)
					}
				}
			}
			if len(perm) != c.rows {
				t.Fatalf("%d rows of %d", len(perm), c.rows)
			}
		})
	}
}

func less4(a, b [4]int64) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// A View keeps showing exactly the rows of its moment while the head takes
// more rows, new columns and new series concurrently (run with -race).
func TestViewIsStableUnderAppends(t *testing.T) {
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var mu sync.Mutex // stands in for the engine lock
	add := func(i int) {
		var b columnar.Batch
		b.StartRow([]byte("m"), 1)
		b.AddTag([]byte("k"), []byte(fmt.Sprint(i%5)))
		if i%3 == 0 {
			b.AddTag([]byte(fmt.Sprint("t", i%4)), []byte("x"))
		}
		b.AddFloat([]byte(fmt.Sprint("f", i%6)), float64(i))
		if i%7 == 0 {
			b.AddString([]byte("s"), []byte(fmt.Sprint(i)))
		}
		b.EndRow(int64(i))
		mu.Lock()
		if err := s.Admit(&b, &b.Rows[0]); err != nil {
			t.Error(err)
		}
		h.Append(&b, &b.Rows[0], false)
		mu.Unlock()
	}
	// More than a block before the view, more blocks sealed while it is
	// read.
	const first = blockRows + 100
	for i := 0; i < first; i++ {
		add(i)
	}
	mu.Lock()
	v := h.View()
	mu.Unlock()
	cols := []string{"k", "t0", "f0", "f1", "s"}
	dump := func() string {
		var out []string
		_ = v.ScanOrdered(func(p *columnar.Point) error {
			out = append(out, fmt.Sprint(p.Time, p.Tags, p.Fields))
			return nil
		})
		// The block index's readers too: rows in range, latest rows,
		// folded partials.
		n := 0
		_ = v.ScanRange(cols, nil, 50, math.MaxInt64, 1000, func(b *columnar.ColumnBatch) error { n += b.Len; return nil })
		rows := v.LatestRows(nil, math.MinInt64, math.MaxInt64, v.FieldCols(cols))
		parts := 0
		_ = v.ScanRollup(cols, nil, math.MinInt64, math.MaxInt64, 1000, 1000, func(b *columnar.ColumnBatch) error { parts += b.Len; return nil })
		return fmt.Sprint(len(out), n, rows, parts, out)
	}
	before := dump()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := first; i < 3*blockRows; i++ {
			add(i)
		}
	}()
	for k := 0; k < 20; k++ {
		if got := dump(); got != before {
			t.Fatalf("view changed under appends")
		}
	}
	<-done
	if got := dump(); got != before {
		t.Fatalf("view changed after appends")
	}
	if !strings.HasPrefix(before, fmt.Sprint(first, " ")) {
		t.Fatalf("view holds %s", before[:10])
	}
}

// A frozen head is read unlocked by scans while the flush writes it out
// (the engine hands scans its frozen heads, not Views): every reader —
// ScanOrdered, which orders the rows as the flush does, the block index's
// readers and the flushed rollups' build — must leave the head as it was,
// so each answer is what it was before the flush started and the
// segments hold exactly what ScanOrdered gave. Under -race (make
// test-race-short) this is the check that no reader writes the flush's
// state (flushedRank once was).
func TestFrozenHeadReadDuringFlush(t *testing.T) {
	// Two sealed blocks and a tail, over a midnight (two segments), four
	// hosts every 10 ms, with some points written twice.
	r := rand.New(rand.NewPCG(3, 4))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	b := &columnar.Batch{}
	from := int64(1_767_225_600_000_000_000) + int64(WindowDuration) - 10e9
	n := 2*blockRows + 300
	for i := range n {
		headRow(b, r, fmt.Sprintf("h%d", i%4), from+int64(i/4)*1e7)
	}
	for range 20 {
		i := r.IntN(n)
		headRow(b, r, fmt.Sprintf("h%d", i%4), from+int64(i/4)*1e7)
	}
	admitAll(t, s, h, b)
	h.Finish() // frozen, as the engine freezes it
	cols := []string{"host", "dc", "usage", "n", "u", "s"}
	dump := func() (string, error) {
		var out []string
		if err := h.ScanOrdered(func(p *columnar.Point) error {
			out = append(out, fmt.Sprint(p.Time, p.Tags, p.Fields))
			return nil
		}); err != nil {
			return "", err
		}
		n, parts := 0, 0
		if err := h.ScanRange(cols, nil, math.MinInt64, math.MaxInt64, 1000, func(b *columnar.ColumnBatch) error { n += b.Len; return nil }); err != nil {
			return "", err
		}
		if err := h.ScanRollup(cols, nil, math.MinInt64, math.MaxInt64, 60e9, 1000, func(b *columnar.ColumnBatch) error { parts += b.Len; return nil }); err != nil {
			return "", err
		}
		latest := h.LatestRows(nil, math.MinInt64, math.MaxInt64, h.FieldCols(cols))
		return fmt.Sprint(n, parts, latest, h.RepeatsOlderIn(math.MinInt64, math.MaxInt64), out), nil
	}
	want, err := dump()
	if err != nil {
		t.Fatal(err)
	}
	var ordered []string
	if err := h.ScanOrdered(func(p *columnar.Point) error {
		ordered = append(ordered, fmt.Sprint(p.Time, p.Tags, p.Fields))
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var metas []SegmentMeta
	flushErr := make(chan error, 1)
	go func() {
		var id uint64
		ms, err := WriteSegments(dir, "db", "cpu", h, func() uint64 { id++; return id })
		if err == nil {
			for i := range ms {
				outs := []RollupWriter{&discardRollups{}, &discardRollups{}}
				if _, err = BuildFlushedRollups(h, i, []int64{60e9, 3600e9}, outs); err != nil {
					break
				}
			}
		}
		metas = ms
		flushErr <- err
	}()
	const readers = 2
	readErr := make(chan error, readers)
	for range readers {
		go func() {
			for range 2 {
				got, err := dump()
				if err == nil && got != want {
					err = fmt.Errorf("a read of the frozen head changed while it was flushed")
				}
				if err != nil {
					readErr <- err
					return
				}
			}
			readErr <- nil
		}()
	}
	for range readers {
		if err := <-readErr; err != nil {
			t.Error(err)
		}
	}
	if err := <-flushErr; err != nil {
		t.Fatal(err)
	}
	if len(metas) < 2 {
		t.Fatalf("%d segments, want one per day (2)", len(metas))
	}
	var written []string
	for _, m := range metas {
		seg, err := OpenSegment(filepath.Join(dir, filepath.FromSlash(m.Path)))
		if err != nil {
			t.Fatal(err)
		}
		err = seg.Scan(func(p *columnar.Point) error {
			written = append(written, fmt.Sprint(p.Time, p.Tags, p.Fields))
			return nil
		})
		seg.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(written, ordered) {
		t.Fatalf("the segments hold %d points that differ from the head's %d in segment order", len(written), len(ordered))
	}
}
