package lineprotocol

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/siltdb/silt/columnar"
)

// Error codes reported in columnar.LineError.Code. See the package
// documentation for when each is used. They are stable: clients match on them.
const (
	CodeMissingMeasurement = "lp-missing-measurement"
	CodeBadMeasurement     = "lp-bad-measurement"
	CodeBadComment         = "lp-bad-comment"
	CodeInvalidUTF8        = "lp-invalid-utf8"
	CodeBadTag             = "lp-bad-tag"
	CodeMissingFields      = "lp-missing-fields"
	CodeBadField           = "lp-bad-field"
	CodeBadFieldValue      = "lp-bad-field-value"
	CodeFieldOutOfRange    = "lp-field-out-of-range"
	CodeUnterminatedString = "lp-unterminated-string"
	CodeBadTimestamp       = "lp-bad-timestamp"
	CodeTimestampOverflow  = "lp-timestamp-overflow"
	CodeLineTooLong        = "lp-line-too-long"
)

// DefaultMaxLineBytes is the longest entry Decode accepts when
// Options.MaxLineBytes is zero.
const DefaultMaxLineBytes = 1 << 20

// Options for Decode.
type Options struct {
	Precision columnar.Precision // unit of timestamps in the input; zero means nanoseconds
	Now       int64              // ns since epoch, used for lines without a timestamp
	// MaxLineBytes bounds one entry (a string field's newlines included);
	// zero means DefaultMaxLineBytes. Longer entries are rejected with
	// CodeLineTooLong as soon as the decoder passes the bound.
	MaxLineBytes int
}

// Byte classes of the token scanners (scanTok).
const (
	cCont = iota // part of the token
	cStop        // ends the token
	cEsc         // backslash: may start an escape sequence
	cHigh        // non-ASCII byte: part of the token, needs UTF-8 validation
)

// Flags returned by the scanners.
const (
	fEsc  = 1 << iota // the token holds an escape sequence: it must be unescaped
	fHigh             // the token holds non-ASCII bytes: it must be validated
	fNL               // the token (a string field) holds a newline
)

type table [256]uint8

var (
	// measTab: the measurement name ends at ',', ' ' and control characters.
	measTab = newTable(", ")
	// keyTab: tag keys, tag values and field keys end at ',', '=', ' ' and
	// control characters (which include CR and LF).
	keyTab = newTable(",= ")

	// Escape tables: esc[c] is the byte that backslash + c stands for, or 0
	// when backslash + c is not an escape (the backslash is then kept).
	measEsc = newEsc(" ,", " ,")
	keyEsc  = newEsc(",= ", ",= ") // tag keys, tag values and field keys
	strEsc  = newEsc("\\\"nrt", "\\\"\n\r\t")
)

func newTable(stops string) *table {
	var t table
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20 || c == 0x7f:
			t[c] = cStop
		case c == '\\':
			t[c] = cEsc
		case c >= 0x80:
			t[c] = cHigh
		}
	}
	for i := 0; i < len(stops); i++ {
		t[stops[i]] = cStop
	}
	return &t
}

func newEsc(from, to string) *[256]byte {
	var e [256]byte
	for i := 0; i < len(from); i++ {
		e[from[i]] = to[i]
	}
	return &e
}

// scanTok returns the end of the escaped token that starts at s[i], like the
// oracle's takeEsc: a backslash followed by an escapable byte takes both
// bytes, any other backslash is an ordinary byte of the token (a backslash
// at the end of the input ends the token there).
func scanTok(s []byte, i int, t *table, esc *[256]byte) (int, uint8) {
	var fl uint8
	for {
		for i < len(s) && t[s[i]] == cCont {
			i++
		}
		if i >= len(s) {
			return i, fl
		}
		switch t[s[i]] {
		case cStop:
			return i, fl
		case cHigh:
			fl |= fHigh
			i++
		default: // cEsc
			if i+1 >= len(s) {
				return len(s), fl
			}
			if esc[s[i+1]] != 0 {
				fl |= fEsc
				i += 2
			} else {
				i++
			}
		}
	}
}

