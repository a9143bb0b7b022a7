package server

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/sink"
)

// CSV upload: POST /api/v1/import/csv?db=D&table=T writes the rows of a
// CSV body (a header of column names, then one row per record) into one
// table. Like the other writes, a body with bad records writes the good
// ones and answers 400 with each bad record's line and reason
// (WriteResponse); every row it reports as written is durable.
//
// One column is the time (time=, default "time"): an integer in
// precision units or an RFC 3339 timestamp, as /api/v1/sql's CSV writes
// it, so that an export imports back. The tag columns are those tags=
// names, else those the table already has as tags. The others are
// fields, typed by types= (col:float|integer|unsigned|boolean|string),
// else by the table's schema, else by the column's first value in a row
// that is written, as a table's first write types it: true or false, a
// boolean; a number, a float; anything else, a string. A later cell not of
// its column's type rejects its row. An empty cell is no value (no tag,
// or a NULL field).

// CSV record error codes, as the line-protocol and NDJSON ones.
const (
	codeCSVSyntax     = "csv-syntax"      // a quote out of place, an unterminated quoted field
	codeCSVFieldCount = "csv-field-count" // not as many cells as the header names
	codeCSVBadTime    = "csv-bad-time"    // the time cell is empty or not a time
	codeCSVBadValue   = "csv-bad-value"   // a cell is not of its column's type
	codeCSVNoFields   = "csv-no-fields"   // every field cell is empty
	codeCSVBadUTF8    = "csv-invalid-utf8"
)

// csvColumn is how one header column is written.
type csvColumn struct {
	name  []byte
	tag   bool
	time  bool
	ftype columnar.FieldType // fields: the type, 0 until known
}

func (s *Server) handleCSVImport(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		s.writeError(ctx, fasthttp.StatusMethodNotAllowed, "method-not-allowed", "use POST to upload CSV")
		return
	}
	args := ctx.QueryArgs()
	db, table := string(args.Peek("db")), string(args.Peek("table"))
	if db == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-db", "the db parameter is required: POST /api/v1/import/csv?db=D&table=T")
		return
	}
	if table == "" {
		s.writeError(ctx, fasthttp.StatusBadRequest, "missing-table", "the table parameter is required: POST /api/v1/import/csv?db=D&table=T")
		return
	}
	if err := sink.ValidateName("database", db); err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-db-name", err.Error())
		return
	}
	if err := sink.ValidateName("table", table); err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-table-name", err.Error())
		return
	}
	prec, err := columnar.ParsePrecision(string(args.Peek("precision")))
	if err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, "bad-precision", err.Error())
		return
	}
	sc, body, ok := s.writeBody(ctx)
	if !ok {
		return
	}
	defer putScratch(sc)

	cols, code, err := s.csvHeader(body, db, table, args)
	if err != nil {
		s.writeError(ctx, fasthttp.StatusBadRequest, code, err.Error())
		return
	}
	decodeCSV(body, table, cols, prec, time.Now().UnixNano(), &sc.batch, func(e columnar.LineError) { sc.errs = append(sc.errs, e) })
	s.writeDecoded(ctx, db, sc) // write.go: the same answer as /write's
}

// csvHeader reads the header and decides each column's role and, where
// types= or the table's schema says, its type. Its errors concern the
// whole request (code for the answer).
func (s *Server) csvHeader(body []byte, db, table string, args *fasthttp.Args) ([]csvColumn, string, error) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err == io.EOF {
		return nil, "csv-no-header", errors.New("the body is empty: the first line must name the columns")
	}
	if err != nil {
		return nil, "csv-no-header", fmt.Errorf("the header (line 1): %w", err)
	}
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\uFEFF") // a spreadsheet's byte-order mark
	}
	timeCol := "time"
	if v := args.Peek("time"); len(v) > 0 {
		timeCol = string(v)
	}
	var schema *columnar.TableSchema
	if tables, ok := s.eng.Tables(db); ok {
		schema = tables[table]
	}
	tagSet := map[string]bool{}
	if v := string(args.Peek("tags")); v != "" {
		for _, k := range strings.Split(v, ",") {
			tagSet[k] = true
		}
	} else if schema != nil {
		for _, k := range schema.Tags {
			tagSet[k] = true
		}
	}
	types := map[string]columnar.FieldType{}
	if v := string(args.Peek("types")); v != "" {
		for _, kv := range strings.Split(v, ",") {
			k, t, _ := strings.Cut(kv, ":")
			ft, ok := parseFieldType(t)
			if !ok {
				return nil, "bad-types", fmt.Errorf("types=%s: %q is not col:float|integer|unsigned|boolean|string", v, kv)
			}
			types[k] = ft
		}
	}
	cols := make([]csvColumn, len(head))
	seen := map[string]bool{}
	hasTime := false
	for i, name := range head {
		if name == "" || !utf8.ValidString(name) {
			return nil, "csv-bad-header", fmt.Errorf("column %d of the header has no name, or not valid UTF-8", i+1)
		}
		if seen[name] {
			return nil, "csv-bad-header", fmt.Errorf("the header names column %q twice", name)
		}
		seen[name] = true
		c := csvColumn{name: []byte(name), time: name == timeCol, tag: tagSet[name]}
		if c.time {
			hasTime = true
		} else if !c.tag {
			c.ftype = types[name]
			if c.ftype == 0 && schema != nil {
				if j, ok := schema.Field(c.name); ok {
					c.ftype = schema.Fields[j].Type
				}
			}
		}
		cols[i] = c
	}
	if !hasTime {
		return nil, "csv-no-time", fmt.Errorf("the header has no %q column (name the time column with time=)", timeCol)
	}
	for k := range tagSet {
		if !seen[k] && args.Has("tags") {
			return nil, "csv-bad-header", fmt.Errorf("tags= names %q, which the header does not", k)
		}
	}
	return cols, "", nil
}

