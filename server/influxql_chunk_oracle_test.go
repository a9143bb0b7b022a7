package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// oracleParamsChunks compares with InfluxDB 1.6: bound parameters (the
// params form value), chunked answers (chunked=true&chunk_size=N, chunk by
// chunk and reassembled) and SHOW SERIES over keys that need escaping.
// It returns the number of cases.
func oracleParamsChunks(t *testing.T, influxURL, siltURL string, base time.Time) int {
	n := 0
	lo := base.Add(10 * time.Minute).UnixNano()
	in := fmt.Sprintf("time >= %dms AND time <= %dms", base.Add(10*time.Minute).UnixMilli(), base.Add(40*time.Minute).UnixMilli())
	for _, c := range []struct{ q, params string }{
		{`SELECT "usage_user" FROM "cpu" WHERE "hostname" = $h AND time >= $lo LIMIT $n`, fmt.Sprintf(`{"h":"host_1","lo":%d,"n":3}`, lo)},
		{`SELECT count("used") FROM "disk" WHERE "used" > $v AND ` + in + ` GROUP BY "path"`, `{"v":1030.5}`},
		{`SELECT mean("used") FROM "disk" WHERE "path" = $p AND ` + in + ` GROUP BY time(10m) fill(none)`, `{"p":"/var"}`},
		{`SELECT "used" FROM "disk" WHERE "ro" = $ro AND ` + in + ` LIMIT 2`, `{"ro":true}`},
		{`SELECT max("used") FROM "disk" WHERE "path" =~ /^\/v/ AND "used" >= $min AND ` + in, `{"min":300}`},
		{`SHOW TAG VALUES FROM "cpu" WITH KEY = "region" WHERE "hostname" = $h`, `{"h":"host_3"}`},
		{`SELECT "used" FROM "disk" WHERE "path" = $p LIMIT 1`, `{"p":"/"`},                                // bad JSON: 400
		{`SELECT "used" FROM "disk" WHERE "path" = $nosuch LIMIT 1`, `{"p":"/"}`},                          // missing: 400
		{`SELECT "used" FROM "disk" WHERE "path" = '/' AND time >= $t LIMIT 1`, `{"t":{"duration":"5m"}}`}, // typed value
	} {
		n++
		t.Run("params/"+c.q, func(t *testing.T) {
			p := url.Values{"db": {"benchmark"}, "epoch": {"ms"}, "params": {c.params}}
			wc, want := getQuery(t, influxURL, p, c.q)
			gc, got := getQuery(t, siltURL, p, c.q)
			if wc != gc {
				t.Fatalf("status: InfluxDB %d, Silt %d\ninflux: %s\nsilt:   %s", wc, gc, want, got)
			}
			if err := sameJSON(want, got, false); err != nil {
				t.Fatalf("%v\ninflux: %s\nsilt:   %s", err, want, got)
			}
		})
	}
	for _, c := range []struct {
		q    string
		size string
	}{
		{`SELECT "used" FROM "disk" WHERE ` + in + ` GROUP BY "path"`, "7"},
		{`SELECT "usage_user", "usage_idle" FROM "cpu" WHERE "hostname" = 'host_4' AND ` + in, "100"},
		{`SELECT mean("usage_user") FROM "cpu" WHERE ` + in + ` GROUP BY time(1m), "hostname"`, "13"},
		{`SELECT max("used") FROM "disk" WHERE ` + in + ` GROUP BY time(2m), "path" fill(0) ORDER BY time DESC`, "4"},
		{`SELECT count("used") FROM "disk" WHERE ` + in + `; SELECT "free" FROM "disk" WHERE ` + in + ` LIMIT 5; SELECT "x" FROM "nosuch"; SHOW MEASUREMENTS`, "2"},
		{`SELECT "used" FROM "disk" WHERE "path" != '/data' AND ` + in, ""},     // the default size
		{`SELECT "used" FROM "disk" WHERE "path" != '/data' AND ` + in, "zero"}, // unusable: the default
		{`SELECT "used" FROM "disk" WHERE "path" != '/data' AND ` + in, "-3"},   // unusable: the default
		{`SELECT "used" FROM "disk" WHERE "path" != '/data' AND ` + in, "1"},
		{`SHOW SERIES`, "3"},
		{`SHOW FIELD KEYS`, "2"},
		{`SHOW TAG KEYS`, "1"},
		{`SHOW TAG VALUES WITH KEY = "path"`, "1"},
		{`SHOW RETENTION POLICIES; SHOW MEASUREMENTS`, "1"},
		{`SELECT "used" FROM "nosuch"; SHOW SERIES FROM "disk"`, "2"},
		{`SELECT derivative(mean("used")) FROM "disk" WHERE ` + in + ` GROUP BY time(3m), "path"`, "3"},
	} {
		n++
		t.Run("chunked/"+c.size+"/"+c.q, func(t *testing.T) {
			p := url.Values{"db": {"benchmark"}, "epoch": {"ms"}, "chunked": {"true"}}
			if c.size != "" {
				p.Set("chunk_size", c.size)
			}
			want, got := chunks(t, influxURL, p, c.q), chunks(t, siltURL, p, c.q)
			if len(want) != len(got) {
				t.Fatalf("InfluxDB sent %d chunks, Silt %d\ninflux: %s\nsilt:   %s", len(want), len(got), bytes.Join(want, nil), bytes.Join(got, nil))
			}
			for i := range want {
				if err := sameJSON(want[i], got[i], false); err != nil {
					t.Fatalf("chunk %d: %v\ninflux: %s\nsilt:   %s", i, err, want[i], got[i])
				}
			}
			// Reassembled, Silt's chunks are its unchunked answer.
			p.Del("chunked")
			p.Del("chunk_size")
			_, whole := getQuery(t, siltURL, p, c.q)
			if err := sameJSON(whole, reassemble(t, got), false); err != nil {
				t.Fatalf("reassembled chunks differ from the whole answer: %v\nwhole: %s", err, whole)
			}
		})
	}
	// SHOW SERIES orders keys that need escaping as InfluxDB does.
	var lp bytes.Buffer
	for _, l := range []string{`cpu,host=a`, `cpu\ load,host=a`, `cpu\,x,host=a`, `cpu,host=a\ b`, `cpu,host=a\,b`, `cpu,host=a\=b`,
		`cpu,host=ab`, `cpu,host=a,zone=z`, `cpu,host\ x=a`, `cpu,h=a`, `cpu,host=a-b`, `cpu,host=a.b`, `cpux,host=a`, `cpu-x,host=a`,
		`cpu2`, `cp`, `cpu,host=A`, `cpu,host=é`, `cpu,host=a\=\ b,k\,2=v`} {
		fmt.Fprintf(&lp, "%s v=1 %d\n", l, base.UnixNano())
	}
	for _, u := range []string{influxURL, siltURL} {
		postQuery(t, u, "", `CREATE DATABASE "escapes"`)
		resp, err := http.Post(u+"/write?db=escapes", "text/plain", bytes.NewReader(lp.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for _, q := range []string{`SHOW SERIES`, `SHOW SERIES FROM /^cpu/ LIMIT 6 OFFSET 3`, `SHOW SERIES WHERE "host" =~ /^a/`} {
		n++
		t.Run("escapes/"+q, func(t *testing.T) {
			p := url.Values{"db": {"escapes"}}
			_, want := getQuery(t, influxURL, p, q)
			_, got := getQuery(t, siltURL, p, q)
			if err := sameJSON(want, got, false); err != nil {
				t.Fatalf("%v\ninflux: %s\nsilt:   %s", err, want, got)
			}
		})
	}
	for _, u := range []string{influxURL, siltURL} {
		postQuery(t, u, "", `DROP DATABASE "escapes"`) // the later stages compare SHOW DATABASES
	}
	return n
}

// chunks reads a chunked answer: one JSON document per line.
func chunks(t *testing.T, base string, params url.Values, q string) [][]byte {
	t.Helper()
	v := url.Values{}
	for k, vs := range params {
		v[k] = vs
	}
	v.Set("q", q)
	resp, err := http.Get(base + "/query?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s %s", base, resp.Status, b)
	}
	var out [][]byte
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, []byte(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// reassemble joins chunks as InfluxDB clients do: results by statement,
// a partial series continued by the next chunk's.
func reassemble(t *testing.T, docs [][]byte) []byte {
	t.Helper()
	type series struct {
		Name    string            `json:"name,omitempty"`
		Tags    map[string]string `json:"tags,omitempty"`
		Columns []string          `json:"columns"`
		Values  [][]any           `json:"values,omitempty"`
		Partial bool              `json:"partial,omitempty"`
	}
	type result struct {
		StatementID int       `json:"statement_id"`
		Series      []*series `json:"series,omitempty"`
		Error       string    `json:"error,omitempty"`
	}
	var out []*result
	continued := false
	for _, d := range docs {
		var r struct {
			Results []struct {
				result
				Partial bool `json:"partial"`
			} `json:"results"`
		}
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("chunk %s: %v", d, err)
		}
		for _, c := range r.Results {
			if len(out) == 0 || out[len(out)-1].StatementID != c.StatementID {
				cp := c.result
				cp.Series = nil
				out = append(out, &cp)
				continued = false
			}
			last := out[len(out)-1]
			for _, s := range c.Series {
				if continued && len(last.Series) > 0 {
					prev := last.Series[len(last.Series)-1]
					prev.Values = append(prev.Values, s.Values...)
				} else {
					last.Series = append(last.Series, s)
				}
				continued = s.Partial
				last.Series[len(last.Series)-1].Partial = false
			}
		}
	}
	b, err := json.Marshal(map[string]any{"results": out})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
