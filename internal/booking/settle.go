package booking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// ErrRetry wraps a transient failure: the queue should try again later.
var ErrRetry = errors.New("transient failure; retry")

// Settle decides an unconfirmed booking by reading the patient's
// appointments at the host practice on the appointment's date: an
// appointment for our slot made by our booking organisation means the POST
// took effect (booked, or cancelled since); none means it did not (failed).
// It never posts again, so a booking can neither be made twice nor be
// reported booked when the practice does not have it. Settling a booking
// that is no longer unconfirmed does nothing. A transient failure returns
// an error wrapping ErrRetry.
func (s *Service) Settle(ctx context.Context, id uuid.UUID) error {
	b, err := s.cfg.DB.GetBooking(ctx, id)
	if err != nil {
		return fmt.Errorf("settle booking %s: %w", id, err)
	}
	if b.State != store.BookingUnconfirmed {
		return nil
	}
	now := s.cfg.Now()
	switch {
	case b.PatientID == "":
		return s.settleFailed(ctx, b, "NOT_REQUESTED", "the booking never reached the practice")
	case b.Slot.LocalDate < now.In(london).Format(time.DateOnly):
		// GP Connect lists only today's and future appointments.
		return s.settleFailed(ctx, b, "UNVERIFIABLE", "the appointment date passed before the practice could confirm "+
			"the booking; check with "+b.Slot.HostODS)
	case now.Sub(b.CreatedAt) > s.cfg.MaxAge:
		return s.settleFailed(ctx, b, "UNCONFIRMED", "the practice could not be asked for "+s.cfg.MaxAge.String()+
			"; check with "+b.Slot.HostODS)
	}
	host, err := s.hostOf(ctx, b)
	if err != nil {
		return fmt.Errorf("settle booking %s: %w", id, err)
	}
	who := requester(b.BookedBy, b.BookingODS, s.practiceName(ctx, b.BookingODS))
	appts, err := s.cfg.GPC.PatientAppointments(ctx, host, who, b.PatientID, b.Slot.LocalDate, b.Slot.LocalDate)
	if err != nil {
		return s.settleError(ctx, b, err)
	}
	a := ours(b, appts)
	switch {
	case a == nil:
		return s.settleFailed(ctx, b, "NOT_BOOKED", "the practice has no appointment for this slot made by "+
			b.BookingODS+": the booking did not take effect")
	case a.Status == "cancelled":
		_, err = s.cfg.DB.RecordCancelled(ctx, b.ID, a.VersionID, store.BookingOutcome{Actor: "system", Action: "settled",
			Extra: map[string]any{"appointment_id": a.ID, "found": "cancelled"}})
	default:
		_, err = s.cfg.DB.RecordBooked(ctx, b.ID, a.ID, a.VersionID, store.BookingOutcome{Actor: "system", Action: "settled",
			Extra: map[string]any{"appointment_id": a.ID, "found": a.Status}})
	}
	if errors.Is(err, store.ErrWrongState) {
		return nil
	}
	if err == nil {
		outcome := "booked"
		if a.Status == "cancelled" {
			outcome = "cancelled"
		}
		metrics.ObserveBooking("settle", outcome, "")
		s.log.Info("unconfirmed booking settled", "booking_id", b.ID, "host_ods", b.Slot.HostODS, "found", a.Status)
	}
	return err
}

// ours picks the booking's appointment: the one holding its slot, made by
// its booking organisation (a booked one first); else one with the same
// start, end and booking organisation.
func ours(b store.Booking, appts []gpconnect.Appointment) *gpconnect.Appointment {
	var match *gpconnect.Appointment
	for i := range appts {
		a := &appts[i]
		bySlot := slices.Contains(a.SlotIDs, b.Slot.SlotID)
		byTime := a.Start == b.Slot.Start && a.End == b.Slot.End
		if (a.BookingODS != "" && a.BookingODS != b.BookingODS) || (!bySlot && !byTime) {
			continue
		}
		if match == nil || (a.Status != "cancelled" && match.Status == "cancelled") {
			match = a
		}
	}
	return match
}

func (s *Service) settleFailed(ctx context.Context, b store.Booking, code, detail string) error {
	_, err := s.cfg.DB.RecordFailed(ctx, b.ID, store.BookingOutcome{Actor: "system", Action: "settled", Code: code, Detail: detail})
	if errors.Is(err, store.ErrWrongState) {
		return nil
	}
	if err == nil {
		metrics.ObserveBooking("settle", "failed", code)
		s.log.Info("unconfirmed booking settled", "booking_id", b.ID, "host_ods", b.Slot.HostODS, "found", "none", "code", code)
	}
	return err
}

// settleError retries what may pass and fails what will not.
func (s *Service) settleError(ctx context.Context, b store.Booking, err error) error {
	status, code, diag, trace := spine(err)
	if transient(status) {
		s.log.Warn("settle: practice unavailable; will retry", "booking_id", b.ID, "http_status", status,
			"spine_code", code, "ssp_trace_id", trace)
		return fmt.Errorf("settle booking %s: %w: %s", b.ID, ErrRetry, code)
	}
	return s.settleFailed(ctx, b, code, "the practice refused to list the patient's appointments: "+diag)
}

// transient reports whether a call failing with status may work later.
func transient(status int) bool {
	return status == 0 || status == 429 || status >= 500
}
