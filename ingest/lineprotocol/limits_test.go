package lineprotocol

import (
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

func TestMaxLineBytes(t *testing.T) {
	long := "cpu,host=" + strings.Repeat("a", 200) + " v=1 1"
	manyFields := "cpu " + strings.Repeat("f=1,", 60) + "g=2 2"
	bigString := `cpu s="` + strings.Repeat("x\n", 100) + `" 3`
	body := "cpu v=1 1\n" + long + "\n" + manyFields + "\ncpu v=2 2\n" + bigString + "\ncpu v=3 3"
	for _, max := range []int{100, 0} {
		var b columnar.Batch
		var errs []columnar.LineError
		rows := Decode([]byte(body), &b, Options{MaxLineBytes: max}, func(e columnar.LineError) { errs = append(errs, e) })
		if max == 0 { // the default admits them all
			if rows != 6 || len(errs) != 0 {
				t.Fatalf("default limit: %d rows, errors %v", rows, errs)
			}
			continue
		}
		if rows != 3 || len(errs) != 3 {
			t.Fatalf("%d rows, errors %v", rows, errs)
		}
		for i, line := range []int{2, 3, 5} {
			if errs[i].Line != line || errs[i].Code != CodeLineTooLong || !strings.Contains(errs[i].Reason, "longer than 100 bytes") {
				t.Errorf("error %d: %+v, want line %d %s", i, errs[i], line, CodeLineTooLong)
			}
		}
		if got := render(&b); len(got) != 3 || !strings.Contains(got[2], "v=3") {
			t.Fatalf("rows %q", got)
		}
	}
}
