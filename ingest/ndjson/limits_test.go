package ndjson

import (
	"strings"
	"testing"
)

func TestMaxLineBytes(t *testing.T) {
	long := `{"table":"m","s":"` + strings.Repeat("x", 200) + `","v":1}`
	body := `{"table":"m","v":1}` + "\n" + long + "\n" + `{"table":"m","v":2}`
	b, _, _, errs := decode(body, Options{MaxLineBytes: 100})
	if len(b.Rows) != 2 || len(errs) != 1 || errs[0].Line != 2 || errs[0].Code != CodeLineTooLong {
		t.Fatalf("%d rows, errors %+v", len(b.Rows), errs)
	}
	if b, _, _, errs := decode(body, Options{}); len(b.Rows) != 3 || len(errs) != 0 {
		t.Fatalf("default limit: %d rows, errors %+v", len(b.Rows), errs)
	}
}
