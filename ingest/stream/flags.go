package stream

import (
	"flag"

	"github.com/siltdb/silt/columnar"
)

// PrecisionVar defines a timestamp precision flag (ns, us, ms, s, m, h),
// nanoseconds by default, writing into p. The sources' RegisterFlags
// share it.
func PrecisionVar(fs *flag.FlagSet, p *columnar.Precision, name, usage string) {
	*p = columnar.Nanosecond
	fs.Var(precisionFlag{p}, name, usage)
}

type precisionFlag struct{ p *columnar.Precision }

func (f precisionFlag) String() string {
	if f.p == nil {
		return "" // the flag package's zero value
	}
	switch *f.p {
	case columnar.Nanosecond:
		return "ns"
	case columnar.Microsecond:
		return "us"
	case columnar.Millisecond:
		return "ms"
	case columnar.Second:
		return "s"
	case columnar.Minute:
		return "m"
	case columnar.Hour:
		return "h"
	}
	return ""
}

func (f precisionFlag) Set(s string) error {
	p, err := columnar.ParsePrecision(s)
	if err != nil {
		return err
	}
	*f.p = p
	return nil
}
