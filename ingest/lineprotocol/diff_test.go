package lineprotocol

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	lp "github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/siltdb/silt/columnar"
)

// The differential test runs the oracle (line-protocol/v2) over the whole
// input, as a client would (Next, Measurement, NextTag..., NextField...,
// Time, abandoning an entry at its first error), and requires Decode to
// produce exactly the same accepted entries, in the same order, with the
// same starting line, measurement, tags (in order), fields (key, type,
// value bits) and time, and to report errors on exactly the same set of
// lines. Comparing whole inputs rather than single lines also checks that
// Decode resynchronises after an error where the oracle does (the oracle
// skips to the next '\n' even inside a quoted string, and a quoted string
// without error spans lines).

type tfield struct {
	Key  string
	Type columnar.FieldType
	Num  uint64
	Str  string
}

type tentry struct {
	Line   int
	Meas   string
	Tags   [][2]string
	Fields []tfield
	Time   int64
}

func (e tentry) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "line %d: %q", e.Line, e.Meas)
	for _, t := range e.Tags {
		fmt.Fprintf(&sb, " %q=%q", t[0], t[1])
	}
	sb.WriteString(" |")
	for _, f := range e.Fields {
		switch f.Type {
		case columnar.FieldString:
			fmt.Fprintf(&sb, " %q=%s:%q", f.Key, f.Type, f.Str)
		case columnar.FieldFloat:
			fmt.Fprintf(&sb, " %q=%s:%v(%#x)", f.Key, f.Type, math.Float64frombits(f.Num), f.Num)
		default:
			fmt.Fprintf(&sb, " %q=%s:%d", f.Key, f.Type, f.Num)
		}
	}
	fmt.Fprintf(&sb, " | %d", e.Time)
	return sb.String()
}

var lpPrec = map[columnar.Precision]lp.Precision{
	columnar.Nanosecond:  lp.Nanosecond,
	columnar.Microsecond: lp.Microsecond,
	columnar.Millisecond: lp.Millisecond,
	columnar.Second:      lp.Second,
}

// oracleDecode decodes data with the oracle. It reads the decoder's
// unexported line counter and read position (by reflection) to learn the
// line of each entry, which the oracle's API does not expose.
func oracleDecode(data []byte, prec columnar.Precision, now int64) (rows []tentry, errLines []int) {
	dec := lp.NewDecoderWithBytes(data)
	dv := reflect.ValueOf(dec).Elem()
	lineOf := func() int { return int(dv.FieldByName("line").Int()) }
	addErr := func(err error) {
		var de *lp.DecodeError
		if errors.As(err, &de) {
			errLines = append(errLines, int(de.Line))
			return
		}
		// Time errors other than syntax errors carry no position: they are
		// on the line that ended just before the read position.
		line := lineOf()
		if r1 := int(dv.FieldByName("r1").Int()); r1 > 0 && data[r1-1] == '\n' {
			line--
		}
		errLines = append(errLines, line)
	}
next:
	for dec.Next() {
		e := tentry{Line: lineOf()}
		m, err := dec.Measurement()
		if err != nil {
			addErr(err)
			continue
		}
		e.Meas = string(m)
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				addErr(err)
				continue next
			}
			if k == nil {
				break
			}
			e.Tags = append(e.Tags, [2]string{string(k), string(v)})
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				addErr(err)
				continue next
			}
			if k == nil {
				break
			}
			f := tfield{Key: string(k)}
			switch v.Kind() {
			case lp.Float:
				f.Type, f.Num = columnar.FieldFloat, math.Float64bits(v.FloatV())
			case lp.Int:
				f.Type, f.Num = columnar.FieldInt, uint64(v.IntV())
			case lp.Uint:
				f.Type, f.Num = columnar.FieldUint, v.UintV()
			case lp.Bool:
				f.Type = columnar.FieldBool
				if v.BoolV() {
					f.Num = 1
				}
			case lp.String:
				f.Type, f.Str = columnar.FieldString, v.StringV()
			}
			e.Fields = append(e.Fields, f)
		}
		t, err := dec.Time(lpPrec[prec], time.Unix(0, now))
		if err != nil {
			addErr(err)
			continue
		}
		e.Time = t.UnixNano()
		rows = append(rows, e)
	}
	return rows, errLines
}

