package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	client "github.com/influxdata/influxdb1-client/v2"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/testutil/influxoracle"
)

// streamData is the data of the streamed-chunks tests: two measurements,
// five hosts (h3 and h4 without a region tag), points 3 s apart with a
// per-host jitter so that hosts share some times and not others, an
// hour-long gap, a burst of points 1 ms apart on h2, and a sparse integer
// field. It has about 38,000 points.
func streamData(base time.Time) []byte {
	var b bytes.Buffer
	region := []string{",region=r0", ",region=r1", ",region=r0", "", ""}
	for h := range 5 {
		t := base.Add(time.Duration(h%3) * time.Second)
		for i := range 6000 {
			switch {
			case i == 3000:
				t = t.Add(time.Hour) // the gap
			case h == 2 && i >= 4000 && i < 5500:
				t = t.Add(time.Millisecond) // the burst
			default:
				t = t.Add(3 * time.Second)
			}
			fmt.Fprintf(&b, "pts,host=h%d%s v=%d.%d", h, region[h], (i*7+h*13)%101, i%10)
			if i%7 == h {
				fmt.Fprintf(&b, ",s=%di", i%50)
			}
			fmt.Fprintf(&b, " %d\n", t.UnixNano())
			if i%5 == 0 && h < 2 {
				fmt.Fprintf(&b, "pts2,host=h%d v=%d %d\n", h, i%17, t.UnixNano())
			}
		}
	}
	return b.Bytes()
}

