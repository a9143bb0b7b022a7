package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/siltdb/silt/internal/testutil/miniotest"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/tiering"
)

// runSilt runs the silt binary with args and returns its combined output.
func runSilt(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(siltBinary(t), args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		}
		t.Fatalf("run silt %v: %v", args, err)
	}
	return 0, string(out)
}

// TestBackupRestoreE2E backs up a server while a writer keeps writing, to a
// real MinIO bucket: the restored server holds every row acknowledged
// before the backup began (and no row never sent); a second backup of the
// quiet server copies only segments the first did not have, and its
// restore answers exactly as the original. A directory destination works
// the same.
func TestBackupRestoreE2E(t *testing.T) {
	skipShort(t)
	srv := miniotest.Start(t)
	store, err := tiering.NewS3Store(tiering.S3Options{Endpoint: srv.Endpoint, Bucket: "backups", Insecure: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Addressing: "path", Prefix: "silt"})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	s3Args := []string{"--s3.endpoint", srv.Endpoint, "--s3.insecure", "--s3.access-key", srv.AccessKey,
		"--s3.secret-key", srv.SecretKey, "--s3.addressing", "path"}
	h := newHarness(t)
	dataDir := filepath.Join(h.dir, "data")
	p := h.start(dataDir, "--flush-interval", "300ms", "--compaction.interval", "1h")

	// The writer: batches of 50 rows, each batch's rows recorded once
	// acknowledged, in order.
	type row struct {
		key pointKey
		val string
	}
	var (
		mu      sync.Mutex
		acked   [][]row
		sent    = map[pointKey]string{}
		stop    = make(chan struct{})
		stopped = make(chan struct{})
		werr    error
	)
	base := time.Now().Add(-time.Hour).UnixNano()
	go func() {
		defer close(stopped)
		for b := 0; ; b++ {
			select {
			case <-stop:
				return
			default:
			}
			var lp strings.Builder
			rows := make([]row, 0, 50)
			for i := range 50 {
				n := int64(b*50 + i)
				k := pointKey{Table: "cpu", Series: fmt.Sprintf("host=h%d", n%7), Time: base + n*int64(time.Millisecond)}
				v := fmt.Sprintf("v=%di", n*31%1009)
				fmt.Fprintf(&lp, "cpu,%s %s %d\n", k.Series, v, k.Time)
				rows = append(rows, row{k, v})
			}
			mu.Lock()
			for _, r := range rows {
				sent[r.key] = r.val
			}
			mu.Unlock()
			code, body, _, err := p.write("bk", []byte(lp.String()))
			if err != nil || code != http.StatusNoContent {
				if code == http.StatusTooManyRequests {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				mu.Lock()
				werr = fmt.Errorf("write: %d %s %v", code, body, err)
				mu.Unlock()
				return
			}
			mu.Lock()
			acked = append(acked, rows)
			mu.Unlock()
		}
	}()
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	// Wait for segments and some WAL behind them.
	for {
		m, err := manifest.LoadManifest(dataDir)
		if err == nil && len(m.Segments) >= 2 && ackedCount() >= 40 {
			break
		}
		select {
		case <-stopped:
			t.Fatalf("writer stopped: %v", werr)
		default:
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := ackedCount()
	code, out := runSilt(t, append([]string{"backup", "--server", p.base, "--to", "s3://backups/silt"}, s3Args...)...)
	if code != 0 {
		t.Fatalf("backup under load: exit %d\n%s", code, out)
	}
	t.Logf("first backup: %s", lastLine(out))
	time.Sleep(100 * time.Millisecond) // a few writes after the backup, to be left out or not
	close(stop)
	<-stopped
	if werr != nil {
		t.Fatal(werr)
	}

	// Restore the backup taken under load.
	r1Dir := filepath.Join(h.dir, "restored1")
	if code, out := runSilt(t, append([]string{"restore", "--from", "s3://backups/silt", "--data-dir", r1Dir}, s3Args...)...); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	r1 := h.start(r1Dir)
	got, err := r1.export("bk", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	var missing []string
	for _, b := range acked[:before] {
		for _, r := range b {
			if got[r.key] != r.val {
				missing = append(missing, fmt.Sprintf("%v=%q (restored %q)", r.key, r.val, got[r.key]))
			}
		}
	}
	for k, v := range got {
		if sent[k] != v {
			missing = append(missing, fmt.Sprintf("restored %v=%q was never sent (sent %q)", k, v, sent[k]))
		}
	}
	mu.Unlock()
	if len(missing) > 0 {
		t.Fatalf("%d problems in the restored data (%d batches acknowledged before the backup), first: %v",
			len(missing), before, missing[:min(5, len(missing))])
	}
	if r1.term() != 0 {
		t.Fatal("restored server did not stop cleanly")
	}

	// The quiet server: wait for everything to be flushed to segments so
	// the second backup has new segments to copy.
	for {
		if v, err := metricValue(p, "silt_head_rows"); err == nil && v == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, out = runSilt(t, append([]string{"backup", "--server", p.base, "--to", "s3://backups/silt"}, s3Args...)...)
	if code != 0 {
		t.Fatalf("second backup: exit %d\n%s", code, out)
	}
	t.Logf("second backup: %s", lastLine(out))
	ids, err := listBackups(context.Background(), store)
	if err != nil || len(ids) != 2 {
		t.Fatalf("backups in the bucket: %v %v, want 2", ids, err)
	}
	b1, err := readBackupManifest(context.Background(), store, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	b2, err := readBackupManifest(context.Background(), store, ids[1])
	if err != nil {
		t.Fatal(err)
	}
	inFirst := map[string]bool{}
	for _, f := range b1.Files {
		if f.Kind == "segment" {
			inFirst[f.Path] = true
		}
	}
	var reused, copied int
	for _, f := range b2.Files {
		if f.Kind != "segment" {
			continue
		}
		if f.Reused != inFirst[f.Path] {
			t.Errorf("second backup: segment %s reused=%v, but in the first backup=%v", f.Path, f.Reused, inFirst[f.Path])
		}
		if f.Reused {
			reused++
		} else {
			copied++
		}
	}
	if reused == 0 || copied == 0 {
		t.Fatalf("second backup reused %d and copied %d segments; want both > 0 (first backup had %d)", reused, copied, len(inFirst))
	}

	// Its restore answers as the original.
	want, err := p.export("bk", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	r2Dir := filepath.Join(h.dir, "restored2")
	if code, out := runSilt(t, append([]string{"restore", "--from", "s3://backups/silt", "--data-dir", r2Dir}, s3Args...)...); code != 0 {
		t.Fatalf("restore of the second backup: exit %d\n%s", code, out)
	}
	r2 := h.start(r2Dir)
	sameAnswers(t, "s3 restore", p, r2, want)

	// A directory destination, restored with a named backup.
	dirDest := filepath.Join(h.dir, "backup-dir")
	if code, out := runSilt(t, "backup", "--server", p.base, "--to", dirDest); code != 0 {
		t.Fatalf("backup to a directory: exit %d\n%s", code, out)
	}
	ents, err := os.ReadDir(filepath.Join(dirDest, "backups"))
	if err != nil || len(ents) != 1 {
		t.Fatalf("backup directory holds %v (%v), want one backup", ents, err)
	}
	r3Dir := filepath.Join(h.dir, "restored3")
	if code, out := runSilt(t, "restore", "--from", dirDest, "--backup", ents[0].Name(), "--data-dir", r3Dir); code != 0 {
		t.Fatalf("restore from a directory: exit %d\n%s", code, out)
	}
	// The restored directories check clean.
	for _, d := range []string{r3Dir} {
		if code, out := runSilt(t, "check", "--data-dir", d); code != 0 {
			t.Errorf("silt check on %s: exit %d\n%s", d, code, out)
		}
	}
	r3 := h.start(r3Dir)
	sameAnswers(t, "directory restore", p, r3, want)

	// Restore refuses a directory that is in use.
	if code, out := runSilt(t, "restore", "--from", dirDest, "--data-dir", r3Dir); code == 0 || !strings.Contains(out, "not empty") {
		t.Errorf("restore over a used directory: exit %d\n%s", code, out)
	}
}

// sameAnswers compares a restored server with the original: the export
// and an aggregate query.
func sameAnswers(t *testing.T, who string, orig, restored *siltProc, want map[pointKey]string) {
	t.Helper()
	got, err := restored.export("bk", "cpu")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: %d points, the original has %d", who, len(got), len(want))
	}
	q := "SELECT host, count(*), sum(v), min(time), max(time) FROM cpu GROUP BY host ORDER BY host"
	c1, a, e1 := sqlRows(t, orig, "bk", q)
	c2, b, e2 := sqlRows(t, restored, "bk", q)
	if c1 != http.StatusOK || c2 != http.StatusOK || !reflect.DeepEqual(a, b) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		t.Fatalf("%s: query answers differ:\noriginal %d %s %s\nrestored %d %s %s", who, c1, e1, ja, c2, e2, jb)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
