package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ig "github.com/apache/iceberg-go"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/manifest"
	"github.com/siltdb/silt/tiering"
)

// Store is what publishing needs of the bucket: the tiering store plus
// create-only puts (S3 If-None-Match: *), which make a metadata version
// appear exactly once. *tiering.S3Store implements it.
type Store interface {
	tiering.ObjectStore
	PutIfAbsent(ctx context.Context, key string, data []byte) (string, error)
	// ListDir lists one level under prefix: objects, and sub-directories
	// ending in "/" (finding the tables of dropped Silt tables).
	ListDir(ctx context.Context, prefix string) (objects []tiering.ObjectInfo, dirs []string, err error)
}

// Publisher commits Silt tables as Iceberg tables in a store.
type Publisher struct {
	Store Store
	// Location is the URL outside readers address the store's root with,
	// s3://<bucket>/<prefix>: data file paths and table locations in the
	// metadata are Location + "/" + key.
	Location string
	// Root is the key prefix of the tables (DefaultRoot if empty): table
	// db.t lives under <Root>/db/t/.
	Root string
	// Now is the commit clock (time.Now if nil).
	Now func() time.Time
	// DataPrefix is the key prefix of this writer's data files in Store
	// ("nodes/<id>/" in a cluster, "" for a node alone in its prefix). A
	// commit adds and removes files under it only and keeps every other
	// file the table lists, so writers sharing one table never drop each
	// other's files. PublishAll prepends it to the manifest's segment
	// paths.
	DataPrefix string
	// PreviousVersions is how many metadata versions before the current
	// one are kept, listed in the metadata log; older ones are deleted
	// after each commit (DefaultPreviousVersions if 0).
	PreviousVersions int
	// MaxSnapshotAge and MinSnapshots are Iceberg's snapshot expiry: a
	// version keeps the snapshots younger than MaxSnapshotAge
	// (DefaultMaxSnapshotAge if 0, none if negative) and at least the MinSnapshots newest
	// (DefaultMinSnapshots if 0); the manifests and manifest lists only
	// expired snapshots named are deleted once the last version naming
	// them leaves the metadata log (expire.go).
	MaxSnapshotAge time.Duration
	MinSnapshots   int
	// OrphanAge is how old a manifest or manifest list that no version
	// names must be before a sweep deletes it, and how often a table is
	// swept (DefaultOrphanAge if 0). A commit attempt that took longer
	// than half of it is abandoned before its put.
	OrphanAge time.Duration
	// Legacy, if set, is the root of the per-writer tables an older Silt
	// published under the writer's own prefix ("nodes/<id>/iceberg"):
	// once the table here holds the writer's files, PublishAll empties
	// them (a last snapshot with no files, pointing at the new table).
	Legacy string
	// MaxAttempts bounds the commits of one version after others took
	// the version first (DefaultMaxAttempts if 0).
	MaxAttempts int
	// BeforeCommit, if set, runs after a version's manifest and manifest
	// list are written and before the version itself is: the point a
	// crash test stops at. An error abandons the commit.
	BeforeCommit func(db, table string, version int) error

	retries atomic.Int64 // commits lost to another writer, retried
	commits atomic.Int64 // table versions committed
	fails   atomic.Int64 // publications of a table that failed (Publish's errors)
	deleted atomic.Int64 // metadata objects deleted (expire.go)
	// movedTo is set on the publisher of a legacy table: the location of
	// the table that replaced it, written in its last version.
	movedTo string

	mu   sync.Mutex
	last map[string]string // "db.table" → fingerprint of what is current
	// known holds the tables in the store ("db" → "table"), listed once;
	// nil until then.
	known map[[2]string]bool
	// legacyDone: the legacy tables were found empty or emptied.
	legacyDone bool

	cacheMu sync.Mutex
	lists   map[string][]string  // manifest list key → its manifests' keys (immutable objects)
	swept   map[string]time.Time // table key → last sweep
}

// DefaultRoot is where the tables go under the store's prefix.
const DefaultRoot = "iceberg"

// DefaultMaxAttempts is how many times a commit is tried when other
// writers keep taking the next version first.
const DefaultMaxAttempts = 10

// Layout is the version of the table layout and commit rules, recorded in
// every version's properties (LayoutProperty). 1: one table per writer
// under the writer's prefix, every file the writer's (it wrote no
// property); 2: one table per Silt table at the cluster's root, shared by
// every writer, each committing the files under its own DataPrefix. A
// table of a later layout is not committed to: its rules are unknown.
const Layout = 2

// Table properties Silt writes.
const (
	LayoutProperty  = "silt.layout"
	MovedToProperty = "silt.moved-to" // a legacy table's replacement
	// The Iceberg properties of metadata expiry: after each commit, the
	// metadata files that fell out of the metadata log are deleted.
	DeleteAfterCommitProperty = "write.metadata.delete-after-commit.enabled"
	PreviousVersionsProperty  = "write.metadata.previous-versions-max"
)

