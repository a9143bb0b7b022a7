package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/siltdb/silt/query/influxql"
)

// TestWriteInfluxJSONMatchesEncoder: the streaming /query encoder writes
// the same bytes as encoding/json's Encoder for every shape of answer.
func TestWriteInfluxJSONMatchesEncoder(t *testing.T) {
	cases := []*influxql.Response{
		{},
		{Error: "bad <query> & \"quotes\"", Code: "influxql-syntax"},
		{Results: []*influxql.Result{{StatementID: 0}}},
		{Results: []*influxql.Result{
			{StatementID: 0, Series: []*influxql.Series{
				{Name: "cpu", Tags: map[string]string{"host": "a", "dc": "<x>"}, Columns: []string{"time", "v", "s"},
					Values: [][]any{{int64(1), 1.5, "x\"y"}, {"2026-01-01T00:00:00Z", nil, true}, {int64(3), math.MaxFloat64, uint64(7)}}},
				{Name: "mem", Columns: []string{"time"}, Partial: true},
				{Columns: nil},
			}, Partial: true},
			{StatementID: 1, Messages: []influxql.Message{{Level: "warning", Text: "w"}}, Error: "database not found: x"},
			{StatementID: 2, Series: []*influxql.Series{{Name: "é\u2028", Columns: []string{"a"}, Values: [][]any{{"\x00"}}}}},
			{StatementID: 3, Series: []*influxql.Series{
				{Name: "m", Tags: map[string]string{}, Columns: []string{}},
				{Name: "m", Tags: manyTags(20), Columns: []string{"time", "<c>"}},
			}},
		}},
	}
	// Series sharing one columns slice (as an answer's series do), with
	// another slice between them: the shared columns are encoded once.
	shared := []string{"time", "a", "b\"q"}
	cases = append(cases, &influxql.Response{Results: []*influxql.Result{{Series: []*influxql.Series{
		{Name: "m", Tags: map[string]string{"h": "1"}, Columns: shared, Values: [][]any{{int64(1), 1.0, "x"}}},
		{Name: "m", Tags: map[string]string{"h": "2"}, Columns: shared, Values: [][]any{{int64(2), 2.0, "y"}}},
		{Name: "m", Columns: shared[:2], Values: [][]any{{int64(3), 3.0}}},
		{Name: "m", Columns: []string{"time", "c"}, Values: [][]any{{int64(4), 4.0}}},
		{Name: "m", Tags: map[string]string{"h": "3"}, Columns: shared, Values: [][]any{{int64(5), 5.0, "z"}}},
	}}}})
	for i, resp := range cases {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(resp); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeInfluxJSON(&got, resp); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("case %d:\n got %s\nwant %s", i, got.String(), want.String())
		}
	}
}

// manyTags is n tags with keys and values that JSON escapes, in no order.
func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%d\"&", (i*7)%n)] = fmt.Sprintf("v<%d>\t", i)
	}
	return m
}

// TestLargeAnswersStreamed: answers of streamRows rows or more come
// chunked (not buffered whole), through /query gzipped for clients that
// accept it, with the same JSON either way and every row.
func TestLargeAnswersStreamed(t *testing.T) {
	s := startServer(t, 4<<20)
	var lines strings.Builder
	n := streamRows + 10
	for i := range n {
		fmt.Fprintf(&lines, "cpu,host=h%d v=%d %d\n", i%3, i, 1700000000000000000+int64(i)*1e9)
	}
	if code, _, b := s.post(t, "/write?db=d", lines.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	get := func(path string, gz bool) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url+path, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r io.Reader = resp.Body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		b, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	q := "/query?db=d&epoch=ns&q=" + url.QueryEscape("SELECT v FROM cpu")
	plain, pb := get(q, false)
	zipped, zb := get(q, true)
	for _, r := range []*http.Response{plain, zipped} {
		if r.StatusCode != 200 || r.ContentLength != -1 || len(r.TransferEncoding) == 0 {
			t.Fatalf("status %d, length %d, transfer encoding %v: want a chunked 200", r.StatusCode, r.ContentLength, r.TransferEncoding)
		}
	}
	if zipped.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(pb, zb) {
		t.Fatalf("gzipped answer (encoding %q) differs from the plain one", zipped.Header.Get("Content-Encoding"))
	}
	var resp influxql.Response
	if err := json.Unmarshal(pb, &resp); err != nil || len(resp.Results) != 1 || len(resp.Results[0].Series) != 1 ||
		len(resp.Results[0].Series[0].Values) != n {
		t.Fatalf("answer %.300s (%v), want %d values", pb, err, n)
	}
	sqlResp, sb := get("/api/v1/sql?db=d&q="+url.QueryEscape("SELECT v FROM cpu"), false)
	var res struct{ Rows [][]any }
	if err := json.Unmarshal(sb, &res); err != nil || len(res.Rows) != n || sqlResp.ContentLength != -1 {
		t.Fatalf("SQL answer: %d rows, length %d (%v)", len(res.Rows), sqlResp.ContentLength, err)
	}
}
