package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
)

// TaskDeliver asks a worker to deliver one task. Ids only: the handler
// reads the content from Postgres.
type TaskDeliver struct {
	TaskID uuid.UUID `json:"task_id"`
}

// NotificationDeliver asks a worker to deliver one notification.
type NotificationDeliver struct {
	NotificationID uuid.UUID `json:"notification_id"`
}

// TaskDeliverID and NotificationDeliverID are the asynq TaskIDs: one queue
// entry per task or notification, however often the relay or the
// reconciler enqueues it.
func TaskDeliverID(id uuid.UUID) string         { return "task:" + id.String() }
func NotificationDeliverID(id uuid.UUID) string { return "notification:" + id.String() }

// Delivery task options. MaxRetry is effectively unbounded: the item's
// expires_at, not a retry count, ends delivery. Retention keeps finished
// ids in Redis for a day so a late duplicate enqueue is refused as a
// conflict instead of delivering twice.
const (
	deliveryMaxRetry  = 100_000
	deliveryRetention = 24 * time.Hour
)

// DefaultDeliveryTimeout bounds one delivery attempt in asynq (the handler
// bounds its HTTP call well below this).
const DefaultDeliveryTimeout = time.Minute

// NewTaskDeliverTask builds the task:deliver queue entry.
func NewTaskDeliverTask(id uuid.UUID, timeout time.Duration) *asynq.Task {
	b, _ := json.Marshal(TaskDeliver{TaskID: id}) // cannot fail
	return asynq.NewTask(TypeTaskDeliver, b, asynq.TaskID(TaskDeliverID(id)), asynq.Queue(QueueTasks),
		asynq.MaxRetry(deliveryMaxRetry), asynq.Retention(deliveryRetention), asynq.Timeout(orDefault(timeout)))
}

// NewNotificationDeliverTask builds the notification:deliver queue entry.
func NewNotificationDeliverTask(id uuid.UUID, timeout time.Duration) *asynq.Task {
	b, _ := json.Marshal(NotificationDeliver{NotificationID: id})
	return asynq.NewTask(TypeNotificationDeliver, b, asynq.TaskID(NotificationDeliverID(id)),
		asynq.Queue(QueueNotifications), asynq.MaxRetry(deliveryMaxRetry), asynq.Retention(deliveryRetention),
		asynq.Timeout(orDefault(timeout)))
}

// NewDeliveryTask builds the queue entry for an outbox kind.
func NewDeliveryTask(kind string, id uuid.UUID, timeout time.Duration) (*asynq.Task, error) {
	switch kind {
	case store.OutboxTask:
		return NewTaskDeliverTask(id, timeout), nil
	case store.OutboxNotification:
		return NewNotificationDeliverTask(id, timeout), nil
	}
	return nil, fmt.Errorf("unknown outbox kind %q", kind)
}

// DeliveryQueue is the queue a kind's entries live in (reconciliation looks there).
func DeliveryQueue(kind string) string {
	if kind == store.OutboxNotification {
		return QueueNotifications
	}
	return QueueTasks
}

// DeliveryTaskID is the asynq TaskID for an outbox kind.
func DeliveryTaskID(kind string, id uuid.UUID) string {
	if kind == store.OutboxNotification {
		return NotificationDeliverID(id)
	}
	return TaskDeliverID(id)
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultDeliveryTimeout
	}
	return d
}

// Enqueue puts a delivery entry into asynq. An entry with the same TaskID
// already there (queued, running, retrying or recently finished) counts as
// success: the TaskID keeps every item single. opts are added to the
// task's own (asynq.ProcessIn, say).
func Enqueue(ctx context.Context, c *asynq.Client, kind string, id uuid.UUID, timeout time.Duration, opts ...asynq.Option) error {
	t, err := NewDeliveryTask(kind, id, timeout)
	if err != nil {
		return err
	}
	if _, err := c.EnqueueContext(ctx, t, opts...); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", DeliveryTaskID(kind, id), err)
	}
	return nil
}

