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
	// QueueBacklog counts open deliveries waiting in delivery_queue (not
	// in flight), OldestQueued is the creation time of the oldest.
	QueueBacklog int
	OldestQueued *time.Time
}

// TaskStates and NotificationStates list every state, so that zero counts
// still show up on the dashboard and in metrics.
var (
	TaskStates         = []string{TaskAccepted, TaskDelivered, TaskAcknowledged, TaskFailed, TaskCancelled}
	NotificationStates = []string{NotificationPending, NotificationDelivered, NotificationFailed}
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
		(SELECT min(t.created_at) FROM delivery_queue q JOIN tasks t ON t.id = q.ref_id
			WHERE q.kind = 'task' AND t.state = 'accepted'),
		(SELECT min(n.created_at) FROM delivery_queue q JOIN notifications n ON n.id = q.ref_id
			WHERE q.kind = 'notification' AND n.state = 'pending'),
		(SELECT count(*) FROM delivery_queue WHERE claim_token IS NULL OR due_at <= now()),
		(SELECT min(created_at) FROM delivery_queue WHERE claim_token IS NULL OR due_at <= now())`).Scan(
		&f.OldestUndelivered, &f.OldestPendingNotification, &f.QueueBacklog, &f.OldestQueued)
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

// WaitingDelivery is a task or notification still on its way: what the
// task flow page lists so an operator sees who is waiting, why and until
// when. It deliberately has no subject, body or NHS number.
type WaitingDelivery struct {
	Kind         string // task | notification
	ID           uuid.UUID
	SenderODS    string // tasks only
	RecipientODS string
	Type         string // task type, or notification kind
	Priority     string // tasks only
	Attempts     int
	LastError    string
	CreatedAt    time.Time
	// NextAttemptAt is when the next attempt is due (the lease end while
	// one is in flight); Deferred: the recipient's circuit is open, so it
	// waits for the endpoint's probe instead.
	NextAttemptAt time.Time
	InFlight      bool
	Deferred      bool
}

// WaitingDeliveries lists up to limit open deliveries, those that have
// failed an attempt first, then the oldest.
func (db *DB) WaitingDeliveries(ctx context.Context, limit int) ([]WaitingDelivery, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT q.kind, q.ref_id, COALESCE(t.sender_ods, ''), q.endpoint, COALESCE(t.type, n.kind, ''), COALESCE(t.priority, ''),
			COALESCE(t.attempts, n.attempts, 0), COALESCE(t.last_error, n.last_error, ''), q.created_at,
			CASE WHEN h.state = 'open' AND NOT (q.claim_token IS NOT NULL AND q.due_at > now()) THEN greatest(q.due_at, h.next_probe_at) ELSE q.due_at END,
			q.claim_token IS NOT NULL AND q.due_at > now(), COALESCE(h.state = 'open', false)
		FROM delivery_queue q
		LEFT JOIN tasks t ON q.kind = 'task' AND t.id = q.ref_id
		LEFT JOIN notifications n ON q.kind = 'notification' AND n.id = q.ref_id
		LEFT JOIN endpoint_health h ON h.ods_code = q.endpoint
		ORDER BY COALESCE(t.attempts, n.attempts, 0) > 0 DESC, q.created_at LIMIT $1`, limit)
	if err != nil {
		return nil, translate(fmt.Errorf("waiting deliveries: %w", err))
	}
	defer rows.Close()
	out := []WaitingDelivery{}
	for rows.Next() {
		var d WaitingDelivery
		if err := rows.Scan(&d.Kind, &d.ID, &d.SenderODS, &d.RecipientODS, &d.Type, &d.Priority, &d.Attempts, &d.LastError,
			&d.CreatedAt, &d.NextAttemptAt, &d.InFlight, &d.Deferred); err != nil {
			return nil, translate(fmt.Errorf("scan waiting delivery: %w", err))
		}
		out = append(out, d)
	}
	return out, translate(rows.Err())
}
