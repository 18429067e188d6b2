package store

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Booking transitions. Each is one short transaction that moves a booking
// only from the states it names (UPDATE ... WHERE state = ANY): the network
// call to the practice happens before, with nothing held, so two workers
// (asynq is at least once) or a worker and the API can race, and exactly
// one of them records the outcome. The loser gets ErrWrongState and the
// booking as it now is.

// BookingOutcome is what the practice said, for the booking row and its audit event.
type BookingOutcome struct {
	Actor   string // who records it: an ODS code or "system"
	Action  string // the audit event's action
	Status  int    // HTTP status of a refusal
	Code    string // Spine code of a refusal
	Detail  string // the practice's diagnostics (never patient data)
	TraceID string // Ssp-TraceID of the call that decided it
	Extra   map[string]any
}

func (o BookingOutcome) detail() map[string]any {
	d := map[string]any{}
	for k, v := range o.Extra {
		d[k] = v
	}
	if o.TraceID != "" {
		d["ssp_trace_id"] = o.TraceID
	}
	if o.Status != 0 {
		d["http_status"] = o.Status
	}
	if o.Code != "" {
		d["spine_code"] = o.Code
	}
	return d
}

// move updates a booking in one of from to the state and columns set
// assigns, and appends the audit event, in one statement; it returns the
// state it moved from and the booking after. ErrWrongState comes with the
// booking as it is. The row lock it takes ends with the caller's
// transaction, which makes no network call.
func move(ctx context.Context, tx pgx.Tx, id uuid.UUID, from []string, state, set string, o BookingOutcome, args ...any) (string, Booking, error) {
	q := `WITH prev AS (SELECT id, state FROM bookings WHERE id = $1 FOR UPDATE),
		upd AS (UPDATE bookings b SET state = $2, updated_at = now()`
	if set != "" {
		q += `, ` + set
	}
	q += ` FROM prev WHERE b.id = prev.id AND prev.state = ANY($3) RETURNING b.*),
		ev AS (INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, detail)
			SELECT upd.id, $4, $5, prev.state, upd.state, $6 FROM upd, prev)
		SELECT prev.state, ` + bookingColumns + ` FROM upd b, prev`
	var prevState string
	var next Booking
	err := tx.QueryRow(ctx, q, append([]any{id, state, from, o.Actor, o.Action, o.detail()}, args...)...).
		Scan(append([]any{&prevState}, bookingFields(&next)...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		cur, cerr := scanBooking(tx.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b WHERE b.id = $1`, id))
		if cerr != nil {
			return "", Booking{}, fmt.Errorf("get booking %s: %w", id, cerr)
		}
		return cur.State, cur, ErrWrongState
	}
	if err != nil {
		return "", Booking{}, fmt.Errorf("set booking %s %s: %w", id, state, err)
	}
	return prevState, next, nil
}

// transitionBooking runs fn in a transaction and returns the booking after it.
func (db *DB) transitionBooking(ctx context.Context, fn func(tx pgx.Tx) (Booking, error)) (Booking, error) {
	var out Booking
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		b, err := fn(tx)
		out = b
		return err
	})
	if errors.Is(err, ErrWrongState) {
		return out, ErrWrongState
	}
	return out, err
}

// RecordBooked moves a pending or unconfirmed booking to booked with the
// practice's appointment id and version, takes the slot out of the snapshot
// and the capacity aggregates at once, and tells the host practice
// (booking.created) and, for a booking that was unconfirmed, the booking
// practice (booking.confirmed).
func (db *DB) RecordBooked(ctx context.Context, id uuid.UUID, apptID, version string, o BookingOutcome) (Booking, error) {
	return db.transitionBooking(ctx, func(tx pgx.Tx) (Booking, error) {
		if err := relaxCommit(ctx, tx); err != nil {
			return Booking{}, err
		}
		prev, b, err := move(ctx, tx, id, []string{BookingPending, BookingUnconfirmed}, BookingBooked,
			`appointment_id = $7, appointment_version = $8, booked_at = now(), finished_at = b.end_at,
			 failure_status = NULL, failure_code = NULL, failure_detail = NULL`, o, apptID, version)
		if err != nil {
			return b, err
		}
		if err := takeSlot(ctx, tx, b); err != nil {
			return b, err
		}
		if err := notifyBooking(ctx, tx, b, b.Slot.HostODS, NotifyBookingCreated, nil); err != nil {
			return b, err
		}
		if prev == BookingUnconfirmed {
			return b, notifyBooking(ctx, tx, b, b.BookingODS, NotifyBookingConfirmed, nil)
		}
		return b, nil
	})
}

// RecordFailed moves a pending or unconfirmed booking to failed: the
// practice refused it, or settling found no appointment. A booking that was
// unconfirmed tells its booking practice (booking.failed); a refusal
// answered in the request needs no notification.
func (db *DB) RecordFailed(ctx context.Context, id uuid.UUID, o BookingOutcome) (Booking, error) {
	return db.transitionBooking(ctx, func(tx pgx.Tx) (Booking, error) {
		if err := relaxCommit(ctx, tx); err != nil {
			return Booking{}, err
		}
		prev, b, err := move(ctx, tx, id, []string{BookingPending, BookingUnconfirmed}, BookingFailed,
			`failure_status = NULLIF($7::int, 0), failure_code = NULLIF($8, ''), failure_detail = NULLIF($9, ''),
			 finished_at = now()`, o, o.Status, o.Code, truncate(o.Detail, 1000))
		if err != nil || prev != BookingUnconfirmed {
			return b, err
		}
		return b, notifyBooking(ctx, tx, b, b.BookingODS, NotifyBookingFailed, map[string]any{"failure_code": o.Code})
	})
}

// RecordUnconfirmed moves a pending booking to unconfirmed: its outcome at
// the practice is unknown until a settle job reads the patient's
// appointments there.
func (db *DB) RecordUnconfirmed(ctx context.Context, id uuid.UUID, o BookingOutcome) (Booking, error) {
	return db.transitionBooking(ctx, func(tx pgx.Tx) (Booking, error) {
		if err := relaxCommit(ctx, tx); err != nil {
			return Booking{}, err
		}
		_, b, err := move(ctx, tx, id, []string{BookingPending}, BookingUnconfirmed,
			`failure_status = NULLIF($7::int, 0), failure_code = NULLIF($8, ''), failure_detail = NULLIF($9, '')`,
			o, o.Status, o.Code, truncate(o.Detail, 1000))
		return b, err
	})
}

// RequestCancel moves a booked booking to cancel_requested on behalf of
// caller (its booking or its host practice; anyone else gets ErrNotFound),
// with the reason and the named person the cancel will be attributed to.
// Asking again while it is requested or done changes nothing
// (changed=false); any other state gives ErrWrongState with the booking.
func (db *DB) RequestCancel(ctx context.Context, id uuid.UUID, caller, reason string, by Person) (Booking, bool, error) {
	changed := false
	b, err := db.transitionBooking(ctx, func(tx pgx.Tx) (Booking, error) {
		cur, err := scanBooking(tx.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b
			WHERE b.id = $1 AND (b.booking_ods = $2 OR b.host_ods = $2)`, id, caller))
		if err != nil {
			return Booking{}, fmt.Errorf("get booking %s: %w", id, err)
		}
		if cur.State == BookingCancelRequested || cur.State == BookingCancelled {
			return cur, nil
		}
		_, b, err := move(ctx, tx, id, []string{BookingBooked}, BookingCancelRequested,
			`cancel_seq = b.cancel_seq + 1, cancel_requested_by = $7, cancel_requested_at = now(),
			 cancel_reason = $8, cancelled_by = $9, failure_status = NULL, failure_code = NULL, failure_detail = NULL`,
			BookingOutcome{Actor: caller, Action: "cancel_requested"}, caller, reason, by)
		changed = err == nil
		return b, err
	})
	return b, changed, err
}

