package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Booking states (the bookings.state CHECK constraint).
//
//	pending ──► booked ──► cancel_requested ──► cancelled
//	   │           ▲              │
//	   │           └──────────────┘ (cancel failed: still booked at the practice)
//	   ├──► failed                 (the practice refused)
//	   └──► unconfirmed ──► booked | failed | cancelled (settled by reading the practice)
const (
	BookingPending         = "pending"
	BookingBooked          = "booked"
	BookingUnconfirmed     = "unconfirmed"
	BookingFailed          = "failed"
	BookingCancelRequested = "cancel_requested"
	BookingCancelled       = "cancelled"
)

// BookingStates lists every state, in lifecycle order.
var BookingStates = []string{BookingPending, BookingBooked, BookingUnconfirmed, BookingFailed, BookingCancelRequested, BookingCancelled}

// liveBookingStates hold their slot: one per slot (the bookings_live_slot index).
var liveBookingStates = []string{BookingPending, BookingBooked, BookingUnconfirmed, BookingCancelRequested}

var (
	// ErrSlotHeld is returned when another booking in gpfed holds the slot
	// (booked, or being booked right now).
	ErrSlotHeld = errors.New("slot already has a live booking")
	// ErrBookingInProgress is returned when an Idempotency-Key names a
	// booking whose first request is still talking to the practice.
	ErrBookingInProgress = errors.New("booking with this idempotency key is still in progress")
)

// Person is who a booking or cancellation is attributed to: the named
// person in the GP Connect JWT. Staff identity, not patient data.
type Person struct {
	UserID           string `json:"user_id"`
	SDSUserID        string `json:"sds_user_id"`
	SDSRoleProfileID string `json:"sds_role_profile_id"`
	FamilyName       string `json:"family_name"`
	GivenName        string `json:"given_name"`
}

// BookedSlot is the slot a booking is for, copied from the snapshot when
// the booking was claimed.
type BookedSlot struct {
	HostODS, SlotID    string
	Start, End         string // the provider's text, byte for byte
	StartAt, EndAt     time.Time
	LocalDate          string
	DurationMinutes    int
	ScheduleID         string
	LocationID         string
	SiteName           string
	PractitionerID     string
	PractitionerName   string
	RoleCode           string
	RoleDisplay        string
	DeliveryChannel    string
	SlotType           string
	PracticeName       string // the host practice's name (read only)
	PracticeTelephone  string // read only
	PracticeEndpoint   string // read only
	PracticeASID       string // read only
	PracticeRegistered bool   // read only: the host takes temporary registrations
}

// Booking is one appointment booked (or being booked) through gpfed.
// PatientNHSNumber, PatientID, Description, Comment and CancelReason are
// patient data: they go to the two practices only, never to logs, metrics
// or queue payloads.
type Booking struct {
	ID         uuid.UUID
	BookingODS string
	Slot       BookedSlot
	OrgType    string

	PatientNHSNumber string
	PatientID        string
	Registered       bool
	Description      string
	Comment          string
	BookedBy         Person

	State              string
	AppointmentID      string
	AppointmentVersion string
	FailureStatus      int
	FailureCode        string
	FailureDetail      string

	CancelSeq         int
	CancelRequestedBy string
	CancelRequestedAt *time.Time
	CancelReason      string
	CancelledBy       *Person

	IdempotencyKey string
	RequestHash    []byte
	CreatedAt      time.Time
	UpdatedAt      time.Time
	BookedAt       *time.Time
	FinishedAt     *time.Time
	RedactedAt     *time.Time
}

// BookingEvent is one row of a booking's append-only audit trail.
type BookingEvent struct {
	ID        int64
	At        time.Time
	Actor     string
	Action    string
	FromState string
	ToState   string
	Detail    map[string]any
}

const bookingColumns = `b.id, b.booking_ods, b.host_ods, b.slot_id, b.slot_start, b.slot_end, b.start_at, b.end_at,
	to_char(b.local_date, 'YYYY-MM-DD'), b.duration_minutes, b.schedule_id, b.location_id, b.site_name,
	b.practitioner_id, b.practitioner_name, b.role_code, b.role_display, b.delivery_channel, b.slot_type, b.org_type,
	COALESCE(b.patient_nhs_number, ''), COALESCE(b.patient_id, ''), b.registered, b.description, b.comment, b.booked_by,
	b.state, COALESCE(b.appointment_id, ''), COALESCE(b.appointment_version, ''), COALESCE(b.failure_status, 0),
	COALESCE(b.failure_code, ''), COALESCE(b.failure_detail, ''), b.cancel_seq, COALESCE(b.cancel_requested_by, ''),
	b.cancel_requested_at, COALESCE(b.cancel_reason, ''), b.cancelled_by, COALESCE(b.idempotency_key, ''),
	b.request_hash, b.created_at, b.updated_at, b.booked_at, b.finished_at, b.redacted_at`

