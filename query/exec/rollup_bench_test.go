package exec_test

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/influxql"
	"github.com/siltdb/silt/query/sql"
)

// The rollup benchmarks measure what rollups buy: queries over a
// 30-day, 100-host TSBS cpu dataset answered from rollups next to the same
// queries over raw rows (BenchmarkRollups), and what rollups cost at flush
// and in compaction (BenchmarkRollupFlush, BenchmarkRollupCompaction).
// `make bench-rollups` runs them.
//
// Knobs (environment, because go test has no per-benchmark flags):
//
//   SILT_ROLLBENCH_INTERVAL  the dataset's interval (default 10s, TSBS's:
//                            25.9M rows; 60s loads six times faster)
//   SILT_ROLLBENCH_DAYS      the dataset's days (default 30)
//   SILT_ROLLBENCH_DIR       where the loaded dataset is cached (default
//                            $TMPDIR); a directory per parameters and
//                            storage code, reused across runs

// testDB is the database the benchmarks write.
const testDB = "db"

var rollBenchStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const rollBenchHosts = 100

// quiet drops the engine's log lines (a flush each), which would bury the
// benchmark's output.
var quiet = slog.New(slog.DiscardHandler)

func rollBenchParams(b *testing.B) (days int, interval time.Duration) {
	days, interval = 30, 10*time.Second
	if v := os.Getenv("SILT_ROLLBENCH_DAYS"); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || d < 2 {
			b.Fatalf("SILT_ROLLBENCH_DAYS=%q: want a whole number of days, at least 2", v)
		}
		days = d
	}
	if v := os.Getenv("SILT_ROLLBENCH_INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || time.Hour%d != 0 {
			b.Fatalf("SILT_ROLLBENCH_INTERVAL=%q: want a duration dividing an hour", v)
		}
		interval = d
	}
	return days, interval
}

// rollBench is the dataset of BenchmarkRollups, opened once per process
// (go test -count runs the benchmark function several times) and left
// open until the process exits.
var rollBench struct {
	once    sync.Once
	eng     *engine.Engine
	err     error
	checked map[string]bool // cases whose rollup answer was compared with raw
}

