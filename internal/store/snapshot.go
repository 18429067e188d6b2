package store

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/jsonenc"
	"github.com/gpfed/gpfed/internal/slot"
)

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
func (db *DB) SaveSnapshot(ctx context.Context, o FetchOutcome, windowFrom, windowTo time.Time, slots []slot.Slot) (SnapshotChanges, error) {
	rs, err := db.SaveSnapshots(ctx, []SnapshotSave{{Outcome: o, From: windowFrom, To: windowTo, Slots: slots}})
	if err != nil {
		return SnapshotChanges{}, err
	}
	return rs[0].Changes, rs[0].Err
}

// SnapshotSave is one practice's fetched snapshot to save: its outcome, the
// window fetched and the slots found.
type SnapshotSave struct {
	Outcome  FetchOutcome
	From, To time.Time
	Slots    []slot.Slot
}

// SnapshotResult is what saving one snapshot of a group did.
type SnapshotResult struct {
	Changes SnapshotChanges
	// Err is the practice's own failure (ErrLeaseLost, ErrNotFound): it
	// wrote nothing, and the rest of the group was saved.
	Err error
}

// SaveSnapshots saves several practices' snapshots, as SaveSnapshot does
// each, in one transaction: every snapshot is replaced atomically and all of
// them commit together. A practice whose fetch lease lapsed (or that no
// longer exists) gets its own error in its result and writes nothing;
// any other error fails the whole group and is returned (the caller may
// save each practice alone to find the one at fault).
//
// A region's sync saves thousands of practices, and on a loopback
// connection a round trip costs more CPU than most of these statements do,
// so the transaction is a few round trips for the whole group, not a dozen
// per practice: one pipelined batch reads what the diffs need (under each
// practice's fetch lease and capacity lock, taken in ODS code order), one
// deletes changed and departed slots when there are any, one COPY writes
// every practice's new slots, and one batch writes everything else (see
// pipeline.go).
func (db *DB) SaveSnapshots(ctx context.Context, saves []SnapshotSave) ([]SnapshotResult, error) {
	order := make([]int, len(saves))
	for i := range order {
		order[i] = i
	}
	// Locks in one order, so two groups (or a group and a booking) never deadlock.
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(saves[a].Outcome.ODSCode, saves[b].Outcome.ODSCode)
	})
	var results []SnapshotResult
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		results = make([]SnapshotResult, len(saves)) // afresh on every attempt
		verdicts := make([]error, len(saves))
		olds := make([]map[string]storedSlot, len(saves))
		booked := make([][]string, len(saves))
		// The snapshots can always be fetched again: if a crash loses this commit, the
		// practices stay pending in their runs and reconciliation fetches them again.
		reads := []stmt{{sql: `SET LOCAL synchronous_commit = off`}}
		for _, i := range order {
			o := saves[i].Outcome
			reads = append(reads, releaseLeaseStmt(o.ODSCode, o.LeaseToken, &verdicts[i]), lockCapacityStmt(o.ODSCode),
				currentSnapshotStmt(o.ODSCode, &olds[i]), justBookedStmt(o, &booked[i]))
		}
		if err := sendBatch(ctx, tx, reads); err != nil {
			return err
		}
		now := time.Now()
		var deletes, writes []stmt
		var copies []slotRows
		for _, i := range order {
			sv := saves[i]
			o := sv.Outcome
			if verdicts[i] != nil {
				results[i].Err = verdicts[i]
				continue
			}
			slots := withoutBooked(sv.Slots, booked[i])
			d := diffSnapshot(olds[i], slots, sv.From)
			results[i].Changes = d.counts
			if len(d.deletes) > 0 {
				// Changed slots are deleted and copied in again: the deletes go first.
				deletes = append(deletes, stmt{what: "delete slots", sql: `DELETE FROM slots WHERE ods_code = $1 AND slot_id = ANY($2)`,
					args: []any{o.ODSCode, d.deletes}})
			}
			copies = append(copies, slotRows{ods: o.ODSCode, runID: o.RunID, rows: d.inserts})
			if s, ok := changesStmt(o, d, len(olds[i]) > 0, now); ok {
				writes = append(writes, s)
			}
			capacity, err := capacityStmts(o.ODSCode, slots)
			if err != nil {
				return err
			}
			writes = append(writes, capacity...)
			writes = append(writes, capacityHistoryStmts(o, sv.From, sv.To)...)
			if s, ok := recordEndpointStmt(o); ok {
				writes = append(writes, s)
			}
			writes = append(writes, recordOKStmts(o, sv.From, sv.To, len(slots))...)
		}
		if err := sendBatch(ctx, tx, deletes); err != nil {
			return err
		}
		if err := copySlots(ctx, tx, copies, now); err != nil {
			return err
		}
		return sendBatch(ctx, tx, writes)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// justBookedStmt reads the slots gpfed booked while this fetch was in
