package lineprotocol

import (
	"strconv"
	"testing"
	"time"

	lp "github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/siltdb/silt/columnar"
)

var (
	tsbsRegions = []string{"us-west-1", "us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-northeast-1", "sa-east-1", "us-west-2"}
	tsbsOS      = []string{"Ubuntu16.04LTS", "Ubuntu15.10", "Ubuntu16.10"}
	tsbsArch    = []string{"x64", "x86"}
	tsbsTeam    = []string{"SF", "NYC", "LON", "CHI"}
	tsbsEnv     = []string{"production", "staging", "test"}
	tsbsFields  = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}
)

// appendTSBS appends a row shaped like those of the TSBS devops "cpu"
// use case (influx format) for host h at step t.
func appendTSBS(dst []byte, h, t int) []byte {
	region := tsbsRegions[h%len(tsbsRegions)]
	dst = append(dst, "cpu,hostname=host_"...)
	dst = strconv.AppendInt(dst, int64(h), 10)
	dst = append(dst, ",region="...)
	dst = append(dst, region...)
	dst = append(dst, ",datacenter="...)
	dst = append(dst, region...)
	dst = append(dst, byte('a'+h%3))
	dst = append(dst, ",rack="...)
	dst = strconv.AppendInt(dst, int64(h%100), 10)
	dst = append(dst, ",os="...)
	dst = append(dst, tsbsOS[h%len(tsbsOS)]...)
	dst = append(dst, ",arch="...)
	dst = append(dst, tsbsArch[h%len(tsbsArch)]...)
	dst = append(dst, ",team="...)
	dst = append(dst, tsbsTeam[h%len(tsbsTeam)]...)
	dst = append(dst, ",service="...)
	dst = strconv.AppendInt(dst, int64(h%20), 10)
	dst = append(dst, ",service_version="...)
	dst = strconv.AppendInt(dst, int64(h%2), 10)
	dst = append(dst, ",service_environment="...)
	dst = append(dst, tsbsEnv[h%len(tsbsEnv)]...)
	for j, f := range tsbsFields {
		if j == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst = append(dst, f...)
		dst = append(dst, '=')
		dst = strconv.AppendInt(dst, int64((h*7+t*13+j*91)%100), 10)
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, 1451606400000000000+int64(t)*10e9, 10)
	return append(dst, '\n')
}

func tsbsLine(h, t int) string { return string(appendTSBS(nil, h, t)) }

// tsbsBody returns n rows: 100 hosts, n/100 steps.
func tsbsBody(n int) []byte {
	var b []byte
	for i := 0; i < n; i++ {
		b = appendTSBS(b, i%100, i/100)
	}
	return b
}

const benchLines = 10000

// benchCPU returns a function that reports, besides the standard wall-time
// figures, the process CPU time per line and the throughput in CPU time
// (cpu-MB/s; Linux only), which stay meaningful when the machine is busy
// with other work.
func benchCPU(b *testing.B, bodyLen int) func() {
	c0, ok := processCPU()
	return func() {
		c1, _ := processCPU()
		b.ReportMetric(float64(bodyLen)/benchLines, "B/line")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchLines), "ns/line")
		if ok {
			cpu := float64((c1 - c0).Nanoseconds())
			b.ReportMetric(cpu/float64(b.N*benchLines), "cpu-ns/line")
			b.ReportMetric(float64(bodyLen)*float64(b.N)/cpu*1e3, "cpu-MB/s")
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	body := tsbsBody(benchLines)
	var batch columnar.Batch
	opt := Options{Now: time.Now().UnixNano()}
	if n := Decode(body, &batch, opt, nil); n != benchLines {
		b.Fatalf("decoded %d rows", n)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	done := benchCPU(b, len(body))
	for b.Loop() {
		batch.Reset()
		Decode(body, &batch, opt, nil)
	}
	done()
}

// BenchmarkDecodeOracle decodes the same data with line-protocol/v2,
// reading every token and parsing every value.
func BenchmarkDecodeOracle(b *testing.B) {
	body := tsbsBody(benchLines)
	now := time.Now()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	done := benchCPU(b, len(body))
	for b.Loop() {
		dec := lp.NewDecoderWithBytes(body)
		rows := 0
	next:
		for dec.Next() {
			if _, err := dec.Measurement(); err != nil {
				b.Fatal(err)
			}
			for {
				k, _, err := dec.NextTag()
				if err != nil {
					b.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			for {
				k, _, err := dec.NextField()
				if err != nil {
					b.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			if _, err := dec.Time(lp.Nanosecond, now); err != nil {
				b.Fatal(err)
			}
			rows++
			continue next
		}
		if rows != benchLines {
			b.Fatalf("decoded %d rows", rows)
		}
	}
	done()
}
