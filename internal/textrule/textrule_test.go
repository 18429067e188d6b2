package textrule_test

import (
	"strings"
	"testing"

	"github.com/gpfed/gpfed/internal/textrule"
)

func TestProblem(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		in        string
		multiline bool
		ok        bool
	}{
		{"plain", "Please review bloods", false, true},
		{"accents and Welsh", "Siân Llŵyd, Zoë", false, true},
		{"ZWNJ in Persian", "می\u200cخواهم", false, true},
		{"emoji with ZWJ", "👩\u200d⚕️ review", false, true},
		{"newline in body", "line one\nline two\r\n\ttabbed", true, true},
		{"newline in subject", "line one\nline two", false, false},
		{"invalid UTF-8", "caf\xe9", false, false},
		{"encoded lone surrogate", "a\xed\xa0\x80b", true, false},
		{"replacement character", "bad \uFFFD text", true, false},
		{"NUL", "a\x00b", true, false},
		{"escape sequence", "\x1b[2Jgone", true, false},
		{"DEL", "a\x7fb", false, false},
		{"C1 control", "a\u0085b", true, false},
		{"line separator", "a\u2028b", false, false},
		{"paragraph separator in body", "a\u2029b", true, false},
		{"right-to-left override", "dose 1\u202E01 mg", true, false},
		{"isolate", "a\u2066b\u2069", false, false},
		{"zero-width space", "a\u200Bb", false, false},
		{"BOM", "\uFEFFsubject", false, false},
		{"tag characters", "a\U000E0041b", false, false},
		{"noncharacter", "a\uFFFFb", false, false},
	} {
		got := textrule.Problem(c.in, c.multiline)
		if (got == "") != c.ok {
			t.Errorf("%s: Problem(%q) = %q, want ok=%t", c.name, c.in, got, c.ok)
		}
		if got != "" && strings.Contains(got, c.in) {
			t.Errorf("%s: the reason repeats the text", c.name)
		}
	}
}

func TestBlank(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":              true,
		"   \t":         true,
		"\u200c\u200d":  true,
		"\u3000\u00a0":  true,
		"x":             false,
		"?":             false,
		"£":             false,
		"\u200d\u200dA": false,
		"\u0301":        false,
	} {
		if got := textrule.Blank(in); got != want {
			t.Errorf("Blank(%q) = %t, want %t", in, got, want)
		}
	}
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	if got := textrule.Printable("Evil\x1b]0;pwned\x07 Surgery\u202E\xff"); got != "Evil?]0;pwned? Surgery??" {
		t.Fatalf("Printable = %q", got)
	}
}
