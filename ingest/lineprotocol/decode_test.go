package lineprotocol

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/siltdb/silt/columnar"
)

// q renders a name or value for test expectations: bare when it only holds
// harmless characters, Go-quoted otherwise.
func q(s string) string {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

// render describes the rows of b, one string per row:
// "line meas,tag=val,... field=value,... time", where float values are
// printed with strconv 'g', integers with an i suffix, unsigned with u,
// booleans as true/false and strings Go-quoted (with an s prefix).
func render(b *columnar.Batch) []string {
	var out []string
	for ri := range b.Rows {
		r := &b.Rows[ri]
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d %s", r.Line, q(b.Str(r.Table)))
		for _, t := range b.RowTags(r) {
			fmt.Fprintf(&sb, ",%s=%s", q(b.Str(t.Key)), q(b.Str(t.Value)))
		}
		for i, f := range b.RowFields(r) {
			sep := ","
			if i == 0 {
				sep = " "
			}
			var v string
			switch f.Type {
			case columnar.FieldFloat:
				v = strconv.FormatFloat(f.Float(), 'g', -1, 64)
				if f.Float() == 0 && math.Signbit(f.Float()) {
					v = "-0"
				}
			case columnar.FieldInt:
				v = strconv.FormatInt(f.Int(), 10) + "i"
			case columnar.FieldUint:
				v = strconv.FormatUint(f.Num, 10) + "u"
			case columnar.FieldBool:
				v = strconv.FormatBool(f.Bool())
			case columnar.FieldString:
				v = "s" + strconv.Quote(b.Str(f.Str))
			}
			fmt.Fprintf(&sb, "%s%s=%s", sep, q(b.Str(f.Key)), v)
		}
		fmt.Fprintf(&sb, " %d", r.Time)
		out = append(out, sb.String())
	}
	return out
}

const testNow = 1_700_000_000_123_456_789

type decodeCase struct {
	name string
	in   string
	prec columnar.Precision
	rows []string // render output
	errs []string // "line:code"
}

func runCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b columnar.Batch
			var errs []string
			var reasons []string
			n := Decode([]byte(c.in), &b, Options{Precision: c.prec, Now: testNow}, func(e columnar.LineError) {
				errs = append(errs, fmt.Sprintf("%d:%s", e.Line, e.Code))
				reasons = append(reasons, e.Reason)
			})
			got := render(&b)
			if n != len(b.Rows) {
				t.Errorf("Decode returned %d, batch has %d rows", n, len(b.Rows))
			}
			if strings.Join(got, "\n") != strings.Join(c.rows, "\n") {
				t.Errorf("input %q\nrows:\n  %s\nwant:\n  %s", c.in, strings.Join(got, "\n  "), strings.Join(c.rows, "\n  "))
			}
			if strings.Join(errs, " ") != strings.Join(c.errs, " ") {
				t.Errorf("input %q\nerrors: %v\nwant:   %v\nreasons: %q", c.in, errs, c.errs, reasons)
			}
			// The oracle must agree (where it supports the precision).
			if _, ok := lpPrec[max(c.prec, 1)]; ok {
				if d := diff([]byte(c.in), max(c.prec, 1), testNow); d != "" {
					t.Errorf("oracle disagrees: %s", d)
				}
			}
		})
	}
}

const nowNs = "1700000000123456789"

