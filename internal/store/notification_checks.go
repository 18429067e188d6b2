package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// The queries below find what deserves a notification; the coalesce key of
// each notification makes running them again harmless.

// NotifyOverdueTasks sends task.overdue to the sender of each accepted or
// delivered task whose due date is before today (a UK calendar date) and
// that was not yet reported overdue, and stamps overdue_notified_at. It
// handles up to limit tasks and returns how many notifications it created.
func (db *DB) NotifyOverdueTasks(ctx context.Context, today string, ttl time.Duration, limit int) (int, error) {
	var created int
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE tasks SET overdue_notified_at = now()
			WHERE id IN (SELECT id FROM tasks WHERE state IN ('accepted', 'delivered')
				AND due_date < $1::date AND overdue_notified_at IS NULL AND finished_at IS NULL
				ORDER BY due_date LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING id, sender_ods, recipient_ods, to_char(due_date, 'YYYY-MM-DD'), state`, today, limit)
		if err != nil {
			return fmt.Errorf("mark overdue: %w", err)
		}
		var notes []Notification
		for rows.Next() {
			var id uuid.UUID
			var sender, recipient, due, state string
			if err := rows.Scan(&id, &sender, &recipient, &due, &state); err != nil {
				rows.Close()
				return fmt.Errorf("scan overdue: %w", err)
			}
			notes = append(notes, Notification{RecipientODS: sender, Kind: NotifyTaskOverdue, TaskID: &id,
				SubjectODS: recipient, CoalesceKey: NotifyTaskOverdue + ":" + id.String(),
				Data: map[string]any{"task_id": id.String(), "recipient_ods": recipient, "due_date": due, "state": state}})
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read overdue: %w", err)
		}
		created, err = createNotifications(ctx, tx, notes, ttl)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("notify overdue tasks: %w", err)
	}
	return created, nil
}

// NotifySyncFailures sends sync.failed to each active practice whose latest
// finished capacity fetch failed, once per run (sync.failed:<ODS>:<run_id>).
func (db *DB) NotifySyncFailures(ctx context.Context, ttl time.Duration) (int, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT DISTINCT ON (r.ods_code) r.ods_code, r.run_id, r.status, COALESCE(r.http_status, 0),
			COALESCE(r.spine_code, ''), r.finished_at
		FROM sync_run_practices r JOIN practices p ON p.ods_code = r.ods_code AND p.active
		WHERE r.status <> 'pending'
		ORDER BY r.ods_code, r.run_id DESC`)
	if err != nil {
		return 0, translate(fmt.Errorf("latest sync outcomes: %w", err))
	}
	var notes []Notification
	for rows.Next() {
		var ods, status, spine string
		var runID int64
		var httpStatus int
		var finished *time.Time
		if err := rows.Scan(&ods, &runID, &status, &httpStatus, &spine, &finished); err != nil {
			rows.Close()
			return 0, translate(fmt.Errorf("scan sync outcome: %w", err))
		}
		if status != "failed" {
			continue
		}
		data := map[string]any{"run_id": runID, "spine_code": spine, "http_status": httpStatus}
		if finished != nil {
			data["failed_at"] = finished.UTC().Format(time.RFC3339)
		}
		notes = append(notes, Notification{RecipientODS: ods, Kind: NotifySyncFailed, SubjectODS: ods, Data: data,
			CoalesceKey: fmt.Sprintf("%s:%s:%d", NotifySyncFailed, ods, runID)})
	}
	if err := rows.Err(); err != nil {
		return 0, translate(fmt.Errorf("latest sync outcomes: %w", err))
	}
	return db.createNotifications(ctx, notes, ttl)
}

