package main

// Crash test of dropping data: DROP DATABASE, DROP MEASUREMENT, DELETE FROM
// (InfluxQL over POST /query) and DELETE /api/v1/databases, interleaved with
// writes to the same and other databases while flushes and merges run, and
// silt SIGKILLed at random moments, often while a drop is in flight.
//
//	SILT_DROP_CRASH_ROUNDS=n   kill -9 rounds (default 4)
//	SILT_CRASH_SEED=n          seed of the random choices

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siltdb/silt/manifest"
)

var (
	dropDBs    = []string{"d0", "d1", "d2"}
	dropTables = []string{"t0", "t1", "t2"}
)

// dropOp is one request of a database's sequence: a write of keys/vals to
// table, or a drop of table ("" for the whole database).
type dropOp struct {
	write   bool
	table   string
	how     string // the drop's request, for messages
	keys    []pointKey
	vals    []string
	outcome outcome
	found   bool // a drop found something to drop (or said nothing of it)
}

// dropModel holds, for every point of every database, the values it may
// have after a crash; "" stands for absent.
type dropModel struct {
	points map[string]map[pointKey][]string // db -> point -> acceptable values
	// groups are the points an unacknowledged drop covered that had to be
	// there before it: after the restart all of them are there (the drop
	// was lost) or none (it held), never some.
	groups []dropGroup
}

type dropGroup struct {
	db, what string
	keys     []pointKey
}

func newDropModel() *dropModel {
	d := &dropModel{points: map[string]map[pointKey][]string{}}
	for _, db := range dropDBs {
		d.points[db] = map[pointKey][]string{}
	}
	return d
}

// apply records one database's operations of a round, in order.
func (d *dropModel) apply(db string, ops []dropOp) []string {
	var probs []string
	pts := d.points[db]
	for _, op := range ops {
		if op.write {
			for i, k := range op.keys {
				vs, known := pts[k]
				switch {
				case op.outcome == acked:
					pts[k] = []string{op.vals[i]}
				case !known:
					pts[k] = []string{"", op.vals[i]} // a new point, maybe stored
				default:
					pts[k] = append(vs, op.vals[i])
				}
			}
			continue
		}
		var covered []pointKey
		for k := range pts {
			if op.table == "" || k.Table == op.table {
				covered = append(covered, k)
			}
		}
		if op.outcome == acked && !op.found {
			// "not found": the server had nothing of the target, so the
			// model may not require anything of it either.
			for _, k := range covered {
				if !slices.Contains(pts[k], "") {
					probs = append(probs, fmt.Sprintf("%s on %s answered not found, but %v = %v was acknowledged", op.how, db, k, pts[k]))
				}
			}
		}
		g := dropGroup{db: db, what: op.how}
		for _, k := range covered {
			switch {
			case op.outcome == acked:
				pts[k] = []string{""}
			case !slices.Contains(pts[k], ""):
				g.keys = append(g.keys, k)
				pts[k] = append(pts[k], "")
			}
		}
		if len(g.keys) > 0 {
			d.groups = append(d.groups, g)
		}
	}
	return probs
}

// check compares the exports of every database (db -> table -> points) with
// the model, and settles the model to them.
func (d *dropModel) check(got map[string]map[pointKey]string) []string {
	var probs []string
	var lost, back, wrong, unknown int
	for db, pts := range d.points {
		for k, vs := range pts {
			v := got[db][k]
			if slices.Contains(vs, v) {
				continue
			}
			switch {
			case v == "":
				lost++
				probs = append(probs, fmt.Sprintf("%s: point %v missing; want one of %q", db, k, vs))
			case slices.Equal(vs, []string{""}):
				back++
				probs = append(probs, fmt.Sprintf("%s: dropped point %v came back as %s", db, k, v))
			default:
				wrong++
				probs = append(probs, fmt.Sprintf("%s: point %v = %s; want one of %q", db, k, v, vs))
			}
		}
		for k, v := range got[db] {
			if _, ok := pts[k]; !ok {
				unknown++
				probs = append(probs, fmt.Sprintf("%s: point %v = %s was never written", db, k, v))
			}
		}
	}
	for _, g := range d.groups {
		here := 0
		for _, k := range g.keys {
			if got[g.db][k] != "" {
				here++
			}
		}
		if here != 0 && here != len(g.keys) {
			probs = append(probs, fmt.Sprintf("%s on %s, in flight at the kill, held for %d of its %d points: a drop must hold whole or not at all",
				g.what, g.db, len(g.keys)-here, len(g.keys)))
		}
	}
	d.groups = nil
	sort.Strings(probs)
	if len(probs) > 0 {
		probs = append([]string{fmt.Sprintf("%d acknowledged points lost, %d dropped points back, %d wrong values, %d never written", lost, back, wrong, unknown)}, probs...)
	}
	for db, pts := range d.points {
		for k := range pts {
			pts[k] = []string{got[db][k]}
		}
	}
	return probs
}

