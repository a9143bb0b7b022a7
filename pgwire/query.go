package pgwire

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/siltdb/silt/query"
	"github.com/siltdb/silt/query/sql"
)

// answer is what one statement returns.
type answer struct {
	cols []column   // nil: a command without rows (SET, BEGIN); NoData
	rows [][]any    // values as query.Result holds them
	tag  string     // CommandComplete tag; "" is "SELECT <rows>"
	copy *copySpec  // set for COPY ... TO STDOUT: rows go as CopyData
	hold query.Hold // the rows' reservation until they are sent (sent)
}

func (a *answer) commandTag() string {
	if a.tag != "" {
		return a.tag
	}
	return "SELECT " + strconv.Itoa(len(a.rows))
}

// statement is a prepared statement (Parse).
type statement struct {
	text   string
	refs   []paramRef
	params []uint32 // parameter types, declared or inferred
}

// portal is a bound statement (Bind): its text with the parameters
// substituted, the result formats asked for, and once run its answer and
// how many of its rows were sent (Execute with a row limit).
type portal struct {
	text    string
	formats []int16
	ans     *answer
	cols    []column // described before running, or nil
	sent    int
}

// simpleQuery runs a Query message: each statement of the string in
// turn, stopping at the first error; then ReadyForQuery.
func (c *conn) simpleQuery(text string) {
	stmts := splitStatements(text)
	if len(stmts) == 0 {
		c.send(&pgproto3.EmptyQueryResponse{})
	}
	for _, st := range stmts {
		ans, err := c.run(st)
		if err != nil {
			c.sendError(toPGError(err))
			break
		}
		switch {
		case ans.copy != nil:
			c.sendCopy(ans)
		case ans.cols != nil:
			c.send(rowDescription(ans.cols, nil))
			c.sendRows(ans, nil, 0, len(ans.rows))
		}
		c.send(&pgproto3.CommandComplete{CommandTag: []byte(ans.commandTag())})
		ans.sent()
		if c.werr != nil {
			return
		}
	}
	c.readyForQuery()
}

// splitStatements splits a query string at its semicolons (not those in
// strings, identifiers or comments), dropping empty statements.
func splitStatements(text string) []string {
	var parts []string
	last := 0
	if strings.IndexByte(text, ';') >= 0 {
		sr, err := pg_query.Scan(text)
		if err == nil {
			for _, t := range sr.Tokens {
				if t.Token == pg_query.Token_ASCII_59 {
					parts = append(parts, text[last:t.Start])
					last = int(t.End)
				}
			}
		}
		// A text that does not scan goes whole to the planner, which
		// reports its syntax error.
	}
	parts = append(parts, text[last:])
	out := parts[:0]
	for _, p := range parts {
		if strings.TrimSpace(stripComments(p)) != "" {
			out = append(out, p)
		}
	}
	return out
}

// run answers one statement: the session commands and catalog queries
// here, the rest on the SQL executor.
func (c *conn) run(text string) (*answer, error) {
	if ans, err, ok := c.session(text); ok {
		return ans, err
	}
	if ans, ok := c.catalog(text); ok {
		return ans, nil
	}
	if !c.l.be.Ready() {
		return nil, &pgError{code: "57P03", msg: "the database system is starting up (replaying the WAL); retry shortly"}
	}
	q, err := c.l.be.CompileSQL(c.db, c.sessionLiterals(text), time.Now())
	if err != nil {
		return nil, err
	}
	ctx, done := c.queryContext()
	defer done()
	ctx, hold := c.l.be.HoldAnswer(ctx)
	res, err := c.l.be.RunSQL(ctx, c.db, q, false)
	if err != nil {
		hold.Release()
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
			return nil, &pgError{code: causeCode(cause), msg: cause.Error()}
		}
		return nil, err
	}
	ans := resultAnswer(res)
	ans.hold = hold
	return ans, nil
}

func causeCode(cause error) string {
	if cause == errShutdown {
		return "57P01"
	}
	return "57014"
}

// describeText returns the columns a statement will answer with, without
// running it (parameters, if any, as NULL).
func (c *conn) describeText(text string) ([]column, error) {
	if _, _, err, ok := copyStatement(text); ok {
		return nil, err // COPY answers CopyOutResponse, not rows
	}
	if ans, err, ok := c.session(text); ok {
		if err != nil {
			return nil, err
		}
		return ans.cols, nil
	}
	if ans, ok := c.catalog(text); ok {
		return ans.cols, nil
	}
	q, err := c.l.be.CompileSQL(c.db, c.sessionLiterals(text), time.Now())
	if err != nil {
		return nil, err
	}
	switch q.Kind {
	case sql.QueryShowTables:
		return []column{{"table_name", oidText}}, nil
	case sql.QueryDescribe:
		return []column{{"column_name", oidText}, {"data_type", oidText}, {"column_kind", oidText}}, nil
	}
	cols := make([]column, len(q.Outputs))
	for i, o := range q.Outputs {
		cols[i] = column{o.Name, planOID(o.Type)}
	}
	return cols, nil
}

