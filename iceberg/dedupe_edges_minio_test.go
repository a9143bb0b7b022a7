package iceberg_test

// The cases of a point two writers hold that the first dedupe left on
// both: series without the table's first tag, and segments written before
// write stamps (a cluster upgraded from an older build).

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
)

// edgePoint is one written row: host "" writes no host tag.
type edgePoint struct {
	host, region string
	ts           int64
	round        int
}

// edgeModel is the rows last write wins leaves, in the order the test
// wrote them: canonical rows (siltRows' form) by series and time.
type edgeModel map[string]string

// writeEdge writes ps on e (every column of the fixture's table), records
// them in m and flushes.
func writeEdge(t *testing.T, e *engine.Engine, m edgeModel, ps []edgePoint) {
	t.Helper()
	var b columnar.Batch
	for i, p := range ps {
		step := p.ts / int64(20*time.Minute)
		usage := float64(step%97) + float64(len(p.host)+len(p.region))/10 + float64(100*p.round)
		n := step % 1000
		u := uint64(p.round)
		note := fmt.Sprintf("round %d", p.round)
		ok := p.round%2 == 1
		b.StartRow([]byte("cpu"), i+1)
		var host any
		if p.host != "" {
			b.AddTag([]byte("host"), []byte(p.host))
			host = p.host
		}
		b.AddTag([]byte("region"), []byte(p.region))
		b.AddFloat([]byte("usage"), usage)
		b.AddNum([]byte("n"), columnar.FieldInt, uint64(n))
		b.AddNum([]byte("u"), columnar.FieldUint, u)
		b.AddString([]byte("note"), []byte(note))
		okN := uint64(0)
		if ok {
			okN = 1
		}
		b.AddNum([]byte("ok"), columnar.FieldBool, okN)
		b.EndRow(p.ts)
		m[fmt.Sprintf("%s|%s|%d", p.host, p.region, p.ts)] = canon(time.Unix(0, p.ts), host, p.region, usage, n, u, note, ok)
	}
	if _, err := e.Write(db, &b); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
}

