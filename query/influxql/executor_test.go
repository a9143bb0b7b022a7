package influxql

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/siltdb/silt/columnar"
	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// failingBackend has one database whose queries fail: it drives the
// error paths (the answers themselves are checked against InfluxDB in
// server/influxql_oracle_test.go).
type failingBackend struct{ created, dropped []string }

func (f *failingBackend) Databases() []string { return []string{"d"} }

func (f *failingBackend) Tables(db string) (map[string]*columnar.TableSchema, bool) {
	if db != "d" {
		return nil, false
	}
	s := columnar.NewTableSchema()
	s.Tags = []string{"host"}
	s.Fields = []columnar.FieldSchema{{Name: "v", Type: columnar.FieldFloat}}
	return map[string]*columnar.TableSchema{"m": s}, true
}

var errScan = errors.New("scan failed: disk on fire")

func (f *failingBackend) Run(context.Context, string, *sql.Query) (*query.Result, error) {
	return nil, errScan
}

func (f *failingBackend) CreateDatabase(db string) error {
	f.created = append(f.created, db)
	return nil
}

func (f *failingBackend) RunRows(context.Context, *sql.Query, *columnar.ColumnBatch) (*query.Result, error) {
	return nil, errScan
}

func (f *failingBackend) SetRetention(db string, d time.Duration) error { return f.CreateDatabase(db) }

func (f *failingBackend) Retention(db string) (time.Duration, bool) { return 0, db == "d" }

func TestParseEpoch(t *testing.T) {
	ns := int64(1_700_000_123_456_789_012)
	for in, want := range map[string]any{
		"ns": ns, "n": ns, "u": ns / 1e3, "µ": ns / 1e3, "ms": ns / 1e6, "s": ns / 1e9, "m": ns / 6e10, "h": ns / 36e11,
		"": "2023-11-14T22:15:23.456789012Z",
	} {
		e, err := ParseEpoch(in)
		if err != nil {
			t.Fatalf("ParseEpoch(%q): %v", in, err)
		}
		if got := e.timeValue(ns, nil); got != want {
			t.Errorf("epoch %q: %v (%T), want %v", in, got, got, want)
		}
	}
	loc, _ := time.LoadLocation("America/Chicago")
	if got := (Epoch{}).timeValue(0, loc); got != "1969-12-31T18:00:00-06:00" {
		t.Errorf("RFC 3339 in a zone: %v", got)
	}
	if _, err := ParseEpoch("days"); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Errorf("ParseEpoch(days): %v", err)
	}
}

