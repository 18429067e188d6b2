package queue

import (
	"context"

	"github.com/gpfed/gpfed/internal/batch"
	"github.com/gpfed/gpfed/internal/store"
)

// Intake accepts tasks into Postgres in groups: concurrent API requests
// share one statement and one commit (store.AcceptTasks), their access
// records included, and each request is answered only after the commit
// that holds its task, so "202 Accepted" still means durably stored. After
// each commit it wakes the delivery engine once for the whole group. Run it
// as a service while the API serves.
type Intake struct {
	db    *store.DB
	waker *Waker
	group *batch.Group[store.TaskIntake, store.TaskResult]
}

// IntakeConfig sizes the groups: at most MaxBatch tasks per statement
// (default 64), Flushers statements in flight at once (default 2).
type IntakeConfig struct {
	MaxBatch, Flushers int
}

// NewIntake returns an intake writing to db and waking through waker (nil:
// no wake; the sweeper finds the work).
func NewIntake(db *store.DB, waker *Waker, cfg IntakeConfig) *Intake {
	in := &Intake{db: db, waker: waker}
	in.group = batch.New(in.commit, cmpInt(cfg.MaxBatch, 64), cmpInt(cfg.Flushers, 2))
	return in
}

func cmpInt(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Run gathers and commits until ctx ends, then commits what is left.
func (in *Intake) Run(ctx context.Context) { in.group.Run(ctx) }

// Accept stores t with its request's access record, if not nil (see
// store.AcceptTasks), and returns once they are committed, or with the
// reason the task was not stored.
func (in *Intake) Accept(ctx context.Context, t store.Task, access *store.AccessRecord) (store.TaskResult, error) {
	return in.group.Do(ctx, store.TaskIntake{Task: t, Access: access})
}

func (in *Intake) commit(ctx context.Context, ts []store.TaskIntake) ([]store.TaskResult, error) {
	res, err := in.db.AcceptTasks(ctx, ts)
	if err != nil {
		return nil, err
	}
	created, urgent := false, false
	for _, r := range res {
		if r.Created {
			created = true
			urgent = urgent || r.Task.Priority == "urgent"
		}
	}
	if created {
		in.waker.Wake(ctx, urgent)
	}
	return res, nil
}
