package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/internal/testutil/pgoracle"
	"github.com/siltdb/silt/query/sql"
)

// BenchmarkSumFloat measures sum() over an in-memory float column of 10M
// values (the aggregation loop, without the scan).
func BenchmarkSumFloat(b *testing.B) {
	const n = 10_000_000
	cat := sql.MapCatalog{"m": {Fields: []sql.Field{{Name: "v", Type: sql.TypeFloat64}}}}
	q, err := sql.Compile(`SELECT sum(v) FROM m`, cat, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	fc := &fieldCol{typ: sql.TypeFloat64, null: make([]bool, n), f: make([]float64, n)}
	r := rand.New(rand.NewPCG(1, 2))
	for k := range fc.f {
		fc.f[k] = r.Float64() * 100
	}
	tbl := &table{n: n, time: make([]int64, n), tags: map[int]*tagCol{}, flds: map[int]*fieldCol{q.Scan[0].Index: fc}}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		rows, _, err := execute(ctx, q, tbl)
		if err != nil || len(rows) != 1 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
}

// BenchmarkAggKernels measures sum(), min() and max() over in-memory
// bigint and double columns of 10M values without NULLs (the aggregation
// loops, without the scan): the values/s per core the kernels reach. The
// by-tag cases group the rows by a tag of 100 values (group ids built
// from its dictionary ids, then the grouped loop).
func BenchmarkAggKernels(b *testing.B) {
	const n = 10_000_000
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []sql.Type{sql.TypeFloat64, sql.TypeInt64} {
		fc := &fieldCol{typ: typ, null: make([]bool, n)} // nulls 0: read without the NULL vector
		if typ == sql.TypeFloat64 {
			fc.f = make([]float64, n)
			for k := range fc.f {
				fc.f[k] = r.Float64() * 100
			}
		} else {
			fc.i = make([]int64, n)
			for k := range fc.i {
				fc.i[k] = r.Int64N(100)
			}
		}
		cat := sql.MapCatalog{"m": {Tags: []string{"h"}, Fields: []sql.Field{{Name: "v", Type: typ}}}}
		tc := &tagCol{ids: make([]int32, n), null: make([]bool, n), idx: map[string]int32{}}
		for k := range 100 {
			tc.dict = append(tc.dict, fmt.Sprintf("host_%d", k))
		}
		for k := range tc.ids {
			tc.ids[k] = int32(k / (n / 100)) // series after series, as segments hold them
		}
		for _, fn := range []string{"sum", "min", "max", "max-by-tag", "sum-by-tag", "stddev-by-tag"} {
			b.Run(fn+"/"+typ.String(), func(b *testing.B) {
				text, groups := `SELECT `+fn+`(v) FROM m`, 1
				if f, ok := strings.CutSuffix(fn, "-by-tag"); ok {
					text, groups = `SELECT h, `+f+`(v) FROM m GROUP BY h`, 100
				}
				q, err := sql.Compile(text, cat, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				tbl := &table{n: n, time: make([]int64, n), tags: map[int]*tagCol{}, flds: map[int]*fieldCol{}}
				for _, c := range q.Scan {
					switch c.Kind {
					case sql.KindTag:
						tbl.tags[c.Index] = tc
					case sql.KindField:
						tbl.flds[c.Index] = fc
					}
				}
				ctx := context.Background()
				cpu0 := cpuTime()
				for b.Loop() {
					rows, _, err := execute(ctx, q, tbl)
					if err != nil || len(rows) != groups {
						b.Fatal(err, len(rows))
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "values/s")
				// Per second of this process's CPU time: on a loaded
				// machine, the wall clock also counts time the benchmark
				// was not running.
				b.ReportMetric(float64(n)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "values/cpu-s")
			})
		}
	}
}

// BenchmarkTSBS runs TSBS query shapes over the 100-host, one-day dataset
// (864,000 points) in a real engine, scan included.
func BenchmarkTSBS(b *testing.B) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	points := pgoracle.CPUDataset(100, start, 10*time.Second, 8640, 1, pgoracle.DatasetOptions{})
	eng := loadEngine(b, pgoracle.CPUTable, points)
	at := func(h int) string { return "'" + start.Add(time.Duration(h)*time.Hour).Format(time.RFC3339) + "'" }
	cases := map[string]string{
		"single-groupby-1-1-1":  fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu WHERE hostname = 'host_7' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, at(3), at(4)),
		"single-groupby-5-1-12": fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE hostname = 'host_7' AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1`, origin, at(3), at(15)),
		"double-groupby-1":      fmt.Sprintf(`SELECT date_bin('1 hour', time, %s) AS hour, hostname, avg(usage_user) FROM cpu WHERE time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 1, 2`, origin, at(0), at(12)),
		"high-cpu-1":            fmt.Sprintf(`SELECT * FROM cpu WHERE usage_user > 90 AND hostname = 'host_7' AND time >= %s AND time < %s ORDER BY time`, at(0), at(12)),
		"high-cpu-all":          fmt.Sprintf(`SELECT * FROM cpu WHERE usage_user > 90 AND time >= %s AND time < %s`, at(4), at(16)),
		"lastpoint":             `SELECT hostname, last(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname`,
		"groupby-orderby-limit": fmt.Sprintf(`SELECT date_bin('1 minute', time, %s) AS minute, max(usage_user) FROM cpu WHERE time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 5`, origin, at(12)),
	}
	// mem holds the same points in memory: the executor alone
	// (materialization included), without the engine's merge scan.
	mem := memSource{}
	if err := eng.Scan(testDB, pgoracle.CPUTable, func(p *columnar.Point) error {
		c := columnar.Point{Time: p.Time, Tags: slices.Clone(p.Tags), Fields: slices.Clone(p.Fields)}
		mem[pgoracle.CPUTable] = append(mem[pgoracle.CPUTable], c)
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	schemas, _ := eng.Tables(testDB)
	cat, names := Catalog(schemas)
	for _, src := range []string{"engine", "mem"} {
		for _, name := range []string{"single-groupby-1-1-1", "single-groupby-5-1-12", "double-groupby-1", "high-cpu-1", "high-cpu-all", "lastpoint", "groupby-orderby-limit"} {
			b.Run(src+"/"+name, func(b *testing.B) {
				q, err := sql.Compile(cases[name], cat, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				var ps BatchSource = EngineSource{Engine: eng, DB: testDB}
				if src == "mem" {
					ps = mem
				}
				var scanned int64
				for b.Loop() {
					res, err := Run(context.Background(), q, ps, names)
					if err != nil {
						b.Fatal(err)
					}
					scanned = res.Stats.RowsScanned
				}
				b.ReportMetric(float64(scanned)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

// BenchmarkDialect measures dialect expressions over 1M in-memory rows (a
// float field with NULLs, a 100-value tag, a time column over four months):
// each against a plain query of the same shape.
func BenchmarkDialect(b *testing.B) {
	const n = 1_000_000
	cat := sql.MapCatalog{"m": {Tags: []string{"h"}, Fields: []sql.Field{{Name: "v", Type: sql.TypeFloat64}}}}
	r := rand.New(rand.NewPCG(1, 2))
	fc := &fieldCol{typ: sql.TypeFloat64, null: make([]bool, n), f: make([]float64, n)}
	tc := &tagCol{ids: make([]int32, n), null: make([]bool, n), idx: map[string]int32{}}
	for k := 0; k < 100; k++ {
		tc.dict = append(tc.dict, fmt.Sprintf("Host_%d", k))
	}
	times := make([]int64, n)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for k := range fc.f {
		fc.f[k] = r.Float64() * 100
		if k%10 == 3 {
			fc.null[k] = true
			fc.nulls++
		}
		tc.ids[k] = int32(r.IntN(100))
		times[k] = t0 + int64(k)*int64(10*time.Second)
	}
	cases := []struct{ name, q string }{
		{"plain-sum-where", `SELECT sum(v) FROM m WHERE v > 50`},
		{"filter", `SELECT sum(v) FILTER (WHERE v > 50) FROM m`},
		{"case", `SELECT sum(CASE WHEN v > 50 THEN 1 ELSE 0 END) FROM m`},
		{"coalesce-where", `SELECT count(*) FROM m WHERE coalesce(v, 0) > 50`},
		{"plain-group-tag", `SELECT h, count(*) FROM m GROUP BY 1`},
		{"lower-tag-group", `SELECT lower(h), count(*) FROM m GROUP BY 1`},
		{"date_bin-group", `SELECT date_bin('1 day', time, TIMESTAMP '2000-01-01'), avg(v) FROM m GROUP BY 1`},
		{"date_trunc-month-group", `SELECT date_trunc('month', time), avg(v) FROM m GROUP BY 1`},
		{"extract-hour-group", `SELECT extract(hour FROM time), avg(v) FROM m GROUP BY 1`},
		{"round-numeric", `SELECT max(round(v::numeric, 1)) FROM m`},
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q, err := sql.Compile(c.q, cat, time.Now())
			if err != nil {
				b.Fatal(err)
			}
			tbl := &table{n: n, time: times, tags: map[int]*tagCol{}, flds: map[int]*fieldCol{}}
			for _, col := range q.Scan {
				switch col.Kind {
				case sql.KindTag:
					tbl.tags[col.Index] = tc
				case sql.KindField:
					tbl.flds[col.Index] = fc
				}
			}
			for b.Loop() {
				if _, _, err := execute(ctx, q, tbl); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
		})
	}
}