// Table is one Silt table to publish: its current schema and the data
// files of its published windows.
type Table struct {
	DB, Name string
	Schema   *columnar.TableSchema
	Files    []DataFile
	// Withheld names the windows with data in the bucket that are not
	// published: a late write put a point there twice (Tables).
	Withheld []string
}

// DataFile is one published segment.
type DataFile struct {
	Key              string // object key in the store
	Window           string // the day window, YYYY-MM-DD
	Rows, Bytes      int64
	MinTime, MaxTime int64 // ns
}

// Result reports one table's publication.
type Result struct {
	Version        int  // metadata version now current (0: no table)
	Committed      bool // a new version was committed
	Attempts       int  // versions tried: 1 unless another writer took one first
	Added, Removed int  // data files, against the previous version
	SnapshotID     int64
	MetadataKey    string // the current version's key
	PublishedFiles int
	PublishedRows  int64
	SchemaChanged  bool
	Withheld       int // windows in the bucket not published (Table.Withheld)
}

// Identifier fields of the schema.
const (
	TimeFieldID      = 1    // the time column's Iceberg field id in every table
	DayPartitionID   = 1000 // the partition field day(time)
	DayPartitionName = "time_day"
	nameMappingKey   = "schema.name-mapping.default"
	versionHintName  = "version-hint.text"
)

func (p *Publisher) root() string {
	if p.Root == "" {
		return DefaultRoot
	}
	return strings.Trim(p.Root, "/")
}

// TableKey returns the key prefix of table db.name (no trailing slash).
func (p *Publisher) TableKey(db, name string) string {
	return p.root() + "/" + db + "/" + name
}

func (p *Publisher) url(key string) string { return strings.TrimRight(p.Location, "/") + "/" + key }

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func metadataKey(dir string, v int) string {
	return dir + "/metadata/v" + strconv.Itoa(v) + ".metadata.json"
}

// Current returns the current metadata version of table db.name and its
// key: 0 and "" when the table does not exist yet. The version hint is
// only a hint (a crash after a commit leaves it one behind): the versions
// after it are probed until one is missing.
func (p *Publisher) Current(ctx context.Context, db, name string) (int, string, error) {
	dir := p.TableKey(db, name)
	v := 0
	raw, err := readAll(ctx, p.Store, dir+"/metadata/"+versionHintName)
	switch {
	case err == nil:
		n, perr := strconv.Atoi(strings.TrimSpace(string(raw)))
		if perr != nil || n < 1 {
			return 0, "", fmt.Errorf("read version hint of table %s.%s: %q is not a version", db, name, raw)
		}
		v = n
	case errors.Is(err, tiering.ErrNotFound):
		// No hint: a table never committed, or a crash before its
		// first hint. List its metadata versions.
		objs, lerr := p.Store.List(ctx, dir+"/metadata/v")
		if lerr != nil {
			return 0, "", fmt.Errorf("list metadata versions of table %s.%s: %w", db, name, lerr)
		}
		for _, o := range objs {
			s := strings.TrimPrefix(o.Key, dir+"/metadata/v")
			if n, perr := strconv.Atoi(strings.TrimSuffix(s, ".metadata.json")); perr == nil && strings.HasSuffix(s, ".metadata.json") {
				v = max(v, n)
			}
		}
	default:
		return 0, "", fmt.Errorf("read version hint of table %s.%s: %w", db, name, err)
	}
	for {
		_, err := p.Store.Stat(ctx, metadataKey(dir, v+1))
		if errors.Is(err, tiering.ErrNotFound) {
			break
		}
		if err != nil {
			return 0, "", fmt.Errorf("probe metadata version %d of table %s.%s: %w", v+1, db, name, err)
		}
		v++
	}
	if v == 0 {
		return 0, "", nil
	}
	return v, metadataKey(dir, v), nil
}

// Publish makes this writer's files in the Iceberg table of t exactly
// t.Files (the files under DataPrefix; other writers' stay as they are),
// under a schema that holds t's columns, in one new snapshot, unless the
// table does already. A version another writer committed first is read
// and the commit built again on top of it, up to MaxAttempts times with a
// growing random pause between tries.
func (p *Publisher) Publish(ctx context.Context, t Table) (Result, error) {
	res, err := p.publish(ctx, t)
	if err != nil {
		p.fails.Add(1)
	} else if res.Committed {
		p.commits.Add(1)
	}
	return res, err
}