// scanString returns the index of the quote that closes the string field
// value starting at s[i] (just after the opening quote), or len(s) if there
// is none.
func scanString(s []byte, i int) (int, uint8) {
	var fl uint8
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return i, fl
		case c == '\\':
			if i+1 >= len(s) {
				return len(s), fl
			}
			if strEsc[s[i+1]] != 0 {
				fl |= fEsc
				i += 2
				continue
			}
		case c == '\n':
			fl |= fNL
		case c >= 0x80:
			fl |= fHigh
		}
		i++
	}
	return i, fl
}

// unescape writes the unescaped form of src to dst (which must be at least as
// long) and returns its length.
func unescape(dst, src []byte, esc *[256]byte) int {
	j := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '\\' && i+1 < len(src) {
			if r := esc[src[i+1]]; r != 0 {
				dst[j] = r
				j++
				i++
				continue
			}
		}
		dst[j] = c
		j++
	}
	return j
}

// stage unescapes raw directly into the arena of b, just past its end at
// offset at: the following Batch.Put of the result (after at bytes put
// before it) then copies it onto itself. It only allocates when the arena
// has to grow.
func stage(b *columnar.Batch, at int, raw []byte, esc *[256]byte) []byte {
	l := len(b.Buf)
	need := l + at + len(raw)
	if need > cap(b.Buf) {
		// Keep whatever was staged before (at most up to the old capacity).
		nb := make([]byte, l+at, 2*need)
		copy(nb, b.Buf[:min(l+at, cap(b.Buf))])
		b.Buf = nb[:l]
	}
	dst := b.Buf[l+at : need]
	k := unescape(dst, raw, esc)
	return dst[:k:k]
}

// unescaped returns a copy of raw unescaped, for error messages.
func unescaped(raw []byte, esc *[256]byte) []byte {
	d := make([]byte, len(raw))
	return d[:unescape(d, raw, esc)]
}

