package bench

import (
	"context"
	"fmt"
	"math"
	"time"
)

// Endpoint is one system's query endpoint in an interleaved run. *Client
// is the real one; tests drive the scheduler with fakes.
type Endpoint interface {
	// QueryDialect names the language the endpoint speaks (Query.Text's
	// key, ParseAnswer's dialect).
	QueryDialect() string
	// Run sends text once and reports what came back.
	Run(ctx context.Context, text string) (RunResult, error)
}

// RunResult is one query's response and cost.
type RunResult struct {
	Body []byte
	Wall time.Duration // from sending the request to having read the whole answer
	// CPU is the server's CPU time meanwhile, when CPUOK (a ServerPID).
	CPU   time.Duration
	CPUOK bool
}

// QueryDialect implements Endpoint.
func (c *Client) QueryDialect() string { return c.Dialect }

// Run implements Endpoint: Do, with the server's CPU read around it when
// c has a ServerPID.
func (c *Client) Run(ctx context.Context, text string) (RunResult, error) {
	cpu0, ok0 := c.serverCPU()
	body, d, err := c.Do(ctx, text)
	cpu1, ok1 := c.serverCPU()
	if err != nil {
		return RunResult{}, err
	}
	return RunResult{Body: body, Wall: d, CPU: cpu1 - cpu0, CPUOK: ok0 && ok1}, nil
}

// Schedule says how Interleave runs the queries and what it does around
// them.
type Schedule struct {
	Runs int // timed runs of every instance on every endpoint
	// BeforeType and AfterType, when set, are called before a type's
	// first query (its untimed runs included) and after its last: bench
	// compare resets the servers' peak RSS there and reads it back.
	BeforeType, AfterType func(typ string)
	// Canary, when set, is sampled before every timed step (RunCanary in
	// bench compare): the machine's speed next to each step's timings.
	Canary func() CanarySample
	// Progress, when set, is called after every query.
	Progress func(done, total int)
}

// Step is one timed step of an interleaved run: one instance of a type,
// asked once of every endpoint in turn.
type Step struct {
	Type  string
	Round int   // the timed round (0 .. Runs-1)
	Seq   int   // the instance
	Order []int // endpoint indexes in the order they were asked
	// MS is each endpoint's wall time in ms (by endpoint index), NaN
	// where it did not answer (no such query in its dialect, an error).
	MS []float64
}

// Interleaved is what Interleave measured.
type Interleaved struct {
	Results [][]TypeResult // [endpoint][type], types in the order of qs
	Canary  []TypeCanary   // per type, when Schedule.Canary was set
	Steps   []Step         // every timed step, in the order run
}

// Interleave runs the query instances qs (grouped by type, as
// QueryGen.Generate returns them) on every endpoint, type by type, so
// that each type is measured on all endpoints within the same short
// window: a slow phase of a shared machine (its speed swings 2× for
// minutes) then falls on all of them alike instead of on whichever
// system happened to run then, which would bend a ratio by 2×.
//
// Per type: every instance once untimed on every endpoint in turn (its
// answer is kept for the cross-checks; caches warm evenly), then
// s.Runs timed rounds; a round asks every instance of every endpoint,
// instance by instance (instance 1 on A, B, C, ..., then instance 2, ...).
// Who goes first rotates by one at every step, so no endpoint always
// follows the same neighbour (whose heavy query may leave caches cold or
// a garbage collector running). Queries run one at a time.
func Interleave(ctx context.Context, eps []Endpoint, qs []Query, s Schedule) Interleaved {
	n := len(eps)
	iv := Interleaved{Results: make([][]TypeResult, n)}
	total, done := n*len(qs)*(s.Runs+1), 0
	step := func() {
		done++
		if s.Progress != nil {
			s.Progress(done, total)
		}
	}
	for i := 0; i < len(qs); {
		j := i
		for j < len(qs) && qs[j].Type == qs[i].Type {
			j++
		}
		typ := qs[i].Type
		if s.BeforeType != nil {
			s.BeforeType(typ)
		}
		trs := make([]TypeResult, n)
		for k, e := range eps {
			trs[k].Type = typ
			trs[k].Unsupported = qs[i].Text(e.QueryDialect()) == ""
		}
		for _, q := range qs[i:j] {
			for k, e := range eps {
				if trs[k].Unsupported {
					step()
					continue
				}
				var a Answer
				r, err := e.Run(ctx, q.Text(e.QueryDialect()))
				if err == nil {
					a, err = ParseAnswer(e.QueryDialect(), r.Body)
				}
				if err != nil {
					trs[k].Errors = append(trs[k].Errors, fmt.Sprintf("instance %d: %v", q.Seq, err))
				}
				trs[k].Answers = append(trs[k].Answers, a)
				step()
			}
		}
		tc := TypeCanary{Type: typ}
		nth := 0 // the step's number within the type: the rotation
		for r := 0; r < s.Runs; r++ {
			for _, q := range qs[i:j] {
				if s.Canary != nil {
					c := s.Canary()
					c.Round = r
					tc.Samples = append(tc.Samples, c)
				}
				st := Step{Type: typ, Round: r, Seq: q.Seq, Order: make([]int, 0, n), MS: make([]float64, n)}
				for o := 0; o < n; o++ {
					k := (o + nth) % n
					st.Order = append(st.Order, k)
					st.MS[k] = math.NaN()
					if trs[k].Unsupported {
						step()
						continue
					}
					res, err := eps[k].Run(ctx, q.Text(eps[k].QueryDialect()))
					if err == nil {
						st.MS[k] = float64(res.Wall) / float64(time.Millisecond)
						trs[k].Runs = append(trs[k].Runs, st.MS[k])
						if res.CPUOK {
							trs[k].CPU = append(trs[k].CPU, float64(res.CPU)/float64(time.Millisecond))
						}
					}
					step()
				}
				iv.Steps = append(iv.Steps, st)
				nth++
			}
		}
		if s.AfterType != nil {
			s.AfterType(typ)
		}
		for k := range eps {
			iv.Results[k] = append(iv.Results[k], trs[k])
		}
		if s.Canary != nil {
			iv.Canary = append(iv.Canary, tc)
		}
		i = j
	}
	return iv
}
