package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/siltdb/silt/bench"
)

const benchUsage = `Usage: silt bench COMMAND [flags]

The TSBS cpu-only workload (table cpu, 10 tags per host, 10 integer fields, one
row per host per interval) and its queries, for Silt and its peers. The same
flags and seed give the same bytes and the same queries.

Commands:
  gen     write the dataset: line protocol, CSV or TSV
  load    load the dataset into a server: InfluxDB v1 /write (Silt, InfluxDB)
          or ClickHouse's HTTP interface; rows/s and values/s
  query   run the TSBS query types against a server in Silt SQL, InfluxQL or
          ClickHouse SQL; min/median/p95/max per type
  compare run the query types on several systems interleaved (make
          bench-peers): every type on all systems in the same window, a
          canary of the machine's speed, each server's peak RSS
  dashboard
          the real-time dashboard benchmark: ingest as fast as the server
          takes it, alone and while Grafana-like panels refresh every
          second; panel p50/p99/max and the two ingest rates
  report  turn load and query results of several systems into one table
  membw   measure memory copy bandwidth

Examples:
  silt bench gen --scale 1000 --end 2026-01-01T06:00:00Z --out cpu.lp.gz
  silt bench gen --format tsv --out-of-order 30 --out cpu.tsv
  silt bench load --url http://127.0.0.1:8086 --db benchmark --workers 4 --batch-size 5000
  silt bench query --url http://127.0.0.1:8086 --db benchmark --dialect sql
  silt bench query --dialect influxql --print      # the queries, not run
  silt bench dashboard --url http://127.0.0.1:8086 --duration 30s

'silt bench COMMAND --help' lists a command's flags. make bench-peers runs the
whole comparison (docs/benchmarks.md).
`

func runBench(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, benchUsage)
		return 2
	}
	switch args[0] {
	case "gen":
		return runBenchGen(args[1:])
	case "load":
		return runBenchLoad(args[1:])
	case "query":
		return runBenchQuery(args[1:])
	case "dashboard":
		return runBenchDashboard(args[1:])
	case "compare":
		return runBenchCompare(args[1:])
	case "report":
		return runBenchReport(args[1:])
	case "membw":
		return runBenchMembw(args[1:])
	case "help", "--help", "-h":
		fmt.Print(benchUsage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "silt bench: unknown command %q\n\n%s", args[0], benchUsage)
	return 2
}

// datasetFlags are the flags that pick a dataset, shared by gen, load and
// query (query needs the dataset's hosts and time range).
type datasetFlags struct {
	scale      *int
	start, end *string
	interval   *time.Duration
	seed       *uint64
	outOfOrder *int
}

func addDatasetFlags(fs *flag.FlagSet) *datasetFlags {
	return &datasetFlags{
		scale:    fs.Int("scale", 100, "number of hosts (high cardinality: e.g. --scale 100000 with a short --end)"),
		start:    fs.String("start", "2026-01-01T00:00:00Z", "first timestamp (RFC 3339)"),
		end:      fs.String("end", "2026-01-02T00:00:00Z", "end of the data, exclusive (RFC 3339)"),
		interval: fs.Duration("interval", 10*time.Second, "time between two rows of one host"),
		seed:     fs.Uint64("seed", 123, "random seed"),
		outOfOrder: fs.Int("out-of-order", 0,
			"shuffle the rows of each block of this many intervals (0: in order)"),
	}
}

func (f *datasetFlags) dataset() (bench.Dataset, error) {
	start, err1 := time.Parse(time.RFC3339, *f.start)
	end, err2 := time.Parse(time.RFC3339, *f.end)
	if err := errors.Join(err1, err2); err != nil {
		return bench.Dataset{}, fmt.Errorf("--start and --end are RFC 3339 times: %w", err)
	}
	d := bench.Dataset{Hosts: *f.scale, Start: start, End: end, Interval: *f.interval, Seed: *f.seed, OutOfOrder: *f.outOfOrder}
	return d, d.Validate()
}

// parseFlags parses args, printing usage for -h; ok is false when the
// caller should return code.
func parseFlags(fs *flag.FlagSet, usage string, args []string) (code int, ok bool) {
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "silt %s: unexpected arguments %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return 2, false
	}
	return 0, true
}

const benchGenUsage = `Usage: silt bench gen [flags]

Writes the TSBS cpu-only dataset. --format lp (InfluxDB line protocol,
nanosecond timestamps), csv (header line; time as "2026-01-01 00:00:00" UTC)
or tsv (ClickHouse TabSeparated: the CSV columns without header). The values
are the same in every format. --out-of-order N shuffles each block of N
intervals. The same flags give the same bytes.

Example:
  silt bench gen --scale 1000 --start 2026-01-01T00:00:00Z --end 2026-01-01T06:00:00Z --out cpu.lp.gz
  silt import --db benchmark cpu.lp.gz

Flags:
`

func runBenchGen(args []string) int {
	fs := flag.NewFlagSet("bench gen", flag.ContinueOnError)
	df := addDatasetFlags(fs)
	format := fs.String("format", "lp", "output format: lp, csv or tsv")
	out := fs.String("out", "-", "output file ('-' for stdout); a .gz name is gzip-compressed")
	if code, ok := parseFlags(fs, benchGenUsage, args); !ok {
		return code
	}
	d, err := df.dataset()
	if err == nil {
		d.Format, err = bench.ParseFormat(*format)
		if err == nil {
			err = d.Validate()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench gen:", err)
		return 2
	}
	if err := genDataset(*out, d); err != nil {
		fmt.Fprintln(os.Stderr, "silt bench gen:", err)
		return 1
	}
	return 0
}

func genDataset(out string, d bench.Dataset) (err error) {
	var w *bufio.Writer
	var closers []func() error
	if out == "-" {
		w = bufio.NewWriterSize(os.Stdout, 1<<20)
	} else {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		closers = append(closers, f.Close)
		if strings.HasSuffix(out, ".gz") {
			zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
			closers = append([]func() error{zw.Close}, closers...)
			w = bufio.NewWriterSize(zw, 1<<20)
		} else {
			w = bufio.NewWriterSize(f, 1<<20)
		}
	}
	defer func() {
		err = errors.Join(err, w.Flush())
		for _, c := range closers {
			err = errors.Join(err, c())
		}
	}()
	if _, err := d.WriteTo(w); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

const benchMembwUsage = `Usage: silt bench membw [flags]

Measures memory copy bandwidth (bytes read + bytes written per second, one
core, best pass) over buffers far larger than the CPU caches.

Flags:
`

func runBenchMembw(args []string) int {
	fs := flag.NewFlagSet("bench membw", flag.ContinueOnError)
	size := fs.Int("size-mb", 256, "buffer size in MiB")
	dur := fs.Duration("duration", 2*time.Second, "how long to measure")
	if code, ok := parseFlags(fs, benchMembwUsage, args); !ok {
		return code
	}
	fmt.Printf("%.1f GB/s\n", bench.MemoryBandwidth(*size<<20, *dur)/1e9)
	return 0
}
