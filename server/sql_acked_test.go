package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestSQLSeesAcknowledgedWrites: over /api/v1/sql, answered from typed
// columns off the engine's published heads view, a query started after a
// write was acknowledged counts its rows, and no row twice, while writes,
// flushes (frozen sets turning into segments) and the query race. The
// model is the writer's own count: a query's answer lies between the rows
// acknowledged before it was sent and those written when it returned.
func TestSQLSeesAcknowledgedWrites(t *testing.T) {
	s := startServer(t, 0)
	const batch, batches = 50, 120
	var acked, written atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // the writer: batches of distinct points
		defer wg.Done()
		defer close(done)
		for b := range batches {
			var lp strings.Builder
			for k := range batch {
				fmt.Fprintf(&lp, "t,host=h%d v=%di %d\n", k%7, b, int64(b*batch+k)*1_000_000_000)
			}
			written.Add(batch)
			resp, err := http.Post(s.url+"/write?db=d", "text/plain", strings.NewReader(lp.String()))
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 204 {
				t.Errorf("write %d: %d %s", b, resp.StatusCode, body)
				return
			}
			acked.Add(batch)
		}
	}()
	go func() { // flushes while the others run
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := s.eng.Flush(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	queries := 0
	for stop := false; !stop; queries++ {
		select {
		case <-done:
			stop = true // one more query after the last acknowledgement
		default:
		}
		lo := acked.Load()
		for _, q := range []string{`SELECT count(*) AS n FROM t`, `SELECT * FROM t`} {
			code, body := s.get(t, "/api/v1/sql?db=d&q="+url.QueryEscape(q))
			hi := written.Load()
			if code != 200 && lo == 0 {
				continue // no table yet
			}
			var ans struct {
				Rows  [][]any
				Stats struct{ Rows int }
			}
			if err := json.Unmarshal(body, &ans); code != 200 || err != nil {
				t.Fatalf("%s: %d %v %.300s", q, code, err, body)
			}
			n := int64(ans.Stats.Rows)
			if strings.Contains(q, "count") {
				n = int64(ans.Rows[0][0].(float64))
			}
			if n < lo || n > hi {
				t.Fatalf("%s: %d rows, want between %d acknowledged before the query and %d written after", q, n, lo, hi)
			}
		}
	}
	wg.Wait()
	t.Logf("%d queries", queries)
}