// flight (or just before): the practice listed them as free when asked, but
// they are booked now, and putting them back would offer a booked slot
// until the next sync (withoutBooked drops them). Slots booked well before
// the fetch are the practice's to judge: if it offers one again, it was
// freed there.
func justBookedStmt(o FetchOutcome, booked *[]string) stmt {
	return stmt{sql: `SELECT slot_id FROM bookings WHERE host_ods = $1
		AND state IN ('booked', 'cancel_requested') AND booked_at > now() - make_interval(secs => $2)`,
		args: []any{o.ODSCode, (o.Duration + bookedDuringFetchMargin).Seconds()},
		rows: func(rows pgx.Rows) error {
			ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return fmt.Errorf("slots booked during the fetch: %w", err)
			}
			*booked = ids
			return nil
		}}
}

// withoutBooked returns slots less those whose ids are in booked.
func withoutBooked(slots []slot.Slot, booked []string) []slot.Slot {
	if len(booked) == 0 {
		return slots
	}
	drop := make(map[string]bool, len(booked))
	for _, id := range booked {
		drop[id] = true
	}
	kept := make([]slot.Slot, 0, len(slots))
	for _, s := range slots {
		if !drop[s.ID] {
			kept = append(kept, s)
		}
	}
	return kept
}

// bookedDuringFetchMargin widens "during the fetch" for clock skew between
// the worker and Postgres.
const bookedDuringFetchMargin = 30 * time.Second

// storedSlot is a snapshot row with when it was first seen.
type storedSlot struct {
	slot.Slot
	firstSeen time.Time
	firstRun  *int64
}

func currentSnapshotStmt(ods string, out *map[string]storedSlot) stmt {
	return stmt{sql: `SELECT slot_id, start_at, end_at, start_text, end_text, to_char(local_date, 'YYYY-MM-DD'),
		duration_minutes, location_id, site_name, schedule_id, session_name, practitioner_id, practitioner_name, role_code,
		role_display, delivery_channel, slot_type, first_seen_at, first_run_id FROM slots WHERE ods_code = $1`,
		args: []any{ods},
		rows: func(rows pgx.Rows) error {
			m := map[string]storedSlot{}
			for rows.Next() {
				var s storedSlot
				if err := rows.Scan(&s.ID, &s.Start, &s.End, &s.StartText, &s.EndText, &s.LocalDate, &s.DurationMinutes,
					&s.LocationID, &s.SiteName, &s.ScheduleID, &s.SessionName, &s.PractitionerID, &s.PractitionerName,
					&s.RoleCode, &s.RoleDisplay, &s.DeliveryChannel, &s.SlotType, &s.firstSeen, &s.firstRun); err != nil {
					return fmt.Errorf("read snapshot: %w", err)
				}
				m[s.ID] = s
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read snapshot: %w", err)
			}
			*out = m
			return nil
		}}
}

// goneSlot is a slot that left the snapshot: "removed" (booked or withdrawn)
// or "expired" (its start passed before this fetch's window).
type goneSlot struct {
	slot.Slot
	kind string
}

// insertRow is a slot to copy in with when it was first seen (zero: now, in
// this run). It points into the caller's slice: a region's sync stores
// millions of slots, so the diff copies none of them.
type insertRow struct {
	*slot.Slot
	firstSeen time.Time
	firstRun  *int64
}

type snapshotDiff struct {
	gone    []goneSlot
	deletes []string    // gone plus changed: rows to delete
	inserts []insertRow // added plus changed (changed keep their first_seen)
	added   []*slot.Slot
	counts  SnapshotChanges
}

func diffSnapshot(old map[string]storedSlot, slots []slot.Slot, from time.Time) snapshotDiff {
	d := snapshotDiff{inserts: make([]insertRow, 0, len(slots))}
	var seen map[string]struct{}
	if len(old) > 0 {
		seen = make(map[string]struct{}, len(slots))
	}
	for i := range slots {
		s := &slots[i]
		if seen != nil {
			seen[s.ID] = struct{}{}
		}
		prev, ok := old[s.ID]
		switch {
		case !ok:
			d.inserts = append(d.inserts, insertRow{Slot: s})
			d.added = append(d.added, s)
			d.counts.Added++
		case !sameSlot(prev.Slot, *s):
			d.deletes = append(d.deletes, s.ID)
			d.inserts = append(d.inserts, insertRow{Slot: s, firstSeen: prev.firstSeen, firstRun: prev.firstRun})
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
			d.gone = append(d.gone, goneSlot{s.Slot, "expired"})
			d.counts.Expired++
		} else {
			d.gone = append(d.gone, goneSlot{s.Slot, "removed"})
			d.counts.Removed++
		}
	}
	return d
}

func sameSlot(a, b slot.Slot) bool {
	return a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.LocalDate == b.LocalDate &&
		a.DurationMinutes == b.DurationMinutes && a.LocationID == b.LocationID && a.SiteName == b.SiteName &&
		a.ScheduleID == b.ScheduleID && a.SessionName == b.SessionName && a.PractitionerID == b.PractitionerID &&
		a.RoleCode == b.RoleCode && a.RoleDisplay == b.RoleDisplay && a.DeliveryChannel == b.DeliveryChannel &&
		a.SlotType == b.SlotType && a.StartText == b.StartText && a.EndText == b.EndText &&
		a.PractitionerName == b.PractitionerName
}

