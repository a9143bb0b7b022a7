package bench

import (
	"fmt"
	"math/rand/v2"
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

// DefaultQueryTypes are the types `make bench-peers` runs.
var DefaultQueryTypes = []string{
	"single-groupby-1-1-1", "single-groupby-5-1-12", "double-groupby-1", "double-groupby-all",
	"cpu-max-all-8", "high-cpu-1", "high-cpu-all", "lastpoint", "groupby-orderby-limit",
}

// Time ranges of the TSBS query types (the same as TSBS's, so figures are
// comparable with published TSBS runs).
const (
	doubleGroupByRange = 12 * time.Hour
	highCPURange       = 12 * time.Hour
	maxAllRange        = 8 * time.Hour
	// highCPUThreshold is TSBS's "high" usage_user.
	highCPUThreshold = 90.0
)

// Query is one query instance in the three dialects. All three ask the same
// question and return the same rows (in a dialect's own shape: InfluxQL
// splits grouped rows into series).
type Query struct {
	Type       string
	Seq        int // instance number within its type
	SQL        string
	InfluxQL   string
	ClickHouse string
}

// Text returns the query in dialect "sql", "influxql" or "clickhouse".
func (q Query) Text(dialect string) string {
	switch dialect {
	case "sql":
		return q.SQL
	case "influxql":
		return q.InfluxQL
	case "clickhouse":
		return q.ClickHouse
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

// Dialect helpers. Time literals: RFC 3339 for Silt and InfluxDB, the
// server-time-zone DateTime text for ClickHouse (its config sets UTC).
func rfc(t time.Time) string { return "'" + t.Format(time.RFC3339) + "'" }
func chTime(t time.Time) string {
	return "toDateTime('" + t.Format(time.DateTime) + "', 'UTC')"
}

// sqlHosts: one host is "=", which Silt and ClickHouse both serve from an index.
func sqlHosts(hosts []string) string {
	if len(hosts) == 1 {
		return "hostname = '" + hosts[0] + "'"
	}
	return "hostname IN ('" + strings.Join(hosts, "', '") + "')"
}

func influxHosts(hosts []string) string {
	parts := make([]string, len(hosts))
	for i, h := range hosts {
		parts[i] = "hostname = '" + h + "'"
	}
	return "(" + strings.Join(parts, " OR ") + ")"
}

func aggList(fn string, metrics []string) string {
	parts := make([]string, len(metrics))
	for i, m := range metrics {
		parts[i] = fn + "(" + m + ")"
	}
	return strings.Join(parts, ", ")
}

// sqlBin is Silt's minute / hour bucket (origin on a whole hour, so buckets
// are the same as InfluxDB's epoch-aligned ones and ClickHouse's toStartOf*).
func sqlBin(d string) string { return "date_bin('" + d + "', time, TIMESTAMP '2000-01-01')" }

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
		SQL: fmt.Sprintf("SELECT %s AS minute, %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1",
			sqlBin("1 minute"), aggList("max", ms), sqlHosts(hosts), rfc(from), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY time(1m) fill(none)",
			aggList("max", ms), influxHosts(hosts), rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfMinute(time) AS minute, %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY minute ORDER BY minute",
			aggList("max", ms), sqlHosts(hosts), chTime(from), chTime(to)),
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
		SQL: fmt.Sprintf("SELECT %s AS hour, %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY 1 ORDER BY 1",
			sqlBin("1 hour"), aggList("max", CPUFields), sqlHosts(hosts), rfc(from), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY time(1h) fill(none)",
			aggList("max", CPUFields), influxHosts(hosts), rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfHour(time) AS hour, %s FROM cpu WHERE %s AND time >= %s AND time < %s GROUP BY hour ORDER BY hour",
			aggList("max", CPUFields), sqlHosts(hosts), chTime(from), chTime(to)),
	}, nil
}

// doubleGroupBy: mean of the first m metrics per host per hour over 12 hours.
func (g *QueryGen) doubleGroupBy(m int) (Query, error) {
	ms, err := g.metrics(m)
	if err != nil {
		return Query{}, err
	}
	from, to, err := g.window(doubleGroupByRange)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT %s AS hour, hostname, %s FROM cpu WHERE time >= %s AND time < %s GROUP BY 1, 2 ORDER BY 1, 2",
			sqlBin("1 hour"), aggList("avg", ms), rfc(from), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT %s FROM cpu WHERE time >= %s AND time < %s GROUP BY time(1h), hostname fill(none)",
			aggList("mean", ms), rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfHour(time) AS hour, hostname, %s FROM cpu WHERE time >= %s AND time < %s GROUP BY hour, hostname ORDER BY hour, hostname",
			aggList("avg", ms), chTime(from), chTime(to)),
	}, nil
}

// highCPU: every row with usage_user above 90 over 12 hours, for h hosts
// (0: all hosts).
func (g *QueryGen) highCPU(h int) (Query, error) {
	var sqlWhere, influxWhere string
	if h > 0 {
		hosts, err := g.randomHosts(h)
		if err != nil {
			return Query{}, err
		}
		sqlWhere, influxWhere = " AND "+sqlHosts(hosts), " AND "+influxHosts(hosts)
	}
	from, to, err := g.window(highCPURange)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT * FROM cpu WHERE usage_user > %.1f%s AND time >= %s AND time < %s ORDER BY time",
			highCPUThreshold, sqlWhere, rfc(from), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT * FROM cpu WHERE usage_user > %.1f%s AND time >= %s AND time < %s",
			highCPUThreshold, influxWhere, rfc(from), rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT * FROM cpu WHERE usage_user > %.1f%s AND time >= %s AND time < %s ORDER BY time",
			highCPUThreshold, sqlWhere, chTime(from), chTime(to)),
	}, nil
}

// lastpoint: the latest value of every metric for every host.
func (g *QueryGen) lastpoint() Query {
	sqlLast := make([]string, len(CPUFields))
	chLast := make([]string, len(CPUFields))
	for i, f := range CPUFields {
		sqlLast[i] = "last(" + f + ", time)"
		chLast[i] = "argMax(" + f + ", time)"
	}
	return Query{
		SQL:        "SELECT hostname, " + strings.Join(sqlLast, ", ") + " FROM cpu GROUP BY hostname ORDER BY hostname",
		InfluxQL:   "SELECT last(*) FROM cpu GROUP BY hostname",
		ClickHouse: "SELECT hostname, " + strings.Join(chLast, ", ") + " FROM cpu GROUP BY hostname ORDER BY hostname",
	}
}

// groupByOrderByLimit: the five latest minutes before a random time, with
// the max usage_user of each. Unlike TSBS's InfluxQL (timescale/tsbs#114),
// ours orders by time descending, so it returns the latest five minutes and
// not the first five.
func (g *QueryGen) groupByOrderByLimit() (Query, error) {
	_, to, err := g.window(time.Hour)
	if err != nil {
		return Query{}, err
	}
	return Query{
		SQL: fmt.Sprintf("SELECT %s AS minute, max(usage_user) FROM cpu WHERE time < %s GROUP BY 1 ORDER BY 1 DESC LIMIT 5",
			sqlBin("1 minute"), rfc(to)),
		InfluxQL: fmt.Sprintf("SELECT max(usage_user) FROM cpu WHERE time < %s GROUP BY time(1m) fill(none) ORDER BY time DESC LIMIT 5",
			rfc(to)),
		ClickHouse: fmt.Sprintf("SELECT toStartOfMinute(time) AS minute, max(usage_user) FROM cpu WHERE time < %s GROUP BY minute ORDER BY minute DESC LIMIT 5",
			chTime(to)),
	}, nil
}
