package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gpfed/gpfed/internal/metrics"
)

// gather flattens a registry into "name{label=value,...}" -> value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			out[key] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestDBCollector(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	oldest := now.Add(-90 * time.Second)
	finished := now.Add(-time.Hour)
	cases := []struct {
		name string
		read func(context.Context) (metrics.Snapshot, error)
		want map[string]float64
	}{
		{"snapshot", func(context.Context) (metrics.Snapshot, error) {
			return metrics.Snapshot{TasksByState: map[string]int{"accepted": 4, "failed": 1},
				NotificationsByState: map[string]int{"pending": 2}, OldestUndelivered: &oldest, QueueBacklog: 7,
				Endpoints:       []metrics.EndpointGauge{{ODS: "B82001", Open: true, InFlight: 1, Queued: 40}, {ODS: "C81002", Queued: 2}},
				ActivePractices: 12, StalePractices: 1, NeverSynced: 2, LastCompletedRunAt: &finished}, nil
		}, map[string]float64{
			"gpfed_db_scrape_success": 1, "gpfed_tasks{state=accepted}": 4, "gpfed_tasks{state=failed}": 1,
			"gpfed_notifications{state=pending}": 2, "gpfed_task_oldest_undelivered_age_seconds": 90,
			"gpfed_notification_oldest_pending_age_seconds": 0, "gpfed_delivery_queue_backlog": 7,
			"gpfed_endpoint_circuit_open{practice=B82001}": 1, "gpfed_endpoint_in_flight{practice=B82001}": 1,
			"gpfed_endpoint_queued{practice=B82001}": 40, "gpfed_endpoint_circuit_open{practice=C81002}": 0,
			"gpfed_endpoint_in_flight{practice=C81002}": 0, "gpfed_endpoint_queued{practice=C81002}": 2, "gpfed_practices_active": 12,
			"gpfed_practices_sync_stale": 1, "gpfed_practices_never_synced": 2,
			"gpfed_sync_last_completed_timestamp_seconds": float64(finished.Unix()),
		}},
		{"database down", func(context.Context) (metrics.Snapshot, error) {
			return metrics.Snapshot{}, errors.New("connection refused")
		}, map[string]float64{"gpfed_db_scrape_success": 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := metrics.NewDBCollector(tc.read, time.Minute, nil)
			c.Now = func() time.Time { return now }
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(c)
			if diff := cmp.Diff(tc.want, gather(t, reg)); diff != "" {
				t.Errorf("gauges (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDBCollectorCachesReads(t *testing.T) {
	t.Parallel()
	reads := 0
	c := metrics.NewDBCollector(func(context.Context) (metrics.Snapshot, error) {
		reads++
		return metrics.Snapshot{}, nil
	}, time.Minute, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	for range 3 {
		gather(t, reg)
	}
	if reads != 1 {
		t.Errorf("%d database reads for 3 scrapes within maxAge, want 1", reads)
	}
}
