package server

import (
	"net/url"
	"testing"
)

// Parameters on the InfluxDB 3 query endpoints, in the request shapes of
// InfluxDB 3's API: "params" in a POST body's JSON object, or a params
// URL parameter holding the JSON object. Each answer is that of the
// query with the values written in.
func TestV3QueryParams(t *testing.T) {
	ts := startServer(t, 0)
	if code, _, body := ts.post(t, "/api/v3/write_lp?db=p", v3Data); code != 204 {
		t.Fatalf("write: %d %s", code, body)
	}
	for _, c := range []struct{ endpoint, q, params, lit string }{
		{"query_sql", "SELECT host, usage FROM cpu WHERE host = $host AND usage > $min ORDER BY time",
			`{"host": "a", "min": 2}`, "SELECT host, usage FROM cpu WHERE host = 'a' AND usage > 2 ORDER BY time"},
		{"query_sql", "SELECT host, n FROM cpu WHERE region <> $r AND time >= $t ORDER BY time -- $r",
			`{"r": "u's", "t": "2023-11-14T22:13:20Z"}`, "SELECT host, n FROM cpu WHERE region <> 'u''s' AND time >= '2023-11-14T22:13:20Z' ORDER BY time"},
		{"query_sql", "SELECT count(*) FROM cpu WHERE n IS NOT DISTINCT FROM $n", `{"n": null}`,
			"SELECT count(*) FROM cpu WHERE n IS NOT DISTINCT FROM NULL"},
		{"query_influxql", "SELECT usage FROM cpu WHERE host = $host AND usage >= $min",
			`{"host": "a", "min": 1.5}`, "SELECT usage FROM cpu WHERE host = 'a' AND usage >= 1.5"},
	} {
		_, _, want := ts.send(t, "POST", "/api/v3/"+c.endpoint, `{"db": "p", "q": "`+c.lit+`"}`)
		code, _, got := ts.send(t, "POST", "/api/v3/"+c.endpoint, `{"db": "p", "q": "`+c.q+`", "params": `+c.params+`}`)
		if code != 200 || string(got) != string(want) || len(want) < 3 {
			t.Errorf("POST %s %s %s: %d %s\nwritten in: %s", c.endpoint, c.q, c.params, code, got, want)
		}
		code, got = ts.get(t, "/api/v3/"+c.endpoint+"?"+url.Values{"db": {"p"}, "q": {c.q}, "params": {c.params}}.Encode())
		if code != 200 || string(got) != string(want) {
			t.Errorf("GET %s %s %s: %d %s\nwritten in: %s", c.endpoint, c.q, c.params, code, got, want)
		}
	}
}
