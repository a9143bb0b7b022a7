package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/compaction"
	"github.com/siltdb/silt/ingest/sink"
	"github.com/siltdb/silt/segment"
)

// noCompactConfig is testConfig without the background compactor, so tests
// decide when Compact runs.
func noCompactConfig(dir string) Config {
	cfg := testConfig(dir)
	cfg.Compaction.Disabled = true
	return cfg
}

func compact(t testing.TB, e *Engine) {
	t.Helper()
	if err := e.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func flush(t testing.TB, e *Engine) {
	t.Helper()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
}

func windowCounts(e *Engine) map[string]int {
	out := map[string]int{}
	for _, s := range e.Manifest().Raw() {
		out[s.DB+"/"+s.Table+"/"+s.Window]++
	}
	return out
}

// segmentFiles lists the files under segments/ (relative to dir).
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(filepath.Join(dir, "segments"), func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// checkNoOrphans fails if a file under segments/ is not in the manifest or
// the manifest names a missing file.
func checkNoOrphans(t testing.TB, e *Engine, dir string) {
	t.Helper()
	var live []string
	for _, s := range e.Manifest().Segments {
		live = append(live, s.Path)
	}
	sort.Strings(live)
	if got := segmentFiles(t, dir); !reflect.DeepEqual(got, live) {
		t.Fatalf("files on disk %v\nmanifest names %v", got, live)
	}
}

// The same point written several times with different values reads as the
// last write before compaction, after it, and after a restart; fields
// merge across versions (a later write of one field keeps the others).
func TestCompactLastWriteWins(t *testing.T) {
	dir := t.TempDir()
	e := open(t, noCompactConfig(dir))
	for v := 1; v <= 5; v++ {
		write(t, e, "db", point{"cpu", "h1", 10, float64(v)}, point{"cpu", fmt.Sprintf("h%d", v+1), 10, 100})
		flush(t, e)
	}
	var b columnar.Batch // a second field written only once, in the oldest segment's era
	b.StartRow([]byte("cpu"), 1)
	b.AddTag([]byte("host"), []byte("h9"))
	b.AddFloat([]byte("v"), 1)
	b.AddFloat([]byte("w"), 7)
	b.EndRow(20)
	if _, err := e.Write("db", &b); err != nil {
		t.Fatal(err)
	}
	flush(t, e)
	write(t, e, "db", point{"cpu", "h9", 20, 2}) // overrides v, keeps w
	flush(t, e)
	check := func(stage string) {
		t.Helper()
		got := dump(t, e, "db")["cpu"]
		if got["h1@10"] != 5 || len(got) != 7 || got["h9@20"] != 2 {
			t.Fatalf("%s: %v", stage, got)
		}
		var w []float64
		if err := e.Scan("db", "cpu", func(p *columnar.Point) error {
			for _, f := range p.Fields {
				if f.Key == "w" {
					w = append(w, math.Float64frombits(f.Num))
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(w, []float64{7}) {
			t.Fatalf("%s: field w %v, want [7]", stage, w)
		}
	}
	check("before compaction")
	if n := len(e.Manifest().Raw()); n != 7 {
		t.Fatalf("%d segments before compaction, want 7", n)
	}
	compact(t, e)
	if n := len(e.Manifest().Raw()); n != 1 {
		t.Fatalf("%d segments after compaction, want 1", n)
	}
	if r := e.Manifest().Segments[0].Rows; r != 7 {
		t.Fatalf("compacted segment has %d rows, want 7 (duplicates merged)", r)
	}
	check("after compaction")
	checkNoOrphans(t, e, dir)
	write(t, e, "db", point{"cpu", "h1", 10, 6})
	flush(t, e)
	compact(t, e)
	if got := dump(t, e, "db")["cpu"]["h1@10"]; got != 6 {
		t.Fatalf("write after compaction: got %v want 6", got)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, noCompactConfig(dir))
	defer e.Close()
	if got := dump(t, e, "db")["cpu"]["h1@10"]; got != 6 {
		t.Fatalf("after restart: got %v want 6", got)
	}
}

// A model of random writes, flushes, compactions (with a policy and memory
// bound small enough to force multi-pass merges and split outputs) and
// crashes: the scan always equals the model.
func TestCompactMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	cfg := noCompactConfig(dir)
	cfg.Compaction.Policy = compaction.Policy{Ratio: 2, FloorRows: 40, TargetRows: 300, L0Max: 2, MaxTail: 3}
	cfg.Compaction.MemoryBytes = 1 // fan-in 2: every merge of 3+ inputs takes passes
	e := open(t, cfg)
	model := map[string]map[string]float64{}
	keys := []string{"c", "a", "b"}
	for round := 0; round < 60; round++ {
		b := modelBatch(rng, model, keys, 40, 4, 2, 60)
		if _, err := e.Write("db", b); err != nil {
			t.Fatal(err)
		}
		switch rng.IntN(6) {
		case 0, 1, 2:
			flush(t, e)
		case 3:
			flush(t, e)
			compact(t, e)
			checkNoOrphans(t, e, dir)
		case 4:
			if err := e.crash(); err != nil {
				t.Fatal(err)
			}
			e = open(t, cfg)
		}
	}
	flush(t, e)
	compact(t, e)
	defer e.Close()
	checkNoOrphans(t, e, dir)
	got := map[string]map[string]float64{}
	var prev *columnar.Point
	tables, _ := e.Tables("db")
	less := comparePoints(tables["m"].Tags)
	err := e.Scan("db", "m", func(p *columnar.Point) error {
		if prev != nil && less(prev, p) >= 0 {
			return fmt.Errorf("out of order or duplicate: %v then %v", prev, p)
		}
		prev = &columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags)}
		var tags []string
		for _, tg := range p.Tags {
			tags = append(tags, tg.Key+"="+tg.Value)
		}
		k := fmt.Sprint(tags, "@", p.Time)
		got[k] = map[string]float64{}
		for _, f := range p.Fields {
			got[k][f.Key] = math.Float64frombits(f.Num)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, model) {
		n := 0
		for k, v := range model {
			if !reflect.DeepEqual(got[k], v) && n < 5 {
				t.Errorf("%s: got %v want %v", k, got[k], v)
				n++
			}
		}
		t.Fatalf("scan differs from model: %d points vs %d", len(got), len(model))
	}
	var rows int64
	for _, s := range e.Manifest().Segments {
		rows += s.Rows
	}
	if rows < int64(len(model)) {
		t.Fatalf("segments hold %d rows for %d points", rows, len(model))
	}
	for w, n := range windowCounts(e) {
		if bound := cfg.Compaction.Policy.WindowBound(rows); n > bound {
			t.Errorf("window %s has %d segments, bound %d", w, n, bound)
		}
	}
}

// A scan that started before a compaction keeps reading the replaced
// segments: they are deleted only when it closes.
func TestCompactWaitsForScans(t *testing.T) {
	dir := t.TempDir()
	e := open(t, noCompactConfig(dir))
	defer e.Close()
	for i := 0; i < compaction.DefaultPolicy.L0Max; i++ { // enough small segments to merge
		write(t, e, "db", gen("cpu", 50, float64(100*i))...)
		flush(t, e)
	}
	var old []string // the files the scan reads (not the rollups: it reads none)
	for _, s := range e.Manifest().Raw() {
		old = append(old, s.Path)
	}
	ts, err := e.OpenScan("db", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	compact(t, e)
	for _, p := range old {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("segment %s deleted while a scan holds it: %v", p, err)
		}
	}
	if e.refs.pending() != len(old) {
		t.Fatalf("%d pending deletes, want %d", e.refs.pending(), len(old))
	}
	n := 0
	if err := ts.Run(func(*columnar.Point) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 50 {
		t.Fatalf("old scan read %d points, want 50", n)
	}
	checkNoOrphans(t, e, dir)
	// The replaced segments' open handles went with their files: only
	// segments the manifest names stay open.
	live := map[uint64]bool{}
	for _, m := range e.Manifest().Segments {
		live[m.ID] = true
	}
	e.refs.mu.Lock()
	for id := range e.refs.mu.open {
		if !live[id] {
			t.Errorf("segment %d is retired but still open", id)
		}
	}
	e.refs.mu.Unlock()
}

// trickleBatches is the 10,000-batch trickle of TestCompactTrickleBound
// (SILT_TRICKLE_BATCHES overrides it).
func trickleBatches() int {
	if s := os.Getenv("SILT_TRICKLE_BATCHES"); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
			return n
		}
	}
	return 10000
}

// trickleFlushEvery is how many batches go into one flush
// (SILT_TRICKLE_FLUSH_EVERY; 1 is the worst case, a segment per batch and
// window, and takes about two minutes here, almost all fsyncs).
func trickleFlushEvery() int {
	if s := os.Getenv("SILT_TRICKLE_FLUSH_EVERY"); s != "" {
		var n int
		if _, err := fmt.Sscan(s, &n); err == nil && n > 0 {
			return n
		}
	}
	return 10
}

// A trickle of tiny out-of-order batches over three windows, flushed every
// few batches, with the background compactor running, leaves at most the
// policy's bound of segments per window once compaction catches up.
func TestCompactTrickleBound(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.Compaction.Interval = 5 * time.Millisecond
	cfg.NoSync = true
	e := open(t, cfg)
	defer e.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	n, every := trickleBatches(), trickleFlushEvery()
	maxSeen := 0
	const hosts = 7
	last := map[string]float64{}
	for i := 0; i < n; i++ {
		var pts []point
		for j := 0; j < 3; j++ {
			// Three windows, times in random order, some points rewritten.
			p := point{"cpu", fmt.Sprintf("h%d", rng.IntN(hosts)), int64(rng.IntN(3))*int64(segment.WindowDuration) + int64(rng.IntN(2000))*1e9, float64(i*10 + j)}
			pts = append(pts, p)
			last[fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
		}
		write(t, e, "db", pts...)
		if i%every == 0 {
			flush(t, e)
		}
		if i%100 == 0 {
			for _, c := range windowCounts(e) {
				maxSeen = max(maxSeen, c)
			}
		}
	}
	flush(t, e)
	compact(t, e)
	counts := windowCounts(e)
	t.Logf("%d batches, a flush every %d: segments per window at the end %v, at most %d seen while the trickle ran", n, every, counts, maxSeen)
	var rows int64
	for _, s := range e.Manifest().Segments {
		rows += s.Rows
	}
	for w, c := range counts {
		if c > compaction.DefaultPolicy.MaxTail {
			t.Errorf("window %s: %d segments, documented bound %d", w, c, compaction.DefaultPolicy.MaxTail)
		}
	}
	if got := dump(t, e, "db")["cpu"]; !reflect.DeepEqual(got, last) {
		t.Fatalf("after the trickle: %d points, want %d", len(got), len(last))
	}
	checkNoOrphans(t, e, dir)
}

// Retention: rows older than the database's retention are invisible at
// once; compaction drops whole expired windows and trims the partly
// expired one; the setting survives a restart.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	e := open(t, noCompactConfig(dir))
	day := int64(segment.WindowDuration)
	now := time.Now().UnixNano()
	today := segment.WindowOf(now)
	var pts []point
	for d := int64(0); d < 5; d++ {
		for h := int64(0); h < 24; h += 2 {
			tm := today - d*day + h*int64(time.Hour)
			if tm < now {
				pts = append(pts, point{"cpu", "h1", tm, float64(tm)})
			}
		}
	}
	write(t, e, "db", pts...)
	flush(t, e)
	before := len(e.Manifest().Segments)
	if err := e.SetRetention("db", 30*time.Hour); err != nil {
		t.Fatal(err)
	}
	cut := time.Now().UnixNano() - int64(30*time.Hour)
	visible := func() map[string]float64 {
		want := map[string]float64{}
		for _, p := range pts {
			if p.t >= cut {
				want[fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
			}
		}
		return want
	}
	if got, want := dump(t, e, "db")["cpu"], visible(); !reflect.DeepEqual(got, want) {
		t.Fatalf("before compaction: %d points visible, want %d", len(got), len(want))
	}
	if got, want := dumpBatches(t, e, "db", "cpu"), visible(); !reflect.DeepEqual(got, want) {
		t.Fatalf("before compaction, column batches: %d points visible, want %d", len(got), len(want))
	}
	compact(t, e)
	if got, want := dump(t, e, "db")["cpu"], visible(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after compaction: %d points visible, want %d", len(got), len(want))
	}
	for _, s := range e.Manifest().Raw() {
		// A window is trimmed once a quarter of it has expired
		// (compaction.TrimDue); until then its expired rows stay on disk,
		// invisible. So which windows must be clean depends on the hour.
		start := segment.WindowOf(s.MinTime)
		if s.MinTime < cut-int64(time.Minute) && cut-start >= int64(segment.WindowDuration)/4 {
			t.Errorf("segment %s still holds expired rows from %d (cutoff %d)", s.Path, s.MinTime, cut)
		}
	}
	if after := len(e.Manifest().Segments); after >= before {
		t.Fatalf("%d segments after retention, %d before", after, before)
	}
	checkNoOrphans(t, e, dir)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e = open(t, noCompactConfig(dir))
	defer e.Close()
	if d, def, ok := e.Retention("db"); !ok || def || d != 30*time.Hour {
		t.Fatalf("retention after restart: %v default=%v ok=%v", d, def, ok)
	}
	if err := e.SetRetention("db", 0); err != nil {
		t.Fatal(err)
	}
	if d, def, _ := e.Retention("db"); d != 0 || def {
		t.Fatalf("infinite retention reads %v default=%v", d, def)
	}
}

// The server default applies to databases without their own retention.
func TestRetentionDefault(t *testing.T) {
	dir := t.TempDir()
	cfg := noCompactConfig(dir)
	cfg.Retention = 48 * time.Hour
	e := open(t, cfg)
	defer e.Close()
	now := time.Now().UnixNano()
	write(t, e, "db", point{"cpu", "h1", now - int64(72*time.Hour), 1}, point{"cpu", "h1", now - int64(time.Hour), 2})
	if got := dump(t, e, "db")["cpu"]; len(got) != 1 {
		t.Fatalf("head: %v, want only the recent point", got)
	}
	flush(t, e)
	compact(t, e)
	if n := len(e.Manifest().Raw()); n != 1 {
		t.Fatalf("%d segments after retention, want 1", n)
	}
	if d, def, ok := e.Retention("db"); !ok || !def || d != 48*time.Hour {
		t.Fatalf("retention %v default=%v ok=%v", d, def, ok)
	}
}

// Writes wait (ErrCompactionBehind, a kind of sink.ErrBackpressure) while a
// window holds more than MaxWindowSegments segments, and resume once
// compaction has merged them.
func TestCompactionBehindThrottlesWrites(t *testing.T) {
	dir := t.TempDir()
	cfg := noCompactConfig(dir)
	cfg.Compaction.MaxWindowSegments = 3
	e := open(t, cfg)
	defer e.Close()
	for i := 0; i < 5; i++ {
		write(t, e, "db", point{"cpu", "h1", int64(i), 1})
		flush(t, e)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Compact(canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact with a canceled context: %v", err)
	}
	var b columnar.Batch
	b.StartRow([]byte("cpu"), 1)
	b.AddFloat([]byte("v"), 1)
	b.EndRow(100)
	if _, err := e.Write("db", &b); !errors.Is(err, ErrCompactionBehind) || !errors.Is(err, sink.ErrBackpressure) {
		t.Fatalf("write with 5 segments in a window (bound 3): %v, want ErrCompactionBehind", err)
	}
	compact(t, e)
	write(t, e, "db", point{"cpu", "h1", 100, 1})
}

// dumpBatches reads db.table's host and v through RunBatches, the query
// path: "host@time" → v.
func dumpBatches(t *testing.T, e *Engine, db, table string) map[string]float64 {
	t.Helper()
	ts, err := e.OpenScan(db, table)
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns = []string{"host", "v"}
	got := map[string]float64{}
	err = ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		take := func(i int) {
			got[fmt.Sprintf("%s@%d", b.Tags[0].Dict[b.Tags[0].IDs[i]], b.Time[i])] = b.Fields[0].F[i]
		}
		for i := range b.Rows() {
			take(i)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