// batchEntries converts the rows of b to test entries.
func batchEntries(b *columnar.Batch) []tentry {
	var rows []tentry
	for ri := range b.Rows {
		r := &b.Rows[ri]
		e := tentry{Line: int(r.Line), Meas: b.Str(r.Table), Time: r.Time}
		for _, t := range b.RowTags(r) {
			e.Tags = append(e.Tags, [2]string{b.Str(t.Key), b.Str(t.Value)})
		}
		for _, f := range b.RowFields(r) {
			tf := tfield{Key: b.Str(f.Key), Type: f.Type, Num: f.Num}
			if f.Type == columnar.FieldString {
				tf.Str = b.Str(f.Str)
			}
			e.Fields = append(e.Fields, tf)
		}
		rows = append(rows, e)
	}
	return rows
}

func ourDecode(data []byte, prec columnar.Precision, now int64) (rows []tentry, errs []columnar.LineError, n int) {
	var b columnar.Batch
	n = Decode(data, &b, Options{Precision: prec, Now: now}, func(e columnar.LineError) { errs = append(errs, e) })
	return batchEntries(&b), errs, n
}

func uniqSorted(x []int) []int {
	x = slices.Clone(x)
	slices.Sort(x)
	return slices.Compact(x)
}

// diff compares both decoders on data and returns a description of the
// first disagreement, or "".
func diff(data []byte, prec columnar.Precision, now int64) string {
	want, wantErrs := oracleDecode(data, prec, now)
	got, gotErrs, n := ourDecode(data, prec, now)
	if n != len(got) {
		return fmt.Sprintf("Decode returned %d, batch has %d rows", n, len(got))
	}
	for i := 0; i < len(want) || i < len(got); i++ {
		switch {
		case i >= len(got):
			return fmt.Sprintf("row %d missing:\n  oracle %v", i, want[i])
		case i >= len(want):
			return fmt.Sprintf("extra row %d:\n  ours   %v", i, got[i])
		case !reflect.DeepEqual(want[i], got[i]):
			return fmt.Sprintf("row %d differs:\n  oracle %v\n  ours   %v", i, want[i], got[i])
		}
	}
	var gl []int
	for _, e := range gotErrs {
		gl = append(gl, e.Line)
	}
	if w, g := uniqSorted(wantErrs), uniqSorted(gl); !slices.Equal(w, g) {
		return fmt.Sprintf("error lines differ:\n  oracle %v\n  ours   %v %v", w, g, gotErrs)
	}
	return ""
}

var diffPrecs = []columnar.Precision{columnar.Nanosecond, columnar.Microsecond, columnar.Millisecond, columnar.Second}

const diffNow = 1_700_000_123_456_789_012

