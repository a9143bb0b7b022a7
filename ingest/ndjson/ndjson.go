package ndjson

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/siltdb/silt/columnar"
	"github.com/valyala/fastjson"
)

// Options configures Decode.
type Options struct {
	Table     string             // default table (the `table` query parameter); may be empty if every row names one
	Precision columnar.Precision // unit of integer timestamps
	Now       int64              // ns since epoch, used for rows without a time
	TagKeys   []string           // optional: for flat rows, the keys that are tags (nil = every string value is a tag)
	// MaxLineBytes bounds one line; zero means DefaultMaxLineBytes. Longer
	// lines are rejected with CodeLineTooLong without being parsed.
	MaxLineBytes int
}

// DefaultMaxLineBytes is the longest line Decode accepts when
// Options.MaxLineBytes is zero.
const DefaultMaxLineBytes = 1 << 20

// Error codes reported in columnar.LineError.Code. See the package
// documentation for their meaning.
const (
	CodeSyntax      = "json-syntax"
	CodeDupKey      = "json-dup-key"
	CodeUnknownKey  = "json-unknown-key"
	CodeBadTable    = "json-bad-table"
	CodeNoTable     = "json-no-table"
	CodeBadTime     = "json-bad-time"
	CodeBadTag      = "json-bad-tag"
	CodeBadField    = "json-bad-field"
	CodeNoFields    = "json-no-fields"
	CodeLineTooLong = "json-line-too-long"
)

// Decode parses body, appends each valid row to b, calls onErr for each invalid line
// (1-based line number, stable code, reason) and continues with the next line. Returns rows added.
// onErr may be nil. The package documentation describes the format and the codes.
// Decode is safe for concurrent use on distinct batches.
func Decode(body []byte, b *columnar.Batch, opt Options, onErr func(columnar.LineError)) int {
	if opt.Precision <= 0 {
		opt.Precision = columnar.Nanosecond
	}
	maxLine := opt.MaxLineBytes
	if maxLine <= 0 {
		maxLine = DefaultMaxLineBytes
	}
	d := pool.Get().(*decoder)
	d.opt = opt
	rows := 0
	for n := 1; len(body) > 0; n++ {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if blank(line) {
			continue
		}
		if len(line) > maxLine {
			if onErr != nil {
				onErr(columnar.LineError{Line: n, Code: CodeLineTooLong,
					Reason: fmt.Sprintf("line is %d bytes, the limit is %d (--max-line-bytes)", len(line), maxLine)})
			}
			continue
		}
		if len(line) > d.maxLine {
			d.maxLine = len(line)
		}
		if code, reason := d.row(line, n, b); code != "" {
			if onErr != nil {
				onErr(columnar.LineError{Line: n, Code: code, Reason: reason})
			}
			continue
		}
		rows++
	}
	d.opt = Options{}
	// A parser keeps a copy of the longest line it has seen; do not keep
	// huge ones alive in the pool.
	if d.maxLine <= maxPooledLine {
		pool.Put(d)
	}
	return rows
}

// maxPooledLine bounds what a pooled decoder keeps: the parser holds a copy
// of the longest line and a cache of as many values as it had.
const maxPooledLine = 64 << 10

var pool = sync.Pool{New: func() any { return new(decoder) }}

// kv is one member of a parsed object. k and v point into the parser's
// buffers and stay valid until the next parse: fastjson's Object.Visit asks
// callers not to keep them, but its keys are views of the parser's copy of
// the line (unescaped in place) and its values live in the parser's cache,
// both reused only by the next Parse.
type kv struct {
	k   []byte
	v   *fastjson.Value
	tag bool // flat rows: the member is a tag
}

// decoder holds the reusable state of Decode.
type decoder struct {
	p       fastjson.Parser
	opt     Options
	top     []kv // members of the row object
	flat    []kv // non-reserved members of a flat row
	tags    []kv // members of "tags"
	fields  []kv // members of "fields"
	keys    [][]byte
	idx     []int32
	num     []byte
	maxLine int
}

