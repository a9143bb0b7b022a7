package influxql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/query/sql"
)

// A chunked answer (chunked=true) is sent as it is computed. A raw SELECT
// — points, no aggregate, no LIMIT — is read a time window at a time, so
// that what the server holds is bounded by a window and a chunk, not by
// the answer: InfluxDB's order is each series (GROUP BY tag set) whole,
// in time order, so with GROUP BY tags the groups are first listed (a
// pass over the windows that counts rows per group), then each group is
// read window by window. A window's points are exactly the answer's
// points in that stretch of time, from the same code that reads them all
// at once (rawSeries), so the chunks are those of the whole answer.
// Other statements run whole and are then cut into chunks.

// TimeBounder is a Backend that knows, from metadata, bounds on the times
// of a table's rows (no row is outside lo..hi); ok is false for an empty
// table. Without it a chunked answer is computed whole before it is cut.
type TimeBounder interface {
	TimeBounds(db, table string) (lo, hi int64, ok bool)
}

// minWindowRows is the fewest rows a window is sized for: a small
// chunk_size still reads windows of a few thousand rows, since each
// window is a query of its own.
const minWindowRows = 4096

// firstWindow is the width of the first window over a measurement, in
// nanoseconds: windows then widen (up to eightfold) or narrow to hold
// about the rows wanted.
const firstWindow = int64(1e9)

// sendError is a chunk that could not be sent (the client went away):
// it ends the answer, unlike a statement's error.
type sendError struct{ err error }

