package influxql

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// planBackend has TSBS's cpu table and answers every plan with no rows,
// recording the plans it was given.
type planBackend struct {
	failingBackend
	mu    sync.Mutex
	plans []*sql.Query
}

func (b *planBackend) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	if db != "d" {
		return nil, false
	}
	s := columnar.NewTableSchema()
	for _, t := range []string{"hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"} {
		s.AddTag(t)
	}
	for _, f := range []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"} {
		s.AddField(f, columnar.FieldInt)
	}
	return map[string]*columnar.TableSchema{"cpu": s}, true
}

func (b *planBackend) Run(_ context.Context, _ string, q *sql.Query) (*query.Result, error) {
	b.mu.Lock()
	b.plans = append(b.plans, q)
	b.mu.Unlock()
	return &query.Result{}, nil
}

// planQueries are TSBS's InfluxQL queries and Grafana's, absolute and
// now()-relative.
var planQueries = []string{
	`SELECT * from cpu group by "hostname" order by time desc limit 1`,
	`SELECT last(*) FROM "cpu" GROUP BY "hostname"`,
	`SELECT max(usage_user) from cpu where (hostname = 'host_42') and time >= '2026-01-01T05:00:00Z' and time < '2026-01-01T06:00:00Z' group by time(1m)`,
	`SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) from cpu where (hostname = 'host_1' or hostname = 'host_2') and time >= '2026-01-01T05:00:00Z' and time < '2026-01-01T17:00:00Z' group by time(1h)`,
	`SELECT mean(usage_user) from cpu where time >= '2026-01-01T05:00:00Z' and time < '2026-01-01T17:00:00Z' group by time(1h),hostname`,
	`SELECT * from cpu where usage_user > 90.0 and time >= '2026-01-01T05:00:00Z' and time < '2026-01-01T17:00:00Z'`,
	`SELECT mean("usage_user") FROM "cpu" WHERE time >= now() - 6h GROUP BY time(1m), "hostname" fill(none)`,
	`SELECT last("usage_user") FROM "cpu" WHERE time > now() - 1h GROUP BY "hostname"`,
}

// TestPlanCacheKeepsOnSecondRequest: a request's parse and SQL plans are
// kept on its second time and read from the cache on its third, which
// then plans nothing; the plans given to the backend are the same as
// without the cache. A now()-relative query keeps its parse, but its SQL
// carries the bounds of each request's now(), so its plans differ by
// time and are not found at another time.
func TestPlanCacheKeepsOnSecondRequest(t *testing.T) {
	for _, text := range planQueries {
		plain, cached := &planBackend{}, &planBackend{}
		pc := NewPlanCache(DefaultPlanEntries, DefaultPlanBytes)
		now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		for i := 0; i < 3; i++ {
			req := Request{Query: text, Database: "d", Now: now}
			if _, err := Execute(context.Background(), plain, req); err != nil {
				t.Fatal(err)
			}
			before := pc.Stats()
			req.Plans = pc
			if _, err := Execute(context.Background(), cached, req); err != nil {
				t.Fatal(err)
			}
			after := pc.Stats()
			if i == 2 && after.Misses != before.Misses {
				t.Fatalf("%s: the third request missed %d times", text, after.Misses-before.Misses)
			}
			if i < 2 && after.Hits != before.Hits {
				t.Fatalf("%s: request %d hit the cache", text, i+1)
			}
		}
		if len(plain.plans) != len(cached.plans) || len(plain.plans) == 0 {
			t.Fatalf("%s: %d plans without the cache, %d with", text, len(plain.plans), len(cached.plans))
		}
		for i := range plain.plans {
			if got, want := cached.plans[i].String(), plain.plans[i].String(); got != want {
				t.Fatalf("%s: plan %d\n%s\nwithout the cache\n%s", text, i, got, want)
			}
		}
		// An hour later: the same parse; now()'s bounds plan anew.
		before := pc.Stats()
		later := Request{Query: text, Database: "d", Now: now.Add(time.Hour), Plans: pc}
		if _, err := Execute(context.Background(), cached, later); err != nil {
			t.Fatal(err)
		}
		later.Plans = nil
		if _, err := Execute(context.Background(), plain, later); err != nil {
			t.Fatal(err)
		}
		if got, want := cached.plans[len(cached.plans)-1].String(), plain.plans[len(plain.plans)-1].String(); got != want {
			t.Fatalf("%s an hour later: plan\n%s\nwithout the cache\n%s", text, got, want)
		}
		after := pc.Stats()
		relative := strings.Contains(text, "now()")
		if relative && after.Misses == before.Misses {
			t.Fatalf("%s: an hour later, its plans were found", text)
		}
		if !relative && after.Misses != before.Misses {
			t.Fatalf("%s: an hour later, %d misses", text, after.Misses-before.Misses)
		}
	}
}

// TestPlanCacheKeepsOnlyReads: requests that change anything, bind
// parameters, or fail to parse are parsed every time.
func TestPlanCacheKeepsOnlyReads(t *testing.T) {
	pc := NewPlanCache(DefaultPlanEntries, DefaultPlanBytes)
	for _, text := range []string{
		`SELECT usage_user INTO other FROM cpu`,
		`DROP MEASUREMENT cpu`,
		`SELECT usage_user FROM cpu; DROP MEASUREMENT cpu`,
		`SELEKT 1`,
	} {
		for range 3 {
			_, _, _ = pc.parse(text, nil, func() (*influxql.Query, error) { return influxql.ParseQuery(text) })
		}
		if s := pc.Stats(); s.Hits != 0 {
			t.Fatalf("%s: %d hits", text, s.Hits)
		}
	}
	text := `SELECT usage_user FROM cpu WHERE hostname = $host`
	for range 3 {
		_, _, _ = pc.parse(text, map[string]any{"host": "a"}, func() (*influxql.Query, error) { return influxql.ParseQuery(text) })
	}
	if s := pc.Stats(); s.Hits != 0 {
		t.Fatalf("%s with parameters: %d hits", text, s.Hits)
	}
}

