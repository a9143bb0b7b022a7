package exec

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/siltdb/silt/query/sql"
)

// Evaluation of sql.Func and sql.Case: a column at a time, in typed loops;
// functions of one tag and constants run once per dictionary entry.

var (
	errLogZero    = dataError("2201E", "cannot take logarithm of zero")
	errLogNeg     = dataError("2201E", "cannot take logarithm of a negative number")
	errSqrtNeg    = dataError("2201F", "cannot take square root of a negative number")
	errPowZero    = dataError("2201F", "zero raised to a negative power is undefined")
	errPowComplex = dataError("2201F", "a negative number raised to a non-integer power yields a complex result")
	errOverflow   = dataError("22003", "value out of range: overflow")
	errTsRange    = dataError("22008", "timestamp out of range")
	errIvRange    = dataError("22015", "interval out of range")
	errInfSub     = dataError("22008", "cannot subtract infinite timestamps")
	errNegSubstr  = dataError("22011", "negative substring length not allowed")
	errFieldZero  = dataError("22023", "field position must not be zero")
)

// setAt copies row j of v into row k of out (same type; NULL included).
func setAt(out *vec, k int, v *vec, j int) {
	if v.isNull(j) || v.typ == sql.TypeNull {
		out.setNull(k)
		return
	}
	if out.null != nil {
		out.null[k] = false
	}
	switch out.typ {
	case sql.TypeInt64, sql.TypeTimestamp, sql.TypeInterval:
		out.i[k] = v.i[j]
	case sql.TypeUint64:
		out.u[k] = v.u[j]
	case sql.TypeFloat64:
		out.f[k] = v.f[j]
	case sql.TypeBool:
		out.b[k] = v.b[j]
	case sql.TypeString:
		out.s[k] = v.str(j)
	}
}

// fillConst sets rows ks of out (initially all NULL) to the constant v,
// in one typed loop.
func fillConst(out *vec, ks []int, v sql.Value) {
	if v.Null {
		return
	}
	for _, k := range ks {
		out.null[k] = false
	}
	switch out.typ {
	case sql.TypeInt64, sql.TypeTimestamp:
		for _, k := range ks {
			out.i[k] = v.Int
		}
	case sql.TypeUint64:
		for _, k := range ks {
			out.u[k] = v.Uint
		}
	case sql.TypeFloat64:
		for _, k := range ks {
			out.f[k] = v.Float
		}
	case sql.TypeBool:
		for _, k := range ks {
			out.b[k] = v.Bool
		}
	case sql.TypeString:
		for _, k := range ks {
			out.s[k] = v.Str
		}
	}
}

// allNull returns a vector of type t, n rows, every one NULL.
func allNull(t sql.Type, n int) *vec {
	out := newVec(t, n)
	out.null = make([]bool, n)
	for k := range out.null {
		out.null[k] = true
	}
	return out
}

// caseExpr evaluates each arm only over the rows still undecided, so that
// an arm's errors (division by zero) cannot come from rows it does not
// decide, as in PostgreSQL.
func (c *evalCtx) caseExpr(x *sql.Case) (*vec, error) {
	out := allNull(x.T, c.n)
	rows := identity(c.n)
	var hit, miss []int
	for _, w := range x.Whens {
		if len(rows) == 0 {
			return out, nil
		}
		sub := c
		if len(rows) < c.n {
			sub = c.subset(rows)
		}
		cond, err := sub.eval(w.Cond)
		if err != nil {
			return nil, err
		}
		hit, miss = hit[:0], miss[:0]
		for j := range rows {
			if cond.b[j] && !cond.isNull(j) {
				hit = append(hit, j)
			} else {
				miss = append(miss, rows[j])
			}
		}
		if k, ok := w.Then.(*sql.Const); ok && len(hit) > 0 {
			for i, j := range hit {
				hit[i] = rows[j] // output rows now
			}
			fillConst(out, hit, k.Value)
		} else if len(hit) > 0 {
			tc := sub
			if len(hit) < sub.n {
				tc = sub.subset(hit)
			}
			tv, err := tc.eval(w.Then)
			if err != nil {
				return nil, err
			}
			for jj, j := range hit {
				setAt(out, rows[j], tv, jj)
			}
		}
		rows, miss = miss, rows
	}
	if k, ok := x.Else.(*sql.Const); ok && len(rows) > 0 {
		fillConst(out, rows, k.Value)
	} else if x.Else != nil && len(rows) > 0 {
		sub := c
		if len(rows) < c.n {
			sub = c.subset(rows)
		}
		ev, err := sub.eval(x.Else)
		if err != nil {
			return nil, err
		}
		for j, k := range rows {
			setAt(out, k, ev, j)
		}
	}
	return out, nil
}

