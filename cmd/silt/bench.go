package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/siltdb/silt/bench"
)

const benchUsage = `Usage: silt bench gen [flags]

Generates the TSBS cpu-only workload as InfluxDB line protocol: table cpu,
10 tags per host, 10 float fields, one row per host per interval. The same
flags and seed give the same bytes. Load it with 'silt import' into Silt or
into any InfluxDB-v1-compatible server.

Example:
  silt bench gen --scale 1000 --start 2026-01-01T00:00:00Z --end 2026-01-01T06:00:00Z --out cpu.lp.gz
  silt import --db benchmark cpu.lp.gz

Flags:
`

func runBench(args []string) int {
	if len(args) == 0 || args[0] != "gen" {
		fmt.Fprint(os.Stderr, benchUsage)
		return 2
	}
	fs := flag.NewFlagSet("bench gen", flag.ContinueOnError)
	scale := fs.Int("scale", 100, "number of hosts")
	startS := fs.String("start", "2026-01-01T00:00:00Z", "first timestamp (RFC 3339)")
	endS := fs.String("end", "2026-01-02T00:00:00Z", "end of the data, exclusive (RFC 3339)")
	interval := fs.Duration("interval", 10*time.Second, "time between two rows of one host")
	seed := fs.Uint64("seed", 123, "random seed")
	out := fs.String("out", "-", "output file ('-' for stdout); a .gz name is gzip-compressed")
	fs.Usage = func() { fmt.Fprint(fs.Output(), benchUsage); fs.PrintDefaults() }
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	start, err1 := time.Parse(time.RFC3339, *startS)
	end, err2 := time.Parse(time.RFC3339, *endS)
	if err := errors.Join(err1, err2); err != nil || !end.After(start) || *interval <= 0 || *scale <= 0 {
		fmt.Fprintln(os.Stderr, "silt bench gen: need --start < --end (RFC 3339), --interval > 0, --scale > 0", err)
		return 2
	}
	if err := genCPU(*out, *scale, start, end, *interval, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "silt bench gen:", err)
		return 1
	}
	return 0
}

func genCPU(out string, scale int, start, end time.Time, interval time.Duration, seed uint64) (err error) {
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
		if len(out) > 3 && out[len(out)-3:] == ".gz" {
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
	g := bench.NewCPU(scale, start, interval, seed)
	var buf []byte
	for t := start; t.Before(end); t = t.Add(interval) {
		buf = g.AppendInterval(buf[:0])
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	return nil
}
