package sql

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBindNamed(t *testing.T) {
	params := map[string]json.RawMessage{
		"host": json.RawMessage(`"a'b"`), "n": json.RawMessage(`3`), "neg": json.RawMessage(`-2`),
		"f": json.RawMessage(`2.0`), "e": json.RawMessage(`1e3`), "big": json.RawMessage(`123456789012345678901`),
		"ok": json.RawMessage(`true`), "none": json.RawMessage(`null`), "limit": json.RawMessage(`5`),
	}
	for _, c := range []struct{ in, want string }{
		{`SELECT * FROM cpu WHERE host = $host`, `SELECT * FROM cpu WHERE host = 'a''b'`},
		{`SELECT x-$neg, $n+$f, $e, $big FROM t`, `SELECT x-(-2), 3+2.0, 1000.0, 1.2345678901234568e+20 FROM t`},
		{`SELECT '$host', "$host", E'\'$host', $ok, $none -- $host`, `SELECT '$host', "$host", E'\'$host', true, NULL -- $host`},
		{`SELECT /* $host /* nested */ $n */ $$ $host $$, $q$ $n $q$ LIMIT $limit`, `SELECT /* $host /* nested */ $n */ $$ $host $$, $q$ $n $q$ LIMIT 5`},
		{`SELECT $1`, `SELECT $1`}, // positional: PostgreSQL's, not bound here
		{`SELECT 1`, `SELECT 1`},
	} {
		got, err := BindNamed(c.in, params)
		if err != nil || got != c.want {
			t.Errorf("BindNamed(%s)\n got %s, %v\nwant %s", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct{ in, p, err string }{
		{`SELECT $nosuch`, `{"a": 1}`, "no value for parameter $nosuch"},
		{`SELECT $a`, `{"a": [1]}`, "not a string, number, boolean or null"},
		{`SELECT $a`, `{"a": {"x": 1}}`, "not a string, number, boolean or null"},
		{`SELECT $a`, `{"a": "x\u0000y"}`, "NUL"},
		{`SELECT $a`, `{"a": 1e999}`, "out of range"},
	} {
		var p map[string]json.RawMessage
		if err := json.Unmarshal([]byte(c.p), &p); err != nil {
			t.Fatal(err)
		}
		if _, err := BindNamed(c.in, p); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("BindNamed(%s, %s) = %v, want an error with %q", c.in, c.p, err, c.err)
		}
	}
}
