package pgoracle

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultBinDir is where Debian's postgresql package (PostgreSQL 15 on
// bookworm) installs the server binaries.
const DefaultBinDir = "/usr/lib/postgresql/15/bin"

// BinDirEnv names the environment variable that overrides DefaultBinDir.
const BinDirEnv = "SILT_PG_BINDIR"

// StartTimeout bounds how long Start waits for a new server to accept
// connections.
const StartTimeout = 60 * time.Second

const (
	superuser = "postgres"
	port      = 5432 // only names the socket file, in a private directory
)

// The shared cluster and its reference count; see the package documentation.
var (
	mu      sync.Mutex
	shared  *cluster
	refs    int
	keep    bool  // set by RunTests: keep the cluster at zero references
	failure error // the first start's error, returned by every later Start
	dbSeq   int
)

// Start returns an Oracle on a fresh database of the test binary's
// PostgreSQL 15 cluster, starting the cluster if needed. It skips the test
// when PostgreSQL 15 is not installed (fails it instead when CI=true) and
// fails it when the server cannot be started. The database is dropped, and
// the cluster released, in t's cleanup.
func Start(t testing.TB) *Oracle {
	t.Helper()
	bin := binDir()
	for _, name := range []string{"postgres", "initdb", "pg_ctl"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			unavailable(t, "PostgreSQL 15 server not found (%v); install it with `apt-get install postgresql` (Debian bookworm), or point %s at its bin directory", err, BinDirEnv)
			return nil
		}
	}
	cred, err := serverCredential()
	if err != nil {
		unavailable(t, "%v", err)
		return nil
	}
	c, err := acquire(bin, cred)
	if err != nil {
		t.Fatalf("pgoracle: %v", err)
		return nil
	}
	t.Cleanup(func() { release(c) })
	o, err := c.newOracle(t)
	if err != nil {
		t.Fatalf("pgoracle: %v", err)
		return nil
	}
	t.Cleanup(o.close)
	return o
}

// RunTests runs m's tests keeping one cluster for the whole binary, then
// stops it. Use it from TestMain: os.Exit(pgoracle.RunTests(m)).
func RunTests(m *testing.M) int {
	mu.Lock()
	keep = true
	mu.Unlock()
	code := m.Run()
	if err := Shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "pgoracle: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Shutdown stops the shared cluster, if one is running, and removes its
// directory. Oracles still open become unusable; their cleanups do no harm.
// A later Start starts a new cluster. Shutdown clears RunTests's keep mode.
func Shutdown() error {
	mu.Lock()
	defer mu.Unlock()
	keep = false
	refs = 0
	if shared == nil {
		return nil
	}
	err := shared.stop()
	shared = nil
	return err
}

func binDir() string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	return DefaultBinDir
}

// unavailable skips t, or fails it when CI=true.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := "pgoracle: " + fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + " (CI=true: the oracle tests must not be skipped)")
		return
	}
	t.Skip(msg)
}

// serverCredential returns the credential the server runs under: nil (the
// current user) unless we are root, who may not run postgres.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, but there is no postgres OS user to run the server as (%v); `apt-get install postgresql` creates it", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("postgres OS user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

func acquire(bin string, cred *syscall.Credential) (*cluster, error) {
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		return nil, fmt.Errorf("an earlier start of PostgreSQL failed in this test binary: %w", failure)
	}
	if shared == nil {
		c, err := startCluster(bin, cred)
		if err != nil {
			failure = err
			return nil, err
		}
		shared = c
	}
	refs++
	return shared, nil
}

func release(c *cluster) {
	mu.Lock()
	defer mu.Unlock()
	if shared != c { // stopped by Shutdown meanwhile
		return
	}
	refs--
	if refs > 0 || keep {
		return
	}
	if err := c.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgoracle: %v\n", err)
	}
	shared = nil
}

// cluster is one running postmaster.
type cluster struct {
	bin     string
	cred    *syscall.Credential
	dir     string // owned by the server user; holds the socket
	dataDir string
	logPath string
	version string

	cmd     *exec.Cmd
	done    chan struct{} // closed when the postmaster has exited
	waitErr error

	adminMu sync.Mutex
	admin   *pgx.Conn // to database postgres, for CREATE/DROP DATABASE
}

// serverSettings are passed as -c options to the postmaster.
var serverSettings = []string{
	"listen_addresses=",
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"wal_level=minimal",
	"max_wal_senders=0",
	"max_wal_size=4GB",
	"checkpoint_timeout=1h",
	"autovacuum=off",
	"jit=off",
	"max_parallel_workers_per_gather=0",
	"shared_buffers=256MB",
	"work_mem=64MB",
	"maintenance_work_mem=256MB",
	"TimeZone=UTC",
	"log_timezone=UTC",
	"DateStyle=ISO, YMD",
	"lc_messages=C",
	"max_connections=100",
}

func startCluster(bin string, cred *syscall.Credential) (c *cluster, err error) {
	version, err := serverVersion(bin)
	if err != nil {
		return nil, err
	}
	base := tempBase(cred)
	removeStale(base)
	dir, err := os.MkdirTemp(base, "pgoracle-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, err
		}
	}
	c = &cluster{
		bin:     bin,
		cred:    cred,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "server.log"),
		version: version,
		done:    make(chan struct{}),
	}
	out, err := c.command("initdb", "-D", c.dataDir, "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("initdb in %s: %v\n%s", dir, err, out)
	}
	if err := c.startPostmaster(); err != nil {
		return nil, err
	}
	if err := c.waitReady(); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// serverVersion returns `postgres -V`, which must be PostgreSQL 15.