// blank reports whether line holds only JSON whitespace other than '\n'.
func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// row decodes one non-blank line and appends it to b. It returns an empty
// code on success, and otherwise leaves b as it was.
//
// fastjson's parser checks the structure of the line but is lenient about
// its leaves: it takes NaN, Inf, 01, 1.e5 and such as numbers, does not
// reject raw control characters in strings, keeps bad escapes as they are
// and mangles unpaired surrogates. Rather than running fastjson's validator
// over every line (it would cost a third of the time, and it misses some
// control characters), row checks the leaves itself: UTF-8 and strings over
// the whole line (escapes and control characters only when the line has
// any), and every number of an accepted row when it converts it. Lines with
// a semantic error are run through the validator, so that a syntax error
// anywhere in a line wins over a semantic one.
func (d *decoder) row(line []byte, n int, b *columnar.Batch) (code, reason string) {
	v, err := d.p.ParseBytes(line)
	if err != nil {
		return CodeSyntax, syntaxReason(err)
	}
	if !utf8.Valid(line) {
		return CodeSyntax, "invalid UTF-8"
	}
	if hasCtl(line) || bytes.IndexByte(line, '\\') >= 0 {
		if reason := checkStrings(line); reason != "" {
			return CodeSyntax, reason
		}
	}
	code, reason = d.decode(v, n, b)
	if code != "" && code != CodeSyntax {
		// Safe from deep recursion: Parse bounds the depth.
		if err := fastjson.ValidateBytes(line); err != nil {
			return CodeSyntax, syntaxReason(err)
		}
	}
	return code, reason
}

// decode appends the row v to b, or returns why it cannot.
func (d *decoder) decode(v *fastjson.Value, n int, b *columnar.Batch) (code, reason string) {
	if v.Type() != fastjson.TypeObject {
		return CodeSyntax, "line is a JSON " + v.Type().String() + ", want an object"
	}
	obj, _ := v.Object()

	d.top = d.top[:0]
	obj.Visit(func(k []byte, v *fastjson.Value) { d.top = append(d.top, kv{k: k, v: v}) })

	var timeV, tableV, tagsV, fieldsV *fastjson.Value
	var tableKey string
	d.flat = d.flat[:0]
	for _, e := range d.top {
		switch string(e.k) {
		case "time":
			if timeV != nil {
				return CodeDupKey, `key "time" appears twice`
			}
			timeV = e.v
		case "table", "measurement":
			if tableV != nil {
				if tableKey == string(e.k) {
					return CodeDupKey, fmt.Sprintf("key %q appears twice", tableKey)
				}
				return CodeDupKey, `both "table" and "measurement" are given`
			}
			tableV = e.v
			if e.k[0] == 't' {
				tableKey = "table"
			} else {
				tableKey = "measurement"
			}
		case "tags":
			if tagsV != nil {
				return CodeDupKey, `key "tags" appears twice`
			}
			tagsV = e.v
		case "fields":
			if fieldsV != nil {
				return CodeDupKey, `key "fields" appears twice`
			}
			fieldsV = e.v
		default:
			d.flat = append(d.flat, e)
		}
	}
	nested := tagsV != nil || fieldsV != nil

	// Duplicate keys, then members of tags and fields.
	d.keys = d.keys[:0]
	for _, e := range d.flat {
		d.keys = append(d.keys, e.k)
	}
	if i, _ := d.dup(); i >= 0 {
		return CodeDupKey, fmt.Sprintf("key %s appears twice", quote(d.keys[i]))
	}
	d.tags, d.fields = d.tags[:0], d.fields[:0]
	if nested {
		if tagsV != nil && tagsV.Type() == fastjson.TypeObject {
			o, _ := tagsV.Object()
			o.Visit(func(k []byte, v *fastjson.Value) { d.tags = append(d.tags, kv{k: k, v: v}) })
		}
		if fieldsV != nil && fieldsV.Type() == fastjson.TypeObject {
			o, _ := fieldsV.Object()
			o.Visit(func(k []byte, v *fastjson.Value) { d.fields = append(d.fields, kv{k: k, v: v}) })
		}
		d.keys = d.keys[:0]
		for _, e := range d.tags {
			d.keys = append(d.keys, e.k)
		}
		for _, e := range d.fields {
			d.keys = append(d.keys, e.k)
		}
		if i, j := d.dup(); i >= 0 {
			nt := len(d.tags)
			switch {
			case j < nt:
				return CodeDupKey, fmt.Sprintf("tag %s appears twice", quote(d.keys[i]))
			case i >= nt:
				return CodeDupKey, fmt.Sprintf("field %s appears twice", quote(d.keys[i]))
			default:
				return CodeDupKey, fmt.Sprintf("%s is both a tag and a field", quote(d.keys[i]))
			}
		}
		if len(d.flat) > 0 {
			return CodeUnknownKey, fmt.Sprintf("unknown key %s in a nested row (want time, table, measurement, tags and fields)", quote(d.flat[0].k))
		}
	}

	// Table.
	var table []byte
	if tableV != nil && tableV.Type() != fastjson.TypeNull {
		s, err := tableV.StringBytes()
		if err != nil {
			return CodeBadTable, fmt.Sprintf("%q must be a string, got %s", tableKey, describe(tableV))
		}
		if len(s) == 0 {
			return CodeBadTable, fmt.Sprintf("%q is empty", tableKey)
		}
		table = s
	} else if d.opt.Table != "" {
		table = unsafe.Slice(unsafe.StringData(d.opt.Table), len(d.opt.Table))
	} else {
		return CodeNoTable, `no table: the row has no "table" and the request names none`
	}

	// Time.
	t := d.opt.Now
	if timeV != nil {
		var code, reason string
		if t, code, reason = d.time(timeV); code != "" {
			return code, reason
		}
	}

	// Tags and fields.
	b.StartRow(table, n)
	start := len(b.Fields)
	if nested {
		code, reason = d.nested(tagsV, fieldsV, b)
	} else {
		code, reason = d.flatRow(b)
	}
	if code == "" && len(b.Fields) == start {
		code, reason = CodeNoFields, "the row has no fields"
	}
	if code != "" {
		b.AbortRow()
		return code, reason
	}
	b.EndRow(t)
	return "", ""
}

