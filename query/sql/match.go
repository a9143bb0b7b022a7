package sql

import (
	"regexp"
	"strings"
)

// regexMatch builds ~, ~*, !~, !~*, LIKE, ILIKE.
func (p *planner) regexMatch(l, r Expr, not, fold, like bool, loc int32) (Expr, error) {
	opName := map[[2]bool]string{{false, false}: "~", {true, false}: "!~", {false, true}: "~*", {true, true}: "!~*"}[[2]bool{not, fold}]
	if like {
		opName = map[[2]bool]string{{false, false}: "~~", {true, false}: "!~~", {false, true}: "~~*", {true, true}: "!~~*"}[[2]bool{not, fold}]
	}
	var err error
	if isUnknownLit(l) {
		if l, err = p.cast(l, TypeString, loc); err != nil {
			return nil, err
		}
	}
	if l.Type() != TypeString || (r.Type() != TypeString && !isNullConst(r)) {
		return nil, typeErr(loc, "operator does not exist: %s %s %s", pgTypeName(l), opName, pgTypeName(r))
	}
	rc, ok := r.(*Const)
	if !ok {
		return nil, unsupported(loc, "non-constant pattern", "")
	}
	if rc.Value.Null || isNullConst(l) {
		return &Const{Value: NullValue(TypeBool)}, nil
	}
	pattern := rc.Value.Str
	if like {
		pattern, err = likeToRegexp(pattern)
		if err != nil {
			return nil, invalid(loc, "22025", "%s", err.Error())
		}
	}
	if fold {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, invalid(loc, "2201B", "invalid regular expression: %s", err.Error())
	}
	if lc, ok := l.(*Const); ok {
		if lc.Value.Null {
			return &Const{Value: NullValue(TypeBool)}, nil
		}
		return &Const{Value: BoolValue(re.MatchString(lc.Value.Str) != not)}, nil
	}
	return &Match{X: l, Pattern: pattern, Re: re, Not: not}, nil
}

// likeToRegexp translates a LIKE pattern (% any run, _ one character, \
// escapes the next) into an anchored Go regexp.
func likeToRegexp(s string) (string, error) {
	var b strings.Builder
	b.WriteString("(?s)^")
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		case '\\':
			if i+1 >= len(rs) {
				return "", errLikeEscape
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(rs[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return b.String(), nil
}

type likeError string

func (e likeError) Error() string { return string(e) }

const errLikeEscape = likeError("LIKE pattern must not end with escape character")
