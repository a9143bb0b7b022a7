package server

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func TestQueryLimitsAreStatementErrors(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemory: 1024, QueryMaxRows: 5})
	var lp strings.Builder
	for i := 0; i < 2000; i++ {
		lp.WriteString("m,h=a v=1 " + strconv.Itoa(i+1) + "\n")
	}
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b := s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT v FROM m; SHOW DATABASES"))
	if code != 200 || !strings.Contains(string(b), "--query-max-memory") || !strings.Contains(string(b), `"not executed"`) {
		t.Fatalf("memory limit: %d %s", code, b)
	}
	s = startServerWith(t, Config{QueryMaxRows: 5})
	if code, _, b := s.post(t, "/write?db=d", lp.String()); code != 204 {
		t.Fatalf("write: %d %s", code, b)
	}
	code, b = s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT v FROM m"))
	if code != 200 || !strings.Contains(string(b), "--query-max-rows") || strings.Contains(string(b), `"values"`) {
		t.Fatalf("row limit: %d %s", code, b)
	}
	code, b = s.get(t, "/query?db=d&q="+url.QueryEscape("SELECT v FROM m LIMIT 5"))
	if code != 200 || strings.Count(string(b), "],[") != 4 {
		t.Fatalf("within the row limit: %d %s", code, b)
	}
}