func TestDecodeBasics(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "minimal", in: "m f=1", rows: []string{"1 m f=1 " + nowNs}},
		{name: "timestamp", in: "m f=1 123\n", rows: []string{"1 m f=1 123"}},
		{name: "tags in order", in: "cpu,z=1,a=2,m=3 v=1.5 99", rows: []string{"1 cpu,z=1,a=2,m=3 v=1.5 99"}},
		{name: "several lines", in: "a f=1 1\nb f=2 2\nc f=3 3", rows: []string{"1 a f=1 1", "2 b f=2 2", "3 c f=3 3"}},
		{name: "negative timestamp", in: "m f=1 -123", rows: []string{"1 m f=1 -123"}},
		{name: "minus zero timestamp", in: "m f=1 -0", rows: []string{"1 m f=1 0"}},
		{name: "leading zeros timestamp", in: "m f=1 000000000000000000000123", rows: []string{"1 m f=1 123"}},
		{name: "int64 limits", in: "m f=1 9223372036854775807\nm f=1 -9223372036854775808",
			rows: []string{"1 m f=1 9223372036854775807", "2 m f=1 -9223372036854775808"}},
		{name: "name characters", in: "m=x,t\"=v\" f\"=1", rows: []string{`1 "m=x",` + q(`t"`) + `=` + q(`v"`) + ` ` + q(`f"`) + `=1 ` + nowNs}},
		{name: "utf8 names", in: "mé,té=vé fé=\"é\"", rows: []string{`1 "mé","té"="vé" "fé"=s"é" ` + nowNs}},
		{name: "hash inside measurement", in: "m#1 f=1", rows: []string{`1 "m#1" f=1 ` + nowNs}},
		// Duplicate tag and field keys are kept, in order, as the oracle
		// returns them; later stages decide what to do with them.
		{name: "duplicate field keys", in: "m f=1,f=2i", rows: []string{"1 m f=1,f=2i " + nowNs}},
		{name: "duplicate tag keys", in: "m,t=1,t=2 f=1", rows: []string{"1 m,t=1,t=2 f=1 " + nowNs}},
		{name: "tsbs row", in: tsbsLine(0, 0), rows: []string{
			"1 cpu,hostname=host_0,region=us-west-1,datacenter=us-west-1a,rack=0,os=Ubuntu16.04LTS,arch=x64,team=SF,service=0,service_version=0,service_environment=production " +
				"usage_user=0,usage_system=91,usage_idle=82,usage_nice=73,usage_iowait=64,usage_irq=55,usage_softirq=46,usage_steal=37,usage_guest=28,usage_guest_nice=19 1451606400000000000"}},
	})
}

func TestDecodeWhitespace(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "blank lines", in: "\n\nm f=1\n\n\nm f=2\n\n", rows: []string{"3 m f=1 " + nowNs, "6 m f=2 " + nowNs}},
		{name: "CRLF", in: "m f=1 1\r\nm f=2\r\n\r\nm f=3 3\r\n", rows: []string{"1 m f=1 1", "2 m f=2 " + nowNs, "4 m f=3 3"}},
		{name: "CR at end", in: "m f=1 1\r", rows: []string{"1 m f=1 1"}},
		{name: "leading spaces", in: "   m f=1\n \n", rows: []string{"1 m f=1 " + nowNs}},
		{name: "several spaces between sections", in: "m,t=1    f=1    12   \n", rows: []string{"1 m,t=1 f=1 12"}},
		{name: "trailing spaces without timestamp", in: "m f=1   \r\nm f=2 ", rows: []string{"1 m f=1 " + nowNs, "2 m f=2 " + nowNs}},
		{name: "lone CR in line", in: "m f=1\rm g=2\nm f=3", rows: []string{"2 m f=3 " + nowNs}, errs: []string{"1:lp-bad-timestamp"}},
		{name: "CR then space", in: "m f=1 \r 1\nm f=3", rows: []string{"2 m f=3 " + nowNs}, errs: []string{"1:lp-bad-timestamp"}},
		{name: "CR after timestamp", in: "m f=1 1\rx\nm f=3", rows: []string{"2 m f=3 " + nowNs}, errs: []string{"1:lp-bad-timestamp"}},
		{name: "lone CR line", in: "\rm f=1\nm f=2", rows: []string{"2 m f=2 " + nowNs}, errs: []string{"1:lp-missing-measurement"}},
		{name: "tab is not white space", in: "m\tf=1\nm f=1\t1\n\tm f=1", errs: []string{"1:lp-bad-measurement", "2:lp-bad-field-value", "3:lp-missing-measurement"}},
	})
}

