package pgoracle

import (
	"reflect"
	"testing"
	"time"
)

var (
	testStart    = time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	testInterval = 10 * time.Second
)

func TestCPUDatasetShape(t *testing.T) {
	const hosts, n = 10, 100
	plain := CPUDataset(hosts, testStart, testInterval, n, 1, DatasetOptions{})
	if len(plain) != hosts*n {
		t.Fatalf("%d points, want %d", len(plain), hosts*n)
	}
	for i, p := range plain {
		wantTime := testStart.UnixNano() + int64(i/hosts)*int64(testInterval)
		if p.Time != wantTime {
			t.Fatalf("point %d at %d, want %d", i, p.Time, wantTime)
		}
		if len(p.Tags) != len(CPUTags) || len(p.Fields) != len(CPUFields) {
			t.Fatalf("point %d has %d tags, %d fields", i, len(p.Tags), len(p.Fields))
		}
		for _, f := range CPUFields {
			v, ok := p.Fields[f.Name].(float64)
			if !ok || v < 0 || v > 100 {
				t.Fatalf("point %d: %s = %v", i, f.Name, p.Fields[f.Name])
			}
		}
	}
	if h := plain[3].Tags["hostname"]; h != "host_3" {
		t.Errorf("hostname of point 3 is %q", h)
	}

	// Deterministic, and options leave the first writes' values alone.
	if again := CPUDataset(hosts, testStart, testInterval, n, 1, DatasetOptions{}); !reflect.DeepEqual(plain, again) {
		t.Error("same seed, different dataset")
	}
	if other := CPUDataset(hosts, testStart, testInterval, n, 2, DatasetOptions{}); reflect.DeepEqual(plain, other) {
		t.Error("different seeds, same dataset")
	}
	opts := DatasetOptions{OutOfOrder: 0.2, Duplicates: 0.1}
	messy := CPUDataset(hosts, testStart, testInterval, n, 1, opts)
	if again := CPUDataset(hosts, testStart, testInterval, n, 1, opts); !reflect.DeepEqual(messy, again) {
		t.Error("same seed and options, different dataset")
	}
	if len(messy) != hosts*n+hosts*n/10 {
		t.Fatalf("%d points with 10%% duplicates, want %d", len(messy), hosts*n+hosts*n/10)
	}
	type key struct {
		host string
		time int64
	}
	first := map[key]Point{}
	var backwards, partial, full int
	var last int64
	for i, p := range messy {
		k := key{p.Tags["hostname"], p.Time}
		if f, ok := first[k]; ok {
			if len(p.Fields) == len(CPUFields) {
				full++
			} else {
				partial++
			}
			if reflect.DeepEqual(f.Fields, p.Fields) {
				t.Errorf("rewrite of %v has the same values", k)
			}
		} else {
			first[k] = p
		}
		if i > 0 && p.Time < last {
			backwards++
		}
		last = p.Time
	}
	if len(first) != hosts*n {
		t.Fatalf("%d distinct (host, time), want %d", len(first), hosts*n)
	}
	for i, p := range plain {
		if f := first[key{p.Tags["hostname"], p.Time}]; !reflect.DeepEqual(f, p) {
			t.Fatalf("first write of plain point %d differs: %v vs %v", i, f, p)
		}
	}
	if backwards < hosts*n/20 {
		t.Errorf("only %d points go back in time with 20%% out of order", backwards)
	}
	if partial < 20 || full < 20 {
		t.Errorf("%d partial and %d full rewrites of %d", partial, full, hosts*n/10)
	}
}

func TestCPUDatasetMicroseconds(t *testing.T) {
	start := time.Date(2020, 1, 1, 0, 0, 0, 123456789, time.UTC)
	pts := CPUDataset(2, start, 1500*time.Microsecond, 10, 3, DatasetOptions{Duplicates: 0.5})
	for _, p := range pts {
		if p.Time%1000 != 0 {
			t.Fatalf("time %d is not a whole microsecond", p.Time)
		}
	}
	if pts[0].Time != start.UnixNano()-789 {
		t.Errorf("start %d, want %d", pts[0].Time, start.UnixNano()-789)
	}
	before := time.Unix(0, -1500) // negative times floor too
	if got := CPUDataset(1, before, time.Second, 1, 3, DatasetOptions{})[0].Time; got != -2000 {
		t.Errorf("start before the epoch: %d, want -2000", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for a 1.5µs interval")
		}
	}()
	CPUDataset(1, start, 1500*time.Nanosecond, 1, 1, DatasetOptions{})
}
