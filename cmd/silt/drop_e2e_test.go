package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestDropKill9: the real binary, with small flushes running in the
// background, answers DROP MEASUREMENT and DROP DATABASE through /query
// and is killed with SIGKILL right after: on restart the dropped data
// stays gone, the rest is intact, and writes after a drop (a field with a
// new type) survive the next kill. Rounds: SILT_DROP_E2E_ROUNDS (default 3).
func TestDropKill9(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	data := filepath.Join(t.TempDir(), "data")
	rounds := envInt(t, "SILT_DROP_E2E_ROUNDS", 3)
	flags := []string{"--flush-bytes", "65536"}
	p := h.start(data, flags...)
	query := func(p *siltProc, method, db, q string) string {
		t.Helper()
		var code int
		var body []byte
		var err error
		if method == "POST" {
			code, body, _, err = p.do("POST", "/query?db="+db+"&q="+url.QueryEscape(q), nil)
		} else {
			code, body, err = p.get("/query?epoch=ns&db=" + db + "&q=" + url.QueryEscape(q))
		}
		if err != nil || code != 200 || strings.Contains(string(body), `"error"`) {
			t.Fatalf("%s %s: %d %s %v", method, q, code, body, err)
		}
		return string(body)
	}
	count := func(p *siltProc, db, m, field string) int64 {
		t.Helper()
		var r struct {
			Results []struct {
				Series []struct{ Values [][]json.Number }
			}
		}
		body := query(p, "GET", db, "SELECT count("+field+") FROM "+m)
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if len(r.Results) == 0 || len(r.Results[0].Series) == 0 {
			return 0
		}
		n, _ := r.Results[0].Series[0].Values[0][1].Int64()
		return n
	}
	lines := func(m string, n, base int, str bool) []byte {
		var b strings.Builder
		for i := range n {
			v := fmt.Sprintf("%d", base+i)
			if str {
				v = `"s` + v + `"`
			}
			fmt.Fprintf(&b, "%s,host=h%d v=%s %d\n", m, i%17, v, int64(base+i)*1e9)
		}
		return []byte(b.String())
	}
	for round := range int(rounds) {
		// Enough data for several background flushes (64 KiB each).
		for i := range 8 {
			for _, m := range []string{"cpu", "mem"} {
				if code, b, _, err := p.write("db", lines(m, 500, round*100000+i*500, false)); err != nil || code != 204 {
					t.Fatalf("write: %d %s %v", code, b, err)
				}
			}
		}
		if code, b, _, err := p.write("other", lines("cpu", 100, 0, false)); err != nil || code != 204 {
			t.Fatalf("write other: %d %s %v", code, b, err)
		}
		query(p, "POST", "db", `DROP MEASUREMENT "cpu"`)
		query(p, "POST", "", `DROP DATABASE "other"`)
		p.kill()
		p = h.start(data, flags...)
		if n := count(p, "db", "cpu", "v"); n != 0 {
			t.Fatalf("round %d: %d cpu points came back after kill -9", round, n)
		}
		if n := count(p, "db", "mem", "v"); n != int64(4000*(round+1)) {
			t.Fatalf("round %d: mem has %d points, want %d", round, n, 4000*(round+1))
		}
		if body := query(p, "GET", "", "SHOW DATABASES"); strings.Contains(body, `"other"`) {
			t.Fatalf("round %d: dropped database back: %s", round, body)
		}
		// Recreate cpu with a string field, kill, and find it whole.
		if code, b, _, err := p.write("db", lines("cpu", 300, 0, true)); err != nil || code != 204 {
			t.Fatalf("write after drop: %d %s %v", code, b, err)
		}
		p.kill()
		p = h.start(data, flags...)
		if n := count(p, "db", "cpu", "v"); n != 300 {
			t.Fatalf("round %d: recreated cpu has %d points, want 300", round, n)
		}
		if body := query(p, "GET", "db", `SHOW FIELD KEYS FROM "cpu"`); !strings.Contains(body, `["v","string"]`) {
			t.Fatalf("round %d: cpu fields %s", round, body)
		}
		// Next round drops the string cpu and writes floats again.
		query(p, "POST", "db", `DROP MEASUREMENT "cpu"`)
	}
	p.kill()
}