// diffSeeds are tricky inputs, also used as the fuzz seed corpus.
var diffSeeds = []string{
	"",
	"\n",
	"\r\n",
	"\r",
	"   \n  \r\n",
	"m f=1",
	"m f=1\n",
	"m f=1 \n",
	"m f=1  \r\n",
	"m f=1 123",
	"m f=1 123\n",
	"m f=1 123 \n",
	"m f=1 123  \r\n",
	"m f=1 123\r",
	"m f=1 123\rx\nm g=2\n",
	"m f=1\rm2 f=2\nm3 f=3",
	"m f=1 \r 1\nm f=2",
	"m f=1 \rm f=2\nm f=3",
	"m f=1 abc\nm f=2",
	"m f=1 abc\rdef\nm f=2",
	"m f=1 12 34\nm f=2",
	"m f=1 12a\nm f=2",
	"m f=1 -12\n",
	"m f=1 -\n",
	"m f=1 --1\n",
	"m f=1 1-2\n",
	"m f=1 -0\n",
	"m f=1 0000000000000000000001\n",
	"m f=1 9223372036854775807\nm f=1 9223372036854775808\nm f=1 -9223372036854775808\nm f=1 -9223372036854775809\n",
	"m f=1 9223372036854775\nm f=1 9223372036854776\nm f=1 -9223372036854776\n",
	"m f=1 9223372036854775807\n",
	"m f=1i,g=-1i,h=9223372036854775807i,k=-9223372036854775808i\n",
	"m f=9223372036854775808i\nm f=-9223372036854775809i\nm f=1.5i\nm f=-i\nm f=1ii\nm f=.i\n",
	"m f=1u,g=18446744073709551615u,h=0u\nm f=18446744073709551616u\nm f=-1u\nm f=1iu\n",
	"m f=1,g=-1,h=.5,i=-.5,j=5.,k=1e3,l=1E-3,m=1e+3,n=-0,o=-0.0,p=0x1p3,q=0x1.8p1,r=1_000\n",
	"m f=+1\nm f=+.5\nm f=1e400\nm f=-1e400\nm f=1e-400\nm f=-Inf\nm f=-inf\nm f=-NaN\nm f=-nan\nm f=.\nm f=-.\nm f=-\n",
	"m f=58.1317132304976,g=2.6224297271376256,h=123456789012345678901234567890\n",
	"m f=0.1,g=0.30000000000000004,h=9007199254740993,k=9007199254740992.5,l=4.35\n",
	"m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE\n",
	"m a=tRue\nm a=yes\nm a=truee\nm a=Fa\n",
	`m s="hello",t="",u="a\"b",v="a\\b",w="a\nb",x="a\tb\r",y="\q"` + "\n",
	"m s=\"multi\nline\nstring\" 123\nnext f=1\n",
	"m s=\"multi\nline\",bad=1x\nnext f=1\n",
	"m a=1x,s=\"foo\nbar f=2\n",
	"m s=\"unterminated\nm f=1\nm f=2\n",
	"m s=\"a\"x\nm f=1\n",
	"m s=\"a\nb\"x\nm f=1\n",
	"m s=\"\\\"",
	"m s=\"abc\\",
	"m s=\"\xff\"\nm f=1\n",
	"m s=\"\xff\nxx\" 1\nm f=1\n",
	"m,t=\xff f=1\nm,\xff=1 f=1\nm \xff=1\n\xff f=1\n",
	"m,t=é f=1,é=\"é\" 1\n",
	"# comment\nm f=1\n  # indented comment\n#\n#\r\nm g=2",
	"#comment\twith tab\nm f=1\n",
	"  #comment\twith tab\nm f=1\n",
	"#comment\rx\nm f=1\n",
	"# comment at end",
	"#c\r",
	"# \xff high bytes ok\nm f=1",
	"m#x f=1\n",
	"\tm f=1\n",
	"  m f=1\n",
	",m f=1\n",
	" ,m f=1\n",
	"m\n",
	"m",
	"m,",
	"m, f=1\n",
	"m,\n",
	"m,t",
	"m,t\n",
	"m,t=\n",
	"m,t= f=1\n",
	"m,t=1\n",
	"m,t=1",
	"m,t=1 ",
	"m,t=1 \n",
	"m,t=1,\n",
	"m,t=1, f=1\n",
	"m,t=1,u=2 f=1\n",
	"m,t=1,,u=2 f=1\n",
	"m,=1 f=1\n",
	"m,t==1 f=1\n",
	"m,t=1=2 f=1\n",
	"m,t=a\\=b f=1\n",
	"m,t=a\\,b,u=c\\ d f=1\n",
	"m,t\\ k=v f=1\n",
	"m,t=v\\\\ f=1\n",
	"m,t=v\\\\\\ x f=1\n",
	"m\\ x,t=1 f=1\n",
	"m\\,x f=1\n",
	"m\\=x f=1\n",
	"m\\\\,t=1 f=1\n",
	"m\\",
	"m\\\n",
	"m\\ ",
	"m\x01 f=1\n",
	"m\tf=1\n",
	"m,t=1\tf=1\n",
	"m  f=1\n",
	"m \n",
	"m ",
	"m f\n",
	"m f",
	"m f=\n",
	"m f=",
	"m f= 1\n",
	"m f=,g=1\n",
	"m f=1,\n",
	"m f=1,",
	"m f=1, g=2\n",
	"m f=1,,g=2\n",
	"m =1\n",
	"m f\\ x=1,f\\,y=2,f\\=z=3\n",
	"m f\\=1\n",
	"m f=1,f=2\n",
	"m,t=1,t=2 f=1\n",
	"m f=abc\n",
	"m f=\"a\" 1\n",
	"m f=1\x00\n",
	"m f=1 1\x00\n",
	"\x00\n",
	"m f=1\n\n\nm f=2\r\n\r\nm f=3",
	"a f=1\nb f=2\nc f=x\nd f=4\n",
	"cpu,hostname=host_0,region=eu-central-1,datacenter=eu-central-1a,rack=6,os=Ubuntu15.10,arch=x86,team=SF,service=19,service_version=1,service_environment=test usage_user=58,usage_system=2,usage_idle=24,usage_nice=61,usage_iowait=22,usage_irq=63,usage_softirq=6,usage_steal=44,usage_guest=80,usage_guest_nice=38 1451606400000000000\n",
}