// RecordCancelled moves a booking whose cancel was requested (or, when
// settling finds the appointment already cancelled at the practice, an
// unconfirmed one) to cancelled, and tells the host and the booking practice
// (booking.cancelled).
func (db *DB) RecordCancelled(ctx context.Context, id uuid.UUID, version string, o BookingOutcome) (Booking, error) {
	return db.transitionBooking(ctx, func(tx pgx.Tx) (Booking, error) {
		_, b, err := move(ctx, tx, id, []string{BookingCancelRequested, BookingUnconfirmed}, BookingCancelled,
			`appointment_version = COALESCE(NULLIF($7, ''), b.appointment_version), finished_at = now()`, o, version)
		if err != nil {
			return b, err
		}
		for _, to := range uniq(b.Slot.HostODS, b.BookingODS) {
			if err := notifyBooking(ctx, tx, b, to, NotifyBookingCancelled, nil); err != nil {
				return b, err
			}
		}
		return b, nil
	})
}

// RecordCancelFailed moves a booking whose cancel could not be done back to
// booked (it is still booked at the practice) and tells the practice that
// asked (booking.cancel_failed).
func (db *DB) RecordCancelFailed(ctx context.Context, id uuid.UUID, o BookingOutcome) (Booking, error) {
	return db.transitionBooking(ctx, func(tx pgx.Tx) (Booking, error) {
		_, b, err := move(ctx, tx, id, []string{BookingCancelRequested}, BookingBooked,
			`failure_status = NULLIF($7::int, 0), failure_code = NULLIF($8, ''), failure_detail = NULLIF($9, '')`,
			o, o.Status, o.Code, truncate(o.Detail, 1000))
		if err != nil {
			return b, err
		}
		return b, notifyBooking(ctx, tx, b, b.CancelRequestedBy, NotifyBookingCancelFailed,
			map[string]any{"failure_code": o.Code, "cancel_seq": b.CancelSeq})
	})
}

