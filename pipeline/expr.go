package pipeline

import (
	"fmt"
	"slices"
	"strings"
)

// The "if" language is deliberately small and strictly typed: string values (identifiers,
// literals) can only be compared or passed to functions, and only booleans can be combined.
// A condition that is wrong is refused at Parse time, with its position, rather than quietly
// evaluating to false at run time and skipping a job nobody notices.
//
//	expr    = and { "||" and }
//	and     = unary { "&&" unary }
//	unary   = "!" unary | compare
//	compare = operand [ ("==" | "!=") operand ]
//	operand = "(" expr ")" | string | "true" | "false" | ident | ident "(" expr "," expr ")"

// Limits of conditions, so that a hostile one cannot exhaust the stack or the CPU.
const (
	maxExprLength = 4096
	maxExprDepth  = 50
)

// identifier returns the Event field that the identifier name reads, or nil.
func identifier(name string) func(*Event) string {
	switch name {
	case "branch":
		return func(e *Event) string { return e.Branch }
	case "tag":
		return func(e *Event) string { return e.Tag }
	case "event":
		return func(e *Event) string { return e.Kind }
	case "ref":
		return func(e *Event) string { return e.Ref }
	case "commit":
		return func(e *Event) string { return e.Commit }
	case "base_branch":
		return func(e *Event) string { return e.BaseBranch }
	}
	return nil
}

// identifierNames lists the identifiers in the order hints show them.
var identifierNames = []string{"branch", "tag", "event", "ref", "commit", "base_branch"}

// function returns the function called name, or nil; all take two strings.
func function(name string) func(a, b string) bool {
	switch name {
	case "startsWith":
		return strings.HasPrefix
	case "endsWith":
		return strings.HasSuffix
	case "contains":
		return strings.Contains
	case "glob":
		return matchGlob
	}
	return nil
}

// functionNames lists the functions in the order hints show them.
var functionNames = []string{"startsWith", "endsWith", "contains", "glob"}

// exprType is the static type of an expression.
type exprType int

const (
	typeString exprType = iota
	typeBool
)

func (t exprType) String() string {
	if t == typeBool {
		return "a boolean"
	}
	return "a string"
}

// expr is a compiled condition, or part of one.
type expr interface {
	typ() exprType
	str(ev *Event) string // only for typeString
	truth(ev *Event) bool // only for typeBool
}

type (
	strLit  string
	boolLit bool
	ident   struct {
		name string
		get  func(*Event) string
	}
	call struct {
		fn   func(a, b string) bool
		a, b expr
	}
	compare struct {
		neq  bool
		a, b expr
	}
	not    struct{ x expr }
	binary struct {
		or   bool
		a, b expr
	}
)

func (strLit) typ() exprType           { return typeString }
func (s strLit) str(*Event) string     { return string(s) }
func (strLit) truth(*Event) bool       { return false }
func (boolLit) typ() exprType          { return typeBool }
func (boolLit) str(*Event) string      { return "" }
func (b boolLit) truth(*Event) bool    { return bool(b) }
func (ident) typ() exprType            { return typeString }
func (i ident) str(ev *Event) string   { return i.get(ev) }
func (ident) truth(*Event) bool        { return false }
func (call) typ() exprType             { return typeBool }
func (call) str(*Event) string         { return "" }
func (c call) truth(ev *Event) bool    { return c.fn(c.a.str(ev), c.b.str(ev)) }
func (compare) typ() exprType          { return typeBool }
func (compare) str(*Event) string      { return "" }
func (c compare) truth(ev *Event) bool { return (c.a.str(ev) == c.b.str(ev)) != c.neq }
func (not) typ() exprType              { return typeBool }
func (not) str(*Event) string          { return "" }
func (n not) truth(ev *Event) bool     { return !n.x.truth(ev) }
func (binary) typ() exprType           { return typeBool }
func (binary) str(*Event) string       { return "" }
func (b binary) truth(ev *Event) bool {
	if b.or {
		return b.a.truth(ev) || b.b.truth(ev)
	}
	return b.a.truth(ev) && b.b.truth(ev)
}

// ExprError is a problem in an "if" condition. Offset is the byte offset in the condition
// where it was found.
type ExprError struct {
	Offset  int
	Message string
	Hint    string
}

// Error implements the error interface.
func (e *ExprError) Error() string {
	s := fmt.Sprintf("offset %d: %s", e.Offset, e.Message)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// token kinds of the lexer.
type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokString
	tokEq
	tokNeq
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string // identifier name or string contents
	off  int
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of condition"
	case tokIdent:
		return fmt.Sprintf("%q", t.text)
	case tokString:
		return fmt.Sprintf("string '%s'", t.text)
	}
	return fmt.Sprintf("%q", [...]string{tokEq: "==", tokNeq: "!=", tokAnd: "&&", tokOr: "||",
		tokNot: "!", tokLParen: "(", tokRParen: ")", tokComma: ","}[t.kind])
}

