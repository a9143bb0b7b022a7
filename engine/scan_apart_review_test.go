package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// tagPoint is a point of table m with tag host and, when dc is not "",
// tag dc: {host=a} and {host=a,dc=x} are two series.
type tagPoint struct {
	host, dc string
	t        int64
	v        float64
}

func tagPointKey(host, dc string, t int64) string { return fmt.Sprintf("%s|%s@%d", host, dc, t) }

// Review of the apart set (scan_apart.go) against a model: flushes
// interleaved in time over one range, most sharing no point with each
// other, some rewriting a few points of earlier ones, some writing the
// same host and time as an earlier one under another tag set (another
// series: no point shared), and a third flush overlapping two apart ones.
// After checkApart every scan still answers the model (the last write of
// each series and time), through groups that keep some pairs apart.
func TestScanApartRandomTagSetsMatchModel(t *testing.T) {
	e := open(t, noCompactConfig(t.TempDir()))
	defer e.Close()
	rng := rand.New(rand.NewPCG(22, 2))
	model := map[string]float64{}
	var written []tagPoint
	sec := int64(time.Second)
	base := time.Now().Add(-24 * time.Hour).Truncate(time.Hour).UnixNano()
	put := func(pts []tagPoint) {
		t.Helper()
		var b columnar.Batch
		for i, p := range pts {
			b.StartRow([]byte("m"), i+1)
			b.AddTag([]byte("host"), []byte(p.host))
			if p.dc != "" {
				b.AddTag([]byte("dc"), []byte(p.dc))
			}
			b.AddFloat([]byte("v"), p.v)
			b.EndRow(p.t)
		}
		if _, err := e.Write("db", &b); err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			model[tagPointKey(p.host, p.dc, p.t)] = p.v
		}
		written = append(written, pts...)
		flush(t, e)
	}
	dcs := []string{"", "x", "y"}
	const rounds = 10
	for r := range rounds {
		var pts []tagPoint
		// Each round on its own offset of a common grid: the rounds
		// overlap in time and series and share no point.
		for i := range 60 {
			pts = append(pts, tagPoint{fmt.Sprintf("h%d", rng.IntN(3)), dcs[rng.IntN(3)], base + int64(i*rounds+r)*sec, float64(r*1000 + i)})
		}
		switch {
		case r%4 == 1 && len(written) > 0:
			// Rewrite a few earlier points (same series and time).
			for range 3 {
				p := written[rng.IntN(len(written))]
				p.v = float64(-r*1000 - rng.IntN(1000))
				pts = append(pts, p)
			}
		case r%4 == 2 && len(written) > 0:
			// Same host and time as earlier points, another tag set.
			for range 3 {
				p := written[rng.IntN(len(written))]
				if p.dc == "" {
					p.dc = "z"
				} else {
					p.dc = ""
				}
				p.v = float64(-r*1000 - 500)
				pts = append(pts, p)
			}
		}
		put(pts)
	}
	scan := func(what string) int {
		t.Helper()
		ts, err := e.OpenScan("db", "m")
		if err != nil {
			t.Fatal(err)
		}
		defer ts.Close()
		ts.Columns = []string{"host", "dc", "v"}
		got := map[string]float64{}
		err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
			for i := range b.Rows() {
				var host, dc string
				for _, tv := range b.Tags {
					if tv.IDs[i] < 0 {
						continue
					}
					switch tv.Name {
					case "host":
						host = tv.Dict[tv.IDs[i]]
					case "dc":
						dc = tv.Dict[tv.IDs[i]]
					}
				}
				k := tagPointKey(host, dc, b.Time[i])
				if _, dup := got[k]; dup {
					return fmt.Errorf("point %s twice", k)
				}
				got[k] = b.Fields[0].F[i]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		checkModel(t, what, got, model)
		return ts.SlicesMerged
	}
	before := scan("before the check")
	if err := e.checkApart(context.Background()); err != nil {
		t.Fatal(err)
	}
	apart, shared := 0, 0
	for _, a := range *e.comp.apart.Load() {
		if a {
			apart++
		} else {
			shared++
		}
	}
	after := scan("after the check")
	if apart == 0 || shared == 0 {
		t.Fatalf("%d pairs apart, %d sharing: the case is not tested", apart, shared)
	}
	t.Logf("pairs apart %d, sharing %d; stretches merged %d before, %d after", apart, shared, before, after)
}

// A cancelled context stops a pair's read (Close waits for the loop that
// reads pairs): readApart reports the cancellation rather than reading
// both segments to the end and answering.
func TestReadApartStopsWhenCancelled(t *testing.T) {
	e := open(t, noCompactConfig(t.TempDir()))
	defer e.Close()
	agedLayout(t, e)
	m := e.Manifest()
	segs := m.Raw()
	tagOrder := m.Schemas["db"]["m"].Tags
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	read := 0
	for i, a := range segs {
		for _, b := range segs[i+1:] {
			if !segmentsMayShare(a, b, tagOrder) {
				continue
			}
			read++
			if _, err := e.readApart(ctx, a, b, tagOrder); !errors.Is(err, context.Canceled) {
				t.Fatalf("segments %d and %d read with a cancelled context: err %v, want context.Canceled", a.ID, b.ID, err)
			}
		}
	}
	if read == 0 {
		t.Fatal("no pair of segments overlapping: the case is not tested")
	}
}

// Pairs found apart, then compacted away: the outputs are new segments
// no pair of the set names, so a scan after the merge (before any new
// check) and after a new check still answers the model.
func TestScanApartThenCompacted(t *testing.T) {
	cfg := noCompactConfig(t.TempDir())
	e := open(t, cfg)
	defer e.Close()
	model, _, _ := agedLayout(t, e)
	if err := e.checkApart(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := len(e.Manifest().Raw())
	compact(t, e)
	if after := len(e.Manifest().Raw()); after >= n {
		t.Fatalf("%d segments after the compaction, %d before: the case is not tested", after, n)
	}
	got, _ := scanBatchesMerged(t, e, "db")
	checkModel(t, "after the compaction", got, model)
	if err := e.checkApart(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ = scanBatchesMerged(t, e, "db")
	checkModel(t, "after a new check", got, model)
}
