package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/segment"
)

// Internal API of a writer, served on its --cluster.addr for query nodes.
const (
	// RowsPath answers the rows of db.table in [min, max) that the
	// writer holds outside the bucket (heads and local segments), merged,
	// as an Arrow IPC stream (RowWriter).
	RowsPath = "/internal/v1/rows"
	// SchemasPath answers the writer's catalog: {db: {table: schema}}.
	SchemasPath = "/internal/v1/schemas"

	// WriteMinHeader and WriteMaxHeader, on a RowsPath answer, bound the
	// write stamps of the rows it holds (segment.SegmentMeta.WriteMin):
	// a query node orders writers' copies of a point by them. Absent
	// (a writer of an older build): unknown, older than any stamp.
	WriteMinHeader = "Silt-Write-Min"
	WriteMaxHeader = "Silt-Write-Max"
)

// What a query does when a writer's rows outside the bucket cannot be had
// (--cluster.writer-down).
const (
	WriterDownError   = "error"   // the query fails
	WriterDownPartial = "partial" // the query answers without them; stats name the writers
)

// ErrWritersDown: a query needs rows that writers hold outside the bucket
// and some of them cannot be reached.
var ErrWritersDown = errors.New("writers down: rows they hold outside the bucket cannot be read")

// Overlay fetches, for a query node's scans, the rows every writer holds
// outside the bucket (not tiered yet: its heads and local segments), from
// the writers registered live in the bucket.
type Overlay struct {
	store  Store
	union  *Union
	policy string
	client *http.Client
	// stream reads pushed-down answers, which the query reads as it runs:
	// no overall timeout, the query's context ends them.
	stream *http.Client
	log    *slog.Logger
	// token is the secret presented to writers (SetToken); "" sends none.
	token string
	// refusedAt is when a writer's refusal of the token was last logged.
	refusedAt atomic.Int64

	rawFetches, rawBytes                      atomic.Int64
	pushedFetches, pushedBytes, pushedRefused atomic.Int64

	mu      sync.Mutex
	members []Record
	at      time.Time
}

// NewOverlay reads membership through store (the cluster's root) and
// orders writers as union does; policy is WriterDownError or
// WriterDownPartial.
func NewOverlay(store Store, union *Union, policy string, log *slog.Logger) *Overlay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Overlay{store: store, union: union, policy: policy, log: log,
		client: &http.Client{Timeout: time.Minute}, stream: &http.Client{}}
}

// SetToken sets the secret presented to writers' internal API, whose
// calls need a token with the cluster scope when the writers run with
// auth on (RequireToken). Call it before the overlay is used.
func (o *Overlay) SetToken(secret string) { o.token = secret }

// get calls a writer's internal API.
func (o *Overlay) get(ctx context.Context, w Record, pathQuery string) (*http.Response, error) {
	return o.getWith(ctx, o.client, w, pathQuery)
}

// getWith is get through client.
func (o *Overlay) getWith(ctx context.Context, client *http.Client, w Record, pathQuery string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.InternalAddress+pathQuery, nil)
	if err != nil {
		return nil, err
	}
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		resp.Body.Close()
		given := "none given"
		if o.token != "" {
			given = "the one given was refused"
		}
		return nil, fmt.Errorf("%s: %w: the writer runs with auth on and needs a token with the cluster scope (%s: set --cluster.token-file, $%s, or a cluster token in this node's --auth-tokens-file)",
			resp.Status, errRefused, given, TokenEnv)
	}
	return resp, nil
}

// errRefused: a writer refused the query node's credential.
var errRefused = errors.New("refused by the writer's internal API")

// warnRefused reports whether a refusal should be logged at warn level:
// at most once a minute.
func (o *Overlay) warnRefused() bool {
	now := time.Now().UnixNano()
	last := o.refusedAt.Load()
	return now-last >= int64(time.Minute) && o.refusedAt.CompareAndSwap(last, now)
}