// TestInfluxQLChunkedStreaming compares chunked raw SELECTs, which Silt
// sends as it reads them a window of time at a time, with InfluxDB 1.6:
// chunk by chunk, over a server whose data is part flushed segment and
// part head, and through the real clients (Go's influxdb1-client and
// python's influxdb, as they reassemble chunks).
func TestInfluxQLChunkedStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("starts InfluxDB and writes 38k points")
	}
	infl := influxoracle.Start(t)
	silt := startServerEngine(t, Config{}, engine.Config{})
	base := time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour)
	data := streamData(base)
	for _, u := range []string{infl.URL, silt.url} {
		postQuery(t, u, "", `CREATE DATABASE "benchmark"`)
	}
	oracleWrite(t, infl.URL, data)
	// Silt: the first half flushed into segments, the rest in the head.
	half := bytes.LastIndexByte(data[:len(data)/2], '\n') + 1
	oracleWrite(t, silt.url, data[:half])
	if err := silt.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	oracleWrite(t, silt.url, data[half:])

	mid := base.Add(4 * time.Hour).UnixMilli()
	// ties: points of one time from several series in one series of the
	// answer, which InfluxDB sends in its merge heap's order and Silt in
	// series-key order (docs/influxql.md): the chunks are compared in
	// shape (rows per chunk, partial marks, names, tags) and their rows
	// reassembled, regardless of the order among equal times.
	cases := []struct {
		q, size, epoch string
		ties           bool
	}{
		{`SELECT * FROM "pts"`, "1000", "ms", true},
		{fmt.Sprintf(`SELECT "v", "s" FROM "pts" WHERE time >= %dms AND time <= %dms`, mid-3_600_000, mid), "777", "ns", true},
		{`SELECT "v" FROM "pts" GROUP BY "host"`, "1500", "ms", false},
		{`SELECT "v", "s" FROM "pts" GROUP BY *`, "2000", "", false},
		{`SELECT "s" FROM "pts" GROUP BY "region" ORDER BY time DESC`, "500", "ms", false},
		{`SELECT "v" FROM /^pts/ WHERE "host" = 'h1'`, "999", "ms", false},
		{`SELECT "v", "host" FROM "pts" WHERE "v" > 50 ORDER BY time DESC`, "", "ms", true},
		{`SELECT "v" * 2, "s" FROM "pts" WHERE "region" = 'r0' AND "s" > 10`, "300", "s", false},
		{`SELECT "v" FROM "pts" WHERE "host" =~ /h[34]/ GROUP BY "host", "region" tz('Europe/Paris')`, "4000", "", false},
		{`SELECT "v" FROM "pts" WHERE time > now(); SELECT "s" FROM "pts" GROUP BY "host"; SELECT "v" FROM "nosuch"`, "1200", "ms", false},
		{`SELECT "v" FROM "pts" WHERE "host" = 'h2' LIMIT 3000`, "1000", "ms", false}, // not streamed: computed whole
		{`SELECT "v", "s" FROM "pts" WHERE "region" = 'r1' OR "host" = 'h0'`, "1", "ms", false},
		// Groups small enough to be read together in one query.
		{fmt.Sprintf(`SELECT "v" FROM "pts" WHERE time >= %dms AND time < %dms GROUP BY "host"`, mid, mid+1_800_000), "250", "ms", false},
		{fmt.Sprintf(`SELECT "v", "s" FROM "pts" WHERE time >= %dms AND time < %dms GROUP BY "region", "host" ORDER BY time DESC`, mid, mid+2_400_000), "700", "ms", false},
	}
	for _, c := range cases {
		t.Run(c.size+"/"+c.q, func(t *testing.T) {
			p := url.Values{"db": {"benchmark"}, "chunked": {"true"}}
			if c.size != "" {
				p.Set("chunk_size", c.size)
			}
			if c.epoch != "" {
				p.Set("epoch", c.epoch)
			}
			want, got := chunks(t, infl.URL, p, c.q), chunks(t, silt.url, p, c.q)
			if len(want) != len(got) {
				t.Fatalf("InfluxDB sent %d chunks, Silt %d\ninflux: %s\nsilt:   %s", len(want), len(got), trunc(bytes.Join(want, nil)), trunc(bytes.Join(got, nil)))
			}
			for i := range want {
				w, g := want[i], got[i]
				if c.ties {
					w, g = chunkShape(t, w), chunkShape(t, g)
				}
				if err := sameJSON(w, g, false); err != nil {
					t.Fatalf("chunk %d of %d: %v\ninflux: %s\nsilt:   %s", i, len(want), err, trunc(w), trunc(g))
				}
			}
			if c.ties {
				if err := sameJSON(reassemble(t, want), reassemble(t, got), true); err != nil {
					t.Fatalf("reassembled: %v", err)
				}
			}
			// Reassembled, Silt's chunks are its unchunked answer.
			p.Del("chunked")
			p.Del("chunk_size")
			_, whole := getQuery(t, silt.url, p, c.q)
			if err := sameJSON(whole, reassemble(t, got), false); err != nil {
				t.Fatalf("reassembled chunks differ from the whole answer: %v\nwhole: %s", err, trunc(whole))
			}
		})
	}

	// The clients, which read the chunks and join them.
	goCases := []struct {
		q    string
		size int
	}{
		{`SELECT "v", "s" FROM "pts" GROUP BY "host"`, 2500},
		{`SELECT * FROM "pts" GROUP BY * ORDER BY time DESC`, 10000},
	}
	for i, c := range goCases {
		t.Run(fmt.Sprintf("go-client/%d", i), func(t *testing.T) {
			var answers [2][]byte
			for k, u := range []string{infl.URL, silt.url} {
				cl, err := client.NewHTTPClient(client.HTTPConfig{Addr: u})
				if err != nil {
					t.Fatal(err)
				}
				q := client.NewQuery(c.q, "benchmark", "ns")
				q.Chunked, q.ChunkSize = true, c.size
				resp, err := cl.Query(q)
				cl.Close()
				if err != nil {
					t.Fatalf("%s: %v", u, err)
				}
				if resp.Error() != nil {
					t.Fatalf("%s: %v", u, resp.Error())
				}
				answers[k], _ = json.Marshal(resp.Results)
			}
			if err := sameJSON(answers[0], answers[1], false); err != nil {
				t.Fatalf("%s\n%v\ninflux: %s\nsilt:   %s", c.q, err, trunc(answers[0]), trunc(answers[1]))
			}
		})
	}
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import influxdb").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("python3 with the influxdb module (Debian python3-influxdb) not available: %v %s", err, out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must install it: .ci/run APT_PACKAGES)")
		}
		t.Skip(msg)
	}
	script := `
import json, sys
from influxdb import InfluxDBClient
host, port = sys.argv[1].rsplit(":", 1)
# Its chunked reader reads JSON only (the client asks for msgpack).
c = InfluxDBClient(host=host, port=int(port), database="benchmark", headers={"Accept": "application/json"})
out = []
for q, chunk in json.loads(sys.argv[2]):
    # a generator of one result set per chunk
    out.append([r.raw for r in c.query(q, epoch="ms", chunked=True, chunk_size=chunk)])
print(json.dumps(out))
`
	pyCases, _ := json.Marshal([][]any{
		{`SELECT "v" FROM "pts" GROUP BY "region"`, 3000},
		{`SELECT "s", "v" FROM "pts" WHERE "host" = 'h2' ORDER BY time DESC`, 700},
	})
	var answers [2]string
	for k, u := range []string{infl.URL, silt.url} {
		out, err := exec.Command(py, "-c", script, strings.TrimPrefix(u, "http://"), string(pyCases)).CombinedOutput()
		if err != nil {
			t.Fatalf("python client against %s: %v\n%s", u, err, out)
		}
		answers[k] = string(out)
	}
	if err := sameJSON([]byte(answers[0]), []byte(answers[1]), false); err != nil {
		t.Fatalf("python influxdb client: %v\ninflux: %s\nsilt:   %s", err, trunc([]byte(answers[0])), trunc([]byte(answers[1])))
	}
}