// TestPlanCacheBounds: past its entries or its bytes the cache drops the
// least recently used, and keeps what is used.
func TestPlanCacheBounds(t *testing.T) {
	for _, bound := range []struct {
		entries int
		bytes   int64
	}{{8, DefaultPlanBytes}, {DefaultPlanEntries, 300 << 10}} {
		pc := NewPlanCache(bound.entries, bound.bytes)
		b := &planBackend{}
		hot := planQueries[0]
		for i := range 200 {
			for _, text := range []string{hot, fmt.Sprintf(`SELECT usage_user FROM cpu WHERE hostname = 'host_%d'`, i)} {
				for range 2 {
					if _, err := Execute(context.Background(), b, Request{Query: text, Database: "d", Plans: pc}); err != nil {
						t.Fatal(err)
					}
				}
			}
			s := pc.Stats()
			if s.Entries > bound.entries || s.Bytes > bound.bytes {
				t.Fatalf("bound %+v: %d entries, %d bytes", bound, s.Entries, s.Bytes)
			}
		}
		s := pc.Stats()
		if s.Evictions == 0 {
			t.Fatalf("bound %+v: nothing evicted (%+v)", bound, s)
		}
		before := s.Misses
		if _, err := Execute(context.Background(), b, Request{Query: hot, Database: "d", Plans: pc}); err != nil {
			t.Fatal(err)
		}
		if s := pc.Stats(); s.Misses != before {
			t.Fatalf("bound %+v: the query asked all along was evicted", bound)
		}
	}
}

// TestPlanCacheBytesBoundPlans: an entry counts at least what building
// what it keeps allocated, so the byte bound bounds the memory.
func TestPlanCacheBytesBoundPlans(t *testing.T) {
	pc := NewPlanCache(DefaultPlanEntries, DefaultPlanBytes)
	b := &planBackend{}
	for _, text := range planQueries {
		for range 2 {
			if _, err := Execute(context.Background(), b, Request{Query: text, Database: "d", Plans: pc}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tables, _ := b.Tables("d")
	one := map[string]*columnar.TableSchema{"cpu": tables["cpu"]}
	allocated := func(build func()) int64 {
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const n = 20
		for range n {
			build()
		}
		runtime.ReadMemStats(&m1)
		return int64(m1.TotalAlloc-m0.TotalAlloc) / n
	}
	pc.mu.Lock()
	entries := make([]*planEntry, 0, len(pc.entries))
	for _, e := range pc.entries {
		entries = append(entries, e)
	}
	pc.mu.Unlock()
	plans, queries, rewrites := 0, 0, 0
	for _, e := range entries {
		rewrites += len(e.rewrites)
		var n int64
		switch {
		case e.plan != nil:
			plans++
			sqlText := sqlTextOf(t, e.key, one["cpu"])
			n = allocated(func() { _, _ = compileSQL(one, sqlText, time.Now()) })
		case e.query != nil:
			queries++
			text := strings.TrimPrefix(e.key, "q\x00")
			n = allocated(func() { _, _ = influxql.ParseQuery(text) })
			// and its statements' fields resolved (selectCompiler.prepare)
			for k := range e.rewrites {
				n += allocated(func() { _, _ = k.st.RewriteFields(schemaMapper{"cpu", one["cpu"]}) })
			}
		default:
			continue
		}
		t.Logf("entry of %d bytes, built with %d allocated", e.size, n)
		if e.size < n {
			t.Errorf("an entry counts %d bytes, building it allocated %d: %q", e.size, n, e.key)
		}
	}
	if plans == 0 || queries == 0 {
		t.Fatalf("%d plans, %d parses kept", plans, queries)
	}
	if rewrites == 0 {
		t.Fatal("no statement's rewrite kept")
	}
}

// sqlTextOf is the SQL text of a plan's key (planKey) over cpu of d.
func sqlTextOf(t *testing.T, key string, schema *columnar.TableSchema) string {
	prefix := planKey("d", "cpu", schema, "")
	if !strings.HasPrefix(key, prefix) {
		t.Fatalf("key %q is not over d's cpu", key)
	}
	return key[len(prefix):]
}

// TestPlanKeyNamesRunTogether: names whose bytes run together differently
// make different keys.
func TestPlanKeyNamesRunTogether(t *testing.T) {
	a, b := columnar.NewTableSchema(), columnar.NewTableSchema()
	a.AddTag("ab")
	a.AddTag("c")
	b.AddTag("a")
	b.AddTag("bc")
	if planKey("d", "m", a, "SELECT 1") == planKey("d", "m", b, "SELECT 1") {
		t.Fatal("tags ab, c and a, bc make one key")
	}
	if planKey("d", "mx", a, "SELECT 1") == planKey("dm", "x", a, "SELECT 1") {
		t.Fatal("database d, measurement mx and dm, x make one key")
	}
	f, g := columnar.NewTableSchema(), columnar.NewTableSchema()
	f.AddField("v", columnar.FieldInt)
	g.AddField("v", columnar.FieldFloat)
	if planKey("d", "m", f, "SELECT 1") == planKey("d", "m", g, "SELECT 1") {
		t.Fatal("a field's type is not in the key")
	}
}
