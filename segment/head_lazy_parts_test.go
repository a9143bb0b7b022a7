package segment

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// lazyRows appends to b n random rows of a dense live stream of six hosts
// (a row about every millisecond, so sealed blocks keep one-second
// partials) from time *now on: a float field always, an integer and a
// string field sometimes, and among them late rows (up to two seconds
// back, into sealed blocks) and rewrites of a point written before
// (same host and time, another value).
func lazyRows(b *columnar.Batch, rng *rand.Rand, n int, now *int64, written *[][2]int64) {
	for range n {
		host := rng.IntN(6)
		var t int64
		// Few late rows and rewrites: the windows they fall in are read
		// from the rows (head_dups.go), the others from partials.
		switch x := rng.IntN(100000); {
		case x < 10 && len(*written) > 0: // a rewrite of an earlier point
			p := (*written)[rng.IntN(len(*written))]
			host, t = int(p[0]), p[1]
		case x < 30: // late
			t = max(0, *now-rng.Int64N(2e9))
		default:
			*now += rng.Int64N(2e6)
			t = *now
		}
		*written = append(*written, [2]int64{int64(host), t})
		b.StartRow([]byte("cpu"), len(b.Rows)+1)
		b.AddTag([]byte("host"), fmt.Appendf(nil, "h%d", host))
		b.AddFloat([]byte("usage"), float64(rng.IntN(10000))/7)
		if rng.IntN(3) == 0 {
			b.AddNum([]byte("n"), columnar.FieldInt, uint64(rng.Int64N(1000)-500))
		}
		if rng.IntN(5) == 0 {
			b.AddString([]byte("msg"), []byte("x"))
		}
		b.EndRow(t)
	}
}

// The parts of a block's and a span's rollup are folded by their first
// reader, not by the writer at the seal: before any read they are
// pending, a read over a head with pending parts answers as the merged
// rows do (late points and rewrites in sealed blocks included), and the
// parts then folded are, bit for bit, those a writer folding at the seal
// (lazyBlockParts off) keeps.
func TestHeadLazyBlockParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(22, 7))
	var b columnar.Batch
	var now int64
	var written [][2]int64
	lazyRows(&b, rng, 9*blockRows+1234, &now, &written)

	s := columnar.NewTableSchema()
	lazy := NewHead(s)
	undo := SetBlockParts(PartsByReader)
	admitAll(t, s, lazy, &b)
	undo()
	undo = SetBlockParts(PartsAtSeal)
	eagerS := columnar.NewTableSchema()
	eager := NewHead(eagerS)
	admitAll(t, eagerS, eager, &b)
	undo()

	if len(lazy.blocks) != len(eager.blocks) || len(lazy.spans) != len(eager.spans) || len(lazy.spans) == 0 {
		t.Fatalf("%d blocks and %d spans, the eager head %d and %d: want equal, and a span", len(lazy.blocks), len(lazy.spans), len(eager.blocks), len(eager.spans))
	}
	if lazy.Bytes() != eager.Bytes() {
		t.Errorf("lazy head counts %d bytes, eager %d: the seal counts the parts it leaves", lazy.Bytes(), eager.Bytes())
	}
	rolled := 0
	for i, blk := range append(append([]*headBlock{}, lazy.blocks...), lazy.spans...) {
		if blk == nil || blk.roll == nil {
			continue
		}
		rolled++
		if blk.roll.parts != nil {
			t.Fatalf("rollup %d: parts folded before any read", i)
		}
	}
	if rolled < len(lazy.blocks) {
		t.Fatalf("only %d of %d blocks (and spans) keep partials: the stream is not dense enough to test them", rolled, len(lazy.blocks))
	}

	// Reads of a view while every part is pending, then again once
	// folded.
	v := lazy.View()
	for _, stage := range []string{"pending", "folded"} {
		for _, width := range []int64{1e9, 10e9, 60e9} {
			for _, r := range [][2]int64{{math.MinInt64, math.MaxInt64}, {3e9, 9e9}, {10e9, math.MaxInt64}} {
				for _, perSeries := range []bool{true, false} {
					name := fmt.Sprintf("%s width=%d range=%v perSeries=%v", stage, width, r, perSeries)
					checkRollup(t, name, v, nil, perSeries, r[0], r[1], width)
				}
			}
		}
	}

	for i := range lazy.blocks {
		if got, want := lazy.blocks[i].roll, eager.blocks[i].roll; !equalRollups(lazy, got, eager, want) {
			t.Errorf("block %d: lazily folded rollup differs from the one folded at the seal", i)
		}
	}
	for i := range lazy.spans {
		if got, want := lazy.spans[i], eager.spans[i]; (got == nil) != (want == nil) || got != nil && !equalRollups(lazy, got.roll, eager, want.roll) {
			t.Errorf("span %d: lazily combined rollup differs from the one combined at the seal", i)
		}
	}
}

