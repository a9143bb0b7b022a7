package sql

import (
	"slices"
	"strconv"
	"sync"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// PostgreSQL's parser runs in C and hands its tree back as protobuf: for a
// TSBS-sized SELECT that is ~200 µs, more than scanning the rows of a
// one-host hour. Dashboards and InfluxQL send the same shapes again and
// again with other literals (the time range moves), so Parse keeps parse
// trees by shape: the text with every literal replaced by its kind. A
// text of a known shape gets a copy of that tree with its own literal
// values put in — what the parser would have built, since the parser's
// output for a literal depends only on the literal (and on a minus sign
// before it, which the key keeps) — and skips the C parser.
//
// Only plain literals take part: '…' strings and decimal numbers. A text
// with any other literal form (E'', B'', X'', U&'', dollar quotes,
// parameters, hex or underscored numbers) is parsed as before, and so is
// a shape whose tree does not map each literal to exactly one constant at
// its position, checked against the parser's own output when the shape is
// first seen.

// maxShapes bounds the shapes kept; past it, new shapes are not kept.
// Texts longer than maxShapeText are not kept either, so the cache holds
// at most a few tens of MB.
const (
	maxShapes    = 1024
	maxShapeText = 16 << 10
)

var shapes = struct {
	sync.Mutex
	m map[string]*shape // nil value: a shape that cannot be reused
}{m: map[string]*shape{}}

// seenOnce marks a shape parsed once: its tree is kept when it comes
// again, so one-off queries do not pay for copying theirs.
var seenOnce = &shape{}

// shape is the parse tree of one shape, with where its literals go.
type shape struct {
	sel  *pg_query.SelectStmt // pristine; only ever cloned
	loc  int32
	locs []int32   // per literal, in text order: its constant's location
	neg  []bool    // per literal: the parser folded the minus before it in
	pool sync.Pool // of *shapeTree
}

// shapeTree is one copy of a shape's tree and its literals' constants.
type shapeTree struct {
	sel    *pg_query.SelectStmt
	consts []*pg_query.A_Const // per literal, in text order
}

// literal is one literal token of a text.
type literal struct {
	kind byte  // 's' string, 'i' integer that fits int32, 'n' other number
	pos  int32 // byte offset of the token
	neg  int32 // numbers: byte offset of a '-' right before it, or -1
	text string
}

// shapeKey returns the shape of sql and its literals, or false when the
// text holds something the shape cache does not handle.
func shapeKey(sql string) (string, []literal, bool) {
	if len(sql) > maxShapeText {
		return "", nil, false
	}
	key := make([]byte, 0, len(sql))
	var lits []literal
	lastTok := -1 // offset of the last token that is not whitespace
	lastMinus := false
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			nl := false
			for i < len(sql) && (sql[i] == ' ' || sql[i] == '\t' || sql[i] == '\n' || sql[i] == '\r' || sql[i] == '\f' || sql[i] == '\v') {
				nl = nl || sql[i] == '\n' || sql[i] == '\r'
				i++
			}
			// A newline matters: it lets two string literals join.
			if nl {
				key = append(key, '\n')
			} else {
				key = append(key, ' ')
			}
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			return "", nil, false // comments: rare in generated queries
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			// A name or keyword, digits and all (t1, usage_user).
			j := i + 1
			for j < len(sql) && (isIdentByte(sql[j]) || sql[j] == '$') {
				j++
			}
			if j < len(sql) && (sql[j] == '\'' || sql[j] == '&') {
				return "", nil, false // E'', B'', X'', N'', U&'' and the like
			}
			key = append(key, sql[i:j]...)
			lastTok, lastMinus = j-1, false
			i = j
			continue
		case c == '\'':
			j := i + 1
			var val []byte
			for {
				if j >= len(sql) {
					return "", nil, false
				}
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						val = append(val, '\'')
						j += 2
						continue
					}
					break
				}
				val = append(val, sql[j])
				j++
			}
			lits = append(lits, literal{kind: 's', pos: int32(i), neg: -1, text: string(val)})
			key = append(key, 0, 's')
			lastTok, lastMinus = j, false
			i = j + 1
			continue
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(sql) && sql[i+1] >= '0' && sql[i+1] <= '9':
			j := i
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			kind := byte('i')
			if j < len(sql) && sql[j] == '.' {
				kind = 'n'
				j++
				for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
					j++
				}
			}
			if j < len(sql) && (sql[j] == 'e' || sql[j] == 'E') {
				kind = 'n'
				j++
				if j < len(sql) && (sql[j] == '+' || sql[j] == '-') {
					j++
				}
				k := j
				for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
					j++
				}
				if k == j {
					return "", nil, false
				}
			}
			if j < len(sql) && (isIdentByte(sql[j]) || sql[j] == '.') {
				return "", nil, false // 0x1f, 1_000, 1.2.3 and other forms
			}
			text := sql[i:j]
			if kind == 'i' {
				if v, err := strconv.ParseInt(text, 10, 64); err != nil || v > 1<<31-1 {
					kind = 'n' // the parser keeps integers past int32 as text
				}
			}
			lits = append(lits, literal{kind: kind, pos: int32(i), neg: minusAt(lastMinus, lastTok), text: text})
			key = append(key, 0, kind)
			lastTok, lastMinus = j-1, false
			i = j
			continue
		case c == '$' || c == 0:
			return "", nil, false // dollar quotes, parameters
		case c == '"':
			j := i + 1
			for {
				if j >= len(sql) {
					return "", nil, false
				}
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			key = append(key, sql[i:j+1]...)
			lastTok, lastMinus = j, false
			i = j + 1
			continue
		}
		key = append(key, c)
		lastMinus = c == '-'
		lastTok = i
		i++
	}
	return string(key), lits, true
}

