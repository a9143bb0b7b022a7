package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var day = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func gen(t testing.TB, d Dataset) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := d.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDatasetSameSeedSameBytes(t *testing.T) {
	for _, f := range []Format{LineProtocol, CSV, TSV} {
		for _, ooo := range []int{0, 7} {
			t.Run(fmt.Sprintf("%s/ooo=%d", f, ooo), func(t *testing.T) {
				d := Dataset{Hosts: 20, Start: day, End: day.Add(10 * time.Minute), Interval: 10 * time.Second, Seed: 5, Format: f, OutOfOrder: ooo}
				a, b := gen(t, d), gen(t, d)
				if !bytes.Equal(a, b) {
					t.Fatal("same dataset gave different bytes")
				}
				d.Seed = 6
				if bytes.Equal(a, gen(t, d)) {
					t.Fatal("different seeds gave the same bytes")
				}
			})
		}
	}
}

// The line protocol of seed 123 must not drift: published results name a
// seed, and a changed generator would silently change the data behind them.
// The digest was taken when the fields became TSBS's integers.
func TestLineProtocolStable(t *testing.T) {
	d := Dataset{Hosts: 50, Start: day, End: day.Add(2 * time.Hour), Interval: 10 * time.Second, Seed: 123}
	got := fmt.Sprintf("%x", sha256.Sum256(gen(t, d)))
	if want := "21195c2685c9c97a545c83ddc014bf5f8c806b133115005aec3cb7d0346328a5"; got != want {
		t.Fatalf("line protocol for seed 123 changed: sha256 %s, was %s", got, want)
	}
}

// row is one generated row, format-independent.
type row struct {
	ts     int64
	tags   string // k=v,... in CPUTags order
	fields [10]float64
}

func parseLP(t *testing.T, b []byte) []row {
	t.Helper()
	var rows []row
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		parts := strings.Split(l, " ")
		if len(parts) != 3 {
			t.Fatalf("line protocol row has %d space-separated parts: %q", len(parts), l)
		}
		tags := strings.Split(parts[0], ",")
		if tags[0] != "cpu" || len(tags) != 11 {
			t.Fatalf("bad measurement and tags: %q", parts[0])
		}
		var r row
		r.tags = strings.Join(tags[1:], ",")
		for i, kv := range strings.Split(parts[1], ",") {
			k, v, _ := strings.Cut(kv, "=")
			if k != CPUFields[i] {
				t.Fatalf("field %d is %q", i, k)
			}
			// TSBS's influx format: integer fields, "58i".
			iv, ok := strings.CutSuffix(v, "i")
			n, err := strconv.ParseInt(iv, 10, 64)
			if !ok || err != nil {
				t.Fatalf("field %s=%s is not a line protocol integer", k, v)
			}
			r.fields[i] = float64(n)
		}
		r.ts, _ = strconv.ParseInt(parts[2], 10, 64)
		rows = append(rows, r)
	}
	return rows
}