// equalRollups compares two rollups, skeleton and parts (folding them
// where pending).
func equalRollups(ha *Head, a *blockRollup, hb *Head, b *blockRollup) bool {
	if a == nil || b == nil {
		return a == b
	}
	pa := partsBy(ha, a)
	pb := partsBy(hb, b)
	return a.width == b.width && a.nfields == b.nfields && reflect.DeepEqual(a.series, b.series) &&
		reflect.DeepEqual(a.windows, b.windows) && reflect.DeepEqual(a.rows, b.rows) && reflect.DeepEqual(pa, pb)
}

// partsBy returns the parts of rollup r of one of h's blocks or spans.
func partsBy(h *Head, r *blockRollup) [][]partial {
	for _, blk := range append(append([]*headBlock{}, h.blocks...), h.spans...) {
		if blk != nil && blk.roll == r {
			return h.partsOf(blk)
		}
	}
	panic("rollup of no block")
}

// Readers and the background folder fold pending parts from Views while
// the writer keeps appending (late points and rewrites included) and
// sealing: under the race detector this checks that the fold shares
// nothing unsynchronized with the writer or another reader, and each view
// then answers as its merged rows do.
func TestHeadLazyBlockPartsConcurrentReaders(t *testing.T) {
	defer SetBlockParts(PartsBackground)()
	rng := rand.New(rand.NewPCG(22, 8))
	s := columnar.NewTableSchema()
	h := NewHead(s)
	var mu sync.Mutex // the engine's lock: Append and View under it
	var views []*Head
	latest := func() *Head {
		mu.Lock()
		defer mu.Unlock()
		if len(views) == 0 {
			return nil
		}
		return views[len(views)-1]
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v := latest()
				if v == nil {
					continue
				}
				if err := v.ScanRollup([]string{"usage", "n", "host"}, nil, math.MinInt64, math.MaxInt64, 1e9, 500, func(*columnar.ColumnBatch) error { return nil }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var now int64
	var written [][2]int64
	for range 12 {
		var b columnar.Batch
		lazyRows(&b, rng, 3000, &now, &written)
		mu.Lock()
		for i := range b.Rows {
			if err := s.Admit(&b, &b.Rows[i]); err != nil {
				mu.Unlock()
				t.Fatal(err)
			}
			h.Append(&b, &b.Rows[i], false)
		}
		views = append(views, h.View())
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	if len(h.blocks) < 4 {
		t.Fatalf("%d sealed blocks: too few to test", len(h.blocks))
	}
	for i, v := range views {
		if i%3 == 2 {
			checkRollup(t, fmt.Sprintf("view %d", i), v, nil, true, math.MinInt64, math.MaxInt64, 1e9)
			checkRollup(t, fmt.Sprintf("view %d", i), v, nil, false, 0, 10e9, 10e9)
		}
	}
}

// With the background folder, a seal's pending parts get folded though
// no reader asks for them, and a reader then finds them folded.
func TestHeadBackgroundBlockParts(t *testing.T) {
	defer SetBlockParts(PartsBackground)()
	rng := rand.New(rand.NewPCG(22, 9))
	var b columnar.Batch
	var now int64
	var written [][2]int64
	lazyRows(&b, rng, 2*spanBlocks*blockRows, &now, &written)
	s := columnar.NewTableSchema()
	h := NewHead(s)
	admitAll(t, s, h, &b)
	var pending []*blockRollup
	for _, blk := range append(append([]*headBlock{}, h.blocks...), h.spans...) {
		if blk != nil && blk.roll != nil {
			pending = append(pending, blk.roll)
		}
	}
	if len(pending) < 2*spanBlocks+1 {
		t.Fatalf("%d rollups of blocks and spans, want every block's and a span's", len(pending))
	}
	deadline := time.Now().Add(time.Minute)
	for _, r := range pending {
		for !r.folded.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the background folder left parts pending for a minute")
			}
			time.Sleep(time.Millisecond)
		}
	}
	checkRollup(t, "background", h.View(), nil, true, math.MinInt64, math.MaxInt64, 1e9)
}
