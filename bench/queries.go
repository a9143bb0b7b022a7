package bench

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// QueryTypes are the TSBS cpu-only query types the generator knows, in the
// order reports list them.
var QueryTypes = []string{
	"single-groupby-1-1-1", "single-groupby-1-1-12", "single-groupby-1-8-1",
	"single-groupby-5-1-1", "single-groupby-5-1-12", "single-groupby-5-8-1",
	"cpu-max-all-1", "cpu-max-all-8",
	"double-groupby-1", "double-groupby-5", "double-groupby-all",
	"high-cpu-1", "high-cpu-all",
	"lastpoint", "groupby-orderby-limit",
}

// DefaultQueryTypes are the types `make bench-peers` runs: all of them.
var DefaultQueryTypes = QueryTypes

// Time ranges of the TSBS query types (the same as TSBS's, so figures are
// comparable with published TSBS runs).
const (
	doubleGroupByRange = 12 * time.Hour
	highCPURange       = 12 * time.Hour
	maxAllRange        = 8 * time.Hour
)

// Query is one query instance in every dialect, each in the shape TSBS's
// own query generator writes for that system (cmd/tsbs_generate_queries):
// InfluxQL as TSBS writes it for InfluxDB (Silt's /query and InfluxDB), Silt
// SQL as the same question with the same predicates (hosts as OR-chains),
// ClickHouse SQL as TSBS writes it for ClickHouse, and PromQL as TSBS
// writes it for VictoriaMetrics (empty for the three types TSBS has no
// PromQL for).
type Query struct {
	Type       string
	Seq        int // instance number within its type
	SQL        string
	InfluxQL   string
	ClickHouse string
	// PromQL is the URL query of a Prometheus query_range request:
	// query, start, end (Unix seconds) and step.
	PromQL string `json:",omitempty"`
}

// Text returns the query in dialect "sql", "influxql", "clickhouse" or
// "promql"; "" when the dialect has no such query.
func (q Query) Text(dialect string) string {
	switch dialect {
	case "sql", "pgwire":
		return q.SQL
	case "influxql":
		return q.InfluxQL
	case "clickhouse":
		return q.ClickHouse
	case "promql":
		return q.PromQL
	}
	return ""
}

// QueryGen generates query instances with random hosts and time windows
// inside a dataset's time range. Same seed, same queries.
type QueryGen struct {
	hosts      int
	start, end time.Time
	rng        *rand.Rand
}

// NewQueryGen returns a generator for a dataset of hosts hosts covering
// [start, end).
func NewQueryGen(hosts int, start, end time.Time, seed uint64) *QueryGen {
	return &QueryGen{hosts: hosts, start: start.UTC(), end: end.UTC(),
		rng: rand.New(rand.NewPCG(seed, seed^0x71756572792d6765))}
}

// Generate returns perType instances of each type, grouped by type.
func (g *QueryGen) Generate(types []string, perType int) ([]Query, error) {
	var qs []Query
	for _, t := range types {
		for i := 0; i < perType; i++ {
			q, err := g.Next(t)
			if err != nil {
				return nil, err
			}
			q.Seq = i
			qs = append(qs, q)
		}
	}
	return qs, nil
}

// Next returns a new instance of query type typ.
func (g *QueryGen) Next(typ string) (Query, error) {
	var q Query
	var err error
	var metrics, hosts, hours int
	switch {
	case scan(typ, "single-groupby-%d-%d-%d", &metrics, &hosts, &hours):
		q, err = g.singleGroupBy(metrics, hosts, time.Duration(hours)*time.Hour)
	case scan(typ, "cpu-max-all-%d", &hosts):
		q, err = g.maxAll(hosts)
	case typ == "double-groupby-all":
		q, err = g.doubleGroupBy(len(CPUFields))
	case scan(typ, "double-groupby-%d", &metrics):
		q, err = g.doubleGroupBy(metrics)
	case typ == "high-cpu-all":
		q, err = g.highCPU(0)
	case scan(typ, "high-cpu-%d", &hosts):
		q, err = g.highCPU(hosts)
	case typ == "lastpoint":
		q = g.lastpoint()
	case typ == "groupby-orderby-limit":
		q, err = g.groupByOrderByLimit()
	default:
		return Query{}, fmt.Errorf("unknown query type %q (known: %s)", typ, strings.Join(QueryTypes, ", "))
	}
	if err != nil {
		return Query{}, fmt.Errorf("query type %s: %w", typ, err)
	}
	q.Type = typ
	return q, nil
}

