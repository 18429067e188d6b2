package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// PracticeStatus is a practice with its current capacity sync state, as the
// admin API and the sync health page show it.
type PracticeStatus struct {
	ODSCode        string
	Name           string
	Active         bool
	Synced         bool // a sync has recorded an outcome for it
	LastRunID      *int64
	LastAttemptAt  *time.Time
	LastSuccessAt  *time.Time
	Stale          bool
	StaleSince     *time.Time
	LastHTTPStatus *int
	LastSpineCode  string
	LastError      string
	WindowFrom     string // YYYY-MM-DD, "" before the first success
	WindowTo       string // exclusive
	SlotCount      int
	// ThresholdMinutes is the practice's low_capacity_threshold_minutes
	// (free minutes over GPFED_LOW_CAPACITY_DAYS), nil when it has none.
	ThresholdMinutes *int
	// NotEnabledSince is set while SDS says the practice has no GP Connect
	// endpoint for slot search (from the first run that found none).
	NotEnabledSince *time.Time
	// HasOverride: the practice is called at its CSV endpoint, not via SDS.
	HasOverride bool
}

const practiceStatusSQL = `
	SELECT p.ods_code, p.name, p.active, s.ods_code IS NOT NULL, s.last_run_id, s.last_attempt_at, s.last_success_at,
		COALESCE(s.stale, false), s.stale_since, s.last_http_status, COALESCE(s.last_spine_code, ''),
		COALESCE(s.last_error, ''), COALESCE(to_char(s.window_from, 'YYYY-MM-DD'), ''),
		COALESCE(to_char(s.window_to, 'YYYY-MM-DD'), ''), COALESCE(s.slot_count, 0), p.low_capacity_threshold_minutes,
		s.not_enabled_since, p.endpoint IS NOT NULL
	FROM practices p LEFT JOIN practice_sync_state s USING (ods_code)`

func scanPracticeStatus(row pgx.Row) (PracticeStatus, error) {
	var p PracticeStatus
	err := row.Scan(&p.ODSCode, &p.Name, &p.Active, &p.Synced, &p.LastRunID, &p.LastAttemptAt, &p.LastSuccessAt,
		&p.Stale, &p.StaleSince, &p.LastHTTPStatus, &p.LastSpineCode, &p.LastError, &p.WindowFrom, &p.WindowTo,
		&p.SlotCount, &p.ThresholdMinutes, &p.NotEnabledSince, &p.HasOverride)
	return p, err
}

// PracticeStatuses lists practices with their sync state, ordered by ODS
// code; includeInactive adds deactivated practices.
func (db *DB) PracticeStatuses(ctx context.Context, includeInactive bool) ([]PracticeStatus, error) {
	rows, err := db.Pool.Query(ctx, practiceStatusSQL+` WHERE p.active OR $1 ORDER BY p.ods_code`, includeInactive)
	if err != nil {
		return nil, translate(fmt.Errorf("practice statuses: %w", err))
	}
	defer rows.Close()
	out := []PracticeStatus{}
	for rows.Next() {
		p, err := scanPracticeStatus(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("scan practice status: %w", err))
		}
		out = append(out, p)
	}
	return out, translate(rows.Err())
}

// PracticeStatusByODS returns one practice (active or not) with its sync state.
func (db *DB) PracticeStatusByODS(ctx context.Context, ods string) (PracticeStatus, error) {
	p, err := scanPracticeStatus(db.Pool.QueryRow(ctx, practiceStatusSQL+` WHERE p.ods_code = $1`, ods))
	if err != nil {
		return p, translate(fmt.Errorf("practice status %s: %w", ods, err))
	}
	return p, nil
}

