package sql

import (
	"regexp/syntax"
	"slices"
)

// normalize rewrites a WHERE predicate into an equivalent one (in SQL's
// three-valued logic) whose tag constraints are top-level conjuncts a
// source can push into its tag index:
//
//   - an OR of equalities and IN lists on one tag becomes one IN list
//     (`h = 'a' OR h = 'b'` is `h IN ('a', 'b')` by definition of IN), so
//     the chains TSBS and Grafana write select series like IN does;
//   - a match against an anchored regular expression with a finite, small
//     language (`h ~ '^(a|b)$'`, Grafana's multi-value variables) becomes
//     the IN list of that language;
//   - conjuncts common to every branch of an OR are factored out
//     (`(t AND a) OR (t AND b)` is `t AND (a OR b)`: Kleene logic is
//     distributive), so time bounds and tag sets repeated per branch
//     reach the time range and the tag index.
func normalize(e Expr) Expr {
	switch x := e.(type) {
	case *Logic:
		args := make([]Expr, len(x.Args))
		for i, a := range x.Args {
			args[i] = normalize(a)
		}
		if x.Op == OpAnd {
			return logic(OpAnd, args)
		}
		return normalizeOr(args)
	case *Match:
		if in := matchAsIn(x); in != nil {
			return in
		}
	}
	return e
}

// normalizeOr normalizes OR(args) whose arguments are normalized.
func normalizeOr(args []Expr) Expr {
	merged := logic(OpOr, mergeTagSets(args))
	l, ok := merged.(*Logic)
	if !ok || l.Op != OpOr {
		return merged // one operand or a constant
	}
	args = l.Args
	// Factor out the conjuncts every branch has.
	common := Conjuncts(args[0])
	for _, a := range args[1:] {
		cs := Conjuncts(a)
		common = slices.DeleteFunc(slices.Clone(common), func(c Expr) bool { return !containsExpr(cs, c) })
		if len(common) == 0 {
			return logic(OpOr, args)
		}
	}
	rest := make([]Expr, len(args))
	for i, a := range args {
		var keep []Expr
		for _, c := range Conjuncts(a) {
			if !containsExpr(common, c) {
				keep = append(keep, c)
			}
		}
		rest[i] = logic(OpAnd, keep) // no conjunct left: TRUE
	}
	return logic(OpAnd, append(slices.Clone(common), normalizeOr(rest)))
}

func containsExpr(list []Expr, e Expr) bool {
	s := e.String()
	return slices.ContainsFunc(list, func(x Expr) bool { return x.String() == s })
}

// mergeTagSets merges the OR arguments that are `tag = 'v'` or `tag IN
// (...)` on the same tag into one IN list, in the place of the first.
func mergeTagSets(args []Expr) []Expr {
	type set struct {
		at   int
		in   *InList
		seen map[string]bool
	}
	sets := map[int]*set{} // by column index
	var out []Expr
	for _, a := range args {
		ref, vals, hasNull, ok := tagValues(a)
		if !ok {
			out = append(out, a)
			continue
		}
		s := sets[ref.Column.Index]
		if s == nil {
			s = &set{at: len(out), in: &InList{X: ref}, seen: map[string]bool{}}
			sets[ref.Column.Index] = s
			out = append(out, a)
		} else {
			out[s.at] = s.in // two or more: the merged list replaces them
		}
		s.in.HasNull = s.in.HasNull || hasNull
		for _, v := range vals {
			if !s.seen[v.Str] {
				s.seen[v.Str] = true
				s.in.Values = append(s.in.Values, v)
			}
		}
	}
	return out
}

// tagValues recognizes `tag = 'v'` and `tag IN (...)`.
func tagValues(e Expr) (ref *ColumnRef, vals []Value, hasNull, ok bool) {
	switch x := e.(type) {
	case *Binary:
		r, isRef := x.L.(*ColumnRef)
		c, isConst := x.R.(*Const)
		if x.Op == OpEq && isRef && isConst && r.Column.Kind == KindTag && !c.Value.Null && c.Value.Type == TypeString {
			return r, []Value{c.Value}, false, true
		}
	case *InList:
		r, isRef := x.X.(*ColumnRef)
		if isRef && !x.Not && r.Column.Kind == KindTag {
			return r, x.Values, x.HasNull, true
		}
	}
	return nil, nil, false, false
}

// maxRegexSet bounds the strings a regular expression may expand to.
const maxRegexSet = 256

// matchAsIn returns the IN list equal to a tag match against a regular
// expression anchored at both ends whose language is a small finite set of
// strings, or nil.
func matchAsIn(m *Match) *InList {
	ref, ok := m.X.(*ColumnRef)
	if !ok || m.Not || ref.Column.Kind != KindTag {
		return nil
	}
	re, err := syntax.Parse(m.Pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 {
		return nil
	}
	first, last := re.Sub[0], re.Sub[len(re.Sub)-1]
	if first.Op != syntax.OpBeginText || last.Op != syntax.OpEndText {
		return nil
	}
	words, ok := language(&syntax.Regexp{Op: syntax.OpConcat, Sub: re.Sub[1 : len(re.Sub)-1]})
	if !ok {
		return nil
	}
	in := &InList{X: ref}
	seen := map[string]bool{}
	for _, w := range words {
		if !seen[w] {
			seen[w] = true
			in.Values = append(in.Values, StringValue(w))
		}
	}
	return in
}

// language returns the strings re matches exactly (deduplicated), when
// they are at most maxRegexSet and re is made of literals, character
// classes, alternations, concatenations, groups and empty matches only.
func language(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil, false
		}
		return []string{string(re.Rune)}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if int(re.Rune[i+1]-re.Rune[i])+len(out) >= maxRegexSet {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				out = append(out, string(r))
			}
		}
		return out, true
	case syntax.OpCapture:
		return language(re.Sub[0])
	case syntax.OpAlternate:
		var out []string
		seen := map[string]bool{}
		for _, s := range re.Sub {
			ws, ok := language(s)
			if !ok {
				return nil, false
			}
			for _, w := range ws {
				if !seen[w] {
					seen[w] = true
					out = append(out, w)
				}
			}
			if len(out) > maxRegexSet {
				return nil, false
			}
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, s := range re.Sub {
			ws, ok := language(s)
			if !ok || len(out)*len(ws) > maxRegexSet {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(ws))
			for _, a := range out {
				for _, w := range ws {
					next = append(next, a+w)
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}