func serverVersion(bin string) (string, error) {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "-V").Output()
	if err != nil {
		return "", fmt.Errorf("%s -V: %v", filepath.Join(bin, "postgres"), err)
	}
	v := strings.TrimSpace(string(out))
	f := strings.Fields(v) // postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)
	if len(f) < 3 || !strings.HasPrefix(f[2], "15.") {
		return "", fmt.Errorf("%s is %q; the oracle must be PostgreSQL 15", filepath.Join(bin, "postgres"), v)
	}
	return v, nil
}

// tempBase is os.TempDir(), or /tmp when the server's user could not reach
// it (every ancestor must be searchable by others).
func tempBase(cred *syscall.Credential) string {
	base := os.TempDir()
	if cred == nil {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

// removeStale removes the directories of clusters whose test binary died
// without its cleanups (their postmasters died with it).
func removeStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "pgoracle-*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		if alive(pidIn(filepath.Join(d, "owner.pid"))) || alive(pidIn(filepath.Join(d, "data", "postmaster.pid"))) {
			continue
		}
		os.RemoveAll(d)
	}
}

// pidIn reads the process id on the first line of path, or 0.
func pidIn(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// command builds an exec.Cmd for a PostgreSQL binary run as the server user,
// with a clean environment.
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{
		"PATH=" + c.bin + ":/usr/bin:/bin",
		"HOME=" + c.dir,
		"LC_ALL=C",
		"TZ=UTC",
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

// startPostmaster starts the server as a child of this process. The child
// is forked from a goroutine locked to its OS thread that lives as long as
// the child, because the kernel's parent-death signal (SIGKILL here, so the
// server cannot outlive a test binary that dies without cleanups) fires
// when the forking thread exits, not the process.
func (c *cluster) startPostmaster() error {
	logFile, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{"-D", c.dataDir, "-k", c.dir, "-p", strconv.Itoa(port)}
	for _, s := range serverSettings {
		args = append(args, "-c", s)
	}
	cmd := c.command("postgres", args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	c.cmd = cmd
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	err = <-started
	logFile.Close()
	if err != nil {
		return fmt.Errorf("starting postgres: %v", err)
	}
	return nil
}

// waitReady connects until the server accepts, it exits, or StartTimeout.
func (c *cluster) waitReady() error {
	deadline := time.Now().Add(StartTimeout)
	var last error
	for {
		select {
		case <-c.done:
			return fmt.Errorf("postgres exited during startup (%v); server log:\n%s", c.waitErr, c.log())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.connString("postgres"))
		cancel()
		if err == nil {
			c.admin = conn
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within %v (last error: %v); server log:\n%s", StartTimeout, last, c.log())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// log returns the server log, at most its last 16 KiB.
func (c *cluster) log() string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	if len(b) > 16<<10 {
		b = append([]byte("…"), b[len(b)-16<<10:]...)
	}
	return string(b)
}

// connString is a keyword/value connection string to database db.
func (c *cluster) connString(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", quoteConn(c.dir), port, superuser, quoteConn(db))
}

func quoteConn(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// stop stops the postmaster (pg_ctl stop -m immediate, then SIGKILL if it
// is still there) and removes the cluster's directory.
func (c *cluster) stop() error {
	c.adminMu.Lock()
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.admin.Close(ctx)
		cancel()
		c.admin = nil
	}
	c.adminMu.Unlock()
	var errs []error
	select {
	case <-c.done:
	default:
		out, err := c.command("pg_ctl", "stop", "-D", c.dataDir, "-m", "immediate", "-w", "-t", "30").CombinedOutput()
		if err != nil {
			errs = append(errs, fmt.Errorf("pg_ctl stop: %v: %s", err, bytes.TrimSpace(out)))
		}
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
			errs = append(errs, errors.New("postgres killed after pg_ctl stop"))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping PostgreSQL in %s: %w", c.dir, err)
	}
	return nil
}

// newOracle creates a database for t and connects to it.
func (c *cluster) newOracle(t testing.TB) (*Oracle, error) {
	mu.Lock()
	dbSeq++
	db := fmt.Sprintf("oracle_%d", dbSeq)
	mu.Unlock()
	ctx := context.Background()
	c.adminMu.Lock()
	err := errors.New("the cluster has been shut down")
	if c.admin != nil {
		_, err = c.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" TEMPLATE template0 STRATEGY FILE_COPY")
	}
	c.adminMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("creating database %s: %v", db, err)
	}
	cfg, err := pgx.ParseConfig(c.connString(db))
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = pgx.QueryExecModeDescribeExec // no statement cache to go stale
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %v; server log:\n%s", db, err, c.log())
	}
	return &Oracle{t: t, c: c, db: db, conn: conn}, nil
}

// dropDatabase drops db, disconnecting anyone still on it.
func (c *cluster) dropDatabase(db string) error {
	c.adminMu.Lock()
	defer c.adminMu.Unlock()
	select {
	case <-c.done:
		return nil // the server is gone, and the database with it
	default:
	}
	if c.admin == nil {
		return nil
	}
	_, err := c.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
	return err
}
