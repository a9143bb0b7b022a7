package lineprotocol

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestDifferentialRepeatedEscapes: lines that repeat the previous line's
// measurement, tag keys and values and field keys, escaped or not, where
// the batch shares the previous row's strings (columnar.Batch.reuse) and
// the escaped ones are unescaped into the arena's free space first
// (stage): a key shared while its value is copied moves the staged value
// down over the key's room. Decode agrees with the oracle on them.
func TestDifferentialRepeatedEscapes(t *testing.T) {
	meas := []string{"m", `m\ x`, `m\,y`, "cpu"}
	keys := []string{"k", `k\ 1`, `k\=2`, `k\,3`, "hostname", `host\ name\ long`}
	vals := []string{"v", `v\ 1`, `v\=2`, `a\,b`, "host_1", `host\ 12345678`}
	fkeys := []string{"f", `f\ 1`, `usage\ user`, "usage_user"}
	fvals := []string{"1", "2i", `"s"`, `"s\"q"`, `"a\\b"`, "true", "1.5"}
	pick := func(rng *rand.Rand, s []string) string { return s[rng.IntN(len(s))] }
	rng := rand.New(rand.NewPCG(20, 20))
	var sb strings.Builder
	for range 3000 {
		sb.Reset()
		var prev []string // the previous line's pieces
		for range 1 + rng.IntN(8) {
			var cur []string
			if prev != nil && rng.IntN(3) > 0 {
				cur = append([]string(nil), prev...)
				// Change one piece: a tag value mostly, sometimes a key.
				i := rng.IntN(len(cur))
				switch {
				case i == 0:
					cur[0] = pick(rng, meas)
				case cur[i][0] == ',':
					kv := strings.SplitN(cur[i][1:], "=", 2)
					if len(kv) == 2 && rng.IntN(2) == 0 {
						cur[i] = "," + kv[0] + "=" + pick(rng, vals)
					} else {
						cur[i] = "," + pick(rng, keys) + "=" + pick(rng, vals)
					}
				default:
					cur[i] = " " + pick(rng, fkeys) + "=" + pick(rng, fvals)
				}
			} else {
				cur = []string{pick(rng, meas)}
				for range rng.IntN(4) {
					cur = append(cur, ","+pick(rng, keys)+"="+pick(rng, vals))
				}
				for range 1 + rng.IntN(3) {
					cur = append(cur, " "+pick(rng, fkeys)+"="+pick(rng, fvals))
				}
			}
			// Tags first, then fields (a space before the first field only).
			var tags, fields []string
			for _, p := range cur[1:] {
				if p[0] == ',' {
					tags = append(tags, p)
				} else {
					fields = append(fields, p[1:])
				}
			}
			sb.WriteString(cur[0] + strings.Join(tags, "") + " " + strings.Join(fields, ",") + "\n")
			prev = cur
		}
		in := []byte(sb.String())
		if d := diff(in, 1, diffNow); d != "" {
			t.Fatalf("input %q:\n%s", in, d)
		}
	}
}
