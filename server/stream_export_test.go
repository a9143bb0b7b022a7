package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/prompb"
)

// dialSmall connects to s with a small receive buffer, so that a server
// writing a large answer the client does not read blocks soon.
func dialSmall(t *testing.T, s *testServer) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// readChunked reads one chunked HTTP response from r: its status, and
// its body as the chunks it came in.
func readChunked(t *testing.T, r *bufio.Reader) (int, [][]byte) {
	t.Helper()
	tp := textproto.NewReader(r)
	status, err := tp.ReadLine()
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	code, _ := strconv.Atoi(strings.Fields(status)[1])
	if hdr.Get("Transfer-Encoding") != "chunked" {
		t.Fatalf("%s: not chunked: %v", status, hdr)
	}
	var chunks [][]byte
	for {
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(line, 16, 64)
		if err != nil {
			t.Fatalf("chunk size %q: %v", line, err)
		}
		if n == 0 {
			_, _ = tp.ReadLine() // the empty trailer
			return code, chunks
		}
		c := make([]byte, n+2)
		if _, err := io.ReadFull(r, c); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c[:n])
	}
}

// checkWriteToChunks: every chunk of an answer sent through WriteTo
// (setBodyWriterTo) but the last is writeToBufBytes long; the pipe of
// SetBodyStreamWriter sent 4 KiB chunks.
func checkWriteToChunks(t *testing.T, what string, chunks [][]byte) {
	t.Helper()
	if len(chunks) < 3 {
		t.Fatalf("%s: %d chunks, want an answer of several", what, len(chunks))
	}
	for i, c := range chunks[:len(chunks)-1] {
		if len(c) != writeToBufBytes {
			t.Fatalf("%s: chunk %d of %d holds %d bytes, want %d (written through WriteTo)", what, i, len(chunks), len(c), writeToBufBytes)
		}
	}
}

// TestExportWritesThroughWriteTo: /api/v1/export sends its line protocol
// in 64 KiB chunks through WriteTo, and the lines are the points written
// (formatted here from the written values, not by the exporter); a
// client hanging up mid-answer ends it (TestStreamedAnswerHoldsClientSlot
// checks its slot comes back). Mutation-checked: back on
// setBodyStreamWriter, the chunks were 4 KiB.
func TestExportWritesThroughWriteTo(t *testing.T) {
	s := startServer(t, 0)
	const rows = 100_000
	loadRows(t, s, "d", rows)             // m,host=h<j%16> v=<j>,w=<j%1000>.5 <t>
	if err := s.eng.Flush(); err != nil { // and a head part too
		t.Fatal(err)
	}
	if code, _, b := s.post(t, "/write?db=d", "m,host=h1 v=-1,w=0.25 1\n"); code != 204 {
		t.Fatalf("%d %s", code, b)
	}
	want := []string{"m,host=h1 v=-1,w=0.25 1"}
	for j := range rows {
		want = append(want, fmt.Sprintf("m,host=h%d v=%s,w=%s %d", j%16, strconv.FormatFloat(float64(j), 'g', -1, 64),
			strconv.FormatFloat(float64(j%1000)+0.5, 'g', -1, 64), 1_700_000_000_000_000_000+int64(j)*1_000_000))
	}

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /api/v1/export?db=d HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	code, chunks := readChunked(t, bufio.NewReader(conn))
	if code != 200 {
		t.Fatalf("export: %d %s", code, slices.Concat(chunks...))
	}
	checkWriteToChunks(t, "export", chunks)
	body := string(slices.Concat(chunks...))
	got := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("export: %d lines, want the %d written (first %q, want %q)", len(got), len(want), got[0], want[0])
	}
}

// TestPromRemoteReadWritesThroughWriteTo: a streamed remote read sends
// its frames in 64 KiB chunks through WriteTo (TestPromRemoteReadStreamed
// decodes them with Prometheus' client), holds its query memory while a
// client reads slowly, and gives it back when the client hangs up.
func TestPromRemoteReadWritesThroughWriteTo(t *testing.T) {
	s := startServerWith(t, Config{QueryMaxMemoryTotal: 1 << 30})
	// 200 series of 5000 samples of noise: a few MB of XOR chunks.
	var seed uint64 = 1
	for batch := range 4 {
		var req prompb.WriteRequest
		for k := batch * 50; k < (batch+1)*50; k++ {
			ts := promSeries("noise", "instance", fmt.Sprintf("h:%d", k))
			for i := range 5000 {
				seed = seed*6364136223846793005 + 1442695040888963407
				ts.Samples = append(ts.Samples, prompb.Sample{Timestamp: 1_000_000 + int64(i)*1000, Value: float64(seed>>11) / (1 << 53)})
			}
			req.Timeseries = append(req.Timeseries, ts)
		}
		if code, body := s.remoteWrite(t, "/api/v1/write", &req); code != 204 {
			t.Fatalf("remote write: %d %s", code, body)
		}
	}
	rr := &prompb.ReadRequest{Queries: []*prompb.Query{{StartTimestampMs: 0, EndTimestampMs: 10_000_000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: "noise"}}}},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_STREAMED_XOR_CHUNKS}}
	raw, err := rr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	enc := snappy.Encode(nil, raw)
	request := fmt.Sprintf("POST /api/v1/read HTTP/1.1\r\nHost: x\r\nContent-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\nContent-Length: %d\r\n\r\n%s", len(enc), enc)

	conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	code, chunks := readChunked(t, bufio.NewReader(conn))
	conn.Close()
	if code != 200 {
		t.Fatalf("remote read: %d %s", code, slices.Concat(chunks...))
	}
	checkWriteToChunks(t, "remote read", chunks)

	// A client that stops reading: the answer waits, its memory held;
	// one that hangs up: it ends, its memory given back.
	slow := dialSmall(t, s)
	defer slow.Close()
	if _, err := slow.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("remote read: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if s.srv.QueryMemoryReserved() == 0 {
		t.Fatal("nothing reserved while the answer is being sent")
	}
	slow.Close()
	deadline := time.Now().Add(30 * time.Second) // a guard against a hang, not a measure
	for s.srv.QueryMemoryReserved() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the client hung up: %d bytes still reserved", s.srv.QueryMemoryReserved())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