// coalesce evaluates each argument only over the rows still NULL.
func (c *evalCtx) coalesce(x *sql.Func) (*vec, error) {
	out := allNull(x.T, c.n)
	rows := identity(c.n)
	var next []int
	for _, a := range x.Args {
		if len(rows) == 0 {
			break
		}
		sub := c
		if len(rows) < c.n {
			sub = c.subset(rows)
		}
		v, err := sub.eval(a)
		if err != nil {
			return nil, err
		}
		next = next[:0]
		for j, k := range rows {
			if v.isNull(j) {
				next = append(next, k)
				continue
			}
			setAt(out, k, v, j)
		}
		rows, next = next, rows
	}
	return out, nil
}

// evalFunc evaluates a scalar function.
func (c *evalCtx) evalFunc(x *sql.Func) (*vec, error) {
	if x.Fn == sql.FnCoalesce {
		return c.coalesce(x)
	}
	args := make([]*vec, len(x.Args))
	for i, a := range x.Args {
		v, err := c.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	// A function of one tag (and constants): once per dictionary entry
	// the rows use.
	if len(args) > 0 && args[0].ids != nil && strictFunc(x.Fn) {
		consts := true
		for _, a := range x.Args[1:] {
			_, ok := a.(*sql.Const)
			consts = consts && ok
		}
		if consts {
			return perEntry(args[0], func(d *vec) (*vec, error) {
				da := make([]*vec, len(args))
				da[0] = d
				for i, a := range x.Args[1:] {
					da[i+1] = constVec(a.(*sql.Const).Value, d.n)
				}
				return applyFunc(x, da, d.n)
			})
		}
	}
	return applyFunc(x, args, c.n)
}

// strictFunc reports whether f is NULL when its first argument is (so
// that it can be computed per dictionary entry, NULL for absent tags).
func strictFunc(f sql.FuncKind) bool {
	switch f {
	case sql.FnDistinct, sql.FnNotDistinct, sql.FnConcat, sql.FnGreatest, sql.FnLeast, sql.FnCoalesce:
		return false
	}
	return true
}

// perEntry computes f over the dictionary entries v's rows use and maps
// the results back onto the rows (NULL where the tag is absent).
func perEntry(v *vec, f func(d *vec) (*vec, error)) (*vec, error) {
	used := make([]bool, len(v.dict))
	for _, id := range v.ids {
		if id >= 0 {
			used[id] = true
		}
	}
	var entries []string
	pos := make([]int32, len(v.dict))
	for id, u := range used {
		pos[id] = -1
		if u {
			pos[id] = int32(len(entries))
			entries = append(entries, v.dict[id])
		}
	}
	r, err := f(&vec{typ: sql.TypeString, n: len(entries), s: entries})
	if err != nil {
		return nil, err
	}
	idx := make([]int, v.n)
	var null []bool
	for k, id := range v.ids {
		if id < 0 {
			if null == nil {
				null = make([]bool, v.n)
			}
			null[k] = true
			continue
		}
		idx[k] = int(pos[id])
	}
	if r.n == 0 {
		return allNull(r.typ, v.n), nil
	}
	if r.typ == sql.TypeString {
		// Text results stay dictionary-encoded (deduplicated, so that
		// equal results are one id: grouping by them stays a slot table).
		remap := make([]int32, r.n)
		seen := map[string]int32{}
		var dict []string
		for j := 0; j < r.n; j++ {
			if r.isNull(j) {
				remap[j] = -1
				continue
			}
			s := r.str(j)
			id, ok := seen[s]
			if !ok {
				id = int32(len(dict))
				seen[s] = id
				dict = append(dict, s)
			}
			remap[j] = id
		}
		out := &vec{typ: sql.TypeString, n: v.n, ids: make([]int32, v.n), dict: dict}
		for k, id := range v.ids {
			out.ids[k] = -1
			if id >= 0 {
				out.ids[k] = remap[pos[id]]
			}
			if out.ids[k] < 0 {
				out.setNull(k)
			}
		}
		return out, nil
	}
	out := r.gather(idx)
	if null != nil {
		out.null = orNull(out.null, null, v.n)
	}
	return out, nil
}

// applyFunc computes f over argument vectors of n rows. Errors are raised
// only for rows whose arguments are all non-NULL.
func applyFunc(x *sql.Func, args []*vec, n int) (*vec, error) {
	out := newVec(x.T, n)
	switch x.Fn {
	case sql.FnDistinct, sql.FnNotDistinct:
		a, b := args[0], args[1]
		want := x.Fn == sql.FnDistinct
		for k := 0; k < n; k++ {
			an, bn := a.isNull(k), b.isNull(k)
			var same bool
			switch {
			case an || bn:
				same = an && bn
			default:
				same = compareAt(a, k, b, k) == 0
			}
			out.b[k] = same != want
		}
		return out, nil
	case sql.FnNullIf:
		a, b := args[0], args[1]
		for k := 0; k < n; k++ {
			setAt(out, k, a, k)
			if !a.isNull(k) && !b.isNull(k) && compareAt(a, k, b, k) == 0 {
				out.setNull(k)
			}
		}
		return out, nil
	case sql.FnGreatest, sql.FnLeast:
		want := 1
		if x.Fn == sql.FnLeast {
			want = -1
		}
		for k := 0; k < n; k++ {
			best := -1
			for i, a := range args {
				if a.isNull(k) {
					continue
				}
				if best < 0 || compareAt(a, k, args[best], k) == want {
					best = i
				}
			}
			if best < 0 {
				out.setNull(k)
				continue
			}
			setAt(out, k, args[best], k)
		}
		return out, nil
	}
	out.null = nil
	for _, a := range args {
		out.null = orNull(out.null, a.null, n)
		if a.typ == sql.TypeNull {
			return allNull(x.T, n), nil
		}
	}
	if out.null != nil {
		out.null = append([]bool(nil), out.null...) // ours to change
	}
	live := func(k int) bool { return out.null == nil || !out.null[k] }
	switch x.Fn {
	case sql.FnAbs:
		a := args[0]
		if x.T == sql.TypeInt64 {
			for k, v := range a.i {
				if v == math.MinInt64 && live(k) {
					return nil, errBigintRange
				}
				if v < 0 {
					v = -v
				}
				out.i[k] = v
			}
		} else {
			for k, v := range a.f {
				out.f[k] = math.Abs(v)
			}
		}
	case sql.FnRound:
		if x.Numeric {
			for k, v := range args[0].f {
				out.f[k] = roundDecimal(v, 0)
			}
		} else {
			for k, v := range args[0].f {
				out.f[k] = math.RoundToEven(v)
			}
		}
	case sql.FnRoundTo:
		for k, v := range args[0].f {
			if live(k) {
				out.f[k] = roundDecimal(v, args[1].i[k])
			}
		}
	case sql.FnCeil:
		for k, v := range args[0].f {
			out.f[k] = math.Ceil(v)
		}
	case sql.FnFloor:
		for k, v := range args[0].f {
			out.f[k] = math.Floor(v)
		}
	case sql.FnTrunc:
		for k, v := range args[0].f {
			out.f[k] = math.Trunc(v)
		}
	case sql.FnSign:
		for k, v := range args[0].f {
			switch {
			case v > 0:
				out.f[k] = 1
			case v < 0:
				out.f[k] = -1
			default:
				out.f[k] = v // 0 or NaN
			}
		}
	case sql.FnLn, sql.FnLog10:
		for k, v := range args[0].f {
			if !live(k) {
				continue
			}
			switch {
			case v == 0:
				return nil, errLogZero
			case v < 0:
				return nil, errLogNeg
			}
			if x.Fn == sql.FnLn {
				out.f[k] = math.Log(v)
			} else {
				out.f[k] = math.Log10(v)
			}
		}
	case sql.FnLogBase:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			b, v := args[0].f[k], args[1].f[k]
			switch {
			case b == 0 || v == 0:
				return nil, errLogZero
			case b < 0 || v < 0:
				return nil, errLogNeg
			case b == 1:
				return nil, errDivZero
			}
			out.f[k] = math.Log(v) / math.Log(b)
		}
	case sql.FnCbrt:
		for k, v := range args[0].f {
			out.f[k] = math.Cbrt(v)
		}
	case sql.FnSqrt:
		for k, v := range args[0].f {
			if v < 0 && live(k) {
				return nil, errSqrtNeg
			}
			out.f[k] = math.Sqrt(v)
		}
	case sql.FnExp:
		for k, v := range args[0].f {
			r := math.Exp(v)
			if math.IsInf(r, 0) && !math.IsInf(v, 0) && live(k) {
				return nil, errOverflow
			}
			out.f[k] = r
		}
	case sql.FnPower:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			a, b := args[0].f[k], args[1].f[k]
			switch {
			case a == 0 && b < 0:
				return nil, errPowZero
			case a < 0 && b != math.Trunc(b):
				return nil, errPowComplex
			}
			r := math.Pow(a, b)
			if math.IsInf(r, 0) && !math.IsInf(a, 0) && !math.IsInf(b, 0) {
				return nil, errOverflow
			}
			out.f[k] = r
		}
	case sql.FnLower, sql.FnUpper:
		a := args[0]
		for k := 0; k < n; k++ {
			if live(k) {
				out.s[k] = asciiCase(a.str(k), x.Fn == sql.FnUpper)
			}
		}
	case sql.FnLength:
		a := args[0]
		for k := 0; k < n; k++ {
			if live(k) {
				out.i[k] = int64(utf8.RuneCountInString(a.str(k)))
			}
		}
	case sql.FnSubstr:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			from := args[1].i[k]
			count := int64(-1)
			if len(args) == 3 {
				if count = args[2].i[k]; count < 0 {
					return nil, errNegSubstr
				}
			}
			out.s[k] = substr(args[0].str(k), from, count)
		}
	case sql.FnLeft, sql.FnRight:
		for k := 0; k < n; k++ {
			if live(k) {
				out.s[k] = leftRight(args[0].str(k), args[1].i[k], x.Fn == sql.FnLeft)
			}
		}
	case sql.FnConcat:
		out.null = nil
		var b strings.Builder
		for k := 0; k < n; k++ {
			b.Reset()
			for _, a := range args {
				if !a.isNull(k) {
					b.WriteString(a.str(k))
				}
			}
			out.s[k] = b.String()
		}
	case sql.FnConcatOp:
		for k := 0; k < n; k++ {
			if live(k) {
				out.s[k] = args[0].str(k) + args[1].str(k)
			}
		}
	case sql.FnReplace:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			s, from := args[0].str(k), args[1].str(k)
			if from == "" {
				out.s[k] = s
			} else {
				out.s[k] = strings.ReplaceAll(s, from, args[2].str(k))
			}
		}
	case sql.FnSplitPart:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			if args[2].i[k] == 0 {
				return nil, errFieldZero
			}
			out.s[k] = splitPart(args[0].str(k), args[1].str(k), args[2].i[k])
		}
	case sql.FnStartsWith:
		for k := 0; k < n; k++ {
			if live(k) {
				out.b[k] = strings.HasPrefix(args[0].str(k), args[1].str(k))
			}
		}
	case sql.FnStrpos:
		for k := 0; k < n; k++ {
			if live(k) {
				s := args[0].str(k)
				if i := strings.Index(s, args[1].str(k)); i >= 0 {
					out.i[k] = int64(utf8.RuneCountInString(s[:i])) + 1
				}
			}
		}
	case sql.FnBtrim, sql.FnLtrim, sql.FnRtrim:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			s, set := args[0].str(k), args[1].str(k)
			switch x.Fn {
			case sql.FnBtrim:
				out.s[k] = strings.Trim(s, set)
			case sql.FnLtrim:
				out.s[k] = strings.TrimLeft(s, set)
			default:
				out.s[k] = strings.TrimRight(s, set)
			}
		}
	case sql.FnRegexpReplace:
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			s := args[0].str(k)
			if x.Global {
				out.s[k] = x.Re.ReplaceAllString(s, x.Repl)
				continue
			}
			m := x.Re.FindStringSubmatchIndex(s)
			if m == nil {
				out.s[k] = s
				continue
			}
			out.s[k] = s[:m[0]] + string(x.Re.ExpandString(nil, x.Repl, s, m)) + s[m[1]:]
		}
	case sql.FnExtract:
		a := args[0]
		if a.typ == sql.TypeInterval {
			for k, v := range a.i {
				out.f[k] = sql.ExtractInterval(v, x.Unit)
			}
		} else if x.Unit == "epoch" {
			for k, v := range a.i {
				out.f[k] = sql.ExtractTime(v, "epoch")
			}
		} else if x.Unit == "hour" || x.Unit == "minute" {
			w := int64(3600e9)
			if x.Unit == "minute" {
				w = 60e9
			}
			for k, v := range a.i {
				if !live(k) {
					continue
				}
				if v == math.MinInt64 || v == math.MaxInt64 {
					out.f[k] = math.NaN()
					continue
				}
				if x.Unit == "hour" {
					out.f[k] = float64(floorMod64(v, 86400e9) / w)
				} else {
					out.f[k] = float64(floorMod64(v, 3600e9) / w)
				}
			}
		} else if x.Unit != "second" && x.Unit != "milliseconds" && x.Unit != "microseconds" {
			// The other fields hold for a whole UTC day.
			lastDay, lastRes := int64(math.MinInt64), 0.0
			for k, v := range a.i {
				if !live(k) {
					continue
				}
				if v == math.MinInt64 || v == math.MaxInt64 {
					out.f[k] = sql.ExtractTime(v, x.Unit)
					continue
				}
				d := floorDiv64(v, 86400e9)
				if d != lastDay {
					lastDay, lastRes = d, sql.ExtractTime(v, x.Unit)
				}
				out.f[k] = lastRes
			}
		} else {
			for k, v := range a.i {
				if live(k) {
					out.f[k] = sql.ExtractTime(v, x.Unit)
				}
			}
		}
	case sql.FnDateTrunc:
		switch {
		case x.Zone == nil && (x.Unit == "month" || x.Unit == "quarter" || x.Unit == "year" || x.Unit == "decade" ||
			x.Unit == "century" || x.Unit == "millennium"):
			// Calendar units hold whole UTC days: one computation per day.
			lastDay, lastRes := int64(math.MinInt64), int64(0)
			for k, v := range args[0].i {
				if !live(k) {
					continue
				}
				d := floorDiv64(v, 86400e9)
				if d != lastDay {
					lastDay, lastRes = d, sql.TruncTime(v, x.Unit, nil)
				}
				out.i[k] = lastRes
			}
		default:
			for k, v := range args[0].i {
				if live(k) {
					out.i[k] = sql.TruncTime(v, x.Unit, x.Zone)
				}
			}
		}
	case sql.FnAddInterval:
		a := args[0]
		if d, fixed := x.Iv.Fixed(); fixed {
			for k, t := range a.i {
				if t == math.MinInt64 || t == math.MaxInt64 {
					out.i[k] = t
					continue
				}
				r := t + d
				if ((d > 0 && r < t) || (d < 0 && r > t)) && live(k) {
					return nil, errTsRange
				}
				out.i[k] = r
			}
		} else {
			for k, t := range a.i {
				if !live(k) {
					continue
				}
				r, ok := sql.AddInterval(t, x.Iv)
				if !ok {
					return nil, errTsRange
				}
				out.i[k] = r
			}
		}
	case sql.FnTsDiff:
		a, b := args[0], args[1]
		for k := 0; k < n; k++ {
			if !live(k) {
				continue
			}
			p, q := a.i[k], b.i[k]
			if p == math.MinInt64 || p == math.MaxInt64 || q == math.MinInt64 || q == math.MaxInt64 {
				return nil, errInfSub
			}
			r := p - q
			if (q > 0 && r > p) || (q < 0 && r < p) {
				return nil, errIvRange
			}
			out.i[k] = r
		}
	case sql.FnToTimestamp:
		for k, f := range args[0].f {
			if !live(k) {
				continue
			}
			switch {
			case math.IsInf(f, 1):
				out.i[k] = math.MaxInt64
			case math.IsInf(f, -1):
				out.i[k] = math.MinInt64
			case math.IsNaN(f) || math.Abs(f) > 9.2e9:
				return nil, dataError("22008", fmt.Sprintf("timestamp out of range: %q", sql.FormatFloat8(f)))
			default:
				out.i[k] = int64(math.Round(f*1e6)) * 1000
			}
		}
	case sql.FnToLocal, sql.FnFromLocal:
		for k, t := range args[0].i {
			if !live(k) {
				continue
			}
			if x.Fn == sql.FnToLocal {
				out.i[k] = sql.ToLocal(t, x.Zone)
			} else {
				out.i[k] = sql.FromLocal(t, x.Zone)
			}
		}
	default:
		return nil, fmt.Errorf("exec: unsupported function %s", x.Fn)
	}
	return out, nil
}