// syncRunSQL reads a run with live outcome counts; waiting counts pending
// practices whose fetch lease another run holds.
const syncRunSQL = `
	SELECT r.id, r.trigger, to_char(r.from_date, 'YYYY-MM-DD'), to_char(r.to_date, 'YYYY-MM-DD'), r.status,
		r.practices_total, r.started_at, r.finished_at, c.ok, c.failed, c.not_enabled, c.skipped, c.waiting, c.slots
	FROM sync_runs r, LATERAL (
		SELECT count(*) FILTER (WHERE p.status = 'ok') ok, count(*) FILTER (WHERE p.status = 'failed') failed,
			count(*) FILTER (WHERE p.status = 'not_enabled') not_enabled, count(*) FILTER (WHERE p.status = 'skipped') skipped,
			count(*) FILTER (WHERE p.status = 'pending' AND r.status = 'running' AND EXISTS (
				SELECT 1 FROM practice_fetch_leases l WHERE l.ods_code = p.ods_code AND l.run_id <> r.id AND l.expires_at >= now())) waiting,
			COALESCE(sum(p.slots) FILTER (WHERE p.status = 'ok'), 0) slots
		FROM sync_run_practices p WHERE p.run_id = r.id) c`

func scanSyncRun(row pgx.Row) (SyncRun, error) {
	var r SyncRun
	err := row.Scan(&r.ID, &r.Trigger, &r.FromDate, &r.ToDate, &r.Status, &r.PracticesTotal, &r.StartedAt,
		&r.FinishedAt, &r.PracticesOK, &r.PracticesFailed, &r.PracticesNotEnabled, &r.PracticesSkipped,
		&r.PracticesWaiting, &r.SlotsTotal)
	r.PracticesDone = r.PracticesOK + r.PracticesFailed + r.PracticesNotEnabled + r.PracticesSkipped
	return r, err
}

// ListSyncRuns returns up to limit runs, newest first, with live outcome
// counts. beforeID > 0 continues a previous page (keyset pagination).
func (db *DB) ListSyncRuns(ctx context.Context, limit int, beforeID int64) ([]SyncRun, error) {
	rows, err := db.Pool.Query(ctx, syncRunSQL+` WHERE $2 <= 0 OR r.id < $2 ORDER BY r.id DESC LIMIT $1`, limit, beforeID)
	if err != nil {
		return nil, translate(fmt.Errorf("list sync runs: %w", err))
	}
	defer rows.Close()
	out := []SyncRun{}
	for rows.Next() {
		r, err := scanSyncRun(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("scan sync run: %w", err))
		}
		out = append(out, r)
	}
	return out, translate(rows.Err())
}

// SyncRunByID returns one run with live outcome counts, or ErrNotFound.
func (db *DB) SyncRunByID(ctx context.Context, id int64) (SyncRun, error) {
	r, err := scanSyncRun(db.Pool.QueryRow(ctx, syncRunSQL+` WHERE r.id = $1`, id))
	if err != nil {
		return r, translate(fmt.Errorf("sync run %d: %w", id, err))
	}
	return r, nil
}

// SyncOutcome is one practice's outcome in one run.
type SyncOutcome struct {
	RunID        int64
	RunStartedAt time.Time
	ODSCode      string
	PracticeName string
	Status       string // pending | ok | failed | not_enabled | skipped
	// SkippedForRun is the run whose fetch stands for a skipped practice.
	SkippedForRun *int64
	Attempts      int
	HTTPStatus    *int
	SpineCode     string
	Diagnostics   string
	Slots         *int
	Calls         *int
	DurationMS    *int
	StartedAt     *time.Time
	FinishedAt    *time.Time
}

const outcomeSQL = `
	SELECT o.run_id, r.started_at, o.ods_code, p.name, o.status, o.skipped_for_run, o.attempts, o.http_status,
		COALESCE(o.spine_code, ''), COALESCE(o.diagnostics, ''), o.slots, o.calls, o.duration_ms,
		o.started_at, o.finished_at
	FROM sync_run_practices o JOIN sync_runs r ON r.id = o.run_id JOIN practices p ON p.ods_code = o.ods_code`

func collectOutcomes(rows pgx.Rows, err error) ([]SyncOutcome, error) {
	if err != nil {
		return nil, translate(fmt.Errorf("sync outcomes: %w", err))
	}
	defer rows.Close()
	out := []SyncOutcome{}
	for rows.Next() {
		var o SyncOutcome
		if err := rows.Scan(&o.RunID, &o.RunStartedAt, &o.ODSCode, &o.PracticeName, &o.Status, &o.SkippedForRun, &o.Attempts,
			&o.HTTPStatus, &o.SpineCode, &o.Diagnostics, &o.Slots, &o.Calls, &o.DurationMS, &o.StartedAt,
			&o.FinishedAt); err != nil {
			return nil, translate(fmt.Errorf("scan sync outcome: %w", err))
		}
		out = append(out, o)
	}
	return out, translate(rows.Err())
}

