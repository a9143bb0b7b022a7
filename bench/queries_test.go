package bench

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/query/sql"
)

var cpuCatalog = func() sql.MapCatalog {
	ti := sql.TableInfo{Tags: CPUTags}
	for _, f := range CPUFields {
		ti.Fields = append(ti.Fields, sql.Field{Name: f, Type: sql.TypeInt64})
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
	chRE  = regexp.MustCompile(`'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)'`)
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
		prom, err := url.ParseQuery(q.PromQL)
		if err != nil {
			t.Fatal(err)
		}
		others := []string{q.InfluxQL, q.ClickHouse}
		if q.PromQL != "" {
			others = append(others, prom.Get("query"))
		}
		for _, other := range others {
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
		if q.PromQL != "" && len(st) == 2 && (prom.Get("start") != fmt.Sprint(st[0].Unix()) || prom.Get("end") != fmt.Sprint(st[1].Unix())) {
			t.Errorf("%s #%d: time bounds %v in SQL, %s..%s in PromQL", q.Type, q.Seq, st, prom.Get("start"), prom.Get("end"))
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

// The InfluxQL of every type is TSBS's: it parses, selects from cpu, and
// names its hosts as TSBS does, a parenthesized OR-chain of hostname
// equalities ANDed with the time bounds (never an IN list or a regex); the
// Silt SQL and ClickHouse SQL select hosts with the same OR-chain.
func TestInfluxQLIsTSBSShaped(t *testing.T) {
	qs, err := NewQueryGen(100, day, day.Add(24*time.Hour), 3).Generate(QueryTypes, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		st, err := influxql.ParseStatement(q.InfluxQL)
		if err != nil {
			t.Fatalf("%s: %q does not parse: %v", q.Type, q.InfluxQL, err)
		}
		sel, ok := st.(*influxql.SelectStatement)
		if !ok || len(sel.Sources) != 1 || sel.Sources[0].(*influxql.Measurement).Name != "cpu" {
			t.Fatalf("%s: %q is not a SELECT from cpu", q.Type, q.InfluxQL)
		}
		var chains [][]string
		for _, c := range conjuncts(sel.Condition) {
			if p, ok := c.(*influxql.ParenExpr); ok {
				hosts, ok := orChain(p.Expr)
				if !ok {
					t.Fatalf("%s: %s is not an OR-chain of hostname equalities", q.Type, p)
				}
				chains = append(chains, hosts)
			}
		}
		want := hostRE.FindAllString(q.InfluxQL, -1)
		switch {
		case len(want) == 0 && len(chains) != 0:
			t.Errorf("%s: host predicates %v with no host", q.Type, chains)
		case len(want) > 0 && (len(chains) != 1 || !slices.Equal(chains[0], want)):
			t.Errorf("%s: host predicates %v, want one OR-chain of %v", q.Type, chains, want)
		}
		if len(want) > 0 {
			sqlChain := "(hostname = '" + strings.Join(want, "' OR hostname = '") + "')"
			if !strings.Contains(q.SQL, sqlChain) || !strings.Contains(q.ClickHouse, sqlChain) {
				t.Errorf("%s: SQL %q or ClickHouse %q lacks the OR-chain %s", q.Type, q.SQL, q.ClickHouse, sqlChain)
			}
		}
		for _, text := range []string{q.SQL, q.InfluxQL, q.ClickHouse} {
			if strings.Contains(text, " IN ('") || strings.Contains(text, "=~") {
				t.Errorf("%s: hosts by IN list or regex in %q", q.Type, text)
			}
		}
		// Per type, what TSBS's InfluxQL selects and groups by.
		fields := sel.Fields.String()
		dims := sel.Dimensions.String()
		switch {
		case strings.HasPrefix(q.Type, "high-cpu"):
			if fields != "*" || dims != "" || !strings.Contains(q.SQL, "SELECT * FROM cpu") || !strings.Contains(q.ClickHouse, "SELECT * FROM cpu PREWHERE") {
				t.Errorf("%s: TSBS selects * and groups by nothing: %q / %q / %q", q.Type, q.InfluxQL, q.SQL, q.ClickHouse)
			}
		case q.Type == "lastpoint":
			if fields != "*" || dims != "hostname" || sel.Limit != 1 || len(sel.SortFields) != 1 || sel.SortFields[0].Ascending {
				t.Errorf("lastpoint: %q is not TSBS's SELECT * ... GROUP BY hostname ORDER BY time DESC LIMIT 1", q.InfluxQL)
			}
		case q.Type == "groupby-orderby-limit":
			if fields != "max(usage_user)" || dims != "time(1m)" || sel.Limit != 5 || len(sel.SortFields) != 0 {
				t.Errorf("groupby-orderby-limit: %q is not TSBS's (no ORDER BY, LIMIT 5)", q.InfluxQL)
			}
			if !strings.Contains(q.SQL, "ORDER BY minute DESC LIMIT 5") || !strings.Contains(q.ClickHouse, "ORDER BY minute DESC LIMIT 5") {
				t.Errorf("groupby-orderby-limit: the SQL dialects order by minute descending: %q, %q", q.SQL, q.ClickHouse)
			}
		case strings.HasPrefix(q.Type, "double-groupby"):
			if !strings.HasPrefix(fields, "mean(usage_user)") || dims != "time(1h), hostname" {
				t.Errorf("%s: fields %s grouped by %s", q.Type, fields, dims)
			}
		case strings.HasPrefix(q.Type, "cpu-max-all"):
			if strings.Count(fields, "max(") != 10 || dims != "time(1h)" {
				t.Errorf("%s: fields %s grouped by %s", q.Type, fields, dims)
			}
		default: // single-groupby
			if !strings.HasPrefix(fields, "max(usage_user)") || dims != "time(1m)" || sel.Fill != influxql.NullFill {
				t.Errorf("%s: fields %s grouped by %s, fill %v; TSBS groups by time(1m) with the default fill", q.Type, fields, dims, sel.Fill)
			}
		}
	}
}

// Texts TSBS writes verbatim, spacing included (TSBS builds them with
// fmt.Sprintf; a reader comparing with a TSBS query file sees the same).
func TestTSBSVerbatim(t *testing.T) {
	g := NewQueryGen(100, day, day.Add(24*time.Hour), 1)
	lp, _ := g.Next("lastpoint")
	if lp.InfluxQL != `SELECT * from cpu group by "hostname" order by time desc limit 1` {
		t.Errorf("lastpoint: %q", lp.InfluxQL)
	}
	hc, _ := g.Next("high-cpu-all")
	if !regexp.MustCompile(`^SELECT \* from cpu where usage_user > 90\.0  and time >= '[^']+' and time < '[^']+'$`).MatchString(hc.InfluxQL) {
		t.Errorf("high-cpu-all: %q", hc.InfluxQL)
	}
	h1, _ := g.Next("high-cpu-1")
	if !regexp.MustCompile(`^SELECT \* FROM cpu PREWHERE \(usage_user > 90\.0\) AND \(created_at >= '[^']+'\) AND \(created_at <  '[^']+'\) AND \(\(hostname = 'host_\d+'\)\)$`).MatchString(h1.ClickHouse) {
		t.Errorf("high-cpu-1 ClickHouse: %q", h1.ClickHouse)
	}
	sg, _ := g.Next("single-groupby-1-8-1")
	if !regexp.MustCompile(`^SELECT max\(usage_user\) from cpu where \(hostname = 'host_\d+'( or hostname = 'host_\d+'){7}\) and time >= '[^']+' and time < '[^']+' group by time\(1m\)$`).MatchString(sg.InfluxQL) {
		t.Errorf("single-groupby-1-8-1: %q", sg.InfluxQL)
	}
	pq, _ := url.ParseQuery(sg.PromQL)
	if !regexp.MustCompile(`^max\(max_over_time\(cpu_usage_user\{hostname=~'host_\d+(\|host_\d+){7}'\}\[1m\]\)\) by \(__name__\)$`).MatchString(pq.Get("query")) || pq.Get("step") != "60" {
		t.Errorf("single-groupby-1-8-1 PromQL: %v", pq)
	}
	for _, typ := range []string{"lastpoint", "high-cpu-1", "high-cpu-all", "groupby-orderby-limit"} {
		if q, _ := g.Next(typ); q.PromQL != "" {
			t.Errorf("%s: TSBS has no PromQL for it, we wrote %q", typ, q.PromQL)
		}
	}
}

func conjuncts(e influxql.Expr) []influxql.Expr {
	if b, ok := e.(*influxql.BinaryExpr); ok && b.Op == influxql.AND {
		return append(conjuncts(b.LHS), conjuncts(b.RHS)...)
	}
	if e == nil {
		return nil
	}
	return []influxql.Expr{e}
}

// orChain returns the hosts of hostname = 'a' OR hostname = 'b' ..., in order.
func orChain(e influxql.Expr) ([]string, bool) {
	b, ok := e.(*influxql.BinaryExpr)
	if !ok {
		return nil, false
	}
	if b.Op == influxql.OR {
		l, ok1 := orChain(b.LHS)
		r, ok2 := orChain(b.RHS)
		return append(l, r...), ok1 && ok2
	}
	ref, ok1 := b.LHS.(*influxql.VarRef)
	lit, ok2 := b.RHS.(*influxql.StringLiteral)
	if b.Op != influxql.EQ || !ok1 || !ok2 || ref.Val != "hostname" {
		return nil, false
	}
	return []string{lit.Val}, true
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
