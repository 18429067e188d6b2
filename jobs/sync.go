package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// Sync starts capacity sync runs: a run row in Postgres, then one asynq
// task per practice (TaskID de-duplicates per run). Workers do the fetching.
type Sync struct {
	DB          *store.DB
	Client      *asynq.Client
	Inspector   *asynq.Inspector // for Reconcile; may be nil
	Log         *slog.Logger
	Days        int
	Location    *time.Location
	TaskTimeout time.Duration
	// RunDeadline fails practices still pending after this long (lost work).
	RunDeadline time.Duration
	Now         func() time.Time
}

func (s *Sync) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Window returns the UK local dates [from, to) a run of days covers, starting today.
func (s *Sync) Window(days int) (time.Time, time.Time) {
	if days <= 0 {
		days = s.Days
	}
	n := s.now().In(s.Location)
	from := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, s.Location)
	return from, from.AddDate(0, 0, days)
}

// Start creates a run for practices (all active when empty) and enqueues it.
func (s *Sync) Start(ctx context.Context, trigger string, practices []string, days int) (store.SyncRun, error) {
	from, to := s.Window(days)
	run, codes, err := s.DB.CreateSyncRun(ctx, trigger, from, to, practices)
	if err != nil {
		return run, fmt.Errorf("create sync run: %w", err)
	}
	var errs []error
	for _, ods := range codes {
		if err := s.enqueue(ctx, run.ID, ods); err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	s.Log.Info("sync run started", "run_id", run.ID, "trigger", trigger, "practices", len(codes),
		"from", run.FromDate, "to", run.ToDate, "enqueue_errors", len(errs))
	// Practices whose enqueue failed stay pending; Reconcile enqueues them later.
	return run, errors.Join(errs...)
}

func (s *Sync) enqueue(ctx context.Context, runID int64, ods string) error {
	t, err := queue.NewCapacityFetchTask(queue.CapacityFetch{RunID: runID, ODS: ods}, s.TaskTimeout)
	if err != nil {
		return err
	}
	if err := queue.Enqueue(ctx, s.Client, t); err != nil {
		return fmt.Errorf("enqueue %s for run %d: %w", ods, runID, err)
	}
	return nil
}

// Reconcile re-enqueues practices of running runs that have no outcome
// (their queue entry was lost, e.g. Redis restarted) and fails practices of
// runs past the deadline so every run finishes.
func (s *Sync) Reconcile(ctx context.Context) error {
	if s.RunDeadline > 0 {
		ids, err := s.DB.AbandonRuns(ctx, s.RunDeadline)
		if err != nil {
			return err
		}
		for _, id := range ids {
			s.Log.Warn("sync run abandoned past deadline", "run_id", id)
		}
	}
	pending, err := s.DB.PendingRunPractices(ctx)
	if err != nil {
		return err
	}
	requeued := 0
	for runID, codes := range pending {
		for _, ods := range codes {
			ok, err := s.requeue(ctx, runID, ods)
			if err != nil {
				return err
			}
			if ok {
				requeued++
			}
		}
	}
	if requeued > 0 {
		s.Log.Warn("re-enqueued lost capacity fetches", "count", requeued)
	}
	return nil
}

// requeue enqueues a pending practice whose queue entry is missing or dead.
func (s *Sync) requeue(ctx context.Context, runID int64, ods string) (bool, error) {
	id := queue.CapacityFetchID(runID, ods)
	if s.Inspector != nil {
		info, err := s.Inspector.GetTaskInfo(queue.QueueCapacity, id)
		switch {
		case err == nil && info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted:
			return false, nil // still queued, scheduled, retrying or running
		case err == nil:
			if err := s.Inspector.DeleteTask(queue.QueueCapacity, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
				return false, fmt.Errorf("delete dead task %s: %w", id, err)
			}
		case !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound):
			return false, fmt.Errorf("inspect %s: %w", id, err)
		}
	}
	return true, s.enqueue(ctx, runID, ods)
}

// RunScheduled is the cron entry: start a scheduled run unless one is still running.
func (s *Sync) RunScheduled(ctx context.Context) {
	run, err := s.Start(ctx, "schedule", nil, 0)
	switch {
	case errors.Is(err, store.ErrConflict):
		s.Log.Info("scheduled sync skipped: the previous scheduled run is still running")
	case err != nil && run.ID == 0:
		s.Log.Error("scheduled sync failed to start", "error", err)
	case err != nil:
		s.Log.Warn("scheduled sync started with enqueue errors; reconciliation will retry", "run_id", run.ID, "error", err)
	}
}

// MissedRun reports whether the schedule fired while no scheduler was
// running: the latest fire time at or before now has no scheduled run since.
// robfig/cron does not replay missed runs, so the leader checks on election.
func (s *Sync) MissedRun(ctx context.Context, sched cron.Schedule) (bool, time.Time, error) {
	prev := PreviousFire(sched, s.now())
	if prev.IsZero() {
		return false, prev, nil
	}
	ran, err := s.DB.LatestRunStartedAfter(ctx, "schedule", prev)
	if err != nil {
		return false, prev, err
	}
	return !ran, prev, nil
}

// PreviousFire returns the latest activation of sched at or before now,
// looking back up to 8 days (zero when none).
func PreviousFire(sched cron.Schedule, now time.Time) time.Time {
	var prev time.Time
	for t := sched.Next(now.Add(-8 * 24 * time.Hour)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		prev = t
	}
	return prev
}
