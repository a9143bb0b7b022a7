package main

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestServePostgresListener runs silt serve with the PostgreSQL listener
// on a free port and queries it with pgx: the wiring of --pg-addr, and the
// same answer as /api/v1/sql.
func TestServePostgresListener(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	pgAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := h.start(t.TempDir(), "--pg-addr", pgAddr)
	if code, body, _, err := p.write("bench", []byte("cpu,host=a usage=1.5 1700000000000000000\ncpu,host=b usage=2.5 1700000000000000000\n")); err != nil || code/100 != 2 {
		t.Fatalf("write: %d %s %v", code, body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, "postgres://u@"+pgAddr+"/bench?sslmode=disable")
	if err != nil {
		t.Fatalf("connect: %v\n%s", err, tailLines(p.log(), 20))
	}
	defer conn.Close(ctx)
	var sum float64
	if err := conn.QueryRow(ctx, "SELECT sum(usage) FROM cpu").Scan(&sum); err != nil {
		t.Fatal(err)
	}
	code, body, err := p.get("/api/v1/sql?db=bench&q=SELECT+sum(usage)+FROM+cpu")
	if err != nil || code != 200 || !strings.Contains(string(body), fmt.Sprintf("[[%g]]", sum)) {
		t.Errorf("pgx sum %g; /api/v1/sql %d %s %v", sum, code, body, err)
	}
}

// TestServePostgresPortTaken: a taken default address (a local PostgreSQL
// on 5432) only warns and the rest is served; an explicit address that
// cannot be bound is a start-up error; an empty one turns the listener
// off. The tests that start silt serve without --pg-addr rely on the
// first: whichever holds 5432, they all start.
func TestServePostgresPortTaken(t *testing.T) {
	skipShort(t)
	// Hold 5432 if it is free; if it is not, someone else holds it, which
	// is the case under test too.
	if ln, err := net.Listen("tcp", "127.0.0.1:5432"); err == nil {
		defer ln.Close()
	}
	h := newHarness(t)
	p := h.start(t.TempDir())
	if !strings.Contains(p.log(), "PostgreSQL wire protocol not served: the default address is taken") {
		t.Errorf("no warning for the taken default port:\n%s", tailLines(p.log(), 20))
	}
	if code, _, err := p.get("/health"); err != nil || code != 200 {
		t.Errorf("/health with the default PostgreSQL port taken: %d %v", code, err)
	}

	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cmd := exec.Command(siltBinary(t), "serve", "--data-dir", t.TempDir(), "--http-addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--pg-addr", held.Addr().String())
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), "listen for PostgreSQL clients") {
		t.Errorf("explicit --pg-addr taken: %v, want exit 1 naming the listener:\n%s", err, out)
	}

	off := h.start(t.TempDir(), "--pg-addr", "")
	if l := off.log(); strings.Contains(l, "PostgreSQL wire protocol") {
		t.Errorf("--pg-addr '' still mentions the listener:\n%s", tailLines(l, 20))
	}
}
