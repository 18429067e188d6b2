// Package queue names gpfed's asynq task types, queues and payloads, builds
// tasks, and moves durable work from Postgres into Redis (the outbox relay).
// Payloads carry ids only: never NHS numbers or free text.
package queue

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types, "domain:action".
const (
	TypeCapacityFetch       = "capacity:fetch"
	TypeTaskDeliver         = "task:deliver"
	TypeNotificationDeliver = "notification:deliver"
)

// Queue names and their asynq priority weights.
const (
	QueueTasks         = "tasks"
	QueueNotifications = "notifications"
	QueueCapacity      = "capacity"
)

// Queues is the weighted queue map every worker serves.
var Queues = map[string]int{QueueTasks: 6, QueueNotifications: 3, QueueCapacity: 2, QueueBookings: 4}

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
