package sds

import (
	"errors"
	"fmt"
	"strings"
)

// Kind classifies a failed lookup by what the caller should do about it.
type Kind int

const (
	// NotEnabled: SDS has no MHS record with this interaction for the ODS
	// code. The practice is not live for it (or the code is wrong): do not
	// call it, tell operators, look again next session. Not an error to retry.
	NotEnabled Kind = iota + 1
	// Inconsistent: several endpoints, no or several ASIDs, an unusable
	// address. Bad directory data: fail closed and report.
	Inconsistent
	// Unavailable: 429, 5xx, timeouts or network errors after every attempt.
	// The practice is unknown for this session; never fall back silently.
	Unavailable
	// Rejected: 400, 401, 404, 405, 406: gpfed's request, key or URL is wrong.
	Rejected
)

// Codes recorded as a practice's outcome (in the spine_code column) so that
// operators can tell SDS problems from provider problems.
var kindCodes = map[Kind]string{
	NotEnabled:   "SDS_NO_ENDPOINT",
	Inconsistent: "SDS_INCONSISTENT",
	Unavailable:  "SDS_UNAVAILABLE",
	Rejected:     "SDS_REJECTED",
}

// ErrNotEnabled matches (errors.Is) every NotEnabled *Error.
var ErrNotEnabled = errors.New("sds: no GP Connect endpoint for this interaction")

// Error is a failed lookup.
type Error struct {
	Kind        Kind
	ODS         string
	Interaction string
	Step        string // "Endpoint" or "Device"
	Status      int    // HTTP status of the last attempt, 0 when none arrived
	SpineCode   string // from SDS's OperationOutcome, when it sent one
	Diagnostics string
	Attempts    int
	Err         error
}

// Code is the outcome code for this failure, e.g. SDS_UNAVAILABLE.
func (e *Error) Code() string { return kindCodes[e.Kind] }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sds %s lookup for %s (%s): %s", e.Step, e.ODS, shortInteraction(e.Interaction), e.Code())
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.SpineCode != "" {
		b.WriteString(" " + e.SpineCode)
	}
	if e.Diagnostics != "" {
		d := e.Diagnostics
		if len(d) > 200 {
			d = d[:200] + "..."
		}
		fmt.Fprintf(&b, ": %s", d)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (attempts %d)", e.Attempts)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotEnabled) true for NotEnabled errors.
func (e *Error) Is(target error) bool { return target == ErrNotEnabled && e.Kind == NotEnabled }

// shortInteraction turns "urn:...:rest:search:slot-1" into "search:slot-1".
func shortInteraction(id string) string {
	if i := strings.LastIndex(id, ":rest:"); i >= 0 {
		return id[i+len(":rest:"):]
	}
	if i := strings.LastIndex(id, ":fhir:"); i >= 0 {
		return id[i+len(":fhir:"):]
	}
	return id
}
