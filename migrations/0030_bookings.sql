-- Booking and cancelling appointments across the federation (GP Connect
-- Appointment Management: find patient, register patient, book, read,
-- cancel, a patient's appointments).

-- What a booking needs from the slot snapshot: the provider's start and end
-- exactly as it sent them (a booking must copy them byte for byte, offset
-- included), and the clinician's name for people choosing a slot. Rows
-- written before this migration have '' until the next sync rewrites them.
ALTER TABLE slots
    ADD COLUMN start_text        text NOT NULL DEFAULT '',
    ADD COLUMN end_text          text NOT NULL DEFAULT '',
    ADD COLUMN practitioner_name text NOT NULL DEFAULT '';
-- GET /v1/slots pages soonest first across the federation.
CREATE INDEX slots_start_idx ON slots (start_at, ods_code, slot_id);

-- The booking organisation of an appointment must carry a telephone number,
-- and registering a patient temporarily at a member practice is a local
-- agreement: both are per practice, from the practices CSV.
ALTER TABLE practices
    ADD COLUMN telephone              text,
    ADD COLUMN temporary_registration boolean NOT NULL DEFAULT false;

-- One row per booking attempt that reached the provider (or may have).
-- A claim that fails before the Appointment is posted (patient not found,
-- registration refused) is deleted again and leaves nothing behind.
CREATE TABLE bookings (
    id                   uuid PRIMARY KEY,
    booking_ods          text NOT NULL REFERENCES practices (ods_code), -- the caller: booking organisation
    host_ods             text NOT NULL REFERENCES practices (ods_code), -- the slot's practice
    slot_id              text NOT NULL,
    slot_start           text NOT NULL, -- the provider's Slot.start, byte for byte
    slot_end             text NOT NULL,
    start_at             timestamptz NOT NULL,
    end_at               timestamptz NOT NULL,
    local_date           date NOT NULL,
    duration_minutes     integer NOT NULL,
    schedule_id          text NOT NULL DEFAULT '',
    location_id          text NOT NULL,
    site_name            text NOT NULL DEFAULT '',
    practitioner_id      text NOT NULL DEFAULT '',
    practitioner_name    text NOT NULL DEFAULT '',
    role_code            text NOT NULL DEFAULT '',
    role_display         text NOT NULL DEFAULT '',
    delivery_channel     text NOT NULL DEFAULT '',
    slot_type            text NOT NULL DEFAULT '',
    org_type             text NOT NULL, -- GPConnect-OrganisationType-1 code sent as the booking organisation's type
    patient_nhs_number   text CHECK (patient_nhs_number ~ '^[0-9]{10}$'),
    patient_id           text, -- the patient's logical id at the host practice
    registered           boolean NOT NULL DEFAULT false, -- gpfed registered the patient there temporarily
    description          text NOT NULL,
    comment              text NOT NULL DEFAULT '',
    booked_by            jsonb NOT NULL, -- the named person the GP Connect calls are attributed to
    state                text NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'booked', 'unconfirmed', 'failed', 'cancel_requested', 'cancelled')),
    appointment_id       text,
    appointment_version  text,
    failure_status       integer,
    failure_code         text,
    failure_detail       text,
    cancel_seq           integer NOT NULL DEFAULT 0, -- cancel requests so far (names their queue entries)
    cancel_requested_by  text,
    cancel_requested_at  timestamptz,
    cancel_reason        text,
    cancelled_by         jsonb,
    idempotency_key      text,
    request_hash         bytea,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    booked_at            timestamptz,
    finished_at          timestamptz,
    redacted_at          timestamptz,
    UNIQUE (booking_ods, idempotency_key),
    CHECK (redacted_at IS NOT NULL OR char_length(description) BETWEEN 1 AND 100),
    CHECK (char_length(comment) <= 500),
    CHECK (state NOT IN ('booked', 'cancel_requested', 'cancelled') OR appointment_id IS NOT NULL),
    CHECK (redacted_at IS NOT NULL OR patient_nhs_number IS NOT NULL),
    CHECK (redacted_at IS NULL OR (patient_nhs_number IS NULL AND patient_id IS NULL AND description = ''
        AND comment = '' AND cancel_reason IS NULL AND state IN ('failed', 'cancelled', 'booked')))
);
-- A slot has at most one live booking in gpfed: concurrent attempts on one
-- slot lose here, before any of them reaches the provider.
CREATE UNIQUE INDEX bookings_live_slot ON bookings (host_ods, slot_id)
    WHERE state IN ('pending', 'booked', 'unconfirmed', 'cancel_requested');
CREATE INDEX bookings_booking_idx ON bookings (booking_ods, created_at DESC, id DESC);
CREATE INDEX bookings_host_idx ON bookings (host_ods, created_at DESC, id DESC);
-- What the reconciler looks at.
CREATE INDEX bookings_open_idx ON bookings (state, updated_at)
    WHERE state IN ('pending', 'unconfirmed', 'cancel_requested');
-- What retention looks at.
CREATE INDEX bookings_retention_idx ON bookings (finished_at) WHERE redacted_at IS NULL;

-- Append-only audit trail of every booking: who did what, when, with the
-- Ssp-TraceIDs of the GP Connect calls. Never patient data.
CREATE TABLE booking_events (
    id          bigserial PRIMARY KEY,
    booking_id  uuid NOT NULL REFERENCES bookings (id),
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL, -- ODS code of a practice, or 'system'
    action      text NOT NULL,
    from_state  text,
    to_state    text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX booking_events_booking_idx ON booking_events (booking_id, id);

CREATE FUNCTION booking_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'booking_events is append-only';
END;
$$;
CREATE TRIGGER booking_events_no_update BEFORE UPDATE OR DELETE ON booking_events
    FOR EACH ROW EXECUTE FUNCTION booking_events_append_only();

-- New notification kinds (booking.created, booking.confirmed, booking.failed,
-- booking.cancelled, booking.cancel_failed): kinds are checked by shape, the
-- constants live in Go (store/notifications.go).
ALTER TABLE notifications DROP CONSTRAINT IF EXISTS notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind ~ '^[a-z]+\.[a-z_]+$');