func str(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func isWS(c byte) bool { return c == ' ' || c == '\n' || c == '\r' }

// eol reports whether s[i] ends a line for the purpose of error codes.
func eolAt(s []byte, i int) bool { return i >= len(s) || s[i] == '\n' || s[i] == '\r' }

var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFloat parses a float field value exactly as strconv.ParseFloat does.
// Short plain decimals ("58", "-0.25", "58.1317132304976") take an exact fast
// path (the value of an integer below 2^53 scaled by a power of ten that is
// itself exact is correctly rounded by one IEEE operation, so it is the
// value strconv returns); anything else goes to strconv.
func parseFloat(t []byte) (float64, error) {
	i, neg := 0, false
	if len(t) > 0 && t[0] == '-' {
		neg, i = true, 1
	}
	var m uint64
	nd, exp, dot := 0, 0, false
	for ; i < len(t); i++ {
		c := t[i]
		if c-'0' < 10 {
			if nd == 19 {
				goto slow
			}
			m = m*10 + uint64(c-'0')
			nd++
			if dot {
				exp++
			}
		} else if c == '.' && !dot {
			dot = true
		} else {
			goto slow
		}
	}
	if nd > 0 && m <= 1<<53 && exp <= 22 {
		f := float64(m)
		if exp > 0 {
			f /= pow10[exp]
		}
		if neg {
			f = -f
		}
		return f, nil
	}
slow:
	return strconv.ParseFloat(str(t), 64)
}

// parseInt parses like strconv.ParseInt(t, 10, 64), with a fast path for
// up to 19 digits.
func parseInt(t []byte) (int64, error) {
	i, neg := 0, false
	if len(t) > 0 && t[0] == '-' {
		neg, i = true, 1
	}
	if n := len(t) - i; n > 0 && n <= 19 {
		var u uint64 // 19 digits cannot overflow a uint64
		for ; i < len(t); i++ {
			c := t[i] - '0'
			if c >= 10 {
				goto slow
			}
			u = u*10 + uint64(c)
		}
		if neg {
			if u <= 1<<63 {
				return int64(-u), nil
			}
		} else if u <= math.MaxInt64 {
			return int64(u), nil
		}
		// Out of range: strconv builds the error.
	}
slow:
	return strconv.ParseInt(str(t), 10, 64)
}

// parseUint parses like strconv.ParseUint(t, 10, 64), with a fast path for
// up to 19 digits.
func parseUint(t []byte) (uint64, error) {
	if n := len(t); n > 0 && n <= 19 {
		var v uint64
		for _, c := range t {
			c -= '0'
			if c >= 10 {
				goto slow
			}
			v = v*10 + uint64(c)
		}
		return v, nil
	}
slow:
	return strconv.ParseUint(str(t), 10, 64)
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// truncate rounds now down to a multiple of p, as the oracle (and InfluxDB)
// do with the default time.
func truncate(now int64, p columnar.Precision) int64 {
	d := int64(p)
	if d <= 1 {
		return now
	}
	r := now % d
	if r < 0 {
		r += d
	}
	if r > 0 && now < math.MinInt64+r {
		return now + (d - r) // cannot round down: round up instead
	}
	return now - r
}

// decoder holds the state of one Decode call.
type decoder struct {
	s     []byte
	b     *columnar.Batch
	onErr func(columnar.LineError)
	p     int // read position
	line  int // line number at p
	prec  columnar.Precision
	now   int64
	max   int // Options.MaxLineBytes
}

// Decode parses body (one request or file chunk), appends each valid line as
// one row to b (b.StartRow(measurement, lineNo) ... b.EndRow(timeNs)), and
// calls onErr for every invalid line (1-based line number, stable code, human
// reason). Invalid lines are skipped (b.AbortRow) and decoding continues with
// the next line. Returns rows added.
//
// onErr may be nil. See the package documentation for the accepted syntax
// and the error codes.
func Decode(body []byte, b *columnar.Batch, opt Options, onErr func(columnar.LineError)) int {
	prec := opt.Precision
	if prec <= 0 {
		prec = columnar.Nanosecond
	}
	maxLine := opt.MaxLineBytes
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	d := decoder{s: body, b: b, onErr: onErr, line: 1, prec: prec, now: truncate(opt.Now, prec), max: maxLine}
	rows := 0
	for d.skipBlank() {
		if d.entry() {
			rows++
		}
	}
	return rows
}

// skipBlank skips blank lines, comment lines and the spaces that start a
// line, and reports whether an entry follows. A comment line holding a
// control character is reported as an error and skipped.
func (d *decoder) skipBlank() bool {
	s := d.s
	p := d.p
	for {
		for p < len(s) && s[p] == ' ' {
			p++
		}
		if p >= len(s) {
			d.p = p
			return false
		}
		switch s[p] {
		case '\n':
			p++
			d.line++
			continue
		case '\r':
			if p+1 >= len(s) {
				p++
				continue
			}
			if s[p+1] == '\n' {
				p += 2
				d.line++
				continue
			}
		case '#':
			q := p + 1
			for q < len(s) && s[q] >= 0x20 && s[q] != 0x7f {
				q++
			}
			switch {
			case q >= len(s):
				p = q
				continue
			case s[q] == '\n':
				p = q + 1
				d.line++
				continue
			case s[q] == '\r' && (q+1 >= len(s) || s[q+1] == '\n'):
				p = q + 1
				if q+1 < len(s) {
					p++
					d.line++
				}
				continue
			}
			d.p = q
			d.fail(d.line, CodeBadComment, fmt.Sprintf("comment line holds control character %q", s[q]), q)
			p = d.p
			continue
		}
		d.p = p
		return true
	}
}

// fail reports an error at line and resumes decoding at the line after the
// one holding s[from], as the oracle does after a syntax error.
func (d *decoder) fail(line int, code, reason string, from int) bool {
	d.report(line, code, reason)
	if i := bytes.IndexByte(d.s[from:], '\n'); i >= 0 {
		d.p = from + i + 1
		d.line++
	} else {
		d.p = len(d.s)
	}
	return false
}

func (d *decoder) report(line int, code, reason string) {
	if d.onErr != nil {
		d.onErr(columnar.LineError{Line: line, Code: code, Reason: reason})
	}
}

// abort drops the row under construction and fails.
func (d *decoder) abort(line int, code, reason string, from int) bool {
	d.b.AbortRow()
	return d.fail(line, code, reason, from)
}

// entry decodes the entry at d.p, which is not at the end of the input, and
// reports whether it was added to the batch.
func (d *decoder) entry() bool {
	s, b := d.s, d.b
	n := len(s)
	i := d.p
	line := d.line

	// Measurement.
	me, fl := scanTok(s, i, measTab, measEsc)
	if fl&fHigh != 0 && !utf8.Valid(s[i:me]) {
		return d.fail(line, CodeInvalidUTF8, fmt.Sprintf("measurement %q: invalid UTF-8", s[i:me]), me)
	}
	if me == i {
		return d.fail(line, CodeMissingMeasurement, fmt.Sprintf("missing measurement name: line starts with %q", s[i]), i)
	}
	meas := s[i:me]
	if fl&fEsc != 0 {
		meas = stage(b, 0, meas, measEsc)
	}
	b.StartRow(meas, line)
	i = me

	// Tags.
	afterMeas := true
	if i < n && s[i] == ',' {
		i++
		if i >= n {
			return d.abort(line, CodeBadTag, "expected tag key after ',', found end of input", i)
		}
		if isWS(s[i]) {
			return d.abort(line, CodeBadTag, fmt.Sprintf("expected tag key after ',', found %q", s[i]), i)
		}
		afterMeas = false
	}
	for {
		if i-d.p > d.max {
			return d.tooLong(line, i)
		}
		if i >= n {
			return d.abort(line, CodeMissingFields, "missing fields", i)
		}
		if s[i] == ' ' {
			i++
			for i < n && s[i] == ' ' {
				i++
			}
			break
		}
		ks := i
		// Inlined fast path of scanTok: plain bytes up to a stop.
		ke := i
		for ke < n && keyTab[s[ke]] == cCont {
			ke++
		}
		var kfl uint8
		if ke < n && keyTab[s[ke]] != cStop {
			ke, kfl = scanTok(s, ke, keyTab, keyEsc)
		}
		if kfl&fHigh != 0 && !utf8.Valid(s[ks:ke]) {
			return d.abort(line, CodeInvalidUTF8, fmt.Sprintf("tag key %q: invalid UTF-8", s[ks:ke]), ke)
		}
		if ke == ks {
			c := s[ks]
			switch {
			case c == '\n' || c == '\r':
				return d.abort(line, CodeMissingFields, "missing fields", ks)
			case afterMeas:
				return d.abort(line, CodeBadMeasurement, fmt.Sprintf("measurement %q: followed by %q", unescaped(s[d.p:me], measEsc), c), ks)
			}
			return d.abort(line, CodeBadTag, fmt.Sprintf("expected tag key or fields, found %q", c), ks)
		}
		if ke >= n {
			return d.abort(line, CodeBadTag, fmt.Sprintf("tag key %q: missing '=' and value", unescaped(s[ks:ke], keyEsc)), ke)
		}
		if s[ke] != '=' {
			return d.abort(line, CodeBadTag, fmt.Sprintf("tag key %q: expected '=', found %q", unescaped(s[ks:ke], keyEsc), s[ke]), ke)
		}
		vs := ke + 1
		// Inlined fast path of scanTok: plain bytes up to a stop.
		ve := vs
		for ve < n && keyTab[s[ve]] == cCont {
			ve++
		}
		var vfl uint8
		if ve < n && keyTab[s[ve]] != cStop {
			ve, vfl = scanTok(s, ve, keyTab, keyEsc)
		}
		if vfl&fHigh != 0 && !utf8.Valid(s[vs:ve]) {
			return d.abort(line, CodeInvalidUTF8, fmt.Sprintf("tag %q value %q: invalid UTF-8", unescaped(s[ks:ke], keyEsc), s[vs:ve]), ve)
		}
		if ve == vs {
			return d.abort(line, CodeBadTag, fmt.Sprintf("tag %q: empty value", unescaped(s[ks:ke], keyEsc)), vs)
		}
		key, val := s[ks:ke], s[vs:ve]
		if (kfl|vfl)&fEsc != 0 {
			if kfl&fEsc != 0 {
				key = stage(b, 0, key, keyEsc)
			}
			if vfl&fEsc != 0 {
				val = stage(b, len(key), val, keyEsc)
			}
		}
		b.AddTag(key, val)
		i = ve
		afterMeas = false
		if i < n && s[i] == ',' {
			i++
			if i >= n {
				return d.abort(line, CodeBadTag, "expected tag key after ',', found end of input", i)
			}
			if isWS(s[i]) {
				return d.abort(line, CodeBadTag, fmt.Sprintf("expected tag key after ',', found %q", s[i]), i)
			}
		}
	}

	// Fields.
	first := true
	for {
		if i-d.p > d.max {
			return d.tooLong(line, i)
		}
		ks := i
		// Inlined fast path of scanTok: plain bytes up to a stop.
		ke := i
		for ke < n && keyTab[s[ke]] == cCont {
			ke++
		}
		var kfl uint8
		if ke < n && keyTab[s[ke]] != cStop {
			ke, kfl = scanTok(s, ke, keyTab, keyEsc)
		}
		if kfl&fHigh != 0 && !utf8.Valid(s[ks:ke]) {
			return d.abort(d.line, CodeInvalidUTF8, fmt.Sprintf("field key %q: invalid UTF-8", s[ks:ke]), ke)
		}
		if ke == ks {
			switch {
			case first && eolAt(s, ks):
				return d.abort(d.line, CodeMissingFields, "missing fields", ks)
			case ks >= n:
				return d.abort(d.line, CodeBadField, "expected field key after ',', found end of input", ks)
			}
			return d.abort(d.line, CodeBadField, fmt.Sprintf("expected field key, found %q", s[ks]), ks)
		}
		first = false
		if ke >= n {
			return d.abort(d.line, CodeBadField, fmt.Sprintf("field %q: missing '=' and value", unescaped(s[ks:ke], keyEsc)), ke)
		}
		if s[ke] != '=' {
			return d.abort(d.line, CodeBadField, fmt.Sprintf("field %q: expected '=', found %q", unescaped(s[ks:ke], keyEsc), s[ke]), ke)
		}
		i = ke + 1
		if i >= n || s[i] == ',' || isWS(s[i]) {
			return d.abort(d.line, CodeBadField, fmt.Sprintf("field %q: missing value", unescaped(s[ks:ke], keyEsc)), i)
		}
		vs := i
		valLine := d.line
		var kind columnar.FieldType
		var sfl uint8
		var fastNum uint64 // the value, when fast
		fast := false
		switch c := s[i]; {
		case c == '"':
			i++
			se, f := scanString(s, i)
			sfl = f
			if f&fNL != 0 {
				d.line += bytes.Count(s[i:se], []byte{'\n'})
			}
			if f&fHigh != 0 && !utf8.Valid(s[i:se]) {
				return d.abort(valLine, CodeInvalidUTF8, fmt.Sprintf("field %q: string value is not valid UTF-8", unescaped(s[ks:ke], keyEsc)), se)
			}
			if se >= n {
				return d.abort(valLine, CodeUnterminatedString, fmt.Sprintf("field %q: string value has no closing quote", unescaped(s[ks:ke], keyEsc)), se)
			}
			i = se + 1
			kind = columnar.FieldString
		case c == 't' || c == 'T' || c == 'f' || c == 'F':
			for i < n && !valEnd[s[i]] {
				i++
			}
			kind = columnar.FieldBool
		case c-'0' < 10 || c == '-' || c == '.':
			// Fast path: parse a plain decimal ("58", "-0.25", "12i")
			// while scanning it.
			j := i
			if c == '-' {
				j++
			}
			var m uint64
			nd, dot := 0, -1
			for j < n {
				if dg := s[j] - '0'; dg < 10 {
					m = m*10 + uint64(dg)
					nd++
				} else if s[j] == '.' && dot < 0 {
					dot = nd
				} else {
					break
				}
				j++
			}
			if nd > 0 && nd <= 19 {
				if j >= n || valEnd[s[j]] {
					// A float, with dot: digits after the point.
					exp := 0
					if dot >= 0 {
						exp = nd - dot
					}
					if m <= 1<<53 && exp <= 22 {
						f := float64(m)
						if exp > 0 {
							f /= pow10[exp]
						}
						if c == '-' {
							f = -f
						}
						fastNum, fast = math.Float64bits(f), true
					}
					kind = columnar.FieldFloat
					i = j
					break
				}
				if s[j] == 'i' && dot < 0 && nd <= 18 && (j+1 >= n || valEnd[s[j+1]]) {
					v := int64(m)
					if c == '-' {
						v = -v
					}
					fastNum, fast = uint64(v), true
					kind = columnar.FieldInt
					i = j + 1
					break
				}
			}
			i = j
			for i < n && !valEnd[s[i]] {
				i++
			}
			switch s[i-1] {
			case 'i':
				kind = columnar.FieldInt
			case 'u':
				kind = columnar.FieldUint
			default:
				kind = columnar.FieldFloat
			}
		default:
			j := i
			for j < n && !valEnd[s[j]] {
				j++
			}
			return d.abort(valLine, CodeBadFieldValue, fmt.Sprintf("field %q value %q: unrecognized type (want a number, a quoted string or a boolean)", unescaped(s[ks:ke], keyEsc), s[i:j]), i)
		}
		ve := i

		// What follows the value: ',' (another field), the end of the
		// entry, or spaces and a timestamp.
		const (
			more = iota
			done
			stamp
		)
		next := done
		if i < n {
			switch c := s[i]; {
			case c == ',':
				i++
				next = more
			case !isWS(c):
				return d.abort(d.line, CodeBadField, fmt.Sprintf("field %q: unexpected %q after value", unescaped(s[ks:ke], keyEsc), c), i)
			default:
				for i < n && s[i] == ' ' {
					i++
				}
				if j, ok := d.eol(i); ok {
					i = j
				} else {
					next = stamp
				}
			}
		}

		// The value.
		key := s[ks:ke]
		if kind == columnar.FieldString {
			val := s[vs+1 : ve-1]
			if (kfl|sfl)&fEsc != 0 {
				if kfl&fEsc != 0 {
					key = stage(b, 0, key, keyEsc)
				}
				if sfl&fEsc != 0 {
					val = stage(b, len(key), val, strEsc)
				}
			}
			b.AddString(key, val)
		} else if fast {
			if kfl&fEsc != 0 {
				key = stage(b, 0, key, keyEsc)
			}
			b.AddNum(key, kind, fastNum)
		} else {
			tok := s[vs:ve]
			var num uint64
			var err error
			switch kind {
			case columnar.FieldFloat:
				var f float64
				f, err = parseFloat(tok)
				if err == nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
					d.b.AbortRow()
					return d.failValue(valLine, s[ks:ke], tok, CodeBadFieldValue, "NaN and infinities are not allowed", next == done, i)
				}
				num = math.Float64bits(f)
			case columnar.FieldInt:
				var v int64
				v, err = parseInt(tok[:len(tok)-1])
				num = uint64(v)
			case columnar.FieldUint:
				num, err = parseUint(tok[:len(tok)-1])
			case columnar.FieldBool:
				switch str(tok) {
				case "t", "T", "true", "True", "TRUE":
					num = 1
				case "f", "F", "false", "False", "FALSE":
				default:
					d.b.AbortRow()
					return d.failValue(valLine, s[ks:ke], tok, CodeBadFieldValue, "invalid boolean (want t, T, true, True, TRUE, f, F, false, False or FALSE)", next == done, i)
				}
			}
			if err != nil {
				d.b.AbortRow()
				code, what := CodeBadFieldValue, "invalid "
				if isRange(err) {
					code, what = CodeFieldOutOfRange, "out of range for "
				}
				switch kind {
				case columnar.FieldFloat:
					what += "float"
				case columnar.FieldInt:
					what += "integer"
				default:
					what += "unsigned integer"
				}
				return d.failValue(valLine, s[ks:ke], tok, code, what, next == done, i)
			}
			if kfl&fEsc != 0 {
				key = stage(b, 0, key, keyEsc)
			}
			b.AddNum(key, kind, num)
		}
		switch next {
		case more:
			continue
		case done:
			if i-d.p > d.max {
				return d.tooLongAt(line, i)
			}
			d.p = i
			b.EndRow(d.now)
			return true
		}
		break
	}

	// Timestamp.
	ts := i
	for i < n && (s[i]-'0' < 10 || s[i] == '-') {
		i++
	}
	tok := s[ts:i]
	if i < n {
		if !isWS(s[i]) {
			j := i
			for j < n && s[j] != '\n' && s[j] != '\r' {
				j++
			}
			return d.abort(d.line, CodeBadTimestamp, fmt.Sprintf("invalid timestamp %q", s[ts:j]), j)
		}
		for i < n && s[i] == ' ' {
			i++
		}
		if i < n {
			j, ok := d.eol(i)
			if !ok {
				k := i + 1
				for k < n && s[k] != '\n' && s[k] != '\r' {
					k++
				}
				if len(tok) == 0 {
					return d.abort(d.line, CodeBadTimestamp, fmt.Sprintf("invalid timestamp: unexpected %q", s[i]), i)
				}
				return d.abort(d.line, CodeBadTimestamp, fmt.Sprintf("unexpected %q after timestamp", s[i:k]), i)
			}
			i = j
		}
	}
	tsLine := d.line
	if i > 0 && s[i-1] == '\n' {
		tsLine--
	}
	if i-d.p > d.max {
		return d.tooLongAt(line, i)
	}
	d.p = i
	t := d.now
	if len(tok) > 0 {
		v, err := parseInt(tok)
		if err != nil {
			b.AbortRow()
			if isRange(err) {
				d.report(tsLine, CodeTimestampOverflow, fmt.Sprintf("timestamp %q: out of range", tok))
			} else {
				d.report(tsLine, CodeBadTimestamp, fmt.Sprintf("invalid timestamp %q", tok))
			}
			return false
		}
		var ok bool
		if t, ok = d.prec.Scale(v); !ok {
			b.AbortRow()
			d.report(tsLine, CodeTimestampOverflow, fmt.Sprintf("timestamp %q: out of range in nanoseconds", tok))
			return false
		}
	}
	b.EndRow(t)
	return true
}

// tooLong rejects the entry starting at d.p, which passed the line length
// bound at i (between tokens), and resumes at the next line.
func (d *decoder) tooLong(line, i int) bool {
	return d.abort(line, CodeLineTooLong, d.tooLongReason(i), i)
}

// tooLongAt rejects the complete entry ending at i, where decoding resumes.
func (d *decoder) tooLongAt(line, i int) bool {
	d.b.AbortRow()
	d.report(line, CodeLineTooLong, d.tooLongReason(i))
	d.p = i
	return false
}

func (d *decoder) tooLongReason(i int) string {
	return fmt.Sprintf("line is longer than %d bytes (%d read so far; --max-line-bytes)", d.max, i-d.p)
}

// failValue reports an invalid field value. When the value ended the entry
// (atEnd), decoding resumes at p, else at the next line.
func (d *decoder) failValue(line int, rawKey, tok []byte, code, what string, atEnd bool, p int) bool {
	reason := fmt.Sprintf("field %q value %q: %s", unescaped(rawKey, keyEsc), tok, what)
	if atEnd {
		d.report(line, code, reason)
		d.p = p
		return false
	}
	return d.fail(line, code, reason, p)
}

// eol reports whether s[i:] starts with an end of line ("\n", "\r\n", or
// "\r" or nothing at the end of the input) and returns the index past it.
func (d *decoder) eol(i int) (int, bool) {
	s := d.s
	if i >= len(s) {
		return i, true
	}
	switch s[i] {
	case '\n':
		d.line++
		return i + 1, true
	case '\r':
		if i+1 >= len(s) {
			return i + 1, true
		}
		if s[i+1] == '\n' {
			d.line++
			return i + 2, true
		}
	}
	return i, false
}

// valEnd holds the bytes that end an unquoted field value.
var valEnd = [256]bool{',': true, ' ': true, '\n': true, '\r': true}
