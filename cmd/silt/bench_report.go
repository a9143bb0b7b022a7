package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siltdb/silt/bench"
)

const benchReportUsage = `Usage: silt bench report --dir DIR [flags]

Reads the results of one comparison run from DIR and writes one Markdown page:
a table of every system's ingest rate, on-disk bytes per value and median
latency per query type, Silt's ratio to its peers and whether each target is
met, the answers' cross-check, and the machine (cores, memory, memory
bandwidth measured here and now). DIR holds, per system KEY (silt first; the
others are its peers):

  load-KEY.json    silt bench load --json
  query-KEY.json   silt bench query --json (or query-KEY.TYPE.json, one per type)
  disk-KEY.txt     on-disk bytes of the loaded database (a number)
  notes-KEY.txt    optional: one note a line about the system's setup
  rss-KEY.txt      optional: the server's peak RSS in bytes while it answered
                   queries, one number a line (e.g. one per query type; the
                   largest counts)
  canary.json      optional: silt bench compare's canary, the machine's speed
                   before each interleaved step (a section of its own)

Keys starting with "silt" are Silt through its endpoints (silt: SQL first).

Flags:
`

type noteList []string

func (n *noteList) String() string     { return strings.Join(*n, "; ") }
func (n *noteList) Set(s string) error { *n = append(*n, s); return nil }

func runBenchReport(args []string) int {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory with the run's results")
	out := fs.String("out", "-", "Markdown output file ('-' for stdout)")
	archive := fs.String("archive", "", "also copy the results to this directory, query answers without their numbers (small enough to commit)")
	var notes, cmds noteList
	fs.Var(&notes, "note", "a note for the page (repeatable)")
	fs.Var(&cmds, "command", "a command that reproduces the run (repeatable)")
	if code, ok := parseFlags(fs, benchReportUsage, args); !ok {
		return code
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "silt bench report: need --dir")
		return 2
	}
	c, err := readComparison(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench report:", err)
		return 1
	}
	c.Notes, c.Commands = notes, cmds
	c.Machine = machineDetails()
	var buf bytes.Buffer
	if err := c.WriteMarkdown(&buf); err != nil {
		fmt.Fprintln(os.Stderr, "silt bench report:", err)
		return 1
	}
	if *out == "-" {
		_, err = os.Stdout.Write(buf.Bytes())
	} else {
		err = os.WriteFile(*out, buf.Bytes(), 0o644)
	}
	if err == nil && *archive != "" {
		err = archiveResults(*dir, *archive)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt bench report:", err)
		return 1
	}
	return 0
}

// archiveResults copies a run's result files from dir to dst; query files
// lose their answers' sorted numbers (the report has checked them), which
// are nearly all of their size.
func archiveResults(dir, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return err
	}
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasSuffix(base, ".json") && !strings.HasSuffix(base, ".txt") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if strings.HasPrefix(base, "query-") {
			var qf queryFile
			if err := json.Unmarshal(b, &qf); err != nil {
				return fmt.Errorf("read %s: %w", f, err)
			}
			for i := range qf.Types {
				for j := range qf.Types[i].Answers {
					qf.Types[i].Answers[j].Numbers = nil
				}
			}
			if err := writeJSON(filepath.Join(dst, base), qf); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(filepath.Join(dst, base), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Join(dst, base), err)
		}
	}
	return nil
}

