package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// TestServeFlightListener runs silt serve with the Flight SQL listener on
// a free port: writes over HTTP on that port (as the InfluxDB 3 clients
// send them) and a query over Flight SQL; then the start-up rules of
// --flight-addr, as --pg-addr's.
func TestServeFlightListener(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := h.start(t.TempDir(), "--flight-addr", addr)
	resp, err := http.Post("http://"+addr+"/api/v3/write_lp?db=bench", "text/plain",
		strings.NewReader("cpu,host=a usage=1.5 1700000000000000000\ncpu,host=b usage=2.5 1700000000000000000\n"))
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("write on the Flight port: %v %v\n%s", resp, err, tailLines(p.log(), 20))
	}
	resp.Body.Close()
	c, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), "database", "bench"), 30*time.Second)
	defer cancel()
	info, err := c.Execute(ctx, "SELECT sum(usage) AS s FROM cpu")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() || r.RecordBatch().Column(0).(*array.Float64).Value(0) != 4 {
		t.Fatalf("Flight SQL sum: %v", r.Err())
	}

	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cmd := exec.Command(siltBinary(t), "serve", "--data-dir", t.TempDir(), "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--pg-addr", "", "--flight-addr", held.Addr().String())
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "listen for Arrow Flight SQL clients") {
		t.Errorf("explicit --flight-addr taken: %v, want exit 1 naming the listener:\n%s", err, out)
	}
	off := h.start(t.TempDir(), "--flight-addr", "")
	if l := off.log(); strings.Contains(l, "Flight SQL") {
		t.Errorf("--flight-addr '' still mentions the listener:\n%s", tailLines(l, 20))
	}
}
