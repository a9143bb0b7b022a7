package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A line with 65,600 tags used to be acknowledged and then fail every flush;
// the default limits reject it with a 400 naming the line, and the rest of
// the request is written.
func TestWideLinesGet400(t *testing.T) {
	s := startServer(t, 0)
	var sb strings.Builder
	sb.WriteString("cpu,host=a v=1 1\nwide")
	for i := range 65_600 {
		fmt.Fprintf(&sb, ",t%d=x", i)
	}
	sb.WriteString(" v=1 2\nwide2 ")
	for i := range 2000 {
		fmt.Fprintf(&sb, "f%d=1,", i)
	}
	sb.WriteString("g=1 3\ncpu,host=b v=2 4\n")
	code, _, raw := s.post(t, "/write?db=db", sb.String())
	if code != 400 {
		t.Fatalf("status %d: %s", code, raw)
	}
	var resp WriteResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if resp.Line != 2 || resp.Code != "too-many-tags" || resp.Written != 2 || resp.Rejected != 2 ||
		resp.Errors[1].Line != 3 || resp.Errors[1].Code != "too-many-fields" {
		t.Fatalf("response %+v", resp)
	}
	if err := s.eng.Flush(); err != nil {
		t.Fatalf("flush after the rejected lines: %v", err)
	}
	_, got := s.get(t, "/api/v1/export?db=db")
	if want := "cpu,host=a v=1 1\ncpu,host=b v=2 4\n"; string(got) != want {
		t.Fatalf("stored %q want %q", got, want)
	}

	// NDJSON goes through the same limits.
	var row strings.Builder
	row.WriteString(`{"table":"j","tags":{`)
	for i := range 300 {
		if i > 0 {
			row.WriteString(",")
		}
		fmt.Fprintf(&row, `"t%d":"x"`, i)
	}
	row.WriteString(`},"fields":{"v":1}}`)
	code, _, raw = s.post(t, "/api/v1/ingest?db=db", `{"table":"j","fields":{"v":1}}`+"\n"+row.String()+"\n")
	if code != 400 || !strings.Contains(string(raw), `"code":"too-many-tags"`) || !strings.Contains(string(raw), `"line":2`) {
		t.Fatalf("ndjson: status %d: %s", code, raw)
	}
}
