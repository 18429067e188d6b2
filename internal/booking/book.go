package booking

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// maxAlternatives is how many other slots a 409 offers.
const maxAlternatives = 5

// minLead is how far ahead a slot must start to be booked: a slot starting
// in the next minute cannot be attended, and providers refuse past ones.
const minLead = time.Minute

// Request is a validated booking request from a member practice.
type Request struct {
	CallerODS        string
	HostODS, SlotID  string
	PatientNHSNumber string
	Description      string
	Comment          string
	BookedBy         store.Person
	RegisterIfNeeded bool
	// Patient, when given, is used to register the patient temporarily;
	// else gpfed reads their demographics at the caller's own practice.
	Patient        *gpconnect.Demographics
	IdempotencyKey string
	RequestHash    []byte
}

// Result is a booking the request made (or, Replayed, made before with the
// same Idempotency-Key): booked, or unconfirmed while a job settles it.
type Result struct {
	Booking  store.Booking
	Replayed bool
}

// Book books req's slot for the patient at the slot's practice. It returns
// a Result, a *Refusal (the caller can act on it; nothing was booked), or
// another error (gpfed could not record the outcome: the reconciler will
// settle the booking). Errors that name the idempotency key are
// store.ErrIdempotencyMismatch and store.ErrBookingInProgress.
func (s *Service) Book(ctx context.Context, req Request) (Result, error) {
	if req.IdempotencyKey != "" {
		prev, err := s.cfg.DB.FindBookingByIdempotencyKey(ctx, req.CallerODS, req.IdempotencyKey)
		switch {
		case err == nil:
			return s.replay(prev, req)
		case !errors.Is(err, store.ErrNotFound):
			return Result{}, err
		}
	}
	slot, caller, err := s.checkSlot(ctx, req)
	if err != nil {
		return Result{}, err
	}
	b, created, err := s.cfg.DB.ClaimBooking(ctx, store.Booking{ID: uuid.New(), BookingODS: req.CallerODS,
		Slot: slot.BookedSlot, OrgType: s.cfg.OrgType, PatientNHSNumber: req.PatientNHSNumber, Description: req.Description,
		Comment: req.Comment, BookedBy: req.BookedBy, IdempotencyKey: req.IdempotencyKey, RequestHash: req.RequestHash})
	switch {
	case errors.Is(err, store.ErrSlotHeld):
		metrics.ObserveBooking("book", "taken", "")
		return Result{}, s.slotTaken(ctx, slot.BookedSlot, nil, "another booking made through gpfed holds this slot")
	case err != nil:
		return Result{}, err
	case !created:
		return s.replay(b, req)
	}
	// The practice calls run to the end even if the caller hangs up, and
	// their outcome is recorded after the calls' own deadline.
	recCtx, cancelRec := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RequestTimeout+recordTimeout)
	defer cancelRec()
	callCtx, cancel := context.WithTimeout(recCtx, s.cfg.RequestTimeout)
	defer cancel()
	return s.book(recCtx, callCtx, b, slot.BookedSlot, caller, req)
}

// recordTimeout is what recording an outcome may take after the calls' deadline.
const recordTimeout = 10 * time.Second

func (s *Service) replay(prev store.Booking, req Request) (Result, error) {
	switch {
	case string(prev.RequestHash) != string(req.RequestHash):
		return Result{}, store.ErrIdempotencyMismatch
	case prev.State == store.BookingPending:
		return Result{}, store.ErrBookingInProgress
	}
	return Result{Booking: prev, Replayed: true}, nil
}