// lex splits src into tokens.
func lex(src string) ([]token, error) {
	var toks []token
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '_' || isLetter(c):
			j := i + 1
			for j < len(src) && (src[j] == '_' || isLetter(src[j]) || isDigit(src[j])) {
				j++
			}
			toks = append(toks, token{tokIdent, src[i:j], i})
			i = j
		case c == '\'' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, &ExprError{i, "unterminated string",
					fmt.Sprintf("close it with %c; strings have no escapes, so quote a string containing %c with the other quote", c, c)}
			}
			toks = append(toks, token{tokString, src[i+1 : i+1+j], i})
			i += j + 2
		case strings.HasPrefix(src[i:], "=="):
			toks = append(toks, token{tokEq, "", i})
			i += 2
		case strings.HasPrefix(src[i:], "!="):
			toks = append(toks, token{tokNeq, "", i})
			i += 2
		case strings.HasPrefix(src[i:], "&&"):
			toks = append(toks, token{tokAnd, "", i})
			i += 2
		case strings.HasPrefix(src[i:], "||"):
			toks = append(toks, token{tokOr, "", i})
			i += 2
		case c == '!':
			toks = append(toks, token{tokNot, "", i})
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, "", i})
			i++
		case c == ',':
			toks = append(toks, token{tokComma, "", i})
			i++
		case c == '=':
			return nil, &ExprError{i, `unexpected "="`, `compare with "=="`}
		case c == '&':
			return nil, &ExprError{i, `unexpected "&"`, `write "&&" for "and"`}
		case c == '|':
			return nil, &ExprError{i, `unexpected "|"`, `write "||" for "or"`}
		default:
			r := []rune(src[i:])[0]
			return nil, &ExprError{i, fmt.Sprintf("unexpected character %q", r),
				"a condition uses identifiers, 'quoted strings', ==, !=, &&, ||, ! and parentheses"}
		}
	}
	return append(toks, token{tokEOF, "", len(src)}), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// exprParser is a recursive-descent parser over the tokens of one condition.
type exprParser struct {
	toks  []token
	pos   int
	depth int
}

// parseCondition compiles src, which must be a boolean expression.
func parseCondition(src string) (expr, error) {
	if len(src) > maxExprLength {
		return nil, &ExprError{0, fmt.Sprintf("condition is %d bytes long; the limit is %d", len(src), maxExprLength), ""}
	}
	if strings.TrimSpace(src) == "" {
		return nil, &ExprError{0, "empty condition", "remove the if key to run the job always"}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	x, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		hint := "join conditions with && or ||"
		if t.kind == tokRParen {
			hint = "remove it or add the matching ("
		}
		return nil, &ExprError{t.off, fmt.Sprintf("unexpected %s", t), hint}
	}
	if x.typ() != typeBool {
		return nil, &ExprError{0, "condition is a string, not a boolean",
			"compare it, e.g. branch == 'main', or test it, e.g. tag != ''"}
	}
	return x, nil
}

func (p *exprParser) peek() token { return p.toks[p.pos] }
func (p *exprParser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

// wantBool checks that an operand of a boolean operator is boolean.
func wantBool(x expr, t token, op string) error {
	if x.typ() == typeBool {
		return nil
	}
	return &ExprError{t.off, fmt.Sprintf("operand of %s is a string, not a boolean", op),
		"compare strings with == or !=, e.g. tag != ''"}
}

func (p *exprParser) or() (expr, error) {
	start := p.peek()
	x, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokOr {
		p.next()
		if err := wantBool(x, start, "||"); err != nil {
			return nil, err
		}
		rhs := p.peek()
		y, err := p.and()
		if err != nil {
			return nil, err
		}
		if err := wantBool(y, rhs, "||"); err != nil {
			return nil, err
		}
		x = binary{or: true, a: x, b: y}
	}
	return x, nil
}

func (p *exprParser) and() (expr, error) {
	start := p.peek()
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.peek().kind == tokAnd {
		p.next()
		if err := wantBool(x, start, "&&"); err != nil {
			return nil, err
		}
		rhs := p.peek()
		y, err := p.unary()
		if err != nil {
			return nil, err
		}
		if err := wantBool(y, rhs, "&&"); err != nil {
			return nil, err
		}
		x = binary{a: x, b: y}
	}
	return x, nil
}

func (p *exprParser) unary() (expr, error) {
	if p.peek().kind != tokNot {
		return p.compare()
	}
	p.next()
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	operand := p.peek()
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	if err := wantBool(x, operand, "!"); err != nil {
		return nil, err
	}
	return not{x}, nil
}

func (p *exprParser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return &ExprError{p.peek().off, fmt.Sprintf("condition is nested more than %d levels deep", maxExprDepth), ""}
	}
	return nil
}

