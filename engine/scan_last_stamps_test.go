package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// A segment's stamped last-value summary (what a cluster's query node
// asks for, lastCache.segment with stamps) keeps, with each field's last
// value, the write stamp the full scan's stamp merge reads for that point
// (stampedSegment); it replaces the plain summary a flush cached, and
// then serves plain scans too, with the same values.
func TestStampedLastSummary(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	rng := rand.New(rand.NewPCG(3, 21))
	model := map[string]map[string]float64{}
	for range 8 { // a stamp per write
		if _, err := e.Write("db", modelBatch(rng, model, []string{"a", "b"}, 2000, 4, 3, 3000)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range e.Manifest().Segments {
		if m.IsRollup() {
			continue
		}
		seg, err := e.refs.segment(m)
		if err != nil {
			t.Fatal(err)
		}
		if !seg.Info.WriteStamps {
			t.Fatalf("%s has no stamp column", m.Path)
		}
		plain, err := e.lastCache.segment(seg, false)
		if err != nil {
			t.Fatal(err)
		}
		if plain.stamped || len(plain.order) == 0 || len(plain.order[0].stamps()) != 0 {
			t.Fatalf("%s: a plain summary carries stamps", m.Path)
		}
		stamped, err := e.lastCache.segment(seg, true)
		if err != nil {
			t.Fatal(err)
		}
		if !stamped.stamped {
			t.Fatalf("%s: asked for stamps, got a plain summary", m.Path)
		}
		if again, _ := e.lastCache.segment(seg, false); again != stamped {
			t.Fatalf("%s: the stamped summary did not replace the plain one in the cache", m.Path)
		}
		if got, want := lastValues(stamped), lastValues(plain); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: stamped summary's values differ from the plain one's (%d, %d)", m.Path, len(got), len(want))
		}
		// The full scan's stamps: per series and field, the stamp of the
		// point at the field's last time.
		cols := append(append([]string(nil), seg.Info.Tags...), fieldNames(seg.Info.Fields)...)
		want := map[string]int64{}
		last := map[string]int64{}
		var st int64
		for p, err := range stampedSegment(seg, m, cols, nil, math.MinInt64, math.MaxInt64, &st) {
			if err != nil {
				t.Fatal(err)
			}
			tags := append([]columnar.TagValue(nil), p.Tags...)
			columnar.SortTags(tags)
			for _, f := range p.Fields {
				k := fmt.Sprint(tags, f.Key)
				if t0, ok := last[k]; !ok || p.Time >= t0 {
					last[k], want[k] = p.Time, st
				}
			}
		}
		got := map[string]int64{}
		distinct := map[int64]bool{}
		for _, se := range stamped.order {
			for k, f := range stamped.fields {
				if se.t[k] != math.MinInt64 {
					got[fmt.Sprint(se.tags, f.Name)] = se.stamps()[k]
					distinct[se.stamps()[k]] = true
				}
			}
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the summary's stamps differ from the stamp column's (%d values, %d)", m.Path, len(got), len(want))
		}
		if len(distinct) < 2 {
			t.Fatalf("%s: last values of %d writes' stamps: the case proves little", m.Path, len(distinct))
		}
		n++
	}
	if n == 0 {
		t.Fatal("no segment")
	}
}

// lastValues is a summary's last values, "time value" by series and field.
func lastValues(s *lastSet) map[string]string {
	out := map[string]string{}
	for _, se := range s.order {
		for k, f := range s.fields {
			if se.t[k] != math.MinInt64 {
				out[fmt.Sprint(se.tags, f.Name)] = fmt.Sprint(se.t[k], se.v[k])
			}
		}
	}
	return out
}

// A plain summary computed by a query that started before another cached
// a stamped one (both found nothing cached) leaves the stamped one in the
// cache; a stamped one replaces a plain one.
func TestLastCacheKeepsStampedSummary(t *testing.T) {
	var c lastCache
	plain, stamped := newLastSet(nil), newLastSet(nil)
	stamped.stamped = true
	c.keep("seg", stamped)
	c.keep("seg", plain)
	if v, _ := c.m.Load("seg"); v != stamped {
		t.Fatal("a plain summary replaced the stamped one")
	}
	c.m.Store("other", plain)
	c.keep("other", stamped)
	if v, _ := c.m.Load("other"); v != stamped {
		t.Fatal("a stamped summary did not replace the plain one")
	}
}