// publish is Publish without the counting.
func (p *Publisher) publish(ctx context.Context, t Table) (Result, error) {
	for _, f := range t.Files {
		if !strings.HasPrefix(f.Key, p.DataPrefix) {
			return Result{}, fmt.Errorf("publish table %s.%s: data file %s is outside this writer's prefix %q", t.DB, t.Name, f.Key, p.DataPrefix)
		}
	}
	attempts := p.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultMaxAttempts
	}
	var lastErr error
	var took time.Duration // the last attempt's
	for i := range attempts {
		if i > 0 {
			if err := sleepJitter(ctx, i, took); err != nil {
				return Result{}, fmt.Errorf("commit table %s.%s: %w (after %d attempts, last: %w)", t.DB, t.Name, err, i, lastErr)
			}
		}
		start := time.Now()
		res, written, err := p.commitOnce(ctx, t)
		took = time.Since(start)
		res.Attempts = i + 1
		if err == nil {
			return res, nil
		}
		// What a lost or failed attempt wrote is named by no version:
		// removed, best effort (a crash leaves it, unreferenced).
		for _, k := range written {
			_ = p.Store.Delete(ctx, k)
		}
		if !errors.Is(err, tiering.ErrPrecondition) {
			return res, err
		}
		p.retries.Add(1)
		lastErr = err
	}
	return Result{Attempts: attempts}, fmt.Errorf("commit table %s.%s: gave up after %d attempts, another writer committed the next version first each time: %w",
		t.DB, t.Name, attempts, lastErr)
}

// Retries returns how many commits this publisher lost to another writer
// and tried again.
func (p *Publisher) Retries() int64 { return p.retries.Load() }

