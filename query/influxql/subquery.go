package influxql

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// A subquery (SELECT ... FROM (SELECT ...)) runs its inner statement, then
// holds the inner series as in-memory tables — one per measurement name,
// the inner GROUP BY tags as tags and the inner columns as fields — and
// runs the outer statement over them through the same compiler and
// executor as any other SELECT.

// execSubquery answers a SELECT whose source is a subquery.
func execSubquery(ctx context.Context, b Backend, req Request, st *influxql.SelectStatement, sq *influxql.SubQuery) ([]*Series, error) {
	// The outer time bounds apply to the inner query too, as in InfluxDB.
	valuer := &influxql.NowValuer{Now: req.Now, Location: st.Location}
	_, tr, err := influxql.ConditionExpr(st.Condition, valuer)
	if err != nil {
		return nil, err
	}
	inner := sq.Statement.Clone()
	timeRef := func() *influxql.VarRef { return &influxql.VarRef{Val: "time"} }
	if !tr.Min.IsZero() {
		inner.Condition = and(inner.Condition, &influxql.BinaryExpr{Op: influxql.GTE, LHS: timeRef(), RHS: &influxql.IntegerLiteral{Val: tr.Min.UnixNano()}})
	}
	if !tr.Max.IsZero() {
		inner.Condition = and(inner.Condition, &influxql.BinaryExpr{Op: influxql.LTE, LHS: timeRef(), RHS: &influxql.IntegerLiteral{Val: tr.Max.UnixNano()}})
	}
	innerReq := req
	innerReq.Epoch = Epoch{Unit: time.Nanosecond}
	before := req.mem.heldBytes()
	innerReq.TypedValues = false // the outer query reads their Values
	series, err := execSelect(ctx, b, innerReq, inner)
	// The inner series (and the tables made of them) are garbage once the
	// outer statement is answered: only its own rows stay until the
	// response is sent, so the inner rows stop counting then.
	defer req.mem.release(req.mem.heldBytes() - before)
	if err != nil {
		return nil, err
	}
	vb, err := newVirtualBackend(b, series)
	if err != nil {
		return nil, err
	}
	outer := st.Clone()
	outer.Sources = nil
	for _, name := range vb.names {
		outer.Sources = append(outer.Sources, &influxql.Measurement{Name: name})
	}
	if len(outer.Sources) == 0 {
		return nil, nil
	}
	// The outer statement reads tables made for this request alone.
	req.Plans = nil
	return execSelect(ctx, vb, req, outer)
}

func and(a, b influxql.Expr) influxql.Expr {
	if a == nil {
		return b
	}
	return &influxql.BinaryExpr{Op: influxql.AND, LHS: &influxql.ParenExpr{Expr: a}, RHS: b}
}

// virtualBackend serves the outer statement of a subquery: the inner
// series as tables, run by the backend's executor over memory.
type virtualBackend struct {
	Backend
	names   []string // in the order the inner query returned them
	tables  map[string]*columnar.TableSchema
	batches map[string]*columnar.ColumnBatch
}

func (v *virtualBackend) Tables(string) (map[string]*columnar.TableSchema, bool) {
	return v.tables, true
}

func (v *virtualBackend) Run(ctx context.Context, _ string, q *sql.Query) (*query.Result, error) {
	var rows *columnar.ColumnBatch
	if q.Table != nil {
		rows = v.batches[q.Table.Name]
	}
	if rows == nil {
		rows = &columnar.ColumnBatch{}
	}
	return v.Backend.RunRows(ctx, q, rows)
}

func newVirtualBackend(b Backend, series []*Series) (*virtualBackend, error) {
	v := &virtualBackend{Backend: b, tables: map[string]*columnar.TableSchema{}, batches: map[string]*columnar.ColumnBatch{}}
	byName := map[string][]*Series{}
	for _, s := range series {
		if _, ok := byName[s.Name]; !ok {
			v.names = append(v.names, s.Name)
		}
		byName[s.Name] = append(byName[s.Name], s)
	}
	for _, name := range v.names {
		schema, batch, err := tableOf(byName[name])
		if err != nil {
			return nil, fmt.Errorf("subquery %s: %w", name, err)
		}
		v.tables[name], v.batches[name] = schema, batch
	}
	return v, nil
}

