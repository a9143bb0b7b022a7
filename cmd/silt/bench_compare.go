package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/siltdb/silt/bench"
)

const benchCompareUsage = `Usage: silt bench compare --dir DIR --system KEY,DIALECT,URL,PID,NAME ... [flags]

Runs the TSBS query types on several systems interleaved, for silt bench
report. A shared machine's speed swings (2x for minutes at a time); measured
system after system, a slow phase lands on one of them and bends its ratio.
Here each type is measured on all systems in the same short window: every
instance once untimed on each system in turn (answers kept for the
cross-checks), then --runs timed rounds, each asking every instance of every
system in turn (instance 1 on each system, then instance 2, ...; who goes
first rotates at every step).

Around that:
  * before every timed step, a canary: a fixed CPU-bound loop timed on the
    client's own thread (the machine's speed then); canary.json
  * before each type, every server's peak RSS (VmHWM) is reset
    (/proc/PID/clear_refs) and read after it: rss-KEY.txt, one line a type
    (systems sharing a PID share the figure)
  * with a PID, each timed query's server CPU (/proc/PID/task/*/schedstat)

--system is repeatable, one per endpoint: KEY names the files (query-KEY.json;
keys starting with "silt" are Silt's, "silt" itself its SQL), DIALECT is one of
sql, pgwire, influxql, clickhouse, promql (see silt bench query --help), PID the
server's process on this machine (0: no CPU or RSS), NAME the rest of the
value (it may hold spaces). DIR receives query-KEY.json, rss-KEY.txt and
canary.json, rewritten after every type.

Example:
  silt bench compare --dir results --types lastpoint,high-cpu-1 \
    --system 'silt,sql,http://127.0.0.1:8086,4242,Silt dev' \
    --system 'influxdb,influxql,http://127.0.0.1:8087,4243,InfluxDB 1.6'

Flags:
`

// compareSystem is one --system.
type compareSystem struct {
	key, dialect, url, name string
	pid                     int
}

type systemList []compareSystem

func (l *systemList) String() string { return fmt.Sprint(len(*l), " systems") }

func (l *systemList) Set(v string) error {
	f := strings.SplitN(v, ",", 5)
	if len(f) != 5 {
		return fmt.Errorf("want KEY,DIALECT,URL,PID,NAME, got %q", v)
	}
	s := compareSystem{key: f[0], dialect: f[1], url: f[2], name: f[4]}
	var err error
	if s.pid, err = strconv.Atoi(f[3]); err != nil || s.pid < 0 {
		return fmt.Errorf("PID %q of %q is not a process id", f[3], v)
	}
	switch {
	case s.key == "" || strings.ContainsAny(s.key, "./ "):
		return fmt.Errorf("KEY %q of %q: a file name part without '.', '/' or spaces", s.key, v)
	case !slices.Contains(bench.Dialects, s.dialect):
		return fmt.Errorf("DIALECT %q of %q: want %s", s.dialect, v, strings.Join(bench.Dialects, ", "))
	case slices.ContainsFunc(*l, func(o compareSystem) bool { return o.key == s.key }):
		return fmt.Errorf("KEY %q given twice", s.key)
	}
	*l = append(*l, s)
	return nil
}

// canaryFile is canary.json.
type canaryFile struct {
	Iterations int                `json:"iterations"`
	Types      []bench.TypeCanary `json:"types"`
}

