package pgoracle

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Field types of FieldDef.Type, as in InfluxDB line protocol.
const (
	Float    = "float"    // Go float64, line protocol 1.5, PostgreSQL double precision
	Integer  = "integer"  // Go int64, line protocol 1i, PostgreSQL bigint
	Unsigned = "unsigned" // Go uint64, line protocol 1u, PostgreSQL numeric(20,0)
	Boolean  = "boolean"  // Go bool, line protocol true, PostgreSQL boolean
	String   = "string"   // Go string, line protocol "s", PostgreSQL text
)

// FieldDef declares a field column.
type FieldDef struct {
	Name string
	Type string // Float, Integer, Unsigned, Boolean or String
}

// Point is one line-protocol point of a table (measurement).
//
// Time is in nanoseconds since the epoch; LoadPoints needs whole
// microseconds. A tag that is absent or "" is not part of the series (line
// protocol cannot write an empty tag value) and loads as NULL. Fields hold
// float64, int64, uint64, bool or string values (their Go type is the
// field's type); an absent field loads as NULL. Points may share Tags maps:
// treat them as read-only.
type Point struct {
	Time   int64
	Tags   map[string]string
	Fields map[string]any
}

// MergeLastWriteWins applies InfluxDB's rule for points written to the same
// series (tag set) at the same time: they are one point, whose fields are
// the union of the writes' fields, each with its value from the last write
// (in slice order) that has it. Points are assumed to be of one table.
//
// The result has one point per distinct (series, time), in the order of
// their first write; its Tags are the first write's. The input, its maps
// included, is not modified: merged points get new Fields maps, others
// share theirs with the input.
func MergeLastWriteWins(points []Point) []Point {
	type key struct {
		series string
		time   int64
	}
	index := make(map[key]int, len(points))
	out := make([]Point, 0, len(points))
	var owned map[int]bool // out[i].Fields is a copy made here
	var buf []byte
	var names []string
	for _, p := range points {
		buf, names = appendSeriesKey(buf[:0], names, p.Tags)
		k := key{string(buf), p.Time}
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, p)
			continue
		}
		if owned == nil {
			owned = make(map[int]bool)
		}
		if !owned[i] {
			fields := make(map[string]any, len(out[i].Fields)+len(p.Fields))
			for f, v := range out[i].Fields {
				fields[f] = v
			}
			out[i].Fields = fields
			owned[i] = true
		}
		for f, v := range p.Fields {
			out[i].Fields[f] = v
		}
	}
	return out
}

// appendSeriesKey appends an unambiguous key of the non-empty tags, sorted
// by name; names is scratch space.
func appendSeriesKey(buf []byte, names []string, tags map[string]string) ([]byte, []string) {
	names = names[:0]
	for k, v := range tags {
		if v != "" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		buf = appendLenPrefixed(buf, k)
		buf = appendLenPrefixed(buf, tags[k])
	}
	return buf, names
}

func appendLenPrefixed(buf []byte, s string) []byte {
	n := len(s)
	for n >= 0x80 {
		buf = append(buf, byte(n)|0x80)
		n >>= 7
	}
	return append(append(buf, byte(n)), s...)
}

// fieldType returns the field type of a Go value, or "".
func fieldType(v any) string {
	switch v.(type) {
	case float64:
		return Float
	case int64:
		return Integer
	case uint64:
		return Unsigned
	case bool:
		return Boolean
	case string:
		return String
	}
	return ""
}

var sqlTypes = map[string]string{
	Float:    "double precision",
	Integer:  "bigint",
	Unsigned: "numeric(20,0)",
	Boolean:  "boolean",
	String:   "text",
}

// LoadPoints creates table (it must not exist) with columns time
// timestamptz NOT NULL, then the tags (text) and fields (by type) in the
// order given, merges the points with MergeLastWriteWins and loads them
// with COPY. It fails, loading nothing, when a point has a tag or field not
// declared, a field value of another type, NaN or ±Inf (line protocol cannot
// write them), no fields, or a time that is not a whole microsecond.
func (o *Oracle) LoadPoints(table string, tags []string, fields []FieldDef, points []Point) error {
	if err := o.loadPoints(table, tags, fields, points); err != nil {
		return fmt.Errorf("pgoracle: loading %s: %w", table, err)
	}
	return nil
}