// exportDrop exports every table of every database.
func exportDrop(p *siltProc) (map[string]map[pointKey]string, int, error) {
	out := map[string]map[pointKey]string{}
	n := 0
	for _, db := range dropDBs {
		got, err := p.exportTables(db, dropTables...)
		if err != nil {
			return nil, 0, fmt.Errorf("export %s: %w", db, err)
		}
		out[db] = got
		n += len(got)
	}
	return out, n, nil
}

// dropRequest sends one drop and classifies the answer: acknowledged
// (found or not found), or no answer (err).
func dropRequest(p *siltProc, rng *rand.Rand, db, table string) (how string, found bool, err error) {
	var code int
	var body []byte
	kind := rng.IntN(3)
	if table == "" {
		kind = rng.IntN(2) * 2 // InfluxQL or the HTTP API
	}
	switch {
	case kind == 0 && table == "":
		how = "DROP DATABASE"
		code, body, _, err = p.do(http.MethodPost, "/query?q="+url.QueryEscape(`DROP DATABASE "`+db+`"`), nil)
	case kind == 0:
		how = "DROP MEASUREMENT " + table
		code, body, _, err = p.do(http.MethodPost, "/query?db="+db+"&q="+url.QueryEscape(`DROP MEASUREMENT "`+table+`"`), nil)
	case kind == 1:
		how = "DELETE FROM " + table
		code, body, _, err = p.do(http.MethodPost, "/query?db="+db+"&q="+url.QueryEscape(`DELETE FROM "`+table+`"`), nil)
	default:
		how = "DELETE /api/v1/databases?db=" + db
		q := "/api/v1/databases?db=" + db
		if table != "" {
			how += "&table=" + table
			q += "&table=" + table
		}
		code, body, _, err = p.do(http.MethodDelete, q, nil)
	}
	if err != nil {
		return how, false, err
	}
	if kind == 2 {
		switch code {
		case http.StatusOK:
			return how, true, nil
		case http.StatusNotFound:
			return how, false, nil
		}
		return how, false, fmt.Errorf("%s: status %d %s", how, code, body)
	}
	var r struct {
		Results []struct {
			Error string `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &r) != nil || r.Error != "" || len(r.Results) != 1 {
		return how, false, fmt.Errorf("%s: status %d %s", how, code, body)
	}
	if e := r.Results[0].Error; e != "" {
		if strings.Contains(e, "not found") {
			return how, false, nil
		}
		return how, false, fmt.Errorf("%s: %s", how, e)
	}
	return how, true, nil
}

// dropSequence runs one database's requests until the kill: mostly writes
// of new points to one of its tables, a drop now and then.
func dropSequence(t *testing.T, p *siltProc, db string, seed uint64, round int, budget int64,
	next, sent, nextVal *atomic.Int64, dropping *atomic.Int64, killed *atomic.Bool) []dropOp {
	rng := rand.New(rand.NewPCG(seed, 13))
	var ops []dropOp
	for b := 0; ; b++ {
		if sent.Load() > budget {
			time.Sleep(time.Duration(10+rng.IntN(30)) * time.Millisecond)
		}
		table := dropTables[rng.IntN(len(dropTables))]
		if rng.IntN(6) != 0 {
			l := fmt.Sprintf("r%d%sb%d", round, db, b)
			size := 20 + rng.IntN(181)
			op := dropOp{write: true, table: table, keys: make([]pointKey, size), vals: make([]string, size)}
			for i := range op.keys {
				n := next.Add(1)
				op.keys[i] = pointKey{Table: table, Series: fmt.Sprintf("h=h%02d", n%19), Time: t0 + n*1000}
				op.vals[i] = fieldsText(nextVal.Add(1), l)
			}
			sent.Add(int64(size))
			code, body, _, err := p.write(db, lineProtocol(op.keys, op.vals))
			if err == nil && code == http.StatusNoContent {
				op.outcome = acked
				ops = append(ops, op)
				continue
			}
			op.outcome = unacked
			ops = append(ops, op)
			if !killed.Load() {
				t.Errorf("%s: write failed before the kill: %d %s %v", l, code, body, err)
			}
			return ops
		}
		if rng.IntN(4) == 0 {
			table = "" // the whole database
		}
		dropping.Add(1)
		how, found, err := dropRequest(p, rng, db, table)
		op := dropOp{table: table, how: how, found: found, outcome: acked}
		if err != nil {
			op.outcome = unacked
			ops = append(ops, op)
			if !killed.Load() {
				t.Errorf("round %d %s: %s failed before the kill: %v", round, db, how, err)
			}
			return ops
		}
		ops = append(ops, op)
	}
}

// describeOps lists each database's requests of a round, one line each.
func describeOps(results [][]dropOp) string {
	var b strings.Builder
	for i, ops := range results {
		fmt.Fprintf(&b, "  %s:", dropDBs[i])
		for _, op := range ops {
			if op.write {
				fmt.Fprintf(&b, " write %s %d rows (%s);", op.table, len(op.keys), op.outcome)
			} else {
				fmt.Fprintf(&b, " %s (%s, found %v);", op.how, op.outcome, op.found)
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestCrashKill9Drop: three databases of three tables each, one sequence
// of writes and drops per database, concurrently, with small flushes and
// frequent merges; SIGKILL at a random moment or a few milliseconds after
// a drop was sent. After each restart: every acknowledged row not dropped
// since is there once, no dropped row is back, a drop in flight held whole
// or not at all, `silt check` is clean; at the end the segments hold each
// row once and no file is left that the manifest does not name.
func TestCrashKill9Drop(t *testing.T) {
	skipShort(t)
	rounds := int(envInt(t, "SILT_DROP_CRASH_ROUNDS", 4))
	seed := testSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0xd20))
	h := newHarness(t)
	data := filepath.Join(h.dir, "data")
	args := []string{"--flush-bytes", "64KiB", "--flush-interval", "100ms", "--compaction.interval", "20ms", "--wal-segment-bytes", "1MiB"}
	d := newDropModel()
	var nextPoint, nextVal atomic.Int64
	var totalAck, totalRows, totalDrops, inFlight int
	start := time.Now()
	var got map[string]map[pointKey]string
	var n int
	var lastOps string // what the sequences of the last round did, for a failure
	for round := 0; ; round++ {
		p := h.start(data, args...)
		var err error
		got, n, err = exportDrop(p)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		reportProblems(t, fmt.Sprintf("after the restart following round %d", round-1), d.check(got))
		checkDataDir(t, data, fmt.Sprintf("after the restart following round %d", round-1))
		if t.Failed() {
			t.Logf("the sequences of round %d:\n%s", round-1, lastOps)
			t.FailNow()
		}
		siltCheck(t, data, fmt.Sprintf("round %d", round))
		if round == rounds {
			if code := p.term(); code != 0 {
				t.Fatalf("SIGTERM: exit code %d", code)
			}
			break
		}
		var killed atomic.Bool
		var sent, dropping atomic.Int64
		results := make([][]dropOp, len(dropDBs))
		var wg sync.WaitGroup
		for i, db := range dropDBs {
			s := rng.Uint64()
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = dropSequence(t, p, db, s, round, 12000, &nextPoint, &sent, &nextVal, &dropping, &killed)
			}()
		}
		var how string
		if rng.IntN(2) == 0 {
			time.Sleep(time.Duration(100+rng.IntN(1200)) * time.Millisecond)
			how = "at a random moment"
			killed.Store(true)
			p.kill()
		} else {
			// A few milliseconds after a drop is sent: amid its WAL
			// append, fsync and manifest commit.
			how = "just after a drop was sent"
			moved := timedKill(p, rng, time.Duration(100+rng.IntN(500))*time.Millisecond, 3*time.Second, 4*time.Millisecond,
				func() (float64, error) { return float64(dropping.Load()), nil }, &killed)
			if !moved {
				how = "at a random moment (no drop came)"
			}
		}
		wg.Wait()
		lastOps = describeOps(results)
		var nAck, nUnack, rows, drops, unackDrops int
		for i, db := range dropDBs {
			reportProblems(t, fmt.Sprintf("round %d %s", round, db), d.apply(db, results[i]))
			for _, op := range results[i] {
				switch {
				case op.write && op.outcome == acked:
					nAck++
					rows += len(op.keys)
				case op.write:
					nUnack++
				case op.outcome == acked:
					drops++
				default:
					unackDrops++
				}
			}
		}
		totalAck += nAck
		totalRows += rows
		totalDrops += drops
		inFlight += unackDrops
		t.Logf("round %d: SIGKILL %s; %d writes acknowledged (%d rows), %d not; %d drops acknowledged, %d in flight",
			round, how, nAck, rows, nUnack, drops, unackDrops)
	}

	// After the clean stop: the segments hold each stored row once, and
	// every file is named by the manifest.
	man, err := manifest.LoadManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	reportProblems(t, "after a clean stop", localSegmentProblems(data, man))
	rowsIn := map[string]int64{}
	for _, s := range man.Segments {
		if !s.IsRollup() {
			rowsIn[s.DB+"."+s.Table] += s.Rows
		}
	}
	for _, db := range dropDBs {
		for _, tb := range dropTables {
			want := 0
			for k := range got[db] {
				if k.Table == tb {
					want++
				}
			}
			if rowsIn[db+"."+tb] != int64(want) {
				t.Errorf("after a clean stop: segments of %s.%s hold %d rows, the export had %d points", db, tb, rowsIn[db+"."+tb], want)
			}
		}
	}
	if st := readDiskState(t, data); len(st.orphans)+len(st.runs)+len(st.missing) > 0 {
		t.Errorf("after a clean stop: files not named by the manifest %v, run files %v, missing %v", st.orphans, st.runs, st.missing)
	}
	t.Logf("final: %d rounds, %d writes (%d rows) and %d drops acknowledged, %d drops in flight at a kill; %d points stored, rows lost 0; %s",
		rounds, totalAck, totalRows, totalDrops, inFlight, n, time.Since(start).Round(time.Second))
}