// roundDecimal rounds f half away from zero at digits decimal places as
// PostgreSQL's numeric does, on f's decimal value to 15 significant digits
// (what float8 → numeric keeps), so 2.675 rounds to 2.68 as it does there.
func roundDecimal(f float64, digits int64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) || f == 0 {
		return f
	}
	if digits >= 0 && digits <= 15 {
		// Away from a tie the binary value rounds as its decimal one does.
		p := pow10[digits]
		x := math.Abs(f) * p
		if x < 1<<50 {
			if fr := x - math.Floor(x); math.Abs(fr-0.5) > 1e-6 {
				return math.Copysign(math.Round(x)/p, f)
			}
		}
	}
	e := strconv.FormatFloat(f, 'e', 14, 64) // [-]d.dddddddddddddde±xx
	neg := e[0] == '-'
	if neg {
		e = e[1:]
	}
	i := strings.IndexByte(e, 'e')
	exp, _ := strconv.Atoi(e[i+1:])
	mant := e[:1] + e[2:i] // 15 digits: value = 0.mant × 10^(exp+1)
	keep := int64(exp) + 1 + digits
	if keep >= int64(len(mant)) {
		r, _ := strconv.ParseFloat(e[:i]+"e"+strconv.Itoa(exp), 64)
		if neg {
			return -r
		}
		return r
	}
	if keep < 0 {
		return 0
	}
	d := []byte(mant[:keep])
	up := mant[keep] >= '5'
	if up {
		j := len(d) - 1
		for ; j >= 0; j-- {
			if d[j] == '9' {
				d[j] = '0'
				continue
			}
			d[j]++
			break
		}
		if j < 0 {
			d = append([]byte{'1'}, d...)
			exp++
		}
	}
	if len(d) == 0 {
		return 0
	}
	// value = 0.d × 10^(exp+1), d has keep (or keep+1) digits
	s := "0." + string(d) + "e" + strconv.Itoa(exp+1)
	r, _ := strconv.ParseFloat(s, 64)
	if neg {
		return -r
	}
	return r
}

