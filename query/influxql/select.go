package influxql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/exec"
)

// schemaMapper lets influxql expand wildcards. Like InfluxDB, a query over
// several measurements expands * to the union of their fields and tags;
// a measurement lacking one of them has no values there.
type schemaMapper struct {
	name   string
	schema *columnar.TableSchema
}

// unionSchema merges the schemas of the tables a statement reads; a field
// keeps the type of the first table (by name) that has it.
func unionSchema(tables map[string]*columnar.TableSchema, names []string) *columnar.TableSchema {
	if len(names) == 1 {
		// One measurement (a dashboard's panel): its own schema, which
		// the union is only read as.
		return tables[names[0]]
	}
	u := &columnar.TableSchema{}
	seenT, seenF := map[string]bool{}, map[string]bool{}
	for _, n := range names {
		for _, t := range tables[n].Tags {
			if !seenT[t] {
				seenT[t] = true
				u.Tags = append(u.Tags, t)
			}
		}
		for _, f := range tables[n].Fields {
			if !seenF[f.Name] {
				seenF[f.Name] = true
				u.Fields = append(u.Fields, f)
			}
		}
	}
	return u
}

func (m schemaMapper) FieldDimensions(*influxql.Measurement) (map[string]influxql.DataType, map[string]struct{}, error) {
	fields := make(map[string]influxql.DataType, len(m.schema.Fields))
	for _, f := range m.schema.Fields {
		fields[f.Name] = dataType(f.Type)
	}
	dims := make(map[string]struct{}, len(m.schema.Tags))
	for _, t := range m.schema.Tags {
		if _, ok := fields[t]; !ok {
			dims[t] = struct{}{}
		}
	}
	return fields, dims, nil
}

func (m schemaMapper) MapType(_ *influxql.Measurement, name string) influxql.DataType {
	for _, f := range m.schema.Fields {
		if f.Name == name {
			return dataType(f.Type)
		}
	}
	for _, t := range m.schema.Tags {
		if t == name {
			return influxql.Tag
		}
	}
	return influxql.Unknown
}

// selectors return a value of one point, whose time they report when the
// query does not group by time.
var selectors = map[string]bool{"first": true, "last": true, "min": true, "max": true, "percentile": true}

// aggregates this compiler translates.
var aggregates = map[string]bool{"mean": true, "median": true, "count": true, "sum": true, "min": true, "max": true,
	"first": true, "last": true, "spread": true, "stddev": true, "percentile": true}

