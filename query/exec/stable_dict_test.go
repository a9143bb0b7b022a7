package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// dictBatch is one batch of stableSource: each row's host (an index into
// hosts, -1 for none) and value, and how its dictionary is given.
type dictBatch struct {
	hosts  []string // the batch's dictionary
	stable bool     // columnar.TagVector.Stable
	ids    []int32
	vals   []int64
}

// stableSource serves dictBatches, times one second apart. An unstable
// batch's dictionary values are views of one buffer that is overwritten
// once fn returns, as a decoder's reused buffer would be: a consumer that
// kept them without copying sees them change.
type stableSource struct {
	batches []dictBatch
	start   time.Time
}

func (s stableSource) ScanBatches(_ context.Context, _ ScanSpec, _ *query.Stats, fn func(*columnar.ColumnBatch) error) error {
	row := 0
	buf := make([]byte, 0, 256)
	for _, db := range s.batches {
		dict := make([]string, len(db.hosts))
		buf = buf[:0]
		for i, h := range db.hosts {
			if db.stable {
				dict[i] = strings.Clone(h)
				continue
			}
			at := len(buf)
			buf = append(buf, h...)
			dict[i] = unsafe.String(&buf[at], len(h))
		}
		b := columnar.ColumnBatch{Len: len(db.ids)}
		for range db.ids {
			b.Time = append(b.Time, s.start.Add(time.Duration(row)*time.Second).UnixNano())
			row++
		}
		b.Tags = []columnar.TagVector{{Name: "host", Dict: dict, IDs: db.ids, Stable: db.stable}}
		b.Fields = []columnar.FieldVector{{Name: "v", Type: columnar.FieldInt, I: db.vals}}
		if err := fn(&b); err != nil {
			return err
		}
		for i := range buf {
			buf[i] = 'X' // the decoder's next batch
		}
	}
	return nil
}

