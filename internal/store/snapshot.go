package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SlotRecord is one free slot as stored in the snapshot.
type SlotRecord struct {
	SlotID          string
	Start, End      time.Time
	LocalDate       string // YYYY-MM-DD, UK local date of Start
	DurationMinutes int
	LocationID      string
	SiteName        string
	ScheduleID      string
	SessionName     string
	PractitionerID  string
	RoleCode        string
	RoleDisplay     string
	DeliveryChannel string
	SlotType        string
}

// FetchOutcome describes how a practice fetch went, for the run record.
type FetchOutcome struct {
	RunID       int64
	ODSCode     string
	Calls       int
	Duration    time.Duration
	HTTPStatus  int // failures only; 0 = no HTTP response
	SpineCode   string
	Diagnostics string
}

// SnapshotChanges counts what a snapshot replacement changed.
type SnapshotChanges struct{ Added, Removed, Expired, Kept int }

// SaveSnapshot atomically replaces a practice's slot snapshot with slots,
// records added/removed/expired slots in slot_changes, rebuilds the
// practice's capacity_daily rows, and records the outcome as ok. It is
// idempotent: saving the same slots again changes nothing but last_seen.
func (db *DB) SaveSnapshot(ctx context.Context, o FetchOutcome, windowFrom, windowTo time.Time, slots []SlotRecord) (SnapshotChanges, error) {
	var ch SnapshotChanges
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE incoming (LIKE slots INCLUDING DEFAULTS) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("temp table: %w", err)
		}
		now := time.Now()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"incoming"}, slotColumns, copySlots(o, now, slots)); err != nil {
			return fmt.Errorf("copy slots: %w", err)
		}
		return replaceSnapshot(ctx, tx, o, windowFrom, windowTo, slots, &ch)
	})
	return ch, err
}

var slotColumns = []string{"ods_code", "slot_id", "start_at", "end_at", "local_date", "duration_minutes", "location_id",
	"site_name", "schedule_id", "session_name", "practitioner_id", "role_code", "role_display", "delivery_channel",
	"slot_type", "first_seen_at", "last_seen_at", "first_run_id", "last_run_id"}

func copySlots(o FetchOutcome, now time.Time, slots []SlotRecord) pgx.CopyFromSource {
	return pgx.CopyFromSlice(len(slots), func(i int) ([]any, error) {
		s := slots[i]
		d, err := time.Parse(time.DateOnly, s.LocalDate)
		if err != nil {
			return nil, fmt.Errorf("slot %s: local date %q: %w", s.SlotID, s.LocalDate, err)
		}
		return []any{o.ODSCode, s.SlotID, s.Start, s.End, d, s.DurationMinutes, s.LocationID, s.SiteName,
			s.ScheduleID, s.SessionName, s.PractitionerID, s.RoleCode, s.RoleDisplay, s.DeliveryChannel, s.SlotType,
			now, now, o.RunID, o.RunID}, nil
	})
}

