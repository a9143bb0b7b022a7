package pgoracle

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// LineProtocol returns p as one line of InfluxDB line protocol for
// measurement table, without a trailing newline: tags sorted by key (empty
// values left out), fields sorted by key, the time in nanoseconds. Floats
// are written with strconv 'g' -1, which parses back to the same float64;
// integers get the i suffix, unsigned integers u.
//
// It panics on what line protocol cannot write: a measurement, tag or field
// key or tag value that is empty, holds a control character or invalid
// UTF-8, or ends with a backslash; a measurement starting with '#'; a string
// value with invalid UTF-8; NaN or ±Inf; a value of another Go type; a point
// without fields.
func (p Point) LineProtocol(table string) string {
	b := p.AppendLineProtocol(nil, table)
	return string(b[:len(b)-1])
}

// AppendLineProtocol appends p.LineProtocol(table) and a newline to dst.
func (p Point) AppendLineProtocol(dst []byte, table string) []byte {
	checkName("measurement", table)
	if table[0] == '#' {
		panic(fmt.Sprintf("pgoracle: measurement %q starts with #: line protocol reads it as a comment", table))
	}
	dst = appendEscaped(dst, table, ", ")
	tags := make([]string, 0, len(p.Tags))
	for k, v := range p.Tags {
		if v != "" {
			tags = append(tags, k)
		}
	}
	slices.Sort(tags)
	for _, k := range tags {
		v := p.Tags[k]
		checkName("tag key", k)
		checkName("tag value", v)
		dst = append(dst, ',')
		dst = appendEscaped(dst, k, ",= ")
		dst = append(dst, '=')
		dst = appendEscaped(dst, v, ",= ")
	}
	if len(p.Fields) == 0 {
		panic(fmt.Sprintf("pgoracle: point at %d of %s has no fields", p.Time, table))
	}
	fields := make([]string, 0, len(p.Fields))
	for k := range p.Fields {
		fields = append(fields, k)
	}
	slices.Sort(fields)
	sep := byte(' ')
	for _, k := range fields {
		checkName("field key", k)
		dst = append(dst, sep)
		sep = ','
		dst = appendEscaped(dst, k, ",= ")
		dst = append(dst, '=')
		switch v := p.Fields[k].(type) {
		case float64:
			if math.IsNaN(v) || math.IsInf(v, 0) {
				panic(fmt.Sprintf("pgoracle: field %s is %v: line protocol cannot write it", k, v))
			}
			dst = strconv.AppendFloat(dst, v, 'g', -1, 64)
		case int64:
			dst = strconv.AppendInt(dst, v, 10)
			dst = append(dst, 'i')
		case uint64:
			dst = strconv.AppendUint(dst, v, 10)
			dst = append(dst, 'u')
		case bool:
			dst = strconv.AppendBool(dst, v)
		case string:
			if !utf8.ValidString(v) {
				panic(fmt.Sprintf("pgoracle: string field %s is not valid UTF-8", k))
			}
			dst = append(dst, '"')
			dst = appendStringEscaped(dst, v)
			dst = append(dst, '"')
		default:
			panic(fmt.Sprintf("pgoracle: field %s is %T; want float64, int64, uint64, bool or string", k, v))
		}
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, p.Time, 10)
	return append(dst, '\n')
}

// checkName panics unless s can be written, escaped, as a measurement, key
// or tag value.
func checkName(what, s string) {
	switch {
	case s == "":
		panic(fmt.Sprintf("pgoracle: empty %s", what))
	case !utf8.ValidString(s):
		panic(fmt.Sprintf("pgoracle: %s %q is not valid UTF-8", what, s))
	case strings.HasSuffix(s, `\`):
		panic(fmt.Sprintf("pgoracle: %s %q ends with a backslash, which line protocol cannot write", what, s))
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		panic(fmt.Sprintf("pgoracle: %s %q holds a control character, which line protocol cannot write", what, s))
	}
}

// appendEscaped appends s with a backslash before each byte of special.
func appendEscaped(dst []byte, s, special string) []byte {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// appendStringEscaped appends a string field value's contents: backslash
// and double quote are escaped, and so are newline, carriage return and tab
// (as \n, \r, \t) so that each point stays on one line.
func appendStringEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
