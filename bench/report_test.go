package bench

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestReportTargetsAndAnswerCheck(t *testing.T) {
	ans := func(rows int, nums ...float64) Answer {
		a := Answer{Rows: rows, Count: len(nums), Numbers: nums}
		for _, n := range nums {
			a.Sum += n
		}
		return a
	}
	c := &Comparison{
		Date:    time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		Dataset: Dataset{Hosts: 10, Start: day, End: day.Add(time.Hour), Interval: 10 * time.Second, Seed: 1},
		PerType: 1, Runs: 3,
		Systems: []*SystemResult{
			{Key: "silt", Name: "Silt dev", Dialect: "sql", DiskBytes: 36000, PeakRSS: 100 << 20, Queries: []TypeResult{
				{Type: "lastpoint", Runs: []float64{1, 2, 3}, CPU: []float64{0.5, 0.25, 0.75}, Answers: []Answer{ans(2, 1, 2)}},
				{Type: "high-cpu-1", Runs: []float64{9, 9, 9}, Answers: []Answer{ans(1, 5)}},
			}},
			{Key: "silt-influxql", Name: "Silt dev /query", Dialect: "influxql", PeakRSS: 300 << 20, Queries: []TypeResult{
				{Type: "lastpoint", Runs: []float64{3, 3, 3}, Answers: []Answer{ans(2, 1, 2)}},
				{Type: "high-cpu-1", Runs: []float64{2, 2, 2}, Answers: []Answer{ans(1, 5)}},
			}},
			{Key: "influxdb", Name: "InfluxDB 1.6.7", Dialect: "influxql", DiskBytes: 72000, PeakRSS: 200 << 20, Queries: []TypeResult{
				{Type: "lastpoint", Runs: []float64{4, 4, 4}, Answers: []Answer{ans(2, 1, 2)}},
				{Type: "high-cpu-1", Runs: []float64{1, 1, 1}, Answers: []Answer{ans(1, 6)}},
			}},
			// No lastpoint in PromQL; its high-cpu-1 answer differs by
			// design and is not checked.
			{Key: "victoriametrics", Name: "VictoriaMetrics 1.79", Dialect: "promql", PeakRSS: 50 << 20, Queries: []TypeResult{
				{Type: "lastpoint", Unsupported: true},
				{Type: "high-cpu-1", Runs: []float64{0.5, 0.5, 0.5}, Answers: []Answer{ans(7, 1)}},
			}},
		},
	}
	c.Systems[0].SetLoads([]LoadResult{{Rows: 100, Elapsed: time.Second}, {Rows: 300, Elapsed: time.Second}, {Rows: 200, Elapsed: time.Second}})
	c.Systems[2].SetLoads([]LoadResult{{Rows: 10, Elapsed: time.Second}})
	mm := c.CheckAnswers()
	if len(mm) != 1 || mm[0].Type != "high-cpu-1" {
		t.Fatalf("CheckAnswers() = %v, want the high-cpu-1 difference only", mm)
	}
	var b strings.Builder
	if err := c.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"| ingest, rows/s | 200 | – | 10 | – | 20.00× InfluxDB | ≥ 10× InfluxDB | **yes** |", // median of the runs
		"| on-disk bytes per value | 1.00 | – | 2.00 | – | 0.50× InfluxDB | ≤ InfluxDB | **yes** |",
		"| peak RSS during queries, MB | 100 | 300 | 200 | 50 | 1.50× the largest peer's | ≤ largest peer's | no |",
		"| lastpoint, median ms | 2.0 | 3.0 | 4.0 | n/a | sql 0.50× (2.0× faster than) · /query 0.75× (1.3× faster than) best peer (InfluxDB) | ≤ best peer | **yes** |",
		"| high-cpu-1, median ms | 9.0 | 2.0 | 1.0 | 0.5 | sql 18.00× (18.0× slower than) · /query 4.00× (4.0× slower than) best peer (VictoriaMetrics) | ≤ best peer | no |",
		"Not met: high-cpu-1.",
		// CPU medians where measured, n/a where the dialect has no such
		// query, a dash elsewhere.
		"| lastpoint | 0.50 | – | – | n/a |",
		"| high-cpu-1 | – | – | – | – |",
		"high-cpu-1 #0, InfluxDB 1.6.7: numbers sum to 5 against 6",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}

