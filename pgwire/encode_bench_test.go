package pgwire

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/siltdb/silt/query"
)

// discardConn is a net.Conn whose writes go nowhere, so that a benchmark
// times the encoding alone.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// highCPUResult is an answer shaped as TSBS high-cpu-all's: time, ten
// tags and ten float fields per row.
func highCPUResult(n int) *query.Result {
	res := &query.Result{Columns: []query.Column{{Name: "time", Type: query.TypeTimestamp}}}
	for _, t := range []string{"arch", "datacenter", "hostname", "os", "rack", "region", "service", "service_environment", "service_version", "team"} {
		res.Columns = append(res.Columns, query.Column{Name: t, Type: query.TypeString})
	}
	for _, f := range []string{"usage_guest", "usage_guest_nice", "usage_idle", "usage_iowait", "usage_irq", "usage_nice", "usage_softirq", "usage_steal", "usage_system", "usage_user"} {
		res.Columns = append(res.Columns, query.Column{Name: f, Type: query.TypeFloat})
	}
	base := time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		row := []any{base.Add(time.Duration(i) * 10 * time.Second)}
		for j := 0; j < 10; j++ {
			row = append(row, "value_"+string(rune('a'+j)))
		}
		for j := 0; j < 10; j++ {
			row = append(row, float64((i*7+j*13)%10000)/100+0.37)
		}
		res.Rows = append(res.Rows, row)
	}
	return res
}

// BenchmarkEncodeRows compares the server's encoding of one answer:
// DataRow messages in text and binary against /api/v1/sql's JSON.
//
//	go test ./pgwire -run '^$' -bench EncodeRows -count 6
func BenchmarkEncodeRows(b *testing.B) {
	res := highCPUResult(20000)
	ans := resultAnswer(res)
	c := &conn{nc: discardConn{}}
	b.Run("pg-text", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.sendRows(ans, nil, 0, len(ans.rows))
			c.flush()
		}
	})
	b.Run("pg-binary", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			c.sendRows(ans, []int16{1}, 0, len(ans.rows))
			c.flush()
		}
	})
	b.Run("http-json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := res.WriteJSON(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
}
