package server

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/siltdb/silt/bench"
	"github.com/siltdb/silt/internal/testutil/influxoracle"
)

// BenchmarkInfluxQL times /query on Silt and on InfluxDB 1.6 with the same
// TSBS cpu data (SILT_BENCH_HOSTS hosts, default 100, every 10 s for 6 h)
// for the query shapes Grafana and TSBS send. Compare the two with
//
//	go test ./server -run '^$' -bench InfluxQL -count 5 -benchtime 20x
func BenchmarkInfluxQL(b *testing.B) {
	hosts := 100
	if v, err := strconv.Atoi(os.Getenv("SILT_BENCH_HOSTS")); err == nil && v > 0 {
		hosts = v
	}
	infl := influxoracle.Start(b)
	silt := startServer(b, 0)
	base := time.Now().UTC().Truncate(time.Hour).Add(-8 * time.Hour)
	g := bench.NewCPU(hosts, base, 10*time.Second, 7)
	for _, u := range []string{infl.URL, silt.url} {
		resp, err := http.Post(u+"/query", "application/x-www-form-urlencoded", bytes.NewReader([]byte("q=CREATE+DATABASE+bench")))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	steps := 6 * 360
	for done := 0; done < steps; done += 360 {
		var buf []byte
		for i := 0; i < 360; i++ {
			buf = g.AppendInterval(buf)
		}
		for _, u := range []string{infl.URL, silt.url} {
			resp, err := http.Post(u+"/write?db=bench", "text/plain", bytes.NewReader(buf))
			if err != nil {
				b.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				b.Fatalf("write %s: %s %s", u, resp.Status, msg)
			}
		}
	}
	// Steady state: hours-old data sits in segments (the server flushes
	// every --flush-interval), not in the in-memory head.
	if err := silt.eng.Flush(); err != nil {
		b.Fatal(err)
	}
	tf := fmt.Sprintf("time >= %dms and time <= %dms", base.UnixMilli(), base.Add(6*time.Hour).UnixMilli())
	queries := []struct{ name, q string }{
		{"grafana-mean-by-host-1m", `SELECT mean("usage_user") FROM "cpu" WHERE ("hostname" =~ /^(host_1|host_2|host_3)$/) AND ` + tf + ` GROUP BY time(1m), "hostname" fill(null)`},
		{"grafana-mean-all-5m", `SELECT mean("usage_user") FROM "cpu" WHERE ` + tf + ` GROUP BY time(5m) fill(null)`},
		{"tsbs-cpu-max-all-1", `SELECT max(usage_user),max(usage_system),max(usage_idle),max(usage_nice),max(usage_iowait),max(usage_irq),max(usage_softirq),max(usage_steal),max(usage_guest),max(usage_guest_nice) from cpu where (hostname = 'host_4') and ` + tf + ` group by time(1h)`},
		{"tsbs-double-groupby-1", `SELECT mean(usage_user) from cpu where ` + tf + ` group by time(1h),hostname`},
		{"raw-one-host", `SELECT "usage_user", "usage_idle" FROM "cpu" WHERE ("hostname" = 'host_5') AND ` + tf},
		{"meta-tag-values", `SHOW TAG VALUES FROM "cpu" WITH KEY = "hostname"`},
	}
	// The SQL the first Grafana query compiles to, straight to /api/v1/sql:
	// the difference to its /query time is the InfluxQL layer's cost.
	sqlText := fmt.Sprintf(`SELECT date_bin(INTERVAL '60000000000 ns', time, TIMESTAMPTZ '1970-01-01T00:00:00Z'), "hostname", avg("usage_user"), count(*) FROM "cpu" WHERE time >= %d AND time <= %d AND "hostname" ~ '^(host_1|host_2|host_3)$' GROUP BY 1, 2`,
		base.UnixNano(), base.Add(6*time.Hour).UnixNano())
	b.Run("grafana-mean-by-host-1m/silt-sql", func(b *testing.B) {
		u := silt.url + "/api/v1/sql?" + url.Values{"db": {"bench"}, "q": {sqlText}}.Encode()
		for i := 0; i < b.N; i++ {
			resp, err := http.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("sql: %s", resp.Status)
			}
		}
	})
	for _, q := range queries {
		for _, peer := range []struct{ name, url string }{{"silt", silt.url}, {"influxdb", infl.URL}} {
			u := peer.url + "/query?" + url.Values{"db": {"bench"}, "epoch": {"ms"}, "q": {q.q}}.Encode()
			b.Run(q.name+"/"+peer.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					resp, err := http.Get(u)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Fatalf("%s: %s", q.name, resp.Status)
					}
				}
			})
		}
	}
}
