package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gpfed/gpfed/internal/nhsnumber"
	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/textrule"
)

// Request limits. maxBodyBytes caps the whole request: 10,000 characters of
// body can take up to 60,000 bytes when every one is a JSON \u escape.
const (
	maxBodyBytes    = 64 << 10
	maxSubjectChars = 200
	maxTaskBodyChar = 10000
	maxIdemKeyLen   = 255
)

// createTaskRequest is the body of POST /v1/tasks.
type createTaskRequest struct {
	RecipientODS     string `json:"recipient_ods"`
	PatientNHSNumber string `json:"patient_nhs_number"`
	Type             string `json:"type"`
	Priority         string `json:"priority"`
	Subject          string `json:"subject"`
	Body             string `json:"body"`
	DueDate          string `json:"due_date,omitempty"`

	present map[string]bool // fields given with a non-null value
}

var createTaskFields = map[string]bool{"recipient_ods": true, "patient_nhs_number": true, "type": true,
	"priority": true, "subject": true, "body": true, "due_date": true}

// requestError is a client error found before validation (400, 413, 415).
type requestError struct {
	status int
	detail string
	fields map[string]string
}

func (e *requestError) Error() string { return e.detail }

// decodeCreateTask reads a strict JSON object: exact field names, each at
// most once, nothing after it, the right JSON types, within maxBodyBytes.
func decodeCreateTask(w http.ResponseWriter, r *http.Request) (createTaskRequest, *requestError) {
	var req createTaskRequest
	present, rerr := readJSONBody(w, r, &req, createTaskFields, nil)
	if rerr != nil {
		return req, rerr
	}
	req.present = present
	return req, nil
}

// scanObject checks the top-level shape of raw and returns the fields that
// carry a non-null value. encoding/json alone would accept field names in
// any letter case, repeated fields (last wins) and trailing data.
func scanObject(raw []byte, allowed map[string]bool) (map[string]bool, *requestError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	bad := func(detail string) *requestError {
		return &requestError{status: http.StatusBadRequest, detail: detail}
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, bad(syntaxDetail(err, dec))
	}
	if tok != json.Delim('{') {
		return nil, bad("the request body must be a JSON object")
	}
	present := map[string]bool{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, bad(syntaxDetail(err, dec))
		}
		name, _ := tok.(string)
		if !allowed[name] {
			return nil, &requestError{status: http.StatusBadRequest, detail: "unknown field " + quoteField(name),
				fields: map[string]string{quoteField(name): "is not a field of this request"}}
		}
		if seen[name] {
			return nil, &requestError{status: http.StatusBadRequest, detail: "field " + name + " appears more than once",
				fields: map[string]string{name: "appears more than once"}}
		}
		seen[name] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad(syntaxDetail(err, dec))
		}
		if reason := rawTextProblem(v); reason != "" {
			return nil, &requestError{status: http.StatusBadRequest, detail: "field " + name + " " + reason,
				fields: map[string]string{name: reason}}
		}
		present[name] = string(v) != "null"
	}
	if _, err := dec.Token(); err != nil {
		return nil, bad(syntaxDetail(err, dec))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad("unexpected data after the JSON object")
	}
	if !utf8.Valid(raw) { // values were checked one by one: this is a field name
		return nil, bad("the request body is not valid UTF-8")
	}
	return present, nil
}

// quoteField shortens and sanitises an unknown field name before it is shown.
func quoteField(name string) string {
	if utf8.RuneCountInString(name) > 40 {
		name = string([]rune(name)[:40]) + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, name)
}

// syntaxDetail describes a JSON syntax error by position only, so the
// response never repeats the caller's data.
func syntaxDetail(err error, dec *json.Decoder) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the request body is empty or ends early; send a JSON object"
	}
	return fmt.Sprintf("the request body is not valid JSON (near byte %d)", dec.InputOffset())
}

