// Package exec executes the logical plans of query/sql (*sql.Query) over a
// table's points and returns a *query.Result whose rows equal PostgreSQL's
// for the same data (see the package sql documentation for the dialect).
//
// Execution is columnar:
//
//  1. Materialize: the table is scanned once through a BatchSource into
//     typed column vectors: time []int64; each scanned tag as []int32 ids
//     into a per-query dictionary (-1: NULL); each scanned field as a typed
//     slice with a NULL vector. Only q.Scan columns are kept, points outside
//     q.TimeRange are skipped, and WHERE conjuncts that compare a tag with
//     constants (=, <>, <, IN, ~, LIKE) are applied here, once per distinct
//     tag value.
//  2. Filter: each top-level conjunct of q.Residual is evaluated a column at
//     a time over the current selection vector (SQL three-valued logic;
//     NULL rejects) and refines it. Columns are gathered through the
//     selection only once it is not all rows.
//  3. Group: key vectors (tag ids, date_bin buckets) become dense group ids
//     (direct slot table for one tag, a map for one time key, an encoded
//     composite key otherwise); each aggregate runs in a typed loop over
//     (group id, value). Queries without GROUP BY take one-pass scalar
//     paths for count/sum/avg.
//  4. HAVING, outputs and ORDER BY keys are evaluated as vectors over the
//     groups (or rows); DISTINCT, a stable sort with PostgreSQL's NULL
//     placement, OFFSET and LIMIT work on a permutation, and only the
//     returned rows are converted to Go values.
//
// Evaluation errors (integer overflow, division by zero) are returned with
// PostgreSQL's messages ("bigint out of range", "division by zero").
package exec

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
	"github.com/siltdb/silt/segment"
)

// ScanSpec describes what a query reads. Everything but Table is a hint: a
// source may skip data outside it (counting what it skipped in stats) but
// may also deliver more, which Run filters out.
type ScanSpec struct {
	Table   string
	Time    sql.TimeRange
	Columns []string            // columns the query reads (time aside)
	Tags    map[string][]string // every passing row has, for each key, one of the values
	// LastOnly says the query needs, of each series, only the row at the
	// largest time (in Time) with a value of each field of Columns; a
	// source may deliver just those (see lastOnly).
	LastOnly bool
	// Rollups, when set, lets the source deliver rollup rows of these
	// widths (largest useful first; see rollup.go) holding RollupColumns,
	// for windows wholly inside Time where its rollups are exact; other
	// rows come raw, holding Columns.
	Rollups       []int64
	RollupColumns []string
	// Filter, if not nil, tests raw rows on some of their fields; a
	// source may drop the rows it rejects before reading their other
	// columns (the engine does for its heads). Run filters again.
	Filter *segment.RowFilter
}

// BatchSource streams one table's rows, deduplicated, in any order, as
// column batches holding at least spec.Columns (a batch may lack a column:
// its rows are NULL there). The batch passed to fn may be reused after fn
// returns; fn is not called concurrently.
type BatchSource interface {
	ScanBatches(ctx context.Context, spec ScanSpec, stats *query.Stats, fn func(*columnar.ColumnBatch) error) error
}

// Limits bound one query; zero means unlimited.
type Limits struct {
	// MaxMemoryBytes bounds the columns a query materializes (estimated
	// per row from the scanned columns' widths).
	MaxMemoryBytes int64
	// Shared, if not nil, is the memory all queries share: what this one
	// charges against MaxMemoryBytes is also reserved from it.
	Shared *Budget

	res *reservation // this query's part of Shared, set by RunLimited
}

// ErrMemoryLimit is returned when a query would materialize more than
// Limits.MaxMemoryBytes, or more than Limits.Shared has left: every query
// language's memory-limit error (query.ErrMemoryLimit).
var ErrMemoryLimit = query.ErrMemoryLimit

// Run executes q without limits. tables lists the database's tables for
// SHOW TABLES.
func Run(ctx context.Context, q *sql.Query, src BatchSource, tables []string) (*query.Result, error) {
	return RunLimited(ctx, q, src, tables, Limits{})
}

