package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/booking"
	"github.com/gpfed/gpfed/internal/freeslot"
	"github.com/gpfed/gpfed/internal/store"
)

// routesBookings registers free slot search (practice and admin keys) and
// the practice booking API. Without a booking service (s.Booking nil) the
// booking routes are not served.
func (s *Server) routesBookings(mux router) {
	mux.HandleFunc("GET /v1/slots", s.auditedRoles([]string{store.RolePractice, store.RoleAdmin}, "slot.search", s.listSlots))
	mux.HandleFunc("/v1/slots", methodNotAllowed(http.MethodGet))
	if s.Booking == nil {
		return
	}
	practice := func(action string, h http.HandlerFunc) http.HandlerFunc {
		return s.audited(store.RolePractice, action, h)
	}
	mux.HandleFunc("POST /v1/bookings", practice("booking.create", s.createBooking))
	mux.HandleFunc("GET /v1/bookings", practice("booking.list", s.listBookings))
	mux.HandleFunc("/v1/bookings", methodNotAllowed(http.MethodGet, http.MethodPost))
	mux.HandleFunc("GET /v1/bookings/{id}", practice("booking.read", s.getBooking))
	mux.HandleFunc("/v1/bookings/{id}", methodNotAllowed(http.MethodGet))
	mux.HandleFunc("POST /v1/bookings/{id}/cancel", practice("booking.cancel", s.cancelBooking))
	mux.HandleFunc("/v1/bookings/{id}/cancel", methodNotAllowed(http.MethodPost))
}

// createBooking books a slot: 201 booked, 202 unconfirmed (a job settles
// it), 200 for an Idempotency-Key replay, or a problem (409 with
// alternatives for a taken slot, 422, 403, 502 from the practice).
func (s *Server) createBooking(w http.ResponseWriter, r *http.Request) {
	caller := caller(r).ODSCode
	key, rerr := idempotencyKey(r)
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	var req createBookingRequest
	present, rerr := readJSONBody(w, r, &req, createBookingFields,
		map[string]map[string]bool{"booked_by": personFields, "patient": patientFields})
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	req.present = present
	if errs := req.Validate(s.Now()); len(errs) > 0 {
		s.rejectedBooking(r, caller, errs)
		writeProblem(w, http.StatusUnprocessableEntity, "Unprocessable Content",
			fieldsDetail("the booking was not made", []string{"slot_id", "patient_nhs_number", "description", "comment",
				"booked_by", "register_if_needed", "patient"}, errs), errs)
		return
	}
	res, err := s.Booking.Book(r.Context(), booking.Request{CallerODS: caller, HostODS: req.hostODS, SlotID: req.slotID,
		PatientNHSNumber: req.PatientNHSNumber, Description: req.Description, Comment: req.Comment,
		BookedBy: req.BookedBy.store(), RegisterIfNeeded: req.RegisterIfNeeded, Patient: req.demographics(),
		IdempotencyKey: key, RequestHash: req.hash()})
	if err != nil {
		s.bookingError(w, r, err)
		return
	}
	auditResources(r, res.Booking.ID.String())
	w.Header().Set("Location", "/v1/bookings/"+res.Booking.ID.String())
	status := http.StatusCreated
	switch {
	case res.Replayed:
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	case res.Booking.State == store.BookingUnconfirmed:
		status = http.StatusAccepted
	}
	s.writeBooking(w, r, status, res.Booking)
}

// bookingError answers a booking that was not made.
func (s *Server) bookingError(w http.ResponseWriter, r *http.Request, err error) {
	var ref *booking.Refusal
	var unrec *booking.UnrecordedError
	switch {
	case errors.As(err, &ref):
		writeRefusal(w, ref)
	case errors.As(err, &unrec):
		s.Log.ErrorContext(r.Context(), "booking outcome not recorded; the reconciler will settle it", "booking_id", unrec.BookingID, "error", err)
		w.Header().Set("Retry-After", "30")
		w.Header().Set("Location", "/v1/bookings/"+unrec.BookingID.String())
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		writeBody(w, bookingProblem{Problem: Problem{Type: "about:blank", Title: "Service Unavailable", Status: http.StatusServiceUnavailable,
			Detail: "the practice was asked to book, but gpfed could not record its answer; the booking will be settled " +
				"with the practice: read it at Location, or retry with the same Idempotency-Key for its outcome"},
			BookingID: unrec.BookingID.String()})
	case errors.Is(err, store.ErrIdempotencyMismatch):
		writeProblem(w, http.StatusConflict, "Conflict",
			"this Idempotency-Key was already used for a different request; use a new key for a new booking",
			map[string]string{"Idempotency-Key": "was already used with a different request body"})
	case errors.Is(err, store.ErrBookingInProgress):
		w.Header().Set("Retry-After", "1")
		writeProblem(w, http.StatusConflict, "Conflict",
			"the first request with this Idempotency-Key is still booking at the practice; retry shortly for its outcome", nil)
	default:
		s.unavailable(w, r, err)
	}
}

