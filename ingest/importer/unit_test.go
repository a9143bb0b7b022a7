package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestChunkerNeverSplitsLines(t *testing.T) {
	long := strings.Repeat("L", 100) // longer than the 16-byte read buffer below
	input := "a v=1\n\n# comment\nb v=2\r\n   \n" + long + " v=3\nc v=4\n  # indented comment\nd v=5\n\ne v=6\nf v=7\n" + long + "x v=8\n\t\ng v=9"
	// Expected data lines (the unterminated last one terminated) and
	// their file line numbers.
	var wantBody strings.Builder
	var wantLines []int64
	for i, l := range strings.Split(input, "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		wantBody.WriteString(l + "\n")
		wantLines = append(wantLines, int64(i+1))
	}
	checkChunking(t, input, FormatLP, wantBody.String(), wantLines)
}

// Line-protocol string fields may hold raw newlines; such a point spans
// several lines and must not be cut.
func TestChunkerKeepsMultilineStrings(t *testing.T) {
	input := strings.Join([]string{
		`m s="one` /* 1 */, `two` /* 2 */, `three" 1`, /* 3 */
		`m,t=a"b v=1 2`,               // 4: a quote in a tag is just a byte
		`m a"b=1 3`,                   // 5: and in a field key too
		`m s="esc \" quote`,           // 6
		`still in" 4`,                 // 7
		`m s="backslash \\" 5`,        // 8: the quote after \\ closes the string
		`m v=1,s="x",t="y`,            // 9: the second string stays open
		``,                            // 10: a blank line inside a string
		`# not a comment here"`,       // 11
		`m s="",u="\\",v=2 6`,         // 12
		`  m  s="lead`, `ing spaces"`, // 13, 14
		`m\ x,t\ y=1 s="escaped spaces`, `ok" 7`, // 15, 16
		`last v=1`, // 17
	}, "\n") + "\n"
	lines := strings.SplitAfter(input, "\n")
	join := func(from, to int) string { return strings.Join(lines[from-1:to], "") }
	wantPoints := []string{
		join(1, 3), join(4, 4), join(5, 5), join(6, 7), join(8, 8),
		join(9, 11), join(12, 12), join(13, 14), join(15, 16), join(17, 17),
	}
	var wantLines []int64
	for i := range 17 {
		wantLines = append(wantLines, int64(i+1))
	}
	checkChunking(t, input, FormatLP, strings.Join(wantPoints, ""), wantLines)

	// One point per chunk: every chunk is exactly one whole point.
	k := newChunker(bufio.NewReaderSize(strings.NewReader(input), 16), func() int64 { return 0 }, FormatLP, 1, 0, 0, 0)
	for i, want := range wantPoints {
		c, err := k.next()
		if err != nil {
			t.Fatal(err)
		}
		if string(c.body) != want || c.points != 1 {
			t.Errorf("chunk %d = %q (%d points), want %q", i, c.body, c.points, want)
		}
	}
	if _, err := k.next(); err != io.EOF {
		t.Errorf("extra chunk: %v", err)
	}
}

func TestLPInString(t *testing.T) {
	for _, tc := range []struct {
		line string
		cont bool
		want bool
	}{
		{"m v=1 1\n", false, false},
		{"m s=\"a\n", false, true},
		{"m s=\"a\" 1\n", false, false},
		{"m,t=\"x v=1\n", false, false},
		{"m s=\"a\\\"\n", false, true},    // escaped quote: still open
		{"m s=\"a\\\\\"\n", false, false}, // escaped backslash, then the closing quote
		{"m s=\"a\",t=\"b\n", false, true},
		{"m s= \"a\n", false, false},  // missing value: an error, the line ends
		{"m\\ s=\"a\n", false, false}, // escaped space: "m s" is the measurement, no fields
		{"m\\ x s=\"a\n", false, true},
		{"x\" 1\n", true, false},
		{"x\n", true, true},
		{"x\\\" y\n", true, true},
		{"m s=\"unterminated", false, true},
	} {
		if got := lpInString([]byte(tc.line), tc.cont); got != tc.want {
			t.Errorf("lpInString(%q, %v) = %v, want %v", tc.line, tc.cont, got, tc.want)
		}
	}
}

