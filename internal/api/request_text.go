package api

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// checkJSONContentType wants application/json in UTF-8: a charset
// parameter, if any, must say utf-8 (RFC 8259 allows nothing else, and a
// body parsed in the wrong encoding is a different message).
func checkJSONContentType(r *http.Request) *requestError {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &requestError{status: http.StatusUnsupportedMediaType,
			detail: "send the request body as JSON with Content-Type: application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return &requestError{status: http.StatusUnsupportedMediaType,
			detail: "the request body must be UTF-8 JSON (charset=utf-8 or no charset)"}
	}
	return nil
}

// rawTextProblem checks one raw JSON value before it is decoded, because
// encoding/json silently replaces invalid UTF-8 and unpaired surrogate
// escapes with U+FFFD: the stored text would not be what was sent. It
// returns a reason, or "".
func rawTextProblem(v json.RawMessage) string {
	if !utf8.Valid(v) {
		return "is not valid UTF-8"
	}
	if lonelySurrogate(v) {
		return "holds a \\u escape of a lone UTF-16 surrogate (U+D800 to U+DFFF without its pair)"
	}
	return ""
}

// lonelySurrogate reports whether a JSON value has a \uD800-\uDFFF escape
// that is not a high surrogate immediately followed by a low one.
func lonelySurrogate(v []byte) bool {
	inString := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case !inString:
			inString = c == '"'
		case c == '"':
			inString = false
		case c == '\\' && i+1 < len(v):
			if v[i+1] != 'u' {
				i++ // an escaped character, perhaps \\ or \"
				continue
			}
			r, ok := hex4(v, i+2)
			if !ok {
				return false // a syntax error the decoder reports
			}
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return true
			case r >= 0xD800 && r <= 0xDBFF:
				lo, ok := hex4(v, i+8)
				if i+7 >= len(v) || v[i+6] != '\\' || v[i+7] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
					return true
				}
				i += 11
				continue
			}
			i += 5
		}
	}
	return false
}

func hex4(v []byte, at int) (rune, bool) {
	if at+4 > len(v) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(v[at:at+4]), 16, 32)
	return rune(n), err == nil
}
