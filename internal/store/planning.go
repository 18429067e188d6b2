package store

import (
	"context"
	"fmt"
	"time"
)

// The planning view's read models: capacity as it stood at each sync, the
// slots that disappeared between syncs, each day's capacity as last synced
// and sync reliability. They read capacity_history, slot_changes and
// sync_run_practices; none of them writes.

// TrendPoint is one practice's free capacity over the horizon that starts
// on a run's date, as its snapshot stood at that run.
type TrendPoint struct {
	RunID       int64
	StartedAt   time.Time
	FromDate    string // the run's first date (UK)
	ODSCode     string
	Known       bool // a snapshot existed at or before the run
	Stale       bool // the snapshot is from an earlier run (this run did not fetch the practice successfully)
	FreeMinutes int
	FreeSlots   int
	CoveredDays int // days of the horizon the snapshot's window covered
}

// CapacityTrend returns, for the last runs sync runs (oldest first) and
// every active practice, the free capacity over [run date, run date +
// horizon days) in the practice's latest snapshot at or before that run.
func (db *DB) CapacityTrend(ctx context.Context, runs, horizon int) ([]TrendPoint, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH r AS (SELECT id, from_date, started_at FROM sync_runs ORDER BY id DESC LIMIT $1),
		s AS (
			SELECT r.id, r.from_date, r.started_at, p.ods_code, f.run_id AS snap, f.window_from, f.window_to
			FROM r CROSS JOIN practices p
			LEFT JOIN LATERAL (
				SELECT run_id, window_from, window_to FROM capacity_history_fetches f
				WHERE f.ods_code = p.ods_code AND f.run_id <= r.id ORDER BY f.run_id DESC LIMIT 1) f ON true
			WHERE p.active)
		SELECT s.id, s.started_at, to_char(s.from_date, 'YYYY-MM-DD'), s.ods_code, s.snap IS NOT NULL,
			COALESCE(s.snap <> s.id, false), COALESCE(h.mins, 0), COALESCE(h.slots, 0),
			CASE WHEN s.snap IS NULL THEN 0 ELSE GREATEST(0,
				LEAST(s.window_to, s.from_date + $2::int) - GREATEST(s.window_from, s.from_date)) END
		FROM s LEFT JOIN LATERAL (
			SELECT sum(free_minutes)::int mins, sum(free_slots)::int slots FROM capacity_history h
			WHERE h.ods_code = s.ods_code AND h.run_id = s.snap
			  AND h.local_date >= s.from_date AND h.local_date < s.from_date + $2::int) h ON true
		ORDER BY s.id, s.ods_code`, runs, horizon)
	if err != nil {
		return nil, translate(fmt.Errorf("capacity trend: %w", err))
	}
	defer rows.Close()
	var out []TrendPoint
	for rows.Next() {
		var t TrendPoint
		if err := rows.Scan(&t.RunID, &t.StartedAt, &t.FromDate, &t.ODSCode, &t.Known, &t.Stale,
			&t.FreeMinutes, &t.FreeSlots, &t.CoveredDays); err != nil {
			return nil, translate(fmt.Errorf("scan capacity trend: %w", err))
		}
		out = append(out, t)
	}
	return out, translate(rows.Err())
}

// ConsumedDay is what one practice's snapshots lost on one UK day: slots
// that were free at one fetch and gone (booked or withdrawn) at the next,
// expiries not counted. Fetched says a successful fetch that day compared
// against an earlier snapshot, so that zero means none rather than unknown.
type ConsumedDay struct {
	ODSCode string
	Date    string
	Fetched bool
	Slots   int
	Minutes int
}

// Consumption returns, for every active practice and UK day in [from, to],
// the slots that disappeared between syncs observed that day.
func (db *DB) Consumption(ctx context.Context, from, to time.Time) ([]ConsumedDay, error) {
	rows, err := db.Pool.Query(ctx, `
		WITH d AS (SELECT generate_series($1::date, $2::date, '1 day')::date AS day),
		fetched AS (
			SELECT f.ods_code, (f.recorded_at AT TIME ZONE 'Europe/London')::date AS day
			FROM capacity_history_fetches f
			WHERE f.recorded_at >= ($1::date::timestamp AT TIME ZONE 'Europe/London')
			  AND f.recorded_at < (($2::date + 1)::timestamp AT TIME ZONE 'Europe/London')
			  AND EXISTS (SELECT 1 FROM capacity_history_fetches e WHERE e.ods_code = f.ods_code AND e.run_id < f.run_id)
			GROUP BY 1, 2),
		gone AS (
			SELECT c.ods_code, (c.changed_at AT TIME ZONE 'Europe/London')::date AS day, count(*)::int n,
				sum(c.duration_minutes)::int mins
			FROM slot_changes c
			WHERE c.change = 'removed'
			  AND c.changed_at >= ($1::date::timestamp AT TIME ZONE 'Europe/London')
			  AND c.changed_at < (($2::date + 1)::timestamp AT TIME ZONE 'Europe/London')
			GROUP BY 1, 2)
		SELECT p.ods_code, to_char(d.day, 'YYYY-MM-DD'), f.ods_code IS NOT NULL OR g.n IS NOT NULL,
			COALESCE(g.n, 0), COALESCE(g.mins, 0)
		FROM practices p CROSS JOIN d
		LEFT JOIN fetched f ON f.ods_code = p.ods_code AND f.day = d.day
		LEFT JOIN gone g ON g.ods_code = p.ods_code AND g.day = d.day
		WHERE p.active
		ORDER BY 1, 2`, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, translate(fmt.Errorf("consumption: %w", err))
	}
	defer rows.Close()
	var out []ConsumedDay
	for rows.Next() {
		var c ConsumedDay
		if err := rows.Scan(&c.ODSCode, &c.Date, &c.Fetched, &c.Slots, &c.Minutes); err != nil {
			return nil, translate(fmt.Errorf("scan consumption: %w", err))
		}
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// SyncedDay is one practice's free capacity on one UK day as the last
// fetch before that day ended saw it. Known is false when no fetch covered
// the day (never synced, or before the history began).
type SyncedDay struct {
	ODSCode     string
	Date        string
	Known       bool
	FreeMinutes int
	FreeSlots   int
}

// CapacityAsSynced returns every active practice's capacity for each UK day
// in [from, to]: for a past day, as the last sync before it ended left it
// (the morning's free capacity after a nightly sync); for a future day, as
// the latest sync has it.
func (db *DB) CapacityAsSynced(ctx context.Context, from, to time.Time) ([]SyncedDay, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT p.ods_code, to_char(d.day, 'YYYY-MM-DD'), f.run_id IS NOT NULL,
			COALESCE(h.free_minutes, 0), COALESCE(h.free_slots, 0)
		FROM practices p
		CROSS JOIN (SELECT generate_series($1::date, $2::date, '1 day')::date AS day) d
		LEFT JOIN LATERAL (
			SELECT run_id FROM capacity_history_fetches f
			WHERE f.ods_code = p.ods_code AND f.window_from <= d.day AND f.window_to > d.day
			  AND f.recorded_at < ((d.day + 1)::timestamp AT TIME ZONE 'Europe/London')
			ORDER BY f.run_id DESC LIMIT 1) f ON true
		LEFT JOIN capacity_history h ON h.ods_code = p.ods_code AND h.run_id = f.run_id AND h.local_date = d.day
		WHERE p.active
		ORDER BY 1, 2`, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, translate(fmt.Errorf("capacity as synced: %w", err))
	}
	defer rows.Close()
	var out []SyncedDay
	for rows.Next() {
		var s SyncedDay
		if err := rows.Scan(&s.ODSCode, &s.Date, &s.Known, &s.FreeMinutes, &s.FreeSlots); err != nil {
			return nil, translate(fmt.Errorf("scan capacity as synced: %w", err))
		}
		out = append(out, s)
	}
	return out, translate(rows.Err())
}