// tableOf turns one measurement's inner series into a schema and a batch.
func tableOf(series []*Series) (*columnar.TableSchema, *columnar.ColumnBatch, error) {
	tagSet := map[string]bool{}
	for _, s := range series {
		for k := range s.Tags {
			tagSet[k] = true
		}
	}
	tags := make([]string, 0, len(tagSet))
	for k := range tagSet {
		tags = append(tags, k)
	}
	sort.Strings(tags)
	// Columns in first-seen order, typed by their values (integers with
	// floats become floats); a column named like a tag stays the tag.
	type col struct {
		name string
		typ  columnar.FieldType
	}
	var cols []col
	colAt := map[string]int{}
	for _, s := range series {
		for j, name := range s.Columns {
			if j == 0 || tagSet[name] {
				continue
			}
			i, ok := colAt[name]
			if !ok {
				i = len(cols)
				colAt[name] = i
				cols = append(cols, col{name: name})
			}
			for _, r := range s.Values {
				t := valueType(r[j])
				switch {
				case t == 0 || t == cols[i].typ:
				case cols[i].typ == 0:
					cols[i].typ = t
				case (t == columnar.FieldFloat || t == columnar.FieldInt) && (cols[i].typ == columnar.FieldFloat || cols[i].typ == columnar.FieldInt):
					cols[i].typ = columnar.FieldFloat
				default:
					return nil, nil, fmt.Errorf("column %q holds both %s and %s values", name, influxType(cols[i].typ), influxType(t))
				}
			}
		}
	}
	schema := columnar.NewTableSchema()
	schema.Tags = tags
	for _, c := range cols {
		t := c.typ
		if t == 0 {
			t = columnar.FieldFloat // only nulls
		}
		schema.Fields = append(schema.Fields, columnar.FieldSchema{Name: c.name, Type: t})
	}
	n := 0
	for _, s := range series {
		n += len(s.Values)
	}
	batch := &columnar.ColumnBatch{Len: n, Time: make([]int64, 0, n)}
	for _, tg := range tags {
		batch.Tags = append(batch.Tags, columnar.TagVector{Name: tg, IDs: make([]int32, 0, n)})
	}
	for _, f := range schema.Fields {
		batch.Fields = append(batch.Fields, columnar.FieldVector{Name: f.Name, Type: f.Type, Null: make([]bool, n)})
	}
	dicts := make([]map[string]int32, len(tags))
	for i := range dicts {
		dicts[i] = map[string]int32{}
	}
	row := 0
	for _, s := range series {
		pos := make([]int, len(schema.Fields)) // column of each field in s, or -1
		for i, f := range schema.Fields {
			pos[i] = -1
			for j, name := range s.Columns {
				if j > 0 && name == f.Name {
					pos[i] = j
				}
			}
		}
		for _, r := range s.Values {
			t, ok := r[0].(int64)
			if !ok {
				return nil, nil, fmt.Errorf("%w: inner times are not epoch integers", ErrInternal)
			}
			batch.Time = append(batch.Time, t)
			for i, tg := range tags {
				v := s.Tags[tg]
				id := int32(-1)
				if v != "" {
					var ok bool
					if id, ok = dicts[i][v]; !ok {
						id = int32(len(batch.Tags[i].Dict))
						dicts[i][v] = id
						batch.Tags[i].Dict = append(batch.Tags[i].Dict, v)
					}
				}
				batch.Tags[i].IDs = append(batch.Tags[i].IDs, id)
			}
			for i := range schema.Fields {
				var v any
				if pos[i] >= 0 {
					v = r[pos[i]]
				}
				setField(&batch.Fields[i], row, n, v)
			}
			row++
		}
	}
	return schema, batch, nil
}

func valueType(v any) columnar.FieldType {
	switch v.(type) {
	case float64:
		return columnar.FieldFloat
	case int64:
		return columnar.FieldInt
	case uint64:
		return columnar.FieldUint
	case bool:
		return columnar.FieldBool
	case string:
		return columnar.FieldString
	}
	return 0
}

// setField stores v at row of an n-row field vector (allocating its slice
// on first use).
func setField(fv *columnar.FieldVector, row, n int, v any) {
	switch fv.Type {
	case columnar.FieldFloat:
		if fv.F == nil {
			fv.F = make([]float64, n)
		}
		if f, ok := asFloat(v); ok {
			fv.F[row] = f
			return
		}
	case columnar.FieldInt:
		if fv.I == nil {
			fv.I = make([]int64, n)
		}
		if i, ok := v.(int64); ok {
			fv.I[row] = i
			return
		}
	case columnar.FieldUint:
		if fv.U == nil {
			fv.U = make([]uint64, n)
		}
		if u, ok := v.(uint64); ok {
			fv.U[row] = u
			return
		}
	case columnar.FieldBool:
		if fv.B == nil {
			fv.B = make([]bool, n)
		}
		if b, ok := v.(bool); ok {
			fv.B[row] = b
			return
		}
	case columnar.FieldString:
		if fv.S == nil {
			fv.S = make([]string, n)
		}
		if s, ok := v.(string); ok {
			fv.S[row] = s
			return
		}
	}
	fv.Null[row] = true
}