func TestDecodeComments(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "comments", in: "# hello, world = \"x\"\nm f=1\n   # indented\n#\n#\r\nm f=2\n# last", rows: []string{"2 m f=1 " + nowNs, "6 m f=2 " + nowNs}},
		{name: "comment with high bytes", in: "# \xff\xfe\nm f=1", rows: []string{"2 m f=1 " + nowNs}},
		{name: "comment with tab", in: "#\tx\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-comment"}},
		{name: "indented comment with control", in: "  # x\x01\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-comment"}},
		{name: "comment with lone CR", in: "# x\ry\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-comment"}},
		{name: "comment CR at end", in: "# x\r", rows: nil},
	})
}

func TestDecodeEscapes(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "measurement", in: `m\ x\,y f=1`, rows: []string{`1 "m x,y" f=1 ` + nowNs}},
		{name: "measurement keeps other backslashes", in: `m\=x\a f=1`, rows: []string{`1 "m\\=x\\a" f=1 ` + nowNs}},
		// "\\" is not an escape: the first backslash is kept and the second
		// escapes what follows it.
		{name: "double backslash then space", in: `m\\ f=1`, errs: []string{"1:lp-missing-fields"}},
		{name: "double backslash then space 2", in: `m\\ ,t=1 f=1`, rows: []string{`1 "m\\ ",t=1 f=1 ` + nowNs}},
		// "\\," is a kept backslash followed by an escaped comma: the oracle
		// does not treat "\\" as an escape in names.
		{name: "double backslash then comma", in: `m\\,t=1 f=1`, rows: []string{`1 "m\\,t=1" f=1 ` + nowNs}},
		{name: "tag key and value", in: `m,a\ b\,c\=d=e\ f\,g\=h f=1`, rows: []string{`1 m,"a b,c=d"="e f,g=h" f=1 ` + nowNs}},
		{name: "tag value backslash", in: `m,t=a\b f=1`, rows: []string{`1 m,t="a\\b" f=1 ` + nowNs}},
		// A tag value cannot end with a backslash before ',': "\\\\," keeps
		// three backslashes and escapes the comma.
		{name: "tag value double backslash", in: `m,t=a\\\\,u=1 f=1`, errs: []string{"1:lp-bad-tag"}},
		{name: "field key", in: `m f\ x=1,f\,y=2,f\=z=3,f\a=4`, rows: []string{`1 m "f x"=1,"f,y"=2,"f=z"=3,"f\\a"=4 ` + nowNs}},
		{name: "field key double backslash", in: `m f\\=4`, errs: []string{"1:lp-bad-field"}},
		{name: "trailing backslash at end of input", in: `m f=1 1` + "\nm\\", rows: []string{"1 m f=1 1"}, errs: []string{"2:lp-missing-fields"}},
		{name: "string escapes", in: `m s="a\"b\\c\nd\re\tf\qg\\"`, rows: []string{`1 m s=s"a\"b\\c\nd\re\tf\\qg\\" ` + nowNs}},
		{name: "string with raw specials", in: `m s="a, b=c d",t="#" 1`, rows: []string{`1 m s=s"a, b=c d",t=s"#" 1`}},
		{name: "empty string", in: `m s=""`, rows: []string{`1 m s=s"" ` + nowNs}},
		{name: "many escaped tokens", in: strings.Repeat(`m\ 1,k\ 1=v\ 1,k\ 2=v\ 2 f\ 1="s\"1",f\ 2=2,f\ 3="x"`+"\n", 50),
			rows: repeatRows(50, func(i int) string {
				return fmt.Sprintf(`%d "m 1","k 1"="v 1","k 2"="v 2" "f 1"=s"s\"1","f 2"=2,"f 3"=s"x" %s`, i, nowNs)
			})},
	})
}

func repeatRows(n int, f func(line int) string) []string {
	var r []string
	for i := 1; i <= n; i++ {
		r = append(r, f(i))
	}
	return r
}

