package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// doPG runs text over the PostgreSQL wire protocol on one connection kept
// for the whole run, as a dashboard's data source keeps its pool: pgx's
// default extended protocol with its statement cache, every row read. The
// time is from sending the query to having received its last row, the
// values copied as received (as the HTTP dialects' time ends with the
// body read, before it is parsed); the values are then decoded and the
// rows encoded as /api/v1/sql's JSON, so answers compare across dialects.
func (c *Client) doPG(ctx context.Context, text string) ([]byte, time.Duration, error) {
	if c.pg == nil {
		conn, err := pgx.Connect(ctx, c.URL)
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
	// The values, as received: one buffer, and per value its end in it
	// (-1: NULL).
	var buf []byte
	var ends []int
	ncols := 0
	for rows.Next() {
		raw := rows.RawValues()
		ncols = len(raw)
		for _, v := range raw {
			if v == nil {
				ends = append(ends, -1)
				continue
			}
			buf = append(buf, v...)
			ends = append(ends, len(buf))
		}
	}
	fields := rows.FieldDescriptions()
	rows.Close()
	elapsed := time.Since(start)
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	out, err := decodePG(c.pg.TypeMap(), fields, ncols, buf, ends)
	if err != nil {
		return nil, 0, err
	}
	body, err := json.Marshal(struct {
		Rows [][]any `json:"rows"`
	}{out})
	return body, elapsed, err
}

// decodePG decodes received values into Go values as pgx's Rows.Values
// does: rows of ncols values, each ending at ends[i] in buf (-1: NULL).
func decodePG(m *pgtype.Map, fields []pgconn.FieldDescription, ncols int, buf []byte, ends []int) ([][]any, error) {
	var out [][]any
	if ncols == 0 {
		return out, nil // no row
	}
	from := 0
	for i := 0; i+ncols <= len(ends); i += ncols {
		row := make([]any, ncols)
		for j := range row {
			end := ends[i+j]
			if end < 0 {
				continue
			}
			src := buf[from:end]
			from = end
			fd := fields[j]
			t, ok := m.TypeForOID(fd.DataTypeOID)
			if !ok {
				row[j] = string(src)
				continue
			}
			v, err := t.Codec.DecodeValue(m, fd.DataTypeOID, fd.Format, src)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", fd.Name, err)
			}
			row[j] = v
		}
		out = append(out, row)
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
