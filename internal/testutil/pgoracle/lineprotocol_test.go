package pgoracle

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

func TestLineProtocol(t *testing.T) {
	for _, c := range []struct {
		table string
		p     Point
		want  string
	}{
		{"cpu", Point{Time: 1, Tags: map[string]string{"b": "2", "a": "1"}, Fields: map[string]any{"y": 0.1, "x": int64(-3)}},
			`cpu,a=1,b=2 x=-3i,y=0.1 1`},
		{"m", Point{Time: -5, Fields: map[string]any{
			"u": uint64(math.MaxUint64), "b": false, "f": 1e21, "g": 3.0, "h": 5e-324, "s": "a\"b\\c\nd"}},
			`m b=false,f=1e+21,g=3,h=5e-324,s="a\"b\\c\nd",u=18446744073709551615u -5`},
		{"my table,x", Point{Time: 0, Tags: map[string]string{"k ey,=": "v al,=ue", "empty": ""}, Fields: map[string]any{"f =,": true}},
			`my\ table\,x,k\ ey\,\==v\ al\,\=ue f\ \=\,=true 0`},
		{`back\slash`, Point{Time: 7, Tags: map[string]string{`t\` + `=`: `a\,b`}, Fields: map[string]any{"s": `\`}},
			`back\slash,t\\==a\\,b s="\\" 7`},
	} {
		if got := c.p.LineProtocol(c.table); got != c.want {
			t.Errorf("LineProtocol:\n got %s\nwant %s", got, c.want)
		}
	}
}

func TestLineProtocolPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"NaN":       func() { Point{Fields: map[string]any{"x": math.NaN()}}.LineProtocol("m") },
		"Inf":       func() { Point{Fields: map[string]any{"x": math.Inf(1)}}.LineProtocol("m") },
		"int":       func() { Point{Fields: map[string]any{"x": 1}}.LineProtocol("m") },
		"no fields": func() { Point{}.LineProtocol("m") },
		"comment":   func() { Point{Fields: map[string]any{"x": 1.0}}.LineProtocol("#m") },
		"newline tag": func() {
			Point{Tags: map[string]string{"t": "a\nb"}, Fields: map[string]any{"x": 1.0}}.LineProtocol("m")
		},
		"trailing \\":   func() { Point{Tags: map[string]string{"t": `a\`}, Fields: map[string]any{"x": 1.0}}.LineProtocol("m") },
		"empty measure": func() { Point{Fields: map[string]any{"x": 1.0}}.LineProtocol("") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestLineProtocolRoundTrip decodes what LineProtocol writes with InfluxData's
// decoder and compares it with the points.
func TestLineProtocolRoundTrip(t *testing.T) {
	pts := CPUDataset(20, testStart, testInterval, 50, 11, DatasetOptions{OutOfOrder: 0.1, Duplicates: 0.1})
	odd := []string{"a b", "a,b", "a=b", `a\b`, `a\,b`, `a\ b`, "ünï", `"q"`, `x\\y`}
	for i, s := range odd {
		pts = append(pts, Point{
			Time: int64(i) * 1000,
			Tags: map[string]string{s: s + "v", "z": s},
			Fields: map[string]any{
				s: s + "\n\t\r\"\\", "f": float64(i) / 3, "i": int64(-i), "u": uint64(i) << 60, "b": i%2 == 0,
			},
		})
	}
	table := "cpu, x"
	var buf []byte
	for _, p := range pts {
		buf = p.AppendLineProtocol(buf, table)
	}
	if want := pts[0].LineProtocol(table) + "\n"; !bytes.HasPrefix(buf, []byte(want)) {
		t.Fatalf("AppendLineProtocol does not start with LineProtocol+newline")
	}
	dec := lineprotocol.NewDecoderWithBytes(buf)
	for i := 0; dec.Next(); i++ {
		if i >= len(pts) {
			t.Fatalf("more lines than points")
		}
		want := pts[i]
		m, err := dec.Measurement()
		if err != nil || string(m) != table {
			t.Fatalf("line %d: measurement %q, %v", i, m, err)
		}
		tags := map[string]string{}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if k == nil {
				break
			}
			tags[string(k)] = string(v)
		}
		fields := map[string]any{}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			if k == nil {
				break
			}
			fields[string(k)] = v.Interface()
		}
		tm, err := dec.Time(lineprotocol.Nanosecond, testStart)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if !reflect.DeepEqual(tags, want.Tags) || !reflect.DeepEqual(fields, want.Fields) || tm.UnixNano() != want.Time {
			t.Fatalf("line %d: %s\ndecoded %v %v %d\n   want %v %v %d", i,
				strings.TrimSpace(want.LineProtocol(table)), tags, fields, tm.UnixNano(), want.Tags, want.Fields, want.Time)
		}
	}
	if err := dec.Err(); err != nil {
		t.Fatal(err)
	}
}