var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

func floorDiv64(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod64(a, b int64) int64 { return a - floorDiv64(a, b)*b }

// asciiCase maps ASCII letters to upper or lower case (PostgreSQL under
// the "C" locale), without allocating when nothing changes.
func asciiCase(s string, upper bool) string {
	lo, hi := byte('A'), byte('Z')
	if upper {
		lo, hi = 'a', 'z'
	}
	i := 0
	for ; i < len(s); i++ {
		if s[i] >= lo && s[i] <= hi {
			break
		}
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] >= lo && b[i] <= hi {
			b[i] ^= 0x20
		}
	}
	return string(b)
}

// substr is PostgreSQL's substr(s, from[, count]) on characters: the
// characters at positions [from, from+count) that exist (count < 0: to
// the end).
func substr(s string, from, count int64) string {
	start := from
	end := int64(math.MaxInt64)
	if count >= 0 {
		end = from + count
		if end < from { // overflow
			end = math.MaxInt64
		}
	}
	if start < 1 {
		start = 1
	}
	if end <= start {
		return ""
	}
	pos := int64(1)
	bs, be := -1, len(s)
	for i := range s {
		if pos == start {
			bs = i
		}
		if pos == end {
			be = i
			break
		}
		pos++
	}
	if bs < 0 {
		return ""
	}
	return s[bs:be]
}

