package exec

import (
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
)

// Lines renders the recorded plans as EXPLAIN's text, a line per row, in
// PostgreSQL's layout: a node per operator from the last to the scans,
// children indented under "->", each node's details under it. With
// ANALYZE every node says what it did (time, rows), and each query ends
// with its totals. Several queries (an InfluxQL statement runs one per
// measurement and step) are numbered.
func (ex *Explain) Lines() []string {
	ex.mu.Lock()
	runs := slices.Clone(ex.runs)
	ex.mu.Unlock()
	var out []string
	for i, r := range runs {
		r.mu.Lock() // the run is over; its scans are all there
		defer r.mu.Unlock()
		if len(runs) > 1 {
			out = append(out, fmt.Sprintf("Query %d of %d", i+1, len(runs)))
		}
		p := &planWriter{analyze: ex.Analyze}
		p.run(r)
		for _, l := range p.lines {
			out = append(out, groupRefs(r.q, l))
		}
	}
	if len(runs) == 0 {
		out = append(out, "No query runs: the statement reads no table")
	}
	return out
}

type planWriter struct {
	analyze bool
	lines   []string
}

// node writes an operator's line at depth.
func (p *planWriter) node(depth int, name string, st *opStat) {
	line := strings.Repeat("      ", max(depth-1, 0))
	if depth > 0 {
		line += "  ->  "
	}
	line += name
	if p.analyze && st != nil {
		line += fmt.Sprintf("  (actual time=%s ms rows=%d loops=%d)", ms(st.time), st.rows, st.runs)
	}
	p.lines = append(p.lines, line)
}

// detail writes a "Key: value" line under the node at depth.
func (p *planWriter) detail(depth int, key, value string) {
	p.lines = append(p.lines, strings.Repeat("      ", depth)+"  "+key+": "+value)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
}

func (p *planWriter) run(r *explainRun) {
	q := r.q
	prof := &r.prof
	depth := 0
	if q.Limit >= 0 || q.Offset > 0 {
		p.node(depth, "Limit", p.stat(prof, opSort))
		if q.Limit >= 0 {
			p.detail(depth, "Limit", strconv.FormatInt(q.Limit, 10))
		}
		if q.Offset > 0 {
			p.detail(depth, "Offset", strconv.FormatInt(q.Offset, 10))
		}
		depth++
	}
	if len(q.OrderBy) > 0 {
		// Sorting, DISTINCT, OFFSET and LIMIT are timed as one phase,
		// shown on the topmost of them.
		p.node(depth, "Sort", p.statIf(depth == 0, prof, opSort))
		keys := make([]string, len(q.OrderBy))
		for i, k := range q.OrderBy {
			keys[i] = sortKeyText(q, k)
		}
		p.detail(depth, "Sort Key", strings.Join(keys, ", "))
		depth++
	}
	if q.Distinct {
		p.node(depth, "Unique", p.statIf(depth == 0, prof, opSort))
		depth++
	}
	if b, desc, need, ok := bucketLimit(q); ok {
		end := "first"
		if desc {
			end = "last"
		}
		p.node(depth, "Bucket Limit", nil)
		p.detail(depth, "Buckets", fmt.Sprintf("the %s %d of %s, read over stretches 1, 4, 16 and 64 times that long from that end of the time range until enough come back, then over the whole range",
			end, need, time.Duration(b.Width)))
		depth++
	}
	if q.Aggregated {
		name := "HashAggregate"
		if len(q.GroupBy) == 0 {
			name = "Aggregate"
		}
		p.node(depth, name, p.stat(prof, opAggregate))
		if len(q.GroupBy) > 0 {
			keys := make([]string, len(q.GroupBy))
			for i, k := range q.GroupBy {
				keys[i] = k.Expr.String()
			}
			p.detail(depth, "Group Key", strings.Join(keys, ", "))
		}
		aggs := make([]string, len(q.Aggregates))
		for i, a := range q.Aggregates {
			aggs[i] = a.String()
		}
		p.detail(depth, "Aggregates", strings.Join(aggs, ", "))
		if q.Having != nil {
			p.detail(depth, "Filter", q.Having.String())
		}
		depth++
	}
	if q.Residual != nil {
		p.node(depth, "Filter", p.stat(prof, opFilter))
		p.detail(depth, "Filter", q.Residual.String())
		depth++
	}
	if q.Table == nil {
		p.node(depth, "Result", nil)
	} else {
		p.scans(depth, r)
	}
	p.totals(r)
}

// stat is the phase's figures when the query is analyzed.
func (p *planWriter) stat(prof *profile, op int) *opStat {
	if !p.analyze {
		return nil
	}
	return &prof.ops[op]
}