// sleepJitter waits before try i+1: a random time up to 2^(i-1) times
// the time an attempt took (at least 25 ms, at most 5 s), so that writers
// that collided spread out over about as many attempts' time as there are
// of them: an attempt is lost when another commit lands while it is built.
func sleepJitter(ctx context.Context, i int, took time.Duration) error {
	ceiling := min(max(took, 25*time.Millisecond)<<min(i-1, 10), 5*time.Second)
	n, err := rand.Int(rand.Reader, big.NewInt(int64(ceiling)))
	if err != nil {
		return err
	}
	tm := time.NewTimer(time.Duration(n.Int64()) + time.Millisecond)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// mine reports whether a data file URL of the table is this writer's.
func (p *Publisher) mine(url string) bool {
	key, ok := strings.CutPrefix(url, strings.TrimRight(p.Location, "/")+"/")
	return ok && strings.HasPrefix(key, p.DataPrefix)
}

// commitOnce builds the next version on the current one and commits it
// with a create-only put. It returns the keys it wrote (for removal if
// the commit fails); a version taken by another writer first is
// tiering.ErrPrecondition.
func (p *Publisher) commitOnce(ctx context.Context, t Table) (res Result, written []string, err error) {
	attemptStart := time.Now()
	dir := p.TableKey(t.DB, t.Name)
	ver, key, err := p.Current(ctx, t.DB, t.Name)
	if err != nil {
		return res, nil, err
	}
	res.Version, res.MetadataKey, res.Withheld = ver, key, len(t.Withheld)
	var cur *tableMetadata
	if ver > 0 {
		raw, err := readAll(ctx, p.Store, key)
		if err != nil {
			return res, nil, fmt.Errorf("read metadata of table %s.%s: %w", t.DB, t.Name, err)
		}
		cur = new(tableMetadata)
		if err := json.Unmarshal(raw, cur); err != nil {
			return res, nil, fmt.Errorf("parse metadata %s: %w", key, err)
		}
		if l, _ := strconv.Atoi(cur.Properties[LayoutProperty]); l > Layout {
			return res, nil, fmt.Errorf("table %s.%s (%s) has layout %d, written by a newer Silt; this one writes layout %d", t.DB, t.Name, key, l, Layout)
		}
	} else if len(t.Files) == 0 {
		return res, nil, nil // nothing published, nothing to say
	}

	sch, lastCol, schemaChanged, err := p.schemaFor(cur, t.Schema)
	if err != nil {
		return res, written, fmt.Errorf("schema of table %s.%s: %w", t.DB, t.Name, err)
	}
	spec := ig.NewPartitionSpecID(0, ig.PartitionField{SourceIDs: []int{TimeFieldID}, FieldID: DayPartitionID,
		Name: DayPartitionName, Transform: ig.DayTransform{}})

	// The files of the current snapshot, by manifest.
	var prev []prevManifest
	var parent *snapshot
	if cur != nil {
		if parent = cur.currentSnapshot(); parent != nil {
			if prev, err = p.readManifests(ctx, parent.ManifestList); err != nil {
				return res, written, fmt.Errorf("read current snapshot of table %s.%s: %w", t.DB, t.Name, err)
			}
		}
	}
	want := make(map[string]DataFile, len(t.Files))
	for _, f := range t.Files {
		want[p.url(f.Key)] = f
	}
	had := map[string]bool{}
	var kept, removed []ig.ManifestEntry
	for i := range prev {
		pm := &prev[i]
		for _, e := range pm.entries {
			path := e.DataFile().FilePath()
			had[path] = true
			if _, ok := want[path]; ok || !p.mine(path) {
				pm.kept = append(pm.kept, e)
			} else {
				pm.removed = append(pm.removed, e)
			}
		}
		kept, removed = append(kept, pm.kept...), append(removed, pm.removed...)
	}
	var added []DataFile
	for _, f := range t.Files {
		if !had[p.url(f.Key)] {
			added = append(added, f)
		}
	}
	slices.SortFunc(added, func(a, b DataFile) int { return strings.Compare(a.Key, b.Key) })
	res.PublishedFiles = len(t.Files)
	for _, f := range t.Files {
		res.PublishedRows += f.Rows
	}
	res.SchemaChanged = schemaChanged
	if cur != nil && len(added) == 0 && len(removed) == 0 && !schemaChanged {
		return res, written, nil
	}

	now := p.now()
	if cur != nil && now.UnixMilli() < cur.LastUpdatedMS {
		// A writer whose clock is behind the last committer's: readers
		// (iceberg-go, Java) refuse snapshot and metadata logs that go
		// back in time by more than a minute, so the version is dated
		// no earlier than the one it follows.
		now = time.UnixMilli(cur.LastUpdatedMS)
	}
	snapID, err := newSnapshotID(cur)
	if err != nil {
		return res, written, err
	}
	var seq, firstRow int64 = 1, 0
	if cur != nil {
		seq, firstRow = cur.LastSequenceNumber+1, cur.NextRowID
	}
	uid := randomHex(16)

	// The manifests: a manifest of the current snapshot none of whose
	// files is removed is kept as it is, one that loses files is
	// rewritten (the rest as existing, those as deleted), and the new
	// files get a manifest of their own; so a commit writes what changed,
	// not the whole table. Past MaxManifests they are merged into one.
	var manifests []ig.ManifestFile
	n := 0
	write := func(kept, removed []ig.ManifestEntry, added []DataFile) error {
		if len(kept)+len(removed)+len(added) == 0 {
			return nil
		}
		mkey := dir + "/metadata/" + uid + "-m" + strconv.Itoa(n) + ".avro"
		n++
		written = append(written, mkey)
		mf, err := p.writeManifest(ctx, mkey, spec, sch, snapID, kept, removed, added)
		if err != nil {
			return fmt.Errorf("manifest of table %s.%s: %w", t.DB, t.Name, err)
		}
		manifests = append(manifests, mf)
		return nil
	}
	if len(prev)+1 > MaxManifests {
		if err := write(kept, removed, added); err != nil {
			return res, written, err
		}
	} else {
		for _, pm := range prev {
			switch {
			case len(pm.removed) > 0:
				if err := write(pm.kept, pm.removed, nil); err != nil {
					return res, written, err
				}
			case len(pm.kept) > 0:
				manifests = append(manifests, pm.file)
			}
		}
		if err := write(nil, nil, added); err != nil {
			return res, written, err
		}
	}

	var parentID *int64
	if parent != nil {
		parentID = &parent.SnapshotID
	}
	var lbuf bytes.Buffer
	lw, err := ig.NewManifestListWriterV3(&lbuf, snapID, seq, firstRow, parentID)
	if err != nil {
		return res, written, fmt.Errorf("start manifest list of table %s.%s: %w", t.DB, t.Name, err)
	}
	if err := lw.AddManifests(manifests); err != nil {
		return res, written, fmt.Errorf("manifest list of table %s.%s: %w", t.DB, t.Name, err)
	}
	if err := lw.Close(); err != nil {
		return res, written, fmt.Errorf("close manifest list of table %s.%s: %w", t.DB, t.Name, err)
	}
	nextRow := firstRow
	if n := lw.NextRowID(); n != nil {
		nextRow = *n
	}
	lkey := dir + "/metadata/snap-" + strconv.FormatInt(snapID, 10) + "-" + uid + ".avro"
	written = append(written, lkey)
	if err := p.put(ctx, lkey, lbuf.Bytes()); err != nil {
		return res, written, err
	}

	next, err := p.nextMetadata(cur, key, t, sch, lastCol, spec, now)
	if err != nil {
		return res, written, err
	}
	snap := snapshot{SnapshotID: snapID, ParentSnapshotID: parentID, SequenceNumber: seq,
		TimestampMS: now.UnixMilli(), ManifestList: p.url(lkey), SchemaID: sch.ID,
		FirstRowID: firstRow, AddedRows: nextRow - firstRow,
		Summary: summary(kept, removed, added)}
	// Iceberg's expiry: the young snapshots and the newest few stay.
	// Their data files are segments Silt deletes --tier.delete-grace
	// after compaction or retention retired them, so an old snapshot
	// may name deleted files: time travel is promised within that
	// grace only (docs/iceberg.md).
	next.Snapshots, next.SnapshotLog = p.keepSnapshots(cur, snap)
	next.CurrentSnapshotID = &snap.SnapshotID
	next.Refs = map[string]ref{"main": {SnapshotID: snapID, Type: "branch"}}
	next.LastSequenceNumber, next.NextRowID = seq, nextRow
	raw, err := json.MarshalIndent(next, "", " ")
	if err != nil {
		return res, written, fmt.Errorf("encode metadata of table %s.%s: %w", t.DB, t.Name, err)
	}
	if p.BeforeCommit != nil {
		if err := p.BeforeCommit(t.DB, t.Name, ver+1); err != nil {
			// A crash here leaves what was written: so does this.
			return res, nil, err
		}
	}
	// A sweep by another writer spares unnamed manifests younger than
	// OrphanAge: an attempt slower than half of it (a stalled process)
	// must not name what may have been swept meanwhile.
	if took := time.Since(attemptStart); took > p.orphanAge()/2 {
		return res, written, fmt.Errorf("commit version %d of table %s.%s: the attempt took %s, more than half of the orphan age %s; abandoned so that it names no swept file",
			ver+1, t.DB, t.Name, took.Round(time.Millisecond), p.orphanAge())
	}
	vkey := metadataKey(dir, ver+1)
	if _, err := p.Store.PutIfAbsent(ctx, vkey, raw); err != nil {
		if errors.Is(err, tiering.ErrPrecondition) {
			return res, written, fmt.Errorf("commit version %d of table %s.%s: another writer committed it first: %w", ver+1, t.DB, t.Name, err)
		}
		// The put may have reached the store with its answer lost: then
		// the version names what this attempt wrote, which stays.
		return res, nil, fmt.Errorf("commit version %d of table %s.%s: %w", ver+1, t.DB, t.Name, err)
	}
	res.Version, res.MetadataKey, res.Committed, res.SnapshotID = ver+1, vkey, true, snapID
	res.Added, res.Removed = len(added), len(removed)
	// The hint is for readers; Current does not trust it. Two writers
	// may write theirs out of order, leaving it a version behind until
	// the next commit: a reader that trusts it reads a whole older
	// version.
	if err := p.put(ctx, dir+"/metadata/"+versionHintName, []byte(strconv.Itoa(ver+1))); err != nil {
		return res, nil, fmt.Errorf("committed version %d of table %s.%s, but its version hint: %w", ver+1, t.DB, t.Name, err)
	}
	p.expire(ctx, dir, ver+1, next.Properties)
	if now := p.now(); p.sweepDue(dir, now) {
		// Best effort: what it leaves, the next sweep deletes.
		_, _ = p.sweep(ctx, dir, ver+1, next, now)
	}
	return res, nil, nil
}

// DefaultPreviousVersions is how many metadata versions before the
// current one a new table keeps (PreviousVersionsProperty), as its
// metadata log lists them.
const DefaultPreviousVersions = 20

// schemaFor maps a Silt schema to an Iceberg schema: time, the current
// schema's columns (ids kept by name), then the columns of s it lacks (the
// tags, then the fields), each optional except time. A column is never
// dropped: other writers' files may hold it. It returns the schema (with its id), the table's
// last column id, and whether the schema differs from the current one.
func (p *Publisher) schemaFor(cur *tableMetadata, s *columnar.TableSchema) (*ig.Schema, int, bool, error) {
	if s == nil { // a dropped table: its schema stays
		if cur == nil {
			return nil, 0, false, errors.New("no schema")
		}
		old, err := cur.schema(cur.CurrentSchemaID)
		return old, cur.LastColumnID, false, err
	}
	// This writer's columns: the tags, then the fields.
	var names []string
	types := map[string]ig.Type{}
	for _, tag := range s.Tags {
		names, types[tag] = append(names, tag), ig.PrimitiveTypes.String
	}
	for _, f := range s.Fields {
		typ, err := fieldType(f.Type)
		if err != nil {
			return nil, 0, false, fmt.Errorf("column %q: %w", f.Name, err)
		}
		names, types[f.Name] = append(names, f.Name), typ
	}
	last, curID := TimeFieldID, -1
	fields := []ig.NestedField{{ID: TimeFieldID, Name: columnar.TimeColumn, Type: ig.PrimitiveTypes.TimestampNs, Required: true}}
	seen := map[string]bool{columnar.TimeColumn: true}
	var old *ig.Schema
	if cur != nil {
		var err error
		if old, err = cur.schema(cur.CurrentSchemaID); err != nil {
			return nil, 0, false, err
		}
		last, curID = cur.LastColumnID, cur.CurrentSchemaID
		// The current columns stay, in their order: the table is shared
		// by writers whose Silt schemas differ (a field only some
		// series have), and each writer's files need their columns.
		for _, f := range old.Fields() {
			if seen[f.Name] {
				continue
			}
			seen[f.Name] = true
			if typ, ok := types[f.Name]; ok && !typ.Equals(f.Type) {
				// The type changed (the Silt table was dropped and
				// written again): a new id, as Iceberg drops a column
				// and adds another of the same name.
				last++
				f = ig.NestedField{ID: last, Name: f.Name, Type: typ}
			}
			fields = append(fields, f)
		}
	}
	for _, name := range names {
		if !seen[name] {
			seen[name] = true
			last++
			fields = append(fields, ig.NestedField{ID: last, Name: name, Type: types[name]})
		}
	}
	sch := ig.NewSchema(max(curID, 0), fields...)
	if old != nil && old.Equals(sch) {
		return old, last, false, nil
	}
	sch = ig.NewSchema(curID+1, fields...)
	return sch, last, true, nil
}

// fieldType is the Iceberg type of a Silt field. Unsigned integers become
// long: Iceberg has no unsigned type, and the Parquet files hold them as
// UINT_64, which readers widen or reinterpret (values past 2^63-1 read
// negative in engines that take the physical int64): docs/iceberg.md.
func fieldType(t columnar.FieldType) (ig.Type, error) {
	switch t {
	case columnar.FieldFloat:
		return ig.PrimitiveTypes.Float64, nil
	case columnar.FieldInt, columnar.FieldUint:
		return ig.PrimitiveTypes.Int64, nil
	case columnar.FieldBool:
		return ig.PrimitiveTypes.Bool, nil
	case columnar.FieldString:
		return ig.PrimitiveTypes.String, nil
	}
	return nil, fmt.Errorf("no Iceberg type for Silt field type %d", t)
}

// nextMetadata builds the metadata of the next version from cur (nil for a
// new table): schemas, spec, properties and the metadata log.
func (p *Publisher) nextMetadata(cur *tableMetadata, curKey string, t Table, sch *ig.Schema, lastCol int, spec ig.PartitionSpec, now time.Time) (*tableMetadata, error) {
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode partition spec: %w", err)
	}
	schJSON, err := json.Marshal(sch)
	if err != nil {
		return nil, fmt.Errorf("encode schema: %w", err)
	}
	// Silt's segments carry no Parquet field ids: readers find columns by
	// name through this mapping (the spec's column projection rules).
	mapping, err := json.Marshal(sch.NameMapping())
	if err != nil {
		return nil, fmt.Errorf("encode name mapping: %w", err)
	}
	var m tableMetadata
	if cur != nil {
		m = *cur
		m.Properties = make(map[string]string, len(cur.Properties))
		for k, v := range cur.Properties {
			m.Properties[k] = v
		}
		m.MetadataLog = append(slices.Clone(cur.MetadataLog), metadataLog{MetadataFile: p.url(curKey), TimestampMS: cur.LastUpdatedMS})
		if n, keep := len(m.MetadataLog), p.previousVersions(); n > keep {
			m.MetadataLog = m.MetadataLog[n-keep:]
		}
		if sch.ID != cur.CurrentSchemaID {
			m.Schemas = append(slices.Clone(cur.Schemas), schJSON)
		}
	} else {
		m = tableMetadata{FormatVersion: FormatVersion, TableUUID: newUUID(),
			Location: p.url(p.TableKey(t.DB, t.Name)), Schemas: []json.RawMessage{schJSON},
			PartitionSpecs: []json.RawMessage{specJSON}, DefaultSpecID: 0, LastPartitionID: DayPartitionID,
			SortOrders: []sortOrder{{OrderID: 0, Fields: []any{}}}, Properties: map[string]string{},
			MetadataLog: []metadataLog{}}
	}
	m.CurrentSchemaID, m.LastColumnID, m.LastUpdatedMS = sch.ID, lastCol, now.UnixMilli()
	m.Properties[nameMappingKey] = string(mapping)
	m.Properties["silt.table"] = t.DB + "." + t.Name
	m.Properties[LayoutProperty] = strconv.Itoa(Layout)
	m.Properties[DeleteAfterCommitProperty] = "true"
	m.Properties[PreviousVersionsProperty] = strconv.Itoa(p.previousVersions())
	m.Properties[MaxSnapshotAgeProperty] = strconv.FormatInt(p.maxSnapshotAge().Milliseconds(), 10)
	m.Properties[MinSnapshotsProperty] = strconv.Itoa(p.minSnapshots())
	if p.movedTo != "" {
		m.Properties[MovedToProperty] = p.movedTo
	}
	return &m, nil
}

