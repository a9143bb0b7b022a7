package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/siltdb/silt/bench"
)

const benchLoadUsage = `Usage: silt bench load --url URL [flags]

Generates the dataset in memory (not timed), then posts it in bodies of
--batch-size rows with --workers concurrent requests and reports rows/s and
values/s (10 values a row) from the first request to the last acknowledgement.
A body answered 429 or 503 (back-pressure, a full head, a server starting or
shutting down) is sent again after the answer's Retry-After, or a doubling
backoff from 250 ms when it has none, at most --max-attempts times in all;
the retries and the time waited are reported (and counted in the elapsed
time). Any other error, or a body still refused, stops the load.

--protocol influx posts line protocol to URL/write?db=DB: Silt, InfluxDB 1.x
and anything else that speaks the InfluxDB v1 write API. --protocol
clickhouse posts TSV to ClickHouse's HTTP interface (INSERT INTO DB.cpu
FORMAT TabSeparated); the table must exist (docs/benchmarks.md has its DDL).

Example:
  silt bench load --url http://127.0.0.1:8086 --db benchmark --workers 4 --batch-size 5000
  silt bench load --url http://127.0.0.1:8123 --protocol clickhouse --db benchmark

Flags:
`

// loadFile is what --json writes: the load's settings and result.
type loadFile struct {
	System    string            `json:"system"`
	Protocol  string            `json:"protocol"`
	Workers   int               `json:"workers"`
	BatchSize int               `json:"batch_size"`
	Dataset   bench.Dataset     `json:"dataset"`
	Result    bench.LoadResult  `json:"result"`
	RowsPerS  float64           `json:"rows_per_s"`
	ValsPerS  float64           `json:"values_per_s"`
	Extra     map[string]string `json:"extra,omitempty"`
}

func runBenchLoad(args []string) int {
	fs := flag.NewFlagSet("bench load", flag.ContinueOnError)
	df := addDatasetFlags(fs)
	url := fs.String("url", "http://127.0.0.1:8086", "server base URL")
	db := fs.String("db", "benchmark", "database")
	proto := fs.String("protocol", "influx", "influx (InfluxDB v1 /write) or clickhouse (HTTP INSERT ... FORMAT TabSeparated)")
	workers := fs.Int("workers", 4, "concurrent requests")
	batch := fs.Int("batch-size", 5000, "rows per request")
	attempts := fs.Int("max-attempts", bench.DefaultMaxAttempts, "most times one body is sent when answered 429 or 503 (1: never retry)")
	expect := fs.Bool("expect-continue", false, "send InfluxDB-protocol bodies with Expect: 100-continue, so that a write refused before its body is read (503 server-busy) is seen as the 503, not a broken pipe; costs a round trip per body")
	name := fs.String("name", "", "system name for --json and the summary (default: the URL)")
	jsonOut := fs.String("json", "", "also write the result as JSON to this file (for silt bench report)")
	if code, ok := parseFlags(fs, benchLoadUsage, args); !ok {
		return code
	}
	d, err := df.dataset()
	if err == nil && (*workers < 1 || *batch < 1 || *attempts < 1) {
		err = fmt.Errorf("need --workers >= 1, --batch-size >= 1 and --max-attempts >= 1")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench load:", err)
		return 2
	}
	if *name == "" {
		*name = *url
	}
	p := bench.Protocol(*proto)
	bodies, err := bench.Batches(d, p, *batch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bar := bench.NewProgress("load "+*name, d.Rows(), "rows", true)
	res, err := bench.Load(ctx, bench.LoadConfig{URL: *url, DB: *db, Protocol: p, Workers: *workers,
		MaxAttempts: *attempts, ExpectContinue: *expect}, bodies, bar.Set)
	bar.Done()
	if err != nil {
		fmt.Fprintf(os.Stderr, "silt bench load: %v (after %d rows acknowledged, %d retries)\n", err, res.Rows, res.Retries)
		return 1
	}
	fmt.Printf("%s: loaded %d rows (%d values, %.0f MB) in %.2fs: %.0f rows/s, %.0f values/s; %d retries after 429/503 (%.1fs waited)\n",
		*name, res.Rows, res.Values, float64(res.Bytes)/1e6, res.Elapsed.Seconds(), res.RowsPerSec(), res.ValuesPerSec(),
		res.Retries, res.RetryWait.Seconds())
	if *jsonOut != "" {
		d.Format = bench.LineProtocol
		if p == bench.ProtoClickHouse {
			d.Format = bench.TSV
		}
		lf := loadFile{System: *name, Protocol: *proto, Workers: *workers, BatchSize: *batch, Dataset: d,
			Result: res, RowsPerS: res.RowsPerSec(), ValsPerS: res.ValuesPerSec()}
		if err := writeJSON(*jsonOut, lf); err != nil {
			fmt.Fprintln(os.Stderr, "silt bench load:", err)
			return 1
		}
	}
	return 0
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
