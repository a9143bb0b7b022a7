// Package ndjson decodes newline-delimited JSON rows, the body of Silt's
// POST /api/v1/ingest?db=D&table=T&precision=P endpoint, into a
// columnar.Batch.
//
// # Lines
//
// The body is split on '\n'. Each line holds one JSON object (RFC 8259) and
// describes one row; a trailing '\r' is ignored (CRLF bodies are accepted), and
// lines that are empty or hold only JSON whitespace (space, tab, CR) are
// skipped. Line numbers are 1-based and count every line, skipped ones
// included. A line that fails is reported with its number and does not stop
// the decoding of the following lines. Exactly one error is reported per bad
// line.
//
// Strings must be valid Unicode: a line with invalid UTF-8, or with a \u
// escape that is an unpaired UTF-16 surrogate, is rejected as json-syntax
// (encoding/json would silently substitute U+FFFD). Nesting deeper than about
// 300 levels (fastjson's limit) is a json-syntax error.
//
// # Row shapes
//
// The keys "time", "table", "measurement", "tags" and "fields" are reserved
// at the top level of a row. A row that has a "tags" or a "fields" key is
// nested; any other row is flat.
//
// Nested rows:
//
//	{"time": 1700000000, "table": "cpu", "tags": {"host": "a"}, "fields": {"usage": 1.5, "ok": true, "msg": "x"}}
//
// "tags" is an object of string values and "fields" an object of number,
// boolean or string values; either may be null or absent (a row without
// fields is still an error). A nested row may have no top-level key other
// than the five reserved ones: anything else, such as Telegraf's "name" or
// "timestamp", is json-unknown-key rather than being silently misread.
// Options.TagKeys does not apply to nested rows.
//
// Flat rows:
//
//	{"time": 1700000000, "host": "a", "usage": 1.5, "ok": true}
//
// Every key other than "time", "table" and "measurement" is a tag or a field.
// When Options.TagKeys is nil, string values are tags and number and boolean
// values are fields (a flat row then cannot carry string fields). When
// Options.TagKeys is non-nil (even empty), exactly the keys it lists are tags,
// and they must have string values (or null); strings under other keys are
// string fields. Reserved keys in TagKeys have no effect.
//
// # Table
//
// "table" (or its synonym "measurement") names the row's table and overrides
// Options.Table. It must be a non-empty string; null or absent means
// Options.Table. A row that ends up with no table is json-no-table. Giving
// both "table" and "measurement" is json-dup-key.
//
// # Time
//
// "time" is either a JSON integer (no fraction, no exponent) counted in
// units of Options.Precision, or a string in RFC 3339 form with an optional
// fraction of a second ("2024-05-01T12:00:00Z",
// "2024-05-01T12:00:00.123456789+02:00"), which is absolute and ignores the
// precision. Absent or null means Options.Now. A time outside the range of
// int64 nanoseconds since the epoch (about 1677 to 2262) is json-bad-time.
// A zero Options.Precision means nanoseconds.
//
// # Values
//
// Every JSON number in a field is stored as a float field (FieldFloat), so
// that 1 and 1.5 written into the same field never conflict; numbers are
// converted with correct rounding (as strconv.ParseFloat), and a number
// outside the float64 range (1e400) is json-bad-field. true and false are
// boolean fields, strings are string fields. A null field value is skipped:
// the field is absent from the row. An object or array as a field value is
// json-bad-field.
//
// Tag values must be strings: a number, boolean, object or array is
// json-bad-tag. A null or empty ("") tag value is skipped, as line protocol
// has no empty tags. Tag and field keys must not be empty.
//
// # Duplicate keys
//
// Duplicate keys are an error (json-dup-key) rather than "last wins": in
// the row object, in "tags", in "fields", and between "tags" and "fields"
// (a name may not be both a tag and a field of one row). This holds even when
// one of the values is null.
//
// # Batch layout
//
// For each accepted row the decoder calls StartRow with the table, then
// AddTag for every tag in input order, then AddFloat, AddNum or AddString
// for every field in input order, then EndRow. The nested and flat forms of
// the same data (same key order) therefore produce identical batches.
//
// # Error codes
//
// The codes are stable (they are also exported as Code* constants); reasons
// are human-readable, name the offending key and may change. When a line has
// several problems, the one listed first below is reported:
//
//	json-syntax       the line is not a single valid JSON object (also invalid
//	                  UTF-8, unpaired surrogate escapes, nesting too deep)
//	json-dup-key      a key appears twice (see Duplicate keys)
//	json-unknown-key  a nested row has a top-level key that is not reserved
//	json-bad-table    "table"/"measurement" is not a string or is empty
//	json-no-table     no table in the row and no default table
//	json-bad-time     "time" is not an integer, RFC 3339 string or null, or
//	                  does not fit int64 nanoseconds
//	json-bad-tag      "tags" is not an object, a tag value is not a string,
//	                  or a tag key is empty
//	json-bad-field    "fields" is not an object, a field value is an object or
//	                  array, a number is out of float64 range, or a field key
//	                  is empty
//	json-no-fields    the row has no field (after skipping nulls)
//	json-line-too-long the line is longer than Options.MaxLineBytes (default 1 MiB)
package ndjson