func (p *Publisher) previousVersions() int {
	if p.PreviousVersions > 0 {
		return p.PreviousVersions
	}
	return DefaultPreviousVersions
}

// dataFile describes a segment as an Iceberg data file: its day partition
// and its time bounds (single-value serialization: 8 bytes little endian).
func dataFile(spec ig.PartitionSpec, path string, f DataFile) (ig.DataFile, error) {
	start, err := time.Parse("2006-01-02", f.Window)
	if err != nil {
		return nil, fmt.Errorf("segment %s: window %q: %w", f.Key, f.Window, err)
	}
	day := int32(start.Unix() / 86400)
	b, err := ig.NewDataFileBuilder(spec, ig.EntryContentData, path, ig.ParquetFile,
		map[int]any{DayPartitionID: day}, map[int]string{DayPartitionID: "date"}, nil, f.Rows, f.Bytes)
	if err != nil {
		return nil, fmt.Errorf("segment %s: %w", f.Key, err)
	}
	lo, hi := make([]byte, 8), make([]byte, 8)
	binary.LittleEndian.PutUint64(lo, uint64(f.MinTime))
	binary.LittleEndian.PutUint64(hi, uint64(f.MaxTime))
	return b.LowerBoundValues(map[int][]byte{TimeFieldID: lo}).UpperBoundValues(map[int][]byte{TimeFieldID: hi}).Build(), nil
}

