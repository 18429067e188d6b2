package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// OpenBooking is a booking that queued work must finish: unconfirmed ones
// are settled, cancel_requested ones cancelled.
type OpenBooking struct {
	ID        uuid.UUID
	State     string
	CancelSeq int
	UpdatedAt time.Time
}

// OpenBookings returns up to limit unconfirmed and cancel_requested
// bookings last changed before before, oldest first: the reconciler checks
// each still has a queue entry.
func (db *DB) OpenBookings(ctx context.Context, before time.Time, limit int) ([]OpenBooking, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, state, cancel_seq, updated_at FROM bookings
		WHERE state IN ('unconfirmed', 'cancel_requested') AND updated_at < $1
		ORDER BY updated_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("open bookings: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenBooking, error) {
		var o OpenBooking
		return o, r.Scan(&o.ID, &o.State, &o.CancelSeq, &o.UpdatedAt)
	})
	if err != nil {
		return nil, translate(fmt.Errorf("open bookings: %w", err))
	}
	return out, nil
}

// InterruptedBookings settles claims left pending longer than any request
// may take (the API process died mid-booking): a claim that never reached
// the Appointment POST is released, one that did becomes unconfirmed (the
// practice may have the appointment) and its id is returned for settling.
func (db *DB) InterruptedBookings(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, patient_id IS NOT NULL FROM bookings
		WHERE state = 'pending' AND updated_at < $1 ORDER BY updated_at LIMIT $2`, before, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("interrupted bookings: %w", err))
	}
	type stale struct {
		id        uuid.UUID
		requested bool
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stale, error) {
		var s stale
		return s, r.Scan(&s.id, &s.requested)
	})
	if err != nil {
		return nil, translate(fmt.Errorf("interrupted bookings: %w", err))
	}
	var unconfirmed []uuid.UUID
	for _, s := range list {
		if !s.requested {
			if err := db.ReleaseClaim(ctx, s.id); err != nil {
				return unconfirmed, err
			}
			continue
		}
		_, err := db.RecordUnconfirmed(ctx, s.id, BookingOutcome{Actor: "system", Action: "interrupted", Code: "INTERRUPTED",
			Detail: "the booking request ended before its outcome was recorded"})
		if err != nil && !errors.Is(err, ErrWrongState) {
			return unconfirmed, err
		}
		if err == nil {
			unconfirmed = append(unconfirmed, s.id)
		}
	}
	return unconfirmed, nil
}

// RedactFinishedBookings blanks the patient data of up to limit bookings
// that finished before cutoff (failed or cancelled, or booked appointments
// that have ended): NHS number, the patient's id at the practice,
// description, comment and cancellation reason, plus the idempotency key
// and request hash. Each gets redacted_at and a 'redacted' audit event by
// 'system'. Rows another transaction holds are left for the next call.
func (db *DB) RedactFinishedBookings(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	var n int
	err := db.Pool.QueryRow(ctx, `WITH r AS (
			SELECT id FROM bookings
			WHERE redacted_at IS NULL AND state IN ('booked', 'failed', 'cancelled') AND finished_at < $1
			ORDER BY finished_at LIMIT $2 FOR UPDATE SKIP LOCKED),
		u AS (
			UPDATE bookings b SET patient_nhs_number = NULL, patient_id = NULL, description = '', comment = '',
				cancel_reason = NULL, idempotency_key = NULL, request_hash = NULL, redacted_at = now(), updated_at = now()
			FROM r WHERE b.id = r.id RETURNING b.id, b.state),
		e AS (
			INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, detail)
			SELECT id, 'system', 'redacted', state, state,
				jsonb_build_object('fields', 'patient_nhs_number, patient_id, description, comment, cancel_reason')
			FROM u)
		SELECT count(*) FROM u`, cutoff, limit).Scan(&n)
	if err != nil {
		return 0, translate(fmt.Errorf("redact finished bookings: %w", err))
	}
	return n, nil
}