// TestStableDictionaries checks that the executor's table keeps every
// host once and its strings intact whatever mix of stable dictionaries
// (kept without copies, a fresh column filled without lookups) and
// unstable ones (copied, looked up) its batches bring: the counts and sums
// per host, and the host of every row, are those of the rows the source
// was given, computed here from them.
func TestStableDictionaries(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 22))
	var names []string
	for i := range 400 {
		names = append(names, fmt.Sprintf("host_%d", i))
	}
	// wide is a dictionary of 300 of the names, far more than a batch's
	// 40 rows use (a head's every host): the table maps its ids sparsely.
	wide := func(from int) []int {
		ids := rng.Perm(300)
		for k := range ids {
			ids[k] += from
		}
		return ids
	}
	// Each batch's dictionary: some of names, shuffled, overlapping the
	// other batches' so that a value comes back under another id.
	mk := func(stable bool, dict ...int) dictBatch {
		db := dictBatch{stable: stable}
		for _, d := range dict {
			db.hosts = append(db.hosts, names[d])
		}
		for range 40 {
			id := int32(rng.IntN(len(dict)+1)) - 1 // -1: no host
			db.ids = append(db.ids, id)
			db.vals = append(db.vals, int64(rng.IntN(1000)))
		}
		return db
	}
	cases := map[string][]dictBatch{
		// A fresh column from a stable dictionary, then an unstable one
		// (needs the fresh values indexed), then a stable one that is not
		// fresh (its values looked up, not taken as new).
		"stable-unstable-stable": {mk(true, 0, 1, 2), mk(false, 2, 3, 0), mk(true, 3, 4, 1)},
		"stable-stable":          {mk(true, 2, 0, 5), mk(true, 5, 2, 4, 0)},
		"unstable-stable":        {mk(false, 1, 0), mk(true, 0, 1, 3)},
		"one-stable":             {mk(true, 4, 3, 2, 1, 0)},
		// Dictionaries far larger than their batches' rows: stable, then
		// unstable and overlapping it, then a small one.
		"wide": {mk(true, wide(0)...), mk(false, wide(100)...), mk(true, 150, 5, 399)},
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	cat := sql.MapCatalog{"t": {Tags: []string{"host"}, Fields: []sql.Field{{Name: "v", Type: sql.TypeInt64}}}}
	run := func(t *testing.T, src BatchSource, text string) [][]any {
		t.Helper()
		q, err := sql.Compile(text, cat, start.Add(time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		res, err := Run(context.Background(), q, src, []string{"t"})
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		return res.Rows
	}
	for name, batches := range cases {
		t.Run(name, func(t *testing.T) {
			src := stableSource{batches: batches, start: start}
			// The model: each row's host and value, straight from the
			// batches' definitions.
			var hostOf []any
			count, sum := map[string]int64{}, map[string]int64{}
			for _, db := range batches {
				for r, id := range db.ids {
					if id < 0 {
						hostOf = append(hostOf, nil)
						continue
					}
					h := db.hosts[id]
					hostOf = append(hostOf, h)
					count[h]++
					sum[h] += db.vals[r]
				}
			}
			rows := run(t, src, `SELECT host FROM t ORDER BY time`)
			if len(rows) != len(hostOf) {
				t.Fatalf("raw rows: %d, want %d", len(rows), len(hostOf))
			}
			for r := range rows {
				if rows[r][0] != hostOf[r] {
					t.Fatalf("row %d: host %v, want %v", r, rows[r][0], hostOf[r])
				}
			}
			rows = run(t, src, `SELECT host, count(v), sum(v) FROM t WHERE host IS NOT NULL GROUP BY host ORDER BY host`)
			hosts := make([]string, 0, len(count))
			for h := range count {
				hosts = append(hosts, h)
			}
			slices.Sort(hosts)
			if len(rows) != len(hosts) {
				t.Fatalf("groups %v, want one per host of %v", rows, hosts)
			}
			for i, h := range hosts {
				got := fmt.Sprint(rows[i])
				if want := fmt.Sprint([]any{h, count[h], sum[h]}); got != want {
					t.Fatalf("group %d: %s, want %s", i, got, want)
				}
			}
		})
	}
}

// TestHeadTagsKeptWhileHeadGrows checks what the head's Stable
// dictionaries promise: an answer read from the head (its host strings
// kept by the executor without copies) is unchanged after more writes
// grow the head's dictionary, through one reused write batch whose bytes
// every write overwrites, and after a flush retires the head; and each
// answer is the model's, computed from the points written.
func TestHeadTagsKeptWhileHeadGrows(t *testing.T) {
	eng, err := engine.Open(engine.Config{DataDir: t.TempDir(), FlushInterval: time.Hour, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	var b columnar.Batch // reused, as the server's write path reuses its batches
	var model []string   // per point, in time order: "host value"
	write := func(from, n, hosts int) {
		t.Helper()
		var body []byte
		for i := from; i < from+n; i++ {
			host := fmt.Sprintf("host_%03d", i%hosts)
			// Lines of one length: each write's bytes land where the
			// previous write's were.
			body = fmt.Appendf(body, "t,host=%s v=%06di %d\n", host, i, start+int64(i)*int64(time.Second))
			model = append(model, fmt.Sprintf("%s %d", host, i))
		}
		b.Reset()
		lineprotocol.Decode(body, &b, lineprotocol.Options{}, func(e columnar.LineError) { t.Fatalf("line protocol: %v", e) })
		if _, err := eng.Write(testDB, &b); err != nil {
			t.Fatal(err)
		}
		clear(body) // the request's bytes go back to a pool
	}
	read := func() []string {
		t.Helper()
		res, err := runSQL(eng, `SELECT host, v FROM t ORDER BY time`)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(res.Rows))
		for i, r := range res.Rows {
			out[i] = fmt.Sprintf("%v %v", r[0], r[1])
		}
		return out
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d rows, first difference at %d", what, len(got), firstDiffString(got, want))
		}
	}
	write(0, 100, 10)
	res1, err := runSQL(eng, `SELECT host, v FROM t ORDER BY time`)
	if err != nil {
		t.Fatal(err)
	}
	rows1 := res1.Rows
	want1 := slices.Clone(model)
	check("first answer", read(), want1)
	// Hundreds of new hosts: the head's dictionary grows past its
	// capacity (moved), and the write batch's bytes are rewritten.
	for round := range 20 {
		write(100+round*100, 100, 600)
	}
	check("after writes", read(), model)
	if err := eng.Flush(); err != nil {
		t.Fatal(err)
	}
	check("after the flush", read(), model)
	kept := make([]string, len(rows1))
	for i, r := range rows1 {
		kept[i] = fmt.Sprintf("%v %v", r[0], r[1])
	}
	check("the first answer, kept", kept, want1)
}

func firstDiffString(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
