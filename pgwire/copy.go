package pgwire

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// COPY ... TO STDOUT exports a query's rows (psql's \copy, pandas and
// scripts that dump a table): COPY (query) TO STDOUT or COPY table
// [(columns)] TO STDOUT, in PostgreSQL's text format (tab-separated, \N
// for NULL) or CSV, with HEADER and DELIMITER. COPY FROM is a write and is
// refused.

var (
	reCopyQuery = regexp.MustCompile(`(?is)^\s*COPY\s*\((.*)\)\s*TO\s+STDOUT\b(.*)$`)
	reCopyTable = regexp.MustCompile(`(?is)^\s*COPY\s+("[^"]+"|[a-z_][a-z0-9_$]*(?:\.[a-z_][a-z0-9_$]*)?)\s*(?:\(([^)]*)\))?\s*TO\s+STDOUT\b(.*)$`)
	reCopyDelim = regexp.MustCompile(`(?is)\bDELIMITER\s+(?:AS\s+)?'(.)'`)
	reCopyCSV   = regexp.MustCompile(`(?is)\bCSV\b|\bFORMAT\s+'?csv'?`)
	reCopyBin   = regexp.MustCompile(`(?is)\bBINARY\b|\bFORMAT\s+'?binary'?`)
	reCopyHdr   = regexp.MustCompile(`(?is)\bHEADER\b(?:\s+(?:true|on|1))?`)
	reCopyNoHdr = regexp.MustCompile(`(?is)\bHEADER\s+(?:false|off|0)\b`)
)

// copySpec is how a COPY TO STDOUT writes its rows.
type copySpec struct {
	csv    bool
	header bool
	delim  byte
}

// copyStatement reads a COPY ... TO STDOUT: the query it exports and
// how; ok is false for another COPY.
func copyStatement(text string) (inner string, spec *copySpec, err error, ok bool) {
	var opts string
	if m := reCopyQuery.FindStringSubmatch(text); m != nil {
		inner, opts = m[1], m[2]
	} else if m := reCopyTable.FindStringSubmatch(text); m != nil {
		cols := "*"
		if strings.TrimSpace(m[2]) != "" {
			cols = m[2]
		}
		inner, opts = "SELECT "+cols+" FROM "+m[1], m[3]
	} else {
		return "", nil, nil, false
	}
	if reCopyBin.MatchString(opts) {
		return "", nil, &pgError{code: "0A000", msg: "COPY in binary format is not supported: use text or CSV"}, true
	}
	spec = &copySpec{csv: reCopyCSV.MatchString(opts), delim: '\t'}
	if spec.csv {
		spec.delim = ','
		spec.header = reCopyHdr.MatchString(opts) && !reCopyNoHdr.MatchString(opts)
	}
	if m := reCopyDelim.FindStringSubmatch(opts); m != nil {
		spec.delim = m[1][0]
	}
	return inner, spec, nil, true
}

// copyOut runs a COPY ... TO STDOUT's query; its answer carries the spec
// that sendCopy writes it with.
func (c *conn) copyOut(text string) (*answer, error, bool) {
	inner, spec, err, ok := copyStatement(text)
	if !ok || err != nil {
		return nil, err, ok
	}
	ans, err := c.run(inner)
	if err != nil {
		return nil, err, true
	}
	if ans.cols == nil || ans.copy != nil {
		ans.sent()
		return nil, &pgError{code: "0A000", msg: "COPY exports a query's rows: the statement in COPY (...) must be a query"}, true
	}
	ans.copy = spec
	ans.tag = "COPY " + strconv.Itoa(len(ans.rows))
	return ans, nil, true
}

// sendCopy sends a COPY's rows: CopyOutResponse, a CopyData a row, and
// CopyDone (the caller sends CommandComplete).
func (c *conn) sendCopy(ans *answer) {
	spec := ans.copy
	c.send(&pgproto3.CopyOutResponse{OverallFormat: 0, ColumnFormatCodes: make([]uint16, len(ans.cols))})
	var line, val []byte
	if spec.header {
		line = line[:0]
		for i, col := range ans.cols {
			if i > 0 {
				line = append(line, spec.delim)
			}
			line = appendCSVField(line, []byte(col.name), spec.delim)
		}
		line = append(line, '\n')
		c.send(&pgproto3.CopyData{Data: line})
	}
	for _, row := range ans.rows {
		line = line[:0]
		for i, v := range row {
			if i > 0 {
				line = append(line, spec.delim)
			}
			switch {
			case v == nil && spec.csv:
			case v == nil:
				line = append(line, `\N`...)
			default:
				val = appendText(val[:0], v)
				if spec.csv {
					line = appendCSVField(line, val, spec.delim)
				} else {
					line = appendCopyText(line, val, spec.delim)
				}
			}
		}
		line = append(line, '\n')
		c.send(&pgproto3.CopyData{Data: line})
		if c.werr != nil {
			return
		}
	}
	c.send(&pgproto3.CopyDone{})
}

// appendCopyText escapes a value for COPY's text format.
func appendCopyText(dst, v []byte, delim byte) []byte {
	for _, b := range v {
		switch b {
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			if b == delim {
				dst = append(dst, '\\')
			}
			dst = append(dst, b)
		}
	}
	return dst
}

// appendCSVField quotes a value for CSV when it must be: it holds the
// delimiter, a quote, a line break, or is empty (unquoted empty is NULL).
func appendCSVField(dst, v []byte, delim byte) []byte {
	needs := len(v) == 0
	for _, b := range v {
		if b == delim || b == '"' || b == '\n' || b == '\r' {
			needs = true
			break
		}
	}
	if !needs {
		return append(dst, v...)
	}
	dst = append(dst, '"')
	for _, b := range v {
		if b == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, b)
	}
	return append(dst, '"')
}