func (p *exprParser) leave() { p.depth-- }

func (p *exprParser) compare() (expr, error) {
	lhs := p.peek()
	x, err := p.operand()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tokEq && t.kind != tokNeq {
		return x, nil
	}
	p.next()
	rhs := p.peek()
	y, err := p.operand()
	if err != nil {
		return nil, err
	}
	for _, side := range []struct {
		x expr
		t token
	}{{x, lhs}, {y, rhs}} {
		if side.x.typ() != typeString {
			return nil, &ExprError{side.t.off, fmt.Sprintf("%s compares strings, but this is a boolean", t),
				"combine booleans with && and ||, negate them with !"}
		}
	}
	if err := checkEventLiteral(x, y, rhs); err != nil {
		return nil, err
	}
	if err := checkEventLiteral(y, x, lhs); err != nil {
		return nil, err
	}
	if n := p.peek(); n.kind == tokEq || n.kind == tokNeq {
		return nil, &ExprError{n.off, fmt.Sprintf("unexpected %s after a comparison", n),
			"comparisons do not chain; join them with && or ||"}
	}
	return compare{neq: t.kind == tokNeq, a: x, b: y}, nil
}

// checkEventLiteral refuses comparing event with a string that is no event kind: such a
// comparison is always false, which is surely not what was meant.
func checkEventLiteral(a, b expr, bt token) error {
	id, ok := a.(ident)
	if !ok || id.name != "event" {
		return nil
	}
	lit, ok := b.(strLit)
	if !ok || slices.Contains(eventKinds, string(lit)) {
		return nil
	}
	return &ExprError{bt.off, fmt.Sprintf("event is never %q", string(lit)),
		didYouMean(string(lit), eventKinds, "events")}
}

func (p *exprParser) operand() (expr, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		return strLit(t.text), nil
	case tokLParen:
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, &ExprError{c.off, fmt.Sprintf("expected \")\", found %s", c),
				"add the missing )"}
		}
		return x, nil
	case tokIdent:
		if p.peek().kind == tokLParen {
			return p.call(t)
		}
		switch t.text {
		case "true":
			return boolLit(true), nil
		case "false":
			return boolLit(false), nil
		}
		get := identifier(t.text)
		if get == nil {
			return nil, &ExprError{t.off, fmt.Sprintf("unknown identifier %q", t.text),
				didYouMean(t.text, identifierNames, "identifiers")}
		}
		return ident{name: t.text, get: get}, nil
	case tokEOF:
		return nil, &ExprError{t.off, "condition ends too early", "complete the expression after the last operator"}
	}
	return nil, &ExprError{t.off, fmt.Sprintf("unexpected %s", t),
		"expected an identifier, a 'quoted string', a function call or ("}
}

func (p *exprParser) call(name token) (expr, error) {
	fn := function(name.text)
	if fn == nil {
		return nil, &ExprError{name.off, fmt.Sprintf("unknown function %q", name.text),
			didYouMean(name.text, functionNames, "functions")}
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.next() // (
	var args []expr
	var argToks []token
	for {
		if p.peek().kind == tokRParen && len(args) == 0 {
			break
		}
		argToks = append(argToks, p.peek())
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if x.typ() != typeString {
			return nil, &ExprError{argToks[len(argToks)-1].off,
				fmt.Sprintf("argument %d of %s is a boolean, not a string", len(args)+1, name.text), ""}
		}
		args = append(args, x)
		if p.peek().kind != tokComma {
			break
		}
		p.next()
	}
	if c := p.next(); c.kind != tokRParen {
		return nil, &ExprError{c.off, fmt.Sprintf("expected \",\" or \")\", found %s", c),
			fmt.Sprintf("close the call of %s with )", name.text)}
	}
	if len(args) != 2 {
		return nil, &ExprError{name.off, fmt.Sprintf("%s takes 2 arguments, not %d", name.text, len(args)),
			fmt.Sprintf("write %s", callExample(name.text))}
	}
	if name.text == "glob" {
		if lit, ok := args[0].(strLit); ok {
			if err := checkGlob(string(lit)); err != nil {
				return nil, &ExprError{argToks[0].off, fmt.Sprintf("bad glob pattern '%s': %v", string(lit), err),
					"patterns use path.Match syntax: * ? [a-z] and ** across slashes"}
			}
		}
	}
	return call{fn: fn, a: args[0], b: args[1]}, nil
}

func callExample(fn string) string {
	switch fn {
	case "glob":
		return "glob('release/*', branch)"
	case "contains":
		return "contains(branch, 'fix')"
	case "endsWith":
		return "endsWith(tag, '-rc')"
	}
	return "startsWith(branch, 'release/')"
}
