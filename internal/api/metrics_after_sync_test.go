package api_test

import (
	"context"
	"io"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gpfed/gpfed/internal/api"
	"github.com/gpfed/gpfed/internal/logging"
	"github.com/gpfed/gpfed/internal/sim"
	"github.com/gpfed/gpfed/internal/testfed"
)

// TestMetricsAfterSync runs a real sync (simulated federation, real client,
// asynq worker) and scrapes /metrics: the named series must exist with
// values consistent with what the sync did.
func TestMetricsAfterSync(t *testing.T) {
	f := testfed.New(t, testfed.Options{Practices: 5, Seed: 31})
	f.Sim.SetFault(f.ODS()[2], sim.Fault{Status: 403})
	f.StartWorker(t, 5)
	run, err := f.Sync.Start(context.Background(), "manual", nil, 14)
	if err != nil {
		t.Fatal(err)
	}
	done := f.WaitRun(t, run.ID, time.Minute)

	s := &api.Server{DB: f.DB, Log: logging.Discard(), Inspector: f.Insp}
	srv := httptest.NewServer(s.OpsHandler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)

	atLeast := map[string]float64{
		`gpfed_sync_practices_total{outcome="ok",spine_code=""}`:                  4,
		`gpfed_sync_practices_total{outcome="failed",spine_code="ACCESS_DENIED"}`: 1,
		`gpfed_sync_slots_fetched_total`:                                          float64(done.SlotsTotal),
		`gpfed_sync_run_duration_seconds_count`:                                   1,
		`gpfed_sync_save_group_practices_sum`:                                     4, // every saved snapshot went through a group
		`gpfed_sync_save_group_duration_seconds_count`:                            1,
		`gpfed_gpconnect_request_duration_seconds_count{interaction="urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1",status="200"}`: 4,
		`gpfed_gpconnect_request_duration_seconds_count{interaction="urn:nhs:names:services:gpconnect:fhir:rest:search:slot-1",status="403"}`: 1,
	}
	for series, min := range atLeast {
		v, ok := sample(text, series)
		if !ok {
			t.Errorf("series %s missing from /metrics", series)
			continue
		}
		if v < min {
			t.Errorf("%s = %v, want >= %v", series, v, min)
		}
	}
	if done.SlotsTotal == 0 {
		t.Error("the sync fetched no slots")
	}
	for _, name := range []string{"gpfed_tasks", "asynq_queue_size"} {
		if !regexp.MustCompile(`(?m)^` + name).MatchString(text) {
			t.Errorf("no %s series", name)
		}
	}
}

// sample finds one exposition line "series value".
func sample(text, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}
