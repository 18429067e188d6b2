package e2e

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
	"github.com/gpfed/gpfed/queue"
)

// startRun starts a capacity sync run of every practice the way the
// scheduler does (run rows in Postgres, one queue task per practice) and
// leaves the fetching to the stack's workers.
func startRun(ctx context.Context, t *testing.T, ts *testStack) store.SyncRun {
	t.Helper()
	db, err := store.Open(ctx, ts.Cfg.DatabaseURL, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	redis, err := queue.RedisOpt(ts.Redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := asynq.NewClient(redis)
	defer client.Close()
	london, _ := time.LoadLocation("Europe/London")
	s := &jobs.Sync{DB: db, Client: client, Log: slog.New(slog.DiscardHandler), Days: 28, Location: london,
		TaskTimeout: 5 * time.Minute}
	run, err := s.Start(ctx, "manual", nil, 28)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// TestTwoWorkersShareARunAndSurviveAKill is issue 9's scale-out proof: two
// worker processes serve one run and share its practices (both fetch some,
// none is fetched by both), and when one is SIGKILLed half-way the other
// completes the run: the practices the dead worker had in flight are
// fetched again once its queue leases and fetch leases lapse, every other
// practice exactly once, and every practice ends ok with the provider's slots.
func TestTwoWorkersShareARunAndSurviveAKill(t *testing.T) {
	t.Parallel()
	const practices, concurrency = 240, 6
	ts := newTestStack(t, stackOpts{practices: practices})
	setLatency(ts.Fed, 300*time.Millisecond, nil, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	env := []string{"GPFED_SYNC_CONCURRENCY=" + itoa(concurrency)}
	a, err := ts.Start("worker-a", []string{"worker"}, env...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Start("worker-b", []string{"worker"}, env...); err != nil {
		t.Fatal(err)
	}
	run := startRun(ctx, t, ts)
	if err := waitFor(2*time.Minute, func() error {
		var done int
		if err := ts.DB.QueryRow(ctx, `SELECT count(*) FROM sync_run_practices WHERE run_id = $1 AND status <> 'pending'`, run.ID).Scan(&done); err != nil {
			return err
		}
		if done < practices/3 {
			return errNotYet
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	waitRunCompleted(ctx, t, ts.DB, run.ID, 4*time.Minute)
	t.Logf("run completed %s after worker-a was SIGKILLed", time.Since(killedAt).Round(time.Second))
	checkScaleOut(ctx, t, ts, run.ID, concurrency)
	noCollisions(t, ts.Stack)
}

type notYet struct{}

func (notYet) Error() string { return "not yet" }

var errNotYet error = notYet{}

// checkScaleOut: every practice ok with the provider's slots; a practice
// claimed once was fetched once (two windows); only practices in flight
// at the kill were claimed again; both workers stored practices.
func checkScaleOut(ctx context.Context, t *testing.T, ts *testStack, run int64, concurrency int) {
	t.Helper()
	var fromDate, toDate time.Time
	if err := ts.DB.QueryRow(ctx, `SELECT from_date, to_date FROM sync_runs WHERE id = $1`, run).Scan(&fromDate, &toDate); err != nil {
		t.Fatal(err)
	}
	london, _ := time.LoadLocation("Europe/London")
	from := time.Date(fromDate.Year(), fromDate.Month(), fromDate.Day(), 0, 0, 0, 0, london)
	to := time.Date(toDate.Year(), toDate.Month(), toDate.Day(), 0, 0, 0, 0, london)
	again := 0
	for ods, o := range runOutcomes(ctx, t, ts.DB, run) {
		if o.Status != "ok" {
			t.Errorf("%s: %+v", ods, o)
			continue
		}
		n := ts.Fed.Requests(ods)
		switch {
		case o.Attempts == 1 && n != 2:
			t.Errorf("%s: claimed once but %d requests reached the provider", ods, n)
		case o.Attempts > 1:
			again++
			if n > 2*o.Attempts {
				t.Errorf("%s: %d requests for %d claims", ods, n, o.Attempts)
			}
		}
		var stored int
		if err := ts.DB.QueryRow(ctx, `SELECT count(*) FROM slots WHERE ods_code = $1`, ods).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if want := ts.Fed.ExpectedFreeSlots(ods, from, to); stored != want {
			t.Errorf("%s: %d slots stored, the provider offers %d", ods, stored, want)
		}
	}
	if again > concurrency {
		t.Errorf("%d practices were claimed again; at most the killed worker's %d in flight should be", again, concurrency)
	}
	synced := map[string]int{}
	for _, file := range []string{"worker-a.log", "worker-b.log"} {
		synced[file] = len(logRecords(t, ts.Stack, file, "practice synced"))
	}
	if synced["worker-a.log"] == 0 || synced["worker-b.log"] == 0 {
		t.Errorf("the workers did not share the run: practices synced per worker %v", synced)
	}
	t.Logf("practices synced per worker %v; %d fetched again after the kill", synced, again)
}