func TestExecuteErrors(t *testing.T) {
	b := &failingBackend{}
	ctx := context.Background()
	if _, err := Execute(ctx, b, Request{Query: "SELEC 1"}); err == nil || !strings.HasPrefix(err.Error(), "error parsing query: ") {
		t.Fatalf("syntax error: %v", err)
	}
	var pe *ParseError
	if _, err := Execute(ctx, b, Request{Query: "  "}); !errors.As(err, &pe) {
		t.Fatalf("empty query: %v", err)
	}
	// A failed statement stops the rest; earlier ones keep their answers.
	resp, err := Execute(ctx, b, Request{Query: `SHOW DATABASES; SELECT v FROM m; CREATE DATABASE x; SHOW DATABASES`, Database: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 4 || resp.Results[0].Error != "" || len(resp.Results[0].Series) != 1 ||
		!strings.Contains(resp.Results[1].Error, errScan.Error()) ||
		resp.Results[2].Error != ErrNotExecuted.Error() || resp.Results[3].Error != ErrNotExecuted.Error() {
		t.Fatalf("results: %+v %+v %+v %+v", resp.Results[0], resp.Results[1], resp.Results[2], resp.Results[3])
	}
	if len(b.created) != 0 {
		t.Fatalf("a statement after the failure ran: %v", b.created)
	}
	for q, want := range map[string]string{
		`SELECT v FROM m`:                                "database name required",
		`SELECT v FROM nodb..m`:                          "database not found: nodb",
		`SELECT v INTO m2 FROM d..m`:                     "INTO is not supported",
		`DROP SERIES FROM m WHERE host = 'a'`:            "DROP SERIES with WHERE is not supported",
		`SELECT mean(v) FROM (SELECT v FROM d..m), d..m`: "only source",
		`SELECT v FROM d..m GROUP BY time(1m)`:           "aggregate",
		`SELECT mean(v), v FROM d..m`:                    "mixing aggregate and non-aggregate",
		`SELECT derivative(v), v FROM d..m`:              "combined with other fields",
		`SELECT distinct(v), mean(v) FROM d..m`:          "distinct()",
		`SELECT host FROM d..m`:                          "at least one field",
	} {
		resp, err := Execute(ctx, b, Request{Query: q})
		if err != nil {
			t.Errorf("%s: request error %v", q, err)
			continue
		}
		if got := resp.Results[0].Error; !strings.Contains(got, want) {
			t.Errorf("%s: error %q, want it to contain %q", q, got, want)
		}
	}
}

func TestExecuteAuthorizesEveryStatementFirst(t *testing.T) {
	b := &failingBackend{}
	readOnly := func(p Privilege) error {
		if p != PrivRead {
			return errors.New("token r lacks the write scope")
		}
		return nil
	}
	_, err := Execute(context.Background(), b, Request{Query: `SHOW DATABASES; CREATE DATABASE x`, Allow: readOnly})
	var ae *AuthError
	if !errors.As(err, &ae) || len(b.created) != 0 {
		t.Fatalf("read-only CREATE DATABASE: %v, created %v", err, b.created)
	}
	resp, err := Execute(context.Background(), b, Request{Query: `CREATE DATABASE "x"`, Allow: func(Privilege) error { return nil }})
	if err != nil || resp.Results[0].Error != "" || len(b.created) != 1 || b.created[0] != "x" {
		t.Fatalf("CREATE DATABASE: %v %+v %v", err, resp, b.created)
	}
}

func TestSeriesKeyEscapes(t *testing.T) {
	got := seriesKey("cpu load", map[string]string{"z": "a,b", "a k": "x=y"})
	if want := `cpu\ load,a\ k=x\=y,z=a\,b`; got != want {
		t.Fatalf("seriesKey: %s, want %s", got, want)
	}
}

type timeoutBackend struct{ failingBackend }

func (timeoutBackend) Run(context.Context, string, *sql.Query) (*query.Result, error) {
	return nil, context.DeadlineExceeded
}

func TestStatementTimeoutNamesTheLimit(t *testing.T) {
	resp, err := Execute(context.Background(), &timeoutBackend{}, Request{Query: `SELECT v FROM m; SHOW DATABASES`, Database: "d", Timeout: 90 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Results[0].Error; !strings.Contains(got, "1m30s") || !strings.Contains(got, "--query-timeout") {
		t.Fatalf("timeout error: %q", got)
	}
	if resp.Results[1].Error != ErrNotExecuted.Error() {
		t.Fatalf("after a timeout: %+v", resp.Results[1])
	}
}

func TestTzAcrossOffsetChangeIsRefused(t *testing.T) {
	b := &planOnlyBackend{}
	// Europe/Berlin leaves summer time on 2026-10-25.
	q := `SELECT mean(usage_user) FROM cpu WHERE time >= '2026-10-20T00:00:00Z' AND time < '2026-10-30T00:00:00Z' GROUP BY time(1d) tz('Europe/Berlin')`
	resp, err := Execute(context.Background(), b, Request{Query: q, Database: "d"})
	if err != nil || !strings.Contains(resp.Results[0].Error, "offset") {
		t.Fatalf("%v %+v", err, resp.Results[0])
	}
	// Windows shorter than the shift do not move; ranges without a change are fine.
	for _, q := range []string{
		`SELECT mean(usage_user) FROM cpu WHERE time >= '2026-10-20T00:00:00Z' AND time < '2026-10-30T00:00:00Z' GROUP BY time(10m) tz('Europe/Berlin')`,
		`SELECT mean(usage_user) FROM cpu WHERE time >= '2026-11-01T00:00:00Z' AND time < '2026-11-30T00:00:00Z' GROUP BY time(1d) tz('Europe/Berlin')`,
	} {
		resp, err := Execute(context.Background(), b, Request{Query: q, Database: "d"})
		if err != nil || resp.Results[0].Error != "" {
			t.Fatalf("%s: %v %+v", q, err, resp.Results[0])
		}
	}
}
