package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strconv"

	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fasthttp"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/influxql"
)

// influxSize is what writeInflux learns of an answer before encoding it:
// its rows of values (a large answer is streamed) and an estimate of its
// JSON, to size the buffer once instead of growing it by doubling.
type influxSize struct {
	rows  int
	bytes int
}

// sizeInflux walks resp's series once. Values are about 16 bytes each;
// a series' head (name, tags, columns) is counted from its lengths
// without reading its tags map, whose walk cost more than the estimate
// saves (a lastpoint answer is a series per host, one row each); the
// series of one answer share their columns, counted once.
func sizeInflux(resp *influxql.Response) influxSize {
	n := influxSize{bytes: 256}
	var cols *string
	for _, r := range resp.Results {
		for _, s := range r.Series {
			rows := s.Len()
			n.rows += rows
			tags := len(s.Tags)
			if keys, _, ok := s.SortedTags(); ok {
				tags = len(keys)
			}
			n.bytes += 16*rows*len(s.Columns) + 48 + len(s.Name) + 40*tags
			if len(s.Columns) == 0 || &s.Columns[0] == cols {
				n.bytes += 8 * len(s.Columns)
				continue
			}
			cols = &s.Columns[0]
			for _, c := range s.Columns {
				n.bytes += 3 + len(c)
			}
		}
	}
	return n
}

// streamInflux sends a large /query answer as it is encoded, gzipped when
// the client accepts it: encoding/json would build the whole body in one
// buffer, and the gzip and the response each copy it again, three bodies
// on top of the values they are encoded from. It is written by fasthttp's
// WriteTo in 64 KiB chunks (setBodyWriterTo), as SQL's large answers are:
// piped from a goroutine it went out 4 KiB a write system call.
func (s *Server) streamInflux(ctx *fasthttp.RequestCtx, resp *influxql.Response) {
	gz := ctx.Request.Header.HasAcceptEncoding("gzip")
	if gz {
		ctx.Response.Header.Set("Content-Encoding", "gzip")
	}
	s.setBodyWriterTo(ctx, func(w *bufio.Writer) { // stream_writeto.go
		var out io.Writer = w
		var zw *gzip.Writer
		if gz {
			zw, _ = gzip.NewWriterLevel(w, gzip.BestSpeed) // a valid level: no error
			out = zw
		}
		err := writeInfluxJSON(out, resp)
		if zw != nil {
			if cerr := zw.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			s.log.Warn("send /query response", "err", err)
		}
	})
}

// writeInfluxJSON writes resp exactly as json.Encoder.Encode does (keys in
// the structs' order, a final newline), one row of values at a time.
func writeInfluxJSON(w io.Writer, resp *influxql.Response) error {
	bw := &jsonSink{}
	if b, ok := w.(*bytes.Buffer); ok {
		bw.buf = b // already a buffer: no second one to copy through
	} else {
		bw.w = bufio.NewWriter(w)
	}
	put := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = bw.Write(b)
		return err
	}
	bw.WriteByte('{')
	sep := ""
	var cols columnsJSON
	if len(resp.Results) > 0 {
		bw.WriteString(`"results":[`)
		for i, r := range resp.Results {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(`{"statement_id":` + strconv.Itoa(r.StatementID))
			if len(r.Series) > 0 {
				bw.WriteString(`,"series":[`)
				for j, se := range r.Series {
					if j > 0 {
						bw.WriteByte(',')
					}
					bw.commit(appendSeriesHead(bw.dst(), se, &cols))
					if n := se.Len(); n > 0 {
						bw.WriteString(`,"values":[`)
						for k := range n {
							if k > 0 {
								bw.WriteByte(',')
							}
							row, err := se.AppendRowJSON(bw.dst(), k)
							if err != nil {
								return err
							}
							bw.commit(row)
						}
						bw.WriteByte(']')
					}
					if se.Partial {
						bw.WriteString(`,"partial":true`)
					}
					bw.WriteByte('}')
				}
				bw.WriteByte(']')
			}
			if len(r.Messages) > 0 {
				bw.WriteString(`,"messages":`)
				if err := put(r.Messages); err != nil {
					return err
				}
			}
			if r.Partial {
				bw.WriteString(`,"partial":true`)
			}
			if r.Error != "" {
				bw.WriteString(`,"error":`)
				if err := put(r.Error); err != nil {
					return err
				}
			}
			bw.WriteByte('}')
		}
		bw.WriteByte(']')
		sep = ","
	}
	if resp.Error != "" {
		bw.WriteString(sep + `"error":`)
		_ = put(resp.Error)
		sep = ","
	}
	if resp.Code != "" {
		bw.WriteString(sep + `"code":`)
		_ = put(resp.Code)
	}
	bw.WriteString("}\n")
	return bw.Flush()
}