// checkChunking cuts input with several limits and checks that the chunks
// tile the input, hold whole lines, and together carry wantBody with its
// lines mapped to wantLines.
func checkChunking(t *testing.T, input, format, wantBody string, wantLines []int64) {
	t.Helper()
	for _, tc := range []struct{ maxRows, maxBytes int }{
		{1, maxChunkBytes}, {2, maxChunkBytes}, {3, maxChunkBytes}, {1000, maxChunkBytes},
		{1000, 1}, {1000, 10}, {1000, 150}, {2, 120},
	} {
		t.Run(fmt.Sprintf("rows=%d,bytes=%d", tc.maxRows, tc.maxBytes), func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(input), 16)
			k := newChunker(r, func() int64 { return 0 }, format, tc.maxRows, 0, 0, 0)
			k.maxBytes = tc.maxBytes
			var body bytes.Buffer
			var lines []int64
			var off, line int64
			for {
				c, err := k.next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if c.start != off || c.startLine != line+1 {
					t.Fatalf("chunk starts at offset %d line %d, want %d and %d", c.start, c.startLine, off, line+1)
				}
				if c.points > tc.maxRows {
					t.Errorf("chunk has %d points, max %d", c.points, tc.maxRows)
				}
				if len(c.body) > 0 && c.body[len(c.body)-1] != '\n' {
					t.Errorf("chunk body %q does not end in a newline", c.body)
				}
				// The range [start, end) is whole lines of the input.
				seg := input[c.start:c.end]
				if c.end < int64(len(input)) && !strings.HasSuffix(seg, "\n") {
					t.Errorf("chunk range %q ends mid-line", seg)
				}
				if n := int64(strings.Count(seg, "\n")); n != c.span && !(c.end == int64(len(input)) && n == c.span-1) {
					t.Errorf("chunk spans %d lines, its range holds %d", c.span, n)
				}
				if n := strings.Count(string(c.body), "\n"); n != len(c.bodyLine) {
					t.Errorf("body has %d lines, %d mapped", n, len(c.bodyLine))
				}
				for i, want := range c.bodyLine {
					if got := c.fileLine(i + 1); got != want {
						t.Errorf("fileLine(%d) = %d, want %d", i+1, got, want)
					}
				}
				if c.fileLine(0) != 0 || c.fileLine(len(c.bodyLine)+1) != 0 {
					t.Error("out-of-range request line mapped")
				}
				body.Write(c.body)
				lines = append(lines, c.bodyLine...)
				off, line = c.end, c.startLine+c.span-1
			}
			if off != int64(len(input)) {
				t.Errorf("chunks end at %d, input has %d bytes", off, len(input))
			}
			if body.String() != wantBody {
				t.Errorf("bodies joined:\n%q\nwant\n%q", body.String(), wantBody)
			}
			if fmt.Sprint(lines) != fmt.Sprint(wantLines) {
				t.Errorf("body lines map to %v, want %v", lines, wantLines)
			}
		})
	}
}

func TestChunkerNDJSONKeepsHashLines(t *testing.T) {
	// '#' is not a comment in NDJSON, and quotes never span lines; the
	// server judges such lines.
	r := bufio.NewReader(strings.NewReader("{\"a\":1}\n\n#x\n{\"s\":\"open\n"))
	k := newChunker(r, func() int64 { return 0 }, FormatNDJSON, 10, 0, 0, 0)
	c, err := k.next()
	if err != nil {
		t.Fatal(err)
	}
	if string(c.body) != "{\"a\":1}\n#x\n{\"s\":\"open\n" || fmt.Sprint(c.bodyLine) != "[1 3 4]" || c.points != 3 {
		t.Errorf("body %q lines %v points %d", c.body, c.bodyLine, c.points)
	}
}

