package influxql

import (
	"encoding/binary"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/influxql"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query/sql"
)

// PlanCache keeps what /query compiles from a request, for the requests
// that send the same text again — a dashboard refreshing its panels, a
// benchmark: the parsed statements of a read-only request, by its text,
// with their fields resolved against their measurements' schemas, and the
// SQL plans its SELECTs compile to, by measurement, schema and SQL text. A hit skips InfluxQL's parser and the SQL planner, which cost
// a lastpoint query as much as encoding its answer.
//
// Nothing kept depends on the time of the request or holds data: now()
// is evaluated on every request (the SQL texts carry the bounds it gave,
// so a now()-relative query plans a new text each time, found only when
// a request repeats it at the same bounds), a plan is kept only once
// planning its text at another time gave the same plan, and answers are
// never kept. A plan is keyed by its measurement's schema, so a new field
// or tag plans anew. Safe for concurrent use; bounded by entries and by
// an estimate of their bytes, the least recently used dropped first.
type PlanCache struct {
	maxEntries int
	maxBytes   int64

	mu      sync.Mutex
	entries map[string]*planEntry
	head    planEntry // sentinel of the recency list: head.next is the newest
	bytes   int64

	hits, misses, evictions atomic.Uint64
}

// planEntry is a text seen before: its parse or plan once kept (a text
// is kept on its second request, so that one-off texts — a now()-relative
// query's SQL — cost nothing but their key).
type planEntry struct {
	key        string
	size       int64
	query      *influxql.Query // a parsed request
	plan       *sql.Query      // a planned SQL text
	uncachable bool            // its plan depends on the time: never kept
	// rewrites are query's SELECTs with their fields resolved against
	// their measurements' schemas (selectCompiler.prepare).
	rewrites map[rewriteKey]*influxql.SelectStatement
	// conds are the conditions of rewrites, reduced and their time range
	// taken (influxql.ConditionExpr), for those that do not depend on
	// the time of the request (no call, so no now()).
	conds map[*influxql.SelectStatement]*condition
	// columns are the answer's column names of rewrites (ColumnNames,
	// a string per column each request otherwise).
	columns    map[*influxql.SelectStatement][]string
	prev, next *planEntry
}

// Plan cache bounds: texts longer than maxPlanText are not kept, so
// maxPlanEntries bound the bytes too; maxPlanBytes bounds the estimate.
const (
	DefaultPlanEntries = 1024
	DefaultPlanBytes   = 16 << 20
	maxPlanText        = 8 << 10
)

