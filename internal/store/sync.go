package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SyncRun is one capacity sync run.
type SyncRun struct {
	ID              int64  `json:"id"`
	Trigger         string `json:"trigger"`
	FromDate        string `json:"from_date"`
	ToDate          string `json:"to_date"` // exclusive
	Status          string `json:"status"`
	PracticesTotal  int    `json:"practices_total"`
	PracticesOK     int    `json:"practices_ok"`
	PracticesFailed int    `json:"practices_failed"`
	// PracticesNotEnabled have no GP Connect endpoint in SDS for slot search
	// (not a failure); PracticesSkipped were saved by another run after this
	// one started (that snapshot stands).
	PracticesNotEnabled int `json:"practices_not_enabled"`
	PracticesSkipped    int `json:"practices_skipped"`
	// PracticesWaiting are pending practices whose fetch waits for another
	// run's fetch of the same practice to finish (live; 0 once completed).
	PracticesWaiting int        `json:"practices_waiting"`
	PracticesDone    int        `json:"practices_done"`
	SlotsTotal       int        `json:"slots_total"`
	StartedAt        time.Time  `json:"started_at"`
	FinishedAt       *time.Time `json:"finished_at,omitempty"`
}

// RunPractice is one practice's outcome in a run.
type RunPractice struct {
	ODSCode       string `json:"ods_code"`
	Status        string `json:"status"`
	SkippedForRun *int64 `json:"skipped_for_run,omitempty"`
	Attempts      int    `json:"attempts"`
	HTTPStatus    *int   `json:"http_status,omitempty"`
	SpineCode     string `json:"spine_code,omitempty"`
	Diagnostics   string `json:"diagnostics,omitempty"`
	Slots         *int   `json:"slots,omitempty"`
	DurationMS    *int   `json:"duration_ms,omitempty"`
}

// CreateSyncRun records a run for the given (or, when empty, every active)
// practices and returns it with its practice list. A scheduled run fails
// with ErrConflict while another scheduled run is still running.
func (db *DB) CreateSyncRun(ctx context.Context, trigger string, from, to time.Time, practices []string) (SyncRun, []string, error) {
	var run SyncRun
	var codes []string
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO sync_runs (trigger, from_date, to_date) VALUES ($1, $2, $3)
			RETURNING id, started_at`, trigger, from.Format(time.DateOnly), to.Format(time.DateOnly)).Scan(&run.ID, &run.StartedAt)
		if err != nil {
			return fmt.Errorf("insert sync run: %w", err)
		}
		rows, err := tx.Query(ctx, `INSERT INTO sync_run_practices (run_id, ods_code)
			SELECT $1, ods_code FROM practices WHERE active AND (COALESCE(cardinality($2::text[]), 0) = 0 OR ods_code = ANY($2))
			ORDER BY ods_code RETURNING ods_code`, run.ID, practices)
		if err != nil {
			return fmt.Errorf("insert run practices: %w", err)
		}
		codes, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(practices) > 0 && len(codes) != len(practices) {
			return fmt.Errorf("%w: some requested practices are not active members (asked %d, found %d)", ErrNotFound, len(practices), len(codes))
		}
		if len(codes) == 0 {
			return fmt.Errorf("%w: no active practices to sync (import a practices CSV first)", ErrNotFound)
		}
		_, err = tx.Exec(ctx, `UPDATE sync_runs SET practices_total = $2 WHERE id = $1`, run.ID, len(codes))
		return err
	})
	if err != nil {
		return run, nil, err
	}
	run.Trigger, run.Status, run.PracticesTotal = trigger, "running", len(codes)
	run.FromDate, run.ToDate = from.Format(time.DateOnly), to.Format(time.DateOnly)
	return run, codes, nil
}

// GetSyncRun returns a run with live counts.
func (db *DB) GetSyncRun(ctx context.Context, id int64) (SyncRun, error) {
	r, err := scanSyncRun(db.Pool.QueryRow(ctx, syncRunSQL+` WHERE r.id = $1`, id))
	if err != nil {
		return r, translate(fmt.Errorf("get sync run %d: %w", id, err))
	}
	return r, nil
}

// SyncRunCompleted reports whether run id has completed (ErrNotFound: no such run).
func (db *DB) SyncRunCompleted(ctx context.Context, id int64) (bool, error) {
	var completed bool
	err := db.Pool.QueryRow(ctx, `SELECT status = 'completed' FROM sync_runs WHERE id = $1`, id).Scan(&completed)
	if err != nil {
		return false, translate(fmt.Errorf("sync run %d: %w", id, err))
	}
	return completed, nil
}

// RunPractices lists a run's per-practice outcomes: failed, pending, not
// enabled, skipped, then ok.
func (db *DB) RunPractices(ctx context.Context, runID int64) ([]RunPractice, error) {
	rows, err := db.Pool.Query(ctx, `SELECT ods_code, status, skipped_for_run, attempts, http_status, COALESCE(spine_code, ''),
		COALESCE(diagnostics, ''), slots, duration_ms FROM sync_run_practices WHERE run_id = $1
		ORDER BY CASE status WHEN 'failed' THEN 0 WHEN 'pending' THEN 1 WHEN 'not_enabled' THEN 2 WHEN 'skipped' THEN 3 ELSE 4 END,
			ods_code`, runID)
	if err != nil {
		return nil, translate(fmt.Errorf("run practices: %w", err))
	}
	defer rows.Close()
	var out []RunPractice
	for rows.Next() {
		var p RunPractice
		if err := rows.Scan(&p.ODSCode, &p.Status, &p.SkippedForRun, &p.Attempts, &p.HTTPStatus, &p.SpineCode, &p.Diagnostics,
			&p.Slots, &p.DurationMS); err != nil {
			return nil, translate(err)
		}
		out = append(out, p)
	}
	return out, translate(rows.Err())
}

// PendingRunPractices lists practices of running runs that have no outcome
// yet, for re-enqueueing after a queue loss.
func (db *DB) PendingRunPractices(ctx context.Context) (map[int64][]string, error) {
	rows, err := db.Pool.Query(ctx, `SELECT p.run_id, p.ods_code FROM sync_run_practices p
		JOIN sync_runs r ON r.id = p.run_id WHERE r.status = 'running' AND p.status = 'pending' ORDER BY 1, 2`)
	if err != nil {
		return nil, translate(fmt.Errorf("pending run practices: %w", err))
	}
	defer rows.Close()
	out := map[int64][]string{}
	for rows.Next() {
		var id int64
		var ods string
		if err := rows.Scan(&id, &ods); err != nil {
			return nil, translate(err)
		}
		out[id] = append(out[id], ods)
	}
	return out, translate(rows.Err())
}

// LatestRunStartedAfter reports whether any run of trigger started at or after t.
func (db *DB) LatestRunStartedAfter(ctx context.Context, trigger string, t time.Time) (bool, error) {
	var ok bool
	err := db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sync_runs WHERE trigger = $1 AND started_at >= $2)`,
		trigger, t).Scan(&ok)
	return ok, translate(err)
}

