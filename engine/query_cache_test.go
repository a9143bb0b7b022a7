package engine

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// scanBatches reads db.m's host and v through RunBatches (the path the
// query cache serves) as host@time → v.
func scanBatches(t *testing.T, e *Engine, db string) map[string]float64 {
	t.Helper()
	got, _ := scanBatchesMerged(t, e, db)
	return got
}

// scanBatchesMerged is scanBatches, also returning the stretches the scan
// merged point by point (TableScan.SlicesMerged).
func scanBatchesMerged(t *testing.T, e *Engine, db string) (map[string]float64, int) {
	t.Helper()
	ts, err := e.OpenScan(db, "m")
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Close()
	ts.Columns = []string{"host", "v"}
	got := map[string]float64{}
	if err := ts.RunBatches(context.Background(), func(b *columnar.ColumnBatch) error {
		for i := range b.Rows() {
			k := fmt.Sprintf("%s@%d", b.Tags[0].Dict[b.Tags[0].IDs[i]], b.Time[i])
			if _, dup := got[k]; dup {
				return fmt.Errorf("point %s twice", k)
			}
			got[k] = b.Fields[0].F[i]
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got, ts.SlicesMerged
}

func checkModel(t *testing.T, what string, got map[string]float64, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Fatalf("%s: point %s = %v (present %v), want %v", what, k, g, ok, v)
		}
	}
}

// TestQueryCacheReplacedSegments reads a table through a warm query cache
// while compaction, retention and a drop replace its segments, and checks
// every answer against the model of what was written (which an uncached
// engine answers too): the pages of a replaced segment are never served,
// and they leave the cache with their segment.
func TestQueryCacheReplacedSegments(t *testing.T) {
	for _, cacheBytes := range []int64{0, -1, 96 << 10} { // default, off, tiny (evicting)
		t.Run(fmt.Sprint(cacheBytes), func(t *testing.T) {
			cfg := noCompactConfig(t.TempDir())
			cfg.QueryCacheBytes = cacheBytes
			e := open(t, cfg)
			defer e.Close()
			day := int64(24 * time.Hour)
			base := time.Now().Add(-72*time.Hour).UnixNano() / day * day
			model := map[string]float64{}
			put := func(pts []point) {
				write(t, e, "db", pts...)
				for _, p := range pts {
					model[fmt.Sprintf("%s@%d", p.host, p.t)] = p.v
				}
			}
			// Three days of 13 hosts every minute, written in rounds that
			// overwrite each other's points, one segment per round and day.
			for round := range 3 {
				var pts []point
				for i := round; i < 3*1440; i += 2 {
					for h := range 13 {
						pts = append(pts, point{"m", fmt.Sprintf("h%d", h), base + int64(i)*60e9, float64(round*1e6 + i*13 + h)})
					}
				}
				put(pts)
				flush(t, e)
			}
			for i := range 2 { // cold, then warm
				checkModel(t, fmt.Sprintf("read %d", i), scanBatches(t, e, "db"), model)
			}
			st := e.QueryCacheStats()
			switch {
			case cacheBytes < 0 && st != (segment.PageCacheStats{}):
				t.Fatalf("cache off, yet stats %+v", st)
			case cacheBytes >= 0 && (st.Hits == 0 || st.Bytes > st.MaxBytes):
				t.Fatalf("stats %+v: never hit, or over the bound", st)
			}

			compact(t, e)
			if st := e.QueryCacheStats(); st.Pages != 0 {
				t.Fatalf("compaction replaced every segment, yet %d pages of them are cached", st.Pages)
			}
			for i := range 2 {
				checkModel(t, fmt.Sprintf("after compaction, read %d", i), scanBatches(t, e, "db"), model)
			}

			// Retention: the first day expires; compaction drops it.
			if err := e.SetRetention("db", time.Duration(time.Now().UnixNano()-(base+day+day/2))); err != nil {
				t.Fatal(err)
			}
			for k := range model {
				if keyTime(k) < base+day+day/2-int64(time.Minute) {
					delete(model, k)
				}
			}
			compact(t, e)
			got := scanBatches(t, e, "db")
			for k := range got { // the minute at the cut may go either way
				if _, ok := model[k]; !ok {
					if keyTime(k) < base+day+day/2-int64(time.Minute) {
						t.Fatalf("after retention: expired point %s", k)
					}
				}
			}
			for k, v := range model {
				if g, ok := got[k]; ok && g != v {
					t.Fatalf("after retention: point %s = %v, want %v", k, g, v)
				}
			}

			// Drop and write other values at the same times.
			if err := e.DropDatabase("db"); err != nil {
				t.Fatal(err)
			}
			clear(model)
			var pts []point
			for i := range 1440 {
				for h := range 13 {
					pts = append(pts, point{"m", fmt.Sprintf("h%d", h), base + 2*day + int64(i)*60e9, -float64(i*13 + h)})
				}
			}
			put(pts)
			flush(t, e)
			for i := range 2 {
				checkModel(t, fmt.Sprintf("after drop, read %d", i), scanBatches(t, e, "db"), model)
			}
			if st := e.QueryCacheStats(); st.Bytes > st.MaxBytes {
				t.Fatalf("cache over its bound: %+v", st)
			}
		})
	}
}

// keyTime is the time of a host@time key.
func keyTime(k string) int64 {
	_, tm, _ := strings.Cut(k, "@")
	n, _ := strconv.ParseInt(tm, 10, 64)
	return n
}

// TestQueryCacheFlag: --query-cache-bytes takes sizes, 0 turns the cache
// off, and its default reads back as a size.
func TestQueryCacheFlag(t *testing.T) {
	for _, c := range []struct {
		arg  string
		want int64 // queryCacheBytes
		str  string
	}{{"", segment.DefaultPageCacheBytes, "128MiB"}, {"0", 0, "0"}, {"64MiB", 64 << 20, "64MiB"}, {"1000", 1000, "1000"}, {"3GiB", 3 << 30, "3GiB"}} {
		var cfg Config
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		cfg.RegisterFlags(fs)
		var args []string
		if c.arg != "" {
			args = []string{"--query-cache-bytes", c.arg}
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if got := cfg.queryCacheBytes(); got != c.want {
			t.Errorf("%q: cache bytes %d, want %d", c.arg, got, c.want)
		}
		if got := fs.Lookup("query-cache-bytes").Value.String(); got != c.str {
			t.Errorf("%q: flag reads back %q, want %q", c.arg, got, c.str)
		}
	}
}
