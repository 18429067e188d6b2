package booking

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/store"
)

// Refusal is a booking request that did not book: why, as an HTTP status
// and a reason a person can act on. Diagnostics are the practice's own
// words; Field names the request field to change, if one is at fault.
type Refusal struct {
	Status       int
	Reason       string
	Field        string
	SpineCode    string
	Diagnostics  string
	Booking      *store.Booking // the failed booking, when the practice was asked to book
	Alternatives []store.FreeSlot
}

func (r *Refusal) Error() string {
	if r.SpineCode != "" {
		return fmt.Sprintf("booking refused (%d %s): %s", r.Status, r.SpineCode, r.Reason)
	}
	return fmt.Sprintf("booking refused (%d): %s", r.Status, r.Reason)
}

// UnrecordedError is a booking whose practice call was made but whose
// outcome gpfed could not record (its database failed): the booking stays
// pending, the reconciler settles it, and a retry with the same
// Idempotency-Key returns it once settled.
type UnrecordedError struct {
	BookingID uuid.UUID
	Err       error
}

func (e *UnrecordedError) Error() string {
	return "booking " + e.BookingID.String() + ": outcome not recorded: " + e.Err.Error()
}

func (e *UnrecordedError) Unwrap() error { return e.Err }

func refuse(status int, field, reason string) *Refusal {
	return &Refusal{Status: status, Field: field, Reason: reason}
}

func unprocessable(field, reason string) *Refusal {
	return refuse(http.StatusUnprocessableEntity, field, reason)
}

// nhsLike matches what could be an NHS number in a practice's free text,
// written together or as 3-3-4 groups.
var nhsLike = regexp.MustCompile(`\b[0-9]{3}[ -]?[0-9]{3}[ -]?[0-9]{4}\b`)

// scrub removes anything that looks like an NHS number from a practice's
// diagnostics before gpfed stores, logs or shows them, and bounds their length.
func scrub(s string) string {
	s = nhsLike.ReplaceAllString(s, "[number removed]")
	if len(s) > 500 {
		s = truncate(s, 500) + "..."
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

// directoryRefusal answers a call gpfed could not make because the
// practice's GP Connect endpoint for it could not be found (the Spine
// Directory Service lists none, could not be reached or gave unusable
// data, or the practice has no override and no directory is configured);
// nil for any other failure. Nothing was sent to the practice.
func directoryRefusal(code, what string) *Refusal {
	var r *Refusal
	switch code {
	case "SDS_NO_ENDPOINT":
		r = unprocessable("slot_id", "the practice is not enabled for GP Connect to "+what+
			" (the Spine Directory Service lists no endpoint for it); nothing was booked: book by phone")
	case "SDS_UNAVAILABLE":
		r = refuse(http.StatusServiceUnavailable, "", "the Spine Directory Service did not answer, so gpfed could not find "+
			"the practice's GP Connect endpoint to "+what+"; nothing was booked, try again")
	case "SDS_INCONSISTENT", "SDS_REJECTED", gpconnect.CodeNoEndpoint:
		r = refuse(http.StatusBadGateway, "", "gpfed could not find the practice's GP Connect endpoint to "+what+" ("+code+
			"); nothing was booked. The federation's administrators can check it with `gpfed practices discover`")
	default:
		return nil
	}
	r.SpineCode = code
	return r
}
