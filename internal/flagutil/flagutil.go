// Package flagutil holds the flag.Value types that packages' RegisterFlags
// share: sizes with units and comma-separated lists. Each package owns its
// flags and defaults; only the parsing lives here, once.
package flagutil

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
)

// Bytes is a size flag: 1048576, 512KiB, 64MiB, 1GiB, 1GB, 1.5G. Binary
// units (KiB, K) are powers of two, decimal ones (KB) powers of ten.
type Bytes int64

// BytesVar defines a size flag with a default, writing into p.
func BytesVar(fs *flag.FlagSet, p *int64, name string, def int64, usage string) {
	*p = def
	fs.Var((*Bytes)(p), name, usage)
}

func (b *Bytes) String() string { return strconv.FormatInt(int64(*b), 10) }

// Set parses s as a size.
func (b *Bytes) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	*b = Bytes(n)
	return nil
}

// ParseBytes reads a size: a byte count, or a number with a unit.
func ParseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			mult, s = u.mult, strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 64MiB, 1GiB or a byte count)", s)
	}
	return int64(n * float64(mult)), nil
}

// List is a comma-separated list flag: "a:9092, b:9092" is [a:9092 b:9092];
// empty items are dropped.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set replaces the list with the items of s.
func (l *List) Set(s string) error {
	*l = SplitList(s)
	return nil
}

// ListVar defines a comma-separated list flag, empty by default.
func ListVar(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Var((*List)(p), name, usage)
}

// SplitList splits s at commas, trimming spaces and dropping empty items.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// IntBytes is Bytes for settings held in an int (buffer sizes).
type IntBytes int

// IntBytesVar defines a size flag with a default, writing into p.
func IntBytesVar(fs *flag.FlagSet, p *int, name string, def int, usage string) {
	*p = def
	fs.Var((*IntBytes)(p), name, usage)
}

func (b *IntBytes) String() string { return strconv.Itoa(int(*b)) }

// Set parses s as a size that must fit an int.
func (b *IntBytes) Set(s string) error {
	n, err := ParseBytes(s)
	if err != nil {
		return err
	}
	if int64(int(n)) != n {
		return fmt.Errorf("size %q is too large", s)
	}
	*b = IntBytes(n)
	return nil
}

// SettingError is a bad value of one setting, named by the key its package
// registers it under. Its text is the package's own; a CLI that parsed the
// setting from a flag of that name adds the flag (FlagName).
type SettingError struct {
	Key string // e.g. "kafka.topics"
	Err error
}

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// Invalid returns a SettingError of key with a formatted message.
func Invalid(key, format string, args ...any) error {
	return &SettingError{Key: key, Err: fmt.Errorf(format, args...)}
}

// FlagName prefixes err with the flag of the setting it is about, if it
// is a SettingError: "--kafka.topics: kafka: no topics".
func FlagName(err error) error {
	var se *SettingError
	if errors.As(err, &se) {
		return fmt.Errorf("--%s: %w", se.Key, err)
	}
	return err
}
