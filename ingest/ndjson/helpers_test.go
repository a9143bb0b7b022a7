package ndjson

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/siltdb/silt/columnar"
)

// decode runs Decode on body and returns the batch, the rows in dump form
// and the errors as "line:code".
func decode(body string, opt Options) (*columnar.Batch, []string, []string, []columnar.LineError) {
	var b columnar.Batch
	var errs []columnar.LineError
	n := Decode([]byte(body), &b, opt, func(e columnar.LineError) { errs = append(errs, e) })
	if n != len(b.Rows) {
		panic(fmt.Sprintf("Decode returned %d, batch has %d rows", n, len(b.Rows)))
	}
	var codes []string
	for _, e := range errs {
		codes = append(codes, fmt.Sprintf("%d:%s", e.Line, e.Code))
	}
	return &b, dump(&b), codes, errs
}

// dump renders the rows of b, one string per row:
// "line table time tag=v,... | field=value ...", with floats as %v,
// booleans as true/false and strings quoted.
func dump(b *columnar.Batch) []string {
	var out []string
	for i := range b.Rows {
		r := &b.Rows[i]
		var sb strings.Builder
		fmt.Fprintf(&sb, "%d %s %d", r.Line, b.Str(r.Table), r.Time)
		for j, t := range b.RowTags(r) {
			if j == 0 {
				sb.WriteByte(' ')
			} else {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, "%s=%s", b.Str(t.Key), b.Str(t.Value))
		}
		sb.WriteString(" |")
		for _, f := range b.RowFields(r) {
			fmt.Fprintf(&sb, " %s=", b.Str(f.Key))
			switch f.Type {
			case columnar.FieldFloat:
				sb.WriteString(strconv.FormatFloat(f.Float(), 'g', -1, 64))
			case columnar.FieldBool:
				sb.WriteString(strconv.FormatBool(f.Bool()))
			case columnar.FieldString:
				sb.WriteString(strconv.Quote(b.Str(f.Str)))
			default:
				fmt.Fprintf(&sb, "%s(%d)", f.Type, f.Num)
			}
		}
		out = append(out, sb.String())
	}
	return out
}

var (
	tsbsTagKeys = []string{"hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"}
	tsbsFields  = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
	tsbsRegions = []string{"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"}
)

// tsbsCPU returns n TSBS-shaped cpu rows (10 string tags, 10 float fields)
// as NDJSON, nested or flat, with nanosecond integer times.
func tsbsCPU(n int, nested bool) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var sb strings.Builder
	t := int64(1451606400000000000)
	for i := range n {
		host := i % 100
		region := tsbsRegions[host%len(tsbsRegions)]
		tagVals := []string{
			"host_" + strconv.Itoa(host), region, region + string(rune('a'+host%3)), strconv.Itoa(host % 97),
			[]string{"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"}[host%3], []string{"x64", "x86"}[host%2],
			[]string{"SF", "NYC", "LON", "CHI"}[host%4], strconv.Itoa(host % 19), strconv.Itoa(host % 2),
			[]string{"production", "staging", "test"}[host%3],
		}
		sb.WriteString(`{"time":`)
		sb.WriteString(strconv.FormatInt(t+int64(i/100)*10e9, 10))
		sb.WriteString(`,"table":"cpu",`)
		if nested {
			sb.WriteString(`"tags":{`)
		}
		for j, k := range tsbsTagKeys {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(`"` + k + `":"` + tagVals[j] + `"`)
		}
		if nested {
			sb.WriteString(`},"fields":{`)
		} else {
			sb.WriteByte(',')
		}
		for j, k := range tsbsFields {
			if j > 0 {
				sb.WriteByte(',')
			}
			v := float64(rng.IntN(10000)) / 100
			sb.WriteString(`"` + k + `":` + strconv.FormatFloat(v, 'f', -1, 64))
		}
		if nested {
			sb.WriteByte('}')
		}
		sb.WriteString("}\n")
	}
	return []byte(sb.String())
}
