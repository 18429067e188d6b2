package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawTask is a POST /v1/tasks body with field's JSON value given raw, so
// that a test can send bytes and escapes json.Marshal would never produce.
func rawTask(field, rawValue string) string {
	fields := map[string]string{
		"recipient_ods": `"` + odsB + `"`, "patient_nhs_number": `"` + nhsValid + `"`, "type": `"action-needed"`,
		"priority": `"urgent"`, "subject": `"Please review bloods"`, "body": `"` + secretBody + `"`,
	}
	fields[field] = rawValue
	var b strings.Builder
	b.WriteString("{")
	first := true
	for _, k := range []string{"recipient_ods", "patient_nhs_number", "type", "priority", "subject", "body", "due_date"} {
		v, ok := fields[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteString("}")
	return b.String()
}

// Issue 10, finding 2: invalid UTF-8 and lone surrogates were silently
// replaced with U+FFFD and accepted (202). Every text field now refuses
// them with 400 naming the field, and stores nothing.
func TestDamagedTextRefusedInEveryField(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	damaged := []struct{ name, raw string }{
		{"invalid UTF-8 byte", "\"abc\xffdef\""},
		{"truncated UTF-8 sequence", "\"abc\xe2\x82\""},
		{"encoded surrogate (CESU-8)", "\"a\xed\xa0\x80b\""},
		{"lone high surrogate escape", `"abc\ud800def"`},
		{"lone low surrogate escape", `"abc\udc00def"`},
		{"high surrogate at the end", `"abc\uD83D"`},
		{"reversed surrogate pair", `"\udc00\ud800"`},
		{"high surrogate then a letter escape", `"\ud800\u0041"`},
		{"high surrogate then an escaped backslash", `"\ud800\\u0041"`},
	}
	for _, field := range []string{"recipient_ods", "patient_nhs_number", "type", "priority", "subject", "body", "due_date"} {
		for _, d := range damaged {
			t.Run(field+"/"+d.name, func(t *testing.T) {
				res := f.do("POST", "/v1/tasks", f.keys[odsA], rawTask(field, d.raw))
				if res.status != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %s", res.status, res.body)
				}
				if r := res.reason(t); !strings.Contains(r, field+":") {
					t.Fatalf("the problem does not name %s: %s", field, r)
				}
			})
		}
	}
	// A real surrogate pair (an emoji) is text, not damage.
	if res := f.do("POST", "/v1/tasks", f.keys[odsA], rawTask("subject", `"Reviewed \ud83d\udc4d by Siân"`)); res.status != http.StatusAccepted {
		t.Fatalf("a valid surrogate pair was refused: %d %s", res.status, res.body)
	}
	if c := f.counts(); c[0] != 1 {
		t.Fatalf("%d tasks stored, want only the valid one", c[0])
	}
}

// Issue 10, finding 2: escapes that decode to characters no clinical text
// should hold were accepted: zero-width-only subjects passed "not blank",
// U+2028 passed "no line breaks", bidi controls were accepted, due_date ""
// and 9999-12-31 were accepted, charset=utf-16 was parsed as UTF-8.
func TestUnsafeCharactersAndDatesRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	future := time.Now().AddDate(3, 0, 0).Format(time.DateOnly)
	for _, c := range []struct {
		name, field, raw string
		status           int
	}{
		{"NUL in subject", "subject", `"a\u0000b"`, 422},
		{"escape sequence in body", "body", `"\u001b[2J cleared"`, 422},
		{"C1 control in body", "body", `"a\u0085b"`, 422},
		{"line separator in subject", "subject", `"one\u2028two"`, 422},
		{"paragraph separator in body", "body", `"one\u2029two"`, 422},
		{"right-to-left override in subject", "subject", `"dose 1\u202e01 mg"`, 422},
		{"isolate in body", "body", `"a\u2067b\u2069"`, 422},
		{"zero-width space in subject", "subject", `"a\u200bb"`, 422},
		{"BOM in body", "body", `"\ufeffbody"`, 422},
		{"replacement character in body", "body", `"damaged \ufffd text"`, 422},
		{"only zero-width joiners", "subject", `"\u200c\u200d"`, 422},
		{"only ideographic spaces", "subject", `"\u3000\u3000"`, 422},
		{"noncharacter in subject", "subject", `"a\uffffb"`, 422},
		{"due_date empty string", "due_date", `""`, 422},
		{"due_date 9999-12-31", "due_date", `"9999-12-31"`, 422},
		{"due_date three years ahead", "due_date", `"` + future + `"`, 422},
		{"NUL in recipient", "recipient_ods", `"B81016\u0000"`, 422},
		{"fullwidth digits in NHS number", "patient_nhs_number", `"９６５８２１８８７３"`, 422},
		{"recipient with bidi", "recipient_ods", `"\u202eB81016"`, 422},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := f.do("POST", "/v1/tasks", f.keys[odsA], rawTask(c.field, c.raw))
			if res.status != c.status {
				t.Fatalf("status %d, want %d: %s", res.status, c.status, res.body)
			}
			if r := res.reason(t); !strings.Contains(r, c.field+":") {
				t.Fatalf("the problem does not name %s: %s", c.field, r)
			}
		})
	}
	for _, ct := range []string{"application/json; charset=utf-16", "application/json; charset=UTF-16LE", "application/json; charset=latin1"} {
		res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(), "Content-Type", "<unset>", "Content-Type", ct)
		if res.status != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: status %d, want 415", ct, res.status)
		}
	}
	if c := f.counts(); c[0] != 0 {
		t.Fatalf("%d tasks stored from refused requests", c[0])
	}
	for _, ok := range []string{"application/json; charset=utf-8", "application/json; charset=UTF-8"} {
		if res := f.do("POST", "/v1/tasks", f.keys[odsA], taskBody(), "Content-Type", "<unset>", "Content-Type", ok); res.status != http.StatusAccepted {
			t.Errorf("Content-Type %q refused: %d %s", ok, res.status, res.body)
		}
	}
	for _, ok := range []string{`"Siân Llŵyd: review \u00e9"`, `"مراجعة\u200cالدم"`} {
		if res := f.do("POST", "/v1/tasks", f.keys[odsA], rawTask("subject", ok)); res.status != http.StatusAccepted {
			t.Errorf("subject %s refused: %d %s", ok, res.status, res.body)
		}
	}
	if res := f.do("POST", "/v1/tasks", f.keys[odsA], rawTask("due_date", "null")); res.status != http.StatusAccepted {
		t.Errorf("due_date null refused: %d %s", res.status, res.body)
	}
}
