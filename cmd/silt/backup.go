package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/internal/fileutil"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

const backupUsage = `Usage: silt backup --to DIR|s3://bucket/prefix [flags]

Copies a consistent snapshot of a running server (the manifest, its local
segments and the WAL files the manifest does not cover yet) to a directory
or a bucket, without stopping writes: every write acknowledged before the
backup started is in it. Segments already in the destination (from an
earlier backup: same name and size) are not copied again. Every file is
checksummed (CRC-64/NVME) on the way and the checksums are kept in the
backup's backup.json. Segments the server has tiered to its bucket are
referenced, not copied (docs/backup.md).

The S3 destination uses the tiering client and its flags (--s3.endpoint,
credentials from --s3.access-key/--s3.secret-key[-file] or $AWS_ACCESS_KEY_ID
and $AWS_SECRET_ACCESS_KEY); bucket and prefix come from the URL.

Flags:
`

const restoreUsage = `Usage: silt restore --from DIR|s3://bucket/prefix --data-dir NEW [flags]

Writes a backup made by 'silt backup' into a new data directory, verifying
every file's checksum. Start 'silt serve --data-dir NEW' on it: the server
replays the backed-up WAL and answers as the original did at the backup.
Segments that were tiered are read from the bucket they were tiered to, so
start the server with the same --s3.* flags.

Flags:
`

// backupFormat is the version of backup.json.
const backupFormat = 1

// backupManifest is backup.json: what one backup holds and where.
type backupManifest struct {
	Format  int       `json:"format"`
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Server  string    `json:"server"`
	Version string    `json:"silt_version"`
	// Generation and WALSeq are the data manifest's.
	Generation uint64       `json:"manifest_generation"`
	WALSeq     uint64       `json:"wal_seq"`
	Files      []backupFile `json:"files"`
	// Cold are the segments held in the server's tiering bucket,
	// referenced by key (under the server's --s3.prefix) and checksum.
	Cold []segment.SegmentMeta `json:"cold,omitempty"`
}

// backupFile is one file of a backup: Path in the data directory, Key in
// the backup destination.
type backupFile struct {
	Path     string `json:"path"`
	Key      string `json:"key"`
	Kind     string `json:"kind"`
	Size     int64  `json:"size"`
	Checksum string `json:"crc64nvme"`
	// Reused is set when an earlier backup had copied the file already.
	Reused bool `json:"reused,omitempty"`
}

// Keys in a backup destination: segments are shared by every backup (their
// names never repeat: segment ids only grow), the rest is per backup.
const (
	backupSegmentsPrefix = "data/"
	backupsPrefix        = "backups/"
	backupManifestName   = "backup.json"
)

// s3FlagsOnly registers the tiering package's --s3.* flags on fs (not the
// cache ones, which a copy does not use) into tc.
func s3FlagsOnly(fs *flag.FlagSet, tc *tiering.Config) {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	tc.RegisterFlags(all)
	all.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "s3.") && f.Name != "s3.bucket" && f.Name != "s3.prefix" && f.Name != "s3.create-bucket" {
			fs.Var(f.Value, f.Name, f.Usage)
		}
	})
}

// openBackupStore opens DIR or s3://bucket/prefix as an object store.
func openBackupStore(where string, tc *tiering.Config, create bool) (tiering.ObjectStore, error) {
	if rest, ok := strings.CutPrefix(where, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, fmt.Errorf("%q names no bucket: want s3://bucket/prefix", where)
		}
		if err := tc.LoadSecrets(); err != nil {
			return nil, err
		}
		o := tc.S3
		o.Bucket, o.Prefix = bucket, strings.Trim(prefix, "/")
		if o.Endpoint == "" {
			return nil, fmt.Errorf("an s3:// location needs --s3.endpoint")
		}
		return tiering.NewS3Store(o)
	}
	if strings.Contains(where, "://") {
		return nil, fmt.Errorf("%q: want a directory or s3://bucket/prefix", where)
	}
	if !create {
		if _, err := os.Stat(where); err != nil {
			return nil, fmt.Errorf("backup directory: %w", err)
		}
	}
	return tiering.NewFSStore(where)
}