func TestDifferentialSeeds(t *testing.T) {
	for _, prec := range diffPrecs {
		for _, in := range diffSeeds {
			if d := diff([]byte(in), prec, diffNow); d != "" {
				t.Errorf("precision %d, input %q:\n%s", prec, in, d)
			}
		}
	}
	// All seeds together, in both orders: checks resynchronisation between
	// them.
	all := strings.Join(diffSeeds, "\n")
	if d := diff([]byte(all), columnar.Nanosecond, diffNow); d != "" {
		t.Errorf("all seeds: %s", d)
	}
	rev := slices.Clone(diffSeeds)
	slices.Reverse(rev)
	if d := diff([]byte(strings.Join(rev, "\n")), columnar.Nanosecond, diffNow); d != "" {
		t.Errorf("all seeds reversed: %s", d)
	}
}

// FuzzDecodeDifferential requires Decode to agree with the oracle on random
// inputs, precisions and default times.
func FuzzDecodeDifferential(f *testing.F) {
	for i, s := range diffSeeds {
		f.Add([]byte(s), uint8(i), int64(diffNow))
	}
	f.Fuzz(func(t *testing.T, data []byte, prec uint8, now int64) {
		// Keep the default time away from the ends of the int64 range,
		// where the oracle's time.Truncate leaves it.
		now %= 1 << 62
		p := diffPrecs[int(prec)%len(diffPrecs)]
		if d := diff(data, p, now); d != "" {
			t.Fatalf("precision %d now %d input %q:\n%s", p, now, data, d)
		}
	})
}

// diffTokens are the pieces TestDifferentialRandom builds inputs from.
var diffTokens = []string{
	"m", "cpu", "t", "f", "T", "F", "true", "False", "x", "é", "\xff", "\xc3", "#", " ", "  ", ",", "=", "\"", "\\", "\\\\",
	"\\ ", "\\,", "\\=", "\\\"", "\\n", "\n", "\r", "\r\n", "\t", "\x00", "\x7f", "0", "1", "9", "12", "-", "+", ".", "e", "E",
	"i", "u", "p", "x", "_", "1.5", "-0", "1e3", "1e400", "NaN", "Inf", "9223372036854775807", "9223372036854775808",
	"18446744073709551615", "18446744073709551616", "-9223372036854775808", "1451606400000000000",
	" f=1", " f=1i", " f=\"s\"", ",t=v", " 123", "\nm f=1\n", "\"\n", "# c\n",
}

// TestDifferentialRandom compares both decoders on inputs made of random
// sequences of tricky tokens.
func TestDifferentialRandom(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 3000
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.Reset()
		for k := rnd.IntN(24); k >= 0; k-- {
			sb.WriteString(diffTokens[rnd.IntN(len(diffTokens))])
		}
		in := []byte(sb.String())
		p := diffPrecs[rnd.IntN(len(diffPrecs))]
		if d := diff(in, p, diffNow); d != "" {
			t.Fatalf("precision %d input %q:\n%s", p, in, d)
		}
	}
}
