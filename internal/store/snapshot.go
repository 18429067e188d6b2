package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SlotRecord is one free slot as stored in the snapshot.
type SlotRecord struct {
	SlotID           string
	Start, End       time.Time
	StartText        string // the provider's text for Start: a booking sends it back byte for byte
	EndText          string
	LocalDate        string // YYYY-MM-DD, UK local date of Start
	DurationMinutes  int
	LocationID       string
	SiteName         string
	ScheduleID       string
	SessionName      string
	PractitionerID   string
	PractitionerName string
	RoleCode         string
	RoleDisplay      string
	DeliveryChannel  string
	SlotType         string
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
	// LeaseToken is the fetch lease the outcome is recorded under; the
	// recording transaction releases it, and fails with ErrLeaseLost when
	// it lapsed. "" when the caller holds no lease (tools, tests).
	LeaseToken string
	// Endpoint is what the fetch resolved (SDS or override), recorded in
	// practice_endpoints; nil when resolution did not get that far.
	Endpoint *EndpointRecord
}

// SnapshotChanges counts what a snapshot replacement changed.
type SnapshotChanges struct{ Added, Removed, Expired, Changed, Kept int }

// SaveSnapshot atomically replaces a practice's slot snapshot with slots,
// records added/removed/expired slots in slot_changes, rebuilds the
// practice's capacity_daily rows, and records the outcome as ok. It is
// idempotent: saving the same slots again writes no slot rows and no changes.
//
// The diff is computed here rather than in SQL: the current snapshot is read
// once, only removed and changed rows are deleted, and only new and changed
// rows are copied in, so a nightly re-sync of an unchanged practice touches
// almost nothing. A practice's first snapshot records no 'added' changes
// (first_seen_at says when each slot appeared).
func (db *DB) SaveSnapshot(ctx context.Context, o FetchOutcome, windowFrom, windowTo time.Time, slots []SlotRecord) (SnapshotChanges, error) {
	var ch SnapshotChanges
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		// The snapshot can always be fetched again: if a crash loses this commit, the
		// practice stays pending in its run and reconciliation fetches it again.
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			return err
		}
		if err := endLease(ctx, tx, o.ODSCode, o.LeaseToken); err != nil {
			return err
		}
		if err := lockCapacity(ctx, tx, o.ODSCode); err != nil {
			return err
		}
		old, err := currentSnapshot(ctx, tx, o.ODSCode)
		if err != nil {
			return err
		}
		if slots, err = withoutJustBooked(ctx, tx, o, slots); err != nil {
			return err
		}
		d := diffSnapshot(old, slots, windowFrom)
		ch = d.counts
		if err := applyDiff(ctx, tx, o, d, len(old) > 0); err != nil {
			return err
		}
		if err := rebuildCapacity(ctx, tx, o.ODSCode, slots); err != nil {
			return err
		}
		if err := recordCapacityHistory(ctx, tx, o, windowFrom, windowTo); err != nil {
			return err
		}
		if err := recordEndpoint(ctx, tx, o); err != nil {
			return err
		}
		return recordOK(ctx, tx, o, windowFrom, windowTo, len(slots))
	})
	return ch, err
}

// withoutJustBooked drops the slots gpfed booked while this fetch was in
// flight (or just before): the practice listed them as free when asked, but
// they are booked now, and putting them back would offer a booked slot
// until the next sync. Slots booked well before the fetch are the
// practice's to judge: if it offers one again, it was freed there.
func withoutJustBooked(ctx context.Context, tx pgx.Tx, o FetchOutcome, slots []SlotRecord) ([]SlotRecord, error) {
	rows, err := tx.Query(ctx, `SELECT slot_id FROM bookings WHERE host_ods = $1
		AND state IN ('booked', 'cancel_requested') AND booked_at > now() - make_interval(secs => $2)`,
		o.ODSCode, (o.Duration + bookedDuringFetchMargin).Seconds())
	if err != nil {
		return nil, fmt.Errorf("slots booked during the fetch: %w", err)
	}
	booked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(booked) == 0 {
		return slots, err
	}
	drop := make(map[string]bool, len(booked))
	for _, id := range booked {
		drop[id] = true
	}
	kept := make([]SlotRecord, 0, len(slots))
	for _, s := range slots {
		if !drop[s.SlotID] {
			kept = append(kept, s)
		}
	}
	return kept, nil
}

// bookedDuringFetchMargin widens "during the fetch" for clock skew between
// the worker and Postgres.
const bookedDuringFetchMargin = 30 * time.Second

// storedSlot is a snapshot row with when it was first seen.
type storedSlot struct {
	SlotRecord
	firstSeen time.Time
	firstRun  *int64
}

func currentSnapshot(ctx context.Context, tx pgx.Tx, ods string) (map[string]storedSlot, error) {
	rows, err := tx.Query(ctx, `SELECT slot_id, start_at, end_at, start_text, end_text, to_char(local_date, 'YYYY-MM-DD'),
		duration_minutes, location_id, site_name, schedule_id, session_name, practitioner_id, practitioner_name, role_code,
		role_display, delivery_channel, slot_type, first_seen_at, first_run_id FROM slots WHERE ods_code = $1`, ods)
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	defer rows.Close()
	out := map[string]storedSlot{}
	for rows.Next() {
		var s storedSlot
		if err := rows.Scan(&s.SlotID, &s.Start, &s.End, &s.StartText, &s.EndText, &s.LocalDate, &s.DurationMinutes,
			&s.LocationID, &s.SiteName, &s.ScheduleID, &s.SessionName, &s.PractitionerID, &s.PractitionerName,
			&s.RoleCode, &s.RoleDisplay, &s.DeliveryChannel, &s.SlotType, &s.firstSeen, &s.firstRun); err != nil {
			return nil, err
		}
		out[s.SlotID] = s
	}
	return out, rows.Err()
}