// checkSlot finds the slot in the snapshot and the caller's practice, and
// refuses what cannot be booked before any practice is called.
func (s *Service) checkSlot(ctx context.Context, req Request) (store.FreeSlot, callerInfo, error) {
	slot, held, err := s.cfg.DB.GetFreeSlot(ctx, req.HostODS, req.SlotID)
	if errors.Is(err, store.ErrNotFound) {
		return slot, callerInfo{}, unprocessable("slot_id", "is not a free slot in the federation's snapshot "+
			"(it may have been booked or withdrawn since you searched); search GET /v1/slots again")
	}
	if err != nil {
		return slot, callerInfo{}, err
	}
	switch {
	case !slot.StartAt.After(s.cfg.Now().Add(minLead)):
		return slot, callerInfo{}, unprocessable("slot_id", "has started or is in the past")
	case slot.DeliveryChannel == "Visit":
		return slot, callerInfo{}, unprocessable("slot_id", "is a home visit slot: GP Connect cannot book those")
	case held:
		return slot, callerInfo{}, s.slotTaken(ctx, slot.BookedSlot, nil, "another booking made through gpfed holds this slot")
	}
	p, err := s.cfg.DB.GetPractice(ctx, req.CallerODS)
	if err != nil {
		return slot, callerInfo{}, fmt.Errorf("load caller practice %s: %w", req.CallerODS, err)
	}
	if p.Telephone == "" {
		return slot, callerInfo{}, refuse(http.StatusUnprocessableEntity, "",
			"your practice has no telephone number on record, and a GP Connect booking must carry the booking "+
				"organisation's telephone: ask the federation to add the telephone column to the practices CSV")
	}
	return slot, callerInfo{ods: p.ODSCode, name: p.Name, phone: p.Telephone,
		provider: gpconnect.Provider{ODS: p.ODSCode, ASID: p.ASID, ServiceRoot: p.Endpoint}}, nil
}

// callerInfo is the booking organisation.
type callerInfo struct {
	ods, name, phone string
	provider         gpconnect.Provider
}

// slotTaken is the 409 answer: the slot is gone, with the nearest
// alternatives from a snapshot it has already left.
func (s *Service) slotTaken(ctx context.Context, slot store.BookedSlot, b *store.Booking, reason string) *Refusal {
	alts, err := s.cfg.DB.AlternativeSlots(ctx, slot, s.cfg.Now().Add(minLead), maxAlternatives)
	if err != nil {
		s.log.Warn("alternative slots", "error", err)
	}
	r := refuse(http.StatusConflict, "slot_id", reason)
	r.Booking, r.Alternatives = b, alts
	if b != nil {
		r.SpineCode, r.Diagnostics = b.FailureCode, b.FailureDetail
	}
	return r
}

// book finds (or registers) the patient and posts the Appointment under
// callCtx, and records what the practice said under ctx.
func (s *Service) book(ctx, callCtx context.Context, b store.Booking, slot store.BookedSlot, caller callerInfo, req Request) (Result, error) {
	who := requester(req.BookedBy, caller.ods, caller.name)
	host := provider(slot)
	pt, detail, err := s.patientAt(callCtx, host, caller, who, req, slot)
	if err != nil {
		if rerr := s.cfg.DB.ReleaseClaim(ctx, b.ID); rerr != nil {
			s.log.Error("release booking claim", "booking_id", b.ID, "error", rerr)
		}
		return Result{}, err
	}
	if err := s.cfg.DB.MarkRequested(ctx, b.ID, pt.id, pt.registered, detail); err != nil {
		_ = s.cfg.DB.ReleaseClaim(ctx, b.ID)
		return Result{}, err
	}
	appt, err := s.cfg.GPC.BookAppointment(callCtx, host, who, gpconnect.NewAppointment{
		SlotIDs: []string{slot.SlotID}, Start: slot.Start, End: slot.End, PatientID: pt.id, LocationID: slot.LocationID,
		PractitionerID: slot.PractitionerID, Description: req.Description, Comment: req.Comment,
		BookingOrg: gpconnect.BookingOrg{ODS: caller.ods, Name: caller.name, Telephone: caller.phone, OrgType: s.cfg.OrgType},
	})
	if err == nil {
		booked, err := s.cfg.DB.RecordBooked(ctx, b.ID, appt.ID, appt.VersionID,
			store.BookingOutcome{Actor: "system", Action: "booked", Extra: map[string]any{"appointment_id": appt.ID}})
		if err != nil {
			return Result{}, &UnrecordedError{BookingID: b.ID,
				Err: fmt.Errorf("record booking (booked at %s as appointment %s): %w", slot.HostODS, appt.ID, err)}
		}
		metrics.ObserveBooking("book", "booked", "")
		s.log.Info("booked", "booking_id", b.ID, "booking_ods", b.BookingODS, "host_ods", slot.HostODS, "appointment_id", appt.ID)
		return Result{Booking: booked}, nil
	}
	return s.bookFailed(ctx, b, slot, err)
}

