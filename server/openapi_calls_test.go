package server

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// The requests of TestOpenAPIContract for the Prometheus, InfluxDB v2 and
// v3, and console endpoints: a success and an error of each where one is
// cheap to cause.

// snappyProto is msg marshalled and snappy-compressed, as Prometheus sends
// remote write and read requests.
func snappyProto(t *testing.T, msg interface{ Marshal() ([]byte, error) }) string {
	t.Helper()
	raw, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(snappy.Encode(nil, raw))
}

func promContractCalls(t *testing.T) []apiCall {
	const proto, form = "application/x-protobuf", "application/x-www-form-urlencoded"
	now := time.Now().UnixMilli()
	write := &prompb.WriteRequest{
		Timeseries: []prompb.TimeSeries{{
			Labels:  []prompb.Label{{Name: "__name__", Value: "oa_up"}, {Name: "job", Value: "node"}},
			Samples: []prompb.Sample{{Timestamp: now - 1000, Value: 1}, {Timestamp: now, Value: 2}},
		}},
		Metadata: []prompb.MetricMetadata{{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "oa_up", Help: "up or not"}},
	}
	read := &prompb.ReadRequest{Queries: []*prompb.Query{{
		StartTimestampMs: now - 60_000, EndTimestampMs: now + 1000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "oa_up"}},
	}}}
	wh := []string{"Content-Type", proto, "Content-Encoding", "snappy", "X-Prometheus-Remote-Write-Version", "0.1.0"}
	sec := func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }
	rng := url.Values{"db": {"oaprom"}, "query": {"rate(oa_up[1m])"}, "start": {sec(now - 60_000)}, "end": {sec(now)}, "step": {"15s"}}.Encode()
	calls := []apiCall{
		{method: "POST", path: "/api/v1/write?db=oaprom", body: snappyProto(t, write), hdr: wh, status: 204},
		{method: "POST", path: "/api/v1/write?db=oaprom", body: "not snappy", hdr: wh, status: 400},
		{method: "POST", path: "/api/v1/write?db=oaprom", body: snappyProto(t, write), hdr: []string{"Content-Type", proto, "Content-Encoding", "gzip"}, status: 415},
		{method: "POST", path: "/api/v1/read?db=oaprom", body: snappyProto(t, read), hdr: []string{"Content-Type", proto, "Content-Encoding", "snappy"}, status: 200},
		{method: "POST", path: "/api/v1/read?db=oaprom", body: "not snappy", hdr: []string{"Content-Type", proto}, status: 400},

		{method: "GET", path: "/api/v1/query?db=oaprom&query=oa_up", status: 200},
		{method: "GET", path: "/api/v1/query?db=oaprom&query=" + url.QueryEscape("sum(oa_up"), status: 400},
		{method: "GET", path: "/api/v1/query?db=oaprom", status: 400, badRequest: true},
		{method: "POST", path: "/api/v1/query", body: "db=oaprom&query=" + url.QueryEscape(`count(oa_up{job="node"})`), hdr: []string{"Content-Type", form}, status: 200},
		{method: "GET", path: "/api/v1/query_range?" + rng, status: 200},
		{method: "GET", path: "/api/v1/query_range?db=oaprom&query=oa_up&start=2&end=1&step=15s", status: 400},
		{method: "POST", path: "/api/v1/query_range", body: rng, hdr: []string{"Content-Type", form}, status: 200},
		{method: "GET", path: "/api/v1/series?db=oaprom&match[]=oa_up", status: 200},
		{method: "GET", path: "/api/v1/series?db=oaprom", status: 400, badRequest: true},
		{method: "POST", path: "/api/v1/series", body: "db=oaprom&match[]=" + url.QueryEscape(`{job="node"}`), hdr: []string{"Content-Type", form}, status: 200},
		{method: "GET", path: "/api/v1/labels?db=oaprom", status: 200},
		{method: "GET", path: "/api/v1/labels?db=oaprom&match[]=" + url.QueryEscape("oa_up{"), status: 400},
		{method: "POST", path: "/api/v1/labels", body: "db=oaprom", hdr: []string{"Content-Type", form}, status: 200},
		{method: "GET", path: "/api/v1/label/job/values?db=oaprom", status: 200},
		{method: "POST", path: "/api/v1/label/__name__/values", body: "db=oaprom&match[]=oa_up", hdr: []string{"Content-Type", form}, status: 200},
		{method: "GET", path: "/api/v1/metadata?metric=oa_up", status: 200},
		{method: "GET", path: "/api/v1/metadata?limit=x", status: 400},
		{method: "POST", path: "/api/v1/metadata", body: "limit=10", hdr: []string{"Content-Type", form}, status: 200},
		{method: "GET", path: "/api/v1/status/buildinfo", status: 200},
		{method: "POST", path: "/api/v1/status/buildinfo", status: 200},
	}
	return calls
}

