package stream

import (
	"fmt"
	"strings"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/ingest/lineprotocol"
	"github.com/siltdb/silt/ingest/ndjson"
)

// Format is the encoding of message values.
type Format string

// Formats.
const (
	FormatLine Format = "line" // InfluxDB line protocol, one or more lines per message
	FormatJSON Format = "json" // NDJSON rows as /api/v1/ingest takes them
)

// ParseFormat checks a --*.format flag value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case FormatLine, FormatJSON:
		return Format(s), nil
	}
	return "", fmt.Errorf("unknown format %q (want line or json)", s)
}

// Decoder turns message values into rows. Not safe for concurrent use.
type Decoder struct {
	Format    Format
	Table     string             // default table for JSON rows
	Precision columnar.Precision // unit of timestamps in the messages
	// MaxLineBytes bounds one line of a message; zero: the decoders' default.
	MaxLineBytes int
	errs         []columnar.LineError
}

// Decode appends the rows of one message to b, every row tagged with line
// = msg (so rejections can be mapped back to their message). now is the
// time given to rows without one: the message's own timestamp, so that a
// message consumed again yields the same points. If any line fails to decode
// b is left as it was and the error names the failing lines.
func (d *Decoder) Decode(b *columnar.Batch, value []byte, msg int, now int64) error {
	mBuf, mRows, mTags, mFields := len(b.Buf), len(b.Rows), len(b.Tags), len(b.Fields)
	d.errs = d.errs[:0]
	onErr := func(e columnar.LineError) { d.errs = append(d.errs, e) }
	switch d.Format {
	case FormatJSON:
		ndjson.Decode(value, b, ndjson.Options{Table: d.Table, Precision: d.Precision, Now: now, MaxLineBytes: d.MaxLineBytes}, onErr)
	default:
		lineprotocol.Decode(value, b, lineprotocol.Options{Precision: d.Precision, Now: now, MaxLineBytes: d.MaxLineBytes}, onErr)
	}
	if len(d.errs) == 0 && len(b.Rows) == mRows && len(value) > 0 {
		d.errs = append(d.errs, columnar.LineError{Line: 1, Code: "stream-no-rows", Reason: "message holds no rows"})
	}
	if len(d.errs) > 0 {
		b.Buf, b.Rows, b.Tags, b.Fields = b.Buf[:mBuf], b.Rows[:mRows], b.Tags[:mTags], b.Fields[:mFields]
		return &DecodeError{Lines: append([]columnar.LineError(nil), d.errs...)}
	}
	for i := mRows; i < len(b.Rows); i++ {
		b.Rows[i].Line = uint32(msg)
	}
	return nil
}

// DecodeError lists the lines of a message that failed to decode.
type DecodeError struct{ Lines []columnar.LineError }

func (e *DecodeError) Error() string {
	var sb strings.Builder
	for i, l := range e.Lines {
		if i == 3 {
			fmt.Fprintf(&sb, "; and %d more", len(e.Lines)-i)
			break
		}
		if i > 0 {
			sb.WriteString("; ")
		}
		fmt.Fprintf(&sb, "line %d: %s (%s)", l.Line, l.Reason, l.Code)
	}
	return sb.String()
}

// Code returns the code of the first failing line.
func (e *DecodeError) Code() string { return e.Lines[0].Code }