// goneSlot is a slot that left the snapshot: "removed" (booked or withdrawn)
// or "expired" (its start passed before this fetch's window).
type goneSlot struct {
	SlotRecord
	kind string
}

// insertRow is a slot to copy in with when it was first seen (zero: now, in
// this run). It points into the caller's slice: a region's sync stores
// millions of slots, so the diff copies none of them.
type insertRow struct {
	*SlotRecord
	firstSeen time.Time
	firstRun  *int64
}

type snapshotDiff struct {
	gone    []goneSlot
	deletes []string    // gone plus changed: rows to delete
	inserts []insertRow // added plus changed (changed keep their first_seen)
	added   []*SlotRecord
	counts  SnapshotChanges
}

func diffSnapshot(old map[string]storedSlot, slots []SlotRecord, from time.Time) snapshotDiff {
	d := snapshotDiff{inserts: make([]insertRow, 0, len(slots))}
	var seen map[string]struct{}
	if len(old) > 0 {
		seen = make(map[string]struct{}, len(slots))
	}
	for i := range slots {
		s := &slots[i]
		if seen != nil {
			seen[s.SlotID] = struct{}{}
		}
		prev, ok := old[s.SlotID]
		switch {
		case !ok:
			d.inserts = append(d.inserts, insertRow{SlotRecord: s})
			d.added = append(d.added, s)
			d.counts.Added++
		case !sameSlot(prev.SlotRecord, *s):
			d.deletes = append(d.deletes, s.SlotID)
			d.inserts = append(d.inserts, insertRow{SlotRecord: s, firstSeen: prev.firstSeen, firstRun: prev.firstRun})
			d.counts.Changed++
		default:
			d.counts.Kept++
		}
	}
	for id, s := range old {
		if _, ok := seen[id]; ok {
			continue
		}
		d.deletes = append(d.deletes, id)
		if s.Start.Before(from) {
			d.gone = append(d.gone, goneSlot{s.SlotRecord, "expired"})
			d.counts.Expired++
		} else {
			d.gone = append(d.gone, goneSlot{s.SlotRecord, "removed"})
			d.counts.Removed++
		}
	}
	return d
}

func sameSlot(a, b SlotRecord) bool {
	return a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.LocalDate == b.LocalDate &&
		a.DurationMinutes == b.DurationMinutes && a.LocationID == b.LocationID && a.SiteName == b.SiteName &&
		a.ScheduleID == b.ScheduleID && a.SessionName == b.SessionName && a.PractitionerID == b.PractitionerID &&
		a.RoleCode == b.RoleCode && a.RoleDisplay == b.RoleDisplay && a.DeliveryChannel == b.DeliveryChannel &&
		a.SlotType == b.SlotType && a.StartText == b.StartText && a.EndText == b.EndText &&
		a.PractitionerName == b.PractitionerName
}

var changeColumns = []string{"run_id", "ods_code", "slot_id", "change", "start_at", "local_date", "duration_minutes",
	"role_code", "delivery_channel", "changed_at"}

func applyDiff(ctx context.Context, tx pgx.Tx, o FetchOutcome, d snapshotDiff, hadSnapshot bool) error {
	now := time.Now()
	if len(d.deletes) > 0 {
		if _, err := tx.Exec(ctx, `DELETE FROM slots WHERE ods_code = $1 AND slot_id = ANY($2)`, o.ODSCode, d.deletes); err != nil {
			return fmt.Errorf("delete slots: %w", err)
		}
	}
	if err := copySlots(ctx, tx, o.ODSCode, o.RunID, d.inserts, now); err != nil {
		return err
	}
	return recordChanges(ctx, tx, o, d, hadSnapshot, now)
}

func changeRow(o FetchOutcome, s SlotRecord, kind string, now time.Time) []any {
	date, _ := time.Parse(time.DateOnly, s.LocalDate) // validated when the slot was stored
	return []any{o.RunID, o.ODSCode, s.SlotID, kind, s.Start, date, s.DurationMinutes, s.RoleCode, s.DeliveryChannel, now}
}

func recordChanges(ctx context.Context, tx pgx.Tx, o FetchOutcome, d snapshotDiff, hadSnapshot bool, now time.Time) error {
	var rows [][]any
	for _, s := range d.gone {
		rows = append(rows, changeRow(o, s.SlotRecord, s.kind, now))
	}
	if hadSnapshot {
		for _, s := range d.added {
			rows = append(rows, changeRow(o, *s, "added", now))
		}
	}
	if len(rows) == 0 {
		return nil
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"slot_changes"}, changeColumns, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("record slot changes: %w", err)
	}
	return nil
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
			last_http_status, last_spine_code, last_error, window_from, window_to, slot_count, not_enabled_since)
		VALUES ($1, $2, now(), now(), false, NULL, NULL, NULL, NULL, $3, $4, $5, NULL)
		ON CONFLICT (ods_code) DO UPDATE SET last_run_id = $2, last_attempt_at = now(), last_success_at = now(),
			stale = false, stale_since = NULL, last_http_status = NULL, last_spine_code = NULL, last_error = NULL,
			window_from = $3, window_to = $4, slot_count = $5, not_enabled_since = NULL`,
		o.ODSCode, o.RunID, from.Format(time.DateOnly), to.Format(time.DateOnly), n)
	if err != nil {
		return fmt.Errorf("record sync state: %w", err)
	}
	return nil
}
