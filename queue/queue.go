// Package queue names gpfed's asynq task types, queues and payloads, builds
// tasks, and owns the rule that joins Postgres to asynq for deliveries:
// after a commit that makes delivery work due, wake the engine (Waker); if
// that wake is lost, the Sweeper finds the work. Payloads carry ids only:
// never NHS numbers or free text.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types, "domain:action".
const (
	TypeCapacityFetch = "capacity:fetch"
	// TypeDeliveryClaim asks a worker to claim due deliveries from Postgres
	// and deliver them. It carries no payload: Postgres says what is due.
	TypeDeliveryClaim = "delivery:claim"
)

// Queue names and their asynq priority weights.
const (
	QueueDeliveryUrgent = "delivery_urgent"
	QueueDelivery       = "delivery"
	QueueCapacity       = "capacity"
)

// Queues is the weighted queue map every worker serves. A wake for urgent
// work jumps a backlog of others; capacity fetches never starve.
var Queues = map[string]int{QueueDeliveryUrgent: 12, QueueDelivery: 6, QueueCapacity: 2, QueueBookings: 4}

// Enqueue puts t into asynq. An entry with the same TaskID already there
// (queued, running, retrying or kept after completion) counts as success:
// TaskIDs are how gpfed keeps work single, so this is the one conflict
// policy every enqueue in gpfed uses.
func Enqueue(ctx context.Context, c *asynq.Client, t *asynq.Task, opts ...asynq.Option) error {
	_, err := c.EnqueueContext(ctx, t, opts...)
	if err == nil || errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return fmt.Errorf("enqueue %s: %w", t.Type(), err)
}

// CapacityFetch asks a worker to fetch one practice's slots for one run.
type CapacityFetch struct {
	RunID int64  `json:"run_id"`
	ODS   string `json:"ods_code"`
}

// CapacityFetchID is the asynq TaskID: one queue entry per practice per run.
func CapacityFetchID(runID int64, ods string) string {
	return fmt.Sprintf("capacity:%d:%s", runID, ods)
}

// NewCapacityFetchTask builds the task; timeout bounds one whole fetch so the
// asynq lease is never outlived silently.
func NewCapacityFetchTask(p CapacityFetch, timeout time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshal capacity fetch: %w", err)
	}
	return asynq.NewTask(TypeCapacityFetch, b,
		asynq.TaskID(CapacityFetchID(p.RunID, p.ODS)),
		asynq.Queue(QueueCapacity),
		asynq.MaxRetry(2),
		asynq.Timeout(timeout),
		asynq.Retention(24*time.Hour),
	), nil
}

// RedisOpt turns a redis:// URL into asynq's connection option.
func RedisOpt(rawURL string) (asynq.RedisConnOpt, error) {
	opt, err := asynq.ParseRedisURI(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	return opt, nil
}

// RedisDB extracts the database number from a redis:// URL (0 when absent).
func RedisDB(rawURL string) int {
	u, err := url.Parse(rawURL)
	if err != nil || len(u.Path) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(u.Path[1:])
	return n
}