// storageKey hashes the non-test Go sources of the packages that decide
// what a data directory holds, so that a cached dataset written by older
// storage code is never read by newer code.
func storageKey() (string, error) {
	h := sha256.New()
	for _, dir := range []string{"../../columnar", "../../engine", "../../compaction", "../../engine/wal"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			return "", err
		}
		slices.Sort(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				return "", fmt.Errorf("hash storage sources: %w", err)
			}
			h.Write([]byte(f))
			h.Write(raw)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// openRollBench opens the cached dataset, loading it first when the cache
// has none for these parameters and this storage code.
func openRollBench(b *testing.B) *engine.Engine {
	rollBench.once.Do(func() {
		days, interval := rollBenchParams(b)
		key, err := storageKey()
		if err != nil {
			rollBench.err = err
			return
		}
		root := cmp.Or(os.Getenv("SILT_ROLLBENCH_DIR"), os.TempDir())
		prefix := fmt.Sprintf("silt-rollbench-h%d-d%d-i%s-", rollBenchHosts, days, interval)
		dir := filepath.Join(root, prefix+key)
		ready := filepath.Join(dir, "LOADED")
		if _, err := os.Stat(ready); err != nil {
			// Datasets of older storage code are useless now: drop them.
			old, _ := filepath.Glob(filepath.Join(root, prefix+"*"))
			for _, o := range old {
				_ = os.RemoveAll(o)
			}
			start := time.Now()
			st, err := loadRollBench(dir, days, interval)
			if err != nil {
				rollBench.err = err
				return
			}
			// Printed, not logged: a parent benchmark's log is not shown.
			fmt.Printf("rollbench: loaded %s: %d rows in %s (write %s, flush %s, compact %s of %d segments)\n",
				dir, st.rows, time.Since(start).Round(time.Millisecond), st.write.Round(time.Millisecond), st.flush.Round(time.Millisecond),
				st.compact.Round(time.Millisecond), st.segsBefore)
			if err := os.WriteFile(ready, nil, 0o644); err != nil {
				rollBench.err = err
				return
			}
		}
		cfg := engine.Config{DataDir: dir, FlushInterval: time.Hour, NoSync: true, Logger: quiet}
		cfg.Compaction.Disabled = true // the dataset is compacted already; nothing may change under the timings
		rollBench.eng, rollBench.err = engine.Open(cfg)
		rollBench.checked = map[string]bool{}
		if rollBench.err == nil {
			fmt.Print("rollbench: ", storageSummary(rollBench.eng.Manifest()))
		}
	})
	if rollBench.err != nil {
		b.Fatal(rollBench.err)
	}
	return rollBench.eng
}

type loadStats struct {
	rows                  int64
	write, flush, compact time.Duration
	segsBefore            int
}

// loadRollBench writes the dataset into dir through engine.Write in
// batches of a minute of rows, flushing every six hours of data (four
// segments per day window), then compacts.
func loadRollBench(dir string, days int, interval time.Duration) (loadStats, error) {
	var st loadStats
	cfg := engine.Config{DataDir: dir, FlushInterval: time.Hour, NoSync: true, Logger: quiet}
	cfg.Compaction.Disabled = true // compacted below, once
	eng, err := engine.Open(cfg)
	if err != nil {
		return st, err
	}
	g := bench.NewCPU(rollBenchHosts, rollBenchStart, interval, 1)
	steps := int(time.Duration(days) * 24 * time.Hour / interval)
	perBatch := max(1, int(time.Minute/interval))
	perFlush := int(6 * time.Hour / interval)
	var body []byte
	for s := 0; s < steps; {
		t0 := time.Now()
		body = body[:0]
		for k := 0; k < perBatch && s < steps; k++ {
			body = g.AppendInterval(body)
			s++
		}
		var batch columnar.Batch
		var lerr error
		lineprotocol.Decode(body, &batch, lineprotocol.Options{}, func(e columnar.LineError) { lerr = cmp.Or(lerr, error(&e)) })
		if lerr != nil {
			return st, fmt.Errorf("decode generated line protocol: %w", lerr)
		}
		res, err := eng.Write(testDB, &batch)
		if err != nil {
			return st, err
		}
		if len(res.Rejected) > 0 {
			return st, fmt.Errorf("write rejected: %v", res.Rejected[0])
		}
		st.write += time.Since(t0)
		if s%perFlush == 0 || s == steps {
			t0 = time.Now()
			if err := eng.Flush(); err != nil {
				return st, err
			}
			st.flush += time.Since(t0)
		}
	}
	st.rows = int64(steps) * rollBenchHosts
	st.segsBefore = len(eng.Manifest().Segments)
	t0 := time.Now()
	if err := eng.Compact(context.Background()); err != nil {
		return st, err
	}
	st.compact = time.Since(t0)
	return st, eng.Close()
}

// segmentBytes sums the manifest's raw and rollup segments.
func segmentBytes(m *manifest.Manifest) (rawSegs int, rawBytes int64, rollSegs int, rollBytes int64) {
	for _, s := range m.Segments {
		if s.IsRollup() {
			rollSegs++
			rollBytes += s.Bytes
		} else {
			rawSegs++
			rawBytes += s.Bytes
		}
	}
	return
}

// storageSummary describes m's raw and rollup segments: counts, rows and
// bytes, rollups per width and as a share of the raw bytes.
func storageSummary(m *manifest.Manifest) string {
	type sum struct {
		segs        int
		rows, bytes int64
	}
	by := map[int64]*sum{}
	for _, s := range m.Segments {
		t := by[s.Rollup]
		if t == nil {
			t = &sum{}
			by[s.Rollup] = t
		}
		t.segs++
		t.rows += s.Rows
		t.bytes += s.Bytes
	}
	raw := cmp.Or(by[0], &sum{})
	out := fmt.Sprintf("raw: %d segments, %d rows, %d bytes", raw.segs, raw.rows, raw.bytes)
	widths := slices.Sorted(maps.Keys(by))
	for _, w := range widths {
		if w == 0 {
			continue
		}
		t := by[w]
		out += fmt.Sprintf("; %s rollup: %d segments, %d rows, %d bytes (%.1f%% of raw)", time.Duration(w), t.segs, t.rows, t.bytes, 100*float64(t.bytes)/float64(raw.bytes))
	}
	return out + "\n"
}

// rollupCase is one query of BenchmarkRollups, SQL or InfluxQL.
type rollupCase struct {
	name     string
	sql      string
	influxql string
	// rawOK: the query may be answered from raw rows — 1m windows of
	// 10 s data hold 6 rows, below engine.DefaultMinRowsPerWindow, so the
	// engine keeps no 1m rollup for them (it does for denser data).
	rawOK bool
}

func rollupCases(days int) []rollupCase {
	ts := func(t time.Time) string { return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05") + "'" }
	end := rollBenchStart.AddDate(0, 0, days)
	day := rollBenchStart.AddDate(0, 0, days/2)
	return []rollupCase{
		{name: "avg-1h-host-30d", sql: fmt.Sprintf(
			`SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS hour, hostname, avg(usage_user) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1, 2`,
			ts(rollBenchStart), ts(end))},
		// Ragged ends: from 00:17:30 on the first day to 23:54:50 on the
		// last, answered from 1h rollups and raw rows (1m rollups where
		// the data is dense enough to keep them).
		{name: "avg-1h-host-30d-unaligned", sql: fmt.Sprintf(
			`SELECT date_bin('1 hour', time, TIMESTAMP '2000-01-01') AS hour, hostname, avg(usage_user) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1, 2`,
			ts(rollBenchStart.Add(17*time.Minute+30*time.Second)), ts(end.Add(-5*time.Minute-10*time.Second)))},
		{name: "max-1m-host-1d", sql: fmt.Sprintf(
			`SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, hostname, max(usage_user) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1, 2`,
			ts(day), ts(day.AddDate(0, 0, 1))), rawOK: true},
		{name: "influxql-mean-1h-host-30d", influxql: fmt.Sprintf(
			`SELECT mean(usage_user) FROM cpu WHERE time >= '%s' AND time < '%s' GROUP BY time(1h), hostname`,
			rollBenchStart.Format(time.RFC3339), end.Format(time.RFC3339))},
	}
}

// rollupRun is one answer: SQL rows, or InfluxQL series flattened to rows
// (series name and tags first), with the stats of the SQL underneath.
type rollupRun struct {
	rows  [][]any
	stats query.Stats
}

// benchBackend serves the InfluxQL executor from one engine, as the
// server does, from rollups or (raw) from raw rows only; it keeps the
// stats of the last plan run.
type benchBackend struct {
	eng   *engine.Engine
	raw   bool
	stats *query.Stats
}

func (k benchBackend) Databases() []string { return k.eng.Databases() }
func (k benchBackend) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	return k.eng.Tables(db)
}
func (k benchBackend) Run(ctx context.Context, db string, q *sql.Query) (*query.Result, error) {
	schemas, _ := k.eng.Tables(db)
	_, names := exec.Catalog(schemas)
	res, err := exec.Run(ctx, q, exec.EngineSource{Engine: k.eng, DB: db, Raw: k.raw}, names)
	if err == nil {
		*k.stats = res.Stats
	}
	return res, err
}
func (k benchBackend) RunRows(context.Context, *sql.Query, *columnar.ColumnBatch) (*query.Result, error) {
	return nil, errors.New("benchmark backend: no subqueries")
}
func (benchBackend) CreateDatabase(string) error              { return errors.ErrUnsupported }
func (benchBackend) SetRetention(string, time.Duration) error { return errors.ErrUnsupported }
func (benchBackend) Retention(string) (time.Duration, bool)   { return 0, true }
func (benchBackend) DropDatabase(string) error                { return errors.ErrUnsupported }
func (benchBackend) DropMeasurement(string, string) error     { return errors.ErrUnsupported }

func (c rollupCase) run(eng *engine.Engine, raw bool) (rollupRun, error) {
	ctx := context.Background()
	if c.sql != "" {
		schemas, _ := eng.Tables(testDB)
		cat, names := exec.Catalog(schemas)
		q, err := sql.Compile(c.sql, cat, time.Now())
		if err != nil {
			return rollupRun{}, err
		}
		res, err := exec.Run(ctx, q, exec.EngineSource{Engine: eng, DB: testDB, Raw: raw}, names)
		if err != nil {
			return rollupRun{}, err
		}
		return rollupRun{rows: res.Rows, stats: res.Stats}, nil
	}
	var stats query.Stats
	resp, err := influxql.Execute(ctx, benchBackend{eng: eng, raw: raw, stats: &stats}, influxql.Request{Query: c.influxql, Database: testDB})
	if err != nil {
		return rollupRun{}, err
	}
	var rows [][]any
	for _, r := range resp.Results {
		if r.Error != "" {
			return rollupRun{}, errors.New(r.Error)
		}
		for _, s := range r.Series {
			keys := make([]string, 0, len(s.Tags))
			for k := range s.Tags {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			head := []any{s.Name}
			for _, k := range keys {
				head = append(head, k+"="+s.Tags[k])
			}
			for _, v := range s.Values {
				rows = append(rows, append(slices.Clip(head), v...))
			}
		}
	}
	return rollupRun{rows: rows, stats: stats}, nil
}

// sameAnswer compares two answers as sets of rows: equal non-float values,
// floats within 1e-9 relative. "" when they agree.
func sameAnswer(got, want [][]any) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d rows, want %d", len(got), len(want))
	}
	key := func(row []any) string {
		var sb strings.Builder
		for _, v := range row {
			if _, ok := v.(float64); !ok {
				fmt.Fprintf(&sb, "%v\x00", v)
			}
		}
		return sb.String()
	}
	sorted := func(rows [][]any) [][]any {
		out := slices.Clone(rows)
		slices.SortFunc(out, func(a, b []any) int { return strings.Compare(key(a), key(b)) })
		return out
	}
	g, w := sorted(got), sorted(want)
	for i := range g {
		if len(g[i]) != len(w[i]) || key(g[i]) != key(w[i]) {
			return fmt.Sprintf("row %d: %v, want %v", i, g[i], w[i])
		}
		for j := range g[i] {
			a, aok := g[i][j].(float64)
			b, bok := w[i][j].(float64)
			if aok != bok {
				return fmt.Sprintf("row %d column %d: %v, want %v", i, j, g[i][j], w[i][j])
			}
			if aok && !(a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))) {
				return fmt.Sprintf("row %d column %d: %v, want %v (relative difference %.3g)", i, j, a, b, math.Abs(a-b)/math.Max(math.Abs(a), math.Abs(b)))
			}
		}
	}
	return ""
}