func writeRefusal(w http.ResponseWriter, ref *booking.Refusal) {
	p := bookingProblem{Problem: Problem{Type: "about:blank", Title: http.StatusText(ref.Status), Status: ref.Status,
		Detail: ref.Reason}, SpineCode: ref.SpineCode, Diagnostics: ref.Diagnostics}
	if ref.Field != "" {
		p.Errors = map[string]string{ref.Field: ref.Reason}
	}
	if ref.Booking != nil {
		p.BookingID = ref.Booking.ID.String()
		w.Header().Set("Location", "/v1/bookings/"+p.BookingID)
	}
	if ref.Status == http.StatusConflict {
		alts := make([]freeslot.View, 0, len(ref.Alternatives))
		for _, a := range ref.Alternatives {
			alts = append(alts, freeslot.ToView(a))
		}
		p.Alternatives = &alts
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(ref.Status)
	writeBody(w, p)
}

// rejectedBooking logs which fields failed validation: names only.
func (s *Server) rejectedBooking(r *http.Request, caller string, errs map[string]string) {
	fields := make([]string, 0, len(errs))
	for f := range errs {
		fields = append(fields, f)
	}
	s.Log.InfoContext(r.Context(), "booking rejected", "caller_ods", caller, "invalid_fields", fields)
}

// writeBooking answers with the booking and its audit trail.
func (s *Server) writeBooking(w http.ResponseWriter, r *http.Request, status int, b store.Booking) {
	events, err := s.DB.BookingEvents(r.Context(), b.ID)
	if err != nil {
		// The booking is committed; answer without the trail rather than
		// make the caller think it failed.
		s.Log.WarnContext(r.Context(), "load booking events", "booking_id", b.ID, "error", err)
	}
	writeJSON(w, status, toBookingJSON(b, events))
}

func (s *Server) getBooking(w http.ResponseWriter, r *http.Request) {
	id, ok := bookingID(w, r)
	if !ok {
		return
	}
	b, events, err := s.DB.GetBookingFor(r.Context(), id, caller(r).ODSCode)
	if errors.Is(err, store.ErrNotFound) {
		writeNoSuchBooking(w)
		return
	}
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toBookingJSON(b, events))
}

// listBookings answers GET /v1/bookings: bookings the caller made or that
// were made into its slots (as=booking|host narrows), newest first.
func (s *Server) listBookings(w http.ResponseWriter, r *http.Request) {
	q, rerr := s.parsePageQuery(r, "bookings", "state", "as")
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	f := store.BookingFilter{Party: caller(r).ODSCode, After: q.after, Limit: q.limit + 1}
	if v := q.values.Get("state"); q.values.Has("state") {
		if !slices.Contains(store.BookingStates, v) {
			writeRequestError(w, badParam("state", "must be one of pending, booked, unconfirmed, failed, cancel_requested, cancelled"))
			return
		}
		f.States = []string{v}
	}
	if v := q.values.Get("as"); q.values.Has("as") {
		if v != "booking" && v != "host" {
			writeRequestError(w, badParam("as", "must be booking or host"))
			return
		}
		f.Role = v
	}
	list, err := s.DB.ListBookings(r.Context(), f)
	if err != nil {
		s.unavailable(w, r, err)
		return
	}
	writeListPage(s, w, r, "bookings", list, q.limit,
		func(b store.Booking) store.PageKey { return store.PageKey{CreatedAt: b.CreatedAt, ID: b.ID} },
		func(b store.Booking) bookingJSON { return toBookingJSON(b, nil) }, func(b bookingJSON) string { return b.ID })
}

// cancelBooking asks for a booking to be cancelled at the practice: 202
// (the cancel is queued), 202 again while it is, 200 once cancelled; 409
// for a booking in another state.
func (s *Server) cancelBooking(w http.ResponseWriter, r *http.Request) {
	id, ok := bookingID(w, r)
	if !ok {
		return
	}
	var req cancelBookingRequest
	present, rerr := readJSONBody(w, r, &req, cancelBookingFields, map[string]map[string]bool{"cancelled_by": personFields})
	if rerr != nil {
		writeRequestError(w, rerr)
		return
	}
	req.present = present
	if errs := req.Validate(); len(errs) > 0 {
		writeProblem(w, http.StatusUnprocessableEntity, "Unprocessable Content",
			fieldsDetail("the cancel was not accepted", []string{"reason", "cancelled_by"}, errs), errs)
		return
	}
	b, _, err := s.Booking.RequestCancel(r.Context(), id, caller(r).ODSCode, req.Reason, req.CancelledBy.store())
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeNoSuchBooking(w)
		return
	case errors.Is(err, store.ErrWrongState):
		writeProblem(w, http.StatusConflict, "Conflict", "the booking is "+b.State+
			"; only a booked appointment can be cancelled", nil)
		return
	case err != nil:
		s.unavailable(w, r, err)
		return
	}
	status := http.StatusAccepted
	if b.State == store.BookingCancelled {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/v1/bookings/"+b.ID.String())
	s.writeBooking(w, r, status, b)
}

// bookingID parses {id}; a malformed id cannot name a booking, so 404.
func bookingID(w http.ResponseWriter, r *http.Request) (uuid.UUID, bool) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil || len(r.PathValue("id")) != 36 {
		writeNoSuchBooking(w)
		return uuid.Nil, false
	}
	return id, true
}

func writeNoSuchBooking(w http.ResponseWriter) {
	writeProblem(w, http.StatusNotFound, "Not Found", "no booking with this id was made by or into your practice", nil)
}
