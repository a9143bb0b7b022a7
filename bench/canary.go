package bench

import (
	"math"
	"runtime"
	"slices"
	"time"
)

// The canary is a fixed CPU-bound loop the benchmark client times between
// queries. On a shared machine the speed of a core swings by about 2× in
// phases (other tenants, a busy hyperthread sibling): the same query then
// costs twice the CPU. Interleaving spreads such a phase over every system
// of a comparison; the canary says when one happened, so a reader can tell
// a slow type from a slow minute.

// CanaryIterations is the canary loop's length: about 2–5 ms of one core.
// Short, so that sampling it before every interleaved step costs the run
// little; long enough that the thread CPU clock's resolution (ns) and the
// /proc read around it (µs) do not matter.
const CanaryIterations = 2 << 20

// CanarySample is one timing of the canary loop.
type CanarySample struct {
	Round      int   `json:"round"` // the timed round it preceded (0-based)
	Iterations int64 `json:"iterations"`
	// CPUNS is the CPU time the loop's thread ran (clock_gettime), 0 when
	// not measurable; WallNS is the wall time, which also counts the time
	// the thread waited for a core.
	CPUNS  int64 `json:"cpu_ns"`
	WallNS int64 `json:"wall_ns"`
}

// Speed is the loop's iterations per second of CPU time (of wall time
// when CPU time was not measured): the core's speed while the thread ran.
func (s CanarySample) Speed() float64 {
	ns := s.CPUNS
	if ns <= 0 {
		ns = s.WallNS
	}
	if ns <= 0 {
		return math.NaN()
	}
	return float64(s.Iterations) / (float64(ns) / 1e9)
}

// WallSpeed is the loop's iterations per second of wall time: the speed
// a request saw, the waits for a busy core included.
func (s CanarySample) WallSpeed() float64 {
	if s.WallNS <= 0 {
		return math.NaN()
	}
	return float64(s.Iterations) / (float64(s.WallNS) / 1e9)
}

// canarySink keeps the loop's result alive so the compiler cannot drop it.
var canarySink uint64

// canaryLoop is n steps of a 64-bit LCG with a xorshift: each step
// depends on the previous one (no instruction-level parallelism to vary
// with the neighbours' load) and touches no memory (no cache effects).
func canaryLoop(n int, x uint64) uint64 {
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

// RunCanary times the canary loop once on a locked OS thread.
func RunCanary() CanarySample {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, ok0 := threadCPU()
	start := time.Now()
	canarySink = canaryLoop(CanaryIterations, canarySink|1)
	wall := time.Since(start)
	cpu1, ok1 := threadCPU()
	s := CanarySample{Iterations: CanaryIterations, WallNS: int64(wall)}
	if ok0 && ok1 && cpu1 > cpu0 {
		s.CPUNS = cpu1 - cpu0
	}
	return s
}

// TypeCanary is the canary's samples during one query type's timed
// rounds: one before each interleaved step.
type TypeCanary struct {
	Type    string         `json:"type"`
	Samples []CanarySample `json:"samples"`
}

// RoundSpeeds returns the median wall-clock canary speed of each round
// (NaN for a round without samples), rounds 0..n-1 where n is one more
// than the largest round sampled. Wall clock, because the latencies are
// wall-clock: a slower core and a core taken by another process both
// lower it, where the CPU clock sees only the first (on this machine,
// 300 samples beside a server's repeated query at load 5–7: the loop's CPU
// time stayed within about 20% while the query's CPU swung 3×).
func (tc TypeCanary) RoundSpeeds() []float64 {
	n := 0
	for _, s := range tc.Samples {
		n = max(n, s.Round+1)
	}
	per := make([][]float64, n)
	for _, s := range tc.Samples {
		if v := s.WallSpeed(); !math.IsNaN(v) {
			per[s.Round] = append(per[s.Round], v)
		}
	}
	out := make([]float64, n)
	for i, v := range per {
		out[i] = Median(v)
	}
	return out
}

// SlowPhaseFraction: a round whose median canary speed is below this
// fraction of the run's fastest round ran in a slow phase. The two speeds
// of the shared machine are about 2× apart; 0.75 separates them with room
// for the noise of a few ms samples.
const SlowPhaseFraction = 0.75

// CanaryReference is the speed a run's rounds are compared with: the
// fastest round median of all types (a median of several samples, so one
// lucky sample does not set it). NaN without samples.
func CanaryReference(tcs []TypeCanary) float64 {
	ref := math.NaN()
	for _, tc := range tcs {
		for _, v := range tc.RoundSpeeds() {
			if !math.IsNaN(v) && (math.IsNaN(ref) || v > ref) {
				ref = v
			}
		}
	}
	return ref
}

// SlowRounds returns the rounds of tc whose median speed is below
// SlowPhaseFraction of ref.
func (tc TypeCanary) SlowRounds(ref float64) []int {
	var out []int
	for i, v := range tc.RoundSpeeds() {
		if v < SlowPhaseFraction*ref {
			out = append(out, i)
		}
	}
	return out
}

// MedianSpeeds returns the median CPU-time and wall-time speeds over all
// of tc's samples.
func (tc TypeCanary) MedianSpeeds() (cpu, wall float64) {
	var c, w []float64
	for _, s := range tc.Samples {
		c = append(c, s.Speed())
		w = append(w, s.WallSpeed())
	}
	c = slices.DeleteFunc(c, math.IsNaN)
	w = slices.DeleteFunc(w, math.IsNaN)
	return Median(c), Median(w)
}