func (p *planWriter) statIf(top bool, prof *profile, op int) *opStat {
	if !top {
		return nil
	}
	return p.stat(prof, op)
}

// scans writes the query's scans: the table it reads as the executor
// asked the source for it (several asks for a bucket-limited query), or
// for a query over a derived table, the scans of what it derives from.
func (p *planWriter) scans(depth int, r *explainRun) {
	q := r.q
	if q.Input != nil {
		p.node(depth, strings.TrimSpace("Derived Table "+q.Table.Name), nil)
		p.detail(depth, "Source", "a subquery, CTE, join, set operation or window functions, evaluated first")
		depth++
	}
	if len(r.scans) == 0 {
		p.node(depth, "Scan on "+q.Table.Name, nil)
		switch {
		case q.TimeRange.IsEmpty():
			p.detail(depth, "Time Range", "empty: nothing is read")
		default:
			p.detail(depth, "Scans", "none")
		}
		return
	}
	for i, s := range r.scans {
		name := "Scan on " + s.spec.Table
		if s.derived {
			name = "Scan of rows in memory as " + s.spec.Table
		}
		if len(r.scans) > 1 {
			name += fmt.Sprintf(" (%d of %d)", i+1, len(r.scans))
		}
		p.node(depth, name, nil)
		p.scanDetails(depth, r, s)
	}
}