func influxContractCalls() []apiCall {
	const text, jsonType = "text/plain; charset=utf-8", "application/json"
	q := url.QueryEscape
	return []apiCall{
		// InfluxDB v2.
		{method: "POST", path: "/api/v2/query?org=o", body: `{"query": "from(bucket: \"oa\") |> range(start: -1h)"}`, hdr: []string{"Content-Type", jsonType}, status: 400},
		{method: "GET", path: "/api/v2/buckets?org=o", status: 200},
		{method: "GET", path: "/api/v2/buckets?name=oa&limit=5&offset=0", status: 200},
		{method: "GET", path: "/api/v2/buckets?limit=1000", status: 400},
		{method: "POST", path: "/api/v2/buckets", body: `{"name": "oab", "retentionRules": [{"type": "expire", "everySeconds": 86400}]}`, hdr: []string{"Content-Type", jsonType}, status: 201},
		{method: "POST", path: "/api/v2/buckets", body: `{"name": "oab"}`, hdr: []string{"Content-Type", jsonType}, status: 422},
		{method: "GET", path: "/api/v2/orgs", status: 200},
		{method: "POST", path: "/api/v2/orgs", body: `{"name": "acme"}`, hdr: []string{"Content-Type", jsonType}, status: 201},
		{method: "POST", path: "/api/v2/orgs", body: `{}`, hdr: []string{"Content-Type", jsonType}, status: 400},

		// InfluxDB 3.
		{method: "POST", path: "/api/v3/write_lp?db=oav3&precision=second", body: "mem,host=a used=1i 1700000000\n", hdr: []string{"Content-Type", text}, status: 204},
		{method: "POST", path: "/api/v3/write_lp?db=oav3", body: "mem,host=a used=2i 1700000001\nmem,host=a used=oops 1700000002\n", hdr: []string{"Content-Type", text}, status: 400},
		{method: "POST", path: "/api/v3/write_lp?db=oav3&accept_partial=false", body: "mem,host=b used=2i 1700000001\nmem,host=b used=1.5 1700000002\n", hdr: []string{"Content-Type", text}, status: 400},
		{method: "POST", path: "/api/v3/write_lp", body: "mem used=1i\n", hdr: []string{"Content-Type", text}, status: 400, badRequest: true},
		{method: "GET", path: "/api/v3/query_sql?db=oav3&q=" + q("SELECT host, used FROM mem ORDER BY time"), status: 200},
		{method: "GET", path: "/api/v3/query_sql?db=oav3&format=jsonl&q=" + q("SELECT * FROM mem"), status: 200},
		{method: "GET", path: "/api/v3/query_sql?db=oav3&format=csv&q=" + q("SELECT * FROM mem"), status: 200},
		{method: "GET", path: "/api/v3/query_sql?db=oav3&format=parquet&q=" + q("SELECT * FROM mem"), status: 200},
		{method: "GET", path: "/api/v3/query_sql?db=oav3&format=pretty&q=" + q("SELECT * FROM mem"), status: 200},
		{method: "GET", path: "/api/v3/query_sql?db=oav3&q=" + q("SELEC 1"), status: 400},
		{method: "GET", path: "/api/v3/query_sql?db=oav3", status: 400, badRequest: true},
		{method: "POST", path: "/api/v3/query_sql", body: `{"db": "oav3", "q": "SELECT count(*) AS n FROM mem", "format": "json"}`, hdr: []string{"Content-Type", jsonType}, status: 200},
		{method: "POST", path: "/api/v3/query_sql", body: `{"db": "oav3", "q": "SELECT host FROM mem WHERE used > $a", "params": {"a": 1}}`, hdr: []string{"Content-Type", jsonType}, status: 200},
		{method: "POST", path: "/api/v3/query_sql", body: `{"db": "oav3", "q": "SELECT $b", "params": {"a": 1}}`, hdr: []string{"Content-Type", jsonType}, status: 400},
		{method: "GET", path: "/api/v3/query_influxql?db=oav3&q=" + q("SELECT used FROM mem"), status: 200},
		{method: "GET", path: "/api/v3/query_influxql?db=oav3&q=" + q("DROP MEASUREMENT mem"), status: 400},
		{method: "POST", path: "/api/v3/query_influxql", body: `{"db": "oav3", "q": "SHOW MEASUREMENTS"}`, hdr: []string{"Content-Type", jsonType}, status: 200},
		{method: "GET", path: "/api/v3/configure/database", status: 200},
		{method: "GET", path: "/api/v3/configure/database?format=xml", status: 400, badRequest: true},
		{method: "POST", path: "/api/v3/configure/database", body: `{"db": "oa3c"}`, hdr: []string{"Content-Type", jsonType}, status: 200},
		{method: "POST", path: "/api/v3/configure/database", body: `{"db": "oa3c"}`, hdr: []string{"Content-Type", jsonType}, status: 409},
		{method: "DELETE", path: "/api/v3/configure/database?db=oa3c", status: 200},
		{method: "DELETE", path: "/api/v3/configure/database?db=oa3c", status: 404},

		// The web console.
		{method: "GET", path: "/", status: 200},
		{method: "HEAD", path: "/", status: 200},
		{method: "GET", path: "/console/app.js", status: 200},
		{method: "GET", path: "/console/app.css", status: 200},
		{method: "HEAD", path: "/console/chart.js", status: 200},
		{method: "GET", path: "/console/nope.js", status: 404},
	}
}

