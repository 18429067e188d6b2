package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// TaskFlow summarises the task and notification pipeline for operators. It
// carries counts and ages only, never patient data or free text.
type TaskFlow struct {
	TasksByState         map[string]int
	NotificationsByState map[string]int
	// OldestUndelivered is the creation time of the oldest task still
	// waiting for delivery (state accepted); nil when none is waiting.
	OldestUndelivered *time.Time
	// OldestPendingNotification is the same for notifications.
	OldestPendingNotification *time.Time
	OutboxBacklog             int
	OldestOutbox              *time.Time
}

// TaskStates and NotificationStates list every state, so that zero counts
// still show up on the dashboard and in metrics.
var (
	TaskStates         = []string{"accepted", "delivered", "acknowledged", "failed", "cancelled"}
	NotificationStates = []string{"pending", "delivered", "failed"}
)

// TaskFlowSummary reads the counts behind the task flow page and the task
// gauges in /metrics. The oldest-undelivered lookups use the partial
// indexes on open work, so they stay cheap however large the history grows.
func (db *DB) TaskFlowSummary(ctx context.Context) (TaskFlow, error) {
	f := TaskFlow{TasksByState: map[string]int{}, NotificationsByState: map[string]int{}}
	for _, s := range TaskStates {
		f.TasksByState[s] = 0
	}
	for _, s := range NotificationStates {
		f.NotificationsByState[s] = 0
	}
	rows, err := db.Pool.Query(ctx, `
		SELECT 'task', state, count(*) FROM tasks GROUP BY state
		UNION ALL SELECT 'notification', state, count(*) FROM notifications GROUP BY state`)
	if err != nil {
		return f, translate(fmt.Errorf("count tasks by state: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state string
		var n int
		if err := rows.Scan(&kind, &state, &n); err != nil {
			return f, translate(fmt.Errorf("scan task count: %w", err))
		}
		if kind == "task" {
			f.TasksByState[state] = n
		} else {
			f.NotificationsByState[state] = n
		}
	}
	if err := rows.Err(); err != nil {
		return f, translate(fmt.Errorf("count tasks by state: %w", err))
	}
	err = db.Pool.QueryRow(ctx, `SELECT
		(SELECT min(created_at) FROM tasks WHERE state = 'accepted'),
		(SELECT min(created_at) FROM notifications WHERE state = 'pending'),
		(SELECT count(*) FROM outbox), (SELECT min(created_at) FROM outbox)`).Scan(
		&f.OldestUndelivered, &f.OldestPendingNotification, &f.OutboxBacklog, &f.OldestOutbox)
	if err != nil {
		return f, translate(fmt.Errorf("oldest undelivered: %w", err))
	}
	return f, nil
}

// FailedDelivery is a task or notification whose delivery failed for good.
// It deliberately has no subject, body or NHS number.
type FailedDelivery struct {
	Kind         string // task | notification
	ID           uuid.UUID
	SenderODS    string // tasks only
	RecipientODS string
	Type         string // task type, or notification kind
	Priority     string // tasks only
	Channel      string
	Attempts     int
	LastError    string
	CreatedAt    time.Time
	FailedAt     *time.Time
}

// FailedDeliveries lists the most recent permanently failed tasks and
// notifications, newest first.
func (db *DB) FailedDeliveries(ctx context.Context, limit int) ([]FailedDelivery, error) {
	rows, err := db.Pool.Query(ctx, `
		(SELECT 'task', id, sender_ods, recipient_ods, type, priority, COALESCE(channel, ''), attempts,
			COALESCE(last_error, ''), created_at, COALESCE(finished_at, updated_at)
		FROM tasks WHERE state = 'failed' ORDER BY COALESCE(finished_at, updated_at) DESC LIMIT $1)
		UNION ALL
		(SELECT 'notification', id, '', recipient_ods, kind, '', COALESCE(channel, ''), attempts,
			COALESCE(last_error, ''), created_at, finished_at
		FROM notifications WHERE state = 'failed' ORDER BY finished_at DESC NULLS LAST LIMIT $1)
		ORDER BY 11 DESC NULLS LAST LIMIT $1`, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("failed deliveries: %w", err))
	}
	defer rows.Close()
	out := []FailedDelivery{}
	for rows.Next() {
		var d FailedDelivery
		if err := rows.Scan(&d.Kind, &d.ID, &d.SenderODS, &d.RecipientODS, &d.Type, &d.Priority, &d.Channel,
			&d.Attempts, &d.LastError, &d.CreatedAt, &d.FailedAt); err != nil {
			return nil, translate(fmt.Errorf("scan failed delivery: %w", err))
		}
		out = append(out, d)
	}
	return out, translate(rows.Err())
}

// SyncGauges are the sync-state numbers /metrics exposes at scrape time.
type SyncGauges struct {
	ActivePractices int
	StalePractices  int
	NeverSynced     int
	// LastCompletedRunAt is when the newest completed run finished.
	LastCompletedRunAt *time.Time
}

// SyncGaugeSummary reads the sync gauges in one round trip.
func (db *DB) SyncGaugeSummary(ctx context.Context) (SyncGauges, error) {
	var g SyncGauges
	err := db.Pool.QueryRow(ctx, `SELECT
		count(*), count(*) FILTER (WHERE s.stale AND s.last_success_at IS NOT NULL), count(*) FILTER (WHERE s.last_success_at IS NULL),
		(SELECT max(finished_at) FROM sync_runs WHERE status = 'completed')
		FROM practices p LEFT JOIN practice_sync_state s USING (ods_code) WHERE p.active`).Scan(
		&g.ActivePractices, &g.StalePractices, &g.NeverSynced, &g.LastCompletedRunAt)
	if err != nil {
		return g, translate(fmt.Errorf("sync gauges: %w", err))
	}
	return g, nil
}
