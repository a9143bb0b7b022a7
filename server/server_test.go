package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/siltdb/silt/engine"
)

type testServer struct {
	url string
	eng *engine.Engine
	srv *Server
}

func startServer(t testing.TB, maxBody int) *testServer {
	t.Helper()
	return startServerWith(t, Config{MaxBodyBytes: maxBody})
}

func startServerWith(t testing.TB, cfg Config) *testServer {
	t.Helper()
	return startServerEngine(t, cfg, engine.Config{})
}

// startServerEngine is startServerWith with engine settings beyond the
// defaults (its flush interval and logger are set here, and its data
// directory unless ecfg names one: a test reopening earlier data).
func startServerEngine(t testing.TB, cfg Config, ecfg engine.Config) *testServer {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.Logger == nil {
		cfg.Logger = log
	}
	if ecfg.DataDir == "" {
		ecfg.DataDir = t.TempDir()
	}
	ecfg.FlushInterval, ecfg.Logger = time.Hour, log
	eng, err := engine.Open(ecfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(eng, cfg)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Shutdown()
		if err := eng.Close(); err != nil {
			t.Error(err)
		}
	})
	return &testServer{url: "http://" + ln.Addr().String(), eng: eng, srv: srv}
}

func (s *testServer) post(t *testing.T, path, body string, hdr ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (s *testServer) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

const lpSample = `# TSBS-like rows, with every field type
cpu,hostname=host_0,region=eu-west-1 usage_user=58.1,usage_system=2.5e1 1700000000000000000
cpu,hostname=host_1,region=eu-west-1 usage_user=12,usage_system=-3.5 1700000000000000000
cpu,hostname=host_0,region=eu-west-1 usage_user=59.25,usage_system=0 1700000010000000000
app,service=api requests=12i,bytes=1024u,ok=true,msg="hello, \"world\"" 1700000000000000000
`

// The same rows as NDJSON in both accepted shapes; numbers are floats in
// NDJSON, so the app row keeps only float-compatible fields.
const ndjsonSample = `{"table":"cpu","time":1700000000000000000,"tags":{"hostname":"host_0","region":"eu-west-1"},"fields":{"usage_user":58.1,"usage_system":25}}
{"table":"cpu","time":1700000000000000000,"hostname":"host_1","region":"eu-west-1","usage_user":12,"usage_system":-3.5}
{"table":"cpu","time":"2023-11-14T22:13:30Z","tags":{"hostname":"host_0","region":"eu-west-1"},"fields":{"usage_user":59.25,"usage_system":0}}
`

func TestV1V2AndNDJSONStoreTheSameRows(t *testing.T) {
	s := startServer(t, 0)
	for _, c := range []struct{ path, body string }{
		{"/write?db=v1", lpSample},
		{"/api/v2/write?bucket=v2&org=o&precision=ns", lpSample},
		{"/write?db=v1s&precision=s", strings.ReplaceAll(lpSample, "000000000\n", "\n")},
		{"/write?db=v1ms&precision=ms", strings.ReplaceAll(lpSample, "000000\n", "\n")},
		{"/api/v1/ingest?db=nd", ndjsonSample},
	} {
		if code, _, body := s.post(t, c.path, c.body); code != 204 {
			t.Fatalf("%s: %d %s", c.path, code, body)
		}
	}
	_, v1 := s.get(t, "/api/v1/export?db=v1")
	for _, db := range []string{"v2", "v1s", "v1ms"} {
		if _, got := s.get(t, "/api/v1/export?db="+db); !bytes.Equal(got, v1) {
			t.Errorf("db %s stored\n%s\nv1 stored\n%s", db, got, v1)
		}
	}
	_, cpu := s.get(t, "/api/v1/export?db=v1&table=cpu")
	if _, got := s.get(t, "/api/v1/export?db=nd&table=cpu"); !bytes.Equal(got, cpu) {
		t.Errorf("NDJSON stored\n%s\nline protocol stored\n%s", got, cpu)
	}
	if n := bytes.Count(v1, []byte("\n")); n != 4 {
		t.Errorf("export has %d lines, want 4:\n%s", n, v1)
	}
	// Flushed to segments, the export is unchanged.
	if err := s.eng.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, got := s.get(t, "/api/v1/export?db=v1"); !bytes.Equal(got, v1) {
		t.Errorf("after flush\n%s\nbefore\n%s", got, v1)
	}
}

func TestPartialWriteKeepsGoodLines(t *testing.T) {
	s := startServer(t, 0)
	body := "cpu,host=a v=1 1\ncpu,host=a v=oops 2\ncpu,host=b v=2 3\ncpu,host=c v=3i 4\n"
	code, _, raw := s.post(t, "/write?db=db", body)
	if code != 400 {
		t.Fatalf("status %d", code)
	}
	var resp WriteResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if resp.Line != 2 || resp.Written != 2 || resp.Rejected != 2 || resp.Code == "" || len(resp.Errors) != 2 ||
		resp.Errors[1].Line != 4 || resp.Errors[1].Code != "field-type-conflict" {
		t.Fatalf("response %+v", resp)
	}
	_, got := s.get(t, "/api/v1/export?db=db")
	if want := "cpu,host=a v=1 1\ncpu,host=b v=2 3\n"; string(got) != want {
		t.Fatalf("stored %q want %q", got, want)
	}
}

func gz(t *testing.T, s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGzipAndBodyLimits(t *testing.T) {
	s := startServer(t, 4096)
	if code, _, b := s.post(t, "/write?db=g", gz(t, lpSample), "Content-Encoding", "gzip"); code != 204 {
		t.Fatalf("gzip: %d %s", code, b)
	}
	_, got := s.get(t, "/api/v1/export?db=g")
	if bytes.Count(got, []byte("\n")) != 4 {
		t.Fatalf("gzip body stored %q", got)
	}
	big := strings.Repeat("cpu v=1 1\n", 1000) // 10 kB > 4 kB
	if code, _, _ := s.post(t, "/write?db=big", big); code != 413 {
		t.Errorf("raw body over limit: %d, want 413", code)
	}
	// A small gzip body that expands past the limit is refused too.
	code, _, b := s.post(t, "/write?db=big", gz(t, big), "Content-Encoding", "gzip")
	if code != 413 || !bytes.Contains(b, []byte("body-too-large")) {
		t.Errorf("gzip bomb: %d %s", code, b)
	}
	if code, _, b := s.post(t, "/write?db=big", "not gzip", "Content-Encoding", "gzip"); code != 400 || !bytes.Contains(b, []byte("bad-gzip")) {
		t.Errorf("bad gzip: %d %s", code, b)
	}
	if code, _ := s.get(t, "/api/v1/export?db=big"); code != 404 {
		t.Errorf("refused writes created the database: %d", code)
	}
}

func TestBadRequests(t *testing.T) {
	s := startServer(t, 0)
	for _, c := range []struct {
		path, body string
		code       int
		errCode    string
	}{
		{"/write", "cpu v=1", 400, "missing-db"},
		{"/write?db=x&precision=fortnight", "cpu v=1", 400, "bad-precision"},
		{"/write?db=x", "cpu v=", 400, ""},
		{"/write?db=x", "cpu,time=1 v=1", 400, "reserved-key"},
		{"/api/v1/ingest?db=x", `{"v":1}`, 400, ""},
		{"/nope", "", 404, "not-found"},
	} {
		code, _, b := s.post(t, c.path, c.body)
		var e ErrorBody
		_ = json.Unmarshal(b, &e)
		if code != c.code || e.Error == "" || e.Code == "" || (c.errCode != "" && e.Code != c.errCode) {
			t.Errorf("%s %q: %d %s, want %d %s", c.path, c.body, code, b, c.code, c.errCode)
		}
	}
	if code, _ := s.get(t, "/write?db=x"); code != 405 {
		t.Errorf("GET /write: %d", code)
	}
}

func TestHealthPingMetricsSchema(t *testing.T) {
	s := startServer(t, 0)
	resp, err := http.Get(s.url + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("X-Influxdb-Version") == "" {
		t.Errorf("/ping: %d %v", resp.StatusCode, resp.Header)
	}
	for _, p := range []string{"/health", "/ready"} {
		if code, b := s.get(t, p); code != 200 {
			t.Errorf("%s: %d %s", p, code, b)
		}
	}
	s.post(t, "/write?db=m", "cpu,host=a v=1,n=2i 1\ncpu v=x 2\n")
	_, b := s.get(t, "/metrics")
	for _, m := range []string{`silt_rows_written_total{db="m"} 1`, "silt_rows_rejected_total{code=", "silt_wal_fsync_seconds_bucket",
		"silt_head_bytes", "silt_wal_bytes", "silt_segments_flushed_total", "silt_ingest_bytes_total"} {
		if !bytes.Contains(b, []byte(m)) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
	_, b = s.get(t, "/api/v1/databases")
	if string(b) != `{"databases":["m"]}`+"\n" {
		t.Errorf("databases: %s", b)
	}
	_, b = s.get(t, "/api/v1/tables?db=m")
	want := `{"db":"m","tables":[{"name":"cpu","tags":["host"],"fields":[{"name":"v","type":"float"},{"name":"n","type":"integer"}]}]}`
	if strings.TrimSpace(string(b)) != want {
		t.Errorf("tables: %s", b)
	}
	if code, _ := s.get(t, "/api/v1/tables?db=none"); code != 404 {
		t.Errorf("unknown db: %d", code)
	}
}

func TestExportRoundTripsEscapes(t *testing.T) {
	s := startServer(t, 0)
	body := `we\ ird\,m,t\ k=v\,1\=x f\=1="a \"q\" \\ b",g=1u,h=-5i,b=false 42` + "\n"
	if code, _, b := s.post(t, "/write?db=e", body); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	_, first := s.get(t, "/api/v1/export?db=e")
	// Export is line protocol: writing it back stores the same point.
	if code, _, b := s.post(t, "/write?db=e2", string(first)); code != 204 {
		t.Fatalf("rewrite %q: %d %s", first, code, b)
	}
	_, second := s.get(t, "/api/v1/export?db=e2")
	if !bytes.Equal(first, second) {
		t.Fatalf("export not stable: %q vs %q", first, second)
	}
}

// While the WAL replays, the server listens: liveness yes, readiness and
// writes no (503 not-ready, nothing written), then everything once ready.
func TestNotReadyDuringReplay(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := engine.New(engine.Config{DataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(eng, Config{Logger: log})
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Shutdown(); _ = eng.Close() }()
	s := &testServer{url: "http://" + ln.Addr().String(), eng: eng}
	if code, _ := s.get(t, "/health"); code != 200 {
		t.Errorf("/health during replay: %d", code)
	}
	for _, p := range []string{"/ready", "/api/v1/databases", "/api/v1/export?db=x"} {
		if code, b := s.get(t, p); code != 503 || !bytes.Contains(b, []byte("not-ready")) {
			t.Errorf("%s during replay: %d %s", p, code, b)
		}
	}
	if code, hdr, b := s.post(t, "/write?db=x", "cpu v=1 1"); code != 503 || hdr.Get("Retry-After") == "" || !bytes.Contains(b, []byte("not-ready")) {
		t.Errorf("write during replay: %d %s", code, b)
	}
	if err := eng.Recover(); err != nil {
		t.Fatal(err)
	}
	if code, _ := s.get(t, "/ready"); code != 200 {
		t.Errorf("/ready after replay: %d", code)
	}
	if code, _, b := s.post(t, "/write?db=x", "cpu v=1 1"); code != 204 {
		t.Errorf("write after replay: %d %s", code, b)
	}
	if _, b := s.get(t, "/api/v1/export?db=x"); string(b) != "cpu v=1 1\n" {
		t.Errorf("export: %q", b)
	}
}
