package sql

import (
	"errors"
	"testing"
	"time"
)

// testNow is the now() of every test plan.
var testNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func testCatalog() MapCatalog {
	return MapCatalog{
		"cpu": {
			Tags: []string{"hostname", "region", "datacenter"},
			Fields: []Field{
				{"usage_user", TypeFloat64}, {"usage_system", TypeFloat64}, {"usage_idle", TypeFloat64},
				{"n", TypeInt64}, {"u", TypeUint64}, {"ok", TypeBool}, {"msg", TypeString},
			},
		},
		"mem":   {Tags: []string{"hostname"}, Fields: []Field{{"used", TypeInt64}, {"Free", TypeInt64}}},
		"Weird": {Tags: []string{"x"}, Fields: []Field{{"x", TypeFloat64}}},
	}
}

func compile(t *testing.T, sql string) *Query {
	t.Helper()
	q, err := Compile(sql, testCatalog(), testNow)
	if err != nil {
		t.Fatalf("Compile(%q): %v", sql, err)
	}
	return q
}

func compileErr(t *testing.T, sql string) *Error {
	t.Helper()
	q, err := Compile(sql, testCatalog(), testNow)
	if err == nil {
		t.Fatalf("Compile(%q) succeeded, want an error; plan:\n%s", sql, q)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Compile(%q) error %T %v is not *Error", sql, err, err)
	}
	return e
}

func ts(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixNano()
}
