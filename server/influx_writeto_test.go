package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestInfluxQLStreamedAnswersWriteTo: /query's streamed answers, written
// through setBodyWriterTo, are whole and the same bytes as encoding/json
// writes (the pretty answer, built in a buffer by json.Encoder and
// compacted, is the oracle), gzipped or not, in chunks or as an Arrow
// file; the access log counts the bytes sent; and each request's client
// slot and held memory come back once it is sent and when the client
// hangs up mid-answer. Without --access-log the answer's writer writes
// straight to WriteTo's buffer; with it, through a counting one.
func TestInfluxQLStreamedAnswersWriteTo(t *testing.T) {
	for _, accessLog := range []bool{false, true} {
		t.Run(fmt.Sprintf("access-log=%v", accessLog), func(t *testing.T) { testInfluxQLStreamed(t, accessLog) })
	}
}

func testInfluxQLStreamed(t *testing.T, accessLog bool) {
	var logged bytes.Buffer
	var mu sync.Mutex
	s := startServerWith(t, Config{QueryMaxMemoryTotal: 1 << 30, AccessLog: accessLog, MaxRequestsPerClient: 1,
		Logger: slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logged}, nil))})
	const n = 40_000 // rows, over streamRows, in 16 series: about 2 MB of JSON
	loadRows(t, s, "d", n)

	// released waits for the request's client slot (a second request from
	// this client is refused while the first holds it) and the memory its
	// answer held to come back.
	released := func(what string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, _, _ := getFrom(t, http.DefaultClient, s.url+"/api/v1/databases")
			if code == 200 && s.srv.QueryMemoryReserved() == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: slot (last status %d) or %d bytes of memory still held", what, code, s.srv.QueryMemoryReserved())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// get returns the body as sent (wire) and decoded (gunzipped).
	get := func(path string, gz bool) (wire, body []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url+path, nil)
		if gz {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if wire, err = io.ReadAll(resp.Body); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 {
			t.Fatalf("%s: status %d, transfer encoding %v: want a chunked 200: %.300s", path, resp.StatusCode, resp.TransferEncoding, wire)
		}
		if (resp.Header.Get("Content-Encoding") == "gzip") != gz {
			t.Fatalf("%s: Content-Encoding %q with gzip accepted %v", path, resp.Header.Get("Content-Encoding"), gz)
		}
		body = wire
		if gz {
			zr, err := gzip.NewReader(bytes.NewReader(wire))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return wire, body
	}
	loggedBytes := func(what string, wire []byte) {
		t.Helper()
		if !accessLog {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !strings.Contains(logged.String(), fmt.Sprintf(`"path":"/query","status":200,"bytes":%d,`, len(wire))) {
			t.Errorf("%s: the access log does not count the %d bytes sent: %.600s", what, len(wire), logged.String())
		}
	}

	q := "SELECT v, w FROM m GROUP BY host"
	path := "/query?db=d&epoch=ns&q=" + url.QueryEscape(q)
	code, pretty := s.get(t, path+"&pretty=true")
	var want bytes.Buffer
	if err := json.Compact(&want, pretty); code != 200 || err != nil {
		t.Fatalf("pretty answer: %d %v", code, err)
	}
	want.WriteByte('\n')
	for _, gz := range []bool{false, true} {
		wire, body := get(path, gz)
		if !bytes.Equal(body, want.Bytes()) {
			t.Fatalf("gzip %v: streamed answer (%d bytes) differs from encoding/json's (%d bytes)", gz, len(body), want.Len())
		}
		loggedBytes(fmt.Sprintf("gzip %v", gz), wire)
		released(fmt.Sprintf("gzip %v answer sent", gz))
	}

	// chunked=true: the chunks' series, concatenated, are the whole
	// answer's.
	wire, body := get(path+"&chunked=true&chunk_size=1000", false)
	var got []json.RawMessage
	docs := 0
	for dec := json.NewDecoder(bytes.NewReader(body)); dec.More(); docs++ {
		var doc struct {
			Results []struct {
				Series []struct {
					Tags   map[string]string
					Values []json.RawMessage
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("chunk %d: %v", docs, err)
		}
		for _, se := range doc.Results[0].Series {
			got = append(got, se.Values...)
		}
	}
	var whole struct {
		Results []struct {
			Series []struct{ Values []json.RawMessage }
		}
	}
	if err := json.Unmarshal(want.Bytes(), &whole); err != nil {
		t.Fatal(err)
	}
	var all []json.RawMessage
	for _, se := range whole.Results[0].Series {
		all = append(all, se.Values...)
	}
	if len(all) != n || docs < n/1000 || len(got) != len(all) {
		t.Fatalf("chunked: %d values in %d documents, want %d (the answer has %d) in at least %d", len(got), docs, len(all), n, n/1000)
	}
	for i := range all {
		if !bytes.Equal(got[i], all[i]) {
			t.Fatalf("chunked: value %d is %s, want %s", i, got[i], all[i])
		}
	}
	loggedBytes("chunked", wire)
	released("chunked answer sent")

	// format=arrow holds its table's memory until it is sent.
	wire, _ = get(path+"&format=arrow", false)
	if len(wire) < n*8 {
		t.Fatalf("arrow: %d bytes for %d rows", len(wire), n)
	}
	loggedBytes("arrow", wire)
	released("arrow answer sent")

	// A client that hangs up after the first bytes.
	for _, c := range []struct{ what, query, header string }{
		{"json", path, ""},
		{"gzip", path, "Accept-Encoding: gzip\r\n"},
		{"chunked", path + "&chunked=true&chunk_size=100", ""},
		{"arrow", path + "&format=arrow", ""},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(s.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte("GET " + c.query + " HTTP/1.1\r\nHost: x\r\n" + c.header + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(bufio.NewReader(conn), make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		released(c.what + ": client gone")
	}
}