// changesStmt records the slots that left the snapshot and, after the
// first snapshot, those that joined it (false: nothing to record).
func changesStmt(o FetchOutcome, d snapshotDiff, hadSnapshot bool, now time.Time) (stmt, bool) {
	var c struct {
		ids, kinds, dates, roles, channels []string
		starts                             []time.Time
		minutes                            []int
	}
	add := func(s *slot.Slot, kind string) {
		c.ids, c.kinds, c.dates = append(c.ids, s.ID), append(c.kinds, kind), append(c.dates, s.LocalDate)
		c.roles, c.channels = append(c.roles, s.RoleCode), append(c.channels, s.DeliveryChannel)
		c.starts, c.minutes = append(c.starts, s.Start), append(c.minutes, s.DurationMinutes)
	}
	for i := range d.gone {
		add(&d.gone[i].Slot, d.gone[i].kind)
	}
	if hadSnapshot {
		for _, s := range d.added {
			add(s, "added")
		}
	}
	if len(c.ids) == 0 {
		return stmt{}, false
	}
	return stmt{what: "record slot changes", sql: `INSERT INTO slot_changes (run_id, ods_code, slot_id, change, start_at, local_date, duration_minutes,
			role_code, delivery_channel, changed_at)
		SELECT $1, $2, u.id, u.kind, u.start_at, u.local_date::date, u.minutes, u.role, u.channel, $10
		FROM unnest($3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::int[], $8::text[], $9::text[])
			AS u(id, kind, start_at, local_date, minutes, role, channel)`,
		args: []any{o.RunID, o.ODSCode, c.ids, c.kinds, c.starts, c.dates, c.minutes, c.roles, c.channels, now}}, true
}

// countsJSON renders a day's counts as a JSON object, keys sorted. A
// region's sync writes a hundred of these per practice; encoding/json's
// reflection and map sorting were a tenth of the snapshot save's CPU.
func countsJSON(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 16*len(m)+2)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(m[k]), 10)
	}
	return string(append(b, '}'))
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
func aggregateDays(slots []slot.Slot) map[string]*dayAggregate {
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

func capacityStmts(ods string, slots []slot.Slot) ([]stmt, error) {
	days := aggregateDays(slots)
	dates := make([]string, 0, len(days))
	var free, minutes []int
	var channel, role, site, minsChannel, minsRole []string
	for date, d := range days {
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			return nil, fmt.Errorf("capacity date %q: %w", date, err)
		}
		dates, free, minutes = append(dates, date), append(free, d.slots), append(minutes, d.minutes)
		channel, role = append(channel, countsJSON(d.byChannel)), append(role, countsJSON(d.byRole))
		site, minsChannel = append(site, countsJSON(d.bySite)), append(minsChannel, countsJSON(d.minsByChannel))
		minsRole = append(minsRole, countsJSON(d.minsByRole))
	}
	return []stmt{{what: "clear capacity", sql: `DELETE FROM capacity_daily WHERE ods_code = $1`, args: []any{ods}},
		{what: "rebuild capacity", sql: `INSERT INTO capacity_daily (ods_code, local_date, free_slots, free_minutes, by_delivery_channel, by_role,
				by_site, minutes_by_delivery_channel, minutes_by_role)
			SELECT $1, u.d::date, u.n, u.m, u.ch::jsonb, u.ro::jsonb, u.si::jsonb, u.mch::jsonb, u.mro::jsonb
			FROM unnest($2::text[], $3::int[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
				AS u(d, n, m, ch, ro, si, mch, mro)`,
			args: []any{ods, dates, free, minutes, channel, role, site, minsChannel, minsRole}}}, nil
}

func recordOKStmts(o FetchOutcome, from, to time.Time, n int) []stmt {
	return []stmt{{what: "record run outcome", sql: `UPDATE sync_run_practices SET status = 'ok', slots = $3, calls = $4, finished_at = now(),
		duration_ms = $5, http_status = NULL, spine_code = NULL, diagnostics = NULL
		WHERE run_id = $1 AND ods_code = $2`, args: []any{o.RunID, o.ODSCode, n, o.Calls, o.Duration.Milliseconds()}},
		{what: "record sync state", sql: `
		INSERT INTO practice_sync_state (ods_code, last_run_id, last_attempt_at, last_success_at, stale, stale_since,
			last_http_status, last_spine_code, last_error, window_from, window_to, slot_count, not_enabled_since)
		VALUES ($1, $2, now(), now(), false, NULL, NULL, NULL, NULL, $3, $4, $5, NULL)
		ON CONFLICT (ods_code) DO UPDATE SET last_run_id = $2, last_attempt_at = now(), last_success_at = now(),
			stale = false, stale_since = NULL, last_http_status = NULL, last_spine_code = NULL, last_error = NULL,
			window_from = $3, window_to = $4, slot_count = $5, not_enabled_since = NULL`,
			args: []any{o.ODSCode, o.RunID, from.Format(time.DateOnly), to.Format(time.DateOnly), n}}}
}
