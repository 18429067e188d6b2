package gpconnect

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a small JSON reader for the Bundle decoder: it walks the bytes once, materialises
// only the strings gpfed keeps and validates everything it skips, so an invalid document is still
// rejected as a whole. It exists because reflection-based decoding was half of a sync's CPU.
type scanner struct {
	data  []byte
	pos   int
	depth int
	buf   []byte // scratch for strings with escapes
}

// maxDepth bounds nesting as encoding/json does, so hostile input cannot exhaust the stack.
const maxDepth = 10000

var errEndOfInput = errors.New("unexpected end of JSON input")

func (s *scanner) fail(what string) error {
	if s.pos >= len(s.data) {
		return errEndOfInput
	}
	return fmt.Errorf("invalid JSON at offset %d: %s", s.pos, what)
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end) without consuming it.
func (s *scanner) peek() byte {
	s.ws()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

// object calls member for each key of the object at pos; member must consume the value.
func (s *scanner) object(member func(key []byte) error) error {
	if s.peek() != '{' {
		return s.fail("want an object")
	}
	s.pos++
	if s.depth++; s.depth > maxDepth {
		return s.fail("nesting too deep")
	}
	defer func() { s.depth-- }()
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.peek() != '"' {
			return s.fail("want a member name")
		}
		key, err := s.str()
		if err != nil {
			return err
		}
		if s.peek() != ':' {
			return s.fail("want ':'")
		}
		s.pos++
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("want ',' or '}'")
		}
	}
}

// array calls elem for each element of the array at pos; elem must consume the value.
func (s *scanner) array(elem func() error) error {
	if s.peek() != '[' {
		return s.fail("want an array")
	}
	s.pos++
	if s.depth++; s.depth > maxDepth {
		return s.fail("nesting too deep")
	}
	defer func() { s.depth-- }()
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.fail("want ',' or ']'")
		}
	}
}

// skip consumes and validates any value.
func (s *scanner) skip() error {
	switch s.peek() {
	case '{':
		return s.object(func([]byte) error { return s.skip() })
	case '[':
		return s.array(s.skip)
	case '"':
		_, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	return s.number()
}

func (s *scanner) literal(word string) error {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return s.fail("invalid literal")
	}
	s.pos += len(word)
	return nil
}

// null consumes a null if one is next.
func (s *scanner) null() bool {
	if s.peek() == 'n' && s.literal("null") == nil {
		return true
	}
	return false
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	start := s.pos
	if s.pos < len(s.data) && s.data[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(s.data) && s.data[s.pos] == '0':
		s.pos++
	case s.digits() == 0:
		s.pos = start
		return s.fail("invalid value")
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.fail("invalid number")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
		n++
	}
	return n
}

// strStop marks the bytes that end the fast scan of a string: the closing quote, an escape, a
// control character (invalid) and the start of a multi-byte UTF-8 sequence.
var strStop = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// str consumes a string at pos and returns its decoded bytes. The result aliases the input when
// the string is plain ASCII without escapes, else the scanner's scratch buffer: either way it is
// only valid until the next call, so keep it with string(b).
func (s *scanner) str() ([]byte, error) {
	s.pos++ // opening quote
	start, data := s.pos, s.data
	i := start
	for i < len(data) && !strStop[data[i]] {
		i++
	}
	if i < len(data) && data[i] == '"' {
		s.pos = i + 1
		return data[start:i], nil
	}
	for i < len(data) {
		switch c := data[i]; {
		case c == '"':
			s.pos = i + 1
			return s.unquote(data[start:i])
		case c == '\\':
			i += 2
		case c < 0x20:
			s.pos = i
			return nil, s.fail("control character in string")
		default:
			i++
		}
	}
	s.pos = len(data)
	return nil, errEndOfInput
}

// unquote decodes escapes and replaces invalid UTF-8 byte by byte with U+FFFD, as encoding/json
// does, so stored text is always valid UTF-8.
func (s *scanner) unquote(raw []byte) ([]byte, error) {
	b := s.buf[:0]
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			n, out, err := unescape(raw[i:], b)
			if err != nil {
				return nil, s.fail(err.Error())
			}
			b, i = out, i+n
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(raw[i:])
			b = utf8.AppendRune(b, r) // RuneError (U+FFFD) for an invalid byte, size 1
			i += size
		}
	}
	s.buf = b
	return b, nil
}

// unescape decodes the escape at the start of raw, appending to b; it returns the bytes consumed.
func unescape(raw, b []byte) (int, []byte, error) {
	if len(raw) < 2 {
		return 0, b, errors.New("bad escape")
	}
	switch raw[1] {
	case '"', '\\', '/':
		return 2, append(b, raw[1]), nil
	case 'b':
		return 2, append(b, '\b'), nil
	case 'f':
		return 2, append(b, '\f'), nil
	case 'n':
		return 2, append(b, '\n'), nil
	case 'r':
		return 2, append(b, '\r'), nil
	case 't':
		return 2, append(b, '\t'), nil
	case 'u':
		r, ok := hex4(raw[2:])
		if !ok {
			return 0, b, errors.New("bad \\u escape")
		}
		if utf16.IsSurrogate(r) {
			if len(raw) >= 12 && raw[6] == '\\' && raw[7] == 'u' {
				if r2, ok := hex4(raw[8:]); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						return 12, utf8.AppendRune(b, dec), nil
					}
				}
			}
			r = utf8.RuneError
		}
		return 6, utf8.AppendRune(b, r), nil
	}
	return 0, b, errors.New("bad escape")
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
