package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/siltdb/silt/internal/testutil/influxoracle"
)

// peer is one server a client replay talks to.
type peer struct {
	name, url string
	auth      string // Authorization header value, "" for none
}

func (p peer) send(t *testing.T, method, path, ctype string, body []byte, hdr map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, p.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if p.auth != "" {
		req.Header.Set("Authorization", p.auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTelegrafOutputReplay replays the requests of Telegraf's influxdb
// output plugin (plugins/outputs/influxdb/http.go): CREATE DATABASE as a
// form-encoded POST /query with Basic auth, then gzip-compressed line
// protocol to POST /write?db=&rp= (and the precision=s form of older
// configs) — against InfluxDB 1.6 and Silt with auth on, then compares
// what both answer about the data.
func TestTelegrafOutputReplay(t *testing.T) {
	infl := influxoracle.Start(t)
	silt := startServerWith(t, Config{Tokens: []Token{{Name: "telegraf", Secret: "tg-secret", Write: true}, {Name: "ro", Secret: "ro-secret", Read: true}}})
	peers := []peer{{"InfluxDB", infl.URL, ""}, {"Silt", silt.url, basic("telegraf", "tg-secret")}}
	hdr := map[string]string{"User-Agent": "Telegraf/1.30.0 Go/1.22.1"}
	now := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	var lp bytes.Buffer
	for i := 0; i < 20; i++ {
		ts := now.Add(time.Duration(i) * 10 * time.Second).UnixNano()
		for _, h := range []string{"web-1", "db-1"} {
			fmt.Fprintf(&lp, "cpu,cpu=cpu-total,host=%s usage_idle=%g,usage_user=%g,usage_system=%g %d\n", h, 90-float64(i%7), 5+float64(i%5)/2, 3.25, ts)
			fmt.Fprintf(&lp, "mem,host=%s used=%di,available_percent=%g,total=8589934592i %d\n", h, 1<<30+i*4096, 60.5-float64(i)/10, ts)
			fmt.Fprintf(&lp, "system,host=%s load1=%g,n_cpus=4i,uptime_format=\"%d days,  1:%02d\" %d\n", h, float64(i%3)/4, i, i, ts)
		}
	}
	var lpSeconds bytes.Buffer
	for i := 0; i < 5; i++ {
		fmt.Fprintf(&lpSeconds, "net,host=web-1,interface=eth0 bytes_recv=%di,err_in=0i %d\n", 1000*i, now.Add(time.Duration(i)*time.Minute).Unix())
	}
	for _, p := range peers {
		code, b := p.send(t, "POST", "/query", "application/x-www-form-urlencoded",
			[]byte(url.Values{"q": {`CREATE DATABASE "telegraf"`}}.Encode()), hdr)
		if code != 200 || strings.Contains(string(b), `"error"`) {
			t.Fatalf("%s: CREATE DATABASE: %d %s", p.name, code, b)
		}
		whdr := map[string]string{"User-Agent": hdr["User-Agent"], "Content-Encoding": "gzip"}
		code, b = p.send(t, "POST", "/write?db=telegraf&rp=autogen", "text/plain; charset=utf-8", gzipBytes(t, lp.Bytes()), whdr)
		if code != 204 {
			t.Fatalf("%s: gzip write: %d %s", p.name, code, b)
		}
		code, b = p.send(t, "POST", "/write?consistency=any&db=telegraf&precision=s", "text/plain; charset=utf-8", gzipBytes(t, lpSeconds.Bytes()), whdr)
		if code != 204 {
			t.Fatalf("%s: precision=s write: %d %s", p.name, code, b)
		}
	}
	// Read back with the read token (Silt) and compare with InfluxDB.
	peers[1].auth = "Token ro-secret"
	for _, q := range []string{
		`SHOW DATABASES`,
		`SHOW MEASUREMENTS`,
		`SHOW FIELD KEYS`,
		`SHOW TAG KEYS FROM "cpu"`,
		`SHOW TAG VALUES FROM "cpu" WITH KEY = "host"`,
		`SELECT * FROM "cpu" WHERE "host" = 'web-1' LIMIT 3`,
		`SELECT mean("usage_idle"), max("usage_user") FROM "cpu" WHERE time >= now() - 1h GROUP BY "host"`,
		`SELECT last("uptime_format"), last("n_cpus") FROM "system" GROUP BY "host"`,
		`SELECT "used", "available_percent" FROM "mem" WHERE "host" = 'db-1' ORDER BY time DESC LIMIT 2`,
		`SELECT sum("bytes_recv") FROM "net" WHERE time >= now() - 1h GROUP BY time(2m) fill(0)`,
		`SELECT * FROM "net"`,
	} {
		var bodies [2][]byte
		for i, p := range peers {
			code, b := p.send(t, "GET", "/query?"+url.Values{"db": {"telegraf"}, "q": {q}, "epoch": {"s"}}.Encode(), "", nil, nil)
			if code != 200 {
				t.Fatalf("%s: %s: %d %s", p.name, q, code, b)
			}
			bodies[i] = b
		}
		if err := sameJSON(bodies[0], bodies[1], false); err != nil {
			t.Errorf("%s\n%v\ninflux: %s\nsilt:   %s", q, err, bodies[0], bodies[1])
		}
	}
}

// grafanaFrame is what Grafana's InfluxQL response parser reads
// (pkg/tsdb/influxdb/influxql/buffered/response_parser.go).
type grafanaFrame struct {
	Results []struct {
		StatementID int `json:"statement_id"`
		Series      []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

// TestGrafanaDashboardReplay replays what Grafana's InfluxDB (InfluxQL)
// data source sends while a user adds the data source, builds a panel in
// the query editor and views a dashboard (time series, table and stat
// panels and a $host variable): pkg/tsdb/influxdb/influxql createRequest
// (db and epoch=ms in the URL, q in the URL for GET or form-encoded for
// POST, rp when a policy is picked), with Basic auth carrying a token as
// the password. Every answer must be 200 with frames Grafana reads, and
// equal InfluxDB 1.6's.
func TestGrafanaDashboardReplay(t *testing.T) {
	infl := influxoracle.Start(t)
	silt := startServerWith(t, Config{Tokens: []Token{{Name: "grafana", Secret: "gf-secret", Read: true}, {Name: "loader", Secret: "ld", Read: true, Write: true}}})
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	data := oracleData(base)
	for _, p := range []peer{{"InfluxDB", infl.URL, ""}, {"Silt", silt.url, "Token ld"}} {
		if code, b := p.send(t, "POST", "/query", "application/x-www-form-urlencoded", []byte("q=CREATE+DATABASE+benchmark"), nil); code != 200 {
			t.Fatalf("%s: create: %d %s", p.name, code, b)
		}
		if code, b := p.send(t, "POST", "/write?db=benchmark", "text/plain", data, nil); code != 204 {
			t.Fatalf("%s: write: %d %s", p.name, code, b)
		}
	}
	peers := []peer{{"InfluxDB", infl.URL, ""}, {"Silt", silt.url, basic("grafana", "gf-secret")}}
	from, to := base.Add(-10*time.Minute).UnixMilli(), base.Add(70*time.Minute).UnixMilli()
	tf := fmt.Sprintf("time >= %dms and time <= %dms", from, to)
	type step struct {
		what, q, rp string
		selects     bool
	}
	steps := []step{
		{"health check", `SHOW measurements`, "", false},
		{"retention policy picker", `SHOW RETENTION POLICIES on "benchmark"`, "", false},
		{"measurement picker", `SHOW MEASUREMENTS LIMIT 100`, "", false},
		{"measurement search", `SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)cp/ LIMIT 100`, "", false},
		{"field picker", `SHOW FIELD KEYS FROM "cpu"`, "", false},
		{"field picker with policy", `SHOW FIELD KEYS FROM "autogen"."cpu"`, "autogen", false},
		{"tag key picker", `SHOW TAG KEYS FROM "cpu"`, "", false},
		{"tag value picker", `SHOW TAG VALUES FROM "cpu" WITH KEY = "hostname"`, "", false},
		{"tag value picker, filtered", `SHOW TAG VALUES FROM "cpu" WITH KEY = "region" WHERE "hostname" = 'host_1'`, "", false},
		{"$host variable", `SHOW TAG VALUES WITH KEY = "hostname"`, "", false},
		{"default panel query", `SELECT mean("value") FROM "cpu" WHERE ` + tf + ` GROUP BY time(10s) fill(null)`, "", true},
		{"time series panel", `SELECT mean("usage_user") FROM "autogen"."cpu" WHERE ("hostname" =~ /^(host_1|host_2)$/) AND ` + tf + ` GROUP BY time(1m), "hostname" fill(null)`, "autogen", true},
		{"time series with math and alias", `SELECT mean("usage_system") /100 AS "sys" FROM "cpu" WHERE ("hostname"::tag = 'host_3') AND ` + tf + ` GROUP BY time(30s) fill(none)`, "", true},
		{"table panel", `SELECT last("usage_user") AS "user", last("usage_idle") AS "idle" FROM "cpu" WHERE ` + tf + ` GROUP BY "hostname"`, "", true},
		{"stat panel", `SELECT mean("usage_idle") FROM "cpu" WHERE ` + tf, "", true},
		{"raw table", `SELECT "usage_user", "usage_system" FROM "cpu" WHERE ("hostname" = 'host_0') AND ` + tf + ` ORDER BY time DESC limit 10`, "", true},
		{"query options", `SELECT max("usage_iowait") FROM "cpu" WHERE ` + tf + ` GROUP BY time(5m), "region" fill(previous) ORDER BY time DESC limit 6 slimit 3 tz('Europe/Berlin')`, "", true},
		{"two queries in one panel", `SELECT count("usage_user") FROM "cpu" WHERE ` + tf + ` GROUP BY time(15m) fill(0); SELECT sum("used") FROM "disk" WHERE ` + tf + ` GROUP BY time(15m) fill(0)`, "", true},
	}
	for _, mode := range []string{"GET", "POST"} {
		for _, s := range steps {
			var bodies [2][]byte
			for i, p := range peers {
				params := url.Values{"db": {"benchmark"}, "epoch": {"ms"}}
				if s.rp != "" {
					params.Set("rp", s.rp)
				}
				hdr := map[string]string{"User-Agent": "Grafana/11.3.0"}
				var code int
				var b []byte
				if mode == "GET" {
					params.Set("q", s.q)
					code, b = p.send(t, "GET", "/query?"+params.Encode(), "", nil, hdr)
				} else {
					code, b = p.send(t, "POST", "/query?"+params.Encode(), "application/x-www-form-urlencoded", []byte(url.Values{"q": {s.q}}.Encode()), hdr)
				}
				if code != 200 {
					t.Fatalf("%s %s (%s): %d %s", p.name, mode, s.what, code, b)
				}
				bodies[i] = b
			}
			if err := sameJSON(bodies[0], bodies[1], false); err != nil {
				t.Errorf("%s %s: %s\n%v\ninflux: %s\nsilt:   %s", mode, s.what, s.q, err, trunc(bodies[0]), trunc(bodies[1]))
			}
			var f grafanaFrame
			if err := json.Unmarshal(bodies[1], &f); err != nil || f.Error != "" {
				t.Fatalf("%s: Grafana cannot read Silt's answer: %v %s", s.what, err, bodies[1])
			}
			for _, r := range f.Results {
				if r.Error != "" {
					t.Errorf("%s: statement error %q", s.what, r.Error)
				}
				for _, ser := range r.Series {
					if !s.selects {
						continue
					}
					if len(ser.Columns) == 0 || ser.Columns[0] != "time" {
						t.Errorf("%s: first column %v, Grafana needs time", s.what, ser.Columns)
					}
					for _, row := range ser.Values {
						if ms, ok := row[0].(float64); !ok || ms != float64(int64(ms)) {
							t.Fatalf("%s: time %v is not epoch ms", s.what, row[0])
						}
					}
				}
			}
		}
	}
}
