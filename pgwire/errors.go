package pgwire

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/siltdb/silt/query/sql"
)

// pgError is an error as the client sees it: severity, SQLSTATE, message,
// and optionally a hint and a 1-based position in the query text.
type pgError struct {
	severity string // "ERROR" when empty
	code     string
	msg      string
	hint     string
	position int32
}

func (e *pgError) Error() string { return e.msg }

// toPGError gives an error from the executor or the listener its
// SQLSTATE: *pgError as it is; *sql.Error and the server's errors by the
// code they carry; a canceled context as 57014; anything else XX000.
func toPGError(err error) *pgError {
	var pe *pgError
	if errors.As(err, &pe) {
		return pe
	}
	out := &pgError{code: "XX000", msg: err.Error()}
	var se *sql.Error
	if errors.As(err, &se) {
		out.msg, out.hint, out.position = se.Message, se.Hint, int32(se.Position)
		if se.SQLState != "" {
			out.code = se.SQLState
		}
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) && st.SQLState() != "" {
		out.code = st.SQLState()
	}
	if out.code == "XX000" && (errors.Is(err, context.Canceled) || errors.Is(err, errCanceledByClient)) {
		out.code = "57014"
	}
	if out.code == "57014" && errors.Is(err, errShutdown) {
		out.code, out.msg = "57P01", errShutdown.Error()
	}
	return out
}

// sendError sends e as an ErrorResponse (FATAL ones end the connection:
// the caller closes it).
func (c *conn) sendError(e *pgError) {
	sev := e.severity
	if sev == "" {
		sev = "ERROR"
	}
	c.send(&pgproto3.ErrorResponse{Severity: sev, SeverityUnlocalized: sev, Code: e.code, Message: e.msg,
		Hint: e.hint, Position: e.position})
}

// extendedError reports an error in the extended protocol: the messages
// up to the next Sync are skipped, as PostgreSQL does.
func (c *conn) extendedError(e *pgError) {
	c.sendError(e)
	c.skipping = true
}