func TestDecodeMultilineStrings(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "string spans lines", in: "m s=\"a\nb\nc\" 5\nn f=1\n", rows: []string{`1 m s=s"a\nb\nc" 5`, "4 n f=1 " + nowNs}},
		{name: "error after multi-line string", in: "m s=\"a\nb\",f=x\nn f=1\n", rows: []string{"3 n f=1 " + nowNs}, errs: []string{"2:lp-bad-field-value"}},
		// After an error the oracle resumes at the next newline, even inside a
		// quoted string: "bar f=2" becomes an entry of its own.
		{name: "resync ignores quotes", in: "m a=1x,s=\"foo\nbar f=2\n", rows: []string{"2 bar f=2 " + nowNs}, errs: []string{"1:lp-bad-field-value"}},
		{name: "unterminated string eats the input", in: "m s=\"abc\nm f=1\nm f=2\n", errs: []string{"1:lp-unterminated-string"}},
		{name: "text after closing quote", in: "m s=\"a\nb\"x\nm f=1", rows: []string{"3 m f=1 " + nowNs}, errs: []string{"2:lp-bad-field"}},
		{name: "invalid utf8 in string", in: "m s=\"\xff\nx\" 1\nm f=1", rows: []string{"3 m f=1 " + nowNs}, errs: []string{"1:lp-invalid-utf8"}},
	})
}

func TestDecodeValues(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "floats", in: "m a=1,b=-1,c=.5,d=-.5,e=5.,f=1e3,g=1E-3,h=1e+3,i=0x1p3,j=58.1317132304976,k=2.6224297271376256,l=1e-400,m=00.25",
			rows: []string{"1 m a=1,b=-1,c=0.5,d=-0.5,e=5,f=1000,g=0.001,h=1000,i=8,j=58.1317132304976,k=2.6224297271376256,l=0,m=0.25 " + nowNs}},
		{name: "negative zero", in: "m a=-0,b=-0.0", rows: []string{"1 m a=-0,b=-0 " + nowNs}},
		{name: "float rounding", in: "m a=9007199254740993,b=0.30000000000000004,c=123456789012345678901234567890,d=4.35",
			rows: []string{"1 m a=9.007199254740992e+15,b=0.30000000000000004,c=1.2345678901234568e+29,d=4.35 " + nowNs}},
		{name: "integers", in: "m a=1i,b=-1i,c=9223372036854775807i,d=-9223372036854775808i,e=0i,f=-0i,g=007i",
			rows: []string{"1 m a=1i,b=-1i,c=9223372036854775807i,d=-9223372036854775808i,e=0i,f=0i,g=7i " + nowNs}},
		{name: "unsigned", in: "m a=1u,b=18446744073709551615u,c=0u", rows: []string{"1 m a=1u,b=18446744073709551615u,c=0u " + nowNs}},
		{name: "booleans", in: "m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE",
			rows: []string{"1 m a=true,b=true,c=true,d=true,e=true,f=false,g=false,h=false,i=false,j=false " + nowNs}},
		{name: "mixed", in: `m a=1,b=2i,c=3u,d=t,e="x" 1`, rows: []string{`1 m a=1,b=2i,c=3u,d=true,e=s"x" 1`}},
	})
}

func TestDecodePrecision(t *testing.T) {
	runCases(t, []decodeCase{
		{name: "us", prec: columnar.Microsecond, in: "m f=1 5\nm f=2", rows: []string{"1 m f=1 5000", "2 m f=2 1700000000123456000"}},
		{name: "ms", prec: columnar.Millisecond, in: "m f=1 5\nm f=2", rows: []string{"1 m f=1 5000000", "2 m f=2 1700000000123000000"}},
		{name: "s", prec: columnar.Second, in: "m f=1 -5\nm f=2", rows: []string{"1 m f=1 -5000000000", "2 m f=2 1700000000000000000"}},
		{name: "m", prec: columnar.Minute, in: "m f=1 5\nm f=2", rows: []string{"1 m f=1 300000000000", "2 m f=2 1699999980000000000"}},
		{name: "h", prec: columnar.Hour, in: "m f=1 5\nm f=2", rows: []string{"1 m f=1 18000000000000", "2 m f=2 1699999200000000000"}},
		{name: "s overflow", prec: columnar.Second, in: "m f=1 9223372037\nm f=1 9223372036\nm f=1 -9223372037",
			rows: []string{"2 m f=1 9223372036000000000"}, errs: []string{"1:lp-timestamp-overflow", "3:lp-timestamp-overflow"}},
		{name: "h overflow", prec: columnar.Hour, in: "m f=1 2562048\nm f=1 2562047", rows: []string{"2 m f=1 9223369200000000000"}, errs: []string{"1:lp-timestamp-overflow"}},
	})
}

