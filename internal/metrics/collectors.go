package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// EndpointGauge is one recipient endpoint's circuit and queue. ODS codes
// are bounded by the federation's size, so they make a safe label.
type EndpointGauge struct {
	ODS      string
	Open     bool
	InFlight int
	Queued   int
}

// Snapshot is the database state exposed as gauges at scrape time. The
// caller (the API server) fills it from the store; this package stays free
// of SQL.
type Snapshot struct {
	TasksByState              map[string]int
	NotificationsByState      map[string]int
	OldestUndelivered         *time.Time
	OldestPendingNotification *time.Time
	QueueBacklog              int
	Endpoints                 []EndpointGauge
	ActivePractices           int
	StalePractices            int
	NeverSynced               int
	LastCompletedRunAt        *time.Time
}

var (
	descTasks = prometheus.NewDesc("gpfed_tasks",
		"Tasks in the database by state.", []string{"state"}, nil)
	descNotifications = prometheus.NewDesc("gpfed_notifications",
		"Notifications in the database by state.", []string{"state"}, nil)
	descOldestTask = prometheus.NewDesc("gpfed_task_oldest_undelivered_age_seconds",
		"Age of the oldest task accepted but not yet delivered (0 when none).", nil, nil)
	descOldestNotification = prometheus.NewDesc("gpfed_notification_oldest_pending_age_seconds",
		"Age of the oldest notification not yet delivered (0 when none).", nil, nil)
	descQueue = prometheus.NewDesc("gpfed_delivery_queue_backlog",
		"Open deliveries (tasks and notifications) waiting in the delivery queue, not in flight.", nil, nil)
	descCircuit = prometheus.NewDesc("gpfed_endpoint_circuit_open",
		"1 while a practice's webhook circuit is open (deliveries deferred), else 0.", []string{"practice"}, nil)
	descInFlight = prometheus.NewDesc("gpfed_endpoint_in_flight",
		"Deliveries to a practice's endpoint in flight now (bounded by its cap).", []string{"practice"}, nil)
	descQueued = prometheus.NewDesc("gpfed_endpoint_queued",
		"Deliveries to a practice waiting (not in flight).", []string{"practice"}, nil)
	descPractices = prometheus.NewDesc("gpfed_practices_active",
		"Active federation practices.", nil, nil)
	descStale = prometheus.NewDesc("gpfed_practices_sync_stale",
		"Active practices whose last capacity fetch failed (serving an older snapshot).", nil, nil)
	descNeverSynced = prometheus.NewDesc("gpfed_practices_never_synced",
		"Active practices with no successful capacity fetch yet.", nil, nil)
	descLastRun = prometheus.NewDesc("gpfed_sync_last_completed_timestamp_seconds",
		"Unix time the newest completed sync run finished (absent before the first).", nil, nil)
	descScrapeOK = prometheus.NewDesc("gpfed_db_scrape_success",
		"1 when the database gauges were read at this scrape, 0 when the read failed.", nil, nil)
)

// DBCollector reads Snapshot at scrape time. Results are cached for
// MaxAge so several scrapers (or a fast scrape interval) cost one query set.
type DBCollector struct {
	// Now is the clock ages are measured against (time.Now by default).
	Now func() time.Time

	read   func(context.Context) (Snapshot, error)
	maxAge time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	cached Snapshot
	at     time.Time
	err    error
}

// NewDBCollector builds a collector around read, which is called with a
// short timeout at most once per maxAge.
func NewDBCollector(read func(context.Context) (Snapshot, error), maxAge time.Duration, log *slog.Logger) *DBCollector {
	return &DBCollector{read: read, maxAge: maxAge, Now: time.Now, log: log}
}

// Describe implements prometheus.Collector.
func (c *DBCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTasks, descNotifications, descOldestTask, descOldestNotification,
		descQueue, descCircuit, descInFlight, descQueued, descPractices, descStale, descNeverSynced, descLastRun, descScrapeOK} {
		ch <- d
	}
}

func (c *DBCollector) snapshot() (Snapshot, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now() // the cache runs on the real clock, whatever Now says
	if !c.at.IsZero() && now.Sub(c.at) < c.maxAge {
		return c.cached, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c.cached, c.err = c.read(ctx)
	c.at = now
	if c.err != nil && c.log != nil {
		c.log.Warn("metrics database read failed", "error", c.err)
	}
	return c.cached, c.err
}

// Collect implements prometheus.Collector.
func (c *DBCollector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.snapshot()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descScrapeOK, prometheus.GaugeValue, 1)
	for state, n := range s.TasksByState {
		ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), state)
	}
	for state, n := range s.NotificationsByState {
		ch <- prometheus.MustNewConstMetric(descNotifications, prometheus.GaugeValue, float64(n), state)
	}
	now := c.Now()
	ch <- prometheus.MustNewConstMetric(descOldestTask, prometheus.GaugeValue, age(now, s.OldestUndelivered))
	ch <- prometheus.MustNewConstMetric(descOldestNotification, prometheus.GaugeValue, age(now, s.OldestPendingNotification))
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(s.QueueBacklog))
	for _, e := range s.Endpoints {
		open := 0.0
		if e.Open {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(descCircuit, prometheus.GaugeValue, open, e.ODS)
		ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(e.InFlight), e.ODS)
		ch <- prometheus.MustNewConstMetric(descQueued, prometheus.GaugeValue, float64(e.Queued), e.ODS)
	}
	ch <- prometheus.MustNewConstMetric(descPractices, prometheus.GaugeValue, float64(s.ActivePractices))
	ch <- prometheus.MustNewConstMetric(descStale, prometheus.GaugeValue, float64(s.StalePractices))
	ch <- prometheus.MustNewConstMetric(descNeverSynced, prometheus.GaugeValue, float64(s.NeverSynced))
	if s.LastCompletedRunAt != nil {
		ch <- prometheus.MustNewConstMetric(descLastRun, prometheus.GaugeValue, float64(s.LastCompletedRunAt.Unix()))
	}
}

func age(now time.Time, t *time.Time) float64 {
	if t == nil {
		return 0
	}
	if d := now.Sub(*t).Seconds(); d > 0 {
		return d
	}
	return 0
}