// FinishRunIfDone completes the run when no practice is pending. Each
// handler calls it after committing its own outcome, so the last one to
// commit always sees the run complete. It returns the run when this call
// completed it.
func (db *DB) FinishRunIfDone(ctx context.Context, runID int64) (*SyncRun, error) {
	tag, err := db.Pool.Exec(ctx, `
		UPDATE sync_runs r SET status = 'completed', finished_at = now(),
			practices_ok = c.ok, practices_failed = c.failed, practices_not_enabled = c.not_enabled,
			practices_skipped = c.skipped, slots_total = c.slots
		FROM (SELECT count(*) FILTER (WHERE status = 'ok') ok, count(*) FILTER (WHERE status = 'failed') failed,
				count(*) FILTER (WHERE status = 'not_enabled') not_enabled, count(*) FILTER (WHERE status = 'skipped') skipped,
				COALESCE(sum(slots) FILTER (WHERE status = 'ok'), 0) slots
			  FROM sync_run_practices WHERE run_id = $1) c
		WHERE r.id = $1 AND r.status = 'running'
		  AND NOT EXISTS (SELECT 1 FROM sync_run_practices WHERE run_id = $1 AND status = 'pending')`, runID)
	if err != nil {
		return nil, translate(fmt.Errorf("finish run %d: %w", runID, err))
	}
	if tag.RowsAffected() == 0 {
		return nil, nil
	}
	r, err := db.GetSyncRun(ctx, runID)
	return &r, err
}

// AbandonRuns fails every pending practice of runs running longer than
// maxAge (their queue entries are lost and past retrying) and completes them.
func (db *DB) AbandonRuns(ctx context.Context, maxAge time.Duration) ([]int64, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id FROM sync_runs WHERE status = 'running' AND started_at < now() - $1::interval`,
		fmt.Sprintf("%d seconds", int(maxAge.Seconds())))
	if err != nil {
		return nil, translate(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, translate(err)
	}
	for _, id := range ids {
		if _, err := db.Pool.Exec(ctx, `UPDATE sync_run_practices SET status = 'failed', spine_code = 'ABANDONED',
			diagnostics = 'no outcome before the run deadline', finished_at = now() WHERE run_id = $1 AND status = 'pending'`, id); err != nil {
			return nil, translate(err)
		}
		if _, err := db.FinishRunIfDone(ctx, id); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// RunPracticeStatus returns one practice's status in a run (pending, ok, failed).
func (db *DB) RunPracticeStatus(ctx context.Context, runID int64, ods string) (status string, from, to time.Time, err error) {
	err = db.Pool.QueryRow(ctx, `SELECT p.status, r.from_date, r.to_date FROM sync_run_practices p
		JOIN sync_runs r ON r.id = p.run_id WHERE p.run_id = $1 AND p.ods_code = $2`, runID, ods).Scan(&status, &from, &to)
	return status, from, to, translate(err)
}

// RecordAttempt counts a fetch attempt for a practice in a run.
func (db *DB) RecordAttempt(ctx context.Context, runID int64, ods string) error {
	_, err := db.Pool.Exec(ctx, `UPDATE sync_run_practices SET attempts = attempts + 1,
		started_at = COALESCE(started_at, now()) WHERE run_id = $1 AND ods_code = $2`, runID, ods)
	return translate(err)
}
