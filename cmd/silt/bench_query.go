package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"

	"github.com/siltdb/silt/bench"
)

const benchQueryUsage = `Usage: silt bench query --url URL --dialect sql|pgwire|influxql|clickhouse|promql [flags]

Generates --per-type instances of each TSBS query type (random hosts and time
windows inside the dataset given by --scale/--start/--end, from --seed: the
same flags give the same queries in every dialect), runs each once untimed
(its answer is kept for cross-system checks), then --runs timed times, one
query at a time, and prints min / median / p95 / max milliseconds per type.
Time is wall clock from sending a request to having read its whole answer.
With --server-pid, the server's CPU time during each timed run is measured
too (its threads' run time, to the nanosecond): on a busy machine it moves
far less than the wall time.

With --pair-dialect (and --pair-url), every run of an instance goes to both
dialects, one after the other, which goes first alternating query by query: on a
busy machine both see the same drift, and the median of the paired ratios
(pair over main) is the comparison to read. Answers must agree.

  --dialect sql         Silt: URL/api/v1/sql
  --dialect pgwire      Silt's PostgreSQL listener, the same SQL on one connection
                        (pgx, extended protocol): --url postgres://silt:TOKEN@HOST:5432/DB
  --dialect influxql    Silt or InfluxDB 1.x: URL/query
  --dialect clickhouse  ClickHouse HTTP interface: URL/?database=DB (FORMAT JSONCompact)
  --dialect promql      Prometheus API (VictoriaMetrics): URL/api/v1/query_range

Each dialect's text is what TSBS's query generator writes for that system
(hosts as OR-chains, SELECT * for high-cpu, ...); PromQL has no lastpoint,
high-cpu or groupby-orderby-limit in TSBS, and those are reported n/a.

Types: %s
(default: %s)

Example:
  silt bench query --url http://127.0.0.1:8086 --db benchmark --dialect sql
  silt bench query --url postgres://silt@127.0.0.1:5432/benchmark --dialect pgwire
  silt bench query --url http://127.0.0.1:8086 --dialect sql \
    --pair-url postgres://silt@127.0.0.1:5432/benchmark --pair-dialect pgwire
  silt bench query --dialect clickhouse --types lastpoint --print

Flags:
`

// scheduleInterleaved marks a query file of silt bench compare.
const scheduleInterleaved = "interleaved"

// queryFile is what --json writes.
type queryFile struct {
	System  string `json:"system"`
	Dialect string `json:"dialect"`
	Seed    uint64 `json:"seed"`
	PerType int    `json:"per_type"`
	Runs    int    `json:"runs"`
	// Schedule is "interleaved" when silt bench compare ran the systems
	// interleaved; empty for silt bench query (one system at a time).
	Schedule string             `json:"schedule,omitempty"`
	Types    []bench.TypeResult `json:"types"`
	Queries  []bench.Query      `json:"queries"`
}