// TestInfluxQLChunkedMemoryBound shows that a chunked raw SELECT holds a
// window and a chunk, not its answer: under a --query-max-memory that the
// whole answer passes, the unchunked query fails and the chunked one
// answers every point, equal to the unchunked answer of a server without
// the limit.
func TestInfluxQLChunkedMemoryBound(t *testing.T) {
	small := startServerEngine(t, Config{QueryMaxMemory: 2 << 20, QueryMaxRows: 5000}, engine.Config{})
	big := startServer(t, 0)
	base := time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour)
	data := streamData(base)
	for _, s := range []*testServer{small, big} {
		postQuery(t, s.url, "", `CREATE DATABASE "benchmark"`)
		oracleWrite(t, s.url, data)
	}
	for _, c := range []struct{ q, size string }{
		{`SELECT * FROM "pts"`, "1000"},
		{`SELECT "v", "s" FROM "pts" GROUP BY "host" ORDER BY time DESC`, "1000"},
		// Each host's 6,000 points fit the 20,000 rows of a window, so
		// hosts are read three at a time, which passes the limit: then
		// one at a time.
		{`SELECT "v", "s" FROM "pts" GROUP BY "host"`, "20000"},
	} {
		q := c.q
		t.Run(q+"/"+c.size, func(t *testing.T) {
			p := url.Values{"db": {"benchmark"}, "epoch": {"ms"}}
			_, refused := getQuery(t, small.url, p, q)
			if !bytes.Contains(refused, []byte("--query-max-memory")) {
				t.Fatalf("the whole answer does not pass the small server's memory limit; the test proves nothing: %s", trunc(refused))
			}
			_, whole := getQuery(t, big.url, p, q)
			p.Set("chunked", "true")
			p.Set("chunk_size", c.size)
			got := chunks(t, small.url, p, q)
			if err := sameJSON(whole, reassemble(t, got), false); err != nil {
				t.Fatalf("reassembled chunks differ from the whole answer: %v\nwhole: %s\nchunks: %s", err, trunc(whole), trunc(bytes.Join(got, nil)))
			}
			if size, _ := strconv.Atoi(c.size); len(got) < 30000/size {
				t.Fatalf("%d chunks of at most %d rows for 30,000 points", len(got), size)
			}
		})
	}
}

// TestInfluxQLChunkedClientGone: a client that reads one chunk and goes
// away ends the query (counted as canceled, client-gone), and the server
// answers the next request.
func TestInfluxQLChunkedClientGone(t *testing.T) {
	s := startServer(t, 0)
	base := time.Now().UTC().Truncate(time.Hour).Add(-30 * time.Hour)
	postQuery(t, s.url, "", `CREATE DATABASE "benchmark"`)
	oracleWrite(t, s.url, streamData(base))
	v := url.Values{"db": {"benchmark"}, "chunked": {"true"}, "chunk_size": {"1"}, "q": {`SELECT * FROM "pts"`}}
	resp, err := http.Get(s.url + "/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil || !bytes.Contains(line, []byte(`"partial":true`)) {
		t.Fatalf("first chunk %q: %v", line, err)
	}
	resp.Body.Close() // 38k chunks unread
	for {
		_, m := s.get(t, "/metrics")
		if bytes.Contains(m, []byte(`silt_queries_canceled_total{reason="client-gone"} 1`)) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body := getQuery(t, s.url, url.Values{"db": {"benchmark"}}, `SELECT count("v") FROM "pts"`)
	if !bytes.Contains(body, []byte(`30000`)) {
		t.Fatalf("after the client left: %s", body)
	}
}

// chunkShape is a chunk with each series' values replaced by their count.
func chunkShape(t *testing.T, doc []byte) []byte {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("chunk %s: %v", trunc(doc), err)
	}
	var walk func(any)
	walk = func(x any) {
		switch x := x.(type) {
		case map[string]any:
			for k, y := range x {
				if rows, ok := y.([]any); ok && k == "values" {
					x[k] = len(rows)
					continue
				}
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
	b, _ := json.Marshal(v)
	return b
}
