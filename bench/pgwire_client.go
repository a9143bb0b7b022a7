package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// doPG runs text over the PostgreSQL wire protocol on one connection kept
// for the whole run, as a dashboard's data source keeps its pool: pgx's
// default extended protocol with its statement cache, every row read. The
// time is from sending the query to having read its last row; the rows are
// then encoded as /api/v1/sql's JSON, so answers compare across dialects.
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
	var out [][]any
	for rows.Next() {
		vs, err := rows.Values()
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, vs)
	}
	rows.Close()
	elapsed := time.Since(start)
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	body, err := json.Marshal(struct {
		Rows [][]any `json:"rows"`
	}{out})
	return body, elapsed, err
}

// Close releases the client's PostgreSQL connection, if it opened one.
func (c *Client) Close() {
	if c.pg != nil {
		_ = c.pg.Close(context.Background())
		c.pg = nil
	}
}