// nested adds the tags and fields of a nested row.
func (d *decoder) nested(tagsV, fieldsV *fastjson.Value, b *columnar.Batch) (code, reason string) {
	if tagsV != nil {
		switch tagsV.Type() {
		case fastjson.TypeObject, fastjson.TypeNull:
		default:
			return CodeBadTag, `"tags" must be an object, got ` + describe(tagsV)
		}
	}
	for _, e := range d.tags {
		if code, reason := tag(e, b); code != "" {
			return code, reason
		}
	}
	if fieldsV != nil {
		switch fieldsV.Type() {
		case fastjson.TypeObject, fastjson.TypeNull:
		default:
			return CodeBadField, `"fields" must be an object, got ` + describe(fieldsV)
		}
	}
	for _, e := range d.fields {
		if code, reason := d.field(e, b); code != "" {
			return code, reason
		}
	}
	return "", ""
}

// flatRow adds the tags, then the fields, of a flat row.
func (d *decoder) flatRow(b *columnar.Batch) (code, reason string) {
	tagKeys := d.opt.TagKeys
	for i := range d.flat {
		e := &d.flat[i]
		if e.tag = isTag(*e, tagKeys); e.tag {
			if code, reason := tag(*e, b); code != "" {
				return code, reason
			}
		}
	}
	for _, e := range d.flat {
		if !e.tag {
			if code, reason := d.field(e, b); code != "" {
				return code, reason
			}
		}
	}
	return "", ""
}

// isTag reports whether the member e of a flat row is a tag.
func isTag(e kv, tagKeys []string) bool {
	if tagKeys == nil {
		return e.v.Type() == fastjson.TypeString
	}
	for _, k := range tagKeys {
		if k == string(e.k) {
			return true
		}
	}
	return false
}

// tag adds the tag e to the current row, skipping null and empty values.
func tag(e kv, b *columnar.Batch) (code, reason string) {
	if len(e.k) == 0 {
		return CodeBadTag, "empty tag key"
	}
	switch e.v.Type() {
	case fastjson.TypeString:
		s, _ := e.v.StringBytes()
		if len(s) > 0 {
			b.AddTag(e.k, s)
		}
	case fastjson.TypeNull:
	default:
		return CodeBadTag, fmt.Sprintf("tag %s must have a string value, got %s", quote(e.k), describe(e.v))
	}
	return "", ""
}