func summary(kept, removed []ig.ManifestEntry, added []DataFile) map[string]string {
	var addRows, delRows, total int64
	for _, f := range added {
		addRows += f.Rows
	}
	for _, e := range removed {
		delRows += e.DataFile().Count()
	}
	for _, e := range kept {
		total += e.DataFile().Count()
	}
	op := "overwrite"
	switch {
	case len(removed) == 0:
		op = "append"
	case len(added) == 0:
		op = "delete"
	}
	return map[string]string{
		"operation":          op,
		"added-data-files":   strconv.Itoa(len(added)),
		"deleted-data-files": strconv.Itoa(len(removed)),
		"added-records":      strconv.FormatInt(addRows, 10),
		"deleted-records":    strconv.FormatInt(delRows, 10),
		"total-data-files":   strconv.Itoa(len(kept) + len(added)),
		"total-records":      strconv.FormatInt(total+addRows, 10),
		"total-delete-files": "0",
	}
}

// MaxManifests bounds the manifests of a snapshot: past it a commit
// merges them into one.
const MaxManifests = 32

// prevManifest is a manifest of the current snapshot: its live entries,
// split by the commit into those kept and those removed.
type prevManifest struct {
	file          ig.ManifestFile
	entries       []ig.ManifestEntry
	kept, removed []ig.ManifestEntry
}

