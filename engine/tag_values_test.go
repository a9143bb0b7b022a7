package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
)

// TagValues, from indexes and dictionaries, equals the distinct values a
// scan finds, with and without a filter on another tag, over segments,
// frozen and active heads; with retention hiding rows it declines.
func TestTagValuesMatchesScan(t *testing.T) {
	e := open(t, testConfig(t.TempDir()))
	defer e.Close()
	write2 := func(hosts []string, t0 int64) {
		var b columnar.Batch
		for i, h := range hosts {
			b.StartRow([]byte("m"), i+1)
			b.AddTag([]byte("host"), []byte(h))
			if h != "e" { // a series without region
				b.AddTag([]byte("region"), []byte(map[bool]string{true: "eu", false: "us"}[h < "c"]))
			}
			b.AddFloat([]byte("v"), 1)
			b.EndRow(t0 + int64(i))
		}
		if _, err := e.Write("db", &b); err != nil {
			t.Fatal(err)
		}
	}
	write2([]string{"a", "c"}, 0)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	write2([]string{"b", "d", "e"}, int64(time.Hour)) // stays in the head
	for _, filter := range []map[string][]string{nil, {"region": {"eu"}}, {"region": {"us", "nope"}}, {"nope": {"x"}}} {
		want := []string{}
		if err := e.Scan("db", "m", func(p *columnar.Point) error {
			tags := map[string]string{}
			for _, tv := range p.Tags {
				tags[tv.Key] = tv.Value
			}
			for k, vals := range filter {
				if v, ok := tags[k]; !ok || !slices.Contains(vals, v) {
					return nil
				}
			}
			if !slices.Contains(want, tags["host"]) {
				want = append(want, tags["host"])
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(want)
		got, ok, err := e.TagValues("db", "m", "host", filter)
		if err != nil || !ok {
			t.Fatalf("filter %v: ok %v, err %v", filter, ok, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("filter %v: %v, want %v", filter, got, want)
		}
	}
	if err := e.SetRetention("db", time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := e.TagValues("db", "m", "host", nil); ok {
		t.Error("answered from indexes while retention hides rows")
	}
}