// minusAt returns the offset of the '-' token just before a literal, or -1.
func minusAt(lastMinus bool, lastTok int) int32 {
	if lastMinus {
		return int32(lastTok)
	}
	return -1
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// cachedParse returns the tree of a text whose shape was seen before.
func cachedParse(key string, lits []literal) (*pg_query.SelectStmt, int32, func(), bool) {
	shapes.Lock()
	sh := shapes.m[key]
	shapes.Unlock()
	if sh == nil || sh == seenOnce {
		return nil, 0, nil, false
	}
	t, _ := sh.pool.Get().(*shapeTree)
	if t == nil {
		t = sh.newTree()
	}
	for i, l := range lits {
		setConst(t.consts[i], l, sh.neg[i])
	}
	return t.sel, sh.loc, func() { sh.pool.Put(t) }, true
}

// rememberShape keeps the tree the parser built for a text of this shape,
// if each literal maps to one constant the parser built from it alone.
func rememberShape(key string, lits []literal, sel *pg_query.SelectStmt, loc int32) {
	shapes.Lock()
	prev, seen := shapes.m[key]
	if !seen && len(shapes.m) < maxShapes {
		shapes.m[key] = seenOnce
	}
	shapes.Unlock()
	if prev != seenOnce {
		return // new (now marked), full, or decided already
	}
	sh := &shape{sel: proto.Clone(sel).(*pg_query.SelectStmt), loc: loc}
	byLoc := map[int32]*pg_query.A_Const{}
	dup := false
	walkConsts(sh.sel.ProtoReflect(), func(c *pg_query.A_Const) {
		if c.Location >= 0 {
			dup = dup || byLoc[c.Location] != nil
			byLoc[c.Location] = c
		}
	})
	ok := !dup
	for _, l := range lits {
		// A minus sign before a number is folded into the constant when
		// it is a unary minus (the constant sits at the sign), not when it
		// is a binary one (the constant sits at the number). Which one is
		// the grammar's, so the same for every text of the shape.
		at, neg := l.pos, false
		if l.neg >= 0 && byLoc[l.neg] != nil {
			at, neg = l.neg, true
		}
		c := byLoc[at]
		if c == nil {
			ok = false
			break
		}
		// The constant must be what setConst makes of the literal.
		want := proto.Clone(c).(*pg_query.A_Const)
		setConst(want, l, neg)
		if !proto.Equal(want, c) {
			ok = false
			break
		}
		sh.locs = append(sh.locs, at)
		sh.neg = append(sh.neg, neg)
		delete(byLoc, at) // each constant serves one literal
	}
	if !ok {
		sh = nil
	}
	shapes.Lock()
	if shapes.m[key] == seenOnce {
		shapes.m[key] = sh
	}
	shapes.Unlock()
}

// newTree copies the shape's tree and finds its literals' constants.
func (sh *shape) newTree() *shapeTree {
	t := &shapeTree{sel: proto.Clone(sh.sel).(*pg_query.SelectStmt), consts: make([]*pg_query.A_Const, len(sh.locs))}
	walkConsts(t.sel.ProtoReflect(), func(c *pg_query.A_Const) {
		if i := slices.Index(sh.locs, c.Location); i >= 0 && c.Location >= 0 {
			t.consts[i] = c
		}
	})
	return t
}

// setConst sets c to the value the parser gives literal l (negated when
// the parser folded the minus sign before it in).
func setConst(c *pg_query.A_Const, l literal, neg bool) {
	c.Isnull = false
	switch l.kind {
	case 's':
		if v, ok := c.Val.(*pg_query.A_Const_Sval); ok && v.Sval != nil {
			v.Sval.Sval = l.text
			return
		}
		c.Val = &pg_query.A_Const_Sval{Sval: &pg_query.String{Sval: l.text}}
	case 'i':
		n, _ := strconv.ParseInt(l.text, 10, 32)
		if neg {
			n = -n
		}
		if v, ok := c.Val.(*pg_query.A_Const_Ival); ok && v.Ival != nil {
			v.Ival.Ival = int32(n)
			return
		}
		c.Val = &pg_query.A_Const_Ival{Ival: &pg_query.Integer{Ival: int32(n)}}
	default:
		text := l.text
		if neg {
			text = "-" + text
		}
		if v, ok := c.Val.(*pg_query.A_Const_Fval); ok && v.Fval != nil {
			v.Fval.Fval = text
			return
		}
		c.Val = &pg_query.A_Const_Fval{Fval: &pg_query.Float{Fval: text}}
	}
}

var aConstName = (&pg_query.A_Const{}).ProtoReflect().Descriptor().FullName()

// walkConsts calls fn for every A_Const in m's tree.
func walkConsts(m protoreflect.Message, fn func(*pg_query.A_Const)) {
	if m.Descriptor().FullName() == aConstName {
		fn(m.Interface().(*pg_query.A_Const))
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walkConsts(l.Get(i).Message(), fn)
			}
		case fd.Message() != nil && !fd.IsMap():
			walkConsts(v.Message(), fn)
		}
		return true
	})
}

// compileUncached is Compile through the parser, bypassing the shape
// cache.
func compileUncached(sql string, cat Catalog, now time.Time) (*Query, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetSelectStmt() == nil {
		// The cache only holds texts the parser took as one SELECT.
		return nil, &Error{Code: CodeInvalid, Message: "internal error: a statement parsed from the shape cache does not parse again"}
	}
	st := &Statement{Kind: StmtSelect, SQL: sql, sel: tree.Stmts[0].Stmt.GetSelectStmt(), loc: tree.Stmts[0].StmtLocation}
	return Plan(st, cat, now)
}
