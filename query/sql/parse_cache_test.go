package sql

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// shapeCorpus holds query shapes of the kinds dashboards, TSBS and the
// InfluxQL compiler send, and literal forms the cache must get right or
// leave alone.
var shapeCorpus = []string{
	`SELECT date_bin('1 minute', time, TIMESTAMP '2000-01-01') AS minute, max(usage_user) FROM cpu WHERE (hostname = 'host_97') AND time >= '2026-01-01T06:31:00Z' AND time < '2026-01-01T07:31:00Z' GROUP BY minute ORDER BY minute ASC`,
	`SELECT date_bin(INTERVAL '60000000000 ns', time, TIMESTAMPTZ '1970-01-01T00:00:00Z'), max("usage_user"), count(*) FROM "cpu" WHERE time >= 1767225600000000000 AND time <= 1767229199999999999 AND ("hostname" = 'host_1' OR "hostname" = 'it''s') GROUP BY 1 ORDER BY 1 DESC LIMIT 5`,
	`SELECT hostname, last(usage_user, time) AS u FROM cpu WHERE time < '2026-01-01T00:50:00Z' GROUP BY hostname ORDER BY hostname LIMIT 10 OFFSET 5`,
	`SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= '2026-01-01T03:05:00Z' AND time < '2026-01-01T15:05:00Z'`,
	`SELECT usage_user - 5, usage_user -5, usage_user*-5, -usage_user, - 7, -2147483648, 2147483647, -2147483647, 2147483648, 1e5, .5, 5.25, -1.5e-3 FROM cpu WHERE usage_idle = -1 LIMIT 3`,
	`SELECT CASE WHEN usage_user > 50 THEN 'high' WHEN usage_user > 20 THEN 'mid' ELSE '' END AS c, count(*) FROM cpu WHERE hostname IN ('a', 'b', 'c') GROUP BY 1 ORDER BY 2 DESC`,
	`SELECT '5'::int + 3, CAST('7' AS bigint), now() - interval '1 hour', time + INTERVAL '30 seconds' FROM cpu WHERE time BETWEEN '2026-01-01' AND '2026-01-02' LIMIT 1`,
	`SELECT avg(usage_user) FROM cpu WHERE time > now() - INTERVAL '15 minutes' AND region != 'us-east-1' HAVING avg(usage_user) > 10.5`,
	"SELECT max(usage_user)\nFROM cpu\nWHERE hostname = 'x'\n  AND time >= '2026-01-01'",
	`SELECT 'a' 'b' FROM cpu`,
	"SELECT 'a'\n'b' AS joined, 1 FROM cpu",
	`SELECT E'x\n', 1 FROM cpu`,
	`SELECT 0x1f, 1_000 FROM cpu`,
	`SELECT $$x$$ FROM cpu`,
	`SELECT t1.usage_user FROM cpu t1 WHERE t1.usage_user > 3`,
	`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY usage_user) FROM cpu WHERE hostname = 'h'`,
	`SELECT hostname, usage_user FROM cpu WHERE time >= '2026-01-01' ORDER BY time DESC LIMIT 1`,
	`SELECT date_bin('5 minutes', time, TIMESTAMP '2000-01-01') AS b, sum(usage_nice) FROM cpu WHERE usage_user < 30 GROUP BY 1 ORDER BY 1 DESC LIMIT 6 OFFSET 0`,
	`SELECT substr('hello', 2, 3), round(usage_user, 2), usage_user % 7 FROM cpu LIMIT 2`,
	`SELECT x FROM (SELECT usage_user AS x FROM cpu WHERE usage_user > 5 LIMIT 100) s WHERE x < 50`,
}

var shapeCatalog = MapCatalog{"cpu": {Tags: []string{"hostname", "region"}, Fields: []Field{
	{Name: "usage_user", Type: TypeFloat64}, {Name: "usage_idle", Type: TypeFloat64}, {Name: "usage_nice", Type: TypeInt64}}}}