// RunLimited executes q within lim. Over an engine whose cold segments
// can leave the object store while the query runs (EngineSource), a run
// that finds one gone is run again from the start on the reloaded
// manifests (engine.RetryGone): the answer is built whole before it is
// returned, so nothing of a failed run reaches the caller.
func RunLimited(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (*query.Result, error) {
	r, ok := src.(goneRetrier)
	if !ok || ctx.Value(explainKey{}) != nil {
		// An EXPLAIN ANALYZE collecting into the caller's Explain would
		// count a failed run's work too: it is not run again.
		return runLimitedOnce(ctx, q, src, tables, lim)
	}
	var res *query.Result
	err := r.RetryGone(ctx, nil, func(ctx context.Context) error {
		var err error
		res, err = runLimitedOnce(ctx, q, src, tables, lim)
		return err
	})
	return res, err
}

// goneRetrier is a source whose queries are run again when an object they
// read is gone from the object store (EngineSource: engine.RetryGone).
type goneRetrier interface {
	RetryGone(ctx context.Context, sent func() bool, run func(context.Context) error) error
}

func runLimitedOnce(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (*query.Result, error) {
	if q.Kind == sql.QueryExplain {
		return runExplain(ctx, q, src, tables, lim) // explain.go
	}
	if ex, _ := ctx.Value(explainKey{}).(*Explain); ex != nil && q.Kind == sql.QuerySelect {
		return ex.run(ctx, q, src, tables, lim)
	}
	return runLimited(ctx, q, src, tables, lim)
}

func runLimited(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (*query.Result, error) {
	start := time.Now()
	ctx, lim, release, cols := startQuery(ctx, q, lim)
	defer release()
	res := &query.Result{Columns: cols}
	switch q.Kind {
	case sql.QueryShowTables:
		names := slices.Clone(tables)
		sort.Strings(names)
		res.Rows = make([][]any, 0, len(names))
		for _, n := range names {
			res.Rows = append(res.Rows, []any{n})
		}
		res.Columns = []query.Column{{Name: "table_name", Type: query.TypeString}}
	case sql.QueryDescribe:
		res.Columns = []query.Column{{Name: "column_name", Type: query.TypeString},
			{Name: "data_type", Type: query.TypeString}, {Name: "column_kind", Type: query.TypeString}}
		res.Rows = [][]any{}
		for _, r := range q.DescribeRows() {
			res.Rows = append(res.Rows, []any{r[0], r[1], r[2]})
		}
	case sql.QuerySelect:
		rows, scanned, err := runSelect(ctx, q, src, &res.Stats, lim)
		if err != nil {
			return nil, err
		}
		res.Rows = rows
		res.Stats.RowsScanned = scanned
	default:
		return nil, fmt.Errorf("exec: unknown query kind %d", q.Kind)
	}
	res.Stats.Rows = len(res.Rows)
	res.Stats.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	// The answer's rows, reserved as they were built (toRows), outlive
	// the run: the caller's reservation keeps them reserved while they are
	// sent, if it asked to (HoldAnswer).
	lim.res.moveAnswerTo(answerHold(ctx))
	return res, nil
}

// startQuery is the preamble every run of a query shares: it reserves
// the query's part of the shared budget (lim.Shared) unless the caller
// holds one already (lim.res), makes the engine's scans charge their
// readers' buffers and lookahead copies to it (withScanHold, scan_hold.go),
// and lists the answer's columns from q.Outputs. The caller defers
// release, which ends the reservation taken here (none: nothing).
func startQuery(ctx context.Context, q *sql.Query, lim Limits) (context.Context, Limits, func(), []query.Column) {
	release := func() {}
	if lim.Shared != nil && lim.res == nil {
		lim.res = lim.Shared.Reserve()
		release = lim.res.release
	}
	if lim.res != nil || lim.MaxMemoryBytes > 0 {
		ctx = withScanHold(ctx, lim.res, lim.MaxMemoryBytes)
	}
	var cols []query.Column // nil for no outputs, as before
	for _, o := range q.Outputs {
		cols = append(cols, query.Column{Name: o.Name, Type: resultType(o.Type)})
	}
	return ctx, lim, release, cols
}

func runSelect(ctx context.Context, q *sql.Query, src BatchSource, stats *query.Stats, lim Limits) ([][]any, int64, error) {
	if q.Input != nil || q.HasSubqueries() {
		return runComposite(ctx, q, src, stats, lim) // rel.go
	}
	if b, desc, need, ok := bucketLimit(q); ok {
		return runBucketLimited(ctx, q, src, stats, lim, b, desc, need)
	}
	var tbl *table
	if q.Table != nil {
		var err error
		if tbl, err = materialize(ctx, q, src, stats, lim); err != nil {
			return nil, 0, err
		}
	}
	return execute(ctx, q, tbl)
}

// execute runs q over the materialized table (nil: SELECT without FROM),
// within the memory limit the table was materialized under.
func execute(ctx context.Context, q *sql.Query, tbl *table) ([][]any, int64, error) {
	outs, perm, scanned, err := executeVecs(ctx, q, tbl)
	if err != nil {
		return nil, 0, err
	}
	var held, limit int64
	var res *reservation
	if tbl != nil {
		held, limit, res = tbl.bytes, tbl.maxBytes, tbl.res
	}
	rows, err := toRows(ctx, outs, perm, held, limit, res)
	return rows, scanned, err
}

// executeVecs runs q over tbl up to the answer's column vectors: the
// answer is rows perm of outs.
func executeVecs(ctx context.Context, q *sql.Query, tbl *table) ([]*vec, []int, int64, error) {
	n := 1 // SELECT without FROM: one row
	if tbl != nil {
		n = tbl.n
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	// sel lists the rows that passed WHERE; while all rows pass (all),
	// it is not built and columns are used without a gather.
	var sel []int
	all, cnt := true, n
	var scanned int64
	if tbl != nil {
		scanned = tbl.stats
	}
	prof := profileOf(ctx) // EXPLAIN ANALYZE's; nil otherwise
	prof.begin()
	// WHERE: refine the selection conjunct by conjunct, so later conjuncts
	// only see rows the earlier ones kept.
	if q.Residual != nil {
		conj := []sql.Expr{q.Residual}
		if l, ok := q.Residual.(*sql.Logic); ok && l.Op == sql.OpAnd {
			conj = l.Args
		}
		for _, e := range conj {
			c := &evalCtx{n: cnt, tbl: tbl, sel: sel, all: all}
			v, err := c.eval(e)
			if err != nil {
				return nil, nil, 0, err
			}
			switch {
			case !all:
				sel = keepTrue(sel, v)
			case allTrue(v):
				// Every row passes (a tag condition the scan already
				// applied): the selection stays "all", built for nothing.
			default:
				sel = trueRows(v)
			}
			all = all && sel == nil
			if !all {
				cnt = len(sel)
			}
			if err := ctx.Err(); err != nil {
				return nil, nil, 0, err
			}
		}
		prof.mark(opFilter, cnt)
	}
	var out *evalCtx
	if q.Aggregated {
		g, err := group(ctx, q, &evalCtx{n: cnt, tbl: tbl, sel: sel, all: all})
		if err != nil {
			return nil, nil, 0, err
		}
		if tbl != nil {
			g.run = tbl.corr // correlated subqueries over the groups
		}
		out = g
		if q.Having != nil {
			v, err := out.eval(q.Having)
			if err != nil {
				return nil, nil, 0, err
			}
			if !allTrue(v) {
				out = gatherCtx(out, trueRows(v))
			}
		}
		prof.mark(opAggregate, out.n)
	} else {
		out = &evalCtx{n: cnt, tbl: tbl, sel: sel, all: all}
	}
	outs := make([]*vec, len(q.Outputs))
	for i, o := range q.Outputs {
		v, err := out.eval(o.Expr)
		if err != nil {
			return nil, nil, 0, err
		}
		outs[i] = v
	}
	keys := make([]*vec, len(q.OrderBy))
	for i, k := range q.OrderBy {
		if k.Output >= 0 {
			keys[i] = outs[k.Output]
			continue
		}
		v, err := out.eval(k.Expr)
		if err != nil {
			return nil, nil, 0, err
		}
		keys[i] = v
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, 0, err
	}
	prof.mark(opProject, out.n)
	perm := identity(out.n)
	if q.Distinct {
		var err error
		if perm, err = distinct(ctx, outs, out.n); err != nil {
			return nil, nil, 0, err
		}
	}
	if len(keys) > 0 {
		if err := sortRows(ctx, perm, keys, q.OrderBy); err != nil {
			return nil, nil, 0, err
		}
	}
	if q.Offset > 0 {
		if q.Offset >= int64(len(perm)) {
			perm = nil
		} else {
			perm = perm[q.Offset:]
		}
	}
	if q.Limit >= 0 && q.Limit < int64(len(perm)) {
		perm = perm[:q.Limit]
	}
	if q.Distinct || len(keys) > 0 || q.Offset > 0 || q.Limit >= 0 {
		prof.mark(opSort, len(perm))
	}
	return outs, perm, scanned, nil
}

// RunTable executes q within lim as RunLimited does, but answers a SELECT
// over one table (no subquery, join or set operation, not EXPLAIN) as
// the typed columns the executor computed (tab) instead of rows (res):
// exactly one of the two is set. The answer is charged against lim, and
// held past the run (HoldAnswer), as RunLimited charges its rows, so the
// two fail alike; an encoder writes a Table as the same answer's Result.
func RunTable(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (res *query.Result, tab *query.Table, err error) {
	r, ok := src.(goneRetrier)
	if !ok || ctx.Value(explainKey{}) != nil {
		return runTableOnce(ctx, q, src, tables, lim)
	}
	// As RunLimited: a run that found an object gone is run again whole.
	err = r.RetryGone(ctx, nil, func(ctx context.Context) error {
		var err error
		res, tab, err = runTableOnce(ctx, q, src, tables, lim)
		return err
	})
	return res, tab, err
}

func runTableOnce(ctx context.Context, q *sql.Query, src BatchSource, tables []string, lim Limits) (*query.Result, *query.Table, error) {
	typed := q.Kind == sql.QuerySelect && q.Table != nil && q.Input == nil && !q.HasSubqueries() &&
		ctx.Value(explainKey{}) == nil && ctx.Value(profileKey{}) == nil
	if typed {
		_, _, _, bucketed := bucketLimit(q)
		typed = !bucketed
	}
	if !typed {
		res, err := runLimitedOnce(ctx, q, src, tables, lim)
		return res, nil, err
	}
	start := time.Now()
	ctx, lim, release, cols := startQuery(ctx, q, lim)
	defer release()
	tab := &query.Table{Columns: cols}
	tbl, err := materialize(ctx, q, src, &tab.Stats, lim)
	if err != nil {
		return nil, nil, err
	}
	outs, perm, scanned, err := executeVecs(ctx, q, tbl)
	if err != nil {
		return nil, nil, err
	}
	// Charged as toRows charges the same answer as rows: the limits fail
	// on the same queries with the same errors, and what the columns
	// hold while they are sent is at most that (below).
	if err := chargeAnswer(outs, perm, tbl.bytes, tbl.maxBytes, tbl.res); err != nil {
		return nil, nil, err
	}
	for _, v := range outs {
		if v.n > len(perm) {
			// LIMIT, OFFSET or DISTINCT kept fewer rows than the vectors
			// hold (maybe the table's own columns): keep just those while
			// the answer is sent.
			for i := range outs {
				outs[i] = outs[i].gather(perm)
			}
			perm = identity(len(perm))
			break
		}
	}
	tab.Rows = perm
	tab.Vecs = make([]query.Vector, len(outs))
	for i, v := range outs {
		tab.Vecs[i] = v.vector()
	}
	tab.Stats.RowsScanned = scanned
	tab.Stats.Rows = len(perm)
	tab.Stats.ElapsedMs = float64(time.Since(start).Microseconds()) / 1000
	lim.res.moveAnswerTo(answerHold(ctx))
	return nil, tab, nil
}

// vector is v as a column of a query.Table.
func (v *vec) vector() query.Vector {
	out := query.Vector{Null: v.null}
	switch {
	case v.typ == sql.TypeNull:
		out.AllNull = true
	case v.typ == sql.TypeInt64 && v.i != nil:
		out.Int = v.i
	case v.typ == sql.TypeTimestamp && v.i != nil:
		out.Time = v.i
	case v.typ == sql.TypeUint64 && v.u != nil:
		out.Uint = v.u
	case v.typ == sql.TypeFloat64 && v.f != nil:
		out.Float = v.f
	case v.typ == sql.TypeBool && v.b != nil:
		out.Bool = v.b
	case v.typ == sql.TypeString && v.ids != nil:
		out.IDs, out.Dict = v.ids, v.dict
	case v.typ == sql.TypeString && v.s != nil:
		out.Str = v.s
	default:
		// Intervals (as text) and anything else: the row path's values.
		out.Value = v.value
	}
	return out
}

// chargeAnswer charges the answer rows perm of outs, as Go values, on
// top of held bytes against limit (0: none), and reserves them from res.
func chargeAnswer(outs []*vec, perm []int, held, limit int64, res *reservation) error {
	// The answer's rows as Go values come on top of the columns they are
	// read from, and for a wide SELECT * they are the larger part: charge
	// both, so that the limit bounds what the query holds.
	per := rowValueBytes(outs)
	if need := held + int64(len(perm))*per; limit > 0 && need > limit {
		return fmt.Errorf("%w: %d result rows of about %d bytes each as values, on %d bytes of columns, passed %d bytes (--query-max-memory); narrow the time range, the columns, or add LIMIT",
			ErrMemoryLimit, len(perm), per, held, limit)
	}
	return res.growAnswer(int64(len(perm)) * per)
}

// toRows converts rows perm of outs into Go values, charging them on top
// of held bytes against limit (0: none), and reserving them from res
// before they are built.
func toRows(ctx context.Context, outs []*vec, perm []int, held, limit int64, res *reservation) ([][]any, error) {
	if err := chargeAnswer(outs, perm, held, limit, res); err != nil {
		return nil, err
	}
	rows := make([][]any, len(perm))
	cells := make([]any, len(perm)*len(outs))
	// Dictionary-encoded strings (tags) are boxed once per dictionary
	// entry, not once per cell: a SELECT * row holds a tag per column.
	boxed := make([][]any, len(outs))
	for i, v := range outs {
		if v.typ == sql.TypeString && v.ids != nil && len(v.dict) < len(perm) {
			boxed[i] = make([]any, len(v.dict)+1) // the last: absent ("")
			for j, s := range v.dict {
				boxed[i][j] = s
			}
			boxed[i][len(v.dict)] = ""
		}
	}
	for r, k := range perm {
		if r%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := cells[r*len(outs) : (r+1)*len(outs) : (r+1)*len(outs)]
		for i, v := range outs {
			if b := boxed[i]; b != nil && !v.isNull(k) {
				id := v.ids[k]
				if id < 0 {
					id = int32(len(b) - 1)
				}
				row[i] = b[id]
				continue
			}
			row[i] = v.value(k)
		}
		rows[r] = row
	}
	if p := profileOf(ctx); p != nil {
		p.mark(opOutput, len(rows))
		p.charged(held + int64(len(perm))*rowValueBytes(outs))
	}
	return rows, nil
}

// rowValueBytes estimates what one result row of outs takes as Go values:
// its slice header, an interface per cell, and the value boxed behind it
// (a time.Time 24 bytes, a number 8, a string's header 16; string bytes are
// shared with the columns).
func rowValueBytes(outs []*vec) int64 {
	n := int64(24 + 16*len(outs))
	for _, v := range outs {
		switch v.typ {
		case sql.TypeTimestamp:
			n += 24
		case sql.TypeString:
			n += 16
		case sql.TypeInt64, sql.TypeUint64, sql.TypeFloat64:
			n += 8
		}
	}
	return n
}

// ctxCheckRows is how many rows a row-at-a-time loop handles between
// checks of its context: often enough that a query stops within
// milliseconds of its deadline or its client's disconnect, rarely enough
// to cost nothing measurable.
const ctxCheckRows = 4096

func identity(n int) []int {
	idx := make([]int, n)
	for k := range idx {
		idx[k] = k
	}
	return idx
}

// allTrue reports whether the predicate v is TRUE on every row.
func allTrue(v *vec) bool {
	for k := range v.n {
		if !v.b[k] || v.isNull(k) {
			return false
		}
	}
	return true
}

// trueRows lists the rows where the predicate v is TRUE.
func trueRows(v *vec) []int {
	out := make([]int, 0, v.n)
	for k := range v.n {
		if v.b[k] && !v.isNull(k) {
			out = append(out, k)
		}
	}
	return out
}

// keepTrue keeps the entries of sel where the predicate v is TRUE.
func keepTrue(sel []int, v *vec) []int {
	out := make([]int, 0, len(sel))
	for k, r := range sel {
		if v.b[k] && !v.isNull(k) {
			out = append(out, r)
		}
	}
	return out
}

func gatherCtx(c *evalCtx, idx []int) *evalCtx {
	g := &evalCtx{n: len(idx), run: c.run}
	for _, k := range c.keys {
		g.keys = append(g.keys, k.gather(idx))
	}
	for _, a := range c.aggs {
		g.aggs = append(g.aggs, a.gather(idx))
	}
	return g
}

// distinct returns the first row of each distinct output tuple (NULLs
// equal each other), in row order.
func distinct(ctx context.Context, outs []*vec, n int) ([]int, error) {
	seen := make(map[string]struct{}, n)
	var buf []byte
	var keep []int
	for k := 0; k < n; k++ {
		if k%ctxCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		buf = buf[:0]
		for _, v := range outs {
			buf = appendKey(buf, v, k)
		}
		if _, ok := seen[string(buf)]; ok {
			continue
		}
		seen[string(buf)] = struct{}{}
		keep = append(keep, k)
	}
	return keep, nil
}

// appendKey appends an unambiguous encoding of row k of v.
func appendKey(buf []byte, v *vec, k int) []byte {
	if v.isNull(k) || v.typ == sql.TypeNull {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	switch v.typ {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		buf = binary.LittleEndian.AppendUint64(buf, uint64(v.i[k]))
	case sql.TypeUint64:
		buf = binary.LittleEndian.AppendUint64(buf, v.u[k])
	case sql.TypeFloat64:
		f := v.f[k]
		if f == 0 {
			f = 0 // -0 equals 0
		}
		if f != f {
			buf = append(buf, 0xff) // every NaN is one value
		} else {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(f))
		}
	case sql.TypeBool:
		if v.b[k] {
			buf = append(buf, 1)
		} else {
			buf = append(buf, 0)
		}
	case sql.TypeString:
		s := v.str(k)
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return buf
}

// sortRows sorts perm stably by the ORDER BY keys with PostgreSQL's NULL
// placement. It sorts runs of sortRun rows, then merges them pairwise,
// checking ctx between runs and every ctxCheckRows rows of a merge, so a
// query whose deadline passes or whose client leaves stops sorting within
// milliseconds (a stable sort of millions of rows takes seconds).
func sortRows(ctx context.Context, perm []int, keys []*vec, spec []sql.SortKey) error {
	cmp := func(a, b int) int {
		for i, v := range keys {
			an, bn := v.isNull(a) || v.typ == sql.TypeNull, v.isNull(b) || v.typ == sql.TypeNull
			var c int
			switch {
			case an && bn:
				c = 0
			case an:
				c = 1
				if spec[i].NullsFirst {
					c = -1
				}
			case bn:
				c = -1
				if spec[i].NullsFirst {
					c = 1
				}
			default:
				c = compareAt(v, a, v, b)
				if spec[i].Desc {
					c = -c
				}
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}
	n := len(perm)
	for lo := 0; lo < n; lo += sortRun {
		if err := ctx.Err(); err != nil {
			return err
		}
		slices.SortStableFunc(perm[lo:min(lo+sortRun, n)], cmp)
	}
	if n <= sortRun {
		return nil
	}
	src, dst := perm, make([]int, n)
	for width := sortRun; width < n; width *= 2 {
		for lo := 0; lo < n; lo += 2 * width {
			mid, hi := min(lo+width, n), min(lo+2*width, n)
			i, j, k := lo, mid, lo
			for i < mid && j < hi {
				if k%ctxCheckRows == 0 {
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				// Ties take the left run's row first: the merge is stable.
				if cmp(src[j], src[i]) < 0 {
					dst[k] = src[j]
					j++
				} else {
					dst[k] = src[i]
					i++
				}
				k++
			}
			k += copy(dst[k:], src[i:mid])
			copy(dst[k:], src[j:hi])
		}
		src, dst = dst, src
	}
	if &src[0] != &perm[0] {
		copy(perm, src)
	}
	return nil
}

// sortRun is how many rows sortRows sorts between context checks: 16k
// rows take a few milliseconds with a multi-key comparison.
const sortRun = 1 << 14
