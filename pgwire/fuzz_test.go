package pgwire

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzDecode feeds arbitrary bytes to everything that reads what a client
// sends before any query runs: the startup packet, message framing and
// decoding, and the parameter literals. None may panic; a message that
// frames must decode or fail cleanly. The seeds are messages drivers
// send; go test runs only them (go test -fuzz FuzzDecode for more).
func FuzzDecode(f *testing.F) {
	enc := func(m pgproto3.FrontendMessage) []byte {
		b, err := m.Encode(nil)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	for _, m := range []pgproto3.FrontendMessage{
		&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "u", "database": "bench"}},
		&pgproto3.SSLRequest{},
		&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}},
		&pgproto3.Query{String: "SELECT * FROM cpu WHERE hostname = 'a'; SELECT 1"},
		&pgproto3.Parse{Name: "s", Query: "SELECT $1, $2 FROM cpu WHERE x > $3", ParameterOIDs: []uint32{25, 20, 701}},
		&pgproto3.Bind{PreparedStatement: "s", ParameterFormatCodes: []int16{0, 1}, Parameters: [][]byte{[]byte("a"), {0, 0, 0, 0, 0, 0, 0, 1}, nil}, ResultFormatCodes: []int16{1}},
		&pgproto3.Describe{ObjectType: 'S', Name: "s"},
		&pgproto3.Execute{Portal: "", MaxRows: 10},
		&pgproto3.Close{ObjectType: 'P'},
		&pgproto3.Sync{},
		&pgproto3.Terminate{},
		&pgproto3.PasswordMessage{Password: "token"},
	} {
		f.Add(enc(m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// As a startup packet.
		if _, err := readStartup(bytes.NewReader(data)); err != nil {
			_ = err
		}
		// As a stream of typed messages.
		r := bytes.NewReader(data)
		for {
			fr, err := readFrame(r, 1<<16)
			if err != nil {
				break
			}
			msg, err := decodeFrontend(fr)
			if err != nil {
				continue
			}
			switch m := msg.(type) {
			case *pgproto3.Query:
				_ = splitStatements(m.String)
			case *pgproto3.Parse:
				refs, err := paramRefs(m.Query)
				if err == nil {
					n := paramCount(refs)
					oids := inferParamTypes(m.Query, m.ParameterOIDs, max(n, len(m.ParameterOIDs)), nil)
					lits := make([]string, len(oids))
					for i := range lits {
						lits[i] = "NULL"
					}
					_, _ = substitute(m.Query, refs, lits)
				}
			case *pgproto3.Bind:
				for i, v := range m.Parameters {
					for _, oid := range []uint32{0, oidText, oidInt8, oidInt4, oidInt2, oidFloat8, oidFloat4, oidBool, oidTimestamptz, oidNumeric} {
						_, _ = literal(oid, formatFor(m.ParameterFormatCodes, i), v)
					}
				}
			}
		}
	})
}
