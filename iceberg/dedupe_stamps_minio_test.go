package iceberg_test

// The peer dedupe follows the points' write stamps, not the segments'
// write ranges: where two writers rewrote the same points in turns and
// each merged its window, each writer's segment holds some of the copies
// a query node answers.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/segment"
)

// Two writers rewrite the same points of one window in eight alternating
// turns (a partition moving back and forth), each turn flushed and
// tiered, then each merges its window into one segment: their write
// ranges interleave (w1's spans turns 1..7, w2's 2..8), so by ranges w2's
// copy of every point is newer, while the last write of a point is w1's
// wherever w1's turn 3, 5 or 7 rewrote it last. The writers share one
// process's wall clock, so their stamps (a hybrid logical clock over it)
// increase in the order of the test's writes: the model, last write wins
// in that order, is the order of the stamps.
//
// The query node must answer the model; then each writer's compaction
// rewrites its segment without the points whose copy on the other writer
// has the greater stamp, and iceberg-go's scan of the shared table and
// DuckDB over exactly the data files its manifests list must return the
// query node's rows, which must still be the model's, with both writers'
// segments published. Deciding by ranges (the dedupe before per-point
// stamps) drops w1's copies of every shared point and fails.
func TestIcebergMinIOInterleavedStamps(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO and DuckDB")
	}
	srv := miniotest.Start(t)
	w1, w2 := peerWriter(t, srv, "w1"), peerWriter(t, srv, "w2")
	ws := []*fixture{w1, w2}
	ctx := context.Background()
	day := int64(segment.WindowDuration)
	win := w1.today - 3*day
	model := edgeModel{}
	shared := [][2]string{{"a0", "eu"}, {"a1", "us"}, {"a2", "eu"}, {"", "us"}} // a series without host too
	rng := rand.New(rand.NewPCG(21, 8))
	const turns = 8
	last := map[string]*[2]int{} // a shared point's last turn on w1, on w2
	for turn := 1; turn <= turns; turn++ {
		w := ws[(turn-1)%2]
		var ps []edgePoint
		for _, p := range edgePoints(shared, win, win+day/2, turn, nil) {
			if turn == 1 || rng.IntN(2) == 0 {
				ps = append(ps, p)
				k := fmt.Sprintf("%s|%s|%d", p.host, p.region, p.ts)
				if last[k] == nil {
					last[k] = &[2]int{}
				}
				last[k][(turn-1)%2] = turn
			}
		}
		// Series only one writer holds (its own partition) stay whole.
		ps = append(ps, edgePoints([][2]string{{fmt.Sprintf("own%d", (turn-1)%2+1), "eu"}}, win+int64(turn)*int64(time.Hour), win+int64(turn+1)*int64(time.Hour), turn, nil)...)
		writeEdge(t, w.e, model, ps)
		tierWriters(t, w)
	}
	for _, w := range ws {
		if err := w.e.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tierWriters(t, ws...)
	for i, w := range ws {
		raw := rawSegments(w, win)
		if len(raw) != 1 {
			t.Fatalf("w%d holds %d segments of the window after its merge, want 1", i+1, len(raw))
		}
	}
	a, b := rawSegments(w1, win)[0], rawSegments(w2, win)[0]
	if !(a.WriteMin < b.WriteMin && b.WriteMin < a.WriteMax && a.WriteMax < b.WriteMax) {
		t.Fatalf("the writers' ranges do not interleave: w1 [%d, %d], w2 [%d, %d]", a.WriteMin, a.WriteMax, b.WriteMin, b.WriteMax)
	}
	// The points both hold whose last write is w1's although w2's
	// segment is the newer by ranges: what deciding by ranges gets wrong.
	lastW1 := 0
	for _, l := range last {
		if l[1] > 0 && l[0] > l[1] {
			lastW1++
		}
	}
	if lastW1 == 0 {
		t.Fatal("no point both writers hold was last written by w1: the case proves nothing")
	}

	q := queryNode(t, srv)
	want := model.rows()
	from, to := win, win+day
	sameRows(t, "the query node against the model (last write by stamp)", want, q.siltRows(t, from, to))

	// Each holds points whose copy on the other wins: both windows are
	// withheld until the rewrites. (The passes above ran at once, and a
	// writer's bucket manifest names no segment of a window between its
	// merge and the upload of the output: a pass that read it then can see
	// nothing to withhold for. The next pass sees both merged segments.)
	tierWriters(t, ws...)
	tbl, _ := w1.loadTable(t)
	if _, files := icebergRows(t, tbl); len(files) != 0 {
		t.Errorf("the table lists %v before the writers rewrote their segments", files)
	}

	// The writers' compactions rewrite their segments (each against the
	// other's segment as its manifest names it then, and again once it
	// was replaced), their passes upload and publish.
	for range 3 {
		for _, w := range ws {
			if err := w.e.Compact(ctx); err != nil {
				t.Fatal(err)
			}
		}
		tierWriters(t, ws...)
	}
	q.reload(t)
	got := q.siltRows(t, from, to)
	sameRows(t, "the query node after the rewrites", want, got)
	tbl, _ = w1.loadTable(t)
	rows, files := icebergRows(t, tbl)
	for i, w := range ws {
		raw := rawSegments(w, win)
		if len(raw) != 1 {
			t.Fatalf("w%d holds %d segments of the window after its rewrite, want 1", i+1, len(raw))
		}
		key := fmt.Sprintf("/nodes/w%d/%s", i+1, raw[0].Path)
		if !containsSuffix(files, key) {
			t.Fatalf("w%d's segment %s is not published: the table lists %v", i+1, raw[0].Path, files)
		}
	}
	if len(files) != 2 {
		t.Fatalf("the table lists %v, want one segment of each writer", files)
	}
	sameRows(t, "iceberg-go scan of the shared table", want, rows)
	if d := w1.duckRows(t, files); d != nil {
		sameRows(t, "DuckDB over the files the shared table lists", want, d)
	}
	both := 0
	for _, l := range last {
		if l[0] > 0 && l[1] > 0 {
			both++
		}
	}
	t.Logf("%d points, %d held by both writers, %d of those last written by w1", len(want), both, lastW1)
}

// rawSegments returns w's raw segments of window win.
func rawSegments(w *fixture, win int64) []segment.SegmentMeta {
	var out []segment.SegmentMeta
	for _, s := range w.e.Manifest().Segments {
		if !s.IsRollup() && s.Window == segment.WindowName(win) {
			out = append(out, s)
		}
	}
	return out
}

func containsSuffix(list []string, suffix string) bool {
	for _, s := range list {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}
