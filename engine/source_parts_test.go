package engine

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
)

// stubHooks answers replay limits from a table (what a Kafka group's tenure
// histories would say) and records the flushes' waits.
type stubHooks struct {
	limits map[string]map[int64]int64 // key → tenure → limit
	mu     sync.Mutex
	awaits []sink.SourceOffsets
	refuse error // returned by AwaitCommitted
}

func (h *stubHooks) ReplayLimit(key string, tenure int64) (int64, bool) {
	l, ok := h.limits[key][tenure]
	return l, ok
}

func (h *stubHooks) AwaitCommitted(offs sink.SourceOffsets) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.awaits = append(h.awaits, cloneOffsets(offs))
	return h.refuse
}

// msg is one consumed message: partition key and offset; its row is the
// point cpu,host=<key> v=<offset> at time offset seconds.
type msg struct {
	key string
	off int64
}

// writeParts writes msgs (grouped by partition in order) in one record
// under tenure, moving the positions in next.
func writeParts(t *testing.T, e *Engine, tenure int64, next sink.SourceOffsets, msgs ...msg) {
	t.Helper()
	var b columnar.Batch
	var parts []sink.SourcePart
	for i, m := range msgs {
		b.StartRow([]byte("cpu"), i+1)
		b.AddTag([]byte("host"), []byte(m.key))
		b.AddFloat([]byte("v"), float64(m.off))
		b.EndRow(m.off * 1e9)
		if len(parts) == 0 || parts[len(parts)-1].Key != m.key {
			parts = append(parts, sink.SourcePart{Key: m.key, Tenure: tenure, Next: -1, FirstLine: i + 1})
		}
		parts[len(parts)-1].Offsets = append(parts[len(parts)-1].Offsets, m.off)
	}
	seen := map[string]bool{}
	for i := range parts {
		if n, ok := next[parts[i].Key]; ok {
			parts[i].Next = n
		}
		seen[parts[i].Key] = true
	}
	for k, n := range next {
		if !seen[k] {
			parts = append(parts, sink.SourcePart{Key: k, Tenure: tenure, Next: n, FirstLine: len(msgs) + 1})
		}
	}
	if _, err := e.WriteParts("db", &b, parts); err != nil {
		t.Fatal(err)
	}
}

func msgs(key string, from, to int64) []msg {
	var out []msg
	for o := from; o < to; o++ {
		out = append(out, msg{key, o})
	}
	return out
}

// want returns the dump of the rows of msgs.
func wantRows(ms ...[]msg) map[string]map[string]float64 {
	var pts []point
	for _, m := range ms {
		for _, x := range m {
			pts = append(pts, point{"cpu", x.key, x.off * 1e9, float64(x.off)})
		}
	}
	return expect(pts...)
}

// Replay drops the rows a later owner of their partition consumed again
// (offset >= the limit of the tenure they were written in), caps the
// partition's position at the limit, keeps other partitions' and later
// tenures' rows, and drops the same rows again at every later replay (the
// WAL still holds them until a flush covers it).
func TestReplayDropsRowsHandedOver(t *testing.T) {
	dir := t.TempDir()
	const p0, p1 = "kafka/t/0", "kafka/t/1"
	hooks := &stubHooks{limits: map[string]map[int64]int64{}}
	cfg := testConfig(dir)
	cfg.Sources = hooks
	e := open(t, cfg)
	// Tenure 5: p0 [100,105) flushed, then p0 [105,110) and p1 [50,53).
	writeParts(t, e, 5, sink.SourceOffsets{p0: 105}, msgs(p0, 100, 105)...)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(hooks.awaits) != 1 || hooks.awaits[0][p0] != 105 {
		t.Fatalf("flush waited for %v, want one wait for %s at 105", hooks.awaits, p0)
	}
	writeParts(t, e, 5, nil, msgs(p0, 105, 108)...) // a poll's first database: no positions
	writeParts(t, e, 5, sink.SourceOffsets{p0: 110, p1: 53}, append(msgs(p0, 108, 110), msgs(p1, 50, 53)...)...)
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}

	// A later tenure of p0 started at 107: rows 107..109 are on its owner.
	hooks.limits[p0] = map[int64]int64{5: 107}
	e = open(t, cfg)
	if got, want := dump(t, e, "db"), wantRows(msgs(p0, 100, 107), msgs(p1, 50, 53)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay with p0 handed over at 107:\n got %v\nwant %v", got, want)
	}
	if got, want := e.SourceOffsets("kafka/"), (sink.SourceOffsets{p0: 107, p1: 53}); !reflect.DeepEqual(got, want) {
		t.Fatalf("positions = %v, want %v", got, want)
	}
	// This node gets p0 back in tenure 8 at 107 and consumes again.
	writeParts(t, e, 8, sink.SourceOffsets{p0: 112}, msgs(p0, 107, 112)...)
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	hooks.limits[p0][8] = 112 // nobody took it over since: the committed offset
	e = open(t, cfg)
	if got, want := dump(t, e, "db"), wantRows(msgs(p0, 100, 112), msgs(p1, 50, 53)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the second replay:\n got %v\nwant %v", got, want)
	}
	if got, want := e.SourceOffsets("kafka/"), (sink.SourceOffsets{p0: 112, p1: 53}); !reflect.DeepEqual(got, want) {
		t.Fatalf("positions = %v, want %v", got, want)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	// Rows in segments are never dropped, whatever the limit says.
	hooks.limits[p0] = map[int64]int64{5: 0, 8: 0}
	e = open(t, cfg)
	defer e.Close()
	if got, want := dump(t, e, "db"), wantRows(msgs(p0, 100, 112), msgs(p1, 50, 53)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a clean close:\n got %v\nwant %v", got, want)
	}
}

