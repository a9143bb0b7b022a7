package server

import (
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
)

// The backup endpoints' refusals name what the client asked for, never a
// path of the server's data directory.
func TestBackupErrorsHideDataDir(t *testing.T) {
	srv := startServer(t, 0)
	for _, c := range []struct{ method, path, code string }{
		{"DELETE", "/api/v1/backup?id=nosuch", "snapshot-not-found"},
		{"GET", "/api/v1/backup/file?id=nosuch&path=manifest.json", "snapshot-file-not-found"},
		{"GET", "/api/v1/backup/file?id=nosuch&path=../../etc/passwd", "snapshot-file-not-found"},
	} {
		req, err := http.NewRequest(c.method, srv.url+c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), `"code":"`+c.code+`"`) {
			t.Errorf("%s %s: %d %s; want 404 %s", c.method, c.path, resp.StatusCode, body, c.code)
		}
		if strings.Contains(string(body), os.TempDir()) || strings.Contains(string(body), "backup-snapshots") {
			t.Errorf("%s %s: the answer names a server path: %s", c.method, c.path, body)
		}
	}
}