func (p *planWriter) scanDetails(depth int, r *explainRun, s *scanRecord) {
	spec := s.spec
	cols := []string{"time"}
	for _, c := range spec.Columns {
		if !slices.Contains(cols, c) {
			cols = append(cols, c)
		}
	}
	p.detail(depth, "Columns", strings.Join(cols, ", "))
	p.detail(depth, "Time Range", spec.Time.String())
	if len(spec.Tags) == 0 {
		p.detail(depth, "Tag Index", "none (every series)")
	} else {
		keys := make([]string, 0, len(spec.Tags))
		for k := range spec.Tags {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			vals := make([]string, len(spec.Tags[k]))
			for i, v := range spec.Tags[k] {
				vals[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
			}
			p.detail(depth, "Tag Index", k+" IN ("+strings.Join(vals, ", ")+")")
		}
	}
	// The filters materialize applies while reading, found by the same
	// functions it calls.
	if r.q.Table != nil && r.q.Input == nil {
		for _, f := range tagFilters(r.q.Residual) {
			p.detail(depth, "Tag Filter", f.expr.String()+" (once per distinct value)")
		}
		for _, f := range fieldFilters(r.q.Residual) {
			p.detail(depth, "Field Filter", fieldFilterText(f)+" (on raw rows as they are read)")
		}
	}
	switch {
	case spec.LastOnly:
		p.detail(depth, "Last Values", "yes: each series' last value of each column, from the per-series last values and a backwards read")
	case len(spec.Rollups) > 0:
		ws := make([]string, len(spec.Rollups))
		for i, w := range spec.Rollups {
			ws[i] = shortDuration(time.Duration(w))
		}
		p.detail(depth, "Rollups", strings.Join(ws, ", ")+" (coarsest first)")
		p.detail(depth, "Rollup Use", "windows wholly in the range; heads fold rows into partials as they read; raw rows elsewhere")
	default:
		p.detail(depth, "Rollups", "none (raw rows)")
	}
	if s.opened || s.planOnly {
		verb := "read"
		if s.planOnly {
			verb = "to read"
		}
		p.detail(depth, "Segments", fmt.Sprintf("%d %s, %d pruned by time", s.stats.SegmentsScanned, verb, s.stats.SegmentsPruned))
		if s.opened {
			if s.planOnly {
				p.detail(depth, "Row Groups", fmt.Sprintf("%d in the segments to read", s.groups))
			} else {
				p.detail(depth, "Row Groups", fmt.Sprintf("%d read, %d skipped whole by the tag index or page time bounds (%d in the segments read)",
					s.read.RowGroupsRead.Load(), s.read.RowGroupsSkipped.Load(), s.groups))
				p.detail(depth, "Segment Rows", fmt.Sprintf("%d decoded, %d skipped unread", s.read.RowsRead.Load(), s.read.RowsSkipped.Load()))
				if n := s.read.RowsFiltered.Load(); n > 0 {
					p.detail(depth, "Late Materialization", fmt.Sprintf("%d of the rows decoded dropped by the field filter before their other columns were read", n))
				}
				p.detail(depth, "Column Values", fmt.Sprintf("%d decoded or copied from cached pages (tags rebuilt from the index not counted)", s.read.ValuesRead.Load()))
			}
			if s.rollups > 0 {
				p.detail(depth, "Rollup Segments", strconv.Itoa(s.rollups))
			}
			p.detail(depth, "Heads", fmt.Sprintf("%d %s", s.heads, verb))
			p.detail(depth, "Head Blocks", fmt.Sprintf("%d %s, %d outside the time range skipped (and each head's unsealed tail)", s.headMeeting, verb, s.headBlocks-s.headMeeting))
		}
		p.detail(depth, "Bytes", fmt.Sprintf("%d in the segment files %s, %d in those pruned", s.stats.BytesRead, verb, s.bytesPruned))
	}
	if p.analyze && !s.planOnly {
		p.detail(depth, "Rows Read", fmt.Sprintf("%d raw, %d rollup, in %d batches", s.rows, s.rollupRows, s.batches))
		// Wall time of the operator, as every other node shows; the
		// tasks run in parallel, so their summed time is shown apart and
		// said to be a sum (it may exceed the wall time).
		p.detail(depth, "Scan Time", fmt.Sprintf("%s ms wall, of which %s ms materializing the rows read", ms(s.wall), ms(s.consume)))
		if n := s.read.Tasks.Load(); n > 0 {
			p.detail(depth, "Read Tasks", fmt.Sprintf("%d run up to %d at once, %s ms of their own work summed (not their waits for the consumer)",
				n, runtime.GOMAXPROCS(0), ms(time.Duration(s.read.TaskNanos.Load()))))
		}
	}
}

// totals ends a query's plan: what it returns and, with ANALYZE, what it
// cost.
func (p *planWriter) totals(r *explainRun) {
	q := r.q
	p.detail(0, "Output", outputsText(q))
	if !p.analyze {
		return
	}
	st := r.stats
	prof := &r.prof
	if st.Resolution != "" {
		p.detail(0, "Resolution", st.Resolution)
	}
	p.detail(0, "Rows Scanned", strconv.FormatInt(st.RowsScanned, 10))
	p.detail(0, "Rows Materialized", strconv.FormatInt(prof.materialized, 10))
	p.detail(0, "Segments Scanned", strconv.Itoa(st.SegmentsScanned))
	p.detail(0, "Segments Pruned", strconv.Itoa(st.SegmentsPruned))
	p.detail(0, "Bytes Read", strconv.FormatInt(st.BytesRead, 10))
	p.detail(0, "Peak Memory Charged", fmt.Sprintf("%d bytes", prof.peak))
	p.detail(0, "Projection Time", ms(prof.ops[opProject].time)+" ms")
	p.detail(0, "Output Time", fmt.Sprintf("%s ms, %d rows", ms(prof.ops[opOutput].time), prof.ops[opOutput].rows))
	p.detail(0, "Rows Returned", strconv.Itoa(st.Rows))
	p.detail(0, "Execution Time", ms(r.total)+" ms")
}

func outputsText(q *sql.Query) string {
	outs := make([]string, len(q.Outputs))
	for i, o := range q.Outputs {
		e := groupRefs(q, o.Expr.String())
		if e == o.Name || e == `"`+o.Name+`"` {
			outs[i] = e
		} else {
			outs[i] = e + " AS " + o.Name
		}
	}
	return strings.Join(outs, ", ")
}

func sortKeyText(q *sql.Query, k sql.SortKey) string {
	e := k.Expr
	if k.Output >= 0 && e == nil {
		e = q.Outputs[k.Output].Expr
	}
	s := e.String()
	if k.Desc {
		s += " DESC"
	}
	if k.NullsFirst != k.Desc {
		if k.NullsFirst {
			s += " NULLS FIRST"
		} else {
			s += " NULLS LAST"
		}
	}
	return s
}

func fieldFilterText(f fieldFilter) string {
	v := strconv.FormatFloat(f.f, 'g', -1, 64)
	if f.asFloat {
		return "float64(" + f.name + ") " + f.op.String() + " " + v
	}
	switch f.typ {
	case columnar.FieldInt:
		v = strconv.FormatInt(f.i, 10)
	case columnar.FieldUint:
		v = strconv.FormatUint(f.u, 10)
	}
	return f.name + " " + f.op.String() + " " + v
}

// groupRefs spells out, in a line of q's plan, the references of group
// context expressions ($agg0, $key1) as the aggregates and keys they stand
// for.
func groupRefs(q *sql.Query, line string) string {
	if !strings.Contains(line, "$") {
		return line
	}
	return reGroupRef.ReplaceAllStringFunc(line, func(m string) string {
		n, _ := strconv.Atoi(strings.TrimLeft(m, "$agkey"))
		switch {
		case strings.HasPrefix(m, "$agg") && n < len(q.Aggregates):
			return q.Aggregates[n].String()
		case strings.HasPrefix(m, "$key") && n < len(q.GroupBy):
			return q.GroupBy[n].Expr.String()
		}
		return m
	})
}

var reGroupRef = regexp.MustCompile(`\$(agg|key)[0-9]+`)
