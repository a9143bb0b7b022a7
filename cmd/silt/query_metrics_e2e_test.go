package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// TestServeQueryDurationListeners: silt serve hands the PostgreSQL and
// Flight SQL listeners its timed view, so a query over each is observed
// in silt_query_duration_seconds under its own front end, and not under
// the HTTP ones.
func TestServeQueryDurationListeners(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	pgAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	flAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := h.start(t.TempDir(), "--pg-addr", pgAddr, "--flight-addr", flAddr)
	if code, body, _, err := p.write("bench", []byte("cpu,host=a usage=1.5 1700000000000000000\n")); err != nil || code/100 != 2 {
		t.Fatalf("write: %d %s %v", code, body, err)
	}
	count := func(front string) float64 {
		t.Helper()
		v, err := metricSum(p, "silt_query_duration_seconds_count", `frontend="`+front+`"`)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	conn, err := pgx.Connect(ctx, "postgres://u@"+pgAddr+"/bench?sslmode=disable")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var sum float64
	if err := conn.QueryRow(ctx, "SELECT sum(usage) FROM cpu").Scan(&sum); err != nil || sum != 1.5 {
		t.Fatalf("pgx: %v %v", sum, err)
	}
	if n := count("pgwire"); n < 1 {
		t.Errorf("pgwire: %v observations after a query", n)
	}

	c, err := flightsql.NewClient(flAddr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fctx := metadata.AppendToOutgoingContext(ctx, "database", "bench")
	info, err := c.Execute(fctx, "SELECT sum(usage) AS s FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.DoGet(fctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
	}
	r.Release()
	if n := count("flight"); n != 1 {
		t.Errorf("flight: %v observations after one statement, want 1", n)
	}
	for _, f := range []string{"sql", "influxql", "promql"} {
		if n := count(f); n != 0 {
			t.Errorf("%s: %v observations, but only pgwire and Flight were queried", f, n)
		}
	}
}