func bookingFields(b *Booking) []any {
	s := &b.Slot
	return []any{&b.ID, &b.BookingODS, &s.HostODS, &s.SlotID, &s.Start, &s.End, &s.StartAt, &s.EndAt,
		&s.LocalDate, &s.DurationMinutes, &s.ScheduleID, &s.LocationID, &s.SiteName,
		&s.PractitionerID, &s.PractitionerName, &s.RoleCode, &s.RoleDisplay, &s.DeliveryChannel, &s.SlotType, &b.OrgType,
		&b.PatientNHSNumber, &b.PatientID, &b.Registered, &b.Description, &b.Comment, &b.BookedBy,
		&b.State, &b.AppointmentID, &b.AppointmentVersion, &b.FailureStatus,
		&b.FailureCode, &b.FailureDetail, &b.CancelSeq, &b.CancelRequestedBy,
		&b.CancelRequestedAt, &b.CancelReason, &b.CancelledBy, &b.IdempotencyKey,
		&b.RequestHash, &b.CreatedAt, &b.UpdatedAt, &b.BookedAt, &b.FinishedAt, &b.RedactedAt}
}

func scanBooking(row pgx.Row) (Booking, error) {
	var b Booking
	err := row.Scan(bookingFields(&b)...)
	return b, err
}

// InsertBookingEvent appends to a booking's audit trail inside tx. detail
// must never hold patient data.
func InsertBookingEvent(ctx context.Context, tx pgx.Tx, id uuid.UUID, actor, action, fromState, toState string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	_, err := tx.Exec(ctx, `INSERT INTO booking_events (booking_id, actor, action, from_state, to_state, detail)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6)`, id, actor, action, fromState, toState, detail)
	if err != nil {
		return translate(fmt.Errorf("insert booking event %s for %s: %w", action, id, err))
	}
	return nil
}

// ClaimBooking writes b in state pending: the booking intent gpfed
// persists before it calls the practice. It fails with ErrSlotHeld when
// another live booking holds the slot (whoever got there first wins; the
// others never reach the practice), and with an Idempotency-Key the caller
// used before it returns the earlier booking (created=false),
// ErrIdempotencyMismatch for a different request, or ErrBookingInProgress
// while that booking is still pending.
func (db *DB) ClaimBooking(ctx context.Context, b Booking) (Booking, bool, error) {
	for range 3 {
		out, err := db.insertBooking(ctx, b)
		if err == nil {
			return out, true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Booking{}, false, translate(fmt.Errorf("claim booking: %w", err))
		}
		out, err = db.explainNotClaimed(ctx, b)
		if !errors.Is(err, ErrNotFound) {
			return out, false, err
		}
		// The row in the way was gone by the time we looked (a claim
		// released): try again.
	}
	return Booking{}, false, fmt.Errorf("claim booking: %w", ErrSlotHeld)
}

func (db *DB) insertBooking(ctx context.Context, b Booking) (Booking, error) {
	s := b.Slot
	row := db.Pool.QueryRow(ctx, `INSERT INTO bookings AS b (id, booking_ods, host_ods, slot_id, slot_start, slot_end,
			start_at, end_at, local_date, duration_minutes, schedule_id, location_id, site_name, practitioner_id,
			practitioner_name, role_code, role_display, delivery_channel, slot_type, org_type, patient_nhs_number,
			description, comment, booked_by, idempotency_key, request_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::date, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
			$22, $23, $24, NULLIF($25, ''), $26)
		ON CONFLICT DO NOTHING
		RETURNING `+bookingColumns,
		b.ID, b.BookingODS, s.HostODS, s.SlotID, s.Start, s.End, s.StartAt, s.EndAt, s.LocalDate, s.DurationMinutes,
		s.ScheduleID, s.LocationID, s.SiteName, s.PractitionerID, s.PractitionerName, s.RoleCode, s.RoleDisplay,
		s.DeliveryChannel, s.SlotType, b.OrgType, b.PatientNHSNumber, b.Description, b.Comment, b.BookedBy,
		b.IdempotencyKey, b.RequestHash)
	return scanBooking(row)
}

// explainNotClaimed finds the row that stopped the claim: the caller's
// earlier booking with the same key, or the slot's live booking.
func (db *DB) explainNotClaimed(ctx context.Context, b Booking) (Booking, error) {
	if b.IdempotencyKey != "" {
		prev, err := db.FindBookingByIdempotencyKey(ctx, b.BookingODS, b.IdempotencyKey)
		switch {
		case err == nil && string(prev.RequestHash) != string(b.RequestHash):
			return Booking{}, ErrIdempotencyMismatch
		case err == nil && prev.State == BookingPending:
			return prev, ErrBookingInProgress
		case err == nil:
			return prev, nil
		case !errors.Is(err, ErrNotFound):
			return Booking{}, err
		}
	}
	var state string
	err := db.Pool.QueryRow(ctx, `SELECT state FROM bookings WHERE host_ods = $1 AND slot_id = $2 AND state = ANY($3)`,
		b.Slot.HostODS, b.Slot.SlotID, liveBookingStates).Scan(&state)
	if err != nil {
		return Booking{}, translate(fmt.Errorf("find the slot's live booking: %w", err))
	}
	return Booking{}, fmt.Errorf("%w (%s)", ErrSlotHeld, state)
}