// jsonSink is what writeInfluxJSON writes to: a bufio.Writer over a
// stream, or the buffer an answer is built in.
type jsonSink struct {
	buf *bytes.Buffer // the buffer, when not nil; else w
	w   *bufio.Writer
	// scratch: a series' head or row for w, reused.
	scratch []byte
}

func (s *jsonSink) Write(p []byte) (int, error) {
	if s.buf != nil {
		return s.buf.Write(p)
	}
	return s.w.Write(p)
}

func (s *jsonSink) WriteByte(c byte) error {
	if s.buf != nil {
		return s.buf.WriteByte(c)
	}
	return s.w.WriteByte(c)
}

func (s *jsonSink) WriteString(v string) (int, error) {
	if s.buf != nil {
		return s.buf.WriteString(v)
	}
	return s.w.WriteString(v)
}

func (s *jsonSink) Flush() error {
	if s.buf != nil {
		return nil
	}
	return s.w.Flush()
}

// dst is the slice a series' head or row is appended to: the buffer's
// free space, so that a row of a dashboard's answer is written once
// rather than into a scratch slice and copied; or the scratch slice.
func (s *jsonSink) dst() []byte {
	if s.buf != nil {
		return s.buf.AvailableBuffer()
	}
	return s.scratch[:0]
}

// commit writes b, appended to dst(). In the buffer's free space (add
// did not outgrow it) Write copies b onto itself, as bytes.Buffer's
// AvailableBuffer documents.
func (s *jsonSink) commit(b []byte) {
	if s.buf != nil {
		s.buf.Write(b)
		return
	}
	s.scratch = b
	s.w.Write(b)
}

// appendSeriesHead appends the JSON json.Marshal writes for a series'
// name, tags and columns (influxql.Series without values), without its
// closing brace: a lastpoint answer has a series per host, and Marshal
// allocates for each (and sorts its tags through reflection).
func appendSeriesHead(b []byte, se *influxql.Series, cols *columnsJSON) []byte {
	b = append(b, '{')
	if se.Name != "" {
		b = append(b, `"name":`...)
		b = query.AppendJSONString(b, se.Name)
		b = append(b, ',')
	}
	if keys, vals, ok := se.SortedTags(); ok {
		// Kept sorted by the executor (Request.TypedValues): no map.
		b = append(b, `"tags":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = query.AppendJSONString(b, k)
			b = append(b, ':')
			b = query.AppendJSONString(b, vals[i])
		}
		b = append(b, "},"...)
	} else if len(se.Tags) == 1 {
		// One tag (GROUP BY "hostname"): nothing to sort.
		for k, v := range se.Tags {
			b = append(b, `"tags":{`...)
			b = query.AppendJSONString(b, k)
			b = append(b, ':')
			b = query.AppendJSONString(b, v)
			b = append(b, "},"...)
		}
	} else if len(se.Tags) > 0 {
		var keys [16]string
		ks := keys[:0]
		for k := range se.Tags {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		b = append(b, `"tags":{`...)
		for i, k := range ks {
			if i > 0 {
				b = append(b, ',')
			}
			b = query.AppendJSONString(b, k)
			b = append(b, ':')
			b = query.AppendJSONString(b, se.Tags[k])
		}
		b = append(b, "},"...)
	}
	b = append(b, `"columns":`...)
	if se.Columns == nil {
		return append(b, "null"...)
	}
	if len(se.Columns) > 0 && len(se.Columns) == cols.n && &se.Columns[0] == cols.first {
		// The series of one answer share their columns' slice: encoded
		// once, not once per series (a lastpoint has a series per host).
		return append(b, cols.json...)
	}
	at := len(b)
	b = append(b, '[')
	for i, c := range se.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = query.AppendJSONString(b, c)
	}
	b = append(b, ']')
	if len(se.Columns) > 0 {
		cols.first, cols.n = &se.Columns[0], len(se.Columns)
		cols.json = append(cols.json[:0], b[at:]...)
	}
	return b
}

// columnsJSON is the JSON of the last columns appendSeriesHead wrote, and
// the slice they came from (its first element and length).
type columnsJSON struct {
	first *string
	n     int
	json  []byte
}