// scan matches s against a pattern of integers and requires all of it to match.
func scan(s, pattern string, args ...any) bool {
	n, err := fmt.Sscanf(s, pattern, args...)
	return err == nil && n == len(args) && fmt.Sprintf(pattern, derefInts(args)...) == s
}

func derefInts(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		out[i] = *a.(*int)
	}
	return out
}

// window returns a random [from, to) of length d inside the dataset,
// starting on a whole minute so every system's buckets line up.
func (g *QueryGen) window(d time.Duration) (time.Time, time.Time, error) {
	span := g.end.Sub(g.start) - d
	if span < 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("needs %v of data, the dataset has %v", d, g.end.Sub(g.start))
	}
	from := g.start.Add(time.Duration(g.rng.Int64N(int64(span) + 1))).Truncate(time.Minute)
	if from.Before(g.start) {
		from = from.Add(time.Minute)
	}
	return from, from.Add(d), nil
}

// randomHosts returns n distinct host names.
func (g *QueryGen) randomHosts(n int) ([]string, error) {
	if n < 1 || n > g.hosts {
		return nil, fmt.Errorf("cannot pick %d of %d hosts", n, g.hosts)
	}
	hosts := make([]string, n)
	for i, h := range g.rng.Perm(g.hosts)[:n] {
		hosts[i] = fmt.Sprintf("host_%d", h)
	}
	return hosts, nil
}

func (g *QueryGen) metrics(n int) ([]string, error) {
	if n < 1 || n > len(CPUFields) {
		return nil, fmt.Errorf("cannot ask for %d of %d metrics", n, len(CPUFields))
	}
	return CPUFields[:n], nil
}

// Dialect helpers. Time literals: RFC 3339 for Silt and InfluxDB (TSBS's
// InfluxQL), "2006-01-02 15:04:05" text for ClickHouse (TSBS's; the server's
// time zone is UTC), Unix seconds for PromQL.
func rfc(t time.Time) string { return "'" + t.Format(time.RFC3339) + "'" }
func chTime(t time.Time) string {
	return "'" + t.Format(time.DateTime) + "'"
}

// orHosts is TSBS's host selection: (hostname = 'a' or hostname = 'b' ...),
// with the "or" spelled as the dialect's generator spells it.
func orHosts(hosts []string, or string) string {
	parts := make([]string, len(hosts))
	for i, h := range hosts {
		parts[i] = "hostname = '" + h + "'"
	}
	return "(" + strings.Join(parts, " "+or+" ") + ")"
}

func aggList(fn string, metrics []string, sep string) string {
	parts := make([]string, len(metrics))
	for i, m := range metrics {
		parts[i] = fn + "(" + m + ")"
	}
	return strings.Join(parts, sep)
}

// chAggList is TSBS's ClickHouse select list: max(usage_user) AS max_usage_user.
func chAggList(fn string, metrics []string) string {
	parts := make([]string, len(metrics))
	for i, m := range metrics {
		parts[i] = fn + "(" + m + ") AS " + fn + "_" + m
	}
	return strings.Join(parts, ", ")
}

// sqlBin is Silt's minute / hour bucket (origin on a whole hour, so buckets
// are the same as InfluxDB's epoch-aligned ones and ClickHouse's toStartOf*).
func sqlBin(d string) string { return "date_bin('" + d + "', time, TIMESTAMP '2000-01-01')" }