func TestTruncateNow(t *testing.T) {
	for _, c := range []struct {
		now  int64
		p    columnar.Precision
		want int64
	}{
		{1999, columnar.Microsecond, 1000},
		{-1, columnar.Microsecond, -1000},
		{-1000, columnar.Microsecond, -1000},
		{123, columnar.Nanosecond, 123},
		{math.MinInt64, columnar.Second, -9223372036000000000}, // cannot round down
	} {
		if got := truncate(c.now, c.p); got != c.want {
			t.Errorf("truncate(%d, %d) = %d, want %d", c.now, c.p, got, c.want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	runCases(t, []decodeCase{
		// lp-missing-measurement
		{name: "line starts with comma", in: ",t=1 f=1", errs: []string{"1:lp-missing-measurement"}},
		{name: "line starts with control", in: "\x01m f=1", errs: []string{"1:lp-missing-measurement"}},
		// lp-bad-measurement
		{name: "measurement then control", in: "m\x01 f=1", errs: []string{"1:lp-bad-measurement"}},
		// lp-bad-comment
		{name: "comment with control", in: "# a\x7f", errs: []string{"1:lp-bad-comment"}},
		// lp-invalid-utf8
		{name: "utf8 measurement", in: "\xff f=1", errs: []string{"1:lp-invalid-utf8"}},
		{name: "utf8 tag key", in: "m,\xff=1 f=1", errs: []string{"1:lp-invalid-utf8"}},
		{name: "utf8 tag value", in: "m,t=\xc3 f=1", errs: []string{"1:lp-invalid-utf8"}},
		{name: "utf8 field key", in: "m \xff=1", errs: []string{"1:lp-invalid-utf8"}},
		{name: "utf8 string", in: "m s=\"\xed\xa0\x80\"", errs: []string{"1:lp-invalid-utf8"}},
		// lp-bad-tag
		{name: "comma then end", in: "m,", errs: []string{"1:lp-bad-tag"}},
		{name: "comma then space", in: "m, f=1", errs: []string{"1:lp-bad-tag"}},
		{name: "comma then newline", in: "m,\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-tag"}},
		{name: "tag without equals", in: "m,t f=1", errs: []string{"1:lp-bad-tag"}},
		{name: "tag key at end", in: "m,t", errs: []string{"1:lp-bad-tag"}},
		{name: "empty tag key", in: "m,=v f=1", errs: []string{"1:lp-bad-tag"}},
		{name: "empty tag value", in: "m,t= f=1", errs: []string{"1:lp-bad-tag"}},
		{name: "tag value with equals", in: "m,t=a=b f=1", errs: []string{"1:lp-bad-tag"}},
		{name: "double comma", in: "m,t=1,,u=2 f=1", errs: []string{"1:lp-bad-tag"}},
		{name: "trailing tag comma", in: "m,t=1, f=1", errs: []string{"1:lp-bad-tag"}},
		// lp-missing-fields
		{name: "measurement only", in: "m\nm", errs: []string{"1:lp-missing-fields", "2:lp-missing-fields"}},
		{name: "tags only", in: "m,t=1\nm,t=1", errs: []string{"1:lp-missing-fields", "2:lp-missing-fields"}},
		{name: "space then nothing", in: "m \nm,t=1 \r\nm ", errs: []string{"1:lp-missing-fields", "2:lp-missing-fields", "3:lp-missing-fields"}},
		// lp-bad-field
		{name: "field without equals", in: "m f", errs: []string{"1:lp-bad-field"}},
		{name: "field without equals then newline", in: "m f\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-field"}},
		{name: "field without value", in: "m f=", errs: []string{"1:lp-bad-field"}},
		{name: "field value is space", in: "m f= 1", errs: []string{"1:lp-bad-field"}},
		{name: "field value is comma", in: "m f=,g=1", errs: []string{"1:lp-bad-field"}},
		{name: "empty field key", in: "m =1", errs: []string{"1:lp-bad-field"}},
		{name: "trailing field comma", in: "m f=1,\nm f=1,", errs: []string{"1:lp-bad-field", "2:lp-bad-field"}},
		{name: "comma then space", in: "m f=1, g=1", errs: []string{"1:lp-bad-field"}},
		{name: "text after string", in: `m s="a"b`, errs: []string{"1:lp-bad-field"}},
		// lp-bad-field-value
		{name: "unknown type", in: "m f=abc", errs: []string{"1:lp-bad-field-value"}},
		{name: "plus sign", in: "m f=+1", errs: []string{"1:lp-bad-field-value"}},
		{name: "bad float", in: "m f=12x", errs: []string{"1:lp-bad-field-value"}},
		{name: "bad int", in: "m f=1.5i", errs: []string{"1:lp-bad-field-value"}},
		{name: "bad uint", in: "m f=-1u", errs: []string{"1:lp-bad-field-value"}},
		{name: "bad bool", in: "m f=tRUE", errs: []string{"1:lp-bad-field-value"}},
		{name: "inf", in: "m f=-Inf\nm f=-infinity", errs: []string{"1:lp-bad-field-value", "2:lp-bad-field-value"}},
		{name: "nan", in: "m f=-NaN", errs: []string{"1:lp-bad-field-value"}},
		{name: "bad value then timestamp", in: "m f=x1 1\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-field-value"}},
		{name: "bad value before next field", in: "m f=1x,g=2 1\nm f=1", rows: []string{"2 m f=1 " + nowNs}, errs: []string{"1:lp-bad-field-value"}},
		// lp-field-out-of-range
		{name: "int overflow", in: "m f=9223372036854775808i\nm f=-9223372036854775809i", errs: []string{"1:lp-field-out-of-range", "2:lp-field-out-of-range"}},
		{name: "uint overflow", in: "m f=18446744073709551616u", errs: []string{"1:lp-field-out-of-range"}},
		{name: "float overflow", in: "m f=1e309", errs: []string{"1:lp-field-out-of-range"}},
		// lp-unterminated-string
		{name: "unterminated", in: `m f="abc`, errs: []string{"1:lp-unterminated-string"}},
		{name: "unterminated escaped quote", in: `m f="abc\"`, errs: []string{"1:lp-unterminated-string"}},
		{name: "unterminated trailing backslash", in: `m f="abc\`, errs: []string{"1:lp-unterminated-string"}},
		// lp-bad-timestamp
		{name: "letters", in: "m f=1 abc\nm f=1 12a", errs: []string{"1:lp-bad-timestamp", "2:lp-bad-timestamp"}},
		{name: "two timestamps", in: "m f=1 1 2", errs: []string{"1:lp-bad-timestamp"}},
		{name: "minus only", in: "m f=1 -", errs: []string{"1:lp-bad-timestamp"}},
		{name: "minus inside", in: "m f=1 1-2\nm f=1 --1", errs: []string{"1:lp-bad-timestamp", "2:lp-bad-timestamp"}},
		{name: "float timestamp", in: "m f=1 1.5", errs: []string{"1:lp-bad-timestamp"}},
		// lp-timestamp-overflow
		{name: "timestamp overflow", in: "m f=1 9223372036854775808\nm f=1 -9223372036854775809\r\nm f=1 1",
			rows: []string{"3 m f=1 1"}, errs: []string{"1:lp-timestamp-overflow", "2:lp-timestamp-overflow"}},
		{name: "scaled overflow", prec: columnar.Millisecond, in: "m f=1 9223372036855", errs: []string{"1:lp-timestamp-overflow"}},
	})
}

// Every error code is exercised by TestDecodeErrors.
func TestErrorCodesCovered(t *testing.T) {
	codes := []string{CodeMissingMeasurement, CodeBadMeasurement, CodeBadComment, CodeInvalidUTF8, CodeBadTag,
		CodeMissingFields, CodeBadField, CodeBadFieldValue, CodeFieldOutOfRange, CodeUnterminatedString,
		CodeBadTimestamp, CodeTimestampOverflow}
	seen := map[string]bool{}
	var b columnar.Batch
	for _, in := range []string{",", "m\x01 f=1", "#\x01", "\xff f=1", "m,t f=1", "m", "m f", "m f=x", "m f=1e999", "m f=\"", "m f=1 x", "m f=1 99999999999999999999"} {
		Decode([]byte(in), &b, Options{}, func(e columnar.LineError) { seen[e.Code] = true })
	}
	for _, c := range codes {
		if !seen[c] {
			t.Errorf("code %s not produced", c)
		}
	}
	if len(seen) != len(codes) {
		t.Errorf("codes produced %v, documented %v", seen, codes)
	}
}

func TestReasons(t *testing.T) {
	for in, want := range map[string]string{
		"m usage=12x":                `field "usage" value "12x": invalid float`,
		"m usage=12xi":               `field "usage" value "12xi": invalid integer`,
		"m f\\ x=yes":                `field "f x" value "yes": unrecognized type (want a number, a quoted string or a boolean)`,
		"m f=9223372036854775808i":   `field "f" value "9223372036854775808i": out of range for integer`,
		"m,host=a":                   `missing fields`,
		"m,host f=1":                 `tag key "host": expected '=', found ' '`,
		"m,host= f=1":                `tag "host": empty value`,
		"m f=1 12a":                  `invalid timestamp "12a"`,
		"m f=1 99999999999999999999": `timestamp "99999999999999999999": out of range`,
		`m s="abc`:                   `field "s": string value has no closing quote`,
	} {
		var got string
		Decode([]byte(in), &columnar.Batch{}, Options{}, func(e columnar.LineError) { got = e.Reason })
		if got != want {
			t.Errorf("%q: reason %q, want %q", in, got, want)
		}
	}
}

// Rejected lines leave nothing behind in the batch, and Decode appends to
// what the batch already holds.
func TestAbortAndAppend(t *testing.T) {
	good := "a,t=1 f=1,s=\"x\" 1\nb\\ x,t\\ y=z\\ w f\\ v=2 2\n"
	mixed := "a,t=1 f=1,s=\"x\" 1\nbad,t=1 f=1,g=x 1\nc,t\\ 1=2 s=\"\\\"\",f=1 99999999999999999999\nb\\ x,t\\ y=z\\ w f\\ v=2 2\n"
	var b1, b2 columnar.Batch
	if n := Decode([]byte(good), &b1, Options{}, nil); n != 2 {
		t.Fatalf("good: %d rows", n)
	}
	if n := Decode([]byte(mixed), &b2, Options{}, nil); n != 2 {
		t.Fatalf("mixed: %d rows", n)
	}
	if string(b1.Buf) != string(b2.Buf) || len(b1.Tags) != len(b2.Tags) || len(b1.Fields) != len(b2.Fields) {
		t.Errorf("rejected lines left data behind:\n%q\n%q", b1.Buf, b2.Buf)
	}
	n := Decode([]byte(good), &b1, Options{}, nil)
	if n != 2 || len(b1.Rows) != 4 {
		t.Errorf("append: n=%d rows=%d", n, len(b1.Rows))
	}
	r := render(&b1)
	if r[0][2:] != r[2][2:] || r[1][2:] != r[3][2:] {
		t.Errorf("appended rows differ: %q", r)
	}
}

func TestNoAllocs(t *testing.T) {
	body := tsbsBody(100)
	body = append(body, "m\\ x,t\\,1=v\\=1 f\\ 1=\"a\\\"b\",g=1i,h=2u,k=true 5\n"...)
	var b columnar.Batch
	Decode(body, &b, Options{}, nil)
	allocs := testing.AllocsPerRun(20, func() {
		b.Reset()
		Decode(body, &b, Options{}, nil)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per Decode", allocs)
	}
}
