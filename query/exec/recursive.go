package exec

import (
	"fmt"

	"github.com/siltdb/silt/query/sql"
)

// ErrRecursionLimit is returned when a WITH RECURSIVE query runs more
// rounds than its limit allows (recursionLimit). It wraps ErrMemoryLimit:
// the limit follows from the query's memory limit, and the endpoints
// answer both as the query's resource error.
var ErrRecursionLimit = fmt.Errorf("%w: recursion too deep", ErrMemoryLimit)

// Bounds of a recursive query's rounds. Every round but the last adds at
// least one row, so the memory limit bounds the rounds already, to one per
// held row; these keep a query whose rows are tiny (or a run without a
// memory limit) from looping for minutes.
const (
	minRecursionRounds = 1000
	maxRecursionRounds = 100000
	// recursionRoundBytes is the memory limit's bytes per allowed round.
	recursionRoundBytes = 1024
)

// recursionLimit is the number of rounds a recursive query may run under
// lim: one per recursionRoundBytes of the memory limit, within
// [minRecursionRounds, maxRecursionRounds].
func recursionLimit(lim Limits) int {
	if lim.MaxMemoryBytes <= 0 {
		return maxRecursionRounds
	}
	return int(min(max(lim.MaxMemoryBytes/recursionRoundBytes, minRecursionRounds), maxRecursionRounds))
}

// recursive computes a WITH RECURSIVE query: Init's rows, then round
// after round Step over the rows the round before added, until a round
// adds none. Without All, a row already produced is not added again (and
// so does not feed the next round), as PostgreSQL's UNION does. Every
// row is charged to the statement's memory limit as it is added.
func (r *relRun) recursive(rel *sql.Rel) (*relation, error) {
	init, err := r.rel(rel.Init)
	if err != nil {
		return nil, err
	}
	nc := len(rel.Cols)
	acc := make([]*builder, nc)
	for i, c := range rel.Cols {
		acc[i] = newBuilder(c.Type, init.n)
	}
	var seen map[string]bool
	if !rel.All {
		seen = map[string]bool{}
	}
	var buf []byte
	// add appends the rows of m not seen before, and returns them as the
	// next round's work table.
	add := func(m *relation, round int) (*relation, error) {
		cols := make([]*vec, nc)
		for i, v := range m.cols {
			c, err := castTo(v, rel.Cols[i].Type)
			if err != nil {
				return nil, err
			}
			cols[i] = c
		}
		keep := make([]int, 0, m.n)
		for k := 0; k < m.n; k++ {
			if seen != nil {
				buf = buf[:0]
				for _, v := range cols {
					buf = appendKey(buf, v, k)
				}
				if seen[string(buf)] {
					continue
				}
				seen[string(buf)] = true
			}
			keep = append(keep, k)
		}
		work := &relation{n: len(keep), cols: make([]*vec, nc)}
		for i, v := range cols {
			work.cols[i] = dense(v, keep)
			for _, k := range keep {
				acc[i].add(v, k)
			}
		}
		if err := r.hold(work, fmt.Sprintf("round %d of recursive query %q (%d rows)", round, rel.Name, work.n)); err != nil {
			return nil, err
		}
		return work, nil
	}
	work, err := add(init, 0)
	if err != nil {
		return nil, err
	}
	limit := recursionLimit(r.lim)
	for round := 1; work.n > 0; round++ {
		if round > limit {
			return nil, fmt.Errorf("%w: recursive query %q still adds rows after %d rounds, the limit under a --query-max-memory of %d bytes (one round per %d bytes, %d to %d); add a stop condition to its recursive term",
				ErrRecursionLimit, rel.Name, limit, r.lim.MaxMemoryBytes, recursionRoundBytes, minRecursionRounds, maxRecursionRounds)
		}
		if err := r.ctx.Err(); err != nil {
			return nil, err
		}
		p := r.part()
		p.cache[rel.Work] = work
		m, err := p.rel(rel.Step)
		p.done()
		if err != nil {
			return nil, err
		}
		if work, err = add(m, round); err != nil {
			return nil, err
		}
	}
	out := &relation{cols: make([]*vec, nc)}
	for i, b := range acc {
		out.cols[i] = b.v
	}
	if nc > 0 {
		out.n = acc[0].v.n
	}
	// The rows were charged as each round's work table: the result holds
	// them once more.
	return out, r.hold(out, fmt.Sprintf("recursive query %q's %d rows", rel.Name, out.n))
}