func resultAnswer(res *query.Result) *answer {
	cols := make([]column, len(res.Columns))
	for i, col := range res.Columns {
		cols[i] = column{col.Name, typeOID(col.Type)}
	}
	return &answer{cols: cols, rows: res.Rows}
}

// formatFor is the format of result column i: Bind's result format codes
// are none (all text), one (for all) or one per column.
func formatFor(formats []int16, i int) int16 {
	switch len(formats) {
	case 0:
		return 0
	case 1:
		return formats[0]
	}
	if i < len(formats) {
		return formats[i]
	}
	return 0
}

func rowDescription(cols []column, formats []int16) *pgproto3.RowDescription {
	fields := make([]pgproto3.FieldDescription, len(cols))
	for i, col := range cols {
		f := formatFor(formats, i)
		if f == 1 && !binaryOK(col.oid) {
			f = 0
		}
		fields[i] = pgproto3.FieldDescription{Name: []byte(col.name), DataTypeOID: col.oid,
			DataTypeSize: typeSize(col.oid), TypeModifier: -1, Format: f}
	}
	return &pgproto3.RowDescription{Fields: fields}
}

// sendRows sends rows [from, to) of ans as DataRow messages, each value
// in the format asked for. A row is encoded straight into the output
// buffer: no per-row allocation.
func (c *conn) sendRows(ans *answer, formats []int16, from, to int) {
	for _, row := range ans.rows[from:to] {
		start := len(c.out)
		c.out = append(c.out, 'D', 0, 0, 0, 0, byte(len(row)>>8), byte(len(row)))
		for i, v := range row {
			if v == nil {
				c.out = append(c.out, 0xff, 0xff, 0xff, 0xff)
				continue
			}
			lenAt := len(c.out)
			c.out = append(c.out, 0, 0, 0, 0)
			ok := false
			if formatFor(formats, i) == 1 && i < len(ans.cols) {
				c.out, ok = appendBinary(c.out, ans.cols[i].oid, v)
			}
			if !ok {
				c.out = appendText(c.out, v)
			}
			putUint32(c.out[lenAt:], uint32(len(c.out)-lenAt-4))
		}
		putUint32(c.out[start+1:], uint32(len(c.out)-start-1))
		if len(c.out) >= outFlushBytes {
			c.flush()
			if c.werr != nil {
				return
			}
		}
	}
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// parse handles Parse: the statement is checked for one statement and
// its parameters counted and typed; it is planned at Bind, when its
// values are known.
func (c *conn) parse(m *pgproto3.Parse) {
	stmts := splitStatements(m.Query)
	if len(stmts) > 1 {
		c.extendedError(&pgError{code: "42601", msg: "cannot insert multiple commands into a prepared statement"})
		return
	}
	refs, err := paramRefs(m.Query)
	if err != nil {
		c.extendedError(toPGError(err))
		return
	}
	if m.Name != "" {
		if _, dup := c.stmts[m.Name]; dup {
			c.extendedError(&pgError{code: "42P05", msg: "prepared statement \"" + m.Name + "\" already exists"})
			return
		}
	}
	n := max(paramCount(refs), len(m.ParameterOIDs))
	tables, _ := c.l.be.Tables(c.db)
	c.stmts[m.Name] = &statement{text: m.Query, refs: refs, params: inferParamTypes(m.Query, m.ParameterOIDs, n, tables)}
	c.send(&pgproto3.ParseComplete{})
}

// bind handles Bind: the values are written into the statement's text.
func (c *conn) bind(m *pgproto3.Bind) {
	st, ok := c.stmts[m.PreparedStatement]
	if !ok {
		c.extendedError(&pgError{code: "26000", msg: "prepared statement \"" + m.PreparedStatement + "\" does not exist"})
		return
	}
	if len(m.Parameters) != len(st.params) {
		c.extendedError(&pgError{code: "08P01", msg: "bind message supplies " + strconv.Itoa(len(m.Parameters)) +
			" parameters, but prepared statement \"" + m.PreparedStatement + "\" requires " + strconv.Itoa(len(st.params))})
		return
	}
	if n := len(m.ParameterFormatCodes); n > 1 && n != len(m.Parameters) {
		c.extendedError(&pgError{code: "08P01", msg: "bind message has " + strconv.Itoa(n) + " parameter formats but " + strconv.Itoa(len(m.Parameters)) + " parameters"})
		return
	}
	lits := make([]string, len(m.Parameters))
	for i, v := range m.Parameters {
		lit, err := literal(st.params[i], formatFor(m.ParameterFormatCodes, i), v)
		if err != nil {
			c.extendedError(toPGError(err))
			return
		}
		lits[i] = lit
	}
	text, err := substitute(st.text, st.refs, lits)
	if err != nil {
		c.extendedError(toPGError(err))
		return
	}
	if m.DestinationPortal != "" {
		if _, dup := c.portals[m.DestinationPortal]; dup {
			c.extendedError(&pgError{code: "42P03", msg: "portal \"" + m.DestinationPortal + "\" already exists"})
			return
		}
	}
	c.dropPortal(m.DestinationPortal) // the unnamed one, replaced
	c.portals[m.DestinationPortal] = &portal{text: text, formats: append([]int16(nil), m.ResultFormatCodes...)}
	c.send(&pgproto3.BindComplete{})
}

// describe handles Describe of a statement (its parameter types and
// columns) or a portal (its columns, in the formats bound).
func (c *conn) describe(m *pgproto3.Describe) {
	if m.ObjectType == 'S' {
		st, ok := c.stmts[m.Name]
		if !ok {
			c.extendedError(&pgError{code: "26000", msg: "prepared statement \"" + m.Name + "\" does not exist"})
			return
		}
		c.send(&pgproto3.ParameterDescription{ParameterOIDs: st.params})
		if len(splitStatements(st.text)) == 0 {
			c.send(&pgproto3.NoData{})
			return
		}
		lits := make([]string, len(st.params))
		for i := range lits {
			lits[i] = "NULL"
		}
		text, _ := substitute(st.text, st.refs, lits)
		cols, err := c.describeText(text)
		if err != nil {
			c.extendedError(toPGError(err))
			return
		}
		c.sendDescription(cols, nil)
		return
	}
	p, ok := c.portals[m.Name]
	if !ok {
		c.extendedError(&pgError{code: "34000", msg: "portal \"" + m.Name + "\" does not exist"})
		return
	}
	if len(splitStatements(p.text)) == 0 {
		c.send(&pgproto3.NoData{})
		return
	}
	cols, err := c.describeText(p.text)
	if err != nil {
		c.extendedError(toPGError(err))
		return
	}
	p.cols = cols
	c.sendDescription(cols, p.formats)
}

func (c *conn) sendDescription(cols []column, formats []int16) {
	if cols == nil {
		c.send(&pgproto3.NoData{})
		return
	}
	c.send(rowDescription(cols, formats))
}

// execute handles Execute: the portal runs on its first Execute; with a
// row limit the rest of its rows wait for the next Execute
// (PortalSuspended).
func (c *conn) execute(m *pgproto3.Execute) {
	p, ok := c.portals[m.Portal]
	if !ok {
		c.extendedError(&pgError{code: "34000", msg: "portal \"" + m.Portal + "\" does not exist"})
		return
	}
	if p.ans == nil {
		if len(splitStatements(p.text)) == 0 {
			c.send(&pgproto3.EmptyQueryResponse{})
			return
		}
		ans, err := c.run(p.text)
		if err != nil {
			c.extendedError(toPGError(err))
			return
		}
		if p.cols != nil && !sameTypes(p.cols, ans.cols) {
			// Described before running with other types (an all-NULL
			// column typed by its values): the values go as text, which
			// every type's text input reads.
			ans.cols = p.cols
		}
		p.ans = ans
		if ans.copy != nil {
			c.sendCopy(ans)
			c.send(&pgproto3.CommandComplete{CommandTag: []byte(ans.commandTag())})
			ans.sent()
			return
		}
	}
	to := len(p.ans.rows)
	if m.MaxRows > 0 && uint64(p.sent)+uint64(m.MaxRows) < uint64(to) {
		to = p.sent + int(m.MaxRows)
	}
	c.sendRows(p.ans, p.formats, p.sent, to)
	p.sent = to
	if to < len(p.ans.rows) {
		c.send(&pgproto3.PortalSuspended{})
		return
	}
	c.send(&pgproto3.CommandComplete{CommandTag: []byte(p.ans.commandTag())})
	p.ans.sent()
}

func sameTypes(a, b []column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].oid != b[i].oid {
			return false
		}
	}
	return true
}
