package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/segment"
)

// lastModel is the oracle of last values: per series (tags as "k=v,..."),
// time and field, the value written last.
type lastModel map[string]map[int64]map[string]string

// lastWrite writes n random rows of table m at times from at() and records
// them in model. Series lack the rack tag now and then; rows carry x
// (float), s (string) or both.
func lastWrite(t *testing.T, e *Engine, rng *rand.Rand, model lastModel, n int, at func() int64) {
	t.Helper()
	var b columnar.Batch
	for i := range n {
		b.StartRow([]byte("m"), i+1)
		host := fmt.Sprint("h", rng.IntN(12))
		b.AddTag([]byte("host"), []byte(host))
		series := "host=" + host
		if r := rng.IntN(3); r > 0 {
			b.AddTag([]byte("rack"), []byte(fmt.Sprint("r", r)))
			series = fmt.Sprintf("host=%s,rack=r%d", host, r)
		}
		ts := at()
		if model[series] == nil {
			model[series] = map[int64]map[string]string{}
		}
		if model[series][ts] == nil {
			model[series][ts] = map[string]string{}
		}
		pick := rng.IntN(3)
		if pick != 1 {
			v := float64(rng.IntN(1000))
			b.AddFloat([]byte("x"), v)
			model[series][ts]["x"] = fmt.Sprint(v)
		}
		if pick != 0 {
			v := fmt.Sprint("s", rng.IntN(1000))
			b.AddString([]byte("s"), []byte(v))
			model[series][ts]["s"] = v
		}
		b.EndRow(ts)
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
}

// rewriteLatest writes, for every series of model, a new value of one
// field at the series' latest time: the rewritten point's other field keeps
// its older value (a tie the merge resolves per field).
func rewriteLatest(t *testing.T, e *Engine, rng *rand.Rand, model lastModel) {
	t.Helper()
	var b columnar.Batch
	i := 0
	for series, byTime := range model {
		latest := int64(math.MinInt64)
		for ts := range byTime {
			latest = max(latest, ts)
		}
		i++
		b.StartRow([]byte("m"), i)
		for _, kv := range strings.Split(series, ",") {
			k, v, _ := strings.Cut(kv, "=")
			b.AddTag([]byte(k), []byte(v))
		}
		if rng.IntN(2) == 0 {
			v := float64(1000 + rng.IntN(1000))
			b.AddFloat([]byte("x"), v)
			byTime[latest]["x"] = fmt.Sprint(v)
		} else {
			v := fmt.Sprint("rewritten", rng.IntN(1000))
			b.AddString([]byte("s"), []byte(v))
			byTime[latest]["s"] = v
		}
		b.EndRow(latest)
	}
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
}

// lastOf is the oracle's answer: per series and field, "time value" of the
// value at the series' latest time with that field, among times >= from.
func (model lastModel) lastOf(from int64) map[string]string {
	out := map[string]string{}
	best := map[string]int64{}
	for series, byTime := range model {
		for ts, fields := range byTime {
			if ts < from {
				continue
			}
			for f, v := range fields {
				k := series + " " + f
				if b, ok := best[k]; !ok || ts > b {
					best[k], out[k] = ts, fmt.Sprint(ts, " ", v)
				}
			}
		}
	}
	return out
}

// summaryOf flattens a summary as lastOf does.
func summaryOf(s *lastSet) map[string]string {
	out := map[string]string{}
	for _, se := range s.order {
		var tags []string
		for _, tv := range se.tags {
			tags = append(tags, tv.Key+"="+tv.Value)
		}
		for k, f := range s.fields {
			if se.t[k] == math.MinInt64 {
				continue
			}
			v := se.v[k]
			val := v.Str
			if f.Type == columnar.FieldFloat {
				val = fmt.Sprint(math.Float64frombits(v.Num))
			}
			out[strings.Join(tags, ",")+" "+f.Name] = fmt.Sprint(se.t[k], " ", val)
		}
	}
	return out
}

// lastOnlyAnswer runs a LastOnly scan of the whole table, as lastpoint and
// last() do, flattened as lastOf does.
func lastOnlyAnswer(t *testing.T, e *Engine) map[string]string {
	t.Helper()
	ts, err := e.OpenScanRange("db", "m", math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns, ts.LastOnly = []string{"host", "rack", "x", "s"}, true
	got := map[string]string{}
	err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		for i := range b.Len {
			var tags []string
			for _, tv := range b.Tags {
				if id := tv.IDs[i]; id >= 0 {
					tags = append(tags, tv.Name+"="+tv.Dict[id])
				}
			}
			slices.Sort(tags)
			for _, fv := range b.Fields {
				if fv.IsNull(i) {
					continue
				}
				val := ""
				switch fv.Type {
				case columnar.FieldFloat:
					val = fmt.Sprint(fv.F[i])
				case columnar.FieldString:
					val = fv.S[i]
				}
				k := strings.Join(tags, ",") + " " + fv.Name
				if _, dup := got[k]; dup {
					t.Errorf("%s twice", k)
				}
				got[k] = fmt.Sprint(b.Time[i], " ", val)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// diffAnswers reports up to five differences between two answers.
func diffAnswers(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	n := 0
	for k, w := range want {
		if got[k] != w && n < 5 {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], w)
			n++
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && n < 5 {
			t.Errorf("%s: %s = %q, want nothing", what, k, g)
			n++
		}
	}
	t.Errorf("%s: %d values, want %d", what, len(got), len(want))
}

// A compaction caches each output's last-value summary as it commits it,
// so that the next lastpoint query reads no output: merged from the
// inputs' cached summaries when the merge drops nothing, folded from the
// written rows when a summary is missing or retention trims the window.
// Late points and rewrites tie across segments; outputs are split by
// series and merges take several passes. Each summary equals the one read
// back from the output's file, and LastOnly scans equal the model.
func TestCompactCachesLastValues(t *testing.T) {
	day := int64(segment.WindowDuration)
	for _, c := range []struct {
		name      string
		uncache   bool // drop the inputs' summaries before compacting
		retention bool // a retention cut in the middle of the window
	}{
		{name: "merged"},
		{name: "written", uncache: true},
		{name: "trimmed", retention: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := noCompactConfig(t.TempDir())
			cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 40, TargetRows: 300, L0Max: 2, MaxTail: 3}
			if c.name != "merged" {
				cfg.Compaction.MemoryBytes = 1 // fan-in 2: merges take passes
			}
			e := open(t, cfg)
			defer e.Close()
			rng := rand.New(rand.NewPCG(11, uint64(len(c.name))))
			model := lastModel{}
			// Window w's rows: the second half of the day, then late ones
			// anywhere in it (with retention: yesterday's window, cut at
			// noon; the first half holds series of their own).
			w := segment.WindowOf(time.Now().UnixNano()) - 2*day
			var cut int64 = math.MinInt64
			if c.retention {
				cut = w + day/2
				var b columnar.Batch
				for i := range 20 {
					b.StartRow([]byte("m"), i+1)
					b.AddTag([]byte("host"), []byte(fmt.Sprint("expired", i)))
					b.AddFloat([]byte("x"), float64(i))
					b.EndRow(w + int64(i)*int64(time.Minute))
					model[fmt.Sprint("host=expired", i)] = map[int64]map[string]string{
						w + int64(i)*int64(time.Minute): {"x": fmt.Sprint(float64(i))}}
				}
				if _, err := e.Write("db", &b); err != nil {
					t.Fatal(err)
				}
			}
			for round := range 8 {
				late := func() int64 { return w + day/2 + int64(time.Hour) + int64(rng.IntN(40))*int64(time.Minute) }
				if round%3 == 2 {
					late = func() int64 { return w + int64(rng.IntN(48))*int64(30*time.Minute) + int64(7*time.Minute) }
				}
				lastWrite(t, e, rng, model, 150, late)
				flush(t, e)
				if round%4 == 3 {
					rewriteLatest(t, e, rng, model)
					flush(t, e)
				}
			}
			rewriteLatest(t, e, rng, model)
			flush(t, e)
			before := map[uint64]bool{}
			var inputs []string
			for _, m := range e.Manifest().Raw() {
				before[m.ID] = true
				path := filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path))
				inputs = append(inputs, path)
				if _, ok := e.lastCache.m.Load(path); !ok {
					t.Fatalf("flush cached no summary for %s", m.Path)
				}
			}
			if c.uncache {
				e.lastCache.m.Clear()
			}
			// The case takes the path it is named for.
			if _, written := e.lastCache.forCompaction(inputs, nil, nil, !c.retention); (written == nil) != (c.name == "merged") {
				t.Fatalf("summaries folded from written rows: %v, want %v", written != nil, c.name != "merged")
			}
			if c.retention {
				// The cut falls at noon of the window; rows around it are
				// an hour or more away, so the clock moving during the
				// test changes nothing.
				if err := e.SetRetention("db", time.Duration(time.Now().UnixNano()-cut)); err != nil {
					t.Fatal(err)
				}
			}
			compact(t, e)
			outs := 0
			for _, m := range e.Manifest().Raw() {
				if before[m.ID] {
					t.Fatalf("segment %s was not compacted", m.Path)
				}
				outs++
				path := filepath.Join(e.cfg.DataDir, filepath.FromSlash(m.Path))
				// No query ran since the compaction: a cached summary was
				// built by it, not by reading the output.
				cached, ok := e.lastCache.m.Load(path)
				if !ok {
					t.Fatalf("no summary cached for compaction output %s", m.Path)
				}
				seg, err := e.refs.segment(m)
				if err != nil {
					t.Fatal(err)
				}
				var fresh lastCache
				read, err := fresh.segment(seg, false)
				if err != nil {
					t.Fatal(err)
				}
				want := summaryOf(read)
				if len(want) == 0 {
					t.Fatalf("output %s has no values", m.Path)
				}
				diffAnswers(t, "cached summary of "+m.Path, summaryOf(cached.(*lastSet)), want)
			}
			if outs < 2 {
				t.Fatalf("%d compaction outputs, want several (split by series)", outs)
			}
			want := model.lastOf(cut)
			diffAnswers(t, "LastOnly scan", lastOnlyAnswer(t, e), want)
			if c.retention && len(want) == len(model.lastOf(math.MinInt64)) {
				t.Fatal("the retention cut removed no series")
			}
		})
	}
}

// Summaries folded from written rows stop at maxCachedSeries series per
// output (such a summary would not be cached): the memory a merge holds for
// them is what the cache would.
func TestCompactLastBoundsSeries(t *testing.T) {
	var c lastCache
	cl, written := c.forCompaction(nil, []columnar.FieldSchema{{Name: "x", Type: columnar.FieldFloat}}, []string{"host"}, false)
	p := columnar.Point{Tags: []columnar.TagValue{{Key: "host"}}, Fields: []columnar.FieldValue{{Key: "x", Type: columnar.FieldFloat}}}
	for out, n := range []int{maxCachedSeries + 1, 3} {
		for i := range n {
			p.Tags[0].Value = fmt.Sprintf("h%07d", i)
			p.Time = int64(i)
			written(uint64(out), &p)
		}
	}
	if _, ok := cl.byOut[0]; ok {
		t.Error("kept a summary of an output past maxCachedSeries series")
	}
	if s := cl.byOut[1]; s == nil || len(s.order) != 3 {
		t.Errorf("the next output's summary: %v, want 3 series", s)
	}
}
