package booking

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// RequestCancel records a cancel request by caller (the booking or the
// host practice) and queues the cancel. It returns the booking and whether
// this call changed it (a repeated request does not).
func (s *Service) RequestCancel(ctx context.Context, id uuid.UUID, caller, reason string, by store.Person) (store.Booking, bool, error) {
	b, changed, err := s.cfg.DB.RequestCancel(ctx, id, caller, reason, by)
	if err != nil || !changed {
		return b, changed, err
	}
	s.log.Info("cancel requested", "booking_id", b.ID, "caller_ods", caller, "cancel_seq", b.CancelSeq)
	if s.cfg.Queue != nil {
		if qerr := s.cfg.Queue.EnqueueCancel(ctx, b.ID, b.CancelSeq); qerr != nil {
			s.log.Warn("enqueue cancel; the reconciler will", "booking_id", b.ID, "error", qerr)
		}
	}
	return b, true, nil
}

// Cancel cancels a booking whose cancel was requested (request seq): it
// reads the appointment at the practice, sends it back with status
// cancelled and the reason, If-Match on the version read; on a version
// conflict it reads again and tries once more (a second conflict means
// someone else is changing the appointment: reported, not fought over).
// An appointment the practice already shows cancelled is done, which is
// how a cancel whose answer was lost finishes on the next attempt.
// Transient failures return an error wrapping ErrRetry until MaxAge after
// the request; then the cancel is given up and the booking stays booked.
func (s *Service) Cancel(ctx context.Context, id uuid.UUID, seq int) error {
	b, err := s.cfg.DB.GetBooking(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel booking %s: %w", id, err)
	}
	if b.State != store.BookingCancelRequested || b.CancelSeq != seq {
		return nil
	}
	if b.CancelRequestedAt != nil && s.cfg.Now().Sub(*b.CancelRequestedAt) > s.cfg.MaxAge {
		return s.cancelFailed(ctx, b, store.BookingOutcome{Code: "MAX_AGE", Detail: "the practice could not be reached for " +
			s.cfg.MaxAge.String() + "; the appointment is still booked"})
	}
	host, err := s.hostOf(ctx, b)
	if err != nil {
		return fmt.Errorf("cancel booking %s: %w", id, err)
	}
	by := store.Person{}
	if b.CancelledBy != nil {
		by = *b.CancelledBy
	}
	who := requester(by, b.CancelRequestedBy, s.practiceName(ctx, b.CancelRequestedBy))
	for attempt := 1; ; attempt++ {
		done, err := s.cancelOnce(ctx, b, host, who, attempt)
		if done || err != nil {
			return err
		}
	}
}

// cancelOnce reads and cancels; done=false asks for one more round after a
// version conflict.
func (s *Service) cancelOnce(ctx context.Context, b store.Booking, host gpconnect.Provider, who gpconnect.Requester, attempt int) (bool, error) {
	cur, err := s.cfg.GPC.ReadAppointment(ctx, host, who, b.AppointmentID)
	if err != nil {
		return true, s.cancelError(ctx, b, err)
	}
	switch {
	case cur.Status == "cancelled":
		return true, s.cancelled(ctx, b, cur, "found cancelled")
	case cur.Status != "booked":
		return true, s.cancelFailed(ctx, b, store.BookingOutcome{Code: "NOT_BOOKED", Detail: "the practice shows the appointment as " + cur.Status})
	case !s.startsLater(cur, b):
		return true, s.cancelFailed(ctx, b, store.BookingOutcome{Code: "STARTED", Detail: "the appointment has started; GP Connect cannot cancel it"})
	}
	done, err := s.cfg.GPC.CancelAppointment(ctx, host, who, cur, b.CancelReason)
	switch {
	case err == nil:
		return true, s.cancelled(ctx, b, done, "cancelled")
	case gpconnect.IsVersionConflict(err) && attempt == 1:
		_, _, _, trace := spine(err)
		if rerr := s.cfg.DB.RecordVersion(ctx, b.ID, cur.VersionID, store.BookingOutcome{Actor: "system", Action: "version_conflict",
			TraceID: trace}); rerr != nil {
			return true, rerr
		}
		return false, nil
	case gpconnect.IsVersionConflict(err):
		return true, s.cancelFailed(ctx, b, store.BookingOutcome{Code: "VERSION_CONFLICT",
			Detail: "the appointment changed at the practice twice while cancelling; someone else is working on it"})
	}
	return true, s.cancelError(ctx, b, err)
}

func (s *Service) startsLater(a *gpconnect.Appointment, b store.Booking) bool {
	start, err := time.Parse(time.RFC3339, a.Start)
	if err != nil {
		start = b.Slot.StartAt
	}
	return start.After(s.cfg.Now())
}

func (s *Service) cancelled(ctx context.Context, b store.Booking, a *gpconnect.Appointment, how string) error {
	_, err := s.cfg.DB.RecordCancelled(ctx, b.ID, a.VersionID, store.BookingOutcome{Actor: "system", Action: "cancelled",
		Extra: map[string]any{"appointment_id": a.ID, "how": how}})
	if errors.Is(err, store.ErrWrongState) {
		return nil
	}
	if err == nil {
		metrics.ObserveBooking("cancel", "cancelled", "")
		s.log.Info("booking cancelled", "booking_id", b.ID, "host_ods", b.Slot.HostODS, "how", how)
	}
	return err
}

func (s *Service) cancelFailed(ctx context.Context, b store.Booking, o store.BookingOutcome) error {
	o.Actor, o.Action = "system", "cancel_failed"
	_, err := s.cfg.DB.RecordCancelFailed(ctx, b.ID, o)
	if errors.Is(err, store.ErrWrongState) {
		return nil
	}
	if err == nil {
		metrics.ObserveBooking("cancel", "failed", o.Code)
		s.log.Warn("cancel failed; the appointment stays booked", "booking_id", b.ID, "host_ods", b.Slot.HostODS,
			"http_status", o.Status, "spine_code", o.Code)
	}
	return err
}

// cancelError retries a lost or transient answer (the next attempt reads
// first, so a cancel that took effect is seen) and fails a refusal.
func (s *Service) cancelError(ctx context.Context, b store.Booking, err error) error {
	status, code, diag, trace := spine(err)
	var gerr *gpconnect.Error
	if transient(status) || (errors.As(err, &gerr) && gerr.OutcomeUnknown()) {
		s.log.Warn("cancel: practice unavailable or answer lost; will retry", "booking_id", b.ID, "http_status", status,
			"spine_code", code, "ssp_trace_id", trace)
		return fmt.Errorf("cancel booking %s: %w: %s", b.ID, ErrRetry, code)
	}
	return s.cancelFailed(ctx, b, store.BookingOutcome{Status: status, Code: code, Detail: diag, TraceID: trace})
}
