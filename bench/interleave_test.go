package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// machine is a fake shared machine: a clock that only the fake systems'
// queries (and the canary) move, and a slow phase during which all work
// takes twice as long, as this machine's real slow phases do.
type machine struct {
	now        time.Duration
	slowFrom   time.Duration
	slowUntil  time.Duration
	log        []string // every event, in order
	canaryAt   []time.Duration
	canaryCost time.Duration
}

func (m *machine) factor() time.Duration {
	if m.now >= m.slowFrom && m.now < m.slowUntil {
		return 2
	}
	return 1
}

// spend advances the clock by work done at the machine's present speed.
func (m *machine) spend(work time.Duration) time.Duration {
	d := work * m.factor()
	m.now += d
	return d
}

// canary is Schedule.Canary on the fake machine: the loop's CPU time is
// its fixed work at the present speed.
func (m *machine) canary() CanarySample {
	m.canaryAt = append(m.canaryAt, m.now)
	m.log = append(m.log, "canary")
	d := m.spend(m.canaryCost)
	return CanarySample{Iterations: CanaryIterations, CPUNS: int64(d), WallNS: int64(d)}
}

// fakeSystem answers every query with one row after cost of work.
type fakeSystem struct {
	m       *machine
	name    string
	dialect string
	cost    time.Duration
}

func (f *fakeSystem) QueryDialect() string { return f.dialect }

func (f *fakeSystem) Run(_ context.Context, text string) (RunResult, error) {
	f.m.log = append(f.m.log, f.name+" "+text)
	d := f.m.spend(f.cost)
	return RunResult{Body: []byte(`{"rows":[[1]]}`), Wall: d, CPU: d, CPUOK: true}, nil
}

func fakeQueries(typ string, n int) []Query {
	var qs []Query
	for i := range n {
		q := fmt.Sprintf("%s#%d", typ, i)
		qs = append(qs, Query{Type: typ, Seq: i, SQL: q, InfluxQL: q})
	}
	return qs
}

// The order the systems are asked in: per type, the untimed pass instance
// by instance over all systems, then each timed round instance by
// instance over all systems, who goes first rotating at every step; a
// system whose dialect lacks the type is skipped; the type hooks bracket
// the type's queries and the canary precedes every timed step.
func TestInterleaveOrder(t *testing.T) {
	m := &machine{canaryCost: time.Millisecond}
	eps := []Endpoint{
		&fakeSystem{m: m, name: "A", dialect: "sql", cost: time.Millisecond},
		&fakeSystem{m: m, name: "B", dialect: "influxql", cost: time.Millisecond},
		// PromQL has no text in fakeQueries: unsupported everywhere.
		&fakeSystem{m: m, name: "C", dialect: "promql", cost: time.Millisecond},
	}
	qs := append(fakeQueries("t1", 2), fakeQueries("t2", 1)...)
	qs[2].PromQL = "t2#0" // C answers t2
	iv := Interleave(context.Background(), eps, qs, Schedule{Runs: 2, Canary: m.canary,
		BeforeType: func(typ string) { m.log = append(m.log, "before "+typ) },
		AfterType:  func(typ string) { m.log = append(m.log, "after "+typ) },
	})
	want := []string{
		"before t1",
		"A t1#0", "B t1#0", "A t1#1", "B t1#1", // untimed; C has no t1
		"canary", "A t1#0", "B t1#0", // round 0, step 0: A first
		"canary", "B t1#1", "A t1#1", // step 1: rotated by one (C's turn skipped)
		"canary", "A t1#0", "B t1#0", // round 1, step 2: C would be first, then A
		"canary", "A t1#1", "B t1#1", // step 3: A first again
		"after t1",
		"before t2",
		"A t2#0", "B t2#0", "C t2#0",
		"canary", "A t2#0", "B t2#0", "C t2#0",
		"canary", "B t2#0", "C t2#0", "A t2#0",
		"after t2",
	}
	if !slices.Equal(m.log, want) {
		t.Fatalf("order:\n%s\nwant:\n%s", strings.Join(m.log, "\n"), strings.Join(want, "\n"))
	}
	if len(iv.Steps) != 6 || !slices.Equal(iv.Steps[1].Order, []int{1, 2, 0}) || !math.IsNaN(iv.Steps[1].MS[2]) {
		t.Fatalf("steps %+v", iv.Steps)
	}
	if len(iv.Canary) != 2 || len(iv.Canary[0].Samples) != 4 || iv.Canary[0].Samples[3].Round != 1 {
		t.Fatalf("canary %+v", iv.Canary)
	}
	c := iv.Results[2]
	if !c[0].Unsupported || c[1].Unsupported || len(c[1].Runs) != 2 || len(c[1].CPU) != 2 || len(c[1].Answers) != 1 {
		t.Fatalf("C's results %+v", c)
	}
}

