package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/engine"
	"github.com/siltdb/silt/segment"
	"github.com/siltdb/silt/tiering"
)

// validateCluster checks --role and --node-id against the other settings.
func (c *serveConfig) validateCluster() error {
	if err := c.cluster.Validate(); err != nil {
		return err
	}
	if !c.cluster.Enabled() {
		return nil
	}
	if !c.tiering.Enabled() {
		return fmt.Errorf("--role %s needs the shared bucket: set --s3.endpoint and --s3.bucket", c.cluster.Role)
	}
	if c.engine.Tiering.ReadOnly {
		return errors.New("--s3.read-only serves one prefix; --role query serves every writer's: give one of them")
	}
	if c.cluster.Role == cluster.RoleQuery && (c.kafka.Enabled() || c.nats.Enabled()) {
		return errors.New("a --role query node takes no writes: drop the --kafka.* / --nats.* sources")
	}
	return nil
}

// clusterNode is this process's membership: the node id's lease (writers
// and query nodes both register) and, on a query node, the union of the
// writers' manifests its engine serves. A nil *clusterNode is a
// standalone node.
type clusterNode struct {
	lease    *cluster.Lease
	union    *cluster.Union
	eng      atomic.Pointer[engine.Engine]
	internal *http.Server     // a writer's internal API
	overlay  *cluster.Overlay // a query node's fetch of writers' rows
	// root is the cluster's --s3.prefix, before a writer's is moved to
	// its own nodes/<node-id>/ (the Iceberg tables live there).
	root string
	// peers, on a writer, reads every writer's bucket manifest every
	// peerEvery, so that the write clock moves past their stamps
	// (watchPeers); stopPeers ends that.
	peers     *cluster.Union
	peerEvery time.Duration
	stopPeers chan struct{}
	// peerSegs, on a writer, are the other writers' segments: its
	// compaction rewrites its own older copies of their points, and its
	// Iceberg publishing withholds windows until then.
	peerSegs *cluster.PeerSegments
}

