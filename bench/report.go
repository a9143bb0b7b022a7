package bench

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// SystemResult is everything measured for one system in a comparison run.
type SystemResult struct {
	Key       string       // file key: "silt", "silt-influxql", "influxdb", "clickhouse", "victoriametrics"
	Name      string       // with version, e.g. "InfluxDB 1.6.7"
	Load      *LoadResult  // the median of Loads by rows/s; nil when not loaded
	Loads     []LoadResult // every load run
	Queries   []TypeResult // in query-type order
	DiskBytes int64        // on-disk bytes of the loaded database; 0: not measured
	Dialect   string       // the query dialect used
	Notes     []string     // anything a reader must know about this system's setup
	// PeakRSS is the server's peak resident set while it answered queries
	// (VmHWM reset before each query type, the largest peak over all
	// types), in bytes; 0: not measured.
	PeakRSS int64
}

// IsSilt tells Silt's entries (one per query endpoint) from its peers'.
func (s *SystemResult) IsSilt() bool { return strings.HasPrefix(s.Key, "silt") }

// answersComparable: PromQL's range functions look back over a window
// ending at each step rather than filling buckets that start there, so a
// Prometheus-style answer holds other numbers than the SQL ones.
func (s *SystemResult) answersComparable() bool { return s.Dialect != "promql" }

// Comparison is a whole `make bench-peers` run: Silt first (Systems[0],
// through SQL; then through its other endpoints), then its peers.
type Comparison struct {
	Date     time.Time
	Dataset  Dataset
	PerType  int
	Runs     int
	Systems  []*SystemResult // Systems[0] is Silt
	Machine  []string        // lines describing the machine
	Notes    []string
	Commands []string // how to reproduce
	// Interleaved: the queries ran interleaved across the systems
	// (Interleave, silt bench compare) rather than system by system.
	Interleaved bool
	// Canary is the machine's speed before each interleaved step, per
	// type (silt bench compare's canary.json); nil when not measured.
	Canary []TypeCanary
}

// Mismatch is a query instance on which a peer's answer differs from Silt's.
type Mismatch struct {
	Type, System string
	Seq          int
	Err          error
}

// CheckAnswers compares every peer's answer to every query instance with
// Silt's and returns the differences.
func (c *Comparison) CheckAnswers() []Mismatch {
	var out []Mismatch
	if len(c.Systems) == 0 {
		return nil
	}
	silt := c.Systems[0]
	for _, tr := range silt.Queries {
		for _, peer := range c.Systems[1:] {
			pt := peer.queryType(tr.Type)
			if pt == nil || pt.Unsupported || !peer.answersComparable() {
				continue
			}
			for i, a := range tr.Answers {
				if i >= len(pt.Answers) {
					out = append(out, Mismatch{tr.Type, peer.Name, i, fmt.Errorf("no answer")})
					continue
				}
				if err := a.Agrees(pt.Answers[i]); err != nil {
					out = append(out, Mismatch{tr.Type, peer.Name, i, err})
				}
			}
		}
	}
	return out
}

func (s *SystemResult) queryType(typ string) *TypeResult {
	for i := range s.Queries {
		if s.Queries[i].Type == typ {
			return &s.Queries[i]
		}
	}
	return nil
}

// SetLoads records load runs and picks their median by rows/s as Load.
func (s *SystemResult) SetLoads(runs []LoadResult) {
	s.Loads = runs
	if len(runs) == 0 {
		return
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b LoadResult) int { return cmp.Compare(a.RowsPerSec(), b.RowsPerSec()) })
	s.Load = &sorted[(len(sorted)-1)/2]
}

// BytesPerValue is on-disk bytes over stored field values.
func (c *Comparison) BytesPerValue(s *SystemResult) float64 {
	if s.DiskBytes == 0 {
		return math.NaN()
	}
	return float64(s.DiskBytes) / float64(c.Dataset.Rows()*int64(len(CPUFields)))
}