// field adds the field e to the current row, skipping null values.
func (d *decoder) field(e kv, b *columnar.Batch) (code, reason string) {
	if len(e.k) == 0 {
		return CodeBadField, "empty field key"
	}
	switch e.v.Type() {
	case fastjson.TypeNumber:
		// fastjson's own float parser is not correctly rounded; strconv's is.
		d.num = e.v.MarshalTo(d.num[:0])
		if !validNumber(d.num) {
			return CodeSyntax, badNumber(d.num)
		}
		f, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(d.num), len(d.num)), 64)
		if err != nil {
			return CodeBadField, fmt.Sprintf("field %s: number %s is out of the float64 range", quote(e.k), trunc(d.num))
		}
		b.AddFloat(e.k, f)
	case fastjson.TypeTrue:
		b.AddNum(e.k, columnar.FieldBool, 1)
	case fastjson.TypeFalse:
		b.AddNum(e.k, columnar.FieldBool, 0)
	case fastjson.TypeString:
		s, _ := e.v.StringBytes()
		b.AddString(e.k, s)
	case fastjson.TypeNull:
	default:
		return CodeBadField, fmt.Sprintf("field %s must be a number, boolean or string, got %s", quote(e.k), describe(e.v))
	}
	return "", ""
}

// time returns the time of a row in nanoseconds.
func (d *decoder) time(v *fastjson.Value) (t int64, code, reason string) {
	switch v.Type() {
	case fastjson.TypeNull:
		return d.opt.Now, "", ""
	case fastjson.TypeNumber:
		d.num = v.MarshalTo(d.num[:0])
		if !validNumber(d.num) {
			return 0, CodeSyntax, badNumber(d.num)
		}
		i, ok := parseInt(d.num)
		if !ok {
			if bytes.ContainsAny(d.num, ".eE") {
				return 0, CodeBadTime, fmt.Sprintf(`"time" must be an integer, got %s`, trunc(d.num))
			}
			return 0, CodeBadTime, fmt.Sprintf(`"time" %s does not fit in 64 bits`, trunc(d.num))
		}
		ns, ok := d.opt.Precision.Scale(i)
		if !ok {
			return 0, CodeBadTime, fmt.Sprintf(`"time" %s overflows int64 nanoseconds at precision %s`, trunc(d.num), time.Duration(d.opt.Precision))
		}
		return ns, "", ""
	case fastjson.TypeString:
		s, _ := v.StringBytes()
		tm, err := time.Parse(time.RFC3339Nano, unsafe.String(unsafe.SliceData(s), len(s)))
		if err != nil {
			return 0, CodeBadTime, fmt.Sprintf(`"time" %s is not an RFC 3339 time`, quote(s))
		}
		ns, ok := unixNano(tm)
		if !ok {
			return 0, CodeBadTime, fmt.Sprintf(`"time" %s is out of the int64 nanosecond range (1677 to 2262)`, quote(s))
		}
		return ns, "", ""
	}
	return 0, CodeBadTime, `"time" must be an integer, an RFC 3339 string or null, got ` + describe(v)
}

// validNumber reports whether p is a number by the JSON grammar:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(p []byte) bool {
	i, n := 0, len(p)
	if i < n && p[i] == '-' {
		i++
	}
	switch {
	case i < n && p[i] == '0':
		i++
	case i < n && p[i] >= '1' && p[i] <= '9':
		for i++; i < n && p[i] >= '0' && p[i] <= '9'; i++ {
		}
	default:
		return false
	}
	if i < n && p[i] == '.' {
		i++
		if i == n || p[i] < '0' || p[i] > '9' {
			return false
		}
		for i++; i < n && p[i] >= '0' && p[i] <= '9'; i++ {
		}
	}
	if i < n && (p[i] == 'e' || p[i] == 'E') {
		i++
		if i < n && (p[i] == '+' || p[i] == '-') {
			i++
		}
		if i == n || p[i] < '0' || p[i] > '9' {
			return false
		}
		for i++; i < n && p[i] >= '0' && p[i] <= '9'; i++ {
		}
	}
	return i == n
}

// badNumber is the reason for a token fastjson took for a number.
func badNumber(p []byte) string {
	return fmt.Sprintf("invalid JSON: malformed number %s", quote(p))
}