// joinCluster registers the node in the bucket under --node-id, waiting
// out the lease of a previous holder that stopped renewing, and prepares
// cfg for its role before the tiering layer and the engine open: a
// writer tiers into nodes/<node-id>/ under --s3.prefix and writes to the
// bucket only while it holds its lease; a query node serves the union of
// every writer's manifest, read-only.
func joinCluster(cfg *serveConfig, httpAddr string, log *slog.Logger) (*clusterNode, error) {
	if !cfg.cluster.Enabled() {
		return nil, nil
	}
	rootOpts := cfg.tiering.S3
	rootOpts.Prefix = strings.Trim(rootOpts.Prefix, "/")
	store, err := tiering.NewS3Store(rootOpts)
	if err != nil {
		return nil, err
	}
	ttl := cfg.cluster.Lease
	ctx, cancel := context.WithTimeout(context.Background(), 3*ttl+30*time.Second)
	defer cancel()
	if cfg.tiering.CreateBucket {
		if err := store.EnsureBucket(ctx); err != nil {
			return nil, fmt.Errorf("create bucket (--s3.create-bucket): %w", err)
		}
	}
	n := &clusterNode{root: rootOpts.Prefix}
	var internalAddr string
	switch cfg.cluster.Role {
	case cluster.RoleWriter:
		cfg.tiering.S3.Prefix = cluster.WriterPrefix(rootOpts.Prefix, cfg.cluster.NodeID)
		ln, err := net.Listen("tcp", cfg.cluster.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen for the internal API (--cluster.addr): %w", err)
		}
		internalAddr = ln.Addr().String()
		n.peers = cluster.NewUnion(store, log)
		n.peerEvery = max(cfg.engine.Tiering.Interval, time.Second)
		n.stopPeers = make(chan struct{})
		n.peerSegs = &cluster.PeerSegments{Node: cfg.cluster.NodeID, Union: n.peers, Store: store, Every: n.peerEvery}
		cfg.engine.Peers = n.peerSegs
		n.internal = &http.Server{Handler: internalAuth(n.internalAPI(log), cfg.server.Tokens, log), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := n.internal.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("internal API stopped", "err", err)
			}
		}()
	case cluster.RoleQuery:
		n.union = cluster.NewUnion(store, log)
		overlay := cluster.NewOverlay(store, n.union, cfg.cluster.WriterDown, log)
		overlay.SetToken(clusterSecret(cfg, log))
		n.overlay = overlay
		n.union.Live = overlay.Schemas
		cfg.engine.Tiering.ReadOnly = true
		cfg.engine.Tiering.Manifests = n.union.Load
		cfg.engine.Tiering.Overlay = func(ctx context.Context, db, table string, minT, maxT int64, s *columnar.TableSchema) ([]*segment.Head, []string, error) {
			policy := "" // the node's --cluster.writer-down
			if partial, set := engine.PartialFrom(ctx); set {
				policy = cluster.WriterDownError
				if partial {
					policy = cluster.WriterDownPartial
				}
			}
			// A scan reading rollups takes writers' rows as their own
			// scans' batches where that is exact (engine.Pushdown).
			pd := engine.PushdownFrom(ctx)
			var req *cluster.RollupRequest
			if pd != nil && cfg.cluster.Pushdown {
				req = &cluster.RollupRequest{Min: pd.Min, Max: pd.Max, Widths: pd.Widths, Columns: pd.Columns,
					RollupColumns: pd.RollupColumns, Tags: pd.Tags, Refuse: pd.Refuse}
				overlay.CountRefused(len(pd.Refuse))
			}
			hs, pushed, missing, err := overlay.Sources(ctx, policy, db, table, minT, maxT, s, req)
			for _, p := range pushed {
				pd.AddSource(engine.PushedSource{Node: p.Node, Rows: p.Rows, Min: p.Min, Max: p.Max, Key: p.Key, Values: p.Values, Run: p.Run, Close: p.Close})
			}
			if errors.Is(err, cluster.ErrWritersDown) {
				// Answered as cold data that cannot be served: 503
				// cold-unavailable, naming the writers (not the store).
				return nil, missing, writersDown{err}
			}
			if err != nil {
				return nil, missing, err
			}
			// After the fetch, so that a segment a writer moved to the
			// bucket meanwhile is read from there (TierConfig.Overlay).
			if e := n.eng.Load(); e != nil {
				ctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				if err := e.ReloadBucketManifest(ctx); err != nil {
					return nil, missing, fmt.Errorf("%w: reload the writers' manifests: %w", engine.ErrColdUnavailable, err)
				}
			}
			return hs, missing, nil
		}
	}
	addr := cfg.cluster.Advertise
	if addr == "" {
		addr = httpAddr
	}
	n.lease, err = cluster.Acquire(ctx, store, cluster.LeaseConfig{NodeID: cfg.cluster.NodeID, Role: cfg.cluster.Role,
		Address: addr, InternalAddress: internalAddr, TTL: ttl, Generation: n.generation, Logger: log})
	if err != nil {
		if n.internal != nil {
			_ = n.internal.Close()
		}
		return nil, err
	}
	if cfg.cluster.Role == cluster.RoleWriter {
		cfg.engine.Tiering.Guard = n.lease.Guard
	}
	log.Info("registered in the cluster", "node_id", cfg.cluster.NodeID, "role", cfg.cluster.Role,
		"address", addr, "internal_address", internalAddr, "tier_prefix", cfg.tiering.S3.Prefix)
	return n, nil
}

// generation is the manifest generation heartbeats report.
func (n *clusterNode) generation() uint64 {
	if e := n.eng.Load(); e != nil {
		return e.Manifest().Generation
	}
	return 0
}

func (n *clusterNode) setEngine(e *engine.Engine, log *slog.Logger) {
	if n != nil {
		n.eng.Store(e)
		if n.overlay != nil {
			registerOverlayMetrics(e.Metrics().Registry, n.overlay)
		}
		if n.peers != nil {
			go n.watchPeers(e, log)
		}
	}
}

// watchPeers moves a writer's write clock past the newest write stamp in
// any writer's bucket manifest, at start and every peerEvery: a point
// this writer rewrites after another writer tiered it is stamped later
// than that writer's copy even when this host's clock runs behind
// (docs/scaling.md, "Last write wins across nodes"). Unchanged manifests
// cost a LIST and a HEAD each.
func (n *clusterNode) watchPeers(e *engine.Engine, log *slog.Logger) {
	tick := time.NewTicker(n.peerEvery)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if _, err := n.peers.Load(ctx); err != nil {
			log.Debug("could not read the writers' manifests for their write stamps", "err", err)
		} else {
			e.ObserveWriteTime(n.peers.NewestWrite())
		}
		cancel()
		select {
		case <-n.stopPeers:
			return
		case <-tick.C:
		}
	}
}

