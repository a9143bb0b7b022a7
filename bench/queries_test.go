package bench

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/query/sql"
)

var cpuCatalog = func() sql.MapCatalog {
	ti := sql.TableInfo{Tags: CPUTags}
	for _, f := range CPUFields {
		ti.Fields = append(ti.Fields, sql.Field{Name: f, Type: sql.TypeFloat64})
	}
	return sql.MapCatalog{"cpu": ti}
}()

func TestQueriesSameSeedSameQueries(t *testing.T) {
	gen := func(seed uint64) []Query {
		qs, err := NewQueryGen(100, day, day.Add(24*time.Hour), seed).Generate(QueryTypes, 3)
		if err != nil {
			t.Fatal(err)
		}
		return qs
	}
	a := gen(1)
	if !slices.Equal(a, gen(1)) {
		t.Fatal("same seed gave different queries")
	}
	if slices.Equal(a, gen(2)) {
		t.Fatal("different seeds gave the same queries")
	}
}

var (
	hostRE = regexp.MustCompile(`host_\d+`)
	// RFC 3339 in Silt SQL and InfluxQL, DateTime text in ClickHouse SQL.
	rfcRE = regexp.MustCompile(`'(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)'`)
	chRE  = regexp.MustCompile(`toDateTime\('(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)', 'UTC'\)`)
)

func times(t *testing.T, re *regexp.Regexp, layout, text string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		ts, err := time.Parse(layout, m[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ts)
	}
	return out
}

// Every dialect of an instance names the same hosts and the same time
// bounds, the bounds lie in the dataset and span the type's range, and the
// Silt SQL plans against the cpu table.
func TestQueryShapes(t *testing.T) {
	const scale = 100
	end := day.Add(24 * time.Hour)
	want := map[string]struct {
		hosts int           // distinct hosts named; 0: all hosts
		span  time.Duration // upper minus lower time bound; 0: none
		upper bool          // an upper bound only
	}{
		"single-groupby-1-1-1":  {1, time.Hour, false},
		"single-groupby-1-1-12": {1, 12 * time.Hour, false},
		"single-groupby-1-8-1":  {8, time.Hour, false},
		"single-groupby-5-1-1":  {1, time.Hour, false},
		"single-groupby-5-1-12": {1, 12 * time.Hour, false},
		"single-groupby-5-8-1":  {8, time.Hour, false},
		"cpu-max-all-1":         {1, 8 * time.Hour, false},
		"cpu-max-all-8":         {8, 8 * time.Hour, false},
		"double-groupby-1":      {0, 12 * time.Hour, false},
		"double-groupby-5":      {0, 12 * time.Hour, false},
		"double-groupby-all":    {0, 12 * time.Hour, false},
		"high-cpu-1":            {1, 12 * time.Hour, false},
		"high-cpu-all":          {0, 12 * time.Hour, false},
		"lastpoint":             {0, 0, false},
		"groupby-orderby-limit": {0, 0, true},
	}
	if len(want) != len(QueryTypes) {
		t.Fatalf("test covers %d types, generator knows %d", len(want), len(QueryTypes))
	}
	qs, err := NewQueryGen(scale, day, end, 42).Generate(QueryTypes, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		w := want[q.Type]
		hosts := hostRE.FindAllString(q.SQL, -1)
		slices.Sort(hosts)
		if len(slices.Compact(slices.Clone(hosts))) != len(hosts) || len(hosts) != w.hosts {
			t.Errorf("%s #%d: hosts %v, want %d distinct", q.Type, q.Seq, hosts, w.hosts)
		}
		for _, other := range []string{q.InfluxQL, q.ClickHouse} {
			oh := hostRE.FindAllString(other, -1)
			slices.Sort(oh)
			if !slices.Equal(oh, hosts) {
				t.Errorf("%s #%d: hosts %v in SQL, %v in %q", q.Type, q.Seq, hosts, oh, other)
			}
		}
		st := times(t, rfcRE, time.RFC3339, q.SQL)
		if it := times(t, rfcRE, time.RFC3339, q.InfluxQL); !slices.Equal(st, it) {
			t.Errorf("%s #%d: time bounds %v in SQL, %v in InfluxQL", q.Type, q.Seq, st, it)
		}
		if ct := times(t, chRE, time.DateTime, q.ClickHouse); !slices.Equal(st, ct) {
			t.Errorf("%s #%d: time bounds %v in SQL, %v in ClickHouse", q.Type, q.Seq, st, ct)
		}
		switch {
		case w.upper:
			if len(st) != 1 || st[0].After(end) || !st[0].After(day) {
				t.Errorf("%s #%d: bounds %v, want one upper bound inside the data", q.Type, q.Seq, st)
			}
		case w.span == 0:
			if len(st) != 0 {
				t.Errorf("%s #%d: bounds %v, want none", q.Type, q.Seq, st)
			}
		default:
			if len(st) != 2 || st[1].Sub(st[0]) != w.span || st[0].Before(day) || st[1].After(end) || st[0].Second() != 0 {
				t.Errorf("%s #%d: bounds %v, want a %v window on a whole minute inside the data", q.Type, q.Seq, st, w.span)
			}
		}
		if _, err := sql.Compile(q.SQL, cpuCatalog, end); err != nil {
			t.Errorf("%s #%d: Silt cannot plan %q: %v", q.Type, q.Seq, q.SQL, err)
		}
	}
}

// TSBS's InfluxQL groupby-orderby-limit has no ORDER BY and returns the
// first five minutes (timescale/tsbs#114); every dialect of ours asks for
// the latest five.
func TestGroupByOrderByLimitOrdersDescending(t *testing.T) {
	q, err := NewQueryGen(10, day, day.Add(24*time.Hour), 1).Next("groupby-orderby-limit")
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{q.SQL, q.InfluxQL, q.ClickHouse} {
		if !strings.Contains(text, " DESC LIMIT 5") {
			t.Errorf("no ORDER BY ... DESC LIMIT 5 in %q", text)
		}
	}
	if !strings.Contains(q.InfluxQL, "ORDER BY time DESC") {
		t.Errorf("InfluxQL must order by time: %q", q.InfluxQL)
	}
}

func TestQueryGenErrors(t *testing.T) {
	g := NewQueryGen(4, day, day.Add(6*time.Hour), 1)
	for typ, want := range map[string]string{
		"single-groupby-1-8-1":   "cannot pick 8 of 4 hosts",
		"double-groupby-1":       "needs 12h0m0s of data",
		"single-groupby-11-1-1":  "cannot ask for 11 of 10 metrics",
		"no-such-query":          "unknown query type",
		"single-groupby-1-1-1-1": "unknown query type",
	} {
		if _, err := g.Next(typ); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Next(%q) = %v, want an error containing %q", typ, err, want)
		}
	}
}
