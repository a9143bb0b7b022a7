package influxql

import (
	"strconv"
	"time"
)

// Response is the JSON body of /query: one Result per statement, or a
// top-level Error when the request as a whole failed (bad syntax).
type Response struct {
	Results []*Result `json:"results,omitempty"`
	Error   string    `json:"error,omitempty"`
	// Code is Silt's stable id of a request-level error (InfluxDB sends
	// only error; clients ignore the extra key).
	Code string `json:"code,omitempty"`

	mem *memAccount // the request's memory account (Execute)
}

// Charge counts n more bytes a caller holds of this answer, such as a
// copy of its rows in another layout, against the request's
// MaxMemoryBytes, on top of what the statements' series hold; what says
// what the bytes are. Its error wraps exec.ErrMemoryLimit.
func (r *Response) Charge(n int64, what string) error {
	return r.mem.charge(n, what)
}

// Result is one statement's answer.
type Result struct {
	StatementID int       `json:"statement_id"`
	Series      []*Series `json:"series,omitempty"`
	Messages    []Message `json:"messages,omitempty"`
	Partial     bool      `json:"partial,omitempty"`
	Error       string    `json:"error,omitempty"`
	// chunking is how a chunked answer sends the result.
	chunking chunking
	// err is the statement's error, whose text is Error (nil for a
	// statement that was not executed).
	err error
}

// Err is the error the statement failed with, for a caller that answers
// by its kind (errors.Is, errors.As): nil when it succeeded or was not
// executed after an earlier statement failed.
func (r *Result) Err() error { return r.err }

// chunking is how InfluxDB 1.x cuts a statement's result into chunks.
type chunking uint8

const (
	chunkWhole     chunking = iota // one chunk
	chunkRows                      // each series cut every chunk_size rows (SELECT, SHOW SERIES, SHOW FIELD KEYS)
	chunkPerSeries                 // one chunk per series, uncut (SHOW TAG KEYS, SHOW TAG VALUES)
)

// Message is an informational note attached to a result.
type Message struct {
	Level string `json:"level"`
	Text  string `json:"text"`
}

// Series is one row set: a measurement and tag set.
type Series struct {
	Name    string            `json:"name,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values,omitempty"`
	Partial bool              `json:"partial,omitempty"`

	// typed holds the rows instead of Values (Request.TypedValues).
	typed *typedValues
	// tagNames and tagVals hold the tags instead of Tags, keys sorted
	// (Request.TypedValues): SortedTags.
	tagNames, tagVals []string
}

// SortedTags returns the series' tags as keys in ascending order and
// their values, when the series holds them so instead of in Tags (an
// answer to a Request with TypedValues); ok is false otherwise.
func (s *Series) SortedTags() (keys, vals []string, ok bool) {
	if s.tagNames == nil {
		return nil, nil, false
	}
	return s.tagNames, s.tagVals, true
}

// Epoch says how times are written: RFC 3339 (Unit 0) or integers of
// Unit since the Unix epoch.
type Epoch struct {
	Unit     time.Duration
	Location *time.Location // for RFC 3339 output with tz(); nil is UTC
}

// ParseEpoch reads the epoch parameter: "" (RFC 3339), ns, u, µ, ms, s, m
// or h.
func ParseEpoch(s string) (Epoch, error) {
	switch s {
	case "":
		return Epoch{}, nil
	case "ns", "n":
		return Epoch{Unit: time.Nanosecond}, nil
	case "u", "µ", "us":
		return Epoch{Unit: time.Microsecond}, nil
	case "ms":
		return Epoch{Unit: time.Millisecond}, nil
	case "s":
		return Epoch{Unit: time.Second}, nil
	case "m":
		return Epoch{Unit: time.Minute}, nil
	case "h":
		return Epoch{Unit: time.Hour}, nil
	}
	return Epoch{}, &paramError{"epoch", s, "want ns, u, µ, ms, s, m or h"}
}

type paramError struct{ name, value, want string }

func (e *paramError) Error() string {
	return "bad " + e.name + " parameter " + strconv.Quote(e.value) + ": " + e.want
}

// timeValue renders a nanosecond time as InfluxDB does for this epoch.
func (e Epoch) timeValue(ns int64, loc *time.Location) any {
	if e.Unit > 0 {
		return ns / int64(e.Unit)
	}
	t := time.Unix(0, ns).UTC()
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format(time.RFC3339Nano)
}
