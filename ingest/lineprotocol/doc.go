// Package lineprotocol decodes InfluxDB line protocol
// (https://docs.influxdata.com/influxdb/v1/write_protocols/line_protocol_reference/)
// into a columnar.Batch.
//
// The decoder is hand-written for speed (no allocation per line once the
// batch has grown; escaped names and values are unescaped directly into the
// batch arena) and accepts exactly what
// github.com/influxdata/line-protocol/v2/lineprotocol (v2.2.1, "the oracle")
// accepts, with the same values: a differential test and fuzz target
// (FuzzDecodeDifferential) run both decoders over the same whole inputs and
// require the same accepted entries, starting lines, measurement, tags in
// order, fields (key, type, value bits), time, and the same set of lines with
// errors. Decode also resynchronises after an error exactly where the oracle
// does.
//
// # Grammar
//
// Informally, with SP = ' ' and EOL = "\n", "\r\n", or "\r" or nothing at the
// end of the input:
//
//	body        = { SP } ( EOL | comment EOL | entry ) ...
//	comment     = "#" { byte other than control characters }   // tab is a control character
//	entry       = measurement { "," tag } SP { SP } field { "," field } [ SP { SP } [ timestamp { SP } ] ] EOL
//	tag         = name "=" name
//	field       = name "=" value
//	timestamp   = [ "-" ] digit { digit }                      // int64, in units of Options.Precision
//
// Spaces at the start of a line are skipped; blank lines and comment lines are
// skipped (a comment must start its line, after optional spaces). Line numbers
// are 1-based and count every '\n'; a row's line is the line its entry starts
// on.
//
// Measurement: one or more bytes other than ',', ' ' and control characters
// (0x00-0x1f, 0x7f). "\ " and "\," stand for ' ' and ','. Tag keys, tag
// values and field keys: one or more bytes other than ',', '=', ' ' and
// control characters; "\,", "\=" and "\ " stand for ',', '=' and ' '. Any
// other backslash is an ordinary byte, and the following byte is read
// normally: "\\" is two backslashes, and in "\\," the second backslash
// escapes the comma (so a name cannot end with a backslash before a
// separator). '=', '"' and '#' are ordinary bytes in a measurement; '"' in
// keys and tag values. Names and string values must be valid UTF-8.
//
// Field values:
//
//   - "..." a string. It may contain any byte but an unescaped '"',
//     including newlines (the entry then spans several lines). Escapes:
//     \" \\ \n \r \t; any other backslash is kept.
//   - A value starting with '-', '.' or a digit is a number; its token runs
//     to the next ',', ' ', '\r' or '\n'. With a trailing 'i' it is an
//     integer (strconv.ParseInt base 10, int64 range), with a trailing 'u' an
//     unsigned integer (strconv.ParseUint, uint64 range), otherwise a float
//     (strconv.ParseFloat, 64 bits: exponents, "5.", ".5", hex floats and
//     "1_000"-style underscores only as strconv accepts them). A leading
//     '+' is not accepted. NaN and infinities are rejected; values beyond the
//     float64 range are out of range, values that underflow become 0.
//   - A value starting with t, T, f or F is a boolean and must be one of t,
//     T, true, True, TRUE, f, F, false, False, FALSE.
//
// Timestamps are scaled from Options.Precision to nanoseconds; a value
// outside int64 before or after scaling is an error. Negative timestamps are
// accepted. An entry without a timestamp gets Options.Now rounded down to a
// multiple of the precision (as the oracle and InfluxDB do).
//
// Duplicate tag keys and duplicate field keys are accepted, as the oracle
// does: every occurrence is added to the row, in input order. Tags are not
// sorted.
//
// # Errors
//
// An invalid entry is reported once, with the line where the problem was
// found (for an entry spanning lines, that can be after the line it starts
// on), and skipped: nothing of it stays in the batch. Like the oracle, the
// decoder then resumes after the next '\n' following the point of the error,
// even if that '\n' is inside a quoted string; the exception is an invalid
// field value or timestamp that ends its entry, after which decoding resumes
// with the next line. A string without its closing quote consumes the rest of
// the input.
//
// The codes (columnar.LineError.Code) are:
//
//	lp-missing-measurement  the line starts with a byte that cannot start a measurement (',', a control character)
//	lp-bad-measurement      the measurement is followed by a control character instead of ',' or ' '
//	lp-bad-comment          a comment line holds a control character (tab, lone '\r', ...)
//	lp-invalid-utf8         a measurement, tag key, tag value, field key or string value is not valid UTF-8
//	lp-bad-tag              a tag is malformed: no '=', empty key or value, ',' followed by white space or the end
//	lp-missing-fields       the line ends after the measurement or tags: there is no field
//	lp-bad-field            a field is malformed: empty key, no '=', no value, trailing ',', text after a string
//	lp-bad-field-value      a field value is invalid: unknown type, bad number or boolean syntax, NaN or infinity
//	lp-field-out-of-range   an integer, unsigned or float field value is out of range for its type
//	lp-unterminated-string  a string field value has no closing quote
//	lp-bad-timestamp        the timestamp is not an integer, or is followed by something other than the end of the line
//	lp-timestamp-overflow   the timestamp does not fit in int64 nanoseconds
//	lp-line-too-long        the entry is longer than Options.MaxLineBytes (default 1 MiB)
//
// Reasons are human-readable and name what was wrong, e.g.
// `field "usage" value "12x": invalid float`.
//
// # Differences from the oracle
//
// The oracle may report two errors for one line (an error just before a lone
// '\r' makes it start a new entry at the '\r', which fails too); Decode
// reports one. The oracle has no minute and hour precisions; Decode supports
// every columnar.Precision.
package lineprotocol
