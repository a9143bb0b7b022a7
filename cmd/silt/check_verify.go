package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/engine/wal"
	"github.com/siltdb/silt/internal/fileutil"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// checker is one run of `silt check` over a data directory.
type checker struct {
	dir   string
	out   io.Writer
	store tiering.ObjectStore // the tiering bucket, with --bucket
	// online: a server holds the data directory's lock.
	online bool
	m      *manifest.Manifest

	problems []string
	// Repairs, applied by repair: segments to take out of the manifest
	// (id → why) and WAL files to cut (path → damaged ranges).
	dropSegs map[uint64]string
	walCuts  map[string][]wal.Corruption
}

func (c *checker) problem(what, format string, args ...any) {
	msg := what + ": " + fmt.Sprintf(format, args...)
	c.problems = append(c.problems, msg)
	fmt.Fprintln(c.out, "PROBLEM "+msg)
}

func (c *checker) note(what, format string, args ...any) {
	fmt.Fprintln(c.out, "note "+what+": "+fmt.Sprintf(format, args...))
}

// lock finds out whether a server runs on the directory (it holds an
// exclusive flock on LOCK). A repair keeps the lock until it is done, so no
// server starts meanwhile; a read-only check lets go at once.
func (c *checker) lock(repair bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.dir, "LOCK"), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil // no server ever ran here
	}
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if repair {
			return nil, fmt.Errorf("a server is running on %s: stop it before --repair", c.dir)
		}
		c.online = true
		return func() {}, nil
	}
	if !repair {
		f.Close()
		return func() {}, nil
	}
	return func() { f.Close() }, nil
}

func (c *checker) run() error {
	c.dropSegs = map[uint64]string{}
	c.walCuts = map[string][]wal.Corruption{}
	if c.online {
		c.note("server", "a server is running on this directory: files it replaces during the check are skipped")
	}
	m, err := manifest.LoadManifest(c.dir)
	if err != nil {
		c.problem("manifest", "%v", err)
		m = nil
	} else if _, err := os.Stat(filepath.Join(c.dir, manifest.ManifestFile)); err != nil {
		c.note("manifest", "no %s: an empty data directory (or a restore that did not finish)", manifest.ManifestFile)
	}
	c.m = m
	if m != nil {
		c.checkManifest()
		c.checkSegments()
		c.checkOrphans()
	}
	walFrom := uint64(0)
	if m != nil {
		walFrom = m.WALSeq
	}
	if err := c.checkWAL(walFrom); err != nil {
		return err
	}
	if c.store != nil && m != nil {
		c.checkBucket()
	}
	return nil
}

func segName(s segment.SegmentMeta) string {
	kind := "segment"
	if s.IsRollup() {
		kind = "rollup segment"
	}
	return fmt.Sprintf("%s %d (%s.%s, %s)", kind, s.ID, s.DB, s.Table, s.Path)
}

func (c *checker) checkManifest() {
	m := c.m
	ids := map[uint64]bool{}
	for _, s := range m.Segments {
		if ids[s.ID] {
			c.problem("manifest", "segment id %d is listed twice", s.ID)
		}
		ids[s.ID] = true
		if s.ID >= m.NextSegmentID {
			c.problem("manifest", "segment id %d is not below next_segment_id %d: a new segment could take its name", s.ID, m.NextSegmentID)
		}
		if m.Schemas[s.DB][s.Table] == nil {
			c.problem("manifest", "%s: table %s.%s has no schema", segName(s), s.DB, s.Table)
		}
		if p := filepath.FromSlash(s.Path); !filepath.IsLocal(p) || !strings.HasPrefix(s.Path, "segments/") {
			c.problem("manifest", "%s: path is not under segments/", segName(s))
		}
	}
	for _, s := range m.Segments {
		if s.IsRollup() && !ids[s.Of] {
			c.problem("manifest", "%s summarizes segment %d, which the manifest does not list", segName(s), s.Of)
			c.dropSegs[s.ID] = "its raw segment is not in the manifest"
		}
	}
	local, cold := 0, 0
	for _, s := range m.Segments {
		if s.Cold() {
			cold++
		} else {
			local++
		}
	}
	fmt.Fprintf(c.out, "manifest: generation %d, %d segments (%d local, %d tiered), WAL covered below file %d\n",
		m.Generation, len(m.Segments), local, cold, m.WALSeq)
}

// stillListed reports whether a live server's current manifest still names
// segment id: a segment compaction, retention or tiering replaced after
// the check read the manifest is gone on purpose.
func (c *checker) stillListed(id uint64) bool {
	if !c.online {
		return true
	}
	m, err := manifest.LoadManifest(c.dir)
	if err != nil {
		return true
	}
	for _, s := range m.Segments {
		if s.ID == id && !s.Cold() {
			return true
		}
	}
	return false
}