// SyncRunOutcomes lists a run's per-practice outcomes: failed first, then
// pending, not enabled, skipped and ok, each by ODS code.
func (db *DB) SyncRunOutcomes(ctx context.Context, runID int64) ([]SyncOutcome, error) {
	rows, err := db.Pool.Query(ctx, outcomeSQL+` WHERE o.run_id = $1
		ORDER BY CASE o.status WHEN 'failed' THEN 0 WHEN 'pending' THEN 1 WHEN 'not_enabled' THEN 2 WHEN 'skipped' THEN 3 ELSE 4 END,
			o.ods_code`, runID)
	return collectOutcomes(rows, err)
}

// PracticeSyncHistory lists a practice's outcomes in its most recent runs, newest first.
func (db *DB) PracticeSyncHistory(ctx context.Context, ods string, limit int) ([]SyncOutcome, error) {
	rows, err := db.Pool.Query(ctx, outcomeSQL+` WHERE o.ods_code = $1 ORDER BY o.run_id DESC LIMIT $2`, ods, limit)
	return collectOutcomes(rows, err)
}

// CapacitySplit is one practice-day's free capacity for one site, role and
// delivery channel.
type CapacitySplit struct {
	Date        string
	Site        string
	RoleCode    string
	RoleDisplay string
	Channel     string
	Slots       int
	Minutes     int
}

// PracticeCapacitySplits aggregates a practice's slot snapshot by day, site,
// role and channel for the UK local dates from..to inclusive.
func (db *DB) PracticeCapacitySplits(ctx context.Context, ods string, from, to time.Time) ([]CapacitySplit, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT to_char(local_date, 'YYYY-MM-DD'), site_name, role_code, max(role_display), delivery_channel,
			count(*), COALESCE(sum(duration_minutes), 0)
		FROM slots WHERE ods_code = $1 AND local_date BETWEEN $2::date AND $3::date
		GROUP BY local_date, site_name, role_code, delivery_channel
		ORDER BY local_date, site_name, role_code, delivery_channel`,
		ods, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, translate(fmt.Errorf("capacity splits %s: %w", ods, err))
	}
	defer rows.Close()
	out := []CapacitySplit{}
	for rows.Next() {
		var c CapacitySplit
		if err := rows.Scan(&c.Date, &c.Site, &c.RoleCode, &c.RoleDisplay, &c.Channel, &c.Slots, &c.Minutes); err != nil {
			return nil, translate(fmt.Errorf("scan capacity split: %w", err))
		}
		out = append(out, c)
	}
	return out, translate(rows.Err())
}

// CapacityFacets lists the role codes and delivery channels present in the
// daily aggregates for the dates from..to, for the dashboard's filters. It
// reads capacity_daily (one row per practice-day), not the slot snapshot.
func (db *DB) CapacityFacets(ctx context.Context, from, to time.Time) (roles, channels []string, err error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT 'role', k FROM (SELECT DISTINCT jsonb_object_keys(by_role) k FROM capacity_daily
			WHERE local_date BETWEEN $1::date AND $2::date) r
		UNION ALL
		SELECT 'channel', k FROM (SELECT DISTINCT jsonb_object_keys(by_delivery_channel) k FROM capacity_daily
			WHERE local_date BETWEEN $1::date AND $2::date) c
		ORDER BY 1, 2`, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, nil, translate(fmt.Errorf("capacity facets: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind, k string
		if err := rows.Scan(&kind, &k); err != nil {
			return nil, nil, translate(fmt.Errorf("scan facet: %w", err))
		}
		if kind == "role" {
			roles = append(roles, k)
		} else {
			channels = append(channels, k)
		}
	}
	return roles, channels, translate(rows.Err())
}