func TestDetectFormat(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"x.ndjson", "", FormatNDJSON},
		{"x.JSONL", "cpu v=1", FormatNDJSON},
		{"x.json.gz", "{}", FormatNDJSON},
		{"dump.jsonl.gz", "{}", FormatNDJSON},
		{"data", "\n\n  {\"a\":1}\n", FormatNDJSON},
		{"data.gz", "{\"a\":1}\n", FormatNDJSON},
		{"data", "cpu,host=a v=1 1\n", FormatLP},
		{"data", "# comment\n{\"a\":1}\n", FormatLP},
		{"data", "", FormatLP},
		{"x.lp", "{\"a\":1}\n", FormatLP},
		{"x.txt", "weather temp=1\n", FormatLP},
	} {
		got, err := detectFormat(tc.name, FormatAuto, bufio.NewReader(strings.NewReader(tc.content)))
		if err != nil || got != tc.want {
			t.Errorf("detectFormat(%q, %q) = %q, %v; want %q", tc.name, tc.content, got, err, tc.want)
		}
	}
	// An explicit format wins.
	if got, _ := detectFormat("x.ndjson", FormatLP, bufio.NewReader(strings.NewReader("{"))); got != FormatLP {
		t.Errorf("explicit lp gave %q", got)
	}
	// A JSON array is not NDJSON.
	if _, err := detectFormat("x.json", FormatAuto, bufio.NewReader(strings.NewReader("[\n{\"a\":1}\n]"))); err == nil {
		t.Error("JSON array accepted as NDJSON")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"3", 3 * retryAfterUnit, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"99999999999999", retryAfterMax, true},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// Chunks acknowledged out of order move the checkpoint only over the
// acknowledged prefix.
func TestCheckpointAdvancesContiguously(t *testing.T) {
	dir := t.TempDir()
	r := &run{cfg: Config{StateDir: dir}, log: &logger{}}
	j := &fileJob{path: "f", statePath: dir + "/f.json", acked: map[int64]ackRec{}, cp: checkpoint{Version: stateVersion}}
	chunks := []*chunk{
		{file: j, start: 0, end: 10, startLine: 1, span: 2, points: 2},
		{file: j, start: 10, end: 25, startLine: 3, span: 3, points: 3},
		{file: j, start: 25, end: 30, startLine: 6, span: 1, points: 1},
	}
	step := func(i int, wantOff, wantLine int64) {
		t.Helper()
		r.ack(chunks[i], reply{written: int64(chunks[i].rows())})
		if j.cp.Offset != wantOff || j.cp.Line != wantLine {
			t.Errorf("after chunk %d: offset %d line %d, want %d and %d", i, j.cp.Offset, j.cp.Line, wantOff, wantLine)
		}
	}
	step(2, 0, 0)
	step(1, 0, 0)
	step(0, 30, 6)
	if j.cp.Complete {
		t.Error("complete before the reader reached the end")
	}
	j.mu.Lock()
	j.eof, j.eofOff = true, 30
	r.advance(j)
	j.mu.Unlock()
	r.save(j)
	cp, err := loadCheckpoint(j.statePath)
	if err != nil || cp == nil || !cp.Complete || cp.RowsWritten != 6 {
		t.Errorf("saved checkpoint %+v, %v", cp, err)
	}
}

func TestDefaultStateDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if dir, err := defaultStateDir(); err != nil || dir != "/xdg/silt/import" {
		t.Errorf("with XDG_CACHE_HOME: %q, %v", dir, err)
	}
	t.Setenv("XDG_CACHE_HOME", "relative") // ignored, as the XDG spec says
	t.Setenv("HOME", "/home/u")
	if dir, err := defaultStateDir(); err != nil || dir != "/home/u/.cache/silt/import" {
		t.Errorf("without XDG_CACHE_HOME: %q, %v", dir, err)
	}
}