func replaceSnapshot(ctx context.Context, tx pgx.Tx, o FetchOutcome, from, to time.Time, slots []SlotRecord, ch *SnapshotChanges) error {
	n := len(slots)
	// Slots that left: before the window start they expired, otherwise they were booked or withdrawn.
	err := tx.QueryRow(ctx, `
		WITH gone AS (
			DELETE FROM slots s WHERE s.ods_code = $1
			  AND NOT EXISTS (SELECT 1 FROM incoming i WHERE i.slot_id = s.slot_id)
			RETURNING s.*),
		logged AS (
			INSERT INTO slot_changes (run_id, ods_code, slot_id, change, start_at, local_date, duration_minutes, role_code, delivery_channel)
			SELECT $2, ods_code, slot_id, CASE WHEN start_at < $3 THEN 'expired' ELSE 'removed' END,
				start_at, local_date, duration_minutes, role_code, delivery_channel FROM gone
			RETURNING change)
		SELECT count(*) FILTER (WHERE change = 'expired'), count(*) FILTER (WHERE change = 'removed') FROM logged`,
		o.ODSCode, o.RunID, from).Scan(&ch.Expired, &ch.Removed)
	if err != nil {
		return fmt.Errorf("remove missing slots: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO slot_changes (run_id, ods_code, slot_id, change, start_at, local_date, duration_minutes, role_code, delivery_channel)
		SELECT $2, $1, i.slot_id, 'added', i.start_at, i.local_date, i.duration_minutes, i.role_code, i.delivery_channel
		FROM incoming i WHERE NOT EXISTS (SELECT 1 FROM slots s WHERE s.ods_code = $1 AND s.slot_id = i.slot_id)`, o.ODSCode, o.RunID)
	if err != nil {
		return fmt.Errorf("record added slots: %w", err)
	}
	ch.Added = int(tag.RowsAffected())
	ch.Kept = n - ch.Added
	if _, err := tx.Exec(ctx, `
		INSERT INTO slots SELECT * FROM incoming
		ON CONFLICT (ods_code, slot_id) DO UPDATE SET start_at = EXCLUDED.start_at, end_at = EXCLUDED.end_at,
			local_date = EXCLUDED.local_date, duration_minutes = EXCLUDED.duration_minutes, location_id = EXCLUDED.location_id,
			site_name = EXCLUDED.site_name, schedule_id = EXCLUDED.schedule_id, session_name = EXCLUDED.session_name,
			practitioner_id = EXCLUDED.practitioner_id, role_code = EXCLUDED.role_code, role_display = EXCLUDED.role_display,
			delivery_channel = EXCLUDED.delivery_channel, slot_type = EXCLUDED.slot_type,
			last_seen_at = EXCLUDED.last_seen_at, last_run_id = EXCLUDED.last_run_id`); err != nil {
		return fmt.Errorf("upsert slots: %w", err)
	}
	if err := rebuildCapacity(ctx, tx, o.ODSCode, slots); err != nil {
		return err
	}
	return recordOK(ctx, tx, o, from, to, n)
}

// dayAggregate is one capacity_daily row being built.
type dayAggregate struct {
	slots, minutes                                       int
	byChannel, byRole, bySite, minsByChannel, minsByRole map[string]int
}

func orUnspecified(s string) string {
	if s == "" {
		return "unspecified"
	}
	return s
}

// aggregateDays folds a practice's snapshot into per-day capacity rows in
// one pass (cheaper than re-reading the rows just written).
func aggregateDays(slots []SlotRecord) map[string]*dayAggregate {
	days := map[string]*dayAggregate{}
	for _, s := range slots {
		d := days[s.LocalDate]
		if d == nil {
			d = &dayAggregate{byChannel: map[string]int{}, byRole: map[string]int{}, bySite: map[string]int{},
				minsByChannel: map[string]int{}, minsByRole: map[string]int{}}
			days[s.LocalDate] = d
		}
		ch, role := orUnspecified(s.DeliveryChannel), orUnspecified(s.RoleCode)
		d.slots++
		d.minutes += s.DurationMinutes
		d.byChannel[ch]++
		d.byRole[role]++
		d.bySite[orUnspecified(s.SiteName)]++
		d.minsByChannel[ch] += s.DurationMinutes
		d.minsByRole[role] += s.DurationMinutes
	}
	return days
}

func rebuildCapacity(ctx context.Context, tx pgx.Tx, ods string, slots []SlotRecord) error {
	if _, err := tx.Exec(ctx, `DELETE FROM capacity_daily WHERE ods_code = $1`, ods); err != nil {
		return fmt.Errorf("clear capacity: %w", err)
	}
	days := aggregateDays(slots)
	rows := make([][]any, 0, len(days))
	for date, d := range days {
		day, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return fmt.Errorf("capacity date %q: %w", date, err)
		}
		rows = append(rows, []any{ods, day, d.slots, d.minutes, d.byChannel, d.byRole, d.bySite, d.minsByChannel, d.minsByRole})
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"capacity_daily"}, []string{"ods_code", "local_date", "free_slots",
		"free_minutes", "by_delivery_channel", "by_role", "by_site", "minutes_by_delivery_channel", "minutes_by_role"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("rebuild capacity: %w", err)
	}
	return nil
}

func recordOK(ctx context.Context, tx pgx.Tx, o FetchOutcome, from, to time.Time, n int) error {
	if _, err := tx.Exec(ctx, `UPDATE sync_run_practices SET status = 'ok', slots = $3, calls = $4, finished_at = now(),
		duration_ms = $5, http_status = NULL, spine_code = NULL, diagnostics = NULL
		WHERE run_id = $1 AND ods_code = $2`, o.RunID, o.ODSCode, n, o.Calls, o.Duration.Milliseconds()); err != nil {
		return fmt.Errorf("record run outcome: %w", err)
	}
	_, err := tx.Exec(ctx, `
		INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, last_success_at, stale, stale_since,
			last_http_status, last_spine_code, last_error, window_from, window_to, slot_count)
		VALUES ($1, $2, now(), now(), false, NULL, NULL, NULL, NULL, $3, $4, $5)
		ON CONFLICT (ods_code) DO UPDATE SET last_run_id = $2, last_attempt_at = now(), last_success_at = now(),
			stale = false, stale_since = NULL, last_http_status = NULL, last_spine_code = NULL, last_error = NULL,
			window_from = $3, window_to = $4, slot_count = $5`,
		o.ODSCode, o.RunID, from.Format(time.DateOnly), to.Format(time.DateOnly), n)
	if err != nil {
		return fmt.Errorf("record sync state: %w", err)
	}
	return nil
}

// MarkPracticeFailed records a failed fetch. The practice keeps its previous
// snapshot, now marked stale since the first failure after its last success.
func (db *DB) MarkPracticeFailed(ctx context.Context, o FetchOutcome) error {
	return db.InTx(ctx, func(tx pgx.Tx) error {
		var status any
		if o.HTTPStatus > 0 {
			status = o.HTTPStatus
		}
		if _, err := tx.Exec(ctx, `UPDATE sync_run_practices SET status = 'failed', http_status = $3, spine_code = $4,
			diagnostics = $5, calls = $6, finished_at = now(), duration_ms = $7 WHERE run_id = $1 AND ods_code = $2`,
			o.RunID, o.ODSCode, status, o.SpineCode, o.Diagnostics, o.Calls, o.Duration.Milliseconds()); err != nil {
			return fmt.Errorf("record failure: %w", err)
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, stale, stale_since,
				last_http_status, last_spine_code, last_error)
			VALUES ($1, $2, now(), true, now(), $3, $4, $5)
			ON CONFLICT (ods_code) DO UPDATE SET last_run_id = $2, last_attempt_at = now(), stale = true,
				stale_since = COALESCE(practice_sync_state.stale_since, now()),
				last_http_status = $3, last_spine_code = $4, last_error = $5`,
			o.ODSCode, o.RunID, status, o.SpineCode, o.Diagnostics)
		if err != nil {
			return fmt.Errorf("record stale state: %w", err)
		}
		return nil
	})
}