// A flush the source refuses (its node lost partitions with rows the group
// had not confirmed) names nothing: no segment file is left, the manifest
// and its positions stay, the rows stay readable in the head and in the
// WAL, and a restart's replay drops the handed-over rows before any flush
// can make them permanent.
func TestFlushRefusedBySource(t *testing.T) {
	dir := t.TempDir()
	const p0 = "kafka/t/0"
	hooks := &stubHooks{limits: map[string]map[int64]int64{}, refuse: errors.New("partition lost")}
	cfg := testConfig(dir)
	cfg.Sources = hooks
	e := open(t, cfg)
	writeParts(t, e, 5, sink.SourceOffsets{p0: 110}, msgs(p0, 100, 110)...)
	if err := e.Flush(); err == nil || !strings.Contains(err.Error(), "partition lost") {
		t.Fatalf("flush = %v, want the source's refusal", err)
	}
	if n := len(e.Manifest().Segments); n != 0 {
		t.Fatalf("manifest names %d segments after a refused flush", n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "segments", "*", "*", "*", "*.parquet"))
	if len(files) != 0 {
		t.Fatalf("segment files left by a refused flush: %v", files)
	}
	if got, want := dump(t, e, "db"), wantRows(msgs(p0, 100, 110)); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows after a refused flush:\n got %v\nwant %v", got, want)
	}
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	// The next owner started at 104.
	hooks.limits[p0] = map[int64]int64{5: 104}
	hooks.refuse = nil
	e = open(t, cfg)
	defer e.Close()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, e, "db"), wantRows(msgs(p0, 100, 104)); !reflect.DeepEqual(got, want) {
		t.Fatalf("after replay:\n got %v\nwant %v", got, want)
	}
	if got := e.Manifest().Sources[p0]; got != 104 {
		t.Fatalf("manifest position %d, want 104", got)
	}
}

// Without hooks (or for keys they do not know) replay keeps every row, and
// records of types 1 and 2 replay as before next to type 4.
func TestReplayPartsWithoutHooks(t *testing.T) {
	dir := t.TempDir()
	e := open(t, testConfig(dir))
	writeParts(t, e, 3, sink.SourceOffsets{"kafka/t/0": 20}, msgs("kafka/t/0", 10, 20)...)
	writeFrom(t, e, "db", sink.SourceOffsets{"nats/s/c": 7}, point{"cpu", "n", 1e9, 1})
	write(t, e, "db", point{"cpu", "w", 2e9, 2})
	if err := e.crash(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir)
	cfg.Sources = &stubHooks{}
	e = open(t, cfg)
	defer e.Close()
	want := wantRows(msgs("kafka/t/0", 10, 20))
	want["cpu"]["n@1000000000"] = 1
	want["cpu"]["w@2000000000"] = 2
	if got := dump(t, e, "db"); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	if got, want := e.SourceOffsets(""), (sink.SourceOffsets{"kafka/t/0": 20, "nats/s/c": 7}); !reflect.DeepEqual(got, want) {
		t.Fatalf("positions = %v, want %v", got, want)
	}
}

func TestPartsRecordRoundTrip(t *testing.T) {
	var b columnar.Batch
	for i := range 3 {
		b.StartRow([]byte("cpu"), i+1)
		b.AddFloat([]byte("v"), float64(i))
		b.EndRow(int64(i))
	}
	parts := []sink.SourcePart{
		{Key: "kafka/a/0", Tenure: 4, Next: -1, FirstLine: 1, Offsets: []int64{7, 9}},
		{Key: "kafka/b/12", Tenure: 1 << 40, Next: 301, FirstLine: 3, Offsets: []int64{300}},
		{Key: "kafka/c/1", Tenure: 0, Next: 5, FirstLine: 4, Offsets: []int64{}},
	}
	rec := appendPartsRecord(nil, "d", &b, parts)
	var got []sink.SourcePart
	var b2 columnar.Batch
	db, err := decodeParts(rec, &b2, &got)
	if err != nil || db != "d" || len(b2.Rows) != 3 || !reflect.DeepEqual(got, parts) {
		t.Fatalf("db=%q rows=%d err=%v\n got %+v\nwant %+v", db, len(b2.Rows), err, got, parts)
	}
	for i := 1; i < len(rec)-1; i++ {
		if _, err := decodeParts(rec[:i], &b2, &got); err == nil {
			t.Fatalf("truncated record of %d bytes decoded", i)
		}
	}
}