// Relay moves outbox rows into asynq. Any number of relays may run, in any
// number of processes: rows are claimed with FOR UPDATE SKIP LOCKED and
// deleted in the same transaction once Redis has accepted them, so a row
// is never lost (Redis down: it stays) and at worst enqueued twice (the
// TaskID refuses the duplicate).
type Relay struct {
	DB       *store.DB
	Client   *asynq.Client
	Log      *slog.Logger
	Interval time.Duration // poll when idle and not woken; default 1s
	// BatchSize rows per transaction (default 200); MaxBackoff caps the wait
	// after failures (default 30s); TaskTimeout is asynq's per-attempt
	// timeout for delivery entries (default DefaultDeliveryTimeout).
	BatchSize   int
	MaxBackoff  time.Duration
	TaskTimeout time.Duration

	once sync.Once
	kick chan struct{}
}

func (r *Relay) init() {
	r.once.Do(func() {
		r.kick = make(chan struct{}, 1)
		if r.Interval <= 0 {
			r.Interval = time.Second
		}
		if r.BatchSize <= 0 {
			r.BatchSize = 200
		}
		if r.MaxBackoff <= 0 {
			r.MaxBackoff = 30 * time.Second
		}
		if r.Log == nil {
			r.Log = slog.New(slog.DiscardHandler)
		}
		r.Log = r.Log.With("component", "relay")
	})
}

// Kick wakes the relay at once (after a commit that wrote outbox rows).
// It never blocks.
func (r *Relay) Kick() {
	r.init()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends. It also LISTENs for the outbox trigger's
// NOTIFY, so rows committed by any process are relayed within milliseconds.
func (r *Relay) Run(ctx context.Context) {
	r.init()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.listen(ctx) }()
	defer wg.Wait()
	failures := 0
	for {
		n, err := r.RunOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			failures++
			wait := backoff(r.Interval, r.MaxBackoff, failures)
			r.Log.Warn("relay failed; rows stay in the outbox", "error", err, "failures", failures, "retry_in", wait.String())
			if !sleep(ctx, wait) {
				return
			}
			continue
		case failures > 0:
			r.Log.Info("relay recovered", "failures", failures)
			failures = 0
		}
		if n >= r.BatchSize {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-time.After(r.Interval):
		}
	}
}

// RunOnce relays one batch and returns how many rows it claimed.
func (r *Relay) RunOnce(ctx context.Context) (int, error) {
	r.init()
	return r.DB.RelayOutbox(ctx, r.BatchSize, r.enqueue)
}

// enqueueParallel bounds concurrent Redis round trips per batch.
const enqueueParallel = 8

func (r *Relay) enqueue(ctx context.Context, items []store.OutboxItem) ([]int64, error) {
	var mu sync.Mutex
	var queued []int64
	var errs []error
	sem := make(chan struct{}, enqueueParallel)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		mu.Lock()
		stop := len(errs) > 0 // Redis is failing: leave the rest for the next round
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			err := Enqueue(ctx, r.Client, it.Kind, it.RefID, r.TaskTimeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			queued = append(queued, it.ID)
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return queued, fmt.Errorf("%d of %d queued: %w", len(queued), len(items), errs[0])
	}
	return queued, nil
}

// listen keeps a LISTEN connection open, reconnecting with backoff; the
// poll interval covers any gap.
func (r *Relay) listen(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		err := r.DB.WaitOutbox(ctx, r.Kick)
		if ctx.Err() != nil {
			return
		}
		failures++
		r.Log.Debug("outbox listener lost; polling meanwhile", "error", err)
		if !sleep(ctx, backoff(r.Interval, r.MaxBackoff, failures)) {
			return
		}
	}
}

// backoff is exponential from base, capped, with full jitter in its upper half.
func backoff(base, maxWait time.Duration, failures int) time.Duration {
	d := base
	for i := 1; i < failures && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
