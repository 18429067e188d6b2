package store

import (
	"context"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // slot times are written in Europe/London on hosts without zoneinfo too

	"github.com/jackc/pgx/v5"
)

// Free slots as bookings see them: the snapshot, minus slots a live
// booking holds, minus slots that have started.

// liveHold is the SQL condition "a live booking holds slot s".
const liveHold = `EXISTS (SELECT 1 FROM bookings bk WHERE bk.host_ods = s.ods_code AND bk.slot_id = s.slot_id
	AND bk.state IN ('pending', 'booked', 'unconfirmed', 'cancel_requested'))`

// FreeSlot is one bookable slot with its practice and when that practice's
// snapshot was last refreshed.
type FreeSlot struct {
	BookedSlot
	AsOf *time.Time // the practice's last successful sync
}

const freeSlotColumns = `s.ods_code, p.name, s.slot_id, s.start_at, s.end_at, s.start_text, s.end_text,
	to_char(s.local_date, 'YYYY-MM-DD'), s.duration_minutes, s.schedule_id, s.location_id, s.site_name,
	s.practitioner_id, s.practitioner_name, s.role_code, s.role_display, s.delivery_channel, s.slot_type,
	COALESCE(p.telephone, ''), COALESCE(p.endpoint, ''), COALESCE(p.asid, ''), p.temporary_registration, st.last_success_at`

// scanFreeSlot scans freeSlotColumns and then extra.
func scanFreeSlot(row pgx.Row, extra ...any) (FreeSlot, error) {
	var f FreeSlot
	s := &f.BookedSlot
	err := row.Scan(append([]any{&s.HostODS, &s.PracticeName, &s.SlotID, &s.StartAt, &s.EndAt, &s.Start, &s.End, &s.LocalDate,
		&s.DurationMinutes, &s.ScheduleID, &s.LocationID, &s.SiteName, &s.PractitionerID, &s.PractitionerName,
		&s.RoleCode, &s.RoleDisplay, &s.DeliveryChannel, &s.SlotType, &s.PracticeTelephone, &s.PracticeEndpoint,
		&s.PracticeASID, &s.PracticeRegistered, &f.AsOf}, extra...)...)
	if err == nil {
		s.Start, s.End = textOr(s.Start, s.StartAt), textOr(s.End, s.EndAt)
	}
	return f, err
}

// textOr returns the provider's own text for a slot time, or (for a slot
// stored before gpfed kept it) the instant as GP Connect writes times: UK
// local time with its offset.
func textOr(text string, t time.Time) string {
	if text != "" {
		return text
	}
	return t.In(london).Format("2006-01-02T15:04:05-07:00")
}

// startsOnDates bounds s.start_at to the UK local dates from..to (SQL date
// expressions), which local_date is: it lets slots_start_idx serve queries
// that select the federation's slots by date.
func startsOnDates(from, to string) string {
	return `s.start_at >= (` + from + `::date::timestamp AT TIME ZONE 'Europe/London') AND s.start_at < ((` + to +
		`::date + 1)::timestamp AT TIME ZONE 'Europe/London')`
}

const freeSlotFrom = ` FROM slots s JOIN practices p USING (ods_code)
	LEFT JOIN practice_sync_state st ON st.ods_code = s.ods_code`

// GetFreeSlot returns a slot of an active practice from the snapshot,
// whether or not a booking holds it (held reports that), or ErrNotFound.
func (db *DB) GetFreeSlot(ctx context.Context, ods, slotID string) (FreeSlot, bool, error) {
	var held bool
	f, err := scanFreeSlot(db.Pool.QueryRow(ctx, `SELECT `+freeSlotColumns+`, `+liveHold+freeSlotFrom+`
		WHERE p.active AND s.ods_code = $1 AND s.slot_id = $2`, ods, slotID), &held)
	if err != nil {
		return FreeSlot{}, false, translate(fmt.Errorf("get slot %s/%s: %w", ods, slotID, err))
	}
	return f, held, nil
}

// SlotPageKey is the position after which the next page of free slots
// starts (they run soonest first).
type SlotPageKey struct {
	StartAt time.Time
	ODS     string
	SlotID  string
}

// SlotFilter selects free slots: UK local dates From..To inclusive, slots
// starting after Now, optional practices, role code and delivery channel
// ("unspecified" selects slots that carry none, as for capacity).
type SlotFilter struct {
	From, To        time.Time
	Now             time.Time
	Practices       []string
	Role            string
	DeliveryChannel string
	After           *SlotPageKey
	Limit           int
}

