package console

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// downloads lets the page save files into a directory and says, by the
// download's GUID (its file's name there), when each is complete.
type downloads struct {
	dir  string
	done chan string
}

func (b *browser) allowDownloads(t *testing.T) *downloads {
	t.Helper()
	d := &downloads{dir: t.TempDir(), done: make(chan string, 8)}
	// The events come to the session the behavior was set in: the
	// browser's here (the page's, with some Chromium versions).
	seen := map[string]bool{}
	var mu sync.Mutex
	listen := func(ev any) {
		if e, ok := ev.(*cdpbrowser.EventDownloadProgress); ok && e.State == cdpbrowser.DownloadProgressStateCompleted {
			mu.Lock()
			defer mu.Unlock()
			if !seen[e.GUID] {
				seen[e.GUID] = true
				select {
				case d.done <- e.GUID:
				default: // never block the browser's event loop
				}
			}
		}
	}
	chromedp.ListenTarget(b.ctx, listen)
	chromedp.ListenBrowser(b.ctx, listen)
	// Sent to the browser, not the page: it is the browser's setting.
	b.run("allow downloads", chromedp.ActionFunc(func(ctx context.Context) error {
		return cdpbrowser.SetDownloadBehavior(cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName).
			WithDownloadPath(d.dir).WithEventsEnabled(true).Do(cdp.WithExecutor(ctx, chromedp.FromContext(ctx).Browser))
	}))
	return d
}

// next waits for the next completed download and reads it.
func (d *downloads) next(t *testing.T) []byte {
	t.Helper()
	select {
	case guid := <-d.done:
		data, err := os.ReadFile(filepath.Join(d.dir, guid))
		if err != nil {
			t.Fatalf("read the download: %v", err)
		}
		return data
	case <-time.After(20 * time.Second): // a hang guard, not a timing bound
		ents, _ := os.ReadDir(d.dir)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("no download completed; %s holds %v", d.dir, names)
		return nil
	}
}

// arrowStreamCells reads an Arrow IPC stream into text cells, header
// first (cellText).
func arrowStreamCells(t *testing.T, data []byte) [][]string {
	t.Helper()
	rd, err := ipc.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read the Arrow stream: %v", err)
	}
	defer rd.Release()
	out := [][]string{fieldNames(rd.Schema())}
	for rd.Next() {
		out = appendCells(t, out, rd.RecordBatch())
	}
	if err := rd.Err(); err != nil {
		t.Fatalf("read the Arrow stream: %v", err)
	}
	return out
}

// parquetCells reads a Parquet file into text cells, header first.
func parquetCells(t *testing.T, data []byte) [][]string {
	t.Helper()
	pr, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open the Parquet file: %v", err)
	}
	fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatalf("open the Parquet file: %v", err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("read the Parquet file: %v", err)
	}
	defer tbl.Release()
	out := [][]string{fieldNames(tbl.Schema())}
	tr := array.NewTableReader(tbl, -1)
	defer tr.Release()
	for tr.Next() {
		out = appendCells(t, out, tr.RecordBatch())
	}
	return out
}

func fieldNames(s *arrow.Schema) []string {
	var names []string
	for _, f := range s.Fields() {
		names = append(names, f.Name)
	}
	return names
}

// appendCells adds rec's rows as the console shows cells: times in ISO
// 8601 with milliseconds (JavaScript's toISOString), numbers as
// JavaScript writes them, NULL as "".
func appendCells(t *testing.T, out [][]string, rec arrow.RecordBatch) [][]string {
	t.Helper()
	for i := 0; i < int(rec.NumRows()); i++ {
		row := make([]string, rec.NumCols())
		for j := range row {
			col := rec.Column(j)
			if col.IsNull(i) {
				continue
			}
			switch a := col.(type) {
			case *array.String:
				row[j] = a.Value(i)
			case *array.Timestamp:
				row[j] = time.Unix(0, int64(a.Value(i))).UTC().Format("2006-01-02T15:04:05.000Z")
			case *array.Float64:
				row[j] = jsNumber(a.Value(i))
			case *array.Int64:
				row[j] = strconv.FormatInt(a.Value(i), 10)
			case *array.Uint64:
				row[j] = strconv.FormatUint(a.Value(i), 10)
			case *array.Boolean:
				row[j] = strconv.FormatBool(a.Value(i))
			default:
				t.Fatalf("column %s is of type %s", rec.ColumnName(j), col.DataType())
			}
		}
		out = append(out, row)
	}
	return out
}

// jsNumber writes v as JavaScript's String(v) does, for the values of
// these tests (no exponents).
func jsNumber(v float64) string {
	if a := math.Abs(v); a != 0 && (a >= 1e21 || a < 1e-6) {
		return fmt.Sprint(v)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// sameTable checks that a file's table equals the table the console
// shows, column by column by name: the file names the console's name
// column iox::measurement (the layout of an InfluxQL answer as one table).
func sameTable(t *testing.T, what string, shown, got [][]string) {
	t.Helper()
	if len(got) != len(shown) || len(got[0]) != len(shown[0]) {
		t.Fatalf("%s: %d rows of %d columns %v, the console shows %d rows of %d columns %v", what, len(got)-1, len(got[0]), got[0], len(shown)-1, len(shown[0]), shown[0])
	}
	at := map[string]int{}
	for j, name := range got[0] {
		at[name] = j
	}
	for j, name := range shown[0] {
		fname := name
		if name == "name" {
			fname = "iox::measurement"
		}
		k, ok := at[fname]
		if !ok {
			t.Fatalf("%s: no column %s for the console's %s: %v", what, fname, name, got[0])
		}
		for r := 1; r < len(shown); r++ {
			if got[r][k] != shown[r][j] {
				t.Fatalf("%s: row %d column %s is %q, the console shows %q\nfile row %v\nshown row %v", what, r, name, got[r][k], shown[r][j], got[r], shown[r])
			}
		}
	}
}