// promSelector is TSBS's VictoriaMetrics series selector: the influx
// measurement and field joined by "_" as metric name, one host by "=",
// several by a regex alternation.
func promSelector(metrics, hosts []string) string {
	hc := ""
	switch len(hosts) {
	case 0:
	case 1:
		hc = "hostname='" + hosts[0] + "'"
	default:
		hc = "hostname=~'" + strings.Join(hosts, "|") + "'"
	}
	if len(metrics) == 1 {
		return "cpu_" + metrics[0] + "{" + hc + "}"
	}
	if hc != "" {
		return "{__name__=~'cpu_(" + strings.Join(metrics, "|") + ")', " + hc + "}"
	}
	return "{__name__=~'cpu_(" + strings.Join(metrics, "|") + ")'}"
}

func promRange(query string, from, to time.Time, step time.Duration) string {
	return url.Values{"query": {query}, "start": {strconv.FormatInt(from.Unix(), 10)},
		"end": {strconv.FormatInt(to.Unix(), 10)}, "step": {strconv.Itoa(int(step.Seconds()))}}.Encode()
}

// singleGroupBy: max of the first m metrics per minute for h hosts over d.
func (g *QueryGen) singleGroupBy(m, h int, d time.Duration) (Query, error) {
	ms, err := g.metrics(m)
	if err != nil {
		return Query{}, err
	}
	hosts, err := g.randomHosts(h)
	if err != nil {
		return Query{}, err
	}
	from, to, err := g.window(d)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT %s AS minute, %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY minute ORDER BY minute ASC",
			sqlBin("1 minute"), aggList("max", ms, ", "), orHosts(hosts, "OR"), rfc(from), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT %s from cpu where %s and time >= %s and time < %s group by time(1m)",
			aggList("max", ms, ", "), orHosts(hosts, "or"), rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfMinute(created_at) AS minute, %s FROM cpu WHERE %s AND (created_at >= %s) AND (created_at < %s) GROUP BY minute ORDER BY minute ASC",
			chAggList("max", ms), orHosts(hosts, "OR"), chTime(from), chTime(to)),
		PromQL: promRange(fmt.Sprintf("max(max_over_time(%s[1m])) by (__name__)", promSelector(ms, hosts)), from, to, time.Minute),
	}, nil
}

// maxAll: max of all ten metrics per hour for h hosts over 8 hours.
func (g *QueryGen) maxAll(h int) (Query, error) {
	hosts, err := g.randomHosts(h)
	if err != nil {
		return Query{}, err
	}
	from, to, err := g.window(maxAllRange)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT %s AS hour, %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY hour ORDER BY hour",
			sqlBin("1 hour"), aggList("max", CPUFields, ", "), orHosts(hosts, "OR"), rfc(from), rfc(to)),
		// TSBS joins this one's select list with "," alone.
		InfluxQL: fmt.Sprintf("SELECT %s from cpu where %s and time >= %s and time < %s group by time(1h)",
			aggList("max", CPUFields, ","), orHosts(hosts, "or"), rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfHour(created_at) AS hour, %s FROM cpu WHERE %s AND (created_at >= %s) AND (created_at < %s) GROUP BY hour ORDER BY hour",
			chAggList("max", CPUFields), orHosts(hosts, "OR"), chTime(from), chTime(to)),
		PromQL: promRange(fmt.Sprintf("max(max_over_time(%s[1h])) by (__name__)", promSelector(CPUFields, hosts)), from, to, time.Hour),
	}, nil
}