func runBenchQuery(args []string) int {
	fs := flag.NewFlagSet("bench query", flag.ContinueOnError)
	df := addDatasetFlags(fs)
	url := fs.String("url", "http://127.0.0.1:8086", "server base URL")
	db := fs.String("db", "benchmark", "database")
	dialect := fs.String("dialect", "sql", "sql, pgwire, influxql, clickhouse or promql (see above)")
	types := fs.String("types", strings.Join(bench.DefaultQueryTypes, ","), "comma-separated query types")
	perType := fs.Int("per-type", 5, "query instances per type (random hosts and windows)")
	runs := fs.Int("runs", 3, "timed runs of each instance")
	qseed := fs.Uint64("query-seed", 1, "seed of the query generator")
	printOnly := fs.Bool("print", false, "print the queries, one a line, and run nothing")
	listTypes := fs.Bool("list-types", false, "print the default query types (comma-separated) and run nothing")
	name := fs.String("name", "", "system name for --json and the summary (default: the URL)")
	jsonOut := fs.String("json", "", "also write timings and answers as JSON to this file (for silt bench report)")
	pairURL := fs.String("pair-url", "", "with --pair-dialect: the second system's URL (default: --url)")
	pairDialect := fs.String("pair-dialect", "", "run every query in this dialect too, paired run by run with --dialect (see above)")
	serverPID := fs.Int("server-pid", 0, "the server's process id on this machine: also measure its CPU per timed run (/proc/PID/task/*/schedstat) and print the median (also for --pair-dialect without --pair-url)")
	usage := fmt.Sprintf(benchQueryUsage, strings.Join(bench.QueryTypes, ", "), strings.Join(bench.DefaultQueryTypes, ","))
	if code, ok := parseFlags(fs, usage, args); !ok {
		return code
	}
	if *listTypes {
		fmt.Println(strings.Join(bench.DefaultQueryTypes, ","))
		return 0
	}
	d, err := df.dataset()
	if err == nil && (*perType < 1 || *runs < 1) {
		err = fmt.Errorf("need --per-type >= 1 and --runs >= 1")
	}
	if err == nil && !slices.Contains(bench.Dialects, *dialect) {
		err = fmt.Errorf("unknown --dialect %q (want %s)", *dialect, strings.Join(bench.Dialects, ", "))
	}
	if err == nil && *pairDialect != "" && !slices.Contains(bench.Dialects, *pairDialect) {
		err = fmt.Errorf("unknown --pair-dialect %q (want %s)", *pairDialect, strings.Join(bench.Dialects, ", "))
	}
	if err == nil && *pairURL != "" && *pairDialect == "" {
		err = fmt.Errorf("--pair-url needs --pair-dialect")
	}
	var qs []bench.Query
	if err == nil {
		qs, err = bench.NewQueryGen(d.Hosts, d.Start, d.End, *qseed).Generate(strings.Split(*types, ","), *perType)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench query:", err)
		return 2
	}
	if *printOnly {
		for _, q := range qs {
			fmt.Printf("-- %s #%d\n%s;\n", q.Type, q.Seq, q.Text(*dialect))
		}
		return 0
	}
	pairName := *name
	if *name == "" {
		*name = *url
		pairName = *pairURL
		if pairName == "" {
			pairName = *url
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cs := []*bench.Client{{URL: *url, DB: *db, Dialect: *dialect, HTTP: &http.Client{}, ServerPID: *serverPID}}
	if *pairDialect != "" {
		u, pid := *pairURL, 0
		if u == "" {
			u, pid = *url, *serverPID
		}
		cs = append(cs, &bench.Client{URL: u, DB: *db, Dialect: *pairDialect, HTTP: &http.Client{}, ServerPID: pid})
	}
	for _, c := range cs {
		defer c.Close()
	}
	bar := bench.NewProgress("query "+*name, int64(len(cs)*len(qs)*(*runs+1)), "queries", false)
	all, ratios := bench.RunQueriesPaired(ctx, cs, qs, *runs, func(done, _ int) { bar.Set(int64(done)) })
	bar.Done()
	res := all[0]
	failed := printQueryResults(*name, *dialect, *perType, *runs, res)
	if len(cs) > 1 {
		failed = printQueryResults(pairName, *pairDialect, *perType, *runs, all[1]) || failed
		fmt.Printf("%s over %s, median of the paired runs' ratios:\n", *pairDialect, *dialect)
		for k, tr := range res {
			if tr.Unsupported || all[1][k].Unsupported {
				continue
			}
			fmt.Printf("%-24s %9.2f\n", tr.Type, bench.Median(ratios[tr.Type]))
			for i, a := range tr.Answers {
				if i < len(all[1][k].Answers) {
					if err := a.Agrees(all[1][k].Answers[i]); err != nil {
						failed = true
						fmt.Fprintf(os.Stderr, "silt bench query: %s instance %d: %s and %s answers differ: %v\n", tr.Type, i, *dialect, *pairDialect, err)
					}
				}
			}
		}
	}
	if *jsonOut != "" {
		qf := queryFile{System: *name, Dialect: *dialect, Seed: *qseed, PerType: *perType, Runs: *runs, Types: res, Queries: qs}
		if err := writeJSON(*jsonOut, qf); err != nil {
			fmt.Fprintln(os.Stderr, "silt bench query:", err)
			return 1
		}
	}
	if failed {
		return 1
	}
	return 0
}

// printQueryResults prints one dialect's table; true if a query failed.
func printQueryResults(name, dialect string, perType, runs int, res []bench.TypeResult) bool {
	failed := false
	fmt.Printf("%s (%s), %d instances x %d runs per type, ms:\n", name, dialect, perType, runs)
	cpu := slices.ContainsFunc(res, func(tr bench.TypeResult) bool { return len(tr.CPU) > 0 })
	if cpu {
		fmt.Printf("%-24s %9s %9s %9s %9s %8s %9s\n", "type", "min", "median", "p95", "max", "rows", "cpu-ms")
	} else {
		fmt.Printf("%-24s %9s %9s %9s %9s %8s\n", "type", "min", "median", "p95", "max", "rows")
	}
	for _, tr := range res {
		lo, med, p95, hi := tr.Stats()
		rows := 0
		for _, a := range tr.Answers {
			rows += a.Rows
		}
		if tr.Unsupported {
			fmt.Printf("%-24s %9s\n", tr.Type, "n/a")
			continue
		}
		if cpu {
			// The server's CPU per run, median: its own work per query.
			fmt.Printf("%-24s %9.1f %9.1f %9.1f %9.1f %8d %9.3f\n", tr.Type, lo, med, p95, hi, rows, tr.MedianCPU())
		} else {
			fmt.Printf("%-24s %9.1f %9.1f %9.1f %9.1f %8d\n", tr.Type, lo, med, p95, hi, rows)
		}
		for _, e := range tr.Errors {
			failed = true
			fmt.Fprintf(os.Stderr, "silt bench query: %s %s %s\n", dialect, tr.Type, e)
		}
	}
	return failed
}
