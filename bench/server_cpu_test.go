package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

// threadsCPUOf agrees with the kernel's per-process clock ticks
// (ServerCPUOf): after this process burns CPU, both have moved by about
// as much. A reading of the wrong field (the wait time, the timeslices)
// or of one thread only would not.
func TestThreadsCPUOf(t *testing.T) {
	pid := os.Getpid()
	if _, ok := threadsCPUOf(pid); !ok {
		t.Skip("no /proc/PID/task/*/schedstat here")
	}
	ticks0 := ServerCPUOf(pid)
	ns0, _ := threadsCPUOf(pid)
	// Burn on two goroutines (so two threads) until the ticks show 300 ms.
	stop := make(chan struct{})
	for range 2 {
		go func() {
			x := 1.0
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := 0; i < 1e5; i++ {
					x = x*1.0000001 + 1e-9
				}
				_ = x
			}
		}()
	}
	for ServerCPUOf(pid)-ticks0 < 300*time.Millisecond {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	ticks := ServerCPUOf(pid) - ticks0
	ns1, _ := threadsCPUOf(pid)
	got := ns1 - ns0
	// Ticks count whole 10 ms units per thread: allow their rounding.
	if got < ticks/2 || got > ticks*2+100*time.Millisecond {
		t.Fatalf("threads' run time moved %v while the clock ticks moved %v", got, ticks)
	}
}

// With a ServerPID, every timed run records the server's CPU meanwhile;
// without one, none is recorded. The server here is this process: its
// handler burns a known amount of CPU per query.
func TestRunQueriesServerCPU(t *testing.T) {
	if _, ok := threadsCPUOf(os.Getpid()); !ok {
		t.Skip("no /proc/PID/task/*/schedstat here")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Spin until the process has run 2 ms more (at most 2 s of wall).
		start, _ := threadsCPUOf(os.Getpid())
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
			now, _ := threadsCPUOf(os.Getpid())
			if now-start >= 2*time.Millisecond {
				break
			}
		}
		w.Write([]byte(`{"columns":[{"name":"x","type":"integer"}],"rows":[[1]]}`))
	}))
	defer srv.Close()
	qs := []Query{{Type: "lastpoint", Seq: 0, SQL: "SELECT 1"}, {Type: "lastpoint", Seq: 1, SQL: "SELECT 1"}}
	for _, pid := range []int{0, os.Getpid()} {
		c := &Client{URL: srv.URL, DB: "d", Dialect: "sql", HTTP: srv.Client(), ServerPID: pid}
		res := RunQueries(context.Background(), c, qs, 3, nil)
		if len(res) != 1 || len(res[0].Runs) != 6 || len(res[0].Errors) > 0 {
			t.Fatalf("pid %d: results %+v", pid, res)
		}
		if pid == 0 {
			if len(res[0].CPU) != 0 {
				t.Fatalf("CPU recorded without a server pid: %v", res[0].CPU)
			}
			continue
		}
		if len(res[0].CPU) != 6 {
			t.Fatalf("CPU of %d runs, want 6: %v", len(res[0].CPU), res[0].CPU)
		}
		for _, ms := range res[0].CPU {
			if ms < 2 {
				t.Fatalf("a run's server CPU %.3f ms, less than the 2 ms its handler spun: %v", ms, res[0].CPU)
			}
		}
	}
}
