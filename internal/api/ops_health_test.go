package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/testredis"
)

func withInspector(t *testing.T, redisURL string) opsOption {
	opt, err := asynq.ParseRedisURI(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	t.Cleanup(func() { insp.Close() })
	return func(s *api.Server) { s.Inspector = insp }
}

type readyJSON struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

func checkStates(r readyJSON) map[string]string {
	out := map[string]string{}
	for k, c := range r.Checks {
		out[k] = c.Status
	}
	return out
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	_, redisURL := testredis.DB(t)
	t.Run("all dependencies up", func(t *testing.T) {
		t.Parallel()
		e := newOpsEnv(t, withInspector(t, redisURL))
		res, body := e.get("/healthz", "")
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `"ok"`) {
			t.Errorf("healthz: %d %s", res.StatusCode, body)
		}
		res, body = e.opsGet("/readyz")
		r := decode[readyJSON](t, body)
		want := map[string]string{"postgres": "ok", "redis": "ok", "migrations": "ok"}
		if res.StatusCode != http.StatusOK || r.Status != "ready" || !cmp.Equal(want, checkStates(r)) {
			t.Errorf("readyz: %d %s", res.StatusCode, body)
		}
	})
	t.Run("redis unreachable", func(t *testing.T) {
		t.Parallel()
		e := newOpsEnv(t, withInspector(t, "redis://127.0.0.1:1/0"))
		res, body := e.opsGet("/readyz")
		r := decode[readyJSON](t, body)
		if res.StatusCode != http.StatusServiceUnavailable || r.Status != "not_ready" || r.Checks["redis"].Status != "failed" ||
			r.Checks["postgres"].Status != "ok" {
			t.Errorf("readyz: %d %s", res.StatusCode, body)
		}
		if res, _ := e.get("/healthz", ""); res.StatusCode != http.StatusOK {
			t.Errorf("healthz must not depend on redis: %d", res.StatusCode)
		}
	})
	t.Run("migration pending", func(t *testing.T) {
		t.Parallel()
		e := newOpsEnv(t)
		if _, err := e.db.Pool.Exec(t.Context(), `DELETE FROM schema_migrations WHERE name = '0004_ops.sql'`); err != nil {
			t.Fatal(err)
		}
		res, body := e.opsGet("/readyz")
		r := decode[readyJSON](t, body)
		if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(r.Checks["migrations"].Detail, "0004_ops.sql") ||
			r.Checks["redis"].Status != "skipped" {
			t.Errorf("readyz: %d %s", res.StatusCode, body)
		}
	})
	t.Run("postgres unreachable", func(t *testing.T) {
		t.Parallel()
		e := newOpsEnv(t)
		e.db.Close() // the pool refuses every query from now on
		res, body := e.opsGet("/readyz")
		r := decode[readyJSON](t, body)
		if res.StatusCode != http.StatusServiceUnavailable || r.Checks["postgres"].Status != "failed" {
			t.Errorf("readyz: %d %s", res.StatusCode, body)
		}
	})
}

func scrape(t *testing.T, e *opsEnv) map[string]*dto.MetricFamily {
	t.Helper()
	res, body := e.opsGet("/metrics")
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.StatusCode, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value finds the sample of a family whose labels include all of want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && labels[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	_, redisURL := testredis.DB(t)
	e := newOpsEnv(t, withInspector(t, redisURL))
	opt, _ := asynq.ParseRedisURI(redisURL)
	client := asynq.NewClient(opt)
	defer client.Close()
	for range 3 {
		if _, err := client.Enqueue(asynq.NewTask("test:noop", nil), asynq.Queue("capacity")); err != nil {
			t.Fatal(err)
		}
	}
	// What the sync and delivery code records; the values here are ours.
	metrics.SyncRunDuration.Observe(41)
	metrics.SyncPractices.WithLabelValues("failed", "ACCESS_DENIED").Inc()
	metrics.SyncPractices.WithLabelValues("ok", "").Add(2)
	metrics.SlotsFetched.Add(515)
	metrics.GPConnectCalls.WithLabelValues("slot_search", "200").Observe(0.18)
	metrics.TaskDeliveryDuration.WithLabelValues("webhook", "delivered").Observe(0.04)
	metrics.TaskDeliveryAttempts.WithLabelValues("webhook", "delivered").Observe(1)

	fams := scrape(t, e)
	cases := []struct {
		name   string
		labels map[string]string
		min    float64
		max    float64
	}{
		{"gpfed_tasks", map[string]string{"state": "accepted"}, 3, 3},
		{"gpfed_tasks", map[string]string{"state": "failed"}, 2, 2},
		{"gpfed_tasks", map[string]string{"state": "delivered"}, 2, 2},
		{"gpfed_notifications", map[string]string{"state": "pending"}, 1, 1},
		{"gpfed_task_oldest_undelivered_age_seconds", nil, 7200, 7200},
		{"gpfed_notification_oldest_pending_age_seconds", nil, 600, 600},
		{"gpfed_delivery_queue_backlog", nil, 4, 4}, // three tasks and the pending notification
		{"gpfed_endpoint_circuit_open", map[string]string{"practice": "B82002"}, 1, 1},
		{"gpfed_endpoint_circuit_open", map[string]string{"practice": "A81001"}, 0, 0},
		{"gpfed_endpoint_queued", map[string]string{"practice": "B82002"}, 3, 3},
		{"gpfed_endpoint_in_flight", map[string]string{"practice": "B82002"}, 0, 0},
		{"gpfed_practices_active", nil, 4, 4},
		{"gpfed_practices_sync_stale", nil, 1, 1},
		{"gpfed_practices_never_synced", nil, 1, 1},
		{"gpfed_sync_last_completed_timestamp_seconds", nil, 1795399265, 1795399265},
		{"gpfed_db_scrape_success", nil, 1, 1},
		{"gpfed_sync_run_duration_seconds", nil, 1, 1e9},
		{"gpfed_sync_practices_total", map[string]string{"outcome": "failed", "spine_code": "ACCESS_DENIED"}, 1, 1e9},
		{"gpfed_sync_slots_fetched_total", nil, 515, 1e9},
		{"gpfed_gpconnect_request_duration_seconds", map[string]string{"interaction": "slot_search", "status": "200"}, 1, 1e9},
		{"gpfed_task_delivery_duration_seconds", map[string]string{"channel": "webhook", "outcome": "delivered"}, 1, 1e9},
		{"gpfed_task_delivery_attempts", map[string]string{"channel": "webhook", "outcome": "delivered"}, 1, 1e9},
		{"asynq_queue_size", map[string]string{"queue": "capacity"}, 3, 3},
		{"asynq_tasks_enqueued_total", map[string]string{"queue": "capacity", "state": "pending"}, 3, 3},
		{"asynq_queue_latency_seconds", map[string]string{"queue": "capacity"}, 0, 3600},
		{"go_goroutines", nil, 1, 1e6},
	}
	for _, tc := range cases {
		got, ok := value(t, fams, tc.name, tc.labels)
		if !ok {
			t.Errorf("%s%v missing from /metrics", tc.name, tc.labels)
			continue
		}
		if got < tc.min || got > tc.max {
			t.Errorf("%s%v = %v, want in [%v, %v]", tc.name, tc.labels, got, tc.min, tc.max)
		}
	}
}