// fenced is closed when another process took the node id over (nil, so
// never ready, for a standalone node).
func (n *clusterNode) fenced() <-chan struct{} {
	if n == nil {
		return nil
	}
	return n.lease.Fenced()
}

// leave marks the registration stopped, so that a successor holds the id
// at once.
func (n *clusterNode) leave(log *slog.Logger) {
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n.internal != nil {
		_ = n.internal.Shutdown(ctx)
	}
	if n.stopPeers != nil {
		close(n.stopPeers)
	}
	if err := n.lease.Release(ctx); err != nil {
		log.Warn("could not mark the node stopped in the bucket; a successor waits one lease", "err", err)
	}
}

// internalAPI serves a writer's rows outside the bucket and its catalog
// to query nodes (cluster.RowsPath, cluster.RollupPath, cluster.SchemasPath).
func (n *clusterNode) internalAPI(log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(cluster.RowsPath, func(w http.ResponseWriter, r *http.Request) {
		e := n.eng.Load()
		if e == nil || !e.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		q := r.URL.Query()
		db, table := q.Get("db"), q.Get("table")
		minT, err1 := strconv.ParseInt(q.Get("min"), 10, 64)
		maxT, err2 := strconv.ParseInt(q.Get("max"), 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			http.Error(w, "bad time range: "+err.Error(), http.StatusBadRequest)
			return
		}
		ts, err := e.OpenLocalScan(db, table, minT, maxT)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer ts.Close()
		// The schema after the scan opened: it names every column the
		// scan's rows can have.
		tables, _ := e.Tables(db)
		s := tables[table]
		if s == nil {
			http.Error(w, "no such table", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.apache.arrow.stream")
		if ts.WriteMax != 0 {
			// The query node orders writers' copies of a point by them.
			w.Header().Set(cluster.WriteMinHeader, strconv.FormatInt(ts.WriteMin, 10))
			w.Header().Set(cluster.WriteMaxHeader, strconv.FormatInt(ts.WriteMax, 10))
		}
		// Each point's write stamp when asked: the query node merges
		// writers' copies of a point by them.
		stamped := q.Get(cluster.StampsParam) == "1"
		rw := cluster.NewStampedRowWriter(w, s.Tags, s.Fields, stamped)
		add := func(p *columnar.Point, st int64) error {
			if p.Time < minT || (p.Time >= maxT && maxT != math.MaxInt64) {
				return nil
			}
			return rw.AddStamped(p, st)
		}
		if stamped {
			err = ts.RunStamped(add)
		} else {
			err = ts.Run(func(p *columnar.Point) error { return add(p, 0) })
		}
		if err = errors.Join(err, rw.Close()); err != nil {
			// The status is sent: cut the stream so the reader fails
			// rather than take a part for the whole.
			log.Warn("internal API: rows", "db", db, "table", table, "err", err)
			panic(http.ErrAbortHandler)
		}
	})
	mux.HandleFunc(cluster.RollupPath, func(w http.ResponseWriter, r *http.Request) {
		servePushedScan(w, r, n.eng.Load(), log)
	})
	mux.HandleFunc(cluster.SchemasPath, func(w http.ResponseWriter, r *http.Request) {
		e := n.eng.Load()
		if e == nil || !e.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		cat := map[string]map[string]*columnar.TableSchema{}
		for _, db := range e.Databases() {
			cat[db], _ = e.Tables(db)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cat)
	})
	return mux
}

// writersDown is a query node's failure to read rows that writers hold
// outside the bucket. It is engine.ErrColdUnavailable to the HTTP layer
// (503 cold-unavailable), but says that writers are down, not that the
// object store cannot be reached.
type writersDown struct{ err error }

func (w writersDown) Error() string        { return w.err.Error() }
func (w writersDown) Unwrap() error        { return w.err }
func (w writersDown) Is(target error) bool { return target == engine.ErrColdUnavailable }