func leftRight(s string, n int64, left bool) string {
	chars := int64(utf8.RuneCountInString(s))
	var take int64
	if n >= 0 {
		take = min(n, chars)
	} else {
		take = max(chars+n, 0)
	}
	if left {
		return substr(s, 1, take)
	}
	return substr(s, chars-take+1, take)
}

func splitPart(s, delim string, n int64) string {
	if s == "" {
		return ""
	}
	if delim == "" {
		if n == 1 || n == -1 {
			return s
		}
		return ""
	}
	parts := strings.Split(s, delim)
	if n < 0 {
		n = int64(len(parts)) + n + 1
	}
	if n < 1 || n > int64(len(parts)) {
		return ""
	}
	return parts[n-1]
}

// castText converts row k of v (not NULL) to PostgreSQL's text output.
func castText(v *vec, k int) string {
	switch v.typ {
	case sql.TypeString:
		return v.str(k)
	case sql.TypeInt64:
		return strconv.FormatInt(v.i[k], 10)
	case sql.TypeUint64:
		return strconv.FormatUint(v.u[k], 10)
	case sql.TypeFloat64:
		return sql.FormatFloat8(v.f[k])
	case sql.TypeBool:
		return sql.FormatBool(v.b[k])
	case sql.TypeTimestamp:
		return sql.FormatTimestamptz(v.i[k])
	case sql.TypeInterval:
		return formatNanosInterval(v.i[k])
	}
	return ""
}