// TestShapeCacheTrees checks that a text of a cached shape gets the tree
// the parser builds for it (positions aside), and the same plan, over the
// corpus with its literals replaced at random.
func TestShapeCacheTrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cached := 0
	for _, q := range shapeCorpus {
		// Twice: the second sighting keeps the shape. Texts the parser
		// refuses ('a' 'b' on one line) keep none.
		for range 2 {
			Parse(q)
		}
		for round := range 20 {
			v := q
			if round > 0 {
				v = varyLiterals(q, rng)
			}
			key, lits, ok := shapeKey(v)
			if !ok {
				continue
			}
			sel, _, release, ok := cachedParse(key, lits)
			if !ok {
				continue
			}
			cached++
			fresh, err := pg_query.Parse(v)
			if err != nil {
				t.Fatalf("%s: %v", v, err)
			}
			want := fresh.Stmts[0].Stmt.GetSelectStmt()
			got := proto.Clone(sel).(*pg_query.SelectStmt)
			clearLocations(got.ProtoReflect())
			clearLocations(want.ProtoReflect())
			if !proto.Equal(got, want) {
				t.Fatalf("shape cache tree differs from the parser's for\n%s\n(cached from %s)\ngot  %v\nwant %v", v, q, got, want)
			}
			// Planning leaves the borrowed tree as it was.
			before := proto.Clone(sel)
			st := &Statement{Kind: StmtSelect, SQL: v, sel: sel}
			p1, err1 := Plan(st, shapeCatalog, now)
			if !proto.Equal(before, sel) {
				t.Fatalf("%s: Plan changed the parse tree", v)
			}
			release()
			p2, err2 := compileUncached(v, shapeCatalog, now)
			if (err1 == nil) != (err2 == nil) || err1 == nil && p1.String() != p2.String() {
				t.Fatalf("%s: plans differ:\n%v %v\n%v %v", v, p1, err1, p2, err2)
			}
		}
	}
	if cached < 100 {
		t.Errorf("only %d texts came from the shape cache", cached)
	}
	// Forms the cache must leave to the parser.
	for _, q := range []string{`SELECT E'x\n', 1 FROM cpu`, `SELECT 0x1f, 1_000 FROM cpu`, `SELECT $$x$$ FROM cpu`, `SELECT 1 -- c` + "\n" + `FROM cpu`, `SELECT U&'d' FROM cpu`} {
		if _, _, ok := shapeKey(q); ok {
			t.Errorf("%s: has a shape key", q)
		}
	}
}

// TestShapeCacheErrors checks that errors of a cached shape point into
// the text that was sent.
func TestShapeCacheErrors(t *testing.T) {
	now := time.Now()
	for _, q := range []string{`SELECT nosuch FROM cpu WHERE hostname = 'a'`, `SELECT nosuch FROM cpu WHERE hostname = 'a'`} {
		if _, err := Compile(q, shapeCatalog, now); err == nil {
			t.Fatalf("%s: no error", q)
		}
	}
	q := `SELECT nosuch FROM cpu WHERE hostname = 'a much longer value than before'`
	key, lits, _ := shapeKey(q)
	if _, _, release, ok := cachedParse(key, lits); !ok {
		t.Fatal("the shape was not kept")
	} else {
		release()
	}
	_, err := Compile(q, shapeCatalog, now)
	var e *Error
	if !asError(err, &e) || e.Position != strings.Index(q, "nosuch")+1 {
		t.Fatalf("error %v, want one at position %d", err, strings.Index(q, "nosuch")+1)
	}
}

func asError(err error, e **Error) bool {
	x, ok := err.(*Error)
	*e = x
	return ok
}

// varyLiterals replaces each literal of q the shape cache handles by
// another of its kind.
func varyLiterals(q string, rng *rand.Rand) string {
	_, lits, ok := shapeKey(q)
	if !ok {
		return q
	}
	var b strings.Builder
	last := 0
	for _, l := range lits {
		b.WriteString(q[last:l.pos])
		switch l.kind {
		case 's':
			end := int(l.pos) + 1
			for {
				if q[end] == '\'' {
					if end+1 < len(q) && q[end+1] == '\'' {
						end += 2
						continue
					}
					break
				}
				end++
			}
			last = end + 1
			vals := []string{"''", "'x'", "'it''s'", "'müller'", "'2026-01-01T00:00:00Z'", "'5'", "'1 day'", "'host_" + fmt.Sprint(rng.IntN(1000)) + "'"}
			b.WriteString(vals[rng.IntN(len(vals))])
		case 'i':
			last = int(l.pos) + len(l.text)
			vals := []string{"0", "1", "7", fmt.Sprint(rng.Int32()), "2147483647"}
			b.WriteString(vals[rng.IntN(len(vals))])
		default:
			last = int(l.pos) + len(l.text)
			vals := []string{"0.0", "1.5", "3000000000", "1e3", ".25", "2147483648", fmt.Sprintf("%.3f", rng.Float64()*100)}
			b.WriteString(vals[rng.IntN(len(vals))])
		}
	}
	b.WriteString(q[last:])
	return b.String()
}

// clearLocations zeroes every location field of a parse tree.
func clearLocations(m protoreflect.Message) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "location" || fd.Name() == "stmt_location":
			m.Clear(fd)
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				clearLocations(l.Get(i).Message())
			}
		case fd.Message() != nil && !fd.IsMap():
			clearLocations(v.Message())
		}
		return true
	})
}
