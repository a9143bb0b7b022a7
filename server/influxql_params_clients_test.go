package server

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	client "github.com/influxdata/influxdb1-client/v2"

	"github.com/siltdb/silt/internal/testutil/influxoracle"
)

// TestInfluxQLClientParamsAndChunks runs the real InfluxDB 1.x clients
// against InfluxDB 1.6 and Silt with the same data: Go's influxdb1-client
// (NewQueryWithParameters, chunked queries) and python's influxdb
// (Debian python3-influxdb: query with bind_params, chunked=True). Every
// answer, as the client reads it, must be equal.
func TestInfluxQLClientParamsAndChunks(t *testing.T) {
	infl := influxoracle.Start(t)
	silt := startServer(t, 0)
	base := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	data := oracleData(base)
	for _, u := range []string{infl.URL, silt.url} {
		postQuery(t, u, "", `CREATE DATABASE "benchmark"`)
		oracleWrite(t, u, data)
	}
	lo := base.Add(10 * time.Minute).UnixNano()
	in := fmt.Sprintf("time >= %dms AND time <= %dms", base.Add(10*time.Minute).UnixMilli(), base.Add(40*time.Minute).UnixMilli())
	type goCase struct {
		q       string
		params  map[string]any
		chunked int // chunk size; 0: not chunked
	}
	goCases := []goCase{
		{`SELECT "used" FROM "disk" WHERE "path" = $p AND time >= $t LIMIT 5`, map[string]any{"p": "/var", "t": lo}, 0},
		{`SELECT mean("usage_user") FROM "cpu" WHERE "hostname" = $h AND ` + in + ` GROUP BY time(5m)`, map[string]any{"h": "host_2"}, 0},
		{`SELECT count("used") FROM "disk" WHERE "used" > $v AND ` + in + ` GROUP BY "path"`, map[string]any{"v": 1030.5}, 0},
		{`SELECT "used", "free" FROM "disk" WHERE "path" != '/data' AND ` + in, nil, 7},
		{`SELECT max("usage_user") FROM "cpu" WHERE ` + in + ` GROUP BY time(2m), "hostname"`, nil, 5},
		{`SELECT "used" FROM "disk" WHERE "path" = $p AND ` + in + `; SHOW TAG VALUES WITH KEY = "path"`, map[string]any{"p": "/"}, 3},
	}
	for i, c := range goCases {
		t.Run(fmt.Sprintf("go/%d", i), func(t *testing.T) {
			var answers [2]string
			for k, u := range []string{infl.URL, silt.url} {
				cl, err := client.NewHTTPClient(client.HTTPConfig{Addr: u})
				if err != nil {
					t.Fatal(err)
				}
				q := client.NewQueryWithParameters(c.q, "benchmark", "ms", c.params)
				if c.chunked > 0 {
					q.Chunked, q.ChunkSize = true, c.chunked
				}
				resp, err := cl.Query(q)
				cl.Close()
				if err != nil {
					t.Fatalf("%s: %v", u, err)
				}
				if resp.Error() != nil {
					t.Fatalf("%s: %v", u, resp.Error())
				}
				b, _ := json.Marshal(resp.Results)
				answers[k] = string(b)
			}
			if err := sameJSON([]byte(answers[0]), []byte(answers[1]), false); err != nil {
				t.Fatalf("%s\n%v\ninflux: %s\nsilt:   %s", c.q, err, trunc([]byte(answers[0])), trunc([]byte(answers[1])))
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
c = InfluxDBClient(host=host, port=int(port), database="benchmark")
# The client asks for msgpack, which InfluxDB sends (Silt answers JSON,
# which the client reads too); its chunked reader reads JSON only.
cj = InfluxDBClient(host=host, port=int(port), database="benchmark", headers={"Accept": "application/json"})
out = []
for q, params, chunk in json.loads(sys.argv[2]):
    kw = {"epoch": "ms"}
    if params:
        kw["bind_params"] = params
    cl = c
    if chunk:
        kw["chunked"], kw["chunk_size"] = True, chunk
        cl = cj
    rs = cl.query(q, **kw)
    # chunked: a generator of one result set per chunk
    out.append([r.raw for r in rs] if chunk else rs.raw)
print(json.dumps(out))
`
	pyCases, _ := json.Marshal([][]any{
		{`SELECT "used" FROM "disk" WHERE "path" = $p AND time >= $t LIMIT 5`, map[string]any{"p": "/var", "t": lo}, 0},
		{`SELECT mean("used") FROM "disk" WHERE "path" = $p AND ` + in + ` GROUP BY time(10m) fill(none)`, map[string]any{"p": "/"}, 0},
		{`SELECT "usage_user" FROM "cpu" WHERE "hostname" = $h AND "usage_user" > $v AND ` + in, map[string]any{"h": "host_5", "v": 50}, 0},
		{`SELECT "used" FROM "disk" WHERE "path" = '/var' AND ` + in, nil, 4},
		{`SELECT derivative(mean("used")) FROM "disk" WHERE ` + in + ` GROUP BY time(5m), "path"`, nil, 2},
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
