// Package bench generates TSBS-shaped workloads for Silt's benchmarks.
//
// The cpu-only DevOps use case of TSBS: table cpu, ten tags describing a
// host, ten float fields usage_user ... usage_guest_nice following bounded
// random walks, one row per host per interval. Same seed, same bytes.
package bench

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// CPUFields are the field names of the cpu table, in TSBS order.
var CPUFields = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}

var (
	regions = []string{"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1",
		"ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"}
	oses     = []string{"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"}
	arches   = []string{"x64", "x86"}
	teams    = []string{"SF", "NYC", "LON", "CHI"}
	envs     = []string{"production", "staging", "test"}
	versions = []string{"0", "1"}
)

// CPU generates cpu rows as line protocol.
type CPU struct {
	Hosts    int
	Start    time.Time
	Interval time.Duration

	rng   *rand.Rand
	tags  [][]byte // per host: "cpu,hostname=...,...,service_environment=... "
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
		t := []byte("cpu,hostname=host_" + strconv.Itoa(h) +
			",region=" + region +
			",datacenter=" + region + string(rune('a'+g.rng.IntN(3))) +
			",rack=" + strconv.Itoa(g.rng.IntN(100)) +
			",os=" + oses[g.rng.IntN(len(oses))] +
			",arch=" + arches[g.rng.IntN(len(arches))] +
			",team=" + teams[g.rng.IntN(len(teams))] +
			",service=" + strconv.Itoa(g.rng.IntN(20)) +
			",service_version=" + versions[g.rng.IntN(len(versions))] +
			",service_environment=" + envs[g.rng.IntN(len(envs))] + " ")
		g.tags = append(g.tags, t)
		v := make([]float64, len(CPUFields))
		for i := range v {
			v[i] = g.rng.Float64() * 100
		}
		g.vals = append(g.vals, v)
	}
	return g
}

// AppendInterval appends one row per host for the next interval and returns
// the extended buffer (about 345 bytes a row with 10 tags and 10 fields).
func (g *CPU) AppendInterval(dst []byte) []byte {
	ts := g.Start.Add(time.Duration(g.step) * g.Interval).UnixNano()
	g.step++
	for h := range g.tags {
		dst = append(dst, g.tags[h]...)
		for i, v := range g.vals[h] {
			// Bounded random walk, as TSBS does for cpu usage.
			v += (g.rng.Float64() - 0.5) * 2
			v = min(max(v, 0), 100)
			g.vals[h][i] = v
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, g.field[i]...)
			dst = strconv.AppendFloat(dst, float64(int64(v*1e4))/1e4, 'f', -1, 64)
		}
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, ts, 10)
		dst = append(dst, '\n')
	}
	return dst
}
