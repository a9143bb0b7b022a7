package query

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
)

func sample() *Result {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return &Result{
		Columns: []Column{{"t", TypeTimestamp}, {"host", TypeString}, {"v", TypeFloat}, {"n", TypeInteger}, {"u", TypeUnsigned}, {"ok", TypeBoolean}},
		Rows: [][]any{
			{ts, `a"b,c`, 1.5, int64(-3), uint64(math.MaxUint64), true},
			{nil, nil, math.NaN(), nil, nil, nil},
		},
		Stats: Stats{Rows: 2},
	}
}

func TestResultJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Columns []Column
		Rows    [][]any
		Stats   map[string]any
	}
	d := json.NewDecoder(&b)
	d.UseNumber()
	if err := d.Decode(&got); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if got.Columns[0] != (Column{"t", TypeTimestamp}) || got.Rows[0][0] != "2026-01-02T03:04:05.123456789Z" ||
		got.Rows[0][1] != `a"b,c` || got.Rows[0][4].(json.Number).String() != "18446744073709551615" ||
		got.Rows[1][0] != nil || got.Rows[1][2] != "NaN" || got.Stats["rows"].(json.Number).String() != "2" {
		t.Fatalf("%+v", got)
	}
}

func TestResultCSV(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "t,host,v,n,u,ok\n2026-01-02T03:04:05.123456789Z,\"a\"\"b,c\",1.5,-3,18446744073709551615,true\n,,NaN,,,\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestResultArrowRoundTrip(t *testing.T) {
	var b bytes.Buffer
	r := sample()
	if err := r.WriteArrow(&b); err != nil {
		t.Fatal(err)
	}
	rd, err := ipc.NewReader(&b)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Next() {
		t.Fatal("no record")
	}
	rec := rd.RecordBatch()
	if rec.NumRows() != 2 || rec.NumCols() != 6 {
		t.Fatalf("shape %dx%d", rec.NumRows(), rec.NumCols())
	}
	if got := rec.Column(0).(*array.Timestamp).Value(0); int64(got) != r.Rows[0][0].(time.Time).UnixNano() {
		t.Errorf("time %d", got)
	}
	if got := rec.Column(4).(*array.Uint64).Value(0); got != math.MaxUint64 {
		t.Errorf("uint %d", got)
	}
	if !rec.Column(1).IsNull(1) || !strings.Contains(rec.Schema().String(), "host") {
		t.Errorf("nulls or schema wrong: %s", rec.Schema())
	}
}