// readManifests returns the manifests a snapshot's manifest list names,
// with their live (added or existing) entries.
func (p *Publisher) readManifests(ctx context.Context, listURL string) ([]prevManifest, error) {
	raw, err := readAll(ctx, p.Store, p.keyOf(listURL))
	if err != nil {
		return nil, err
	}
	mfs, err := ig.ReadManifestList(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("decode manifest list %s: %w", listURL, err)
	}
	out := make([]prevManifest, 0, len(mfs))
	for _, mf := range mfs {
		raw, err := readAll(ctx, p.Store, p.keyOf(mf.FilePath()))
		if err != nil {
			return nil, err
		}
		es, err := ig.ReadManifest(mf, bytes.NewReader(raw), true)
		if err != nil {
			return nil, fmt.Errorf("decode manifest %s: %w", mf.FilePath(), err)
		}
		out = append(out, prevManifest{file: mf, entries: es})
	}
	return out, nil
}

// writeManifest writes one manifest of snapshot snapID under key.
func (p *Publisher) writeManifest(ctx context.Context, key string, spec ig.PartitionSpec, sch *ig.Schema, snapID int64,
	kept, removed []ig.ManifestEntry, added []DataFile) (ig.ManifestFile, error) {
	var buf bytes.Buffer
	w, err := ig.NewManifestWriter(FormatVersion, &buf, spec, sch, snapID)
	if err != nil {
		return nil, err
	}
	for _, e := range kept {
		if err := w.Existing(e); err != nil {
			return nil, fmt.Errorf("keep %s: %w", e.DataFile().FilePath(), err)
		}
	}
	for _, e := range removed {
		if err := w.Delete(e); err != nil {
			return nil, fmt.Errorf("remove %s: %w", e.DataFile().FilePath(), err)
		}
	}
	for _, f := range added {
		df, err := dataFile(spec, p.url(f.Key), f)
		if err != nil {
			return nil, err
		}
		if err := w.Add(ig.NewManifestEntry(ig.EntryStatusADDED, &snapID, nil, nil, df)); err != nil {
			return nil, fmt.Errorf("add %s: %w", f.Key, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	mf, err := w.ToManifestFile(p.url(key), int64(buf.Len()))
	if err != nil {
		return nil, err
	}
	if err := p.put(ctx, key, buf.Bytes()); err != nil {
		return nil, err
	}
	return mf, nil
}

// keyOf turns a URL this publisher wrote back into a key.
func (p *Publisher) keyOf(url string) string {
	return strings.TrimPrefix(url, strings.TrimRight(p.Location, "/")+"/")
}

func (p *Publisher) put(ctx context.Context, key string, data []byte) error {
	if _, err := p.Store.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// readAll reads a whole (small) object.
func readAll(ctx context.Context, s tiering.ObjectStore, key string) ([]byte, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	rc, err := s.GetRange(ctx, key, 0, info.Size)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// newSnapshotID picks a positive snapshot id not used by cur.
func newSnapshotID(cur *tableMetadata) (int64, error) {
	for {
		n, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64))
		if err != nil {
			return 0, fmt.Errorf("snapshot id: %w", err)
		}
		id := n.Int64()
		if id == 0 {
			continue
		}
		if cur != nil && slices.ContainsFunc(cur.Snapshots, func(s snapshot) bool { return s.SnapshotID == id }) {
			continue
		}
		return id, nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// PublishAll publishes every table of the manifest (Tables, with segment
// paths under DataPrefix), skipping the tables whose published files and
// schema are those this publisher last committed or found current, then
// empties the legacy tables (Legacy) once. It stops at the first failure:
// a caller that deletes retired segments afterwards must not, since an
// Iceberg table may still name them.
func (p *Publisher) PublishAll(ctx context.Context, m *manifest.Manifest) ([]Result, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]string{}
	}
	if p.known == nil {
		known, err := p.listTables(ctx)
		if err != nil {
			p.fails.Add(1) // no table could be committed
			return nil, err
		}
		p.known = known
	}
	tables := Tables(m)
	for i := range tables {
		for j := range tables[i].Files {
			tables[i].Files[j].Key = p.DataPrefix + tables[i].Files[j].Key
		}
	}
	live := map[[2]string]bool{}
	for _, t := range tables {
		live[[2]string{t.DB, t.Name}] = true
	}
	// Tables Silt no longer has (dropped): emptied, since Silt deletes
	// their segments next.
	for k := range p.known {
		if !live[k] {
			tables = append(tables, Table{DB: k[0], Name: k[1]})
		}
	}
	var out []Result
	for _, t := range tables {
		id := t.DB + "." + t.Name
		fp := fingerprint(t)
		if p.last[id] == fp {
			continue
		}
		r, err := p.Publish(ctx, t)
		if err != nil {
			delete(p.last, id)
			return out, err
		}
		p.last[id] = fp
		if r.Version > 0 {
			p.known[[2]string{t.DB, t.Name}] = true
		}
		if r.Committed {
			out = append(out, r)
		}
	}
	moved, err := p.retireLegacy(ctx)
	return append(out, moved...), err
}

// retireLegacy empties, once per process, the per-writer tables under
// Legacy: the tables at the root hold this writer's files now (PublishAll
// commits them first), and the segments a legacy table names must not be
// deleted while it names them. Each gets a last version with no files
// whose MovedToProperty names the table that replaced it; an emptied one
// commits nothing.
func (p *Publisher) retireLegacy(ctx context.Context) ([]Result, error) {
	if p.Legacy == "" || p.legacyDone {
		return nil, nil
	}
	lp := &Publisher{Store: p.Store, Location: p.Location, Root: p.Legacy, Now: p.Now, BeforeCommit: p.BeforeCommit,
		PreviousVersions: p.PreviousVersions, MaxSnapshotAge: p.MaxSnapshotAge, MinSnapshots: p.MinSnapshots, OrphanAge: p.OrphanAge}
	tables, err := lp.listTables(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the legacy per-writer tables: %w", err)
	}
	keys := make([][2]string, 0, len(tables))
	for k := range tables {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1])) })
	// The legacy tables' commits count as this publisher's.
	defer func() {
		p.commits.Add(lp.commits.Load())
		p.retries.Add(lp.retries.Load())
		p.fails.Add(lp.fails.Load())
		p.deleted.Add(lp.deleted.Load())
	}()
	var out []Result
	for _, k := range keys {
		lp.movedTo = p.url(p.TableKey(k[0], k[1]))
		r, err := lp.Publish(ctx, Table{DB: k[0], Name: k[1]})
		if err != nil {
			return out, fmt.Errorf("empty the legacy table %s.%s under %s: %w", k[0], k[1], p.Legacy, err)
		}
		if r.Committed {
			out = append(out, r)
		}
	}
	p.legacyDone = true
	return out, nil
}

