// Package bench generates TSBS-shaped workloads and queries for Silt's
// benchmarks, loads them into Silt and its peers, and times the queries.
//
// The cpu-only DevOps use case of TSBS: table cpu, ten tags describing a
// host, ten fields usage_user ... usage_guest_nice, one row per host per
// interval. As in TSBS, each field is a random walk clamped to [0, 100]
// (normal steps of deviation 1 from a uniform start) written as the
// truncated integer: TSBS's influx format has "usage_user=58i", so a
// loaded database holds integer fields. Same seed, same bytes, in every
// output format: the values do not depend on the format, so Silt and
// InfluxDB (line protocol) and ClickHouse (TSV) load the same data.
package bench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// CPUFields are the field names of the cpu table, in TSBS order.
var CPUFields = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}

// CPUTags are the tag names of the cpu table, in TSBS order.
var CPUTags = []string{"hostname", "region", "datacenter", "rack", "os", "arch", "team",
	"service", "service_version", "service_environment"}

// regions and their datacenters, as TSBS names them.
var regions = []struct {
	name        string
	datacenters []string
}{
	{"us-east-1", []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"}},
	{"us-west-1", []string{"us-west-1a", "us-west-1b"}},
	{"us-west-2", []string{"us-west-2a", "us-west-2b", "us-west-2c"}},
	{"eu-west-1", []string{"eu-west-1a", "eu-west-1b", "eu-west-1c"}},
	{"eu-central-1", []string{"eu-central-1a", "eu-central-1b"}},
	{"ap-southeast-1", []string{"ap-southeast-1a", "ap-southeast-1b"}},
	{"ap-southeast-2", []string{"ap-southeast-2a", "ap-southeast-2b"}},
	{"ap-northeast-1", []string{"ap-northeast-1a", "ap-northeast-1c"}},
	{"sa-east-1", []string{"sa-east-1a", "sa-east-1b", "sa-east-1c"}},
}

var (
	oses     = []string{"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"}
	arches   = []string{"x64", "x86"}
	teams    = []string{"SF", "NYC", "LON", "CHI"}
	envs     = []string{"production", "staging", "test"}
	versions = []string{"0", "1"}
)

// Format is an output format of the generator. Every format writes one row
// per line.
type Format int

const (
	// LineProtocol is InfluxDB line protocol with nanosecond timestamps and
	// integer fields ("usage_user=58i"), byte for byte the shape of TSBS's
	// influx format.
	LineProtocol Format = iota
	// CSV is RFC 4180 CSV with a header line: time, the ten tags, the ten
	// fields; time as "2006-01-02 15:04:05" (UTC, whole seconds), which
	// ClickHouse's DateTime parses.
	CSV
	// TSV is ClickHouse's TabSeparated: the CSV columns without a header.
	TSV
)

// ParseFormat parses "lp" (or "influx"), "csv" or "tsv".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "lp", "influx", "line-protocol":
		return LineProtocol, nil
	case "csv":
		return CSV, nil
	case "tsv":
		return TSV, nil
	}
	return 0, fmt.Errorf("unknown format %q (want lp, csv or tsv)", s)
}

func (f Format) String() string {
	return [...]string{"lp", "csv", "tsv"}[f]
}

// CSVHeader is the header line CSV output starts with.
func CSVHeader() string {
	h := "time"
	for _, t := range CPUTags {
		h += "," + t
	}
	for _, f := range CPUFields {
		h += "," + f
	}
	return h + "\n"
}

// CPU generates cpu rows.
type CPU struct {
	Hosts    int
	Start    time.Time
	Interval time.Duration

	rng   *rand.Rand
	tags  [][]byte // per host: "cpu,hostname=...,...,service_environment=... "
	cells [][]byte // per host: the ten tag values separated by '\x00'
	vals  [][]float64
	step  int
	field [][]byte
}

// NewCPU returns a generator for hosts hosts starting at start.
func NewCPU(hosts int, start time.Time, interval time.Duration, seed uint64) *CPU {
	g := &CPU{Hosts: hosts, Start: start, Interval: interval, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, f := range CPUFields {
		g.field = append(g.field, []byte(f+"="))
	}
	for h := 0; h < hosts; h++ {
		region := regions[g.rng.IntN(len(regions))]
		vals := []string{"host_" + strconv.Itoa(h),
			region.name,
			region.datacenters[g.rng.IntN(len(region.datacenters))],
			strconv.Itoa(g.rng.IntN(100)),
			oses[g.rng.IntN(len(oses))],
			arches[g.rng.IntN(len(arches))],
			teams[g.rng.IntN(len(teams))],
			strconv.Itoa(g.rng.IntN(20)),
			versions[g.rng.IntN(len(versions))],
			envs[g.rng.IntN(len(envs))]}
		t := []byte("cpu")
		var c []byte
		for i, v := range vals {
			t = append(t, ',')
			t = append(t, CPUTags[i]...)
			t = append(t, '=')
			t = append(t, v...)
			if i > 0 {
				c = append(c, 0)
			}
			c = append(c, v...)
		}
		g.tags = append(g.tags, append(t, ' '))
		g.cells = append(g.cells, c)
		v := make([]float64, len(CPUFields))
		for i := range v {
			v[i] = g.rng.Float64() * 100
		}
		g.vals = append(g.vals, v)
	}
	return g
}

// AppendInterval appends one line protocol row per host for the next
// interval and returns the extended buffer (about 345 bytes a row).
func (g *CPU) AppendInterval(dst []byte) []byte {
	return g.AppendIntervalAs(dst, LineProtocol)
}

// AppendIntervalAs appends one row per host for the next interval in format
// f. The values are the same in every format: only the spelling differs.
func (g *CPU) AppendIntervalAs(dst []byte, f Format) []byte {
	at := g.Start.Add(time.Duration(g.step) * g.Interval)
	ts := at.UnixNano()
	g.step++
	sep := byte(',')
	if f == TSV {
		sep = '\t'
	}
	for h := range g.tags {
		if f == LineProtocol {
			dst = append(dst, g.tags[h]...)
		} else {
			dst = at.UTC().AppendFormat(dst, time.DateTime)
			dst = append(dst, sep)
			for _, c := range g.cells[h] {
				if c == 0 {
					c = sep
				}
				dst = append(dst, c)
			}
		}
		for i, v := range g.vals[h] {
			// TSBS's clamped random walk: a standard normal step.
			v += g.rng.NormFloat64()
			v = min(max(v, 0), 100)
			g.vals[h][i] = v
			switch {
			case f != LineProtocol:
				dst = append(dst, sep)
			case i > 0:
				dst = append(dst, ',')
			}
			if f == LineProtocol {
				dst = append(dst, g.field[i]...)
			}
			dst = strconv.AppendInt(dst, int64(v), 10)
			if f == LineProtocol {
				dst = append(dst, 'i')
			}
		}
		if f == LineProtocol {
			dst = append(dst, ' ')
			dst = strconv.AppendInt(dst, ts, 10)
		}
		dst = append(dst, '\n')
	}
	return dst
}
