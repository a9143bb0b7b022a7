package pgoracle

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestOracle(t *testing.T) {
	t0 := time.Now()
	o := Start(t)
	t.Logf("%s up in %v, database %s", o.Version(), time.Since(t0).Round(time.Millisecond), o.Database())

	t.Run("values", func(t *testing.T) { testValues(t, o) })
	t.Run("cpu", func(t *testing.T) { testCPU(t, o) })
	t.Run("nulls", func(t *testing.T) { testNulls(t, o) })
	t.Run("errors", func(t *testing.T) { testErrors(t, o) })
	t.Run("isolation", func(t *testing.T) {
		o2 := Start(t)
		if o2.c != o.c {
			t.Error("a second Start while the first is open started another cluster")
		}
		if o2.Database() == o.Database() {
			t.Error("two Oracles share a database")
		}
		_, _, err := o2.Query("SELECT count(*) FROM cpu")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
			t.Errorf("cpu of another Oracle's database: %v", err)
		}
	})
}

func mustQuery(t *testing.T, o *Oracle, sql string, args ...any) ([]string, [][]any) {
	t.Helper()
	cols, rows, err := o.Query(sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	return cols, rows
}

func testValues(t *testing.T, o *Oracle) {
	cols, rows := mustQuery(t, o, `SELECT 1::int2 AS a, 2::int4 AS b, 3::int8 AS c, 1.5::float4 AS d,
		0.1::float8 AS e, 2.25::numeric AS f, 'x'::text AS g, 'y'::varchar AS h, true AS i, NULL AS j,
		NULL::float8 AS k, '2020-01-02 03:04:05.123456+02'::timestamptz AS l,
		'2020-01-02 03:04:05.123456'::timestamp AS m, sum(x) AS n, avg(x) AS o, count(*) AS p,
		'1 day 2 hours'::interval AS q, 'NaN'::float8 AS r, '-infinity'::timestamptz AS s,
		18446744073709551615::numeric(20,0) AS t, ARRAY[1,2]::int4[] AS u
		FROM (VALUES (1::bigint), (2::bigint)) v(x)`)
	if want := strings.Split("a b c d e f g h i j k l m n o p q r s t u", " "); !reflect.DeepEqual(cols, want) {
		t.Errorf("columns %v, want %v", cols, want)
	}
	want := []any{int64(1), int64(2), int64(3), 1.5, 0.1, 2.25, "x", "y", true, nil, nil,
		time.Date(2020, 1, 2, 1, 4, 5, 123456000, time.UTC), time.Date(2020, 1, 2, 3, 4, 5, 123456000, time.UTC),
		3.0, 1.5, int64(2), 26 * time.Hour, math.NaN(), "-infinity", 18446744073709551615.0, []any{int64(1), int64(2)}}
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, w := range want {
		g := rows[0][i]
		if wf, ok := w.(float64); ok && math.IsNaN(wf) {
			if gf, ok := g.(float64); !ok || !math.IsNaN(gf) {
				t.Errorf("%s = %#v, want NaN", cols[i], g)
			}
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s = %#v (%T), want %#v (%T)", cols[i], g, g, w, w)
		}
	}
	if tm := rows[0][11].(time.Time); tm.Location() != time.UTC {
		t.Errorf("timestamptz in %v, want UTC", tm.Location())
	}

	_, rows = mustQuery(t, o, "SELECT x FROM generate_series(1, 3) x WHERE x > $1 ORDER BY x", 1)
	if want := [][]any{{int64(2)}, {int64(3)}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("with an argument: %v, want %v", rows, want)
	}
	_, rows = mustQuery(t, o, "SELECT 1 WHERE false")
	if rows == nil || len(rows) != 0 {
		t.Errorf("no rows: %#v, want empty non-nil", rows)
	}
	// Session state persists from call to call.
	if err := o.Exec("SET TimeZone = 'Asia/Tokyo'; SET extra_float_digits = 3"); err != nil {
		t.Fatal(err)
	}
	_, rows = mustQuery(t, o, "SELECT current_setting('TimeZone'), date_trunc('day', '2020-01-01 20:00Z'::timestamptz)")
	if want := []any{"Asia/Tokyo", time.Date(2020, 1, 1, 15, 0, 0, 0, time.UTC)}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("after SET TimeZone: %v, want %v", rows[0], want)
	}
	if err := o.Exec("RESET ALL"); err != nil {
		t.Fatal(err)
	}
	_, rows = mustQuery(t, o, "SELECT current_setting('TimeZone'), current_setting('lc_collate'), current_setting('max_parallel_workers_per_gather')")
	if want := []any{"UTC", "C", "0"}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("settings %v, want %v", rows[0], want)
	}
}

