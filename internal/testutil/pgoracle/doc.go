// Package pgoracle runs a private PostgreSQL 15 server for tests, so that the
// results of Silt's SQL engine can be compared with PostgreSQL's on the same
// data (the "oracle").
//
// # Starting and sharing the server
//
// [Start] returns an [*Oracle]: a connection to a fresh database of its own
// (CREATE DATABASE oracle_N) in a cluster shared by the whole test binary.
// Tables loaded through one Oracle are invisible to the others, so tests may
// run in parallel. Call Start once per test and hand the Oracle to subtests;
// its methods are safe for concurrent use (calls are serialised on its single
// connection, so session settings such as SET persist from call to call).
//
// The cluster is started lazily by the first Start and reference counted:
// each Start holds a reference until its test's cleanup, which drops the
// test's database and releases the reference. What happens at zero depends
// on how the test binary is set up:
//
//   - By default the cluster is stopped (pg_ctl stop -m immediate) and its
//     directory removed when the last reference goes: tests that overlap
//     (parallel tests, or subtests under one Start) share one cluster; tests
//     that run one after the other each start one (initdb and start take
//     about half a second here).
//
//   - A package with many oracle tests keeps one cluster for the whole binary
//     with a TestMain that calls [RunTests]:
//
//     func TestMain(m *testing.M) { os.Exit(pgoracle.RunTests(m)) }
//
//     RunTests runs the tests and then calls [Shutdown]. Shutdown may also be
//     called directly; it is idempotent, and a later Start starts a new cluster.
//
// If the test binary dies without cleanups (a go test -timeout panic, a
// kill), the postmaster gets SIGKILL from the kernel (parent-death signal)
// and its directory is removed by the next Start in any test binary once it
// is a minute old.
//
// If the first start fails, the error is kept and every later Start in the
// binary fails with it at once (no repeated 60 s waits).
//
// # Finding PostgreSQL
//
// The binaries are taken from /usr/lib/postgresql/15/bin (Debian's
// postgresql package on bookworm; SILT_PG_BINDIR overrides the directory,
// and the server must report major version 15). When they are missing,
// Start skips the test with a message naming `apt-get install postgresql`,
// unless the environment has CI=true, in which case it fails the test: CI
// must not silently skip the oracle. When the test runs as root (as here),
// the server runs as the postgres OS user that the Debian package creates,
// through setuid/setgid in the child process (what runuser or setpriv would
// do, without the PAM session); a root test binary without that user is
// treated like missing binaries.
//
// # Server setup
//
// The cluster lives in a directory pgoracle-* under os.TempDir() (or /tmp if
// the postgres user could not reach that), owned by the server's user:
// data/ holds the cluster, the directory itself holds the Unix socket, and
// server.log the server's log (it is quoted in startup errors). The server
// listens on the Unix socket only (listen_addresses is empty), so there is no port
// to race for; [Oracle.ConnString] gives a libpq/pgx connection string for
// other clients (psql "$(…)" works too).
//
// initdb runs with --locale=C --encoding=UTF8 (text sorts by bytes, as Go
// strings do) and trust authentication for user postgres. The server runs
// with fsync=off, synchronous_commit=off, full_page_writes=off, wal_level=
// minimal, autovacuum=off, jit=off, TimeZone=UTC, and
// max_parallel_workers_per_gather=0, so that floating-point aggregates are
// summed in one deterministic order (the physical order of the rows) rather
// than in per-worker partial sums. Results are still unordered without
// ORDER BY, and a float sum in another order may differ in the last bits:
// compare floats with a relative tolerance.
//
// # Values
//
// [Oracle.Query] normalises values for comparison: every integer type to
// int64, float4/float8/numeric to float64 (so numeric(20,0) values above
// 2^53, and sum/avg over bigint, are rounded to the nearest float64; cast to
// text in SQL to see them exactly), text types to string, timestamptz and
// timestamp to time.Time in UTC, bool to bool, NULL to nil, interval to
// time.Duration when it has no months, ±infinity timestamps to the strings
// "infinity" and "-infinity". Anything else is returned as pgx decodes it.
//
// # Loading points
//
// [Oracle.LoadPoints] creates a table time timestamptz, one text column per
// tag and one column per field (float: double precision, integer: bigint,
// unsigned: numeric(20,0), boolean: boolean, string: text), merges points
// of the same series and time with [MergeLastWriteWins] (InfluxDB's rule,
// which PostgreSQL does not have) and loads them with binary COPY into an
// UNLOGGED table, then ANALYZEs it. Missing tags and fields are NULL.
//
// PostgreSQL timestamps have microsecond precision, Silt's nanosecond:
// LoadPoints rejects times that are not whole microseconds (PostgreSQL would
// silently round them, and two points a nanosecond apart would merge in
// PostgreSQL but not in Silt). [CPUDataset] generates microsecond-aligned
// times only.
//
// [Point.LineProtocol] writes the same points as InfluxDB line protocol for
// loading into Silt, so both sides see identical data.
package pgoracle