// RecordVersion keeps the appointment version a worker last read, with an
// audit event, without changing the state (a cancel re-reading after a
// version conflict).
func (db *DB) RecordVersion(ctx context.Context, id uuid.UUID, version string, o BookingOutcome) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		var state string
		err := tx.QueryRow(ctx, `UPDATE bookings SET appointment_version = $2, updated_at = now() WHERE id = $1
			RETURNING state`, id, version).Scan(&state)
		if err != nil {
			return fmt.Errorf("record version of booking %s: %w", id, err)
		}
		return InsertBookingEvent(ctx, tx, id, o.Actor, o.Action, state, state, o.detail())
	})
}

// relaxCommit lets an outcome's commit skip the wait for the disk: if a
// crash loses it, the booking is still pending (or unconfirmed) in
// Postgres and the reconciler settles it with the practice, which has the
// truth. The claim and the "requested" mark before the practice is called
// are never relaxed: they are what lets a lost outcome be found again.
func relaxCommit(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`)
	return err
}

// notifyBooking queues kind to practice through the durable notification
// channel: ids and times only.
func notifyBooking(ctx context.Context, tx pgx.Tx, b Booking, to, kind string, extra map[string]any) error {
	other := b.BookingODS
	if to == b.BookingODS {
		other = b.Slot.HostODS
	}
	data := map[string]any{"booking_id": b.ID.String(), "booking_ods": b.BookingODS, "host_ods": b.Slot.HostODS,
		"state": b.State, "start": b.Slot.StartAt.UTC().Format(time.RFC3339), "end": b.Slot.EndAt.UTC().Format(time.RFC3339)}
	if b.AppointmentID != "" {
		data["appointment_id"] = b.AppointmentID
	}
	for k, v := range extra {
		data[k] = v
	}
	key := kind + ":" + b.ID.String() + ":" + to
	if kind == NotifyBookingCancelFailed {
		key += fmt.Sprintf(":%d", b.CancelSeq)
	}
	_, err := CreateNotificationTx(ctx, tx, Notification{RecipientODS: to, Kind: kind, SubjectODS: other, Data: data,
		CoalesceKey: key})
	return err
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