func testCPU(t *testing.T, o *Oracle) {
	const hosts, n = 100, 1000
	t0 := time.Now()
	pts := CPUDataset(hosts, testStart, testInterval, n, 42, DatasetOptions{OutOfOrder: 0.1, Duplicates: 0.05})
	gen := time.Since(t0)
	t0 = time.Now()
	if err := o.LoadPoints(CPUTable, CPUTags, CPUFields, pts); err != nil {
		t.Fatal(err)
	}
	load := time.Since(t0)
	t.Logf("%d points (%d after merging) generated in %v, loaded in %v", len(pts), hosts*n, gen.Round(time.Millisecond), load.Round(time.Millisecond))
	merged := MergeLastWriteWins(pts)

	_, rows := mustQuery(t, o, `SELECT count(*), count(DISTINCT hostname), min(time), max(time), sum(usage_user), sum(usage_idle) FROM cpu`)
	var sumUser, sumIdle float64
	for _, p := range merged {
		sumUser += p.Fields["usage_user"].(float64)
		sumIdle += p.Fields["usage_idle"].(float64)
	}
	r := rows[0]
	if r[0] != int64(len(merged)) || r[0] != int64(hosts*n) || r[1] != int64(hosts) {
		t.Errorf("count %v, hosts %v; want %d, %d", r[0], r[1], len(merged), hosts)
	}
	if want := testStart.Add(time.Duration(n-1) * testInterval); r[2] != testStart || r[3] != want {
		t.Errorf("time from %v to %v, want %v to %v", r[2], r[3], testStart, want)
	}
	for i, want := range []float64{sumUser, sumIdle} {
		if got := r[4+i].(float64); math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("sum %d = %v, want %v", i, got, want)
		}
	}

	// Per-host sums and tags, against Go.
	type agg struct {
		n   int64
		sum float64
		max float64
	}
	byHost := map[string]*agg{}
	for _, p := range merged {
		a := byHost[p.Tags["hostname"]]
		if a == nil {
			a = &agg{}
			byHost[p.Tags["hostname"]] = a
		}
		v := p.Fields["usage_system"].(float64)
		a.n++
		a.sum += v
		a.max = math.Max(a.max, v)
	}
	_, rows = mustQuery(t, o, `SELECT hostname, count(*), sum(usage_system), max(usage_system) FROM cpu GROUP BY hostname ORDER BY hostname`)
	if len(rows) != hosts {
		t.Fatalf("%d hosts", len(rows))
	}
	for _, r := range rows {
		a := byHost[r[0].(string)]
		if a == nil || r[1] != a.n || math.Abs(r[2].(float64)-a.sum) > 1e-9*a.sum || r[3] != a.max {
			t.Errorf("host %v: %v, want %+v", r[0], r[1:], a)
		}
	}
	if rows[0][0] != "host_0" || rows[1][0] != "host_1" || rows[2][0] != "host_10" {
		t.Errorf("ORDER BY hostname is not byte order: %v %v %v", rows[0][0], rows[1][0], rows[2][0])
	}

	// Rewrites: the row has each field's last written value.
	type key struct {
		host string
		time int64
	}
	writes := map[key][]Point{}
	for _, p := range pts {
		k := key{p.Tags["hostname"], p.Time}
		writes[k] = append(writes[k], p)
	}
	checked := 0
	for k, ws := range writes {
		if len(ws) < 2 || len(ws[len(ws)-1].Fields) == len(CPUFields) || checked == 20 {
			continue
		}
		checked++
		want := map[string]any{}
		for _, w := range ws {
			for f, v := range w.Fields {
				want[f] = v
			}
		}
		cols, rows := mustQuery(t, o, "SELECT * FROM cpu WHERE hostname = $1 AND time = $2", k.host, time.Unix(0, k.time))
		if len(rows) != 1 {
			t.Fatalf("%v: %d rows", k, len(rows))
		}
		for i, c := range cols {
			switch {
			case c == "time":
				if rows[0][i] != time.Unix(0, k.time).UTC() {
					t.Errorf("%v: time %v", k, rows[0][i])
				}
			case want[c] != nil:
				if rows[0][i] != want[c] {
					t.Errorf("%v: %s = %v, want %v (last of %d writes)", k, c, rows[0][i], want[c], len(ws))
				}
			default:
				if rows[0][i] != ws[0].Tags[c] {
					t.Errorf("%v: tag %s = %v, want %v", k, c, rows[0][i], ws[0].Tags[c])
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d partially rewritten points", checked)
	}
}

func testNulls(t *testing.T, o *Oracle) {
	fields := []FieldDef{{"f", Float}, {"i", Integer}, {"u", Unsigned}, {"b", Boolean}, {"s", String}}
	pts := []Point{
		{Time: 1000, Tags: map[string]string{"host": "a", "dc": "x"}, Fields: map[string]any{"f": 1.5, "i": int64(-7), "u": uint64(math.MaxUint64), "b": true, "s": "hello"}},
		{Time: 2000, Tags: map[string]string{"host": "a"}, Fields: map[string]any{"f": 2.5}},
		{Time: 3000, Tags: map[string]string{"host": "a", "dc": ""}, Fields: map[string]any{"s": "it's \"q\"\n"}},
		{Time: 2000, Tags: map[string]string{"host": "a"}, Fields: map[string]any{"i": int64(8)}},
		{Time: 4000, Fields: map[string]any{"u": uint64(5), "b": false}},
	}
	if err := o.LoadPoints("mixed table", []string{"host", "dc"}, fields, pts); err != nil {
		t.Fatal(err)
	}
	cols, rows := mustQuery(t, o, `SELECT * FROM "mixed table" ORDER BY time`)
	if want := []string{"time", "host", "dc", "f", "i", "u", "b", "s"}; !reflect.DeepEqual(cols, want) {
		t.Errorf("columns %v, want %v", cols, want)
	}
	ts := func(us int64) time.Time { return time.UnixMicro(us).UTC() }
	want := [][]any{
		{ts(1), "a", "x", 1.5, int64(-7), float64(math.MaxUint64), true, "hello"},
		{ts(2), "a", nil, 2.5, int64(8), nil, nil, nil},
		{ts(3), "a", nil, nil, nil, nil, nil, "it's \"q\"\n"},
		{ts(4), nil, nil, nil, nil, 5.0, false, nil},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("rows:\n got %v\nwant %v", rows, want)
	}
	_, rows = mustQuery(t, o, `SELECT u::text, pg_typeof(u)::text, pg_typeof(i)::text, pg_typeof(f)::text, pg_typeof(time)::text FROM "mixed table" ORDER BY time LIMIT 1`)
	if want := []any{"18446744073709551615", "numeric", "bigint", "double precision", "timestamp with time zone"}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("types %v, want %v", rows[0], want)
	}
	_, rows = mustQuery(t, o, `SELECT count(*), count(f), count(dc), count(host) FROM "mixed table"`)
	if want := []any{int64(4), int64(2), int64(1), int64(3)}; !reflect.DeepEqual(rows[0], want) {
		t.Errorf("counts %v, want %v", rows[0], want)
	}
}

func testErrors(t *testing.T, o *Oracle) {
	fields := []FieldDef{{"f", Float}}
	ok := Point{Time: 1000, Tags: map[string]string{"h": "a"}, Fields: map[string]any{"f": 1.0}}
	for name, c := range map[string]struct {
		tags   []string
		fields []FieldDef
		p      Point
		want   string
	}{
		"nanoseconds":   {[]string{"h"}, fields, Point{Time: 1001, Fields: map[string]any{"f": 1.0}}, "whole microsecond"},
		"field type":    {[]string{"h"}, fields, Point{Time: 1000, Fields: map[string]any{"f": int64(1)}}, "want float"},
		"NaN":           {[]string{"h"}, fields, Point{Time: 1000, Fields: map[string]any{"f": math.NaN()}}, "NaN"},
		"unknown field": {[]string{"h"}, fields, Point{Time: 1000, Fields: map[string]any{"g": 1.0}}, "not declared"},
		"unknown tag":   {nil, fields, ok, "not declared"},
		"no fields":     {[]string{"h"}, fields, Point{Time: 1000, Tags: map[string]string{"h": "b"}}, "no fields"},
		"bad type":      {[]string{"h"}, []FieldDef{{"f", "double"}}, ok, "want float"},
		"tag is field":  {[]string{"f"}, fields, ok, "repeated"},
		"time column":   {[]string{"time"}, fields, ok, "repeated"},
	} {
		err := o.LoadPoints("bad", c.tags, c.fields, []Point{ok, c.p})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	if _, _, err := o.Query("SELECT count(*) FROM bad"); err == nil {
		t.Error("a failed load left its table")
	}
	if err := o.LoadPoints("twice", []string{"h"}, fields, []Point{ok}); err != nil {
		t.Fatal(err)
	}
	if err := o.LoadPoints("twice", []string{"h"}, fields, []Point{ok}); err == nil {
		t.Error("loading an existing table again succeeded")
	}
	_, _, err := o.Query("SELEC 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42601" {
		t.Errorf("syntax error: %v", err)
	}
	if _, rows, err := o.Query("SELECT 1"); err != nil || rows[0][0] != int64(1) {
		t.Errorf("after an error: %v %v", rows, err)
	}
}

// TestRefcount checks that the cluster stops when its last Oracle goes and
// starts again for the next, and that Shutdown under open Oracles is safe.
func TestRefcount(t *testing.T) {
	var dir string
	t.Run("first", func(t *testing.T) {
		o := Start(t)
		dir = o.c.dir
		if _, err := os.Stat(dir); err != nil {
			t.Fatal(err)
		}
	})
	mu.Lock()
	running, n := shared, refs
	mu.Unlock()
	if running != nil || n != 0 {
		t.Fatalf("after the last Oracle: cluster %v, %d references", running, n)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory %s left behind (%v)", dir, err)
	}
	t.Run("shutdown", func(t *testing.T) {
		o := Start(t)
		if o.c.dir == dir {
			t.Error("same directory as the stopped cluster")
		}
		if err := Shutdown(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := o.Query("SELECT 1"); err == nil {
			t.Error("query after Shutdown succeeded")
		}
		o2 := Start(t)
		if _, rows, err := o2.Query("SELECT 1"); err != nil || rows[0][0] != int64(1) {
			t.Errorf("after Shutdown and Start: %v %v", rows, err)
		}
	})
	mu.Lock()
	running = shared
	mu.Unlock()
	if running != nil {
		t.Error("cluster still running after its Oracles' cleanups")
	}
}

// fakeTB records Skip and Fatal and unwinds with a panic.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                        {}
func (f *fakeTB) Cleanup(func())                 {}
func (f *fakeTB) Skip(args ...any)               { f.skipped = fmt.Sprint(args...); panic(f) }
func (f *fakeTB) Fatal(args ...any)              { f.failed = fmt.Sprint(args...); panic(f) }
func (f *fakeTB) Fatalf(format string, a ...any) { f.failed = fmt.Sprintf(format, a...); panic(f) }

func TestUnavailable(t *testing.T) {
	t.Setenv(BinDirEnv, t.TempDir())
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		f := &fakeTB{TB: t}
		func() {
			defer func() {
				if r := recover(); r != f {
					panic(r)
				}
			}()
			Start(f)
		}()
		msg := f.skipped
		if ci == "true" {
			msg = f.failed
			if f.skipped != "" {
				t.Errorf("CI=true: skipped: %s", f.skipped)
			}
		} else if f.failed != "" {
			t.Errorf("failed instead of skipping: %s", f.failed)
		}
		if !strings.Contains(msg, "apt-get install postgresql") {
			t.Errorf("CI=%q: message %q does not name apt-get install postgresql", ci, msg)
		}
	}
}

// TestLoadTSBSDay loads TSBS's day of 100 hosts every 10 s (864,000 points).
func TestLoadTSBSDay(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	o := Start(t)
	t0 := time.Now()
	pts := CPUDataset(100, testStart, 10*time.Second, 8640, 1, DatasetOptions{})
	gen := time.Since(t0)
	t0 = time.Now()
	if err := o.LoadPoints(CPUTable, CPUTags, CPUFields, pts); err != nil {
		t.Fatal(err)
	}
	load := time.Since(t0)
	t.Logf("generated %d points in %v, loaded in %v", len(pts), gen.Round(time.Millisecond), load.Round(time.Millisecond))
	_, rows := mustQuery(t, o, "SELECT count(*) FROM cpu")
	if rows[0][0] != int64(864000) {
		t.Errorf("count %v", rows[0][0])
	}
	// How long the load takes is a figure for the log, not a check: a
	// busy machine would fail a time bound without anything being wrong.
}