// writers returns the writer registrations, re-read at most every 500ms
// unless fresh is set.
func (o *Overlay) writers(ctx context.Context, fresh bool) ([]Record, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !fresh && o.members != nil && time.Since(o.at) < 500*time.Millisecond {
		return o.members, nil
	}
	all, err := Members(ctx, o.store)
	if err != nil {
		return nil, err
	}
	var ws []Record
	for _, r := range all {
		if r.Role == RoleWriter {
			ws = append(ws, r)
		}
	}
	// The union's order (slots): ties of write stamps go to the later
	// writer's copy.
	slices.SortFunc(ws, func(a, b Record) int { return cmpUint(o.union.slot(a.NodeID), o.union.slot(b.NodeID)) })
	o.members, o.at = ws, time.Now()
	return ws, nil
}

// Heads implements engine.TierConfig.Overlay: one head per live writer
// with rows of db.table in [minT, maxT) outside the bucket. A writer whose
// registration is not live (stopped, or its lease ran out) or that does
// not answer is missing: an error under WriterDownError. policy, if not
// empty, replaces the node's for this call (a per-query choice).
func (o *Overlay) Heads(ctx context.Context, policy, db, table string, minT, maxT int64, schema *columnar.TableSchema) ([]*segment.Head, []string, error) {
	heads, _, missing, err := o.Sources(ctx, policy, db, table, minT, maxT, schema, nil)
	return heads, missing, err
}

// Sources is Heads for a scan that reads rollups (req; nil: none): each
// live writer not in req.Refuse is asked for its own scan's batches
// (RollupPath) instead of its raw rows; one that does not serve them
// answers raw. Which answers the scan may take is the engine's to decide
// (engine.Pushdown): the caller must Close the pushed answers it drops.
// A writer that does not answer is missing under the same policy as the
// raw path's.
func (o *Overlay) Sources(ctx context.Context, policy, db, table string, minT, maxT int64, schema *columnar.TableSchema, req *RollupRequest) ([]*segment.Head, []*Pushed, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if policy == "" {
		policy = o.policy
	}
	heads, pushed, missing, err := o.sources(ctx, db, table, minT, maxT, schema, req, false)
	if err == nil && len(missing) > 0 {
		// The registrations read may predate a writer's restart (a new
		// address): read them again before answering without it.
		closePushed(pushed)
		heads, pushed, missing, err = o.sources(ctx, db, table, minT, maxT, schema, req, true)
	}
	if err != nil || len(missing) == 0 {
		return heads, pushed, missing, err
	}
	if policy != WriterDownPartial {
		closePushed(pushed)
		return nil, nil, missing, fmt.Errorf("%w: %s (--cluster.writer-down %s, or partial=true)", ErrWritersDown, strings.Join(missing, ", "), WriterDownError)
	}
	o.log.Warn("answering without writers that are down: rows they hold outside the bucket are missing",
		"db", db, "table", table, "writers", missing)
	return heads, pushed, missing, nil
}

func closePushed(ps []*Pushed) {
	for _, p := range ps {
		p.Close()
	}
}

// sources fetches from every registered writer; missing names those whose
// rows could not be had (each logged).
func (o *Overlay) sources(ctx context.Context, db, table string, minT, maxT int64, schema *columnar.TableSchema, req *RollupRequest, fresh bool) ([]*segment.Head, []*Pushed, []string, error) {
	ws, err := o.writers(ctx, fresh)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("read the cluster's writers: %w", err)
	}
	heads := make([]*segment.Head, len(ws))
	stamps := make([][2]int64, len(ws))
	pushed := make([]*Pushed, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	now := time.Now()
	for i, w := range ws {
		if !w.Live(now) || w.InternalAddress == "" {
			errs[i] = fmt.Errorf("writer %s: not live (stopped %v, last heartbeat %s)", w.NodeID, w.Stopped, w.Heartbeat.Format(time.RFC3339))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if req != nil && !req.Refuse[w.NodeID] {
				p, ok, err := o.fetchPushed(ctx, w, db, table, req)
				if ok || err != nil {
					pushed[i], errs[i] = p, err
					return
				}
			}
			heads[i], stamps[i], errs[i] = o.fetch(ctx, w, db, table, minT, maxT, schema)
		}()
	}
	wg.Wait()
	// The engine keeps, of a point several heads hold, the last head's
	// copy: writers' rows ordered by their write stamps, ties (and
	// writers that send none) in slot order, as ws is.
	order := make([]int, len(ws))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return WriteOrder(stamps[a][0], stamps[a][1], stamps[b][0], stamps[b][1])
	})
	var outH []*segment.Head
	var outP []*Pushed
	var missing []string
	for _, i := range order {
		w := ws[i]
		if errs[i] != nil {
			missing = append(missing, w.NodeID)
			if fresh {
				o.log.Warn("writer's rows outside the bucket not read", "writer", w.NodeID, "err", errs[i])
			}
			continue
		}
		if pushed[i] != nil {
			outP = append(outP, pushed[i])
		}
		if heads[i] != nil && heads[i].Len() > 0 {
			outH = append(outH, heads[i])
		}
	}
	return outH, outP, missing, nil
}