func runBackup(args []string) int {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:8086", "Silt server URL")
	token := fs.String("token", "", "API token with the admin scope (default $SILT_TOKEN)")
	to := fs.String("to", "", "destination: a directory or s3://bucket/prefix (required)")
	timeout := fs.Duration("timeout", 6*time.Hour, "give up after this long")
	tc := tiering.DefaultConfig()
	s3FlagsOnly(fs, &tc)
	fs.Usage = func() { fmt.Fprint(fs.Output(), backupUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *to == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "silt backup: need --to and no arguments")
		fs.Usage()
		return 2
	}
	if *token == "" {
		*token = os.Getenv("SILT_TOKEN")
	}
	store, err := openBackupStore(*to, &tc, true)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt backup:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := &backupClient{server: strings.TrimRight(*server, "/"), token: *token, http: &http.Client{}}
	bm, err := c.backup(ctx, store, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt backup:", err)
		return 1
	}
	var copied, reused int
	var copiedBytes int64
	for _, f := range bm.Files {
		if f.Reused {
			reused++
		} else {
			copied++
			copiedBytes += f.Size
		}
	}
	fmt.Printf("backup %s complete: %d files copied (%d bytes), %d segments reused from earlier backups, %d tiered segments referenced\n",
		bm.ID, copied, copiedBytes, reused, len(bm.Cold))
	return 0
}

type backupClient struct {
	server, token string
	http          *http.Client
}

func (c *backupClient) do(ctx context.Context, method, p string, q url.Values) (*http.Response, error) {
	u := c.server + p
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Token "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.server, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct{ Error, Code string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s %s: %s (%s)", method, p, e.Error, e.Code)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, p, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// backup pins a snapshot on the server, copies what the destination lacks
// and writes backup.json last: a backup without it is incomplete and
// restore does not see it.
func (c *backupClient) backup(ctx context.Context, store tiering.ObjectStore, progress io.Writer) (*backupManifest, error) {
	resp, err := c.do(ctx, http.MethodPost, "/api/v1/backup", nil)
	if err != nil {
		return nil, fmt.Errorf("pin a snapshot: %w", err)
	}
	var snap engine.Snapshot
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read the snapshot: %w", err)
	}
	defer func() {
		// Release the snapshot even when the copy failed or timed out.
		rctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if r, err := c.do(rctx, http.MethodDelete, "/api/v1/backup", url.Values{"id": {snap.ID}}); err == nil {
			r.Body.Close()
		} else {
			fmt.Fprintf(os.Stderr, "silt backup: release snapshot %s (the server drops it at its next start): %v\n", snap.ID, err)
		}
	}()
	var m manifest.Manifest
	if err := json.Unmarshal(snap.Manifest, &m); err != nil {
		return nil, fmt.Errorf("parse the snapshot's manifest: %w", err)
	}
	have, err := existingSegments(ctx, store)
	if err != nil {
		return nil, err
	}
	bm := &backupManifest{Format: backupFormat, ID: snap.ID, Created: time.Now().UTC(), Server: c.server,
		Version: version, Generation: m.Generation, WALSeq: m.WALSeq, Cold: snap.Cold}
	for _, f := range snap.Files {
		bf := backupFile{Path: f.Path, Kind: f.Kind, Size: f.Size}
		if f.Kind == "segment" {
			bf.Key = backupSegmentsPrefix + f.Path
			// Segment names never repeat, and the manifest's checksum
			// (when recorded) must match the copy's too.
			if prev, ok := have[bf.Key]; ok && prev.Size == f.Size && prev.Checksum != "" &&
				(f.Segment == nil || f.Segment.Checksum == "" || f.Segment.Checksum == prev.Checksum) {
				bf.Checksum, bf.Reused = prev.Checksum, true
				bm.Files = append(bm.Files, bf)
				continue
			}
		} else {
			bf.Key = backupsPrefix + snap.ID + "/" + f.Path
		}
		sum, err := c.copyFile(ctx, store, snap.ID, f, bf.Key)
		if err != nil {
			return nil, err
		}
		if f.Segment != nil && f.Segment.Checksum != "" && f.Segment.Checksum != sum {
			return nil, fmt.Errorf("segment %s: copied bytes have CRC-64/NVME %s, the manifest recorded %s: the server's file is damaged (run silt check)",
				f.Path, sum, f.Segment.Checksum)
		}
		bf.Checksum = sum
		bm.Files = append(bm.Files, bf)
		fmt.Fprintf(progress, "copied %s (%d bytes)\n", f.Path, f.Size)
	}
	raw, err := json.MarshalIndent(bm, "", " ")
	if err != nil {
		return nil, err
	}
	key := backupsPrefix + snap.ID + "/" + backupManifestName
	if _, err := store.Put(ctx, key, strings.NewReader(string(raw)), int64(len(raw))); err != nil {
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	return bm, nil
}