// listTables lists the tables under the root: <root>/<db>/<table>/.
func (p *Publisher) listTables(ctx context.Context) (map[[2]string]bool, error) {
	out := map[[2]string]bool{}
	_, dbs, err := p.Store.ListDir(ctx, p.root()+"/")
	if err != nil {
		return nil, fmt.Errorf("list Iceberg databases: %w", err)
	}
	for _, d := range dbs {
		_, tables, err := p.Store.ListDir(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("list Iceberg tables of %s: %w", d, err)
		}
		db := strings.TrimSuffix(strings.TrimPrefix(d, p.root()+"/"), "/")
		for _, t := range tables {
			out[[2]string{db, strings.TrimSuffix(strings.TrimPrefix(t, d), "/")}] = true
		}
	}
	return out, nil
}

// fingerprint sums up what a table's publication depends on.
func fingerprint(t Table) string {
	if t.Schema == nil {
		return "dropped"
	}
	var b strings.Builder
	for _, tag := range t.Schema.Tags {
		b.WriteString(tag)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	for _, f := range t.Schema.Fields {
		b.WriteString(f.Name)
		b.WriteByte(byte(f.Type))
	}
	b.WriteByte(1)
	for _, f := range t.Files {
		b.WriteString(f.Key)
		b.WriteByte(0)
	}
	b.WriteByte(1)
	for _, w := range t.Withheld {
		b.WriteString(w)
		b.WriteByte(0)
	}
	return b.String()
}