// ListFreeSlots pages through free, unheld slots of active practices,
// soonest first (start, practice, slot id).
func (db *DB) ListFreeSlots(ctx context.Context, f SlotFilter) ([]FreeSlot, error) {
	var afterAt *time.Time
	var afterODS, afterID string
	if f.After != nil {
		afterAt, afterODS, afterID = &f.After.StartAt, f.After.ODS, f.After.SlotID
	}
	rows, err := db.Pool.Query(ctx, `SELECT `+freeSlotColumns+freeSlotFrom+`
		WHERE p.active AND s.start_at > $1 AND s.local_date BETWEEN $2::date AND $3::date AND `+startsOnDates("$2", "$3")+`
		  AND (COALESCE(cardinality($4::text[]), 0) = 0 OR s.ods_code = ANY($4))
		  AND ($5 = '' OR COALESCE(NULLIF(s.role_code, ''), 'unspecified') = $5)
		  AND ($6 = '' OR COALESCE(NULLIF(s.delivery_channel, ''), 'unspecified') = $6)
		  AND ($7::timestamptz IS NULL OR (s.start_at, s.ods_code, s.slot_id) > ($7, $8, $9))
		  AND NOT `+liveHold+`
		ORDER BY s.start_at, s.ods_code, s.slot_id LIMIT $10`,
		f.Now, f.From.Format(time.DateOnly), f.To.Format(time.DateOnly), f.Practices, f.Role, f.DeliveryChannel,
		afterAt, afterODS, afterID, f.Limit)
	if err != nil {
		return nil, translate(fmt.Errorf("list free slots: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FreeSlot, error) { return scanFreeSlot(r) })
	if err != nil {
		return nil, translate(fmt.Errorf("list free slots: %w", err))
	}
	return out, nil
}

// AlternativeSlots returns up to limit free, unheld slots across the
// federation with the role and delivery channel of s, nearest in time to
// it (before or after, not yet started), s itself excluded.
func (db *DB) AlternativeSlots(ctx context.Context, s BookedSlot, now time.Time, limit int) ([]FreeSlot, error) {
	// Two index range scans from s.StartAt (forwards and backwards) instead of
	// ordering the whole snapshot by distance.
	side := func(cmp, order string) string {
		return `(SELECT ` + freeSlotColumns + freeSlotFrom + `
			WHERE p.active AND s.start_at ` + cmp + ` $1 AND s.start_at > $2 AND s.role_code = $3 AND s.delivery_channel = $4
			  AND NOT (s.ods_code = $5 AND s.slot_id = $6) AND NOT ` + liveHold + `
			ORDER BY s.start_at ` + order + ` LIMIT $7)`
	}
	rows, err := db.Pool.Query(ctx, `SELECT * FROM (`+side(">=", "ASC")+` UNION ALL `+side("<", "DESC")+`) alt
		ORDER BY abs(extract(epoch FROM alt.start_at - $1)), alt.start_at, alt.ods_code, alt.slot_id LIMIT $7`,
		s.StartAt, now, s.RoleCode, s.DeliveryChannel, s.HostODS, s.SlotID, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("alternative slots: %w", err))
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (FreeSlot, error) { return scanFreeSlot(r) })
	if err != nil {
		return nil, translate(fmt.Errorf("alternative slots: %w", err))
	}
	return out, nil
}

// DropSlot takes a slot the practice says is gone (taken by someone else,
// no such slot) out of the snapshot and the capacity aggregates at once;
// the next sync is the judge of what is free.
func (db *DB) DropSlot(ctx context.Context, ods, slotID string) error {
	return db.InTx(ctx, func(tx pgx.Tx) error { return removeSlot(ctx, tx, ods, slotID) })
}

// takeSlot removes a booked slot from the snapshot (recorded as removed in
// the change history, as the next sync would) and rebuilds that day's
// capacity, so the dashboard, the capacity API and GET /v1/slots agree at once.
func takeSlot(ctx context.Context, tx pgx.Tx, b Booking) error {
	return removeSlot(ctx, tx, b.Slot.HostODS, b.Slot.SlotID)
}

func removeSlot(ctx context.Context, tx pgx.Tx, ods, slotID string) error {
	if err := lockCapacity(ctx, tx, ods); err != nil {
		return err
	}
	var date time.Time
	err := tx.QueryRow(ctx, `WITH d AS (DELETE FROM slots WHERE ods_code = $1 AND slot_id = $2
			RETURNING ods_code, slot_id, start_at, local_date, duration_minutes, role_code, delivery_channel),
		c AS (INSERT INTO slot_changes (ods_code, slot_id, change, start_at, local_date, duration_minutes, role_code, delivery_channel)
			SELECT ods_code, slot_id, 'removed', start_at, local_date, duration_minutes, role_code, delivery_channel FROM d)
		SELECT local_date FROM d`, ods, slotID).Scan(&date)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // already gone (a sync got there first)
	}
	if err != nil {
		return fmt.Errorf("remove slot %s/%s from the snapshot: %w", ods, slotID, err)
	}
	return rebuildCapacityDay(ctx, tx, ods, date)
}

// lockCapacity serialises the transactions that rewrite a practice's
// snapshot and capacity rows (a sync saving its snapshot, bookings taking
// slots out), so that two of them never rebuild the same day from
// different views; it is held until the transaction ends.
func lockCapacity(ctx context.Context, tx pgx.Tx, ods string) error {
	if err := lockCapacityStmt(ods).run(ctx, tx); err != nil {
		return fmt.Errorf("lock capacity of %s: %w", ods, err)
	}
	return nil
}

// lockCapacityStmt is lockCapacity as a statement, to pipeline with others.
func lockCapacityStmt(ods string) stmt {
	return stmt{sql: `SELECT pg_advisory_xact_lock(730199, hashtext($1))`, args: []any{ods}}
}

// rebuildCapacityDay recomputes one practice-day of capacity_daily from
// the snapshot in one statement (the same aggregates SaveSnapshot builds:
// "unspecified" for absent values); a day left without slots has no row.
func rebuildCapacityDay(ctx context.Context, tx pgx.Tx, ods string, date time.Time) error {
	_, err := tx.Exec(ctx, `WITH s AS (
			SELECT duration_minutes m, COALESCE(NULLIF(delivery_channel, ''), 'unspecified') ch,
				COALESCE(NULLIF(role_code, ''), 'unspecified') ro, COALESCE(NULLIF(site_name, ''), 'unspecified') si
			FROM slots WHERE ods_code = $1 AND local_date = $2),
		agg AS (SELECT count(*) n, COALESCE(sum(m), 0) mins FROM s),
		del AS (DELETE FROM capacity_daily WHERE ods_code = $1 AND local_date = $2 AND (SELECT n FROM agg) = 0)
		INSERT INTO capacity_daily (ods_code, local_date, free_slots, free_minutes, by_delivery_channel, by_role, by_site,
			minutes_by_delivery_channel, minutes_by_role)
		SELECT $1, $2, agg.n, agg.mins,
			(SELECT jsonb_object_agg(ch, c) FROM (SELECT ch, count(*) c FROM s GROUP BY ch) x),
			(SELECT jsonb_object_agg(ro, c) FROM (SELECT ro, count(*) c FROM s GROUP BY ro) x),
			(SELECT jsonb_object_agg(si, c) FROM (SELECT si, count(*) c FROM s GROUP BY si) x),
			(SELECT jsonb_object_agg(ch, c) FROM (SELECT ch, sum(m) c FROM s GROUP BY ch) x),
			(SELECT jsonb_object_agg(ro, c) FROM (SELECT ro, sum(m) c FROM s GROUP BY ro) x)
		FROM agg WHERE agg.n > 0
		ON CONFLICT (ods_code, local_date) DO UPDATE SET free_slots = EXCLUDED.free_slots,
			free_minutes = EXCLUDED.free_minutes, by_delivery_channel = EXCLUDED.by_delivery_channel,
			by_role = EXCLUDED.by_role, by_site = EXCLUDED.by_site,
			minutes_by_delivery_channel = EXCLUDED.minutes_by_delivery_channel,
			minutes_by_role = EXCLUDED.minutes_by_role, computed_at = now()`, ods, date)
	if err != nil {
		return fmt.Errorf("rebuild capacity of %s on %s: %w", ods, date.Format(time.DateOnly), err)
	}
	return nil
}

// london is the zone GP Connect writes slot times in.
var london = func() *time.Location {
	loc, err := time.LoadLocation("Europe/London")
	if err != nil {
		panic("store: load Europe/London: " + err.Error()) // unreachable: time/tzdata is embedded
	}
	return loc
}()
