package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// checkDataDir runs `silt check` on a data directory (a server may be
// running on it) and fails t on any problem it reports. The crash tests
// call it after each round's verification.
func checkDataDir(t *testing.T, dataDir, when string, extra ...string) {
	t.Helper()
	start := time.Now()
	// In process: the same code as the binary's, without a process start
	// per round.
	var stdout, stderr strings.Builder
	code := check(append([]string{"--data-dir", dataDir}, extra...), &stdout, &stderr)
	out := stdout.String() + stderr.String()
	t.Logf("%s: silt check took %v: %s", when, time.Since(start).Round(time.Millisecond), strings.Join(strings.Fields(strings.Join(checkSummary(out), "; ")), " "))
	if code == 2 || strings.Contains(out, "PROBLEM ") {
		t.Errorf("%s: silt check exit %d:\n%s", when, code, out)
	}
}

// TestCheckFindsDamage damages a real data directory three ways — a byte
// flipped in a local segment's page, the newest WAL file cut inside a
// record, a tiered segment's object deleted from MinIO — and expects
// `silt check --bucket` to name each, `--repair` to quarantine them, and
// the server to start on the repaired directory.
func TestCheckFindsDamage(t *testing.T) {
	skipShort(t)
	srv := miniotest.Start(t)
	store, err := tiering.NewS3Store(tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "silt", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", Prefix: "chk"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	s3 := []string{"--s3.endpoint", srv.Endpoint, "--s3.bucket", "silt", "--s3.prefix", "chk", "--s3.insecure",
		"--s3.access-key", srv.AccessKey, "--s3.secret-key", srv.SecretKey, "--s3.addressing", "path"}
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	p := h.start(data, append([]string{"--tier.after", "48h", "--tier.interval", "200ms", "--flush-interval", "300ms",
		"--compaction.interval", "1h"}, s3...)...)

	// Four days ago (tiered) and the last hour (local).
	now := time.Now()
	var lp strings.Builder
	for _, start := range []time.Time{now.Add(-96 * time.Hour), now.Add(-time.Hour)} {
		for i := range 3000 {
			fmt.Fprintf(&lp, "cpu,host=h%d usage=%d.5,n=%di %d\n", i%5, i%97, i, start.Add(time.Duration(i)*time.Second).UnixNano())
		}
	}
	if code, body, _, err := p.write("db", []byte(lp.String())); err != nil || code != http.StatusNoContent {
		t.Fatalf("write: %d %s %v", code, body, err)
	}
	var local, cold []segment.SegmentMeta
	for deadline := time.Now().Add(2 * time.Minute); ; {
		local, cold = nil, nil
		if m, err := manifest.LoadManifest(data); err == nil {
			for _, s := range m.Raw() {
				if s.Cold() {
					cold = append(cold, s)
				} else {
					local = append(local, s)
				}
			}
		}
		if len(local) > 0 && len(cold) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no local and tiered segments within 2 minutes: %d local, %d tiered", len(local), len(cold))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Rows only the WAL holds (a server that does not flush them), then
	// a crash.
	p.kill()
	p = h.start(data, append([]string{"--flush-interval", "1h", "--compaction.interval", "1h"}, s3...)...)
	lp.Reset()
	for i := range 200 {
		fmt.Fprintf(&lp, "cpu,host=w usage=%d.5 %d\n", i, now.Add(-time.Duration(i)*time.Millisecond).UnixNano())
	}
	if code, body, _, err := p.write("db", []byte(lp.String())); err != nil || code != http.StatusNoContent {
		t.Fatalf("write: %d %s %v", code, body, err)
	}
	checkDataDir(t, data, "live server", append([]string{"--bucket"}, s3...)...)
	p.kill()
	checkDataDir(t, data, "after the kill", append([]string{"--bucket"}, s3...)...)
	if t.Failed() {
		t.FailNow()
	}

	// The damage.
	seg := local[0]
	flipPageByte(t, filepath.Join(data, filepath.FromSlash(seg.Path)))
	walFile := newestWAL(t, filepath.Join(data, "wal"))
	st, err := os.Stat(walFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(walFile, st.Size()-7); err != nil {
		t.Fatal(err)
	}
	gone := cold[0]
	if err := store.Delete(context.Background(), gone.Path); err != nil {
		t.Fatal(err)
	}

	code, out := runSilt(t, append([]string{"check", "--data-dir", data, "--bucket"}, s3...)...)
	t.Logf("silt check on the damaged directory (exit %d):\n%s", code, out)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := []string{
		fmt.Sprintf("PROBLEM segment %d (db.cpu, %s): damaged: the file's CRC-64/NVME is ", seg.ID, seg.Path),
		"the manifest recorded " + seg.Checksum + " when it was written; row group 0, column",
		"crc32 checksum mismatch in page",
		fmt.Sprintf("PROBLEM wal wal/%s: truncated: the file ends inside a record", filepath.Base(walFile)),
		fmt.Sprintf("PROBLEM segment %d (db.cpu, %s): object %s is missing from the bucket", gone.ID, gone.Path, gone.Path),
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if n := strings.Count(out, "PROBLEM "); n != 3 {
		t.Errorf("%d problems reported, want 3", n)
	}
	if t.Failed() {
		t.FailNow()
	}

	code, out = runSilt(t, append([]string{"check", "--data-dir", data, "--bucket", "--repair"}, s3...)...)
	t.Logf("silt check --repair (exit %d):\n%s", code, out)
	for _, w := range []string{
		fmt.Sprintf("repaired: segment %d (db.cpu, %s) moved to", seg.ID, seg.Path),
		fmt.Sprintf("repaired: segment %d (db.cpu, %s) moved to", gone.ID, gone.Path),
		fmt.Sprintf("repaired: wal/%s: ", filepath.Base(walFile)),
	} {
		if !strings.Contains(out, w) {
			t.Errorf("repair output lacks %q", w)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	code, out = runSilt(t, append([]string{"check", "--data-dir", data, "--bucket"}, s3...)...)
	if code != 1 || strings.Contains(out, "PROBLEM ") || !strings.Contains(out, "quarantine: ") {
		t.Fatalf("after the repair: exit %d, want 1 for the quarantine alone:\n%s", code, out)
	}
	// The server starts on the repaired directory and serves the rest.
	p = h.start(data, s3...)
	code2, rows, ecode := sqlRows(t, p, "db", "SELECT count(*) FROM cpu")
	if code2 != http.StatusOK || len(rows) != 1 {
		t.Fatalf("query after the repair: %d %s %v", code2, ecode, rows)
	}
	// The WAL's cut record was the 200 rows' one request.
	if n := rows[0][0].(float64); n != float64(6000-seg.Rows-gone.Rows) {
		t.Fatalf("%v rows after the repair, want 6000 less the quarantined segments' %d and %d", n, seg.Rows, gone.Rows)
	}
}

// flipPageByte flips the last byte of the largest column chunk of a
// segment's first row group: data of its last page, which the page's
// CRC-32 covers.
func flipPageByte(t *testing.T, path string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(strings.NewReader(string(raw)), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	var at int64 = -1
	var best int64
	for _, c := range f.Metadata().RowGroups[0].Columns {
		if c.MetaData.TotalCompressedSize > best {
			best = c.MetaData.TotalCompressedSize
			start := c.MetaData.DataPageOffset
			if c.MetaData.DictionaryPageOffset > 0 && c.MetaData.DictionaryPageOffset < start {
				start = c.MetaData.DictionaryPageOffset
			}
			at = start + best - 1
		}
	}
	if at < 0 {
		t.Fatal("no column chunk")
	}
	raw[at] ^= 0x40
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// newestWAL returns the newest non-empty WAL file in dir.
func newestWAL(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Size() > 0 && strings.HasSuffix(e.Name(), ".wal") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		t.Fatal("no WAL file with records")
	}
	sort.Strings(names)
	return filepath.Join(dir, names[len(names)-1])
}

// s3Only keeps the --s3.* flags (with their values) of a server's flags.
func s3Only(flags []string) []string {
	var out []string
	for i := 0; i < len(flags); i++ {
		if !strings.HasPrefix(flags[i], "--s3.") {
			continue
		}
		out = append(out, flags[i])
		if i+1 < len(flags) && !strings.HasPrefix(flags[i+1], "--") {
			out = append(out, flags[i+1])
			i++
		}
	}
	return out
}

// checkSummary returns the summary lines of silt check's output.
func checkSummary(out string) []string {
	var sum []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "segments: ") || strings.HasPrefix(l, "wal: ") || strings.HasPrefix(l, "bucket: ") {
			sum = append(sum, l)
		}
	}
	return sum
}