func parseDelimited(t *testing.T, b []byte, f Format) []row {
	t.Helper()
	cr := csv.NewReader(bytes.NewReader(b))
	if f == TSV {
		cr.Comma = '\t'
	}
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if f == CSV {
		if want := strings.TrimSuffix(CSVHeader(), "\n"); strings.Join(recs[0], ",") != want {
			t.Fatalf("CSV header %q, want %q", recs[0], want)
		}
		recs = recs[1:]
	}
	var rows []row
	for _, rec := range recs {
		if len(rec) != 21 {
			t.Fatalf("%d columns: %q", len(rec), rec)
		}
		ts, err := time.Parse(time.DateTime, rec[0])
		if err != nil {
			t.Fatal(err)
		}
		r := row{ts: ts.UnixNano()}
		var tags []string
		for i, v := range rec[1:11] {
			tags = append(tags, CPUTags[i]+"="+v)
		}
		r.tags = strings.Join(tags, ",")
		for i, v := range rec[11:] {
			r.fields[i] = mustFloat(t, v)
			if r.fields[i] != float64(int64(r.fields[i])) || strings.Contains(v, ".") {
				t.Fatalf("%s value %q is not an integer", f, v)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Every format and the out-of-order variant hold the same rows: one per
// host per interval, usage values in [0, 100].
func TestDatasetFormatsHoldTheSameRows(t *testing.T) {
	const hosts, intervals = 7, 30
	d := Dataset{Hosts: hosts, Start: day, End: day.Add(intervals * 10 * time.Second), Interval: 10 * time.Second, Seed: 9}
	want := parseLP(t, gen(t, d))
	if len(want) != hosts*intervals || d.Rows() != int64(len(want)) {
		t.Fatalf("%d rows, Rows() says %d, want %d", len(want), d.Rows(), hosts*intervals)
	}
	perHost := map[string]int{}
	for i, r := range want {
		if wantTS := day.Add(time.Duration(i/hosts) * 10 * time.Second).UnixNano(); r.ts != wantTS {
			t.Fatalf("row %d at %d, want %d", i, r.ts, wantTS)
		}
		for _, v := range r.fields {
			if v < 0 || v > 100 {
				t.Fatalf("row %d: usage %v outside [0, 100]", i, v)
			}
		}
		perHost[r.tags]++
	}
	if len(perHost) != hosts {
		t.Fatalf("%d distinct tag sets, want %d", len(perHost), hosts)
	}
	for _, f := range []Format{CSV, TSV} {
		d.Format = f
		if got := parseDelimited(t, gen(t, d), f); !slices.Equal(got, want) {
			t.Errorf("%s rows differ from line protocol rows", f)
		}
	}

	// Out of order: the same rows in another order, each row at most
	// OutOfOrder-1 intervals from its in-order block.
	d.Format, d.OutOfOrder = LineProtocol, 5
	got := parseLP(t, gen(t, d))
	if slices.Equal(got, want) {
		t.Fatal("out-of-order dataset is in order")
	}
	late := 0
	for i := 1; i < len(got); i++ {
		if got[i].ts < got[i-1].ts {
			late++
		}
		block := int64(i/(hosts*5)) * 5
		if off := (got[i].ts - day.UnixNano()) / int64(10*time.Second); off < block || off >= block+5 {
			t.Fatalf("row %d is from interval %d, outside its block [%d, %d)", i, off, block, block+5)
		}
	}
	if late == 0 {
		t.Fatal("no row arrives after a later one")
	}
	cmpRows := func(a, b row) int {
		if a.ts != b.ts {
			return int(a.ts - b.ts)
		}
		return strings.Compare(a.tags, b.tags)
	}
	slices.SortFunc(got, cmpRows)
	slices.SortFunc(want, cmpRows)
	if !slices.Equal(got, want) {
		t.Fatal("out-of-order dataset holds other rows than the in-order one")
	}
}

func TestHighCardinalityHostsAreDistinct(t *testing.T) {
	const hosts = 100000
	g := NewCPU(hosts, day, 10*time.Second, 1)
	b := g.AppendInterval(nil)
	seen := make(map[string]bool, hosts)
	for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		tags, _, _ := bytes.Cut(l, []byte(" "))
		seen[string(tags)] = true
	}
	if len(seen) != hosts {
		t.Fatalf("%d distinct series in one interval, want %d", len(seen), hosts)
	}
}

func TestBatches(t *testing.T) {
	d := Dataset{Hosts: 3, Start: day, End: day.Add(time.Minute), Interval: 10 * time.Second, Seed: 1}
	for _, p := range []Protocol{ProtoInflux, ProtoClickHouse} {
		bodies, err := Batches(d, p, 4)
		if err != nil {
			t.Fatal(err)
		}
		var all []byte
		for i, b := range bodies {
			if n := bytes.Count(b, []byte("\n")); n != 4 && i != len(bodies)-1 {
				t.Fatalf("%s body %d has %d rows, want 4", p, i, n)
			}
			all = append(all, b...)
		}
		f := LineProtocol
		if p == ProtoClickHouse {
			f = TSV
		}
		d.Format = f
		if !bytes.Equal(all, gen(t, d)) {
			t.Fatalf("%s bodies are not the dataset", p)
		}
	}
}

func TestDatasetValidate(t *testing.T) {
	ok := Dataset{Hosts: 1, Start: day, End: day.Add(time.Hour), Interval: time.Second}
	f := func(mut func(*Dataset), wantErr string) {
		t.Helper()
		d := ok
		mut(&d)
		err := d.Validate()
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("Validate() = %v, want an error containing %q", err, wantErr)
		}
	}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	f(func(d *Dataset) { d.Hosts = 0 }, "host")
	f(func(d *Dataset) { d.End = d.Start }, "--start before --end")
	f(func(d *Dataset) { d.Interval = 0 }, "--interval")
	f(func(d *Dataset) { d.Format, d.Interval = TSV, 1500*time.Millisecond }, "whole seconds")
}