func (c *checker) checkSegments() {
	n, bytes := 0, int64(0)
	for _, s := range c.m.Segments {
		if s.Cold() {
			continue
		}
		if err := c.checkSegment(s); err != nil {
			if !c.stillListed(s.ID) {
				continue
			}
			c.problem(segName(s), "%v", err)
			c.dropSegs[s.ID] = err.Error()
			continue
		}
		n++
		bytes += s.Bytes
	}
	fmt.Fprintf(c.out, "segments: %d local segments verified (%d bytes)\n", n, bytes)
}

func (c *checker) checkSegment(s segment.SegmentMeta) error {
	p := filepath.Join(c.dir, filepath.FromSlash(s.Path))
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the file is missing")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if s.Bytes > 0 && st.Size() != s.Bytes {
		return fmt.Errorf("the file has %d bytes, the manifest recorded %d (truncated or replaced)", st.Size(), s.Bytes)
	}
	info, verr := segment.Verify(f, st.Size(), p)
	if s.Checksum != "" {
		// The whole file's checksum covers what page CRCs do not: page
		// headers, statistics, the page index and the footer.
		sum, err := segment.FileChecksum(io.NewSectionReader(f, 0, st.Size()))
		if err != nil {
			return err
		}
		if sum != s.Checksum {
			where := "the pages themselves read clean, so the damage is in page headers, statistics, the page index or the footer"
			if verr != nil {
				where = verr.Error()
			}
			return fmt.Errorf("damaged: the file's CRC-64/NVME is %s, the manifest recorded %s when it was written; %s", sum, s.Checksum, where)
		}
	}
	if verr != nil {
		return fmt.Errorf("damaged: %w", verr)
	}
	return metaAgrees(s, info)
}

// metaAgrees compares a segment's own info with its manifest entry.
func metaAgrees(s segment.SegmentMeta, info segment.SegmentInfo) error {
	switch {
	case info.DB != s.DB || info.Table != s.Table:
		return fmt.Errorf("the file holds %s.%s, the manifest says %s.%s", info.DB, info.Table, s.DB, s.Table)
	case info.Rows != s.Rows:
		return fmt.Errorf("the file holds %d rows, the manifest says %d", info.Rows, s.Rows)
	case info.Rows > 0 && (info.MinTime != s.MinTime || info.MaxTime != s.MaxTime):
		return fmt.Errorf("the file's time range [%d, %d] differs from the manifest's [%d, %d]", info.MinTime, info.MaxTime, s.MinTime, s.MaxTime)
	}
	return nil
}

// checkOrphans notes segment files the manifest does not name.
func (c *checker) checkOrphans() {
	live := map[string]bool{}
	for _, s := range c.m.Segments {
		live[s.Path] = true
	}
	n := 0
	_ = filepath.WalkDir(filepath.Join(c.dir, "segments"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return nil
		}
		rel, err := filepath.Rel(c.dir, p)
		if err == nil && !live[filepath.ToSlash(rel)] {
			n++
		}
		return nil
	})
	if n > 0 {
		c.note("segments", "%d files under segments/ are not named by the manifest (an interrupted flush or merge, or one in progress): the server removes them at its next start", n)
	}
}

func (c *checker) checkWAL(from uint64) error {
	dir := filepath.Join(c.dir, "wal")
	st, err := wal.Verify(dir, from)
	if err != nil {
		return fmt.Errorf("verify wal: %w", err)
	}
	for _, k := range st.Corrupted {
		c.problem("wal "+relTo(c.dir, k.File), "%d damaged bytes at offset %d (%s): the rows of the records there are lost; replay skips them", k.Bytes, k.Offset, k.Reason)
		c.walCuts[k.File] = append(c.walCuts[k.File], k)
	}
	if t := st.Torn; t.Bytes > 0 {
		if c.online {
			c.note("wal "+relTo(c.dir, t.File), "ends in %d bytes of a record being written (the server is running)", t.Bytes)
		} else {
			c.problem("wal "+relTo(c.dir, t.File), "truncated: the file ends inside a record at offset %d (%d bytes of it present); "+
				"a crash mid-write leaves this for a write never acknowledged, anything else lost acknowledged rows; replay drops it", t.Offset, t.Bytes)
			c.walCuts[t.File] = append(c.walCuts[t.File], t)
		}
	}
	fmt.Fprintf(c.out, "wal: %d files, %d records verified (%d bytes)\n", st.Files, st.Records, st.Bytes)
	return nil
}

func relTo(dir, p string) string {
	if r, err := filepath.Rel(dir, p); err == nil {
		return filepath.ToSlash(r)
	}
	return p
}