// The point of interleaving: a slow phase of the machine that would fall
// on one system when they are measured one after the other falls on all
// of them, so the ratio of the medians stays the systems' true ratio; and
// the canary flags the rounds that ran in the phase.
func TestInterleaveSlowPhase(t *testing.T) {
	const perType, runs = 3, 5
	// C costs what A does; B is in between, as a heavy peer would be.
	costs := []time.Duration{time.Millisecond, 3 * time.Millisecond, time.Millisecond}
	run := func(interleaved bool) (ratio float64, m *machine, iv Interleaved) {
		// System by system, A runs from 0 to 33 ms (3 untimed, 15 ×
		// canary + query), B to about 120 (its last runs slowed), C after
		// it: the phase falls on C's whole run and on none of A's.
		// Interleaved, the untimed pass takes 15 ms and a step 6 ms at
		// full speed: the phase falls on the last round (steps from 87
		// ms on), on every system alike, fewer than half of each one's
		// runs.
		m = &machine{canaryCost: time.Millisecond, slowFrom: 85 * time.Millisecond, slowUntil: 300 * time.Millisecond}
		var eps []Endpoint
		for i, c := range costs {
			eps = append(eps, &fakeSystem{m: m, name: string(rune('A' + i)), dialect: "sql", cost: c})
		}
		qs := fakeQueries("t", perType)
		sched := Schedule{Runs: runs, Canary: m.canary}
		if interleaved {
			iv = Interleave(context.Background(), eps, qs, sched)
		} else {
			// As bench-peers measured before: each system's whole run of the
			// type, then the next system's.
			iv.Results = make([][]TypeResult, len(eps))
			for k, e := range eps {
				iv.Results[k] = Interleave(context.Background(), []Endpoint{e}, qs, sched).Results[0]
			}
		}
		_, a, _, _ := iv.Results[0][0].Stats()
		_, c, _, _ := iv.Results[2][0].Stats()
		return c / a, m, iv
	}
	seq, _, _ := run(false)
	if math.Abs(seq-1) < 0.5 {
		t.Fatalf("system by system the slow phase should bend the ratio: %.2f", seq)
	}
	ratio, m, iv := run(true)
	if math.Abs(ratio-1) > 1e-9 {
		t.Fatalf("interleaved ratio of medians %.3f, want the true 1 (system by system: %.2f)", ratio, seq)
	}
	// The slow rounds, by the fake clock: those most of whose canary
	// samples were taken inside the slow phase.
	var want []int
	for r := 0; r < runs; r++ {
		slow := 0
		for _, at := range m.canaryAt[r*perType : (r+1)*perType] {
			if at >= m.slowFrom && at < m.slowUntil {
				slow++
			}
		}
		if 2*slow > perType {
			want = append(want, r)
		}
	}
	if len(want) == 0 || len(want) == runs {
		t.Fatalf("the fake phase should cover some rounds, not all: %v", want)
	}
	got := iv.Canary[0].SlowRounds(CanaryReference(iv.Canary))
	if !slices.Equal(got, want) {
		t.Fatalf("canary flags rounds %v as slow, the fake clock says %v (speeds %v)", got, want, iv.Canary[0].RoundSpeeds())
	}
}