// fetch reads a writer's rows of db.table in [minT, maxT) and the range
// of their write stamps (0, 0: not sent).
func (o *Overlay) fetch(ctx context.Context, w Record, db, table string, minT, maxT int64, schema *columnar.TableSchema) (*segment.Head, [2]int64, error) {
	var stamps [2]int64
	// With the rows' write stamps: the engine merges writers' copies of
	// a point by them (engine/scan_stamps.go).
	q := url.Values{"db": {db}, "table": {table}, "min": {strconv.FormatInt(minT, 10)}, "max": {strconv.FormatInt(maxT, 10)},
		StampsParam: {"1"}}
	resp, err := o.get(ctx, w, RowsPath+"?"+q.Encode())
	if err != nil {
		return nil, stamps, fmt.Errorf("writer %s at %s: %w", w.NodeID, w.InternalAddress, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, stamps, nil // the writer has no such table
	}
	if resp.StatusCode != http.StatusOK {
		return nil, stamps, fmt.Errorf("writer %s at %s: rows of %s.%s: %s", w.NodeID, w.InternalAddress, db, table, resp.Status)
	}
	lo, err1 := strconv.ParseInt(resp.Header.Get(WriteMinHeader), 10, 64)
	hi, err2 := strconv.ParseInt(resp.Header.Get(WriteMaxHeader), 10, 64)
	if err1 == nil && err2 == nil && lo <= hi {
		stamps = [2]int64{lo, hi}
	}
	o.rawFetches.Add(1)
	h, err := ReadHead(countingReader{resp.Body, &o.rawBytes}, table, schema)
	if err != nil {
		return nil, stamps, fmt.Errorf("writer %s at %s: %w", w.NodeID, w.InternalAddress, err)
	}
	return h, stamps, nil
}

// Schemas reads the catalogs of the live writers, merged in the union's
// order: a query node compiles queries against tables and columns that
// exist so far only outside the bucket. Writers that do not answer are
// left out (their tables appear once tiered).
func (o *Overlay) Schemas(ctx context.Context) (map[string]map[string]*columnar.TableSchema, error) {
	ws, err := o.writers(ctx, false)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]*columnar.TableSchema{}
	now := time.Now()
	for _, w := range ws {
		if !w.Live(now) || w.InternalAddress == "" {
			continue
		}
		cat, err := o.fetchSchemas(ctx, w)
		if err != nil {
			if errors.Is(err, errRefused) && o.warnRefused() {
				// A configuration mistake, not a writer down: said at
				// warn level, once a minute.
				o.log.Warn("writer's catalog not read", "writer", w.NodeID, "err", err)
			} else {
				o.log.Debug("writer's catalog not read", "writer", w.NodeID, "err", err)
			}
			continue
		}
		for db, tables := range cat {
			if out[db] == nil {
				out[db] = map[string]*columnar.TableSchema{}
			}
			for name, s := range tables {
				s.Reindex()
				if cur := out[db][name]; cur != nil {
					mergeSchema(cur, s)
				} else {
					out[db][name] = s.Clone()
				}
			}
		}
	}
	return out, nil
}

func (o *Overlay) fetchSchemas(ctx context.Context, w Record) (map[string]map[string]*columnar.TableSchema, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := o.get(ctx, w, SchemasPath)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", SchemasPath, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", SchemasPath, resp.Status)
	}
	var cat map[string]map[string]*columnar.TableSchema
	if err := json.NewDecoder(resp.Body).Decode(&cat); err != nil {
		return nil, fmt.Errorf("%s: %w", SchemasPath, err)
	}
	return cat, nil
}