func (e *sendError) Error() string { return "send chunk: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// Chunks runs the request's statements in order, sending each one's
// answer to emit as InfluxDB 1.x chunks it (see Chunks), raw SELECTs as
// they are read. A statement's error is sent in its result and the
// statements after it answer "not executed"; the error returned is
// emit's. The response emit gets is reused after it returns.
//
// The request's --query-max-rows does not bound a SELECT sent as it is
// read (as InfluxDB's max-row-limit does not bound chunked answers): what
// it holds is bounded without it.
func (p *Prepared) Chunks(ctx context.Context, b Backend, size int, emit func(*Response) error) error {
	k := newChunker(size, func(r *Response) error {
		if err := emit(r); err != nil {
			return &sendError{err}
		}
		return nil
	})
	failed := false
	for i, st := range p.q.Statements {
		if failed {
			if err := k.result(&Result{StatementID: i, Error: ErrNotExecuted.Error()}); err != nil {
				return err
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			failed = true
			if err := k.result(&Result{StatementID: i, Error: err.Error()}); err != nil {
				return err
			}
			continue
		}
		if sel, ok := st.(*influxql.SelectStatement); ok {
			if cs, ok := planStream(b, p.req, sel); ok {
				k.begin(i)
				err := streamSelect(ctx, b.(TimeBounder), k, cs, !sel.TimeAscending())
				var se *sendError
				if errors.As(err, &se) {
					return err
				}
				msg := ""
				if err != nil {
					msg, failed = statementError(err, p.req), true
				}
				if err := k.end(msg); err != nil {
					return err
				}
				continue
			}
		}
		r := &Result{StatementID: i}
		series, err := execStatement(ctx, b, p.req, st)
		if err != nil {
			r.Error, r.err, failed = statementError(err, p.req), err, true
		} else {
			r.Series, r.chunking = series, chunkingOf(st)
		}
		if err := k.result(r); err != nil {
			return err
		}
		// Sent: the statement's rows are no longer held.
		p.req.mem.held = 0
	}
	return nil
}

// planStream compiles a SELECT that can be sent as it is read: raw points
// of measurements (no aggregate, math function, transformation, LIMIT,
// OFFSET, SLIMIT, INTO or subquery), over a backend that knows its
// tables' time bounds. It returns a compiler per measurement with a time
// range. Whatever else (and any error, which the whole path reports as
// it always does) is not streamed.
func planStream(b Backend, req Request, st *influxql.SelectStatement) ([]*selectCompiler, bool) {
	if _, ok := b.(TimeBounder); !ok {
		return nil, false
	}
	if st.Target != nil || st.Limit != 0 || st.Offset != 0 || st.SLimit != 0 || st.SOffset != 0 || len(st.Sources) == 0 {
		return nil, false
	}
	for _, src := range st.Sources {
		if _, ok := src.(*influxql.Measurement); !ok {
			return nil, false
		}
	}
	db := sourceDB(st.Sources, "", req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		return nil, false
	}
	names := sourceTables(st.Sources, tables)
	union := unionSchema(tables, names)
	var cs []*selectCompiler
	for _, m := range names {
		c := &selectCompiler{b: b, req: req, db: db, tables: tables, m: m, schema: tables[m], union: union}
		empty, err := c.prepare(st)
		if err != nil || c.interval > 0 || hasMath(c.stmt.Fields) {
			return nil, false
		}
		if ts, err := transformsOf(c.stmt.Fields); err != nil || ts != nil {
			return nil, false
		}
		calls := 0
		for _, f := range c.stmt.Fields {
			influxql.WalkFunc(f.Expr, func(n influxql.Node) {
				if _, ok := n.(*influxql.Call); ok {
					calls++
				}
			})
		}
		if calls > 0 {
			return nil, false
		}
		if _, _, err := c.rawExprs(); err != nil {
			return nil, false
		}
		if !empty {
			cs = append(cs, c)
		}
	}
	return cs, true
}

// streamSelect sends the points of each compiled measurement to k, in
// the order of the whole answer: measurements by name and groups by tag
// set, both reversed for ORDER BY time DESC (as the whole answer reverses
// its series), each group's points in time order.
func streamSelect(ctx context.Context, tb TimeBounder, k *chunker, cs []*selectCompiler, desc bool) (err error) {
	defer func() {
		// A bug here must fail one statement, not the server.
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error running SELECT: %v", r)
		}
	}()
	if desc {
		cs = slices.Clone(cs)
		slices.Reverse(cs)
	}
	target := int64(max(k.size, minWindowRows))
	for _, c := range cs {
		lo, hi, ok := tb.TimeBounds(c.db, c.m)
		if !ok {
			continue
		}
		lo, hi = max(lo, c.tmin), min(hi, c.tmax)
		if lo > hi {
			continue
		}
		if len(c.dims) == 0 {
			if err := c.streamGroups(ctx, k, nil, lo, hi, firstWindow, target, desc); err != nil {
				return err
			}
			continue
		}
		groups, w, err := c.listGroups(ctx, lo, hi, target)
		if err != nil {
			return err
		}
		if desc {
			slices.Reverse(groups)
		}
		for i := 0; i < len(groups); {
			g := groups[i]
			if g.rows > target {
				// A group's points are at most all points: a window that
				// held about target rows of all groups is a safe start.
				if err := c.streamGroups(ctx, k, groups[i:i+1], lo, hi, w, target, desc); err != nil {
					return err
				}
				i++
				continue
			}
			// Consecutive groups that together have no more rows than a
			// window holds are read at once, in one query.
			j, sum := i, int64(0)
			for j < len(groups) && sum+groups[j].rows <= target {
				sum += groups[j].rows
				j++
			}
			if err := c.streamGroups(ctx, k, groups[i:j], lo, hi, hi-lo+1, target, desc); err != nil {
				return err
			}
			i = j
		}
	}
	return nil
}

// group is one GROUP BY tag set: its series key (as seriesFor builds
// it) and the values of c.dims (a string, or nil for a series without
// the tag).
type group struct {
	key  string
	vals []any
	rows int64 // rows of the group in the range, those without the selected fields too
}

// listGroups lists the GROUP BY tag sets with points in lo..hi, sorted by
// series key, and their rows, from a count of rows per tag set in each
// window (which holds one int per group, not the rows). w is the width
// the windows settled at.
func (c *selectCompiler) listGroups(ctx context.Context, lo, hi, target int64) ([]*group, int64, error) {
	found := map[string]*group{}
	cb := &scanCounter{Backend: c.b}
	dims := make([]string, len(c.dims))
	for i, d := range c.dims {
		dims[i] = quoteIdent(d)
	}
	cols := strings.Join(dims, ", ")
	all := map[string]*seriesRows{}
	w, err := walkWindows(lo, hi, firstWindow, target, false, func(a, b int64) (int64, error) {
		cb.rows = 0
		text := fmt.Sprintf("SELECT %s, count(*) FROM %s WHERE %s AND time >= %s AND time <= %s GROUP BY %s",
			cols, quoteIdent(c.m), c.where, intLit(a), intLit(b), cols)
		res, err := runSQL(ctx, cb, c.db, c.tables, text, c.req.Now)
		if err != nil {
			return 0, err
		}
		for _, r := range res.Rows {
			vals := r[:len(c.dims)]
			s := c.seriesFor(all, vals)
			g := found[s.key]
			if g == nil {
				g = &group{key: s.key, vals: slices.Clone(vals)}
				found[s.key] = g
			}
			n, ok := r[len(c.dims)].(int64)
			if !ok {
				n = math.MaxInt64 / 2 // unknown: never read at once
			}
			g.rows = min(g.rows+n, math.MaxInt64/2)
		}
		return cb.rows, nil
	})
	if err != nil {
		return nil, 0, err
	}
	out := make([]*group, 0, len(found))
	for _, s := range sortedSeries(all) {
		out = append(out, found[s.key])
	}
	return out, w, nil
}

// streamGroups sends the points of groups gs (nil: the whole
// measurement), in order, in lo..hi to k, a window at a time, starting
// with windows w wide. Several groups are read together only in one
// window over the whole range.
func (c *selectCompiler) streamGroups(ctx context.Context, k *chunker, gs []*group, lo, hi, w, target int64, desc bool) error {
	cc := *c
	cc.keyBuf = nil
	cc.keys = strings.Builder{} // a Builder may not be written through a copy
	cb := &scanCounter{Backend: c.b}
	cc.b = cb
	base := c.where
	if len(gs) > 0 {
		var b strings.Builder
		b.WriteString(base + " AND (")
		for n, g := range gs {
			if n > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(")
			for i, d := range c.dims {
				if i > 0 {
					b.WriteString(" AND ")
				}
				if v, ok := g.vals[i].(string); ok {
					b.WriteString(quoteIdent(d) + " = " + quoteString(v))
				} else {
					b.WriteString(quoteIdent(d) + " IS NULL")
				}
			}
			b.WriteString(")")
		}
		b.WriteString(")")
		base = b.String()
	}
	one := make([]*seriesRows, 1)
	read := func(a, b int64) (int64, error) {
		cb.rows = 0
		cc.where = base + " AND time >= " + intLit(a) + " AND time <= " + intLit(b)
		list, err := cc.rawSeries(ctx)
		if err != nil {
			return 0, err
		}
		if desc {
			slices.Reverse(list) // groups in the answer's (reversed) order
		}
		var n int64
		for _, sr := range list {
			n += int64(len(sr.rows))
			one[0] = sr
			series, err := cc.finish(ctx, one)
			if err != nil {
				return 0, err
			}
			for _, s := range series {
				if err := k.rows(c.m+"\x00"+sr.key, s, s.Values); err != nil {
					return 0, err
				}
			}
		}
		return max(n, cb.rows), nil
	}
	if len(gs) > 1 {
		// Groups read together must come whole, one after the other: in
		// one window, or, when it passes a memory limit, one at a time.
		_, err := read(lo, hi)
		if !errors.Is(err, exec.ErrMemoryLimit) {
			return err
		}
		for _, g := range gs {
			if err := c.streamGroups(ctx, k, []*group{g}, lo, hi, w, target, desc); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := walkWindows(lo, hi, w, target, desc, read)
	return err
}

// walkWindows calls read with consecutive windows a..b (inclusive) that
// cover lo..hi, upward or (desc) downward, starting w wide. read returns
// how many rows the window made the backend read; the next window is
// sized to read about target, within an eighth to eight times the last
// width. A window that passes a memory limit is read again a quarter as
// wide. It returns the width it ended with.
func walkWindows(lo, hi, w, target int64, desc bool, read func(a, b int64) (int64, error)) (int64, error) {
	w = max(w, 1)
	for {
		a, b := lo, hi
		if uint64(hi-lo) >= uint64(w) { // hi-lo+1 > w, without overflow
			if desc {
				a = hi - w + 1
			} else {
				b = lo + w - 1
			}
		}
		n, err := read(a, b)
		if errors.Is(err, exec.ErrMemoryLimit) && b > a {
			w = max(1, (b-a+1)/4)
			continue
		}
		if err != nil {
			return w, err
		}
		f := 8.0
		if n > 0 {
			f = min(8, max(0.125, float64(target)/float64(n)))
		}
		w = int64(min(float64(math.MaxInt64/2), max(1, float64(w)*f)))
		if desc {
			if a == lo {
				return w, nil
			}
			hi = a - 1
		} else {
			if b == hi {
				return w, nil
			}
			lo = b + 1
		}
	}
}

// scanCounter is a Backend that counts the rows its SQL queries read, to
// size the next window.
type scanCounter struct {
	Backend
	rows int64
}

func (s *scanCounter) Run(ctx context.Context, db string, q *sql.Query) (*query.Result, error) {
	res, err := s.Backend.Run(ctx, db, q)
	if err == nil {
		s.rows += max(res.Stats.RowsScanned, int64(len(res.Rows)))
	}
	return res, err
}
