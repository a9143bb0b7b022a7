package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/iceberg"
	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// sqlRows runs a query over HTTP and returns the status, the rows (JSON
// numbers as float64) and the error code of a failure.
func sqlRows(t *testing.T, p *siltProc, db, q string) (int, [][]any, string) {
	t.Helper()
	code, body, err := p.get("/api/v1/sql?db=" + db + "&q=" + url.QueryEscape(q))
	if err != nil {
		t.Fatalf("sql %q: %v", q, err)
	}
	if code != http.StatusOK {
		var eb errorBody
		_ = json.Unmarshal(body, &eb)
		return code, nil, eb.Code
	}
	var res struct{ Rows [][]any }
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("sql %q: %v in %s", q, err, body)
	}
	return code, res.Rows, ""
}

// TestTierE2E runs the real binary: silt serve with --s3.* tiers the windows
// older than --tier.after to a real MinIO on its own; queries over the cold
// windows answer what was written (a model computed here); a second silt
// started --s3.read-only on a fresh data directory answers the same and
// refuses writes with 403 read-only; with MinIO stopped, cold queries
// answer 503 cold-unavailable while local queries and writes still work.
func TestTierE2E(t *testing.T) {
	skipShort(t)
	srv := miniotest.Start(t)
	s3opts := tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path"}
	store, err := tiering.NewS3Store(s3opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	s3Flags := func(cacheDir string) []string {
		f := []string{"--s3.endpoint", srv.Endpoint, "--s3.bucket", "silt", "--s3.prefix", "e2e", "--s3.insecure",
			"--s3.access-key", srv.AccessKey, "--s3.secret-key", srv.SecretKey, "--s3.addressing", "path",
			"--tier.interval", "200ms"}
		if cacheDir != "" {
			f = append(f, "--cache.dir", cacheDir, "--cache.max-bytes", "64MiB")
		}
		return f
	}
	p := h.start(filepath.Join(h.dir, "data"), append(s3Flags(filepath.Join(h.dir, "cache1")),
		"--tier.after", "48h", "--flush-interval", "1s", "--compaction.interval", "200ms", "--iceberg.publish")...)

	// Six days of data every 20 seconds for three hosts, plus the last
	// hours, with hashed values.
	now := time.Now()
	today := segment.WindowOf(now.UnixNano())
	day := int64(segment.WindowDuration)
	coldEnd := today - 2*day // windows before it are due under --tier.after 48h
	type agg struct {
		count int
		sum   int64
	}
	cold := map[string]*agg{}
	var lp strings.Builder
	for ts := today - 6*day; ts < now.Add(-time.Minute).UnixNano(); ts += int64(20 * time.Second) {
		for hn := range 3 {
			host := fmt.Sprintf("h%d", hn)
			n := int64((uint64(ts/int64(time.Second))*2654435761+uint64(hn)*40503)%1000003) - 500000
			fmt.Fprintf(&lp, "cpu,host=%s usage=%d.25,n=%di %d\n", host, n%1000, n, ts)
			if ts < coldEnd {
				if cold[host] == nil {
					cold[host] = &agg{}
				}
				cold[host].count++
				cold[host].sum += n
			}
		}
	}
	if code, body, _, err := p.write("db", []byte(lp.String())); err != nil || code != http.StatusNoContent {
		t.Fatalf("write: %d %s %v", code, body, err)
	}

	// Flush, compaction and tiering run on their own: wait for the four
	// due windows to be cold.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		v, err := metricValue(p, "silt_tier_cold_segments")
		if err == nil && v >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("windows not tiered within 2 minutes (cold segments %v, %v)", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	objs, err := store.List(context.Background(), "e2e/segments/")
	if err != nil || len(objs) < 4 {
		t.Fatalf("bucket holds %d segment objects (%v), want at least 4", len(objs), err)
	}

	// --iceberg.publish: the writer commits an Iceberg table of the
	// tiered windows (docs/iceberg.md; iceberg/ tests read it back); its
	// snapshot counts every cold row.
	coldRows := 0
	for _, a := range cold {
		coldRows += a.count
	}
	pub := &iceberg.Publisher{Store: store, Location: "s3://silt", Root: "e2e/iceberg"}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		got := ""
		if _, key, err := pub.Current(context.Background(), "db", "cpu"); err == nil && key != "" {
			// Older snapshots stay for --iceberg.max-snapshot-age: the
			// current one counts.
			var md struct {
				Current   int64 `json:"current-snapshot-id"`
				Snapshots []struct {
					ID      int64             `json:"snapshot-id"`
					Summary map[string]string `json:"summary"`
				} `json:"snapshots"`
			}
			if raw, err := readObjectE2E(store, key); err == nil && json.Unmarshal(raw, &md) == nil {
				for _, s := range md.Snapshots {
					if s.ID == md.Current {
						got = s.Summary["total-records"]
					}
				}
			}
		}
		if got == fmt.Sprint(coldRows) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Iceberg snapshot of the %d cold rows within a minute (last: %q)", coldRows, got)
		}
	}
	// Its counters: the commits it logged, none lost (it is alone), none
	// failed. The commit's objects are in the store before the writer
	// counts and logs it, so the snapshot seen above may be ahead of both:
	// wait (a minute at most) until the counter has it. The log is read
	// first: a commit after it only adds.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		logged := float64(strings.Count(p.log(), "committed Iceberg table version"))
		commits, err1 := metricValue(p, "silt_iceberg_commits_total")
		retries, err2 := metricValue(p, "silt_iceberg_commit_retries_total")
		failures, err3 := metricValue(p, "silt_iceberg_commit_failures_total")
		err := errors.Join(err1, err2, err3)
		if err == nil && retries == 0 && failures == 0 && commits >= 1 && logged >= 1 && commits >= logged {
			break
		}
		if err != nil || retries != 0 || failures != 0 || time.Now().After(deadline) {
			t.Fatalf("Iceberg metrics: commits %v (%v logged), retries %v, failures %v, %v", commits, logged, retries, failures, err)
		}
	}

	coldQ := fmt.Sprintf("SELECT host, count(*), sum(n) FROM cpu WHERE time < %d GROUP BY host ORDER BY host", coldEnd)
	check := func(who string, q *siltProc) {
		t.Helper()
		code, rows, ecode := sqlRows(t, q, "db", coldQ)
		if code != http.StatusOK {
			t.Fatalf("%s: cold query: %d %s", who, code, ecode)
		}
		if len(rows) != len(cold) {
			t.Fatalf("%s: %d rows, want %d: %v", who, len(rows), len(cold), rows)
		}
		for _, r := range rows {
			want := cold[r[0].(string)]
			if want == nil || r[1].(float64) != float64(want.count) || math.Abs(r[2].(float64)-float64(want.sum)) > 0.5 {
				t.Errorf("%s: row %v, want count %d sum %d", who, r, want.count, want.sum)
			}
		}
	}
	// A read-only node on a fresh data directory serves the bucket.
	ro := h.start(filepath.Join(h.dir, "ro-data"), append(s3Flags(filepath.Join(h.dir, "cache2")), "--s3.read-only")...)
	check("read-only node", ro)
	code, body, _, err := ro.write("db", []byte("cpu,host=x usage=1 1\n"))
	var eb errorBody
	_ = json.Unmarshal(body, &eb)
	if err != nil || code != http.StatusForbidden || eb.Code != "read-only" {
		t.Fatalf("write to the read-only node: %d %s %v, want 403 read-only", code, body, err)
	}
	if ro.term() != 0 {
		t.Fatal("read-only node did not stop cleanly")
	}

	// MinIO down: cold queries fail clearly, local ones and writes work.
	// (The writer has not read its cold segments yet; once read, what the
	// footer cache and block cache hold is served without the store.)
	srv.Stop()
	code, _, ecode := sqlRows(t, p, "db", fmt.Sprintf("SELECT count(*) FROM cpu WHERE time < %d AND host = 'h1'", coldEnd))
	if code != http.StatusServiceUnavailable || ecode != "cold-unavailable" {
		t.Fatalf("cold query with MinIO down: %d %q, want 503 cold-unavailable", code, ecode)
	}
	code, rows, ecode := sqlRows(t, p, "db", fmt.Sprintf("SELECT count(*) FROM cpu WHERE time >= %d", today))
	if code != http.StatusOK || len(rows) != 1 {
		t.Fatalf("local query with MinIO down: %d %q %v", code, ecode, rows)
	}
	if code, body, _, err := p.write("db", []byte(fmt.Sprintf("cpu,host=h9 usage=1,n=1i %d\n", now.UnixNano()))); err != nil || code != http.StatusNoContent {
		t.Fatalf("write with MinIO down: %d %s %v", code, body, err)
	}
	srv.Restart()
	check("writer, MinIO back", p)
	if p.term() != 0 {
		t.Fatal("silt did not stop cleanly")
	}
}

// readObjectE2E reads a whole object from the bucket.
func readObjectE2E(s *tiering.S3Store, key string) ([]byte, error) {
	info, err := s.Stat(context.Background(), key)
	if err != nil {
		return nil, err
	}
	rc, err := s.GetRange(context.Background(), key, 0, info.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