// formatNanosInterval renders an interval of nanoseconds as PostgreSQL
// does the result of timestamp − timestamp (hours justified into days).
func formatNanosInterval(ns int64) string {
	return sql.FormatInterval(0, ns/86400e9, ns%86400e9)
}

// castString converts row k's text to type to in out, with PostgreSQL's
// input rules.
func castString(out *vec, k int, s string, to sql.Type) error {
	var err error
	switch to {
	case sql.TypeInt64:
		out.i[k], err = sql.ParseIntText(s)
	case sql.TypeFloat64:
		out.f[k], err = sql.ParseFloatText(s)
	case sql.TypeBool:
		out.b[k], err = sql.ParseBoolText(s)
	case sql.TypeTimestamp:
		out.i[k], err = sql.ParseTimestampText(s)
	case sql.TypeUint64:
		if out.u[k], err = strconv.ParseUint(strings.TrimSpace(s), 10, 64); err != nil {
			err = fmt.Errorf("invalid input syntax for type numeric: %q", s)
		}
	default:
		return fmt.Errorf("exec: cannot cast text to %s", to)
	}
	if err != nil {
		// A value of the data that is not of the type: the query's.
		state := "22P02"
		if strings.Contains(err.Error(), "out of range") {
			state = "22003"
		}
		return dataError(state, err.Error())
	}
	return nil
}

// castOther converts between types other than the numeric ones: to text,
// from text, bool to int.
func castOther(v *vec, to sql.Type) (*vec, error) {
	if v.ids != nil && to != sql.TypeString {
		return perEntry(v, func(d *vec) (*vec, error) { return castOther(d, to) })
	}
	out := newVec(to, v.n)
	if v.null != nil {
		out.null = v.null
	}
	for k := 0; k < v.n; k++ {
		if v.isNull(k) {
			continue
		}
		switch {
		case to == sql.TypeString:
			out.s[k] = castText(v, k)
		case v.typ == sql.TypeString:
			if err := castString(out, k, v.str(k), to); err != nil {
				return nil, err
			}
		case v.typ == sql.TypeBool && to == sql.TypeInt64:
			if v.b[k] {
				out.i[k] = 1
			}
		default:
			return nil, fmt.Errorf("exec: cannot cast %s to %s", v.typ, to)
		}
	}
	return out, nil
}
