package importer

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxChunkBytes ends a chunk early when its body reaches this size, so that
// files with long lines stay well under the server's request limit (64 MiB
// by default). A single longer point is still sent, alone.
const maxChunkBytes = 8 << 20

// maxChunkSpan ends a chunk after this many file lines even if few of them
// are data, so that a long run of comments still makes progress visible in
// checkpoints.
const maxChunkSpan = 1 << 20

// maxPointBytes bounds a line-protocol point that continues over several
// lines because a string field holds newlines. Past it the quote is taken
// to be unterminated (the server rejects such a point anyway), so that one
// stray quote cannot make the rest of a large file a single point in
// memory.
const maxPointBytes = 16 << 20

// chunk is a run of whole points (lines, except for line-protocol string
// fields holding newlines) of one file, sent as one request.
type chunk struct {
	file *fileJob

	// start and end delimit the chunk in the uncompressed file, [start, end).
	start, end int64
	// startLine is the 1-based file line number of the line at start;
	// span is the number of file lines in [start, end), data or not.
	startLine, span int64
	// rawStart and rawEnd are the matching positions in the file on disk,
	// exact for plain files and approximate for gzip; used for progress.
	rawStart, rawEnd int64

	// body holds the data lines, ending in '\n'. Blank and comment lines
	// are left out, everything else is sent byte for byte.
	body []byte
	// bodyLine[i] is the file line number of line i+1 of body (lines as
	// the server counts them, so a multi-line point has several).
	bodyLine []int64
	// points is the number of data points (NDJSON rows, LP entries) in body.
	points int
	// payload is body, gzip-compressed; filled in by the worker.
	payload []byte
}

func (c *chunk) rows() int { return c.points }

// fileLine translates a 1-based line number within the request body to
// the file line number, or 0 when it is out of range.
func (c *chunk) fileLine(reqLine int) int64 {
	if reqLine < 1 || reqLine > len(c.bodyLine) {
		return 0
	}
	return c.bodyLine[reqLine-1]
}

// chunker cuts an uncompressed stream into chunks at line ends.
type chunker struct {
	r        *bufio.Reader
	rawPos   func() int64 // on-disk position, see input.rawPos
	format   string
	maxRows  int
	maxBytes int

	off     int64 // uncompressed offset of the next unread byte
	line    int64 // file lines consumed so far
	rawLast int64 // rawEnd of the previous chunk
	long    []byte
	eof     bool
}

func newChunker(r *bufio.Reader, rawPos func() int64, format string, maxRows int, off, line, rawStart int64) *chunker {
	return &chunker{
		r: r, rawPos: rawPos, format: format,
		maxRows: maxRows, maxBytes: maxChunkBytes,
		off: off, line: line, rawLast: rawStart,
	}
}

// next returns the next chunk, which may hold no data when its lines are
// all blank or comments, or io.EOF after the last one.
func (k *chunker) next() (*chunk, error) {
	if k.eof {
		return nil, io.EOF
	}
	c := &chunk{start: k.off, startLine: k.line + 1, rawStart: k.rawLast}
	var (
		inString   bool // the current LP point goes on past the last '\n'
		pointStart int  // offset in body of the current point
	)
	for inString || (c.points < k.maxRows && len(c.body) < k.maxBytes && c.span < maxChunkSpan) {
		line, err := k.readLine()
		if len(line) > 0 {
			k.off += int64(len(line))
			k.line++
			c.span++
			switch {
			case inString:
				c.body = append(c.body, line...)
				c.bodyLine = append(c.bodyLine, k.line)
				inString = lpInString(line, true) && len(c.body)-pointStart < maxPointBytes
			case k.isData(line):
				pointStart = len(c.body)
				c.body = append(c.body, line...)
				c.bodyLine = append(c.bodyLine, k.line)
				c.points++
				inString = k.format == FormatLP && lpInString(line, false)
			}
		}
		if err == io.EOF {
			k.eof = true
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if c.span == 0 {
		return nil, io.EOF
	}
	if len(c.body) > 0 && c.body[len(c.body)-1] != '\n' {
		c.body = append(c.body, '\n') // the file's unterminated last line
	}
	c.end = k.off
	c.rawEnd = k.rawPos()
	k.rawLast = c.rawEnd
	return c, nil
}

// readLine returns the next line including its '\n', or the unterminated
// last line with io.EOF. The slice is only valid until the next call.
func (k *chunker) readLine() ([]byte, error) {
	line, err := k.r.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, err
	}
	// Longer than the read buffer: collect the pieces.
	k.long = append(k.long[:0], line...)
	for errors.Is(err, bufio.ErrBufferFull) {
		line, err = k.r.ReadSlice('\n')
		k.long = append(k.long, line...)
	}
	return k.long, err
}

// isData reports whether line, the first line of a point, is worth sending:
// blank lines never are, nor are '#' comment lines in line protocol.
func (k *chunker) isData(line []byte) bool {
	t := bytes.TrimLeft(line, " \t\r\n")
	if len(t) == 0 {
		return false
	}
	return k.format != FormatLP || t[0] != '#'
}

// Line-protocol scanner states, see lpInString.
const (
	lpMeasTags   = iota // measurement and tags, up to the first unescaped space
	lpFieldKey          // a field key, up to '='
	lpValueStart        // the first byte of a field value
	lpString            // inside a quoted string field value
	lpAfterValue        // after a value: ',' for another field, ' ' for the timestamp
	lpRest              // timestamp, or a syntax error: the line ends at '\n'
)

// lpInString reports whether a line-protocol line ends inside a quoted
// string field value, so that its point continues on the next line: string
// fields may hold raw newlines (Silt's own export writes them). cont says
// that line itself starts inside such a string.
//
// It follows the server's decoder closely enough to agree with it on where
// points end: quotes only matter at the start of a field value, backslash
// escapes a following escapable byte, and after a syntax error the decoder
// resumes at the next newline, which is what lpRest does.
func lpInString(line []byte, cont bool) bool {
	st := lpMeasTags
	i := 0
	if cont {
		st = lpString
	} else {
		for i < len(line) && line[i] == ' ' { // the decoder skips these
			i++
		}
	}
	for ; i < len(line); i++ {
		c := line[i]
		if st == lpString {
			switch c {
			case '\\':
				if i+1 < len(line) && bytes.IndexByte([]byte(`\"nrt`), line[i+1]) >= 0 {
					i++
				}
			case '"':
				st = lpAfterValue
			}
			continue
		}
		if c == '\n' {
			return false
		}
		switch st {
		case lpMeasTags, lpFieldKey:
			switch {
			case c == '\\':
				if i+1 < len(line) && bytes.IndexByte([]byte(" ,="), line[i+1]) >= 0 {
					i++
				}
			case c < 0x20 || c == 0x7f:
				st = lpRest // control bytes end tokens: a syntax error
			case st == lpMeasTags && c == ' ':
				for i+1 < len(line) && line[i+1] == ' ' {
					i++
				}
				st = lpFieldKey
			case st == lpFieldKey && c == '=':
				st = lpValueStart
			case st == lpFieldKey && (c == ' ' || c == ','):
				st = lpRest
			}
		case lpValueStart:
			switch c {
			case '"':
				st = lpString
			case ',', ' ', '\r':
				st = lpRest // missing value
			default:
				st = lpAfterValue // a number or boolean runs to ',' or ' '
			}
		case lpAfterValue:
			switch c {
			case ',':
				st = lpFieldKey
			case ' ', '\r':
				st = lpRest
			}
		}
	}
	return st == lpString
}