func (m edgeModel) rows() []string {
	out := make([]string, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// edgePoints lists the points of series (host, region) every 20 minutes
// in [from, to) that keep accepts (nil: all).
func edgePoints(series [][2]string, from, to int64, round int, keep func(ts int64) bool) []edgePoint {
	var out []edgePoint
	for ts := from; ts < to; ts += int64(20 * time.Minute) {
		if keep != nil && !keep(ts) {
			continue
		}
		for _, s := range series {
			out = append(out, edgePoint{s[0], s[1], ts, round})
		}
	}
	return out
}

// stripStamps makes dir's manifest one of a build before write stamps:
// no segment records its writes' range, no clock.
func stripStamps(t *testing.T, dir string) {
	t.Helper()
	m, err := manifest.LoadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Segments {
		m.Segments[i].WriteMin, m.Segments[i].WriteMax = 0, 0
	}
	m.Clock = 0
	if err := m.Commit(dir); err != nil {
		t.Fatal(err)
	}
}

// Two writers that hold the same points where the first dedupe could not
// tell: (1) series without the table's first tag (host), shared alongside
// hosts both writers hold, and alone; (2) segments written before write
// stamps, against a stamped copy and against another unstamped one. In
// every case the query node answers each point once, as a model of last
// write wins says (a stamped copy is newer than an unstamped one; of two
// unstamped ones, the later node id's, which the test writes last), and
// once w1 has rewritten its segments, iceberg-go's scan and DuckDB over
// the files the table lists return exactly the query node's rows, no
// window withheld.
func TestIcebergMinIOPointOnTwoWritersEdges(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts MinIO and DuckDB")
	}
	srv := miniotest.Start(t)
	dir1, dir2 := t.TempDir(), t.TempDir()
	w1, w2 := peerWriterAt(t, srv, "w1", dir1), peerWriterAt(t, srv, "w2", dir2)
	ctx := context.Background()
	day := int64(segment.WindowDuration)
	base := w1.today - 8*day
	model := edgeModel{}
	tierBoth := func() { t.Helper(); tierWriters(t, w2, w1) }
	everyThird := func(ts int64) bool { return (ts/int64(20*time.Minute))%3 == 0 }

	// Before the upgrade (no stamps). Window U: w1 holds partition A; w2
	// will rewrite some of it after the upgrade. Window V: both hold
	// partition B's morning, w1's copy first and w2's (new values) after,
	// both before the upgrade.
	winU, winV := base, base+day
	partA := [][2]string{{"a0", "eu"}, {"a1", "us"}, {"a2", "eu"}}
	partB := [][2]string{{"b0", "eu"}, {"b1", "us"}}
	writeEdge(t, w1.e, model, edgePoints(partA, winU, winU+day/2, 1, nil))
	writeEdge(t, w1.e, model, edgePoints(partB, winV, winV+day/2, 1, nil))
	writeEdge(t, w2.e, model, edgePoints(partB, winV, winV+day, 2, nil))
	tierBoth()
	// The upgrade: both restart on manifests without stamps.
	for i, d := range []string{dir1, dir2} {
		w := []*fixture{w1, w2}[i]
		if err := w.e.Close(); err != nil {
			t.Fatal(err)
		}
		stripStamps(t, d)
	}
	w1, w2 = peerWriterAt(t, srv, "w1", dir1), peerWriterAt(t, srv, "w2", dir2)
	tierBoth() // the first pass republishes the bucket manifests: no stamps
	for _, w := range []*fixture{w1, w2} {
		for _, s := range w.e.Manifest().Segments {
			if s.Stamped() {
				t.Fatalf("segment %s still has write stamps", s.Path)
			}
		}
	}

	// After the upgrade (stamped). Window U: w2 takes partition A over,
	// consumes the last poll again and rewrites every third point.
	writeEdge(t, w2.e, model, edgePoints(partA, winU+day/2-2*int64(time.Hour), winU+day/2, 1, nil))
	writeEdge(t, w2.e, model, edgePoints(partA, winU, winU+day/2, 3, everyThird))
	// Window X: hosts and series without a host, w1's first, then w2's
	// (the last poll again and every third point rewritten) — the hosts
	// shared too. Window Y: only series without a host are shared (their
	// hosts differ).
	winX, winY := base+2*day, base+3*day
	noHost := [][2]string{{"", "eu"}, {"", "us"}}
	writeEdge(t, w1.e, model, edgePoints(append(slices.Clone(partA), noHost...), winX, winX+day/2, 1, nil))
	writeEdge(t, w1.e, model, edgePoints(append([][2]string{{"c0", "eu"}}, noHost...), winY, winY+day/2, 1, nil))
	tierBoth()
	writeEdge(t, w2.e, model, edgePoints(append(slices.Clone(partA), noHost...), winX+day/2-2*int64(time.Hour), winX+day/2, 1, nil))
	writeEdge(t, w2.e, model, edgePoints(append(slices.Clone(partA), noHost...), winX, winX+day/2, 4, everyThird))
	writeEdge(t, w2.e, model, edgePoints(append([][2]string{{"d0", "us"}}, noHost...), winY, winY+day/2, 4, everyThird))
	for _, w := range []*fixture{w1, w2} {
		if err := w.e.Compact(ctx); err != nil {
			t.Fatal(err)
		}
	}
	tierBoth()

	qf := queryNode(t, srv) // the union of the writers' bucket manifests
	from, to := base, base+4*day
	want := model.rows()
	sameRows(t, "the query node against the model of last write wins", want, qf.siltRows(t, from, to))

	// w1's compaction rewrites its segments without the points w2 holds
	// newer copies of; the passes publish every window.
	if err := w1.e.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	tierBoth()
	tierBoth()
	qf.reload(t)
	sameRows(t, "the query node after w1's rewrite", want, qf.siltRows(t, from, to))
	tbl, _ := w2.loadTable(t)
	got, files := icebergRows(t, tbl)
	// Every window a writer still holds segments of is published (w1's
	// copy of window V was wholly older: its segment went).
	for i, w := range []*fixture{w1, w2} {
		for _, s := range w.e.Manifest().Segments {
			if s.IsRollup() {
				continue
			}
			key := fmt.Sprintf("/nodes/w%d/%s", i+1, s.Path)
			if !slices.ContainsFunc(files, func(p string) bool { return strings.HasSuffix(p, key) }) {
				t.Fatalf("segment %s (window %s) is not published: the table lists %v", s.Path, s.Window, files)
			}
		}
	}
	if n := len(w1.e.Manifest().Segments); n == 0 {
		t.Fatal("w1 holds no segment: nothing of it is compared")
	}
	sameRows(t, "iceberg-go scan of the shared table", want, got)
	if d := w2.duckRows(t, files); d != nil {
		sameRows(t, "DuckDB over the shared table's files", want, d)
	}
}