// coarsest returns the coarsest rollup width named in a resolution
// ("1h+1m+raw" → 3600 s), 0 for raw rows only: a number b.ReportMetric
// can carry.
func coarsest(resolution string) float64 {
	var w time.Duration
	for _, part := range strings.Split(resolution, "+") {
		if d, err := time.ParseDuration(part); err == nil {
			w = max(w, d)
		}
	}
	return w.Seconds()
}

// BenchmarkRollups runs each query from rollups and (raw) from raw rows
// only over the cached 30-day dataset; before timing a query it checks,
// once per process, that both answers agree.
func BenchmarkRollups(b *testing.B) {
	eng := openRollBench(b)
	days, _ := rollBenchParams(b)
	for _, c := range rollupCases(days) {
		if !rollBench.checked[c.name] {
			rolled, err := c.run(eng, false)
			if err != nil {
				b.Fatalf("%s from rollups: %v", c.name, err)
			}
			raw, err := c.run(eng, true)
			if err != nil {
				b.Fatalf("%s from raw rows: %v", c.name, err)
			}
			if d := sameAnswer(rolled.rows, raw.rows); d != "" {
				b.Fatalf("%s: the rollup answer (resolution %s) differs from the raw one: %s", c.name, rolled.stats.Resolution, d)
			}
			if !c.rawOK && (rolled.stats.Resolution == "raw" || rolled.stats.Resolution == "") {
				b.Fatalf("%s: answered from %q, want rollups", c.name, rolled.stats.Resolution)
			}
			fmt.Printf("rollbench: %s: %d rows agree; rollups: resolution %s, %d rows scanned; raw: resolution %s, %d rows scanned\n",
				c.name, len(raw.rows), rolled.stats.Resolution, rolled.stats.RowsScanned, raw.stats.Resolution, raw.stats.RowsScanned)
			rollBench.checked[c.name] = true
		}
		for _, mode := range []string{"rollup", "raw"} {
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				var last rollupRun
				// Labelled, so that a -cpuprofile of the whole run can be
				// narrowed to the timed queries: -tagfocus=rollbench=rollup.
				pprof.Do(context.Background(), pprof.Labels("rollbench", mode, "case", c.name), func(context.Context) {
					for b.Loop() {
						r, err := c.run(eng, mode == "raw")
						if err != nil {
							b.Fatal(err)
						}
						last = r
					}
				})
				b.ReportMetric(float64(last.stats.RowsScanned), "rows-scanned/op")
				b.ReportMetric(coarsest(last.stats.Resolution), "resolution-s")
			})
		}
	}
}

