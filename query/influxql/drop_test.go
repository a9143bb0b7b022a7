package influxql

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

// The drops' answers and effects are checked against InfluxDB in
// server/influxql_drop_test.go; these tests cover the routing and the
// refusals.

func (f *failingBackend) DropDatabase(db string) error {
	f.dropped = append(f.dropped, db)
	return nil
}

func (f *failingBackend) DropMeasurement(db, name string) error {
	f.dropped = append(f.dropped, db+"."+name)
	return nil
}

func TestDropStatements(t *testing.T) {
	for _, c := range []struct {
		q, db   string
		dropped []string
		err     string
	}{
		{q: `DROP DATABASE "x"`, dropped: []string{"x"}},
		{q: `DROP MEASUREMENT "m"`, db: "d", dropped: []string{"d.m"}},
		{q: `DROP MEASUREMENT nosuch`, db: "d", dropped: []string{"d.nosuch"}}, // the backend ignores missing ones
		{q: `DROP MEASUREMENT m`, db: "nodb", err: "database not found: nodb"},
		{q: `DROP MEASUREMENT m`, err: "database not found: "},
		{q: `DROP SERIES FROM m`, db: "d", dropped: []string{"d.m"}},
		{q: `DROP SERIES FROM /^m/, other`, db: "d", dropped: []string{"d.m", "d.other"}},
		{q: `DELETE FROM m`, db: "d", dropped: []string{"d.m"}},
		{q: `DELETE FROM m WHERE time < now()`, db: "d", err: "DELETE with WHERE is not supported"},
		{q: `DROP SERIES WHERE host = 'a'`, db: "d", err: "DROP SERIES with WHERE is not supported"},
		{q: `DROP SERIES FROM m`, db: "nodb", err: "database not found: nodb"},
	} {
		b := &failingBackend{}
		resp, err := Execute(context.Background(), b, Request{Query: c.q, Database: c.db})
		if err != nil {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if got := resp.Results[0].Error; c.err == "" && got != "" || !strings.Contains(got, c.err) {
			t.Errorf("%s (db %q): error %q, want %q", c.q, c.db, got, c.err)
		}
		if !slices.Equal(b.dropped, c.dropped) {
			t.Errorf("%s (db %q): dropped %v, want %v", c.q, c.db, b.dropped, c.dropped)
		}
	}
}

func TestDropNeedsWriteScope(t *testing.T) {
	readOnly := func(p Privilege) error {
		if p != PrivRead {
			return errors.New("token r lacks the write scope")
		}
		return nil
	}
	for _, q := range []string{`DROP DATABASE d`, `SHOW DATABASES; DROP MEASUREMENT m`, `DROP SERIES FROM m`, `DELETE FROM m`} {
		b := &failingBackend{}
		_, err := Execute(context.Background(), b, Request{Query: q, Database: "d", Allow: readOnly})
		var ae *AuthError
		if !errors.As(err, &ae) || len(b.dropped) != 0 {
			t.Errorf("%s by a read-only token: %v, dropped %v", q, err, b.dropped)
		}
	}
}