// existingSegments returns the segment objects earlier backups stored,
// with the checksums their backup.json recorded: an object no complete
// backup names (a backup interrupted mid-copy) is copied again.
func existingSegments(ctx context.Context, store tiering.ObjectStore) (map[string]backupFile, error) {
	objs, err := store.List(ctx, backupSegmentsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list the destination's segments: %w", err)
	}
	present := map[string]int64{}
	for _, o := range objs {
		present[o.Key] = o.Size
	}
	out := map[string]backupFile{}
	if len(present) == 0 {
		return out, nil
	}
	ids, err := listBackups(ctx, store)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		bm, err := readBackupManifest(ctx, store, id)
		if err != nil {
			return nil, err
		}
		for _, f := range bm.Files {
			if size, ok := present[f.Key]; ok && f.Kind == "segment" && size == f.Size {
				out[f.Key] = f
			}
		}
	}
	return out, nil
}

// listBackups returns the ids of the complete backups in store, oldest
// first (ids start with their UTC time).
func listBackups(ctx context.Context, store tiering.ObjectStore) ([]string, error) {
	objs, err := store.List(ctx, backupsPrefix)
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var ids []string
	for _, o := range objs {
		rest := strings.TrimPrefix(o.Key, backupsPrefix)
		if id, name, ok := strings.Cut(rest, "/"); ok && name == backupManifestName {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func readBackupManifest(ctx context.Context, store tiering.ObjectStore, id string) (*backupManifest, error) {
	key := backupsPrefix + id + "/" + backupManifestName
	info, err := store.Stat(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	r, err := store.GetRange(ctx, key, 0, info.Size)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", id, err)
	}
	defer r.Close()
	var bm backupManifest
	if err := json.NewDecoder(r).Decode(&bm); err != nil {
		return nil, fmt.Errorf("parse %s: %w", key, err)
	}
	if bm.Format != backupFormat {
		return nil, fmt.Errorf("%s has format %d, this build reads %d", key, bm.Format, backupFormat)
	}
	return &bm, nil
}

// copyFile streams one snapshot file from the server into the store,
// checksumming it on the way, and returns the checksum once the store
// agrees with it.
func (c *backupClient) copyFile(ctx context.Context, store tiering.ObjectStore, id string, f engine.SnapshotFile, key string) (string, error) {
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/backup/file", url.Values{"id": {id}, "path": {f.Path}})
	if err != nil {
		return "", fmt.Errorf("read %s from the server: %w", f.Path, err)
	}
	defer resp.Body.Close()
	h := tiering.NewChecksum()
	info, err := store.Put(ctx, key, io.TeeReader(resp.Body, h), f.Size)
	if err != nil {
		return "", fmt.Errorf("copy %s to %s: %w", f.Path, key, err)
	}
	sum := tiering.EncodeChecksum(h.Sum64())
	if info.Checksum != "" && info.Checksum != sum {
		return "", fmt.Errorf("copy %s to %s: the destination stored checksum %s, the bytes read have %s", f.Path, key, info.Checksum, sum)
	}
	return sum, nil
}

func runRestore(args []string) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	from := fs.String("from", "", "the backup location: a directory or s3://bucket/prefix (required)")
	id := fs.String("backup", "", "the backup id to restore (default the latest)")
	dataDir := fs.String("data-dir", "", "the new data directory; must not exist or be empty (required)")
	timeout := fs.Duration("timeout", 6*time.Hour, "give up after this long")
	tc := tiering.DefaultConfig()
	s3FlagsOnly(fs, &tc)
	fs.Usage = func() { fmt.Fprint(fs.Output(), restoreUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *from == "" || *dataDir == "" || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "silt restore: need --from and --data-dir, and no arguments")
		fs.Usage()
		return 2
	}
	store, err := openBackupStore(*from, &tc, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt restore:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	bm, err := restore(ctx, store, *id, *dataDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "silt restore:", err)
		return 1
	}
	fmt.Printf("restored backup %s (%d files) into %s\n", bm.ID, len(bm.Files), *dataDir)
	if len(bm.Cold) > 0 {
		fmt.Printf("%d segments are in the tiering bucket: start the server with the --s3.* flags the original used\n", len(bm.Cold))
	}
	return 0
}

// restore writes backup id (the latest if "") into dataDir, the manifest
// last: a restore cut short leaves no manifest, and 'silt check' and a
// second restore (which wants an empty directory) make that visible.
func restore(ctx context.Context, store tiering.ObjectStore, id, dataDir string) (*backupManifest, error) {
	if ents, err := os.ReadDir(dataDir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("data directory %s is not empty: restore into a new directory", dataDir)
	}
	if id == "" {
		ids, err := listBackups(ctx, store)
		if err != nil {
			return nil, err
		}
		if len(ids) == 0 {
			return nil, fmt.Errorf("no complete backup found (no %s%s)", backupsPrefix, "*/"+backupManifestName)
		}
		id = ids[len(ids)-1]
	}
	bm, err := readBackupManifest(ctx, store, id)
	if err != nil {
		return nil, err
	}
	var last *backupFile
	dirs := map[string]bool{}
	for i := range bm.Files {
		f := &bm.Files[i]
		if f.Kind == "manifest" {
			last = f
			continue
		}
		if err := restoreFile(ctx, store, *f, dataDir); err != nil {
			return nil, err
		}
		dirs[filepath.Dir(filepath.Join(dataDir, filepath.FromSlash(f.Path)))] = true
	}
	if last == nil {
		return nil, fmt.Errorf("backup %s names no manifest", id)
	}
	for d := range dirs {
		if err := fileutil.SyncDir(d); err != nil {
			return nil, err
		}
	}
	if err := restoreFile(ctx, store, *last, dataDir); err != nil {
		return nil, err
	}
	return bm, fileutil.SyncDir(dataDir)
}

// restoreFile copies one backed-up file into dataDir, verifying its size
// and checksum before it takes its name.
func restoreFile(ctx context.Context, store tiering.ObjectStore, f backupFile, dataDir string) error {
	rel := filepath.FromSlash(f.Path)
	if !filepath.IsLocal(rel) || path.Clean(f.Path) != f.Path {
		return fmt.Errorf("backup names a file outside the data directory: %q", f.Path)
	}
	dst := filepath.Join(dataDir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	r, err := store.GetRange(ctx, f.Key, 0, f.Size)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.Key, err)
	}
	defer r.Close()
	tmp := dst + ".restore-tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	h := tiering.NewChecksum()
	n, err := io.Copy(io.MultiWriter(out, h), r)
	if err == nil {
		err = out.Sync()
	}
	err = errors.Join(err, out.Close())
	if err == nil && n != f.Size {
		err = fmt.Errorf("read %d bytes, backup.json says %d", n, f.Size)
	}
	if sum := tiering.EncodeChecksum(h.Sum64()); err == nil && sum != f.Checksum {
		err = fmt.Errorf("checksum %s, backup.json says %s: the backup copy is damaged", sum, f.Checksum)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore %s from %s: %w", f.Path, f.Key, err)
	}
	return os.Rename(tmp, dst)
}
