package pipeline

import (
	"errors"
	"strings"
	"testing"
)

func TestConditionEval(t *testing.T) {
	push := Event{Kind: EventPush, Branch: "release/1.2", Ref: "refs/heads/release/1.2", Commit: "abc"}
	tag := Event{Kind: EventPush, Tag: "v1.0.0", Ref: "refs/tags/v1.0.0"}
	pr := Event{Kind: EventPullRequest, Branch: "fix/x", BaseBranch: "main"}
	tests := []struct {
		name string
		src  string
		ev   Event
		want bool
	}{
		{"equal", "branch == 'release/1.2'", push, true},
		{"double quotes", `branch == "release/1.2"`, push, true},
		{"not equal", "branch != 'main'", push, true},
		{"literal on the left", "'push' == event", push, true},
		{"and", "event == 'push' && commit == 'abc'", push, true},
		{"and false", "event == 'push' && commit == 'x'", push, false},
		{"or", "branch == 'main' || tag != ''", tag, true},
		{"not", "!(branch == 'main')", push, true},
		{"double not", "!!true", push, true},
		{"and binds tighter than or", "true || false && false", push, true},
		{"parentheses override", "(true || false) && false", push, false},
		{"not binds tighter than and", "!false && false", push, false},
		{"startsWith", "startsWith(ref, 'refs/tags/')", tag, true},
		{"endsWith", "endsWith(tag, '.0')", tag, true},
		{"contains", "contains(branch, '1.')", push, true},
		{"glob star", "glob('release/*', branch)", push, true},
		{"glob star not across slash", "glob('*', branch)", push, false},
		{"glob doublestar", "glob('**/1.2', branch)", push, true},
		{"glob with identifier pattern", "glob(branch, 'release/1.2')", push, true},
		{"base branch", "base_branch == 'main' && event == 'pull_request'", pr, true},
		{"empty identifier", "tag == ''", push, true},
		{"function of comparison result nested", "!contains(branch, 'wip') && (startsWith(branch, 'release/') || branch == 'main')", push, true},
		{"whitespace", "  branch\t==\n'release/1.2'  ", push, true},
		{"false literal", "false", push, false},
		{"string with other quote", `commit != "it's"`, push, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, err := parseCondition(tt.src)
			if err != nil {
				t.Fatalf("parseCondition(%q): %v", tt.src, err)
			}
			if got := x.truth(&tt.ev); got != tt.want {
				t.Errorf("%q on %+v = %v, want %v", tt.src, tt.ev, got, tt.want)
			}
		})
	}
}

func TestConditionErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		offset  int
		message string // substring
	}{
		{"empty", "   ", 0, "empty condition"},
		{"unterminated", "branch == 'main", 10, "unterminated string"},
		{"single equals", "branch = 'main'", 7, `unexpected "="`},
		{"single ampersand", "true & false", 5, `unexpected "&"`},
		{"single bar", "true | false", 5, `unexpected "|"`},
		{"unknown identifier", "brnch == 'x'", 0, `unknown identifier "brnch"`},
		{"unknown function", "matches(branch, 'x')", 0, `unknown function "matches"`},
		{"string condition", "branch", 0, "condition is a string"},
		{"string operand of and", "true && tag", 8, "operand of && is a string"},
		{"string operand of or", "tag || true", 0, "operand of || is a string"},
		{"string operand of not", "!tag", 1, "operand of ! is a string"},
		{"comparing booleans", "true == 'x'", 0, "compares strings"},
		{"chained comparison", "tag == 'a' != 'b'", 11, "after a comparison"},
		{"unknown event", "event == 'tag'", 9, `event is never "tag"`},
		{"unknown event on the left", "'cron' != event", 0, `event is never "cron"`},
		{"missing paren", "(true", 5, `expected ")"`},
		{"extra paren", "true)", 4, `unexpected ")"`},
		{"two operands", "tag 'x'", 4, "unexpected string"},
		{"too few args", "contains(tag)", 0, "takes 2 arguments, not 1"},
		{"no args", "contains()", 0, "takes 2 arguments, not 0"},
		{"too many args", "contains(tag, 'a', 'b')", 0, "takes 2 arguments, not 3"},
		{"boolean argument", "contains(true, 'a')", 9, "argument 1 of contains is a boolean"},
		{"unclosed call", "contains(tag, 'a'", 17, `expected "," or ")"`},
		{"bad glob literal", "glob('[', tag)", 5, "bad glob pattern"},
		{"dangling operator", "true &&", 7, "ends too early"},
		{"bad character", "tag == 'a' ; true", 11, "unexpected character"},
		{"number", "tag == 1", 7, "unexpected character"},
		{"too deep", strings.Repeat("(", 60) + "true" + strings.Repeat(")", 60), 51, "nested more than"},
		{"too deep not", strings.Repeat("!", 60) + "true", 51, "nested more than"},
		{"too long", "tag == '" + strings.Repeat("a", maxExprLength) + "'", 0, "the limit is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCondition(tt.src)
			var ee *ExprError
			if !errors.As(err, &ee) {
				t.Fatalf("parseCondition(%q) = %v, want an *ExprError", tt.src, err)
			}
			if !strings.Contains(ee.Message, tt.message) || ee.Offset != tt.offset {
				t.Errorf("parseCondition(%q) = offset %d %q, want offset %d and %q", tt.src, ee.Offset, ee.Message, tt.offset, tt.message)
			}
		})
	}
}