func parseFieldType(s string) (columnar.FieldType, bool) {
	for _, t := range []columnar.FieldType{columnar.FieldFloat, columnar.FieldInt, columnar.FieldUint, columnar.FieldBool, columnar.FieldString} {
		if s == t.String() {
			return t, true
		}
	}
	return 0, false
}

// isCSVNumber reports whether v is a finite decimal number.
func isCSVNumber(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && !strings.ContainsAny(v, "xXpP_")
}

// decodeCSV adds a row to b for each good record and reports the others
// to onErr with the line the record starts on (1-based, the header being
// line 1).
func decodeCSV(body []byte, table string, cols []csvColumn, prec columnar.Precision, now int64, b *columnar.Batch, onErr func(columnar.LineError)) {
	r := csv.NewReader(bytes.NewReader(body))
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	tbl := []byte(table)
	first := true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return
		}
		if err != nil && first {
			// The header's own errors refuse the request (csvHeader)
			// before any record is decoded.
			first = false
			continue
		}
		if err != nil {
			// FieldPos is not to be asked after an error: the record may
			// have no field to place (a bad quote in its first).
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				onErr(columnar.LineError{Line: pe.StartLine, Code: codeCSVSyntax, Reason: pe.Err.Error() + fmt.Sprintf(" (line %d, column %d)", pe.Line, pe.Column)})
				continue
			}
			onErr(columnar.LineError{Code: codeCSVSyntax, Reason: err.Error()})
			return
		}
		line, _ := r.FieldPos(0)
		if first {
			first = false
			continue
		}
		if len(rec) != len(cols) {
			onErr(columnar.LineError{Line: line, Code: codeCSVFieldCount,
				Reason: fmt.Sprintf("%d cells, but the header names %d columns", len(rec), len(cols))})
			continue
		}
		if code, reason := csvRow(b, tbl, line, rec, cols, prec); code != "" {
			onErr(columnar.LineError{Line: line, Code: code, Reason: reason})
		}
	}
}

// csvRow adds one record as a row, or leaves b as it was and says why not.
// A column still untyped takes its type from its cell in the first row
// written.
func csvRow(b *columnar.Batch, table []byte, line int, rec []string, cols []csvColumn, prec columnar.Precision) (code, reason string) {
	b.StartRow(table, line)
	var t int64
	fields, typed := 0, false
	for i, v := range rec {
		c := &cols[i]
		if !utf8.ValidString(v) {
			b.AbortRow()
			return codeCSVBadUTF8, fmt.Sprintf("column %s is not valid UTF-8", c.name)
		}
		switch {
		case c.time:
			var ok bool
			if t, ok = csvTime(v, prec); !ok {
				b.AbortRow()
				return codeCSVBadTime, fmt.Sprintf("time %q is neither an integer (precision %s) nor an RFC 3339 timestamp", clip(v), precName(prec))
			}
		case v == "":
		case c.tag:
			b.AddTag(c.name, []byte(v))
		default:
			ft := c.ftype
			if ft == 0 {
				ft, typed = cellType(v), true
			}
			if !csvField(b, c.name, ft, v) {
				b.AbortRow()
				return codeCSVBadValue, fmt.Sprintf("column %s is %s, and %q is not", c.name, ft, clip(v))
			}
			fields++
		}
	}
	if fields == 0 {
		b.AbortRow()
		return codeCSVNoFields, "the row has no field value (every field cell is empty)"
	}
	b.EndRow(t)
	if typed {
		for i, v := range rec {
			if c := &cols[i]; c.ftype == 0 && !c.tag && !c.time && v != "" {
				c.ftype = cellType(v)
			}
		}
	}
	return "", ""
}

// cellType is the type a value gives an untyped column.
func cellType(v string) columnar.FieldType {
	switch {
	case v == "true" || v == "false":
		return columnar.FieldBool
	case isCSVNumber(v):
		return columnar.FieldFloat
	}
	return columnar.FieldString
}

func csvField(b *columnar.Batch, name []byte, ft columnar.FieldType, v string) bool {
	switch ft {
	case columnar.FieldFloat:
		if !isCSVNumber(v) {
			return false
		}
		f, _ := strconv.ParseFloat(v, 64)
		b.AddFloat(name, f)
	case columnar.FieldInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		b.AddNum(name, columnar.FieldInt, uint64(n))
	case columnar.FieldUint:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return false
		}
		b.AddNum(name, columnar.FieldUint, n)
	case columnar.FieldBool:
		switch v {
		case "true":
			b.AddNum(name, columnar.FieldBool, 1)
		case "false":
			b.AddNum(name, columnar.FieldBool, 0)
		default:
			return false
		}
	default:
		b.AddString(name, []byte(v))
	}
	return true
}

// csvTime reads a time cell: an integer in prec units, or RFC 3339.
func csvTime(v string, prec columnar.Precision) (int64, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return prec.Scale(n)
	}
	ts, err := time.Parse(time.RFC3339Nano, v)
	if err != nil || ts.Year() < 1678 || ts.Year() > 2261 { // int64 nanoseconds
		return 0, false
	}
	return ts.UnixNano(), true
}

func precName(p columnar.Precision) string {
	switch p {
	case columnar.Microsecond:
		return "us"
	case columnar.Millisecond:
		return "ms"
	case columnar.Second:
		return "s"
	case columnar.Minute:
		return "m"
	case columnar.Hour:
		return "h"
	}
	return "ns"
}

// clip bounds a cell quoted in an error.
func clip(v string) string {
	if len(v) > 64 {
		return v[:64] + "..."
	}
	return v
}
