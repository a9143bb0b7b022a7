// Package miniotest starts a real MinIO server for tests: a private data
// directory, random credentials, 127.0.0.1 on a free port. The binary comes
// from .ci/minio.sh (a pinned `go install`, cached): SILT_MINIO_BIN, else
// $SILT_TOOLS_DIR/minio/bin/minio, else ~/.cache/silt-tools/minio/bin/minio,
// else PATH. Without it a test skips, or fails when CI=true.
package miniotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is a running (or stopped) MinIO server owned by one test.
type Server struct {
	Endpoint  string // 127.0.0.1:port
	AccessKey string
	SecretKey string
	Dir       string // data directory

	// Env is added to the server's environment (set by StartEnv).
	Env []string

	bin string
	log *os.File
	mu  sync.Mutex
	cmd *exec.Cmd
	tb  testing.TB
}

// Binary returns the MinIO binary's path, or "" if there is none.
func Binary() string {
	if p := os.Getenv("SILT_MINIO_BIN"); p != "" {
		return p
	}
	tools := os.Getenv("SILT_TOOLS_DIR")
	if tools == "" {
		if home, err := os.UserHomeDir(); err == nil {
			tools = filepath.Join(home, ".cache", "silt-tools")
		}
	}
	if tools != "" {
		if p := filepath.Join(tools, "minio", "bin", "minio"); isExec(p) {
			return p
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p
	}
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start starts MinIO for tb and stops it at cleanup. It skips tb when the
// binary is missing, or fails it when CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartEnv(tb)
}

// StartEnv is Start with extra environment for the server, such as
// MINIO_DOMAIN=... for virtual-host addressing.
func StartEnv(tb testing.TB, env ...string) *Server {
	tb.Helper()
	bin := Binary()
	if bin == "" || !isExec(bin) {
		msg := "MinIO server binary not found (run bash .ci/minio.sh, or set SILT_MINIO_BIN)"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	dir := tb.TempDir()
	log, err := os.Create(filepath.Join(dir, "minio.log"))
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{
		Endpoint:  "127.0.0.1:" + freePort(tb),
		AccessKey: "silt" + randHex(tb, 6),
		SecretKey: randHex(tb, 16),
		Dir:       filepath.Join(dir, "data"),
		bin:       bin,
		log:       log,
		tb:        tb,
		Env:       env,
	}
	tb.Cleanup(func() {
		s.Stop()
		log.Close()
		if tb.Failed() {
			if b, err := os.ReadFile(log.Name()); err == nil {
				tb.Logf("minio log:\n%s", tail(string(b), 4000))
			}
		}
	})
	s.Restart()
	return s
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePort(tb testing.TB) string {
	p, err := freePortErr()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// freePortErr returns a port free on 127.0.0.1 now. Another process could
// take it before MinIO binds it; on this machine's loopback that race has
// not been seen, and the test would fail loudly, not wrongly.
func freePortErr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

func randHex(tb testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Restart starts the server again (after Stop) on the same address and
// data directory, and waits until it answers. It fails the test on error,
// so call it from the test's goroutine; elsewhere use RestartErr.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.RestartErr(); err != nil {
		s.tb.Fatal(err)
	}
}

// RestartErr is Restart returning its error.
func (s *Server) RestartErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("miniotest: restart while running")
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	console, err := freePortErr()
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "server", "--quiet", "--address", s.Endpoint,
		"--console-address", "127.0.0.1:"+console, s.Dir)
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on",
	)
	cmd.Env = append(cmd.Env, s.Env...)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// If the test binary dies, MinIO goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start minio: %w", err)
	}
	s.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The health endpoint can answer before the object layer is up; an
	// anonymous S3 call answers 503 ("Server not initialized") until it is
	// and 403 after.
	url := "http://" + s.Endpoint + "/"
	for {
		select {
		case err := <-exited:
			s.cmd = nil
			return fmt.Errorf("minio exited at start: %v (log in %s)", err, s.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("minio not ready on %s after 60s (log in %s)", s.Endpoint, s.log.Name())
		case <-time.After(50 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				return nil // the Wait goroutine reaps the process when it exits
			}
		}
	}
}

// Kill stops the server abruptly (SIGKILL): an outage mid-request.
func (s *Server) Kill() { s.stop(syscall.SIGKILL) }

// Stop stops the server (SIGTERM, then SIGKILL after 10s). Stopping a
// stopped server does nothing.
func (s *Server) Stop() { s.stop(syscall.SIGTERM) }

func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	p := s.cmd.Process
	s.cmd = nil
	_ = p.Signal(sig)
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(p.Pid) {
		if time.Now().After(deadline) {
			_ = p.Kill()
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The port must be free again before a Restart binds it.
	for i := 0; i < 250; i++ {
		c, err := net.DialTimeout("tcp", s.Endpoint, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// processAlive reports whether pid still exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	// Field 3 is the state; Wait reaps the zombie asynchronously.
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] != "Z" && f[2] != "X"
}