// parseInt parses a JSON number that is an integer (-?[0-9]+; the JSON
// grammar was checked already) into an int64. It fails on fractions,
// exponents and overflow.
func parseInt(p []byte) (int64, bool) {
	neg := len(p) > 0 && p[0] == '-'
	if neg {
		p = p[1:]
	}
	if len(p) == 0 || len(p) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow uint64
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return int64(-u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

// unixNano returns t in nanoseconds since the epoch, reporting overflow
// (time.Time.UnixNano does not).
func unixNano(t time.Time) (int64, bool) {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	if sec < 0 && nsec > 0 {
		sec, nsec = sec+1, nsec-1e9
	}
	ns, ok := columnar.Second.Scale(sec)
	if !ok {
		return 0, false
	}
	r := ns + nsec
	if (nsec > 0 && r < ns) || (nsec < 0 && r > ns) {
		return 0, false
	}
	return r, true
}

// dup returns the indexes i < j of two equal keys in d.keys, or -1, -1.
func (d *decoder) dup() (int, int) {
	keys := d.keys
	if len(keys) <= 32 {
		// A 64-bit filter on a cheap hash spares most comparisons.
		var seen uint64
		for j, kj := range keys {
			h := uint64(len(kj))
			if len(kj) > 0 {
				h = h*31 + uint64(kj[0])*7 + uint64(kj[len(kj)-1])
			}
			bit := uint64(1) << (h & 63)
			if seen&bit != 0 {
				for i := range j {
					if string(keys[i]) == string(kj) {
						return i, j
					}
				}
			}
			seen |= bit
		}
		return -1, -1
	}
	d.idx = d.idx[:0]
	for i := range keys {
		d.idx = append(d.idx, int32(i))
	}
	slices.SortStableFunc(d.idx, func(a, b int32) int { return bytes.Compare(keys[a], keys[b]) })
	for x := 1; x < len(d.idx); x++ {
		if i, j := d.idx[x-1], d.idx[x]; bytes.Equal(keys[i], keys[j]) {
			return int(i), int(j) // stable sort: i < j
		}
	}
	return -1, -1
}

// hasCtl reports whether p holds a byte below 0x20.
func hasCtl(p []byte) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for len(p) >= 8 {
		x := binary.LittleEndian.Uint64(p)
		if (x-0x20*ones)&^x&highs != 0 {
			return true
		}
		p = p[8:]
	}
	for _, c := range p {
		if c < 0x20 {
			return true
		}
	}
	return false
}

// checkStrings returns a reason if a string of line holds a raw control
// character, an invalid escape or a \u escape that is an unpaired UTF-16
// surrogate, and "" otherwise. line must have been parsed by fastjson, which
// checks its structure: quotes outside strings open strings, and a string
// ends at the first quote not escaped by a backslash.
func checkStrings(line []byte) string {
	in := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if !in {
			in = c == '"'
			continue
		}
		switch {
		case c == '"':
			in = false
		case c < 0x20:
			return fmt.Sprintf("invalid JSON: raw control character %#02x in a string", c)
		case c == '\\':
			i++
			if i == len(line) {
				return "invalid JSON: unterminated string"
			}
			switch line[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				continue
			case 'u':
			default:
				return "invalid JSON: invalid escape " + escapeAt(line, i-1)
			}
			r, ok := hex4(line[i+1:])
			if !ok {
				return "invalid JSON: invalid escape " + escapeAt(line, i-1)
			}
			i += 4
			switch {
			case r >= 0xD800 && r < 0xDC00:
				if i+2 < len(line) && line[i+1] == '\\' && line[i+2] == 'u' {
					if r2, ok := hex4(line[i+3:]); ok && r2 >= 0xDC00 && r2 < 0xE000 {
						i += 6
						continue
					}
				}
				return "unpaired UTF-16 surrogate escape " + string(line[i-5:i+1])
			case r >= 0xDC00 && r < 0xE000:
				return "unpaired UTF-16 surrogate escape " + string(line[i-5:i+1])
			}
		}
	}
	return ""
}

// escapeAt quotes the escape sequence that starts at line[i], shortened.
func escapeAt(line []byte, i int) string {
	return strconv.Quote(string(line[i:min(i+6, len(line))]))
}

// hex4 decodes the four hexadecimal digits p starts with.
func hex4(p []byte) (rune, bool) {
	if len(p) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// syntaxReason turns an error of fastjson into a reason.
func syntaxReason(err error) string {
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "cannot parse JSON: ")
}

// describe names the type of v and shows it, shortened, for error reasons.
func describe(v *fastjson.Value) string {
	return v.Type().String() + " " + trunc(v.MarshalTo(nil))
}

const maxShown = 64

// trunc returns p as a string, shortened for error reasons.
func trunc(p []byte) string {
	if len(p) <= maxShown {
		return string(p)
	}
	n := maxShown
	for n > 0 && !utf8.RuneStart(p[n]) {
		n--
	}
	return string(p[:n]) + "…"
}

// quote quotes a key or value for error reasons, shortened.
func quote(p []byte) string {
	if len(p) <= maxShown {
		return strconv.Quote(string(p))
	}
	return strconv.Quote(trunc(p))
}