// NotifyStaleSync sends sync.stale, once per practice per day (a UK date),
// to each active practice whose last successful sync (or, never synced, its
// registration) is older than staleAfter.
func (db *DB) NotifyStaleSync(ctx context.Context, now time.Time, staleAfter time.Duration, day string, ttl time.Duration) (int, error) {
	rows, err := db.Pool.Query(ctx, `SELECT p.ods_code, s.last_success_at
		FROM practices p LEFT JOIN practice_sync_state s ON s.ods_code = p.ods_code
		WHERE p.active AND COALESCE(s.last_success_at, p.created_at) < $1
		ORDER BY p.ods_code`, now.Add(-staleAfter))
	if err != nil {
		return 0, translate(fmt.Errorf("stale practices: %w", err))
	}
	var notes []Notification
	for rows.Next() {
		var ods string
		var last *time.Time
		if err := rows.Scan(&ods, &last); err != nil {
			rows.Close()
			return 0, translate(fmt.Errorf("scan stale practice: %w", err))
		}
		data := map[string]any{"stale_after_hours": staleAfter.Hours(), "last_success_at": nil}
		if last != nil {
			data["last_success_at"] = last.UTC().Format(time.RFC3339)
		}
		notes = append(notes, Notification{RecipientODS: ods, Kind: NotifySyncStale, SubjectODS: ods, Data: data,
			CoalesceKey: NotifySyncStale + ":" + ods + ":" + day})
	}
	if err := rows.Err(); err != nil {
		return 0, translate(fmt.Errorf("stale practices: %w", err))
	}
	return db.createNotifications(ctx, notes, ttl)
}

// NotifyLowCapacity sends capacity.low, once per practice per day
// (capacity.low:<ODS>:<today>), to each active practice with a threshold and
// at least one successful sync whose free minutes over [today, today+days)
// sum to less than its low_capacity_threshold_minutes.
func (db *DB) NotifyLowCapacity(ctx context.Context, today string, days int, ttl time.Duration) (int, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT p.ods_code, p.low_capacity_threshold_minutes, COALESCE(sum(c.free_minutes), 0)::bigint,
			to_char($1::date + $2::int, 'YYYY-MM-DD')
		FROM practices p
		JOIN practice_sync_state s ON s.ods_code = p.ods_code AND s.last_success_at IS NOT NULL
		LEFT JOIN capacity_daily c ON c.ods_code = p.ods_code AND c.local_date >= $1::date AND c.local_date < $1::date + $2::int
		WHERE p.active AND p.low_capacity_threshold_minutes IS NOT NULL
		GROUP BY p.ods_code, p.low_capacity_threshold_minutes
		HAVING COALESCE(sum(c.free_minutes), 0) < p.low_capacity_threshold_minutes
		ORDER BY p.ods_code`, today, days)
	if err != nil {
		return 0, translate(fmt.Errorf("low capacity practices: %w", err))
	}
	var notes []Notification
	for rows.Next() {
		var ods, to string
		var threshold int
		var free int64
		if err := rows.Scan(&ods, &threshold, &free, &to); err != nil {
			rows.Close()
			return 0, translate(fmt.Errorf("scan low capacity: %w", err))
		}
		notes = append(notes, Notification{RecipientODS: ods, Kind: NotifyCapacityLow, SubjectODS: ods,
			CoalesceKey: NotifyCapacityLow + ":" + ods + ":" + today,
			Data: map[string]any{"free_minutes": free, "threshold_minutes": threshold, "days": days,
				"from": today, "to": to}})
	}
	if err := rows.Err(); err != nil {
		return 0, translate(fmt.Errorf("low capacity practices: %w", err))
	}
	return db.createNotifications(ctx, notes, ttl)
}

func (db *DB) createNotifications(ctx context.Context, notes []Notification, ttl time.Duration) (int, error) {
	if len(notes) == 0 {
		return 0, nil
	}
	var n int
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		n, err = createNotifications(ctx, tx, notes, ttl)
		return err
	})
	return n, err
}

func createNotifications(ctx context.Context, tx pgx.Tx, notes []Notification, ttl time.Duration) (int, error) {
	if ttl <= 0 {
		ttl = defaultNotificationMaxAge
	}
	created := 0
	for _, n := range notes {
		n.ExpiresAt = time.Now().Add(ttl)
		ok, err := CreateNotificationTx(ctx, tx, n)
		if err != nil {
			return created, err
		}
		if ok {
			created++
		}
	}
	return created, nil
}
