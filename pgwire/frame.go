package pgwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// frame is one message from the client as read off the connection: its
// type byte and its body (without the type and length). The body is the
// frame's own copy: frames outlive the next read.
type frame struct {
	typ  byte
	body []byte
}

// errTooLarge is a message whose declared length is beyond the limit
// (Config.MaxMessageBytes); the connection is answered a protocol error
// and closed, since the rest of the stream cannot be resynchronised
// without reading the message.
var errTooLarge = errors.New("message too large")

// maxStartupBytes bounds the startup packet, as PostgreSQL does
// (MAX_STARTUP_PACKET_LENGTH): it comes before authentication.
const maxStartupBytes = 10000

// readFrame reads one typed message of at most max body bytes.
func readFrame(r io.Reader, max int) (frame, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return frame{}, err
	}
	n := int64(int32(binary.BigEndian.Uint32(hdr[1:]))) - 4
	if n < 0 {
		return frame{}, fmt.Errorf("invalid message length %d", n+4)
	}
	if n > int64(max) {
		return frame{typ: hdr[0]}, fmt.Errorf("%w: %d bytes, more than %d (--pg-max-message-bytes)", errTooLarge, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return frame{}, unexpectedEOF(err)
	}
	return frame{typ: hdr[0], body: body}, nil
}

// readStartup reads the untyped first message of a connection and decodes
// it: a *pgproto3.StartupMessage, *SSLRequest, *GSSEncRequest or
// *CancelRequest.
func readStartup(r io.Reader) (pgproto3.FrontendMessage, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(hdr[:]))) - 4
	if n < 4 || n > maxStartupBytes {
		return nil, fmt.Errorf("invalid startup packet length %d", n+4)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, unexpectedEOF(err)
	}
	return decodeStartup(body)
}

// Request codes of the untyped startup messages (PostgreSQL's pqcomm.h).
const (
	codeCancel = 80877102
	codeSSL    = 80877103
	codeGSSEnc = 80877104
)

// decodeStartup decodes the body of a startup packet.
func decodeStartup(body []byte) (pgproto3.FrontendMessage, error) {
	if len(body) < 4 {
		return nil, errors.New("startup packet too short")
	}
	var msg pgproto3.FrontendMessage
	switch code := binary.BigEndian.Uint32(body); code {
	case pgproto3.ProtocolVersion30, pgproto3.ProtocolVersion32:
		msg = &pgproto3.StartupMessage{}
	case codeSSL:
		msg = &pgproto3.SSLRequest{}
	case codeGSSEnc:
		msg = &pgproto3.GSSEncRequest{}
	case codeCancel:
		msg = &pgproto3.CancelRequest{}
	default:
		return nil, fmt.Errorf("unsupported frontend protocol %d.%d: this server supports 3.0", code>>16, code&0xffff)
	}
	if err := msg.Decode(body); err != nil {
		return nil, err
	}
	return msg, nil
}

// decodeFrontend decodes the body of a typed message from a client that
// has authenticated. Each result is a new value: it stays valid after the
// next decode.
func decodeFrontend(f frame) (pgproto3.FrontendMessage, error) {
	var msg pgproto3.FrontendMessage
	switch f.typ {
	case 'Q':
		msg = &pgproto3.Query{}
	case 'P':
		msg = &pgproto3.Parse{}
	case 'B':
		msg = &pgproto3.Bind{}
	case 'D':
		msg = &pgproto3.Describe{}
	case 'E':
		msg = &pgproto3.Execute{}
	case 'C':
		msg = &pgproto3.Close{}
	case 'S':
		msg = &pgproto3.Sync{}
	case 'H':
		msg = &pgproto3.Flush{}
	case 'X':
		msg = &pgproto3.Terminate{}
	case 'd':
		msg = &pgproto3.CopyData{}
	case 'c':
		msg = &pgproto3.CopyDone{}
	case 'f':
		msg = &pgproto3.CopyFail{}
	case 'F':
		msg = &pgproto3.FunctionCall{}
	case 'p':
		msg = &pgproto3.PasswordMessage{}
	default:
		return nil, fmt.Errorf("unknown message type %q", f.typ)
	}
	if err := msg.Decode(f.body); err != nil {
		return nil, err
	}
	return msg, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
