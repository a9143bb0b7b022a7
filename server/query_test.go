package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

func TestQueryLimitsAreStatementErrors(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemory: 1024, QueryMaxRows: 5})
	var lp strings.Builder
	for i := 0; i < 2000; i++ {
		lp.WriteString("m,h=a v=1 " + strconv.Itoa(i+1) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b := s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT v FROM m; SHOW DATABASES"))
	if code != 200 || !strings.Contains(string(b), "--query-max-memory") || !strings.Contains(string(b), `"not executed"`) {
		t.Fatalf("memory limit: %d %s", code, b)
	}
	s = startServerWith(t, Config{QueryMaxRows: 5})
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b = s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT v FROM m"))
	if code != 200 || !strings.Contains(string(b), "--query-max-rows") || strings.Contains(string(b), `"values"`) {
		t.Fatalf("row limit: %d %s", code, b)
	}
	code, b = s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT v FROM m LIMIT 5"))
	if code != 200 || strings.Count(string(b), "],[") != 4 {
		t.Fatalf("within the row limit: %d %s", code, b)
	}
}

func TestQueryGzipsLargeAnswers(t *testing.T) {
	s := startServer(t, 0)
	var lp strings.Builder
	for i := 0; i < 500; i++ {
		lp.WriteString("m,h=a v=" + strconv.Itoa(i) + " " + strconv.Itoa(i+1) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	for _, enc := range []string{"gzip", ""} {
		req, _ := http.NewRequest("GET", s.url+"/query?db=d&q="+url.QueryEscape("SELECT v FROM m"), nil)
		if enc != "" {
			req.Header.Set("Accept-Encoding", enc)
		}
		// A transport that does not decompress, to see what was sent.
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := raw
		if got := resp.Header.Get("Content-Encoding"); got != enc {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q", enc, got)
		}
		if enc == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Count(string(body), "],[") != 499 {
			t.Fatalf("Accept-Encoding %q: %d bytes, %.200s", enc, len(body), body)
		}
	}
}

// TestQueryGzipsNoSmallAnswers: a small answer (a panel's hour of one
// host by minute, 60 rows, ~2.4 KB) is sent as it is even to a client
// that accepts gzip; one of twice gzipMinBytes is gzipped.
func TestQueryGzipsNoSmallAnswers(t *testing.T) {
	s := startServer(t, 0)
	var lp strings.Builder
	for i := 0; i < 500; i++ {
		lp.WriteString("m,h=a v=" + strconv.Itoa(i) + " " + strconv.Itoa(i+1) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	// Each row of values is ["1970-01-01T00:00:00.000000001Z",0], about
	// 40 bytes: a LIMIT sizes the answer around the threshold.
	for _, c := range []struct {
		limit int
		gzip  bool
	}{{10, false}, {60, false}, {gzipMinBytes / 40 * 2, true}} {
		req, _ := http.NewRequest("GET", s.url+"/query?db=d&q="+url.QueryEscape("SELECT v FROM m LIMIT "+strconv.Itoa(c.limit)), nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != c.gzip {
			t.Fatalf("LIMIT %d (%d bytes sent): gzipped %v, want %v", c.limit, len(raw), got, c.gzip)
		}
		if !c.gzip && strings.Count(string(raw), "],[") != c.limit-1 {
			t.Fatalf("LIMIT %d: %s", c.limit, raw)
		}
	}
}

func TestQueryRefusesTooManyWindows(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxRows: 1000})
	if code, _, b := s.post(t, "/write?db=d", "m v=1 1000000000\n"); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	q := "SELECT mean(v) FROM m WHERE time >= 0 AND time <= 1h GROUP BY time(1ms)"
	code, b := s.get(t, "/query?db=d&q="+url.QueryEscape(q))
	if code != 200 || !strings.Contains(string(b), "3600001 windows") || !strings.Contains(string(b), "--query-max-rows") {
		t.Fatalf("%s: %d %s", q, code, b)
	}
	q = "SELECT mean(v) FROM m WHERE time >= 0 AND time <= 1h GROUP BY time(1ms) fill(none)"
	if code, b := s.get(t, "/query?db=d&q="+url.QueryEscape(q)); code != 200 || !strings.Contains(string(b), `"values":[["1970-01-01T00:00:01Z",1]]`) {
		t.Fatalf("%s: %d %s", q, code, b)
	}
}

// TestQueryNewestSkipsRowsWithoutTheFields: the newest point of each group
// is the newest with a value of a field the query reads, not the series'
// latest row when that row holds only other fields; SELECT * reads them
// all, so its newest point is the latest row. The points are written here,
// so the answers are known.
func TestQueryNewestSkipsRowsWithoutTheFields(t *testing.T) {
	s := startServer(t, 0)
	body := "m,h=x a=1,b=10 1000000000\nm,h=x b=20 2000000000\nm,h=y a=3 1000000000\nm,h=y a=4,b=40 3000000000\n"
	if code, _, b := s.post(t, "/write?db=d", body); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	for q, want := range map[string]string{
		// Series y then x: ORDER BY time DESC lists series in reverse.
		`SELECT a FROM m GROUP BY h ORDER BY time DESC LIMIT 1`: `[[3000000000,4]]` + `|` + `[[1000000000,1]]`,
		`SELECT * FROM m GROUP BY h ORDER BY time DESC LIMIT 1`: `[[3000000000,4,40]]` + `|` + `[[2000000000,null,20]]`,
	} {
		code, raw := s.get(t, "/query?db=d&epoch=ns&q="+url.QueryEscape(q))
		var resp struct {
			Results []struct {
				Series []struct{ Values json.RawMessage }
			}
		}
		if err := json.Unmarshal(raw, &resp); code != 200 || err != nil || len(resp.Results) != 1 || len(resp.Results[0].Series) != 2 {
			t.Fatalf("%s: %d %s %v", q, code, raw, err)
		}
		if got := string(resp.Results[0].Series[0].Values) + "|" + string(resp.Results[0].Series[1].Values); got != want {
			t.Fatalf("%s: %s, want %s", q, got, want)
		}
	}
}
