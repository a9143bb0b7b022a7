package main

import (
	"net"
	"testing"
)

// Flags may follow the SQL argument: 'silt query "SQL" --db x' parses
// --db (usage errors exit 2; a server that cannot be reached exits 1).
func TestQueryFlagsAfterSQL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	if code := runQuery([]string{"SELECT 1", "--db", "x", "--server", addr, "--timeout", "2s"}); code == 2 || code == 0 {
		t.Fatalf("flags after the SQL: exit %d, want a connection failure", code)
	}
	for _, args := range [][]string{{"SELECT 1"}, {"--db", "x"}, {"SELECT", "1", "--db", "x"}} {
		if code := runQuery(args); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