// NewPlanCache returns a cache of at most entries plans and requests,
// which together take at most about maxBytes.
func NewPlanCache(entries int, maxBytes int64) *PlanCache {
	c := &PlanCache{maxEntries: entries, maxBytes: maxBytes, entries: map[string]*planEntry{}}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

// PlanCacheStats are a PlanCache's counters.
type PlanCacheStats struct {
	Hits, Misses, Evictions uint64
	Entries                 int
	Bytes, MaxBytes         int64
}

// Stats returns the cache's counters; a nil cache has none.
func (c *PlanCache) Stats() PlanCacheStats {
	if c == nil {
		return PlanCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return PlanCacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(),
		Entries: len(c.entries), Bytes: c.bytes, MaxBytes: c.maxBytes}
}

// entryBytes estimates what an entry of key holds: the key and the tree
// or plan built from a text of n bytes. Parsing or planning a TSBS or
// Grafana query allocates 6 to 8 KB and up to ~40 bytes per byte of its
// text, and what they keep is less than what they allocated
// (TestPlanCacheBytesBoundPlans checks the estimate against the latter).
func entryBytes(key string, n int) int64 {
	return int64(len(key)) + 200 + 8192 + 64*int64(n)
}

// get returns key's entry, made the newest, or creates it (as seen
// once); nil when the text is too long to keep. Called with c.mu held.
func (c *PlanCache) get(key string) (e *planEntry, seen bool) {
	if e = c.entries[key]; e != nil {
		c.unlink(e)
		c.link(e)
		return e, true
	}
	e = &planEntry{key: key, size: int64(len(key)) + 200}
	c.entries[key] = e
	c.bytes += e.size
	c.link(e)
	c.evict()
	return e, false
}

func (c *PlanCache) link(e *planEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *PlanCache) unlink(e *planEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

// grow counts the bytes e's kept value adds, then evicts past the bounds.
// Called with c.mu held.
func (c *PlanCache) grow(e *planEntry, size int64) {
	c.bytes += size - e.size
	e.size = size
	c.evict()
}

// evict drops the least recently used entries while the cache is past a
// bound. Called with c.mu held.
func (c *PlanCache) evict() {
	for (len(c.entries) > c.maxEntries || c.bytes > c.maxBytes) && c.head.prev != &c.head {
		e := c.head.prev
		c.unlink(e)
		delete(c.entries, e.key)
		c.bytes -= e.size
		c.evictions.Add(1)
	}
}

// parse returns the statements of text, from the cache when the request
// was parsed before. Only requests of SELECTs without INTO are kept (what
// dashboards send): their statements are read, never changed, by every
// request that runs them. parse is the parser's when c is nil, the
// request binds parameters or is too long.
// kept is the entry of the parse it returns when that is the one the
// cache holds (its statements' rewrites are kept there too), else nil.
func (c *PlanCache) parse(text string, params map[string]any, parse func() (*influxql.Query, error)) (q *influxql.Query, kept *planEntry, err error) {
	if c == nil || params != nil || len(text) > maxPlanText {
		q, err = parse()
		return q, nil, err
	}
	key := "q\x00" + text
	c.mu.Lock()
	e, seen := c.get(key)
	if e.query != nil {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.query, e, nil
	}
	c.mu.Unlock()
	c.misses.Add(1)
	q, err = parse()
	if err != nil || !seen || !onlySelects(q) {
		return q, nil, err
	}
	c.mu.Lock()
	if c.entries[key] == e && e.query == nil {
		e.query, kept = q, e // this request runs the statements kept
		c.grow(e, entryBytes(key, len(text)))
	}
	c.mu.Unlock()
	return q, kept, nil
}

// maxRewrites bounds the rewrites an entry keeps: one per statement and
// set of schemas its measurements had (a new field makes another).
const maxRewrites = 8

// rewriteKey is a statement of a kept parse and the schema its fields
// were resolved against.
type rewriteKey struct {
	st     *influxql.SelectStatement
	schema string
}

// rewrite returns st's fields resolved against schema (rewrite), from e
// when st is a statement of e's parse and was resolved against the same
// schema before. A statement's rewrite is read, never changed, by the
// requests that run it.
func (c *PlanCache) rewrite(e *planEntry, st *influxql.SelectStatement, schema *columnar.TableSchema,
	rewrite func() (*influxql.SelectStatement, error)) (*influxql.SelectStatement, error) {
	if c == nil || e == nil || !slices.ContainsFunc(e.query.Statements, func(s influxql.Statement) bool { return s == st }) {
		return rewrite()
	}
	key := rewriteKey{st, planKey("", "", schema, "")}
	c.mu.Lock()
	r := e.rewrites[key]
	c.mu.Unlock()
	if r != nil {
		c.hits.Add(1)
		return r, nil
	}
	c.misses.Add(1)
	r, err := rewrite()
	if err != nil {
		return r, err
	}
	c.mu.Lock()
	if c.entries[e.key] == e && len(e.rewrites) < maxRewrites && e.rewrites[key] == nil {
		if e.rewrites == nil {
			e.rewrites = map[rewriteKey]*influxql.SelectStatement{}
		}
		e.rewrites[key] = r
		c.grow(e, e.size+entryBytes(key.schema, len(e.key)))
	}
	c.mu.Unlock()
	return r, nil
}

// condition is a statement's condition as influxql.ConditionExpr gives
// it: the condition beyond time, reduced, and the time range.
type condition struct {
	expr influxql.Expr
	tr   influxql.TimeRange
}

// condition returns influxql.ConditionExpr of st's condition (reduce),
// from e when st is one of e's kept rewrites and was reduced before: TSBS
// writes its times as RFC 3339 strings, which ConditionExpr reads with
// regular expressions on every request. A condition with a call (now())
// depends on the request's time and is reduced each time. What it returns
// is read, never changed, by the requests that run st.
func (c *PlanCache) condition(e *planEntry, st *influxql.SelectStatement,
	reduce func() (influxql.Expr, influxql.TimeRange, error)) (influxql.Expr, influxql.TimeRange, error) {
	if c == nil || e == nil || hasCall(st.Condition) {
		return reduce()
	}
	c.mu.Lock()
	kept := false
	for _, r := range e.rewrites {
		kept = kept || r == st
	}
	r := e.conds[st]
	c.mu.Unlock()
	if !kept {
		return reduce()
	}
	if r != nil {
		return r.expr, r.tr, nil
	}
	expr, tr, err := reduce()
	if err != nil {
		return expr, tr, err
	}
	c.mu.Lock()
	if c.entries[e.key] == e && len(e.conds) < maxRewrites && e.conds[st] == nil {
		if e.conds == nil {
			e.conds = map[*influxql.SelectStatement]*condition{}
		}
		e.conds[st] = &condition{expr: expr, tr: tr}
		// A reduced condition is smaller than the statement it came
		// from, which entryBytes counted for the text.
		c.grow(e, e.size+64*int64(len(e.key))/4)
	}
	c.mu.Unlock()
	return expr, tr, nil
}

// columnNames returns st.ColumnNames(), from e when st is one of e's kept
// rewrites and was named before. The names a statement's series share are
// read, never changed, by the requests that run st (the encoders).
func (c *PlanCache) columnNames(e *planEntry, st *influxql.SelectStatement) []string {
	if c == nil || e == nil {
		return st.ColumnNames()
	}
	c.mu.Lock()
	kept := false
	for _, r := range e.rewrites {
		kept = kept || r == st
	}
	names := e.columns[st]
	c.mu.Unlock()
	if !kept {
		return st.ColumnNames()
	}
	if names != nil {
		return names
	}
	names = st.ColumnNames()
	c.mu.Lock()
	if c.entries[e.key] == e && len(e.columns) < maxRewrites && e.columns[st] == nil {
		if e.columns == nil {
			e.columns = map[*influxql.SelectStatement][]string{}
		}
		e.columns[st] = names
		n := int64(24 * len(names))
		for _, s := range names {
			n += int64(len(s))
		}
		c.grow(e, e.size+n)
	}
	c.mu.Unlock()
	return names
}

// hasCall reports whether e holds a function call (now(), or anything
// the parser would let through).
func hasCall(e influxql.Expr) bool {
	found := false
	influxql.WalkFunc(e, func(n influxql.Node) {
		if _, ok := n.(*influxql.Call); ok {
			found = true
		}
	})
	return found
}

// onlySelects reports whether q is all SELECTs that write nothing.
func onlySelects(q *influxql.Query) bool {
	for _, st := range q.Statements {
		if sel, ok := st.(*influxql.SelectStatement); !ok || sel.Target != nil {
			return false
		}
	}
	return true
}

// plan returns text's SQL plan over the measurement m of db, whose schema
// is schema: from the cache when planned before against the same schema.
// compile plans text against a catalog and a time; the plan kept is the
// one of a catalog of m alone, which a text reading m alone plans the
// same as against every table of db. A text whose plan is not the same at
// another time is never kept.
func (c *PlanCache) plan(db, m string, schema *columnar.TableSchema, text string, now time.Time,
	compile func(tables map[string]*columnar.TableSchema, now time.Time) (*sql.Query, error),
	full func() (*sql.Query, error)) (*sql.Query, error) {
	if c == nil || len(text) > maxPlanText {
		return full()
	}
	key := planKey(db, m, schema, text)
	c.mu.Lock()
	e, seen := c.get(key)
	if e.plan != nil {
		c.mu.Unlock()
		c.hits.Add(1)
		return e.plan, nil
	}
	uncachable := e.uncachable
	c.mu.Unlock()
	c.misses.Add(1)
	if !seen || uncachable {
		return full()
	}
	// Seen before: plan against m alone, twice, at times a day apart; a
	// failure is the full catalog's to report, in its words.
	one := map[string]*columnar.TableSchema{m: schema}
	q, err := compile(one, now)
	if err != nil {
		return full()
	}
	again, err := compile(one, now.Add(-24*time.Hour))
	same := err == nil && reflect.DeepEqual(q, again)
	c.mu.Lock()
	if c.entries[key] == e && e.plan == nil {
		if same {
			e.plan = again // q stays this request's own
			c.grow(e, entryBytes(key, len(text)))
		} else {
			e.uncachable = true
		}
	}
	c.mu.Unlock()
	return q, nil
}

// planKey is the key of text's plan over m of db with schema: the text
// is read against the schema's tags and fields, in order, with types.
// Every name goes in with its length first, so no two keys run together.
func planKey(db, m string, schema *columnar.TableSchema, text string) string {
	n := 2 + 2*binary.MaxVarintLen64 + len(db) + len(m) + len(text)
	for _, t := range schema.Tags {
		n += len(t) + binary.MaxVarintLen64
	}
	for _, f := range schema.Fields {
		n += len(f.Name) + 1 + binary.MaxVarintLen64
	}
	b := make([]byte, 0, n)
	b = append(b, 's', 0)
	name := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	name(db)
	name(m)
	b = binary.AppendUvarint(b, uint64(len(schema.Tags)))
	for _, t := range schema.Tags {
		name(t)
	}
	b = binary.AppendUvarint(b, uint64(len(schema.Fields)))
	for _, f := range schema.Fields {
		name(f.Name)
		b = append(b, byte(f.Type))
	}
	b = append(b, text...)
	return string(b)
}
