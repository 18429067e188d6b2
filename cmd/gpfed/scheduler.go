package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"github.com/gpfed/gpfed/internal/service"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/jobs"
)

func init() {
	register("scheduler", "run the cron scheduler (nightly capacity sync, reconciliation); one replica leads", runScheduler)
}

func runScheduler(ctx context.Context, app *App, args []string) error {
	if len(args) > 0 {
		return usagef("scheduler takes no arguments (schedule: GPFED_SYNC_SCHEDULE)")
	}
	c, err := connect(ctx, app)
	if err != nil {
		return err
	}
	defer c.Close()
	g := service.Group{Log: app.Log}
	defer g.Stop()
	g.Start(ctx, "metrics", func(ctx context.Context) {
		stop := startMetrics(ctx, app)
		<-ctx.Done()
		stop()
	})
	if err := startScheduler(ctx, &g, app, c.DB, c.Client, c.Inspector); err != nil {
		return err
	}
	g.Wait(ctx)
	return nil
}

// startScheduler campaigns for the scheduler lease and, while leader,
// fires the nightly sync, capacity reconciliation and delivery jobs. In
// stop order: cron (running jobs finish), then the lease is released.
func startScheduler(ctx context.Context, g *service.Group, app *App, db *store.DB, client *asynq.Client, inspector *asynq.Inspector) error {
	loc, _ := time.LoadLocation(app.Cfg.Sync.TimeZone)
	spec, err := cron.ParseStandard(app.Cfg.Sync.Schedule)
	if err != nil {
		return usagef("GPFED_SYNC_SCHEDULE %q: %v", app.Cfg.Sync.Schedule, err)
	}
	log := app.Log.With("component", "scheduler")
	syncer := newSyncer(app, db, client, inspector)
	host, _ := os.Hostname()
	leader := jobs.NewLeader(db, "scheduler", fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8]),
		30*time.Second, func(ctx context.Context) { catchUp(ctx, syncer, spec, loc, log) }, log)

	c := cron.New(cron.WithLocation(loc), cron.WithChain(cron.Recover(cronLogger{log})))
	c.Schedule(spec, cron.FuncJob(func() {
		if leader.IsLeader() {
			syncer.RunScheduled(ctx)
		}
	}))
	if _, err := c.AddFunc("@every 1m", func() {
		if leader.IsLeader() {
			if err := syncer.Reconcile(ctx); err != nil {
				log.Error("capacity reconciliation failed", "error", err)
			}
		}
	}); err != nil {
		return err
	}
	if err := scheduleDeliveryJobs(ctx, c, leader, app, db); err != nil {
		return err
	}
	if err := scheduleBookingJobs(ctx, c, leader, app, db, client, inspector); err != nil {
		return err
	}
	g.Start(ctx, "leader lease", leader.Run)
	g.Start(ctx, "cron", func(sctx context.Context) {
		c.Start()
		log.Info("scheduler started", "schedule", app.Cfg.Sync.Schedule, "time_zone", loc.String(),
			"next_sync", spec.Next(time.Now().In(loc)))
		<-sctx.Done()
		<-c.Stop().Done()
		log.Info("scheduler stopped")
	})
	return nil
}

// catchUp starts a sync when the schedule fired while no scheduler ran
// (robfig/cron never replays missed activations).
func catchUp(ctx context.Context, s *jobs.Sync, spec cron.Schedule, loc *time.Location, log interface {
	Info(string, ...any)
	Error(string, ...any)
}) {
	missed, at, err := s.MissedRun(ctx, wrapLocation{spec, loc})
	if err != nil {
		log.Error("missed-run check failed", "error", err)
		return
	}
	if missed {
		log.Info("scheduled sync was missed while no scheduler ran; starting it now", "missed_at", at)
		s.RunScheduled(ctx)
	}
}

// wrapLocation evaluates a schedule in the configured zone, as cron does.
type wrapLocation struct {
	cron.Schedule
	loc *time.Location
}

func (w wrapLocation) Next(t time.Time) time.Time { return w.Schedule.Next(t.In(w.loc)) }

// cronLogger adapts slog to cron's logger (used by the Recover wrapper).
type cronLogger struct {
	l interface {
		Info(string, ...any)
		Error(string, ...any)
	}
}

func (c cronLogger) Info(msg string, kv ...any) { c.l.Info(msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error(msg, append(kv, "error", err)...)
}