// Validate checks the request for sender at now and puts the NHS number into
// its canonical 10-digit form. It returns field -> reason; none of the
// reasons repeats what the caller sent.
func (req *createTaskRequest) Validate(sender string, now time.Time) map[string]string {
	errs := map[string]string{}
	for _, f := range []string{"recipient_ods", "patient_nhs_number", "type", "priority", "subject", "body"} {
		if !req.present[f] {
			errs[f] = "is required"
		}
	}
	switch {
	case errs["recipient_ods"] != "":
	case !practice.ValidODS(req.RecipientODS):
		errs["recipient_ods"] = "must be an ODS code: 3 to 10 upper-case letters and digits"
	case req.RecipientODS == sender:
		errs["recipient_ods"] = "must not be the sending practice"
	}
	if errs["patient_nhs_number"] == "" {
		if nhs, err := nhsnumber.Parse(req.PatientNHSNumber); err != nil {
			errs["patient_nhs_number"] = err.Error()
		} else {
			req.PatientNHSNumber = nhs
		}
	}
	if errs["type"] == "" && req.Type != "information" && req.Type != "action-needed" {
		errs["type"] = "must be information or action-needed"
	}
	if errs["priority"] == "" && req.Priority != "routine" && req.Priority != "urgent" {
		errs["priority"] = "must be routine or urgent"
	}
	if errs["subject"] == "" {
		if reason := checkText(req.Subject, maxSubjectChars, false); reason != "" {
			errs["subject"] = reason
		} else if textrule.Blank(req.Subject) {
			errs["subject"] = "must not be blank (it needs a visible character)"
		}
	}
	if errs["body"] == "" {
		if reason := checkText(req.Body, maxTaskBodyChar, true); reason != "" {
			errs["body"] = reason
		}
	}
	if req.present["due_date"] {
		if reason := checkDueDate(req.DueDate, now); reason != "" {
			errs["due_date"] = reason
		}
	}
	return errs
}

// checkText limits length in characters (Unicode code points, as Postgres
// counts them) and applies the free-text rules (textrule.Problem): no
// control characters (Postgres cannot store NUL; people cannot read the
// rest), no bidirectional controls or invisible characters that make text
// read differently from what it says. Multi-line text may hold tab,
// newline and carriage return.
func checkText(s string, max int, multiline bool) string {
	if n := utf8.RuneCountInString(s); n > max {
		return fmt.Sprintf("must be at most %d characters (got %d)", max, n)
	}
	return textrule.Problem(s, multiline)
}

// maxDueAhead bounds how far ahead a due date may be: a task is work to
// do, not a recall, and a date years away is a typing error.
const maxDueAhead = 2 * 366 * 24 * time.Hour

// checkDueDate wants a calendar date from today to two years ahead in
// England. An absent due date is null, never "".
func checkDueDate(s string, now time.Time) string {
	d, err := time.ParseInLocation(time.DateOnly, s, ukZone)
	if err != nil || len(s) != len(time.DateOnly) {
		return "must be a date written YYYY-MM-DD, or null for none"
	}
	today := now.In(ukZone).Format(time.DateOnly)
	if d.Format(time.DateOnly) < today {
		return "must not be in the past (UK date " + today + ")"
	}
	if limit := now.In(ukZone).Add(maxDueAhead).Format(time.DateOnly); d.Format(time.DateOnly) > limit {
		return "must be within two years (at most " + limit + ")"
	}
	return ""
}

// hash is the SHA-256 of the canonical request (after Validate normalised
// it): the same task written twice hashes the same whatever the field order
// or spacing of the JSON, or the spacing of the NHS number.
func (req *createTaskRequest) hash() []byte {
	nhs := req.PatientNHSNumber
	if canon, err := nhsnumber.Parse(nhs); err == nil {
		nhs = canon
	}
	canon, _ := json.Marshal([]string{"v1", req.RecipientODS, nhs, req.Type, req.Priority, req.Subject, req.Body, req.DueDate})
	sum := sha256.Sum256(canon)
	return sum[:]
}

// idempotencyKey reads the optional Idempotency-Key header: 1 to 255
// visible ASCII characters, sent at most once.
func idempotencyKey(r *http.Request) (string, *requestError) {
	vals := r.Header.Values("Idempotency-Key")
	if len(vals) == 0 {
		return "", nil
	}
	bad := &requestError{status: http.StatusBadRequest,
		detail: "the Idempotency-Key header must be sent once, as 1 to 255 visible ASCII characters",
		fields: map[string]string{"Idempotency-Key": "must be 1 to 255 visible ASCII characters, sent once"}}
	if len(vals) > 1 || len(vals[0]) == 0 || len(vals[0]) > maxIdemKeyLen {
		return "", bad
	}
	for i := 0; i < len(vals[0]); i++ {
		if c := vals[0][i]; c < 0x21 || c > 0x7e {
			return "", bad
		}
	}
	return vals[0], nil
}