// bookFailed records a booking POST that did not answer 201.
func (s *Service) bookFailed(ctx context.Context, b store.Booking, slot store.BookedSlot, err error) (Result, error) {
	status, code, diag, trace := spine(err)
	o := store.BookingOutcome{Actor: "system", Status: status, Code: code, Detail: diag, TraceID: trace}
	var gerr *gpconnect.Error
	if errors.As(err, &gerr) && gerr.OutcomeUnknown() {
		o.Action = "unconfirmed"
		u, rerr := s.cfg.DB.RecordUnconfirmed(ctx, b.ID, o)
		if rerr != nil {
			return Result{}, &UnrecordedError{BookingID: b.ID, Err: fmt.Errorf("record unconfirmed booking: %w", rerr)}
		}
		metrics.ObserveBooking("book", "unconfirmed", code)
		s.log.Warn("booking outcome unknown; settling", "booking_id", b.ID, "host_ods", slot.HostODS,
			"http_status", status, "spine_code", code, "ssp_trace_id", trace)
		if s.cfg.Queue != nil {
			if qerr := s.cfg.Queue.EnqueueSettle(ctx, b.ID); qerr != nil {
				s.log.Warn("enqueue settle; the reconciler will", "booking_id", b.ID, "error", qerr)
			}
		}
		return Result{Booking: u}, nil
	}
	o.Action = "rejected"
	failed, rerr := s.cfg.DB.RecordFailed(ctx, b.ID, o)
	if rerr != nil {
		return Result{}, &UnrecordedError{BookingID: b.ID, Err: fmt.Errorf("record refused booking: %w", rerr)}
	}
	metrics.ObserveBooking("book", "refused", code)
	s.log.Info("booking refused by the practice", "booking_id", b.ID, "host_ods", slot.HostODS,
		"http_status", status, "spine_code", code, "ssp_trace_id", trace)
	return Result{}, s.refusal(ctx, failed, slot, status, code, diag)
}

// refusal turns the practice's answer into what the caller is told.
func (s *Service) refusal(ctx context.Context, b store.Booking, slot store.BookedSlot, status int, code, diag string) *Refusal {
	if status == http.StatusConflict || code == "REFERENCE_NOT_FOUND" {
		// The practice says the slot is not there to book: it leaves the snapshot now.
		if err := s.cfg.DB.DropSlot(ctx, slot.HostODS, slot.SlotID); err != nil {
			s.log.Warn("drop slot", "host_ods", slot.HostODS, "error", err)
		}
	}
	r := directoryRefusal(code, "book the appointment")
	switch {
	case r != nil:
	case status == http.StatusConflict:
		return s.slotTaken(ctx, slot, &b, "the practice says the slot is already booked (DUPLICATE_REJECTED)")
	case status == http.StatusForbidden:
		r = refuse(http.StatusForbidden, "", "the practice refused the booking")
	case status == http.StatusUnprocessableEntity:
		r = unprocessable("slot_id", "the practice refused the booking: "+code)
	case status == 0:
		r = refuse(http.StatusBadGateway, "", "the practice could not be reached; nothing was booked, try again")
	default:
		r = refuse(http.StatusBadGateway, "", fmt.Sprintf("the practice refused the request (HTTP %d %s); nothing was booked", status, code))
	}
	r.SpineCode, r.Diagnostics, r.Booking = code, diag, &b
	return r
}