// SyncWeek counts one practice's fetch outcomes in sync runs started in the
// UK week beginning WeekStart (a Monday).
type SyncWeek struct {
	ODSCode    string
	WeekStart  string
	OK, Failed int
	Pending    int // not finished: a run in progress, or one that gave up on it
}

// SyncReliability returns per active practice and UK week the outcomes of
// its fetches in runs started in [from, to].
func (db *DB) SyncReliability(ctx context.Context, from, to time.Time) ([]SyncWeek, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT rp.ods_code, to_char(date_trunc('week', r.started_at AT TIME ZONE 'Europe/London'), 'YYYY-MM-DD'),
			count(*) FILTER (WHERE rp.status = 'ok')::int, count(*) FILTER (WHERE rp.status = 'failed')::int,
			count(*) FILTER (WHERE rp.status = 'pending')::int
		FROM sync_run_practices rp JOIN sync_runs r ON r.id = rp.run_id JOIN practices p ON p.ods_code = rp.ods_code
		WHERE p.active AND r.started_at >= ($1::date::timestamp AT TIME ZONE 'Europe/London')
		  AND r.started_at < (($2::date + 1)::timestamp AT TIME ZONE 'Europe/London')
		GROUP BY 1, 2 ORDER BY 1, 2`, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, translate(fmt.Errorf("sync reliability: %w", err))
	}
	defer rows.Close()
	var out []SyncWeek
	for rows.Next() {
		var w SyncWeek
		if err := rows.Scan(&w.ODSCode, &w.WeekStart, &w.OK, &w.Failed, &w.Pending); err != nil {
			return nil, translate(fmt.Errorf("scan sync reliability: %w", err))
		}
		out = append(out, w)
	}
	return out, translate(rows.Err())
}