func (c *checker) checkBucket() {
	ctx := context.Background()
	n := 0
	for _, s := range c.m.Segments {
		if !s.Cold() {
			continue
		}
		info, err := c.store.Stat(ctx, s.Path)
		var why string
		switch {
		case errors.Is(err, tiering.ErrNotFound):
			why = fmt.Sprintf("object %s is missing from the bucket", s.Path)
		case err != nil:
			c.problem(segName(s), "cannot stat its object: %v", err)
			continue
		case s.Bytes > 0 && info.Size != s.Bytes:
			why = fmt.Sprintf("object %s has %d bytes, the manifest recorded %d", s.Path, info.Size, s.Bytes)
		case s.Checksum != "" && info.Checksum != "" && info.Checksum != s.Checksum:
			why = fmt.Sprintf("object %s has CRC-64/NVME %s, the manifest recorded %s", s.Path, info.Checksum, s.Checksum)
		}
		if why != "" {
			if c.online {
				if m, err := manifest.LoadManifest(c.dir); err == nil && !slices.ContainsFunc(m.Segments, func(x segment.SegmentMeta) bool { return x.ID == s.ID }) {
					continue // dropped meanwhile
				}
			}
			c.problem(segName(s), "%s", why)
			c.dropSegs[s.ID] = why
			continue
		}
		n++
	}
	fmt.Fprintf(c.out, "bucket: %d tiered segment objects verified\n", n)
}

func (c *checker) repairable() bool { return len(c.dropSegs) > 0 || len(c.walCuts) > 0 }

// repair moves what the check found damaged into the quarantine. The
// server is stopped (lock held).
func (c *checker) repair() error {
	if !c.repairable() {
		fmt.Fprintln(c.out, "repair: nothing --repair can fix; see the problems above")
		return nil
	}
	qroot := filepath.Join(c.dir, engine.QuarantineDir)
	stamp := time.Now().UTC()
	newEntry := func(name string, ent engine.QuarantineEntry) (string, error) {
		d := filepath.Join(qroot, fmt.Sprintf("check-%s-%s", stamp.Format("20060102T150405.000000000Z"), name))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
		ent.Time, ent.Stage = stamp, "check"
		raw, err := json.MarshalIndent(ent, "", " ")
		if err != nil {
			return "", err
		}
		return d, fileutil.WriteFileAtomic(filepath.Join(d, "reason.json"), raw)
	}
	if len(c.dropSegs) > 0 {
		// A damaged raw segment takes its rollups with it.
		for _, s := range c.m.Segments {
			if why, ok := c.dropSegs[s.Of]; ok && s.IsRollup() {
				if _, done := c.dropSegs[s.ID]; !done {
					c.dropSegs[s.ID] = "its raw segment was quarantined: " + why
				}
			}
		}
		nm := c.m.Clone()
		nm.Segments = nm.Segments[:0]
		for _, s := range c.m.Segments {
			why, drop := c.dropSegs[s.ID]
			if !drop {
				nm.Segments = append(nm.Segments, s)
				continue
			}
			d, err := newEntry(fmt.Sprintf("segment-%d", s.ID), engine.QuarantineEntry{DB: s.DB, Table: s.Table, Rows: int(s.Rows),
				Reason: fmt.Sprintf("%s taken out of the manifest by silt check: %s", segName(s), why)})
			if err != nil {
				return err
			}
			if !s.Cold() {
				src := filepath.Join(c.dir, filepath.FromSlash(s.Path))
				if err := os.Rename(src, filepath.Join(d, filepath.Base(src))); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("move %s into the quarantine: %w", s.Path, err)
				}
			}
			fmt.Fprintf(c.out, "repaired: %s moved to %s and out of the manifest\n", segName(s), d)
		}
		if err := nm.Commit(c.dir); err != nil {
			return err
		}
	}
	for file, cuts := range c.walCuts {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		d, err := newEntry("wal-"+strings.TrimSuffix(filepath.Base(file), ".wal"), engine.QuarantineEntry{
			Reason: fmt.Sprintf("silt check cut %d damaged stretch(es) out of %s; the original file is kept here", len(cuts), relTo(c.dir, file))})
		if err != nil {
			return err
		}
		if err := fileutil.WriteFileAtomic(filepath.Join(d, filepath.Base(file)), data); err != nil {
			return err
		}
		slices.SortFunc(cuts, func(a, b wal.Corruption) int { return int(a.Offset - b.Offset) })
		kept := make([]byte, 0, len(data))
		at := int64(0)
		for _, k := range cuts {
			kept = append(kept, data[at:k.Offset]...)
			at = k.Offset + k.Bytes
		}
		kept = append(kept, data[min(at, int64(len(data))):]...)
		if err := fileutil.WriteFileAtomic(file, kept); err != nil {
			return err
		}
		fmt.Fprintf(c.out, "repaired: %s: %d damaged bytes cut out, the original kept in %s\n", relTo(c.dir, file), len(data)-len(kept), d)
	}
	return nil
}