// An interleaved run's page says so, and shows the canary: each type's
// median speeds, each round's median relative to the run's fastest round,
// the slow rounds marked and counted, and a summary line.
func TestReportCanary(t *testing.T) {
	// Per sample: CPU ns and wall ns of the canary loop; two rounds of two
	// samples per type.
	sample := func(round int, cpu, wall time.Duration) CanarySample {
		return CanarySample{Round: round, Iterations: CanaryIterations, CPUNS: int64(cpu), WallNS: int64(wall)}
	}
	ms := time.Millisecond
	c := &Comparison{
		Date:    time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		Dataset: Dataset{Hosts: 10, Start: day, End: day.Add(time.Hour), Interval: 10 * time.Second, Seed: 1},
		PerType: 2, Runs: 2, Interleaved: true,
		Systems: []*SystemResult{
			{Key: "silt", Name: "Silt dev", Dialect: "sql", Queries: []TypeResult{
				{Type: "lastpoint", Runs: []float64{1, 1, 1, 1}}, {Type: "high-cpu-1", Runs: []float64{1, 1, 1, 1}}}},
			// A second Silt endpoint of the same dialect: its ratio is told
			// apart by what its name adds.
			{Key: "silt-head", Name: "Silt dev head", Dialect: "sql", Queries: []TypeResult{
				{Type: "lastpoint", Runs: []float64{0.5, 0.5, 0.5, 0.5}}, {Type: "high-cpu-1", Runs: []float64{1, 1, 1, 1}}}},
			{Key: "influxdb", Name: "InfluxDB 1.6.7", Dialect: "influxql", Queries: []TypeResult{
				{Type: "lastpoint", Runs: []float64{2, 2, 2, 2}}, {Type: "high-cpu-1", Runs: []float64{1, 1, 1, 1}}}},
		},
		Canary: []TypeCanary{
			// Both rounds' wall clock (3 and 5 ms against the fastest
			// round's 2): slow.
			{Type: "lastpoint", Samples: []CanarySample{sample(0, 2*ms, 3*ms), sample(0, 2*ms, 3*ms), sample(1, 4*ms, 5*ms), sample(1, 4*ms, 5*ms)}},
			// Round 0 the fastest (2 ms of wall); round 1 at 0.8 of it: not
			// slow, though its CPU clock says 0.5 (the wall clock decides).
			{Type: "high-cpu-1", Samples: []CanarySample{sample(0, 2*ms, 2*ms), sample(0, 2*ms, 2*ms), sample(1, 4*ms, 2500*time.Microsecond), sample(1, 4*ms, 2500*time.Microsecond)}},
		},
	}
	var b strings.Builder
	if err := c.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	it := float64(CanaryIterations)
	// Medians of two speeds (iterations per second of each clock), in M/s.
	median := func(a, b time.Duration) float64 { return (it/a.Seconds() + it/b.Seconds()) / 2 / 1e6 }
	ref := it / 0.002 / 1e6 // high-cpu-1's round 0: 2 ms of wall
	for _, want := range []string{
		"interleaved across the systems",
		"| lastpoint, median ms | 1.0 | 0.5 | 2.0 | sql 0.50× (2.0× faster than) · head sql 0.25× (4.0× faster than) best peer (InfluxDB) |",
		// wall median, CPU median, rounds' wall speed over the reference.
		fmt.Sprintf("| lastpoint | %.0f | %.0f | %.2f\\* · %.2f\\* | 2 of 2 |", median(3*ms, 5*ms), median(2*ms, 4*ms),
			it/0.003/1e6/ref, it/0.005/1e6/ref),
		fmt.Sprintf("| high-cpu-1 | %.0f | %.0f | 1.00 · %.2f | 0 of 2 |", median(2*ms, 2500*time.Microsecond), median(2*ms, 4*ms),
			it/0.0025/1e6/ref),
		fmt.Sprintf("run's fastest round (%.0f M/s)", ref),
		"Canary (machine speed, below): 2 of 4 timed rounds ran in a slow phase (lastpoint)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
}