func readComparison(dir string) (*bench.Comparison, error) {
	c := &bench.Comparison{Date: time.Now()}
	files, err := filepath.Glob(filepath.Join(dir, "query-*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no query-*.json in %s", dir)
	}
	// query-KEY.json, or one file per query type: query-KEY.TYPE.json.
	var keys []string
	for _, f := range files {
		k, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "query-"), ".json"), ".")
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	// Silt's SQL first, then its other endpoints, then the peers in name order.
	rank := func(k string) int {
		switch {
		case k == "silt":
			return 0
		case strings.HasPrefix(k, "silt"):
			return 1
		}
		return 2
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), strings.Compare(a, b))
	})
	if keys[0] != "silt" {
		return nil, fmt.Errorf("no query-silt.json in %s", dir)
	}
	for _, k := range keys {
		s := &bench.SystemResult{Key: k}
		qfiles, _ := filepath.Glob(filepath.Join(dir, "query-"+k+".*.json"))
		if _, err := os.Stat(filepath.Join(dir, "query-"+k+".json")); err == nil {
			qfiles = append(qfiles, filepath.Join(dir, "query-"+k+".json"))
		}
		for _, f := range qfiles {
			var qf queryFile
			if err := readJSON(f, &qf); err != nil {
				return nil, err
			}
			s.Name, s.Dialect = qf.System, qf.Dialect
			s.Queries = append(s.Queries, qf.Types...)
			if k == "silt" {
				c.PerType, c.Runs = qf.PerType, qf.Runs
				c.Interleaved = qf.Schedule == scheduleInterleaved
			}
		}
		// The order of bench.QueryTypes, whatever the order of the files.
		slices.SortStableFunc(s.Queries, func(a, b bench.TypeResult) int {
			return cmp.Compare(typeRank(a.Type), typeRank(b.Type))
		})
		// load-KEY.json, or one file per run: load-KEY-1.json, load-KEY-2.json ...
		loads, _ := filepath.Glob(filepath.Join(dir, "load-"+k+"-*.json"))
		if _, err := os.Stat(filepath.Join(dir, "load-"+k+".json")); err == nil {
			loads = append(loads, filepath.Join(dir, "load-"+k+".json"))
		}
		var runs []bench.LoadResult
		for _, f := range loads {
			var lf loadFile
			if err := readJSON(f, &lf); err != nil {
				return nil, err
			}
			runs = append(runs, lf.Result)
			if k == "silt" {
				c.Dataset = lf.Dataset
			}
			if len(runs) == 1 {
				s.Notes = append(s.Notes, fmt.Sprintf("loaded with %d workers, %d rows a request (%s protocol)", lf.Workers, lf.BatchSize, lf.Protocol))
			}
		}
		s.SetLoads(runs)
		if b, err := os.ReadFile(filepath.Join(dir, "disk-"+k+".txt")); err == nil {
			s.DiskBytes, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("disk-%s.txt: %w", k, err)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "rss-"+k+".txt")); err == nil {
			for _, l := range strings.Fields(string(b)) {
				n, err := strconv.ParseInt(l, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("rss-%s.txt: %w", k, err)
				}
				s.PeakRSS = max(s.PeakRSS, n)
			}
		}
		if b, err := os.ReadFile(filepath.Join(dir, "notes-"+k+".txt")); err == nil {
			for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				if l != "" {
					s.Notes = append(s.Notes, l)
				}
			}
		}
		c.Systems = append(c.Systems, s)
	}
	if c.Dataset.Hosts == 0 {
		return nil, fmt.Errorf("no load-silt.json in %s: the dataset is unknown", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "canary.json")); err == nil {
		var cf canaryFile
		if err := readJSON(filepath.Join(dir, "canary.json"), &cf); err != nil {
			return nil, err
		}
		c.Canary = cf.Types
	}
	return c, nil
}

func typeRank(t string) int {
	if i := slices.Index(bench.QueryTypes, t); i >= 0 {
		return i
	}
	return len(bench.QueryTypes)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// machineDetails describes this machine: cores, CPU, memory, measured
// memory bandwidth, kernel, load.
func machineDetails() []string {
	var out []string
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	out = append(out, fmt.Sprintf("%d cores (%s), %s/%s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH))
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				out = append(out, fmt.Sprintf("memory: %.1f GiB", kb/(1<<20)))
			}
		}
	}
	out = append(out, fmt.Sprintf("memory bandwidth (silt bench membw: one core copying 256 MiB, read + write, best of 2 s): %.1f GB/s",
		bench.MemoryBandwidth(256<<20, 2*time.Second)/1e9))
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		out = append(out, "Linux "+strings.TrimSpace(string(b))+", "+runtime.Version())
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		out = append(out, "load average when the report was written (1/5/15 min): "+strings.Join(strings.Fields(string(b))[:3], " / "))
	}
	return out
}