// backupContractCalls pins a backup snapshot, reads one of its files and
// releases it, with do sending each request (and checking its status).
func backupContractCalls(t *testing.T, do func(apiCall) []byte) {
	raw := do(apiCall{method: "POST", path: "/api/v1/backup", status: 200})
	var snap struct {
		ID    string `json:"id"`
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal(raw, &snap); err != nil || snap.ID == "" || len(snap.Files) == 0 {
		t.Fatalf("POST /api/v1/backup: %v: want a snapshot with files: %.300s", err, raw)
	}
	id := url.QueryEscape(snap.ID)
	do(apiCall{method: "GET", path: "/api/v1/backup/file?id=" + id + "&path=" + url.QueryEscape(snap.Files[0].Path), status: 200})
	do(apiCall{method: "GET", path: "/api/v1/backup/file?id=" + id + "&path=nope", status: 404})
	do(apiCall{method: "DELETE", path: "/api/v1/backup?id=" + id, status: 204})
	do(apiCall{method: "DELETE", path: "/api/v1/backup?id=" + id, status: 404})
}

// consoleContractCalls are the calls of the console's export and upload:
// a SQL and an InfluxQL answer as Parquet and Arrow (a statement that
// changes data refused in them), and CSV uploads (good, with a bad
// record, and refused).
func consoleContractCalls() []apiCall {
	const csvType = "text/csv"
	q := url.QueryEscape
	return []apiCall{
		{method: "GET", path: "/api/v1/sql?db=oa&format=parquet&q=" + q("SELECT * FROM cpu"), status: 200},
		{method: "GET", path: "/query?db=oa&format=parquet&q=" + q("SELECT * FROM cpu"), status: 200},
		{method: "POST", path: "/query", body: "db=oa&format=arrow&q=" + q("SELECT mean(usage_user) FROM cpu WHERE time > 0 GROUP BY time(1h), hostname"), hdr: []string{"Content-Type", "application/x-www-form-urlencoded"}, status: 200},
		{method: "POST", path: "/query?db=oa&format=csv", body: "SHOW MEASUREMENTS", hdr: []string{"Content-Type", "text/plain"}, status: 200},
		{method: "POST", path: "/query?db=oa&format=arrow", body: "DROP MEASUREMENT cpu", hdr: []string{"Content-Type", "text/plain"}, status: 400},
		{method: "GET", path: "/query?db=oa&format=xml&q=" + q("SELECT * FROM cpu"), status: 400, badRequest: true},
		{method: "POST", path: "/api/v1/import/csv?db=oacsv&table=m&tags=host", body: "time,host,v\n1700000000,a,1.5\n", hdr: []string{"Content-Type", csvType}, status: 204},
		{method: "POST", path: "/api/v1/import/csv?db=oacsv&table=m&precision=s", body: "time,host,v\n1700000001,a,2\nsoon,a,3\n", hdr: []string{"Content-Type", csvType}, status: 400},
		{method: "POST", path: "/api/v1/import/csv?db=oacsv&table=m", body: "when,v\n1,2\n", hdr: []string{"Content-Type", csvType}, status: 400},
		{method: "POST", path: "/api/v1/import/csv?db=oacsv", body: "time,v\n1,2\n", hdr: []string{"Content-Type", csvType}, status: 400, badRequest: true},
	}
}
