package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgReadBuffer is the read buffer under the pgwire client's protocol
// reader. pgx reads the socket 8 KiB at a time by default (PostgreSQL's
// own send buffer); a 48,000-row answer is then some 900 reads, where the
// HTTP client reads a body straight into its growing buffer. With this
// buffer both read an answer in reads of about the same size.
const pgReadBuffer = 256 << 10

// doPG runs text over the PostgreSQL wire protocol on one connection kept
// for the whole run, as a dashboard's data source keeps its pool: pgx's
// default extended protocol with its statement cache, every row read. The
// time is from sending the query to having received its last row, each
// value kept as received (as the HTTP dialects' time ends with the body
// read into memory, before it is parsed); the values are then decoded and
// the rows encoded as /api/v1/sql's JSON, so answers compare across
// dialects.
func (c *Client) doPG(ctx context.Context, text string) ([]byte, time.Duration, error) {
	if c.pg == nil {
		cfg, err := pgx.ParseConfig(c.URL)
		if err != nil {
			return nil, 0, fmt.Errorf("parse --url %s: %w", c.URL, err)
		}
		cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
			return pgproto3.NewFrontend(bufio.NewReaderSize(r, pgReadBuffer), w)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return nil, 0, fmt.Errorf("connect to %s: %w", c.URL, err)
		}
		c.pg = conn
	}
	start := time.Now()
	rows, err := c.pg.Query(ctx, text)
	if err != nil {
		return nil, 0, err
	}
	var got received
	for rows.Next() {
		for _, v := range rows.RawValues() {
			got.add(v)
		}
	}
	fields := rows.FieldDescriptions()
	rows.Close()
	elapsed := time.Since(start)
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	out, err := got.decode(c.pg.TypeMap(), fields)
	if err != nil {
		return nil, 0, err
	}
	body, err := json.Marshal(struct {
		Rows [][]any `json:"rows"`
	}{out})
	return body, elapsed, err
}

// received holds an answer's values as they came, each behind its length
// (-1: NULL) as in a DataRow message, in chunks that grow as io.ReadAll's
// do: no value is copied twice, so keeping the rows costs what reading an
// HTTP body into memory does. (Appending to one slice copies it whole at
// every doubling: for a 48,000-row answer that was most of the client's
// time.)
type received struct {
	chunks [][]byte // full chunks, then cur
	cur    []byte
	next   int // size of the next chunk
}

func (r *received) add(v []byte) {
	need := 4 + len(v)
	if cap(r.cur)-len(r.cur) < need {
		if len(r.cur) > 0 {
			r.chunks = append(r.chunks, r.cur)
		}
		r.next = max(512, r.next+r.next/2)
		r.cur = make([]byte, 0, max(r.next, need))
	}
	n := uint32(len(v))
	if v == nil {
		n = 0xffffffff
	}
	r.cur = binary.BigEndian.AppendUint32(r.cur, n)
	r.cur = append(r.cur, v...)
}

// decode decodes the values into Go values as pgx's Rows.Values does:
// rows of len(fields) values.
func (r *received) decode(m *pgtype.Map, fields []pgconn.FieldDescription) ([][]any, error) {
	var out [][]any
	if len(fields) == 0 {
		return out, nil
	}
	var row []any
	for _, chunk := range append(r.chunks, r.cur) {
		for len(chunk) > 0 {
			if row == nil {
				row = make([]any, 0, len(fields))
			}
			n := binary.BigEndian.Uint32(chunk)
			chunk = chunk[4:]
			var v any
			if n != 0xffffffff {
				src := chunk[:n]
				chunk = chunk[n:]
				fd := fields[len(row)]
				if t, ok := m.TypeForOID(fd.DataTypeOID); ok {
					var err error
					if v, err = t.Codec.DecodeValue(m, fd.DataTypeOID, fd.Format, src); err != nil {
						return nil, fmt.Errorf("column %s: %w", fd.Name, err)
					}
				} else {
					v = string(src)
				}
			}
			row = append(row, v)
			if len(row) == len(fields) {
				out = append(out, row)
				row = nil
			}
		}
	}
	return out, nil
}

// Close releases the client's PostgreSQL connection, if it opened one.
func (c *Client) Close() {
	if c.pg != nil {
		_ = c.pg.Close(context.Background())
		c.pg = nil
	}
}
