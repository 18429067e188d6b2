// Package textrule holds the rules free text must follow before gpfed
// stores it or shows it to a person: clinical text (task subjects and
// bodies) and registry text (practice names). Text that breaks them is
// refused with a reason, never repaired: a silently "fixed" clinical
// message is a different message.
package textrule

import (
	"unicode"
	"unicode/utf8"
)

// Problem says what is wrong with s, or "" when it is acceptable. Text must
// be valid UTF-8 without the replacement character (a sign that it was
// damaged on the way), control characters (multiline text may hold tab,
// newline and carriage return), Unicode line or paragraph separators,
// bidirectional controls (which can make text read differently from what
// it says) or invisible formatting characters. Zero-width joiner and
// non-joiner stay allowed: several scripts, and emoji, need them.
func Problem(s string, multiline bool) string {
	if !utf8.ValidString(s) {
		return "must be valid UTF-8"
	}
	for _, r := range s {
		if reason := runeProblem(r, multiline); reason != "" {
			return reason
		}
	}
	return ""
}

func runeProblem(r rune, multiline bool) string {
	switch {
	case multiline && (r == '\t' || r == '\n' || r == '\r'):
		return ""
	case r == utf8.RuneError:
		return "must not contain U+FFFD, the replacement character (the text was damaged before it was sent)"
	case unicode.IsControl(r):
		if multiline {
			return "must not contain control characters other than tab, newline and carriage return"
		}
		return "must not contain control characters or line breaks"
	case r == '\u2028' || r == '\u2029':
		if multiline {
			return "must not contain Unicode line or paragraph separators (use \\n)"
		}
		return "must not contain line breaks (including U+2028 and U+2029)"
	case isBidiControl(r):
		return "must not contain bidirectional control characters (such as U+202E), which can disguise text"
	case isInvisible(r):
		return "must not contain invisible formatting characters (such as U+200B or U+FEFF)"
	case r == 0xFFFE || r == 0xFFFF:
		return "must not contain Unicode noncharacters"
	}
	return ""
}

func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' || (r >= '\u202A' && r <= '\u202E') ||
		(r >= '\u2066' && r <= '\u2069')
}

// isInvisible covers format characters that render as nothing and have no
// place in clinical text. ZWJ/ZWNJ (U+200C, U+200D) are deliberately not
// here.
func isInvisible(r rune) bool {
	switch {
	case r == '\u00AD', r == '\u180E', r == '\u200B', r == '\u2060', r == '\uFEFF':
		return true
	case r >= '\u2061' && r <= '\u2064', r >= '\uFFF9' && r <= '\uFFFB', r >= 0xE0000 && r <= 0xE007F:
		return true
	}
	return false
}

// Blank reports whether s shows nothing: no letter, mark, digit,
// punctuation or symbol, only spaces and zero-width characters.
func Blank(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			return false
		}
	}
	return true
}

// Printable returns s with every rune Problem would refuse replaced by
// '?': for showing stored text that predates the rules (a terminal must
// never receive escape sequences from data).
func Printable(s string) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD, replaced below
	}
	out := []rune(s)
	for i, r := range out {
		if runeProblem(r, false) != "" {
			out[i] = '?'
		}
	}
	return string(out)
}
