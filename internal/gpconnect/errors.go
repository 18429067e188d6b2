package gpconnect

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Spine-style codes this client assigns itself when no OperationOutcome applies.
const (
	CodeTimeout           = "TIMEOUT"
	CodeNetwork           = "NETWORK"
	CodeCancelled         = "CANCELLED"
	CodeMalformedResponse = "MALFORMED_RESPONSE"
	CodeResponseTooLarge  = "RESPONSE_TOO_LARGE"
)

// Error is a failed GP Connect call after all attempts. Status is 0 when no HTTP response arrived
// (SpineCode TIMEOUT, NETWORK or CANCELLED). SpineCode otherwise comes from the provider's
// OperationOutcome, or is MALFORMED_RESPONSE / RESPONSE_TOO_LARGE for unusable 2xx bodies.
type Error struct {
	Status      int
	SpineCode   string
	Diagnostics string
	TraceID     string // Ssp-TraceID of the last attempt
	Interaction string
	Attempts    int
	Retryable   bool // the last failure was transient; a later sync may succeed
	// NotSent is true when no HTTP response arrived and the request never
	// fully reached the wire (connection refused, cancelled while queued):
	// a write cannot have taken effect.
	NotSent bool
	Err     error
}

// OutcomeUnknown reports whether a write (book, register, cancel) that
// failed this way may nevertheless have taken effect at the provider: the
// request was sent and the answer was lost (timeout, reset), was a 5xx, or
// was a 2xx gpfed could not use. GP Connect has no idempotency key for
// writes, so such a write must be reconciled by reading, never repeated.
func (e *Error) OutcomeUnknown() bool {
	switch {
	case e.Status == 0:
		return !e.NotSent
	case e.Status >= 500:
		return true
	case e.Status >= 200 && e.Status < 300:
		return true
	}
	return false
}

// maxDiagnostics keeps provider free text from flooding logs that print the error.
const maxDiagnostics = 200

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("gpconnect ")
	b.WriteString(shortInteraction(e.Interaction))
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	} else {
		b.WriteString(": no response")
	}
	if e.SpineCode != "" {
		b.WriteString(" " + e.SpineCode)
	}
	if d := e.Diagnostics; d != "" {
		if len(d) > maxDiagnostics {
			d = d[:maxDiagnostics] + "..."
		}
		fmt.Fprintf(&b, ": %q", d)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	fmt.Fprintf(&b, " (trace %s, attempts %d)", e.TraceID, e.Attempts)
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// shortInteraction turns "urn:...:rest:search:slot-1" into "search:slot-1" and
// "urn:...:operation:gpc.registerpatient-1" into "gpc.registerpatient-1".
func shortInteraction(id string) string {
	if i := strings.LastIndex(id, ":rest:"); i >= 0 {
		return id[i+len(":rest:"):]
	}
	if i := strings.LastIndex(id, ":operation:"); i >= 0 {
		return id[i+len(":operation:"):]
	}
	return id
}

// retryableStatus follows GPCONNECT.md section 4: SSP throttling, provider faults and SSP
// "provider unreachable / timed out" are transient; every 4xx means our request is wrong or the
// practice refuses, and repeating it cannot help.
func retryableStatus(status int) bool {
	switch status {
	case 429, 500, 502, 503, 504, 599:
		return true
	}
	return false
}

// ParseError is returned by ParseSlotBundle (and wrapped in *Error as MALFORMED_RESPONSE by the
// client) when a body is not a usable FHIR resource.
type ParseError struct {
	Reason string
	Err    error
}

func (e *ParseError) Error() string {
	if e.Err != nil {
		return "parse gp connect response: " + e.Reason + ": " + e.Err.Error()
	}
	return "parse gp connect response: " + e.Reason
}

func (e *ParseError) Unwrap() error { return e.Err }

type operationOutcome struct {
	ResourceType string `json:"resourceType"`
	Issue        []struct {
		Details struct {
			Coding []struct {
				Code string `json:"code"`
			} `json:"coding"`
		} `json:"details"`
		Diagnostics string `json:"diagnostics"`
	} `json:"issue"`
}

// ParseOperationOutcome extracts the Spine code (issue[0].details.coding[0].code) and diagnostics
// from a GP Connect OperationOutcome. ok is false if data is not an OperationOutcome.
func ParseOperationOutcome(data []byte) (code, diagnostics string, ok bool) {
	var oo operationOutcome
	if err := json.Unmarshal(data, &oo); err != nil || oo.ResourceType != "OperationOutcome" {
		return "", "", false
	}
	if len(oo.Issue) == 0 {
		return "", "", true
	}
	issue := oo.Issue[0]
	if len(issue.Details.Coding) > 0 {
		code = issue.Details.Coding[0].Code
	}
	return code, issue.Diagnostics, true
}