func execSelect(ctx context.Context, b Backend, req Request, st *influxql.SelectStatement) ([]*Series, error) {
	if st.Target != nil {
		return nil, errors.New("SELECT ... INTO is not supported by Silt")
	}
	for _, src := range st.Sources {
		if sq, ok := src.(*influxql.SubQuery); ok {
			if len(st.Sources) != 1 {
				return nil, errors.New("a subquery must be the only source of its SELECT in Silt")
			}
			return execSubquery(ctx, b, req, st, sq)
		}
		if _, ok := src.(*influxql.Measurement); !ok {
			return nil, fmt.Errorf("unsupported source %s", src)
		}
	}
	db := sourceDB(st.Sources, "", req.Database)
	tables, err := tablesOf(b, db)
	if err != nil {
		return nil, err
	}
	var out []*Series
	rows := 0
	names := sourceTables(st.Sources, tables)
	union := unionSchema(tables, names)
	for _, m := range names {
		c := &selectCompiler{b: b, req: req, db: db, tables: tables, m: m, schema: tables[m], union: union}
		series, err := c.run(ctx, st)
		if err != nil {
			return nil, err
		}
		for _, s := range series {
			rows += s.Len()
		}
		if req.MaxRows > 0 && rows > req.MaxRows {
			return nil, tooManyRowsf("max-select-point limit exceeded: the result has more than %d rows (--query-max-rows); narrow the time range or aggregate", req.MaxRows)
		}
		out = append(out, series...)
	}
	out = limitSeries(out, st.SLimit, st.SOffset)
	if !st.TimeAscending() {
		// InfluxDB emits the series SLIMIT kept in reverse order too.
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

type selectCompiler struct {
	b      Backend
	req    Request
	db     string
	tables map[string]*columnar.TableSchema
	m      string
	schema *columnar.TableSchema
	union  *columnar.TableSchema // of every measurement the statement reads, for wildcards

	stmt     *influxql.SelectStatement
	loc      *time.Location
	tmin     int64 // inclusive; math.MinInt64 when unbounded
	tmax     int64 // inclusive; math.MaxInt64 when unbounded
	interval int64
	offset   int64
	dims     []string // GROUP BY tags the measurement has, sorted
	absent   []string // GROUP BY tags it lacks: "" in every series' tags
	// tagNames are dims and absent together, sorted: the keys of every
	// series' tags; tagDim is, per name, its index in dims (-1: absent).
	tagNames []string
	tagDim   []int
	where    string // SQL predicate: time bounds and condition
	cond     string // SQL predicate of the condition beyond time
	// tagCond: the condition (beyond time) names no field, so each
	// series' latest rows answer the newest point and last() per group.
	tagCond bool
	// limited: LIMIT and OFFSET were applied per field already (by
	// transformations), not to be applied again to the rows.
	limited bool

	keyBuf []byte // seriesFor's scratch
	// keys holds the keys seriesOfRow makes, one after another: each is
	// a substring of the builder's text, which is only ever appended to
	// (a lastpoint answer makes a key per host, one allocation each
	// otherwise).
	keys strings.Builder
	// slab hands out seriesOfRow's entries, a chunk at a time: a
	// lastpoint answer is a series per host.
	slab []seriesRows
	// tagSlab hands out seriesOfRow's tag values, len(tagNames) a series.
	tagSlab []string
	// seriesHint, when not 0, is the most series an answer can have
	// (newRowSeries): the first slabs are cut to it.
	seriesHint int
	// valSlab hands out finishTyped's typed values, one per series.
	valSlab []typedValues
	// keepTyped lets rawSeries and aggregateSeries return typed rows
	// (for finish) instead of Go values (for the code that works on rows:
	// transformations, math, mixed fields).
	keepTyped bool
}

func (c *selectCompiler) run(ctx context.Context, st *influxql.SelectStatement) ([]*Series, error) {
	if empty, err := c.prepare(st); err != nil || empty {
		return nil, err
	}
	list, err := c.selectSeries(ctx)
	if err != nil {
		return nil, err
	}
	// The rows stay until the response is sent.
	if err := c.req.mem.charge(seriesBytes(list, c.req.Epoch, c.req.TypedValues), "the rows of "+c.m); err != nil {
		return nil, err
	}
	return c.finish(ctx, list)
}

// prepare compiles st for c's measurement: its fields, time range,
// windows, dimensions and condition. empty reports a time range that
// holds no time.
func (c *selectCompiler) prepare(st *influxql.SelectStatement) (empty bool, err error) {
	stmt, err := c.req.Plans.rewrite(c.req.parsed, st, c.union, func() (*influxql.SelectStatement, error) {
		stmt, err := st.RewriteFields(schemaMapper{c.m, c.union})
		if err != nil {
			return nil, err
		}
		for _, f := range stmt.Fields {
			// Fold constants as InfluxQL does (1/0 is 0, 2*3 is 6).
			f.Expr = influxql.Reduce(f.Expr, nil)
		}
		return stmt, nil
	})
	if err != nil {
		return false, err
	}
	c.stmt = stmt
	c.loc = stmt.Location
	valuer := &influxql.NowValuer{Now: c.req.Now, Location: c.loc}
	cond, tr, err := c.req.Plans.condition(c.req.parsed, stmt, func() (influxql.Expr, influxql.TimeRange, error) {
		return influxql.ConditionExpr(stmt.Condition, valuer)
	})
	if err != nil {
		return false, err
	}
	c.tmin, c.tmax = math.MinInt64, math.MaxInt64
	if !tr.Min.IsZero() {
		c.tmin = tr.Min.UnixNano()
	}
	if !tr.Max.IsZero() {
		c.tmax = tr.Max.UnixNano()
	}
	iv, err := stmt.GroupByInterval()
	if err != nil {
		return false, err
	}
	var off time.Duration
	for _, d := range stmt.Dimensions {
		if call, ok := d.Expr.(*influxql.Call); ok && call.Name == "time" && iv <= 0 {
			return false, errors.New("GROUP BY time() needs a positive interval")
		}
	}
	if iv > 0 {
		if off, err = stmt.GroupByOffset(); err != nil {
			return false, err
		}
	}
	c.interval, c.offset = int64(iv), int64(off)
	if c.interval > 0 && c.tmax == math.MaxInt64 {
		// InfluxDB ends an open GROUP BY time range at now().
		c.tmax = c.req.Now.UnixNano()
	}
	if c.loc != nil && c.interval > 0 && c.tmin != math.MinInt64 {
		// Windows are aligned on the zone's offset at the start; InfluxDB
		// re-aligns windows longer than a daylight-saving shift after one.
		_, z0 := time.Unix(0, c.tmin).In(c.loc).Zone()
		_, z1 := time.Unix(0, c.tmax).In(c.loc).Zone()
		if d := int64(z1-z0) * int64(time.Second); d != 0 && max(d, -d) < c.interval {
			return false, fmt.Errorf("tz(%q): the time range spans a change of the zone's UTC offset, which Silt does not re-align %s windows across yet; split the range or use a shorter interval",
				c.loc.String(), time.Duration(c.interval))
		}
	}
	for _, d := range stmt.Dimensions {
		switch e := d.Expr.(type) {
		case *influxql.VarRef:
			c.dims = append(c.dims, e.Val)
		case *influxql.Call:
			// time(...), handled above
		case *influxql.RegexLiteral:
			for _, t := range c.schema.Tags {
				if e.Val.MatchString(t) {
					c.dims = append(c.dims, t)
				}
			}
		default:
			return false, fmt.Errorf("unsupported GROUP BY %s", d)
		}
	}
	c.dims = dedupeSorted(c.dims)
	known := c.dims[:0]
	for _, d := range c.dims {
		if slices.Contains(c.schema.Tags, d) {
			known = append(known, d)
		} else {
			c.absent = append(c.absent, d)
		}
	}
	c.dims = known
	c.tagNames, c.tagDim = nil, nil
	for i, j := 0, 0; i < len(c.dims) || j < len(c.absent); {
		if j == len(c.absent) || (i < len(c.dims) && c.dims[i] < c.absent[j]) {
			c.tagNames, c.tagDim = append(c.tagNames, c.dims[i]), append(c.tagDim, i)
			i++
		} else {
			c.tagNames, c.tagDim = append(c.tagNames, c.absent[j]), append(c.tagDim, -1)
			j++
		}
	}
	c.tagCond = true
	influxql.WalkFunc(cond, func(n influxql.Node) {
		if ref, ok := n.(*influxql.VarRef); ok {
			if k, _ := resolve(c.schema, ref); k != colTag {
				c.tagCond = false
			}
		}
	})
	if c.cond, err = condSQL(cond, c.schema); err != nil {
		return false, err
	}
	c.setWhere()
	return c.tmin > c.tmax, nil
}

// setWhere sets c.where from the time bounds and the condition.
func (c *selectCompiler) setWhere() {
	var w []string
	if c.tmin != math.MinInt64 {
		w = append(w, "time >= "+intLit(c.tmin))
	}
	if c.tmax != math.MaxInt64 {
		w = append(w, "time <= "+intLit(c.tmax))
	}
	if c.cond != "TRUE" {
		w = append(w, c.cond)
	}
	c.where = strings.Join(w, " AND ")
	if c.where == "" {
		c.where = "TRUE"
	}
}

// selectSeries runs c.stmt's fields: math functions around them, then
// transformations, raw points or aggregates.
func (c *selectCompiler) selectSeries(ctx context.Context) ([]*seriesRows, error) {
	if hasMath(c.stmt.Fields) {
		return c.mathSeries(ctx)
	}
	var calls int
	for _, f := range c.stmt.Fields {
		walkExpr(f.Expr, func(e influxql.Expr) {
			if _, ok := e.(*influxql.Call); ok {
				calls++
			}
		})
	}
	var list []*seriesRows
	switch ts, err := transformsOf(c.stmt.Fields); {
	case err != nil:
		return nil, err
	case ts != nil:
		list, err = c.transformSeries(ctx, ts)
		if err != nil {
			return nil, err
		}
	case calls == 0:
		if c.interval > 0 {
			return nil, errors.New("GROUP BY requires at least one aggregate function")
		}
		c.keepTyped = true // finish takes them typed
		list, err = c.rawSeries(ctx)
		c.keepTyped = false
		if err != nil {
			return nil, err
		}
	default:
		call, aux, err := auxSelector(c.stmt.Fields)
		if err != nil {
			return nil, err
		}
		if aux {
			return c.auxSeries(ctx, call)
		}
		c.keepTyped = true // finish takes them typed (aggregateTyped)
		list, err = c.aggregateSeries(ctx)
		c.keepTyped = false
		if err != nil {
			return nil, err
		}
	}
	return list, nil
}

func dedupeSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// columns are the output column names, time first (InfluxDB's names:
// aliases, then function or field names made unique with _1, _2...).
func (c *selectCompiler) columns() []string {
	return c.req.Plans.columnNames(c.req.parsed, c.stmt)
}

// seriesRows are one series' rows while a SELECT is shaped: key orders
// the series (dimension values in tag order).
type seriesRows struct {
	// tags: read with tagMap, which builds it from names and vals when
	// the series was met in the executor's columns (seriesOfRow): a
	// lastpoint answer is a series per host, and a map each is most of
	// what it allocates.
	tags  map[string]string
	names []string // the tags' keys, sorted (selectCompiler.tagNames)
	vals  []string // the tags' values, in the order of names
	key   string
	rows  [][]any // time (ns, int64) first, then the output values
	// typed, when not nil, holds the rows instead (rawFetchTyped).
	typed *typedRows
	// at is the series' place in the order seriesOfRow met the series:
	// the index of its scratch in the typed paths.
	at int
}

// seriesOfRow is seriesFor for row r of the executor's columns, whose
// GROUP BY tags are cols[1:1+len(c.dims)]: the same series and key, built
// from the cells without a Go value per cell. isNew reports a series met
// for the first time (its at is then n, the series met before it).
func (c *selectCompiler) seriesOfRow(all map[string]*seriesRows, cols []exec.Column, r, n int) (s *seriesRows, isNew bool) {
	kb := c.keyBuf[:0]
	for i, d := range c.dims {
		kb = append(kb, d...)
		kb = append(kb, 0)
		kb = append(kb, cellString(cols[1+i], r)...)
		kb = append(kb, 0)
	}
	c.keyBuf = kb
	if s, ok := all[string(kb)]; ok {
		return s, false
	}
	chunk := min(max(2*n, 8), 1024)
	if n == 0 && c.seriesHint > 0 {
		chunk = c.seriesHint
	}
	nt := len(c.tagNames)
	if len(c.tagSlab) < nt {
		c.tagSlab = make([]string, nt*chunk)
	}
	vals := c.tagSlab[:nt:nt]
	c.tagSlab = c.tagSlab[nt:]
	for k, d := range c.tagDim {
		if d >= 0 {
			vals[k] = cellString(cols[1+d], r)
		}
	}
	if len(c.slab) == 0 {
		c.slab = make([]seriesRows, chunk)
	}
	s = &c.slab[0]
	c.slab = c.slab[1:]
	if c.keys.Cap()-c.keys.Len() < len(kb) {
		// Room for a chunk of keys like this one: the builder's text is
		// copied when it grows (the keys cut from the old text stay).
		c.keys.Grow(len(kb) * chunk)
	}
	at := c.keys.Len()
	c.keys.Write(kb)
	*s = seriesRows{names: c.tagNames, vals: vals, key: c.keys.String()[at:], at: n}
	all[s.key] = s
	return s, true
}

// rowSeries finds the series of the executor's rows (seriesOfRow), with
// a shortcut for one GROUP BY tag read from its dictionary (GROUP BY
// "hostname"): the series of each dictionary id kept in a slice, so that
// a row costs an index instead of a key built and hashed.
type rowSeries struct {
	c    *selectCompiler
	all  map[string]*seriesRows
	cols []exec.Column
	ids  []int32       // the tag's dictionary id per column row; nil: no shortcut
	byID []*seriesRows // per id+1; [0] for rows without the tag
}

// newRowSeries returns the series finder of an answer of rows rows.
func (c *selectCompiler) newRowSeries(cols []exec.Column, rows int) *rowSeries {
	// Sized for a series per row up to a point (a lastpoint answer is a
	// row per host), so that the map is not rebuilt as it grows.
	rs := &rowSeries{c: c, cols: cols, all: make(map[string]*seriesRows, min(rows, 256))}
	if len(c.dims) == 1 {
		// A dictionary far larger than the answer (the head's every
		// host, a few rows read) would cost more to index than it saves.
		if ids, dict := cols[1].Dict(); ids != nil && len(dict) <= 4*rows+64 {
			rs.ids, rs.byID = ids, make([]*seriesRows, len(dict)+1)
			// A series per value at most (and one for rows without it).
			c.seriesHint = min(rows, len(dict)+1, 1024)
		}
	}
	return rs
}

// of is the series of column row r; isNew reports a series met for the
// first time, whose at is then n (seriesOfRow).
func (rs *rowSeries) of(r, n int) (s *seriesRows, isNew bool) {
	if rs.ids == nil {
		return rs.c.seriesOfRow(rs.all, rs.cols, r, n)
	}
	slot := 0 // NULL or absent: the tag's value is "" (cellString)
	if id := rs.ids[r]; id >= 0 && !rs.cols[1].IsNull(r) {
		slot = int(id) + 1
	}
	if s = rs.byID[slot]; s != nil {
		return s, false
	}
	// Two ids of one string (if a dictionary held one twice) find
	// the same series through the map.
	s, isNew = rs.c.seriesOfRow(rs.all, rs.cols, r, n)
	rs.byID[slot] = s
	return s, isNew
}

// tagMap returns the series' tags, built from names and vals the first
// time when the series has them so.
func (s *seriesRows) tagMap() map[string]string {
	if s.tags == nil && len(s.names) > 0 {
		s.tags = make(map[string]string, len(s.names))
		for i, k := range s.names {
			s.tags[k] = s.vals[i]
		}
	}
	return s.tags
}

// setTags gives s the tags of sr when the query groups by tags: for a
// caller that encodes the answer itself (Request.TypedValues), as the
// sorted keys and values sr may already hold, without a map.
func (c *selectCompiler) setTags(s *Series, sr *seriesRows) {
	if len(c.dims)+len(c.absent) == 0 {
		return
	}
	if c.req.TypedValues && sr.tags == nil && len(sr.names) > 0 {
		s.tagNames, s.tagVals = sr.names, sr.vals
		return
	}
	s.Tags = sr.tagMap()
}

func (c *selectCompiler) seriesFor(all map[string]*seriesRows, vals []any) *seriesRows {
	// The key is built in a reused buffer and looked up without a string
	// conversion: a result has many rows per series, and the tags map is
	// made only for a series not seen yet.
	kb := c.keyBuf[:0]
	for i, d := range c.dims {
		v, _ := vals[i].(string)
		kb = append(kb, d...)
		kb = append(kb, 0)
		kb = append(kb, v...)
		kb = append(kb, 0)
	}
	c.keyBuf = kb
	if s, ok := all[string(kb)]; ok {
		return s
	}
	tags := make(map[string]string, len(c.dims)+len(c.absent))
	for _, d := range c.absent {
		tags[d] = ""
	}
	for i, d := range c.dims {
		v, _ := vals[i].(string)
		tags[d] = v
	}
	s := &seriesRows{tags: tags, key: string(kb)}
	all[s.key] = s
	return s
}

func sortedSeries(all map[string]*seriesRows) []*seriesRows {
	out := make([]*seriesRows, 0, len(all))
	for _, s := range all {
		out = append(out, s)
	}
	return sortSeries(out)
}

// sortSeries sorts list by series key, in place. A list in the order the
// series were met (rawFetchTyped's) is closer to sorted than a map's
// random order, which the sort's runs of ordered keys make cheaper.
func sortSeries(list []*seriesRows) []*seriesRows {
	slices.SortFunc(list, func(a, b *seriesRows) int { return strings.Compare(a.key, b.key) })
	return list
}

// finish turns per-series rows into the response's series: ORDER BY time
// DESC, LIMIT and OFFSET per series, times rendered for the epoch. It
// stops with ctx's error (converting typed rows into Values checks it).
func (c *selectCompiler) finish(ctx context.Context, list []*seriesRows) ([]*Series, error) {
	cols := c.columns()
	desc := !c.stmt.TimeAscending()
	out := make([]*Series, 0, len(list))
	var slab []Series // the typed series' entries, one allocation
	for _, sr := range list {
		if sr.typed != nil {
			if slab == nil {
				slab = make([]Series, len(list))
				if c.req.TypedValues {
					c.valSlab = make([]typedValues, len(list))
				}
			}
			kept, err := c.finishTyped(ctx, sr, cols, desc, &slab[0])
			if err != nil {
				return nil, err
			}
			if kept {
				out = append(out, &slab[0])
				slab = slab[1:]
			}
			continue
		}
		rows := sr.rows
		if desc {
			for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
				rows[i], rows[j] = rows[j], rows[i]
			}
		}
		if !c.limited {
			rows = limitRows(rows, c.stmt.Limit, c.stmt.Offset)
		}
		if len(rows) == 0 {
			continue
		}
		for _, r := range rows {
			r[0] = c.req.Epoch.timeValue(r[0].(int64), c.loc)
			if c.stmt.OmitTime {
				copy(r, r[1:])
			}
		}
		if c.stmt.OmitTime {
			for i := range rows {
				rows[i] = rows[i][:len(rows[i])-1]
			}
		}
		s := &Series{Name: c.m, Columns: cols, Values: rows}
		c.setTags(s, sr)
		out = append(out, s)
	}
	return out, nil
}
