// Package influxoracle starts a private InfluxDB 1.x (Debian package
// influxdb, /usr/bin/influxd) for oracle tests: its own config, data in a
// temporary directory, HTTP on a free 127.0.0.1 port, stopped at cleanup.
//
// When influxd is missing the test is skipped, or fails when CI=true (CI
// must have the package; see .ci/run).
package influxoracle

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Binary is influxd's path; INFLUXD overrides it.
func Binary() string {
	if p := os.Getenv("INFLUXD"); p != "" {
		return p
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p
	}
	return "/usr/bin/influxd"
}

// Server is a running influxd.
type Server struct {
	URL string // http://127.0.0.1:PORT
	cmd *exec.Cmd
	log string
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs influxd until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if _, err := os.Stat(bin); err != nil {
		msg := "influxd (Debian package influxdb) not installed: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI must install it: .ci/run APT_PACKAGES)")
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	port, rpcPort := freePort(t), freePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
  trace-logging-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  max-body-size = 0
[continuous_queries]
  enabled = false
`, rpcPort, filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), port)
	cfgPath := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "influxd.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "INFLUXDB_DATA_INDEX_VERSION=inmem")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start influxd: %v", err)
	}
	s := &Server{URL: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return s
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("influxd did not answer /ping within 30s: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Log returns influxd's output so far (for failure messages).
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// Query runs q with the given extra parameters (db, epoch, ...) as a GET
// and returns the status and body.
func (s *Server) Query(q string, params url.Values) (int, []byte, error) {
	v := url.Values{}
	for k, vs := range params {
		v[k] = vs
	}
	v.Set("q", q)
	resp, err := http.Get(s.URL + "/query?" + v.Encode())
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Write posts line protocol to /write.
func (s *Server) Write(db, precision string, body []byte) error {
	u := s.URL + "/write?db=" + url.QueryEscape(db)
	if precision != "" {
		u += "&precision=" + url.QueryEscape(precision)
	}
	resp, err := http.Post(u, "text/plain; charset=utf-8", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("influxd /write: %s: %s", resp.Status, b)
	}
	return nil
}