// writeDay writes one day of the 100-host cpu table at interval into eng,
// flushing every 24h/flushes of data, and returns the rows written.
func writeDay(b *testing.B, eng *engine.Engine, interval time.Duration, flushes int) int64 {
	g := bench.NewCPU(rollBenchHosts, rollBenchStart, interval, 7)
	steps := int(24 * time.Hour / interval)
	perFlush := steps / flushes
	perBatch := max(1, int(time.Minute/interval))
	var body []byte
	for s := 0; s < steps; {
		body = body[:0]
		for k := 0; k < perBatch && s < steps; k++ {
			body = g.AppendInterval(body)
			s++
		}
		var batch columnar.Batch
		lineprotocol.Decode(body, &batch, lineprotocol.Options{}, nil)
		if _, err := eng.Write(testDB, &batch); err != nil {
			b.Fatal(err)
		}
		if flushes > 1 && s%perFlush == 0 && s < steps {
			if err := eng.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
	return int64(steps) * rollBenchHosts
}

func benchEngine(b *testing.B, rollups bool) *engine.Engine {
	cfg := engine.Config{DataDir: b.TempDir(), FlushInterval: time.Hour, NoSync: true, Logger: quiet}
	cfg.Compaction.Disabled = true // compacted by the benchmark
	cfg.Rollups.Disabled = !rollups
	eng, err := engine.Open(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return eng
}

// BenchmarkRollupFlush flushes one day of the 100-host cpu table (864,000
// rows at 10 s) held in the head into segments, with rollups (1m and 1h)
// and without: the flush cost of rollups, and their bytes next to the raw
// segments'.
func BenchmarkRollupFlush(b *testing.B) {
	_, interval := rollBenchParams(b)
	for _, mode := range []string{"on", "off"} {
		b.Run("rollups="+mode, func(b *testing.B) {
			var rows int64
			var m *manifest.Manifest
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				eng := benchEngine(b, mode == "on")
				rows = writeDay(b, eng, interval, 1)
				b.StartTimer()
				if err := eng.Flush(); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				m = eng.Manifest()
				if err := eng.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			_, rawBytes, rollSegs, rollBytes := segmentBytes(m)
			if (mode == "on") != (rollSegs > 0) {
				b.Fatalf("rollups %s: %d rollup segments", mode, rollSegs)
			}
			b.ReportMetric(float64(int64(b.N)*rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(rawBytes), "raw-bytes")
			b.ReportMetric(float64(rollBytes), "rollup-bytes")
			b.ReportMetric(100*float64(rollBytes)/float64(rawBytes), "rollup-%-of-raw")
		})
	}
}

// BenchmarkRollupCompaction compacts one day of the 100-host cpu table
// flushed as eight segments (the default policy merges them into one)
// with the default --compaction.max-memory, rollups on and off: rows/s of
// input, and the process's peak RSS during Compact (VmHWM, restarted
// before each run; base-RSS is the resident set it started from, the Go
// runtime and whatever else the process holds).
func BenchmarkRollupCompaction(b *testing.B) {
	_, interval := rollBenchParams(b)
	for _, mode := range []string{"on", "off"} {
		b.Run("rollups="+mode, func(b *testing.B) {
			var rows int64
			var peak, base int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				eng := benchEngine(b, mode == "on")
				rows = writeDay(b, eng, interval, 8)
				if err := eng.Flush(); err != nil {
					b.Fatal(err)
				}
				before := rawSegments(eng.Manifest())
				bench.ResetPeakRSS()
				base = max(base, bench.PeakRSS())
				b.StartTimer()
				if err := eng.Compact(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				peak = max(peak, bench.PeakRSS())
				if after := rawSegments(eng.Manifest()); after >= before {
					b.Fatalf("compaction left %d raw segments of %d", after, before)
				}
				if err := eng.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(int64(b.N)*rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
			b.ReportMetric(float64(base)/(1<<20), "base-RSS-MiB")
		})
	}
}

func rawSegments(m *manifest.Manifest) int {
	n, _, _, _ := segmentBytes(m)
	return n
}
