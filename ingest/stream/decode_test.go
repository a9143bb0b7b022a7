package stream

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// A message is decoded all or nothing, its rows tagged with its index, and
// rows without a timestamp get the message's time.
func TestDecodeMessages(t *testing.T) {
	f := func(format Format, msgs []string, wantRows []uint32, wantErr []bool) {
		t.Helper()
		d := Decoder{Format: format, Table: "events"}
		var b columnar.Batch
		for i, m := range msgs {
			err := d.Decode(&b, []byte(m), i+1, 42)
			if (err != nil) != wantErr[i] {
				t.Fatalf("%s message %d %q: err = %v, want error %v", format, i+1, m, err, wantErr[i])
			}
			var de *DecodeError
			if err != nil && (!errors.As(err, &de) || de.Code() == "" || !strings.Contains(err.Error(), "line")) {
				t.Fatalf("error %v has no code or line", err)
			}
		}
		var got []uint32
		for _, r := range b.Rows {
			got = append(got, r.Line)
		}
		if len(got) != len(wantRows) {
			t.Fatalf("%s rows from messages %v, want %v", format, got, wantRows)
		}
		for i := range got {
			if got[i] != wantRows[i] {
				t.Fatalf("%s rows from messages %v, want %v", format, got, wantRows)
			}
		}
		for _, r := range b.Rows {
			if r.Time == 0 {
				t.Fatalf("row without time")
			}
		}
	}
	f(FormatLine,
		[]string{"cpu,host=a v=1 1\ncpu,host=b v=2 2", "cpu v=1 1\nbroken line", "mem v=3", "", "cpu v=4 4"},
		[]uint32{1, 1, 3, 5}, []bool{false, true, false, false, false})
	f(FormatJSON,
		[]string{`{"time":1,"tags":{"h":"a"},"fields":{"v":1}}`, `{"v":1}` + "\n" + `{"v":`, `{"table":"t","v":2}`},
		[]uint32{1, 3}, []bool{false, true, false})

	// The message time stands in for a missing timestamp.
	d := Decoder{Format: FormatLine}
	var b columnar.Batch
	if err := d.Decode(&b, []byte("cpu v=1"), 1, 12345); err != nil || b.Rows[0].Time != 12345 {
		t.Fatalf("time = %d, err %v", b.Rows[0].Time, err)
	}
	// A message that decodes to nothing but is not empty is refused.
	if err := d.Decode(&b, []byte("\n\n"), 2, 1); err == nil {
		t.Fatal("blank message accepted")
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"line", "json"} {
		if _, err := ParseFormat(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseFormat("avro"); err == nil {
		t.Error("avro accepted")
	}
}

func TestFileDeadLetter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.ndjson")
	d, err := OpenFileDeadLetter(path)
	if err != nil {
		t.Fatal(err)
	}
	in := []DeadMessage{{Source: "kafka/t/0", Offset: 7, Value: []byte("bad\nline"), Code: "lp-syntax", Reason: "why"},
		{Source: "nats/S/c", Offset: 9, Value: []byte{0xff, 0}, Code: "x", Reason: "y", Header: map[string]string{"db": "z"}}}
	if err := d.Send(in[:1]); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(in[1:]); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	var got []DeadMessage
	for sc.Scan() {
		var m DeadMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if len(got) != 2 || string(got[0].Value) != "bad\nline" || got[1].Value[0] != 0xff || got[1].Header["db"] != "z" {
		t.Fatalf("read back %+v", got)
	}
}
