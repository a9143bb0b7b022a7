package pgoracle

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// CPUTable is the table (measurement) of CPUDataset's points.
const CPUTable = "cpu"

// CPUTags are CPUDataset's tags, as TSBS's cpu-only use case has them.
var CPUTags = []string{
	"hostname", "region", "datacenter", "rack", "os", "arch",
	"team", "service", "service_version", "service_environment",
}

// CPUFields are CPUDataset's fields, all floats.
var CPUFields = []FieldDef{
	{"usage_user", Float}, {"usage_system", Float}, {"usage_idle", Float},
	{"usage_nice", Float}, {"usage_iowait", Float}, {"usage_irq", Float},
	{"usage_softirq", Float}, {"usage_steal", Float}, {"usage_guest", Float},
	{"usage_guest_nice", Float},
}

// DatasetOptions add disorder to a generated dataset.
type DatasetOptions struct {
	// OutOfOrder is the fraction of points (0 to 1) moved to random places
	// of the write order: that many points are picked and shuffled among
	// their own positions.
	OutOfOrder float64
	// Duplicates is the fraction of points (0 to 1) that are written again
	// later (after the first write, at a random place) with new values:
	// about half of the rewrites carry all fields, the others a random
	// nonempty proper subset of them, so that merging keeps the rest.
	Duplicates float64
}

var tsbsRegions = []struct {
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
	tsbsOS   = []string{"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"}
	tsbsArch = []string{"x64", "x86"}
	tsbsTeam = []string{"SF", "NYC", "LON", "CHI"}
	tsbsEnv  = []string{"production", "staging", "test"}
)

// CPUDataset generates a TSBS-shaped cpu dataset (TSBS's cpu-only use case:
// hosts × n points, in table CPUTable with tags CPUTags and fields
// CPUFields), deterministically from seed.
//
// Host h is named host_<h>, with tags drawn as TSBS does; every host writes
// one point at each of the n times start, start+interval, …, so hosts=100,
// interval=10s, n=8640 is TSBS's day of 864,000 points. Field values are
// random walks in [0, 100] (clamped, so exact 0 and 100 occur). start is
// truncated to a whole microsecond, and interval must be a positive whole
// number of microseconds, so every time loads into PostgreSQL unchanged.
//
// The points come in write order: by time, then host, before opts reorders
// some and appends rewrites (see DatasetOptions); the first write of each
// (host, time) has the values that a dataset without options has.
// MergeLastWriteWins of the result gives hosts×n points. Points of a host
// share one Tags map.
func CPUDataset(hosts int, start time.Time, interval time.Duration, n int, seed uint64, opts DatasetOptions) []Point {
	if interval <= 0 || interval%time.Microsecond != 0 {
		panic(fmt.Sprintf("pgoracle: CPUDataset interval %v is not a positive whole number of microseconds", interval))
	}
	if hosts < 0 || n < 0 || opts.OutOfOrder < 0 || opts.OutOfOrder > 1 || opts.Duplicates < 0 || opts.Duplicates > 1 {
		panic(fmt.Sprintf("pgoracle: CPUDataset(hosts=%d, n=%d, %+v) out of range", hosts, n, opts))
	}
	t0 := start.UnixNano()
	t0 -= ((t0 % 1000) + 1000) % 1000 // floor to a microsecond

	// Independent streams, so that options do not change the base values.
	tagRand := rand.New(rand.NewPCG(seed, 1))
	valRand := rand.New(rand.NewPCG(seed, 2))
	oooRand := rand.New(rand.NewPCG(seed, 3))
	dupRand := rand.New(rand.NewPCG(seed, 4))

	hostTags := make([]map[string]string, hosts)
	for h := range hostTags {
		r := tsbsRegions[tagRand.IntN(len(tsbsRegions))]
		hostTags[h] = map[string]string{
			"hostname":            "host_" + strconv.Itoa(h),
			"region":              r.name,
			"datacenter":          r.datacenters[tagRand.IntN(len(r.datacenters))],
			"rack":                strconv.Itoa(tagRand.IntN(100)),
			"os":                  tsbsOS[tagRand.IntN(len(tsbsOS))],
			"arch":                tsbsArch[tagRand.IntN(len(tsbsArch))],
			"team":                tsbsTeam[tagRand.IntN(len(tsbsTeam))],
			"service":             strconv.Itoa(tagRand.IntN(20)),
			"service_version":     strconv.Itoa(tagRand.IntN(2)),
			"service_environment": tsbsEnv[tagRand.IntN(len(tsbsEnv))],
		}
	}
	walk := make([][]float64, hosts)
	for h := range walk {
		walk[h] = make([]float64, len(CPUFields))
		for f := range walk[h] {
			walk[h][f] = valRand.Float64() * 100
		}
	}

	base := make([]Point, 0, hosts*n)
	for i := range n {
		t := t0 + int64(i)*int64(interval)
		for h := range hosts {
			fields := make(map[string]any, len(CPUFields))
			for f, def := range CPUFields {
				v := walk[h][f] + valRand.NormFloat64()
				v = math.Min(100, math.Max(0, v))
				walk[h][f] = v
				fields[def.Name] = v
			}
			base = append(base, Point{Time: t, Tags: hostTags[h], Fields: fields})
		}
	}
	total := len(base)

	// Out of order: pick k positions and shuffle their points among them.
	if k := int(math.Round(opts.OutOfOrder * float64(total))); k > 1 {
		pos := pick(oooRand, total, k)
		slices.Sort(pos)
		moved := make([]Point, k)
		for i, p := range pos {
			moved[i] = base[p]
		}
		oooRand.Shuffle(k, func(i, j int) { moved[i], moved[j] = moved[j], moved[i] })
		for i, p := range pos {
			base[p] = moved[i]
		}
	}

	// Duplicates: rewrite k points after their first write.
	k := int(math.Round(opts.Duplicates * float64(total)))
	if k == 0 {
		return base
	}
	type rewrite struct {
		after int // index in base after which it is written
		p     Point
	}
	rewrites := make([]rewrite, 0, k)
	for _, p := range pick(dupRand, total, k) {
		orig := base[p]
		fields := make(map[string]any, len(CPUFields))
		if dupRand.IntN(2) == 0 {
			for _, def := range CPUFields {
				fields[def.Name] = dupRand.Float64() * 100
			}
		} else {
			for len(fields) == 0 || len(fields) == len(CPUFields) {
				clear(fields)
				for _, def := range CPUFields {
					if dupRand.IntN(2) == 0 {
						fields[def.Name] = dupRand.Float64() * 100
					}
				}
			}
		}
		after := p + dupRand.IntN(total-p)
		rewrites = append(rewrites, rewrite{after, Point{Time: orig.Time, Tags: orig.Tags, Fields: fields}})
	}
	slices.SortStableFunc(rewrites, func(a, b rewrite) int { return a.after - b.after })
	out := make([]Point, 0, total+k)
	r := 0
	for i, p := range base {
		out = append(out, p)
		for ; r < len(rewrites) && rewrites[r].after == i; r++ {
			out = append(out, rewrites[r].p)
		}
	}
	return out
}

// pick returns k distinct random integers in [0, n), in random order.
func pick(r *rand.Rand, n, k int) []int {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	for i := range k {
		j := i + r.IntN(n-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	return perm[:k]
}
