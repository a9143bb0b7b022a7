package flightsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/siltdb/silt/query/exec"
	"github.com/siltdb/silt/server"
)

// bigRows is the row count of writeBig's table: 20 record batches of
// 1000 rows of about 125 bytes each.
const bigRows = 20_000

// writeBig writes table big: a 100-byte tag and an integer per row.
func writeBig(t *testing.T, e *testEnv) {
	t.Helper()
	pad := strings.Repeat("k", 100)
	var b strings.Builder
	for i := range bigRows {
		fmt.Fprintf(&b, "big,k=%s%d v=%di %d\n", pad, i%500, i, 1700000000000000000+int64(i)*int64(time.Millisecond))
	}
	e.write(t, testDB, b.String())
}

// slowClient is arrow-go's Flight SQL client on a connection of its own
// with a fixed 64 KiB window: an answer it does not read stays on the
// server, which sends a record batch only as the client takes the one
// before.
func slowClient(t *testing.T, e *testEnv) *flightsql.Client {
	t.Helper()
	c, err := flightsql.NewClient(e.addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(1<<16), grpc.WithInitialConnWindowSize(1<<16))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// takeRest reserves what b has left, as other queries would hold it.
func takeRest(t *testing.T, b *exec.Budget) *exec.Reservation {
	t.Helper()
	r := b.Reserve()
	for {
		if err := r.Grow(b.Limit() - b.Used()); err == nil {
			return r
		}
	}
}

// waitReleased waits until running queries hold nothing of b. The
// deadline only guards against a hang.
func waitReleased(t *testing.T, b *exec.Budget) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for b.Used() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still reserved after every answer ended", b.Used())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantCode fails the test unless err is a gRPC status of code whose
// message holds msg.
func wantCode(t *testing.T, what string, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("%s: %v, want %s with %q", what, err, code, msg)
	}
}

// doGet opens an answer in the two ways clients ask for one: a Flight SQL
// statement (GetFlightInfo, then DoGet of its ticket) or an InfluxDB 3
// client's JSON ticket.
func doGet(ctx context.Context, c *flightsql.Client, jsonTicket bool, q string) (*flight.Reader, error) {
	if jsonTicket {
		s, err := c.Client.DoGet(ctx, &flight.Ticket{Ticket: fmt.Appendf(nil, `{"database":%q,"sql_query":%q,"query_type":"sql"}`, testDB, q)})
		if err != nil {
			return nil, err
		}
		return flight.NewRecordReader(s)
	}
	info, err := c.Execute(ctx, q)
	if err != nil {
		return nil, err
	}
	return c.DoGet(ctx, info.Endpoint[0].Ticket)
}

// TestDoGetErrorCodes: an answer that fails while it is encoded and sent
// reaches arrow-go's Flight client with the gRPC code of its cause, never
// Unknown, and after an answer cut short nothing stays reserved: a memory
// budget taken by other queries mid-answer is ResourceExhausted, a query
// past --query-timeout DeadlineExceeded, a client's cancel Canceled, a
// bad ticket InvalidArgument.
func TestDoGetErrorCodes(t *testing.T) {
	e := startEnv(t, server.Config{QueryMaxMemoryTotal: 256 << 20}, Config{BatchRows: 1000})
	writeBig(t, e)
	budget := e.srv.QueryBudget()
	const q = "SELECT k, v FROM big"
	for _, jsonTicket := range []bool{false, true} {
		name := map[bool]string{false: "statement", true: "json ticket"}[jsonTicket]
		t.Run(name+"/memory mid-answer", func(t *testing.T) {
			c := slowClient(t, e)
			r, err := doGet(withDB(context.Background(), testDB), c, jsonTicket, q)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			if !r.Next() {
				t.Fatalf("no first batch: %v", r.Err())
			}
			n := int(r.RecordBatch().NumRows())
			others := takeRest(t, budget)
			for r.Next() {
				n += int(r.RecordBatch().NumRows())
			}
			others.Release()
			wantCode(t, "the answer once the budget is taken", r.Err(), codes.ResourceExhausted, "--query-max-memory-total")
			if n >= bigRows {
				t.Fatalf("%d rows read of %d, and then an error", n, bigRows)
			}
			waitReleased(t, budget)
			// With the budget back, the same answer is sent whole.
			r2, err := doGet(withDB(context.Background(), testDB), c, jsonTicket, q)
			if err != nil {
				t.Fatal(err)
			}
			if _, rows := readAll(t, r2); len(rows) != bigRows {
				t.Fatalf("%d rows, want %d", len(rows), bigRows)
			}
			waitReleased(t, budget)
		})
		t.Run(name+"/client cancels mid-answer", func(t *testing.T) {
			c := slowClient(t, e)
			ctx, cancel := context.WithCancel(withDB(context.Background(), testDB))
			r, err := doGet(ctx, c, jsonTicket, q)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			if !r.Next() {
				t.Fatalf("no first batch: %v", r.Err())
			}
			cancel()
			for r.Next() {
			}
			wantCode(t, "the canceled answer", r.Err(), codes.Canceled, "")
			waitReleased(t, budget)
		})
	}

	t.Run("bad ticket", func(t *testing.T) {
		c := e.flightClient(t)
		s, err := c.Client.DoGet(withDB(context.Background(), testDB), &flight.Ticket{Ticket: []byte(`{"database":`)})
		if err == nil {
			_, err = s.Recv()
		}
		wantCode(t, "a truncated JSON ticket", err, codes.InvalidArgument, "ticket is not JSON")
	})

	t.Run("query timeout", func(t *testing.T) {
		e := startEnv(t, server.Config{QueryTimeout: time.Nanosecond}, Config{})
		e.write(t, testDB, testData)
		c := e.flightClient(t)
		for _, jsonTicket := range []bool{false, true} {
			r, err := doGet(withDB(context.Background(), testDB), c, jsonTicket, "SELECT * FROM cpu")
			if err == nil {
				for r.Next() {
				}
				err = r.Err()
				r.Release()
			}
			wantCode(t, fmt.Sprintf("json ticket %v past --query-timeout", jsonTicket), err, codes.DeadlineExceeded, "--query-timeout")
		}
	})
}

// TestGRPCError: the errors that are no gRPC status yet get the code of
// their cause; a status, joined with another error or not, keeps its own.
func TestGRPCError(t *testing.T) {
	live := context.Background()
	canceled, cancel := context.WithCancel(live)
	cancel()
	mem := fmt.Errorf("record batch: %w", exec.ErrMemoryLimit)
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want codes.Code
	}{
		{live, mem, codes.ResourceExhausted},
		{live, fmt.Errorf("scan: %w", context.DeadlineExceeded), codes.DeadlineExceeded},
		{live, context.Canceled, codes.Canceled},
		{canceled, fmt.Errorf("write: broken pipe"), codes.Canceled},
		{live, fmt.Errorf("arrow/ipc: invalid schema"), codes.Internal},
		{live, status.Error(codes.InvalidArgument, "bad"), codes.InvalidArgument},
		{live, errors.Join(status.Error(codes.ResourceExhausted, "full"), fmt.Errorf("close")), codes.ResourceExhausted},
	} {
		got := grpcError(c.ctx, c.err)
		if st, _ := status.FromError(got); st.Code() != c.want || !strings.Contains(st.Message(), strings.SplitN(status.Convert(c.err).Message(), "\n", 2)[0]) {
			t.Errorf("grpcError(%v) = %v, want %s keeping the message", c.err, got, c.want)
		}
	}
	if grpcError(live, nil) != nil {
		t.Error("grpcError(nil) is not nil")
	}
}
