package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/siltdb/silt/ingest/sink"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/segment"
)

// Quarantine: rows that cannot be flushed (or a WAL record that cannot be
// replayed) are moved aside instead of blocking every other table. Each
// quarantined batch is a directory under <data-dir>/quarantine holding
// reason.json (a QuarantineEntry) and wal/, the rows as WAL records in the
// engine's record format (readable with the wal package), so nothing
// acknowledged is thrown away. The directory is durable before the WAL
// files that held the rows are removed.

// QuarantineDir is the quarantine's directory inside the data directory.
const QuarantineDir = "quarantine"

// QuarantineEntry describes one quarantined batch (its reason.json).
type QuarantineEntry struct {
	Dir    string    `json:"-"` // path of the entry's directory
	Time   time.Time `json:"time"`
	Stage  string    `json:"stage"` // "flush" or "replay"
	DB     string    `json:"db,omitempty"`
	Table  string    `json:"table,omitempty"`
	Rows   int       `json:"rows"`
	Reason string    `json:"reason"`
	// WALFile names the WAL file that held a record quarantined at replay.
	WALFile uint64 `json:"wal_file,omitempty"`
}

var quarantineSeq atomic.Uint64

// transientFlushError reports whether a flush failure is the machine's, not
// the batch's: a full disk or an I/O error fails every table alike and is
// retried, never quarantined (quarantining would move good rows aside).
func transientFlushError(err error) bool {
	return sink.IsDiskFull(err) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS) ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOMEM)
}

// errPanic wraps a panic recovered while flushing or replaying.
type errPanic struct {
	v     any
	stack []byte
}

func (p *errPanic) Error() string { return fmt.Sprintf("panic: %v", p.v) }

// catch runs fn, turning a panic into an error.
func catch(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &errPanic{v: v, stack: debug.Stack()}
		}
	}()
	return fn()
}

// quarantineRecords writes records (WAL payloads) and ent durably into a
// new quarantine directory, counts and logs it.
func (e *Engine) quarantineRecords(ent QuarantineEntry, records [][]byte) error {
	root := filepath.Join(e.cfg.DataDir, QuarantineDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("create quarantine dir: %w", err)
	}
	ent.Time = time.Now().UTC()
	name := fmt.Sprintf("%s-%d-%s", ent.Time.Format("20060102T150405.000000000Z"), quarantineSeq.Add(1), ent.Stage)
	tmp := filepath.Join(root, ".tmp-"+name)
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	err := func() error {
		w, err := wal.Open(filepath.Join(tmp, "wal"), wal.Options{SegmentBytes: 1 << 62, Metrics: wal.NopMetrics{}})
		if err != nil {
			return err
		}
		var pos wal.Pos
		for _, r := range records {
			if pos, err = w.Append(r); err != nil {
				return errors.Join(err, w.Close())
			}
		}
		if err := w.Sync(pos); err != nil {
			return errors.Join(err, w.Close())
		}
		if err := w.Close(); err != nil {
			return err
		}
		js, err := json.MarshalIndent(ent, "", "  ")
		if err != nil {
			return err
		}
		if err := writeFileSync(filepath.Join(tmp, "reason.json"), append(js, '\n')); err != nil {
			return err
		}
		if err := syncDir(tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(root, name)); err != nil {
			return err
		}
		return syncDir(root)
	}()
	if err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("quarantine %s rows of %s.%s: %w", ent.Stage, ent.DB, ent.Table, err)
	}
	e.metrics.QuarantinedBatches.Inc()
	e.metrics.QuarantinedRows.Add(float64(ent.Rows))
	e.metrics.QuarantineEntries.Add(1)
	e.log.Error("quarantined rows that cannot be stored; the others go on (list with 'silt check')",
		"stage", ent.Stage, "db", ent.DB, "table", ent.Table, "rows", ent.Rows, "reason", ent.Reason,
		"dir", filepath.Join(root, name))
	return nil
}

// quarantineHead moves the rows of a frozen head that failed to flush into
// the quarantine, as WAL records of at most 64Ki rows each.
func (e *Engine) quarantineHead(db, table string, h *segment.Head, cause error) error {
	var records [][]byte
	err := catch(func() error {
		var b columnar.Batch
		h.AppendRows(&b, table)
		const chunk = 1 << 16
		all := b.Rows
		for len(all) > 0 {
			n := min(chunk, len(all))
			b.Rows = all[:n]
			records = append(records, appendRecord(nil, db, &b))
			all = all[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read back the rows of %s.%s: %w", db, table, err)
	}
	return e.quarantineRecords(QuarantineEntry{Stage: "flush", DB: db, Table: table, Rows: h.Len(),
		Reason: cause.Error()}, records)
}

// ListQuarantine returns the quarantined batches of the data directory dir,
// oldest first. It reads only the quarantine directory, so it may run next
// to a live server.
func ListQuarantine(dir string) ([]QuarantineEntry, error) {
	root := filepath.Join(dir, QuarantineDir)
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	var out []QuarantineEntry
	for _, d := range ents {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			continue
		}
		p := filepath.Join(root, d.Name())
		ent := QuarantineEntry{Dir: p}
		js, err := os.ReadFile(filepath.Join(p, "reason.json"))
		if err == nil {
			err = json.Unmarshal(js, &ent)
		}
		if err != nil {
			ent.Reason = fmt.Sprintf("unreadable reason.json: %v", err)
		}
		out = append(out, ent)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Sync(); err != nil {
		return errors.Join(err, f.Close())
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