func runBenchCompare(args []string) int {
	fs := flag.NewFlagSet("bench compare", flag.ContinueOnError)
	df := addDatasetFlags(fs)
	db := fs.String("db", "benchmark", "database")
	types := fs.String("types", strings.Join(bench.DefaultQueryTypes, ","), "comma-separated query types")
	perType := fs.Int("per-type", 5, "query instances per type (random hosts and windows)")
	runs := fs.Int("runs", 3, "timed rounds: runs of each instance on each system")
	qseed := fs.Uint64("query-seed", 1, "seed of the query generator")
	dir := fs.String("dir", "", "directory for query-KEY.json, rss-KEY.txt and canary.json")
	canary := fs.Bool("canary", true, "time the canary loop before every timed step")
	var systems systemList
	fs.Var(&systems, "system", "KEY,DIALECT,URL,PID,NAME of one endpoint (repeatable; see above)")
	if code, ok := parseFlags(fs, benchCompareUsage, args); !ok {
		return code
	}
	d, err := df.dataset()
	switch {
	case err != nil:
	case *perType < 1 || *runs < 1:
		err = fmt.Errorf("need --per-type >= 1 and --runs >= 1")
	case len(systems) == 0:
		err = fmt.Errorf("need at least one --system")
	case *dir == "":
		err = fmt.Errorf("need --dir")
	}
	var qs []bench.Query
	if err == nil {
		qs, err = bench.NewQueryGen(d.Hosts, d.Start, d.End, *qseed).Generate(strings.Split(*types, ","), *perType)
	}
	if err == nil {
		err = os.MkdirAll(*dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench compare:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	eps := make([]bench.Endpoint, len(systems))
	var pids []int // distinct servers, for the RSS resets
	for i, s := range systems {
		c := &bench.Client{URL: s.url, DB: *db, Dialect: s.dialect, HTTP: &http.Client{}, ServerPID: s.pid}
		defer c.Close()
		eps[i] = c
		if s.pid > 0 && !slices.Contains(pids, s.pid) {
			pids = append(pids, s.pid)
		}
	}
	rss := map[int][]int64{} // per pid, its peak during each type
	sched := bench.Schedule{Runs: *runs,
		BeforeType: func(string) {
			for _, p := range pids {
				bench.ResetPeakRSSOf(p)
			}
		},
	}
	if *canary {
		sched.Canary = bench.RunCanary
	}
	// Each type's results are written as soon as it ends, so an
	// interrupted run keeps what it measured.
	all := make([][]bench.TypeResult, len(systems))
	var tcs []bench.TypeCanary
	var writeErr error
	typesDone := 0
	sched.AfterType = func(typ string) {
		for _, p := range pids {
			if v := bench.PeakRSSOf(p); v > 0 {
				rss[p] = append(rss[p], v)
			}
		}
		typesDone++
		fmt.Fprintf(os.Stderr, "silt bench compare: %s done (%d types)\n", typ, typesDone)
	}
	bar := bench.NewProgress("compare", int64(len(systems)*len(qs)*(*runs+1)), "queries", false)
	base := 0 // queries of the types done: Interleave counts per call
	sched.Progress = func(done, _ int) { bar.Set(int64(base + done)) }
	// Interleave per type, so each type's files can be written before the
	// next one starts.
	for i := 0; i < len(qs); {
		j := i
		for j < len(qs) && qs[j].Type == qs[i].Type {
			j++
		}
		iv := bench.Interleave(ctx, eps, qs[i:j], sched)
		for k := range systems {
			all[k] = append(all[k], iv.Results[k]...)
		}
		tcs = append(tcs, iv.Canary...)
		if writeErr = writeCompare(*dir, systems, all, tcs, rss, *qseed, *perType, *runs, qs[:j]); writeErr != nil {
			break
		}
		base += len(systems) * (j - i) * (*runs + 1)
		i = j
		if ctx.Err() != nil {
			break
		}
	}
	bar.Done()
	if writeErr != nil {
		fmt.Fprintln(os.Stderr, "silt bench compare:", writeErr)
		return 1
	}
	failed := false
	for k, s := range systems {
		failed = printQueryResults(s.name, s.dialect, *perType, *runs, all[k]) || failed
	}
	if len(tcs) > 0 {
		ref := bench.CanaryReference(tcs)
		fmt.Printf("canary, M loop steps per second of wall and of CPU time (medians; rounds below %.2fx the fastest round's wall speed are slow):\n", bench.SlowPhaseFraction)
		for _, tc := range tcs {
			cpu, wall := tc.MedianSpeeds()
			fmt.Printf("%-24s %9.0f %9.0f  slow rounds %v of %d\n", tc.Type, wall/1e6, cpu/1e6, tc.SlowRounds(ref), len(tc.RoundSpeeds()))
		}
	}
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

// writeCompare writes the results so far: query-KEY.json per system,
// rss-KEY.txt (one peak a type), canary.json.
func writeCompare(dir string, systems []compareSystem, all [][]bench.TypeResult, tcs []bench.TypeCanary,
	rss map[int][]int64, qseed uint64, perType, runs int, qs []bench.Query) error {
	for k, s := range systems {
		qf := queryFile{System: s.name, Dialect: s.dialect, Seed: qseed, PerType: perType, Runs: runs,
			Schedule: scheduleInterleaved, Types: all[k], Queries: qs}
		if err := writeJSON(filepath.Join(dir, "query-"+s.key+".json"), qf); err != nil {
			return err
		}
		if s.pid == 0 || len(rss[s.pid]) == 0 {
			continue
		}
		var b strings.Builder
		for _, v := range rss[s.pid] {
			fmt.Fprintln(&b, v)
		}
		if err := os.WriteFile(filepath.Join(dir, "rss-"+s.key+".txt"), []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write peak RSS of %s: %w", s.key, err)
		}
	}
	if len(tcs) == 0 {
		return nil
	}
	return writeJSON(filepath.Join(dir, "canary.json"), canaryFile{Iterations: bench.CanaryIterations, Types: tcs})
}