// ReleaseClaim deletes a pending booking that never reached the point of
// posting the Appointment (patient not found, registration refused):
// nothing happened at the practice, so nothing is kept. A booking with
// audit events (it was requested) is never deleted.
func (db *DB) ReleaseClaim(ctx context.Context, id uuid.UUID) error {
	_, err := db.Pool.Exec(ctx, `DELETE FROM bookings WHERE id = $1 AND state = 'pending'
		AND NOT EXISTS (SELECT 1 FROM booking_events WHERE booking_id = $1)`, id)
	if err != nil {
		return translate(fmt.Errorf("release claim %s: %w", id, err))
	}
	return nil
}

// MarkRequested records, just before the Appointment is posted, the
// patient's logical id at the host practice and the booking's first audit
// event: from here on the practice may have the appointment, so the
// booking is never deleted.
func (db *DB) MarkRequested(ctx context.Context, id uuid.UUID, patientID string, registered bool, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	tag, err := db.Pool.Exec(ctx, `WITH u AS (UPDATE bookings SET patient_id = $2, registered = $3, updated_at = now()
			WHERE id = $1 AND state = 'pending' RETURNING id, booking_ods)
		INSERT INTO booking_events (booking_id, actor, action, to_state, detail)
		SELECT id, booking_ods, 'requested', 'pending', $4 FROM u`, id, patientID, registered, detail)
	if err != nil {
		return translate(fmt.Errorf("mark booking %s requested: %w", id, err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("mark booking %s requested: %w", id, ErrWrongState)
	}
	return nil
}

// FindBookingByIdempotencyKey returns the practice's booking made with key.
func (db *DB) FindBookingByIdempotencyKey(ctx context.Context, ods, key string) (Booking, error) {
	b, err := scanBooking(db.Pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b
		WHERE b.booking_ods = $1 AND b.idempotency_key = $2`, ods, key))
	if err != nil {
		return Booking{}, translate(fmt.Errorf("find booking by idempotency key: %w", err))
	}
	return b, nil
}

// GetBooking returns a booking by id, for the workers.
func (db *DB) GetBooking(ctx context.Context, id uuid.UUID) (Booking, error) {
	b, err := scanBooking(db.Pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b WHERE b.id = $1`, id))
	if err != nil {
		return Booking{}, translate(fmt.Errorf("get booking %s: %w", id, err))
	}
	return b, nil
}

// GetBookingFor returns a booking and its audit trail when party is its
// booking practice or its host practice; anyone else gets ErrNotFound.
func (db *DB) GetBookingFor(ctx context.Context, id uuid.UUID, party string) (Booking, []BookingEvent, error) {
	b, err := scanBooking(db.Pool.QueryRow(ctx, `SELECT `+bookingColumns+` FROM bookings b
		WHERE b.id = $1 AND (b.booking_ods = $2 OR b.host_ods = $2)`, id, party))
	if err != nil {
		return Booking{}, nil, translate(fmt.Errorf("get booking %s: %w", id, err))
	}
	events, err := db.BookingEvents(ctx, id)
	return b, events, err
}

// BookingEvents returns a booking's audit trail, oldest first.
func (db *DB) BookingEvents(ctx context.Context, id uuid.UUID) ([]BookingEvent, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, at, actor, action, COALESCE(from_state, ''), COALESCE(to_state, ''), detail
		FROM booking_events WHERE booking_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, translate(fmt.Errorf("list events of booking %s: %w", id, err))
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BookingEvent, error) {
		var e BookingEvent
		return e, r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.FromState, &e.ToState, &e.Detail)
	})
	if err != nil {
		return nil, translate(fmt.Errorf("list events of booking %s: %w", id, err))
	}
	return events, nil
}

// BookingFilter selects a practice's bookings: those it made (Role
// "booking"), those made into its slots ("host"), or both ("").
type BookingFilter struct {
	Party  string
	Role   string
	States []string
	After  *PageKey
	Limit  int
}

// ListBookings pages through the party's bookings newest first (created_at,
// then id).
func (db *DB) ListBookings(ctx context.Context, f BookingFilter) ([]Booking, error) {
	var afterAt *time.Time
	var afterID *uuid.UUID
	if f.After != nil {
		afterAt, afterID = &f.After.CreatedAt, &f.After.ID
	}
	if len(f.States) == 0 {
		f.States = BookingStates
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+bookingColumns+` FROM bookings b
		WHERE ((b.booking_ods = $1 AND $2 <> 'host') OR (b.host_ods = $1 AND $2 <> 'booking'))
		  AND b.state = ANY($3)
		  AND ($4::timestamptz IS NULL OR (b.created_at, b.id) < ($4, $5::uuid))
		ORDER BY b.created_at DESC, b.id DESC LIMIT $6`, f.Party, f.Role, f.States, afterAt, afterID, f.Limit)
	if err != nil {
		return nil, translate(fmt.Errorf("list bookings of %s: %w", f.Party, err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Booking, error) { return scanBooking(r) })
	if err != nil {
		return nil, translate(fmt.Errorf("list bookings of %s: %w", f.Party, err))
	}
	return out, nil
}