// WriteMarkdown writes the comparison as the bench/results/<date>.md page.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	silt := c.Systems[0]
	var silts, peers []*SystemResult
	for _, s := range c.Systems {
		if s.IsSilt() {
			silts = append(silts, s)
		} else {
			peers = append(peers, s)
		}
	}
	d := c.Dataset
	fmt.Fprintf(&b, "# Silt and its peers, %s\n\n", c.Date.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "TSBS cpu-only: %d hosts × %v at %v = %s rows, %s values (seed %d). ",
		d.Hosts, d.End.Sub(d.Start), d.Interval, thousands(float64(d.Rows())), thousands(float64(d.Rows()*10)), d.Seed)
	if c.Interleaved {
		fmt.Fprintf(&b, "Queries: %d random instances per type (hosts, time windows), interleaved across the systems: per type, each instance runs once untimed on every system (its answer checked across systems), then %d timed rounds, each asking every instance of every system in turn (instance 1 of each system, then instance 2 ...; who goes first rotates at every step), one query at a time, so a slow phase of the machine falls on all systems alike; the ratios are those of these interleaved medians. Wall clock per query including HTTP and reading the whole answer.\n\n",
			c.PerType, c.Runs)
	} else {
		fmt.Fprintf(&b, "Queries: %d random instances per type (hosts, time windows), each run once untimed (its answer checked across systems) and %d times timed, one at a time; wall clock per query including HTTP and reading the whole answer.\n\n",
			c.PerType, c.Runs)
	}
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "> %s\n", n)
	}
	if len(c.Notes) > 0 {
		b.WriteString("\n")
	}

	// The main table.
	b.WriteString("| measure |")
	for _, s := range c.Systems {
		fmt.Fprintf(&b, " %s |", s.Name)
	}
	b.WriteString(" Silt's ratio | target | met |\n|---|")
	for range c.Systems {
		b.WriteString("---:|")
	}
	b.WriteString("---|---|---|\n")

	// Ingest: higher is better.
	if silt.Load != nil {
		b.WriteString("| ingest, rows/s |")
		for _, s := range c.Systems {
			if s.Load == nil {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s |", thousands(s.Load.RowsPerSec()))
		}
		var ratios []string
		target, met := "≥ 10× InfluxDB", "–"
		for _, p := range peers {
			if p.Load == nil {
				continue
			}
			r := silt.Load.RowsPerSec() / p.Load.RowsPerSec()
			ratios = append(ratios, fmt.Sprintf("%.2f× %s", r, shortName(p.Name)))
			if p.Key == "influxdb" {
				met = yesNo(r >= 10)
			}
		}
		fmt.Fprintf(&b, " %s | %s | %s |\n", strings.Join(ratios, " · "), target, met)
		b.WriteString("| ingest, values/s |")
		for _, s := range c.Systems {
			if s.Load == nil {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s |", thousands(s.Load.ValuesPerSec()))
		}
		b.WriteString(" | | |\n")
		b.WriteString("| ingest runs, rows/s |")
		for _, s := range c.Systems {
			var runs []string
			for _, l := range s.Loads {
				runs = append(runs, thousands(l.RowsPerSec()))
			}
			fmt.Fprintf(&b, " %s |", strings.Join(runs, " · "))
		}
		b.WriteString(" | | |\n")
	}

	// Bytes per value: lower is better.
	b.WriteString("| on-disk bytes per value |")
	for _, s := range c.Systems {
		fmt.Fprintf(&b, " %s |", num(c.BytesPerValue(s), 2))
	}
	{
		var ratios []string
		met := "–"
		for _, p := range peers {
			r := c.BytesPerValue(silt) / c.BytesPerValue(p)
			if math.IsNaN(r) {
				continue
			}
			ratios = append(ratios, fmt.Sprintf("%.2f× %s", r, shortName(p.Name)))
			if p.Key == "influxdb" {
				met = yesNo(r <= 1)
			}
		}
		fmt.Fprintf(&b, " %s | ≤ InfluxDB | %s |\n", strings.Join(ratios, " · "), met)
	}

	// Peak RSS while answering queries: lower is better.
	if silt.PeakRSS > 0 {
		b.WriteString("| peak RSS during queries, MB |")
		for _, s := range c.Systems {
			fmt.Fprintf(&b, " %s |", mb(s.PeakRSS))
		}
		var largest int64
		for _, p := range peers {
			largest = max(largest, p.PeakRSS)
		}
		var worst int64
		for _, s := range silts {
			worst = max(worst, s.PeakRSS)
		}
		r := float64(worst) / float64(largest)
		fmt.Fprintf(&b, " %.2f× the largest peer's | ≤ largest peer's | %s |\n", r, yesNo(largest > 0 && r <= 1))
	}

	// Queries: median ms, lower is better; every Silt endpoint against the
	// best peer.
	met, missed := c.storageTargets()
	for _, tr := range silt.Queries {
		fmt.Fprintf(&b, "| %s, median ms |", tr.Type)
		best, bestName := math.Inf(1), ""
		for _, s := range c.Systems {
			t := s.queryType(tr.Type)
			switch {
			case t == nil:
				b.WriteString(" – |")
				continue
			case t.Unsupported:
				b.WriteString(" n/a |")
				continue
			}
			_, m, _, _ := t.Stats()
			mark := ""
			if len(t.Errors) > 0 {
				mark = " (errors)"
			}
			fmt.Fprintf(&b, " %s%s |", num(m, 1), mark)
			if !s.IsSilt() && m < best {
				best, bestName = m, shortName(s.Name)
			}
		}
		var ratios []string
		ok := true
		for _, s := range silts {
			t := s.queryType(tr.Type)
			if t == nil {
				ok = false
				continue
			}
			_, m, _, _ := t.Stats()
			r := m / best
			ratios = append(ratios, fmt.Sprintf("%s %s", c.endpointLabel(s), ratioText(r)))
			ok = ok && r <= 1 && len(t.Errors) == 0
		}
		fmt.Fprintf(&b, " %s best peer (%s) | ≤ best peer | %s |\n", strings.Join(ratios, " · "), bestName, yesNo(ok))
		if ok {
			met = append(met, tr.Type)
		} else {
			missed = append(missed, tr.Type)
		}
	}
	fmt.Fprintf(&b, "\nTargets met: %s. Not met: %s.\n", listOrNone(met), listOrNone(missed))
	c.writeCanary(&b)

	// Per-type detail.
	b.WriteString("\n## Query latency in detail (ms: min / median / p95 / max)\n\n")
	c.writeTypeTable(&b, silt.Queries, func(t *TypeResult) string {
		lo, m, p, hi := t.Stats()
		return fmt.Sprintf("%s / %s / %s / %s", num(lo, 1), num(m, 1), num(p, 1), num(hi, 1))
	}, "result rows per instance", func(tr TypeResult) string {
		var rows []string
		for _, a := range tr.Answers {
			rows = append(rows, fmt.Sprint(a.Rows))
		}
		return strings.Join(rows, ", ")
	})

	// Server CPU per query, where measured (silt bench query --server-pid).
	if slices.ContainsFunc(c.Systems, func(s *SystemResult) bool {
		return slices.ContainsFunc(s.Queries, func(t TypeResult) bool { return len(t.CPU) > 0 })
	}) {
		b.WriteString("\n## Server CPU per query (ms, median of the timed runs)\n\n")
		b.WriteString("The CPU time the server's threads ran during each timed query (/proc/PID/task/*/schedstat, read before and after it), the query's own work plus what the server did in the background meanwhile. A busy machine stretches wall times far more than this.\n\n")
		c.writeTypeTable(&b, silt.Queries, func(t *TypeResult) string {
			if len(t.CPU) == 0 {
				return "–"
			}
			return num(t.MedianCPU(), 2)
		}, "", nil)
	}

	// Answer checks.
	b.WriteString("\n## Same answers?\n\n")
	mm := c.CheckAnswers()
	n := 0
	for _, tr := range silt.Queries {
		n += len(tr.Answers)
	}
	if len(mm) == 0 {
		fmt.Fprintf(&b, "Every other endpoint returned the same number of result rows as Silt's SQL for all %d query instances, and the same numbers (sorted; compared one by one within 1e-9 relative where an answer has at most %d, by count and sum otherwise).\n",
			n, maxKeptNumbers)
	} else {
		fmt.Fprintf(&b, "%d differences from the answers of Silt's SQL (where TSBS asks each system a different question, e.g. its InfluxQL groupby-orderby-limit has no ORDER BY, they differ by design):\n\n", len(mm))
		for _, m := range mm {
			fmt.Fprintf(&b, "* %s #%d, %s: %v\n", m.Type, m.Seq, m.System, m.Err)
		}
	}
	for _, s := range c.Systems {
		for _, tr := range s.Queries {
			for _, e := range tr.Errors {
				fmt.Fprintf(&b, "* %s error on %s %s\n", s.Name, tr.Type, e)
			}
		}
	}

	for _, s := range c.Systems {
		if !s.answersComparable() {
			fmt.Fprintf(&b, "* %s's answers (%s) are not compared: its range functions look back over the window before each step instead of bucketing forward, so the numbers differ by design.\n", s.Name, s.Dialect)
		}
	}

	b.WriteString("\n## Setup\n\n")
	for _, s := range c.Systems {
		fmt.Fprintf(&b, "* **%s** (queries: %s)", s.Name, s.Dialect)
		if s.DiskBytes > 0 {
			fmt.Fprintf(&b, ", %s bytes on disk", thousands(float64(s.DiskBytes)))
		}
		if len(s.Notes) > 0 {
			fmt.Fprintf(&b, ": %s", strings.Join(s.Notes, "; "))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Machine\n\n")
	for _, m := range c.Machine {
		fmt.Fprintf(&b, "* %s\n", m)
	}
	if len(c.Commands) > 0 {
		b.WriteString("\n## Reproduce\n\n```sh\n")
		for _, cmd := range c.Commands {
			b.WriteString(cmd + "\n")
		}
		b.WriteString("```\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// endpointLabel names one of Silt's endpoints in a ratio cell: what its
// name adds to Systems[0]'s ("/query", "head", "head /query"), with the
// dialect where the name does not say it ("sql", "head sql"), so that two
// endpoints of one dialect (the segments' and the head's) differ.
func (c *Comparison) endpointLabel(s *SystemResult) string {
	extra := strings.TrimSpace(strings.TrimPrefix(s.Name, c.Systems[0].Name))
	switch {
	case extra == "":
		return s.Dialect
	case strings.Contains(extra, "/"):
		return extra
	}
	return extra + " " + s.Dialect
}

// storageTargets sorts the ingest and bytes-per-value targets into met and
// missed (the query targets are added by the caller).
func (c *Comparison) storageTargets() (met, missed []string) {
	silt := c.Systems[0]
	for _, p := range c.Systems[1:] {
		if p.Key != "influxdb" {
			continue
		}
		if silt.Load != nil && p.Load != nil {
			r := silt.Load.RowsPerSec() / p.Load.RowsPerSec()
			name := fmt.Sprintf("ingest ≥ 10× InfluxDB (%.2f×)", r)
			if r >= 10 {
				met = append(met, name)
			} else {
				missed = append(missed, name)
			}
		}
		if r := c.BytesPerValue(silt) / c.BytesPerValue(p); !math.IsNaN(r) {
			name := fmt.Sprintf("bytes per value ≤ InfluxDB's (%.2f×)", r)
			if r <= 1 {
				met = append(met, name)
			} else {
				missed = append(missed, name)
			}
		}
	}
	return met, missed
}

func mb(b int64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(b)/(1<<20))
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

func shortName(s string) string {
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i]
	}
	return s
}

func yesNo(ok bool) string {
	if ok {
		return "**yes**"
	}
	return "no"
}

// ratioText says a latency ratio in words a reader cannot misread.
func ratioText(r float64) string {
	switch {
	case math.IsNaN(r) || math.IsInf(r, 0):
		return "–"
	case r <= 1:
		return fmt.Sprintf("%.2f× (%.1f× faster than)", r, 1/r)
	default:
		return fmt.Sprintf("%.2f× (%.1f× slower than)", r, r)
	}
}

func num(f float64, prec int) string {
	if math.IsNaN(f) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, f)
}

// thousands formats a non-negative number rounded to an integer with commas.
func thousands(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// writeTypeTable writes a table with a row per query type of types and a
// column per system: cell gives a system's cell for a type it ran ("–"
// for one it did not, "n/a" where its dialect has no such query); last,
// when not empty, heads one more column, which lastCell fills from types.
func (c *Comparison) writeTypeTable(b *strings.Builder, types []TypeResult, cell func(*TypeResult) string, last string, lastCell func(TypeResult) string) {
	b.WriteString("| query |")
	for _, s := range c.Systems {
		fmt.Fprintf(b, " %s |", s.Name)
	}
	if last != "" {
		fmt.Fprintf(b, " %s |", last)
	}
	b.WriteString("\n|---|")
	for range c.Systems {
		b.WriteString("---|")
	}
	if last != "" {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, tr := range types {
		fmt.Fprintf(b, "| %s |", tr.Type)
		for _, s := range c.Systems {
			switch t := s.queryType(tr.Type); {
			case t == nil:
				b.WriteString(" – |")
			case t.Unsupported:
				b.WriteString(" n/a |")
			default:
				fmt.Fprintf(b, " %s |", cell(t))
			}
		}
		if last != "" {
			fmt.Fprintf(b, " %s |", lastCell(tr))
		}
		b.WriteString("\n")
	}
}

// writeCanary writes the canary's summary line and its section: the
// machine's speed per query type and the rounds that ran in a slow phase.
func (c *Comparison) writeCanary(b *strings.Builder) {
	if len(c.Canary) == 0 {
		return
	}
	ref := CanaryReference(c.Canary)
	rounds, slow := 0, 0
	var slowTypes []string
	for _, tc := range c.Canary {
		rounds += len(tc.RoundSpeeds())
		if n := len(tc.SlowRounds(ref)); n > 0 {
			slow += n
			slowTypes = append(slowTypes, tc.Type)
		}
	}
	fmt.Fprintf(b, "\nCanary (machine speed, below): %d of %d timed rounds ran in a slow phase", slow, rounds)
	if slow > 0 {
		fmt.Fprintf(b, " (%s); each such round asked every system, so it slowed all of them alike", strings.Join(slowTypes, ", "))
	}
	b.WriteString(".\n")

	b.WriteString("\n## Machine speed during the queries (canary)\n\n")
	fmt.Fprintf(b, "Before every interleaved step the benchmark client timed a fixed CPU-bound loop (%s steps of a multiply-xorshift chain, bench/canary.go) on its own thread: millions of loop steps per second of wall time, which a slower core and a core taken by another process both lower, as they lengthen the latencies; and per second of the thread's CPU time, which only a slower core lowers. Per round, the median wall-clock speed of its samples relative to the run's fastest round (%s M/s); a round below %.2f× of it ran in a slow phase (marked \\*).\n\n",
		thousands(CanaryIterations), num(ref/1e6, 0), SlowPhaseFraction)
	b.WriteString("| query | wall speed, M/s (median) | CPU speed, M/s (median) | rounds, relative wall speed | slow rounds |\n|---|---:|---:|---|---:|\n")
	for _, tc := range c.Canary {
		cpu, wall := tc.MedianSpeeds()
		var rel []string
		for _, v := range tc.RoundSpeeds() {
			mark := ""
			if v < SlowPhaseFraction*ref {
				mark = "\\*"
			}
			rel = append(rel, num(v/ref, 2)+mark)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %d of %d |\n", tc.Type, num(wall/1e6, 0), num(cpu/1e6, 0),
			strings.Join(rel, " · "), len(tc.SlowRounds(ref)), len(rel))
	}
}