func (o *Oracle) loadPoints(table string, tags []string, fields []FieldDef, points []Point) error {
	if table == "" {
		return errors.New("empty table name")
	}
	cols := []string{"time"}
	seen := map[string]bool{"time": true}
	tagIdx := make(map[string]int, len(tags))
	for _, t := range tags {
		if t == "" || seen[t] {
			return fmt.Errorf("tag column %q is empty or repeated", t)
		}
		seen[t] = true
		tagIdx[t] = len(cols)
		cols = append(cols, t)
	}
	fieldIdx := make(map[string]int, len(fields))
	fieldTyp := make(map[string]string, len(fields))
	ddl := make([]string, 0, len(cols)+len(fields))
	ddl = append(ddl, `"time" timestamptz NOT NULL`)
	for _, t := range tags {
		ddl = append(ddl, pgx.Identifier{t}.Sanitize()+" text")
	}
	for _, f := range fields {
		if f.Name == "" || seen[f.Name] {
			return fmt.Errorf("field column %q is empty or repeated", f.Name)
		}
		st, ok := sqlTypes[f.Type]
		if !ok {
			return fmt.Errorf("field %s has type %q; want float, integer, unsigned, boolean or string", f.Name, f.Type)
		}
		seen[f.Name] = true
		fieldIdx[f.Name] = len(cols)
		fieldTyp[f.Name] = f.Type
		cols = append(cols, f.Name)
		ddl = append(ddl, pgx.Identifier{f.Name}.Sanitize()+" "+st)
	}

	merged := MergeLastWriteWins(points)
	for i, p := range merged {
		if p.Time%1000 != 0 {
			return fmt.Errorf("point %d: time %d ns is not a whole microsecond (PostgreSQL timestamps have microsecond precision)", i, p.Time)
		}
		for k := range p.Tags {
			if _, ok := tagIdx[k]; !ok {
				return fmt.Errorf("point %d: tag %q is not declared", i, k)
			}
		}
		if len(p.Fields) == 0 {
			return fmt.Errorf("point %d (time %d): no fields", i, p.Time)
		}
		for k, v := range p.Fields {
			want, ok := fieldTyp[k]
			if !ok {
				return fmt.Errorf("point %d: field %q is not declared", i, k)
			}
			if got := fieldType(v); got != want {
				return fmt.Errorf("point %d: field %s is %T, want %s", i, k, v, want)
			}
			if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return fmt.Errorf("point %d: field %s is %v, which line protocol cannot write", i, k, f)
			}
		}
	}

	row := make([]any, len(cols))
	next := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if next == len(merged) {
			return nil, nil
		}
		p := merged[next]
		next++
		clear(row)
		row[0] = time.Unix(0, p.Time).UTC()
		for k, v := range p.Tags {
			if v != "" {
				row[tagIdx[k]] = v
			}
		}
		for k, v := range p.Fields {
			if u, ok := v.(uint64); ok {
				v = pgtype.Numeric{Int: new(big.Int).SetUint64(u), Valid: true}
			}
			row[fieldIdx[k]] = v
		}
		return row, nil
	})

	o.mu.Lock()
	defer o.mu.Unlock()
	ctx := context.Background()
	tx, err := o.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	ident := pgx.Identifier{table}
	if _, err := tx.Exec(ctx, "CREATE UNLOGGED TABLE "+ident.Sanitize()+" ("+strings.Join(ddl, ", ")+")"); err != nil {
		return err
	}
	n, err := tx.CopyFrom(ctx, ident, cols, src)
	if err != nil {
		return err
	}
	if n != int64(len(merged)) {
		return fmt.Errorf("COPY loaded %d rows of %d", n, len(merged))
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	_, err = o.conn.Exec(ctx, "ANALYZE "+ident.Sanitize())
	return err
}