// doubleGroupBy: mean of the first m metrics per host per hour over 12 hours.
// TSBS's ClickHouse query averages per hour and host in a subquery and
// orders outside it; TSBS joins a tags table there, ours has the tags in
// the table, so the subquery groups by hostname itself.
func (g *QueryGen) doubleGroupBy(m int) (Query, error) {
	ms, err := g.metrics(m)
	if err != nil {
		return Query{}, err
	}
	from, to, err := g.window(doubleGroupByRange)
	if err != nil {
		return Query{}, err
	}
	means := make([]string, len(ms))
	for i, f := range ms {
		means[i] = "mean_" + f
	}
	chAvg := make([]string, len(ms))
	for i, f := range ms {
		chAvg[i] = "avg(" + f + ") AS mean_" + f
	}
	return Query{
		SQL: fmt.Sprintf("SELECT %s AS hour, hostname, %s FROM cpu WHERE time >= %s AND time < %s GROUP BY hour, hostname ORDER BY hour, hostname",
			sqlBin("1 hour"), aggList("avg", ms, ", "), rfc(from), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT %s from cpu where time >= %s and time < %s group by time(1h),hostname",
			aggList("mean", ms, ", "), rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT hour, hostname, %s FROM (SELECT toStartOfHour(created_at) AS hour, hostname, %s FROM cpu WHERE (created_at >= %s) AND (created_at < %s) GROUP BY hour, hostname) AS cpu_avg ORDER BY hour ASC, hostname",
			strings.Join(means, ", "), strings.Join(chAvg, ", "), chTime(from), chTime(to)),
		PromQL: promRange(fmt.Sprintf("avg(avg_over_time(%s[1h])) by (__name__, hostname)", promSelector(ms, nil)), from, to, time.Hour),
	}, nil
}

// highCPU: every row with usage_user above 90 over 12 hours, for h hosts
// (0: all hosts). TSBS has no PromQL for it.
func (g *QueryGen) highCPU(h int) (Query, error) {
	var sqlHosts, influxHosts, chHosts string
	if h > 0 {
		hosts, err := g.randomHosts(h)
		if err != nil {
			return Query{}, err
		}
		sqlHosts = " AND " + orHosts(hosts, "OR")
		influxHosts = "and " + orHosts(hosts, "or")
		chHosts = "AND (" + orHosts(hosts, "OR") + ")"
	}
	from, to, err := g.window(highCPURange)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT * FROM cpu WHERE usage_user > 90.0%s AND time >= %s AND time < %s",
			sqlHosts, rfc(from), rfc(to)),
		// Two spaces before "and time" when all hosts: TSBS's text.
		InfluxQL: fmt.Sprintf("SELECT * from cpu where usage_user > 90.0 %s and time >= %s and time < %s",
			influxHosts, rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT * FROM cpu PREWHERE (usage_user > 90.0) AND (created_at >= %s) AND (created_at <  %s) %s",
			chTime(from), chTime(to), chHosts),
	}, nil
}

// lastpoint: the latest row of every host. TSBS's InfluxQL asks for it as
// the first row of each host's series in descending time order; Silt SQL
// as last(field, time) per host; ClickHouse as the rows whose time is their
// host's latest (TSBS's shape, with the tags in the table instead of a
// joined tags table). TSBS has no PromQL for it.
func (g *QueryGen) lastpoint() Query {
	sqlLast := make([]string, len(CPUFields))
	for i, f := range CPUFields {
		sqlLast[i] = "last(" + f + ", time) AS " + f
	}
	return Query{
		SQL:        "SELECT hostname, " + strings.Join(sqlLast, ", ") + " FROM cpu GROUP BY hostname ORDER BY hostname",
		InfluxQL:   `SELECT * from cpu group by "hostname" order by time desc limit 1`,
		ClickHouse: "SELECT * FROM cpu WHERE (hostname, created_at) IN (SELECT hostname, max(created_at) FROM cpu GROUP BY hostname) ORDER BY hostname ASC, created_at DESC",
	}
}

// groupByOrderByLimit: max usage_user per minute before a random time, five
// minutes. TSBS's InfluxQL has no ORDER BY (so InfluxDB answers the first
// five minutes of the data, timescale/tsbs#114); the SQL dialects order by
// minute descending and answer the last five. Both are what TSBS sends.
// TSBS has no PromQL for it.
func (g *QueryGen) groupByOrderByLimit() (Query, error) {
	_, to, err := g.window(time.Hour)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT %s AS minute, max(usage_user) FROM cpu WHERE time < %s GROUP BY minute ORDER BY minute DESC LIMIT 5",
			sqlBin("1 minute"), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT max(usage_user) from cpu WHERE time < %s group by time(1m) limit 5", rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfMinute(created_at) AS minute, max(usage_user) FROM cpu WHERE created_at < %s GROUP BY minute ORDER BY minute DESC LIMIT 5",
			chTime(to)),
	}, nil
}
