package pgwire

import (
	"crypto/tls"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ServerVersion is what server_version reports and version() answers
// with: clients read the major version to pick the queries they send, and
// Silt's SQL is PostgreSQL 15's grammar.
const ServerVersion = "15.0 (Silt)"

// startupTimeout bounds the handshake, so that a client that connects and
// says nothing does not hold a connection forever.
const startupTimeout = 30 * time.Second

// startup runs the handshake: SSL and GSS requests are refused ('N'),
// a cancel request is carried out, and a startup message is
// authenticated and answered with the session's parameters. It returns
// whether the connection goes on to take queries.
func (c *conn) startup() bool {
	_ = c.nc.SetDeadline(time.Now().Add(startupTimeout))
	defer func() { _ = c.nc.SetDeadline(time.Time{}) }()
	for {
		msg, err := readStartup(c.br)
		if err != nil {
			if !isDisconnect(err) {
				c.sendError(&pgError{severity: "FATAL", code: "08P01", msg: err.Error()})
				c.flush()
			}
			return false
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest:
			if c.l.tls == nil || c.tls {
				// No TLS: the client goes on in plain text, or gives up
				// if it requires encryption (sslmode=require).
				if _, err := c.nc.Write([]byte{'N'}); err != nil {
					return false
				}
				continue
			}
			if c.br.Buffered() > 0 {
				// Bytes sent after the request, before the handshake,
				// would be taken as if they came encrypted (the
				// injection PostgreSQL fixed as CVE-2021-23214).
				return false
			}
			if _, err := c.nc.Write([]byte{'S'}); err != nil {
				return false
			}
			tc := tls.Server(c.nc, c.l.tls)
			if err := tc.Handshake(); err != nil {
				c.l.log.Debug("pgwire: TLS handshake", "remote", c.nc.RemoteAddr().String(), "err", err)
				return false
			}
			c.nc, c.tls = tc, true
			c.br.Reset(tc)
		case *pgproto3.GSSEncRequest:
			// No GSSAPI encryption: the client goes on as it would
			// without it (plain, or after an SSLRequest).
			if _, err := c.nc.Write([]byte{'N'}); err != nil {
				return false
			}
		case *pgproto3.CancelRequest:
			c.l.cancelRequest(m.ProcessID, m.SecretKey)
			return false
		case *pgproto3.StartupMessage:
			return c.login(m)
		}
	}
}

// login authenticates a startup message and sends the session's
// parameters, its cancel key and the first ReadyForQuery.
func (c *conn) login(m *pgproto3.StartupMessage) bool {
	if c.refused {
		c.sendError(&pgError{severity: "FATAL", code: "53300", msg: "sorry, too many clients already",
			hint: "more sessions than --pg-max-connections are open"})
		c.flush()
		return false
	}
	if m.ProtocolVersion != pgproto3.ProtocolVersion30 {
		// 3.2 clients (PostgreSQL 18's libpq) fall back to 3.0 when told
		// so; Silt's cancel keys are 3.0's four bytes.
		c.send(&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0})
	}
	c.user = m.Parameters["user"]
	c.db = m.Parameters["database"]
	if c.db == "" {
		c.db = c.user // libpq's default, as PostgreSQL's
	}
	if c.l.be.AuthRequired() && !c.authenticate() {
		return false
	}
	if !c.l.be.Ready() {
		c.sendError(&pgError{severity: "FATAL", code: "57P03", msg: "the database system is starting up (replaying the WAL)"})
		c.flush()
		return false
	}
	if !slices.Contains(c.l.be.Databases(), c.db) {
		c.sendError(&pgError{severity: "FATAL", code: "3D000", msg: "database \"" + c.db + "\" does not exist",
			hint: "connect with dbname set to a Silt database (psql -d NAME)"})
		c.flush()
		return false
	}
	c.send(&pgproto3.AuthenticationOk{})
	for _, p := range sessionParams {
		c.send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	c.send(&pgproto3.ParameterStatus{Name: "session_authorization", Value: c.user})
	c.send(&pgproto3.BackendKeyData{ProcessID: c.pid, SecretKey: c.secret[:]})
	c.readyForQuery()
	return c.werr == nil
}

// sessionParams are the settings reported at startup and answered by
// SHOW: fixed, since Silt answers in UTC and ISO dates whatever a client
// sets.
var sessionParams = [][2]string{
	{"server_version", ServerVersion},
	{"server_encoding", "UTF8"},
	{"client_encoding", "UTF8"},
	{"DateStyle", "ISO, MDY"},
	{"IntervalStyle", "postgres"},
	{"TimeZone", "UTC"},
	{"integer_datetimes", "on"},
	{"standard_conforming_strings", "on"},
	{"is_superuser", "off"},
	{"application_name", ""},
}

// authenticate asks for the password, a Silt token with the read scope:
// in cleartext under TLS, by SCRAM-SHA-256 otherwise, so that a token
// never crosses an unencrypted connection. It answers a failure itself.
func (c *conn) authenticate() bool {
	if c.tls {
		c.send(&pgproto3.AuthenticationCleartextPassword{})
		c.flush()
		body, ok := c.readPassword()
		if !ok {
			return false
		}
		var pw pgproto3.PasswordMessage
		if err := pw.Decode(body); err != nil {
			return c.authProtocolError("invalid password message: " + err.Error())
		}
		_, err := c.l.be.Authenticate(pw.Password)
		return c.authResult(err)
	}
	c.send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{scramMechanism}})
	c.flush()
	body, ok := c.readPassword()
	if !ok {
		return false
	}
	var first pgproto3.SASLInitialResponse
	if err := first.Decode(body); err != nil {
		return c.authProtocolError("invalid SASL initial response: " + err.Error())
	}
	if first.AuthMechanism != scramMechanism {
		return c.authProtocolError("SASL mechanism " + strconv.Quote(first.AuthMechanism) + " is not offered (only " + scramMechanism + ")")
	}
	x, serverFirst, err := c.l.scram.clientFirst(string(first.Data))
	if err != nil {
		return c.authProtocolError(err.Error())
	}
	c.send(&pgproto3.AuthenticationSASLContinue{Data: []byte(serverFirst)})
	c.flush()
	if body, ok = c.readPassword(); !ok {
		return false
	}
	var final pgproto3.SASLResponse
	if err := final.Decode(body); err != nil {
		return c.authProtocolError("invalid SASL response: " + err.Error())
	}
	serverFinal, err := c.l.scram.clientFinal(x, string(final.Data), func(match func(string) bool) error {
		_, err := c.l.be.AuthenticateMatch(match)
		return err
	})
	if errors.Is(err, errSCRAMProtocol) {
		return c.authProtocolError(err.Error())
	}
	if !c.authResult(err) {
		return false
	}
	c.send(&pgproto3.AuthenticationSASLFinal{Data: []byte(serverFinal)})
	return true
}

// readPassword reads the client's next authentication message (type
// 'p', whatever the exchange) and returns its body.
func (c *conn) readPassword() ([]byte, bool) {
	f, err := readFrame(c.br, maxStartupBytes)
	if err != nil {
		return nil, false
	}
	if f.typ != 'p' {
		return nil, c.authProtocolError("expected a password message")
	}
	return f.body, true
}

// authProtocolError answers a malformed authentication exchange.
func (c *conn) authProtocolError(msg string) bool {
	c.sendError(&pgError{severity: "FATAL", code: "08P01", msg: msg})
	c.flush()
	return false
}

// authResult answers a failed check of the password with SQLSTATE 28P01,
// as PostgreSQL does, and reports whether it passed.
func (c *conn) authResult(err error) bool {
	if err == nil {
		return true
	}
	c.sendError(&pgError{severity: "FATAL", code: "28P01",
		msg:  "password authentication failed for user \"" + c.user + "\": " + err.Error(),
		hint: "the password is a Silt API token with the read scope"})
	c.flush()
	return false
}
