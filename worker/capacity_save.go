package worker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gpfed/gpfed/internal/batch"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// SnapshotSaver saves the snapshots of practices fetched at the same time
// in groups (store.SaveSnapshots: one transaction of a few round trips per
// group instead of per practice). While one group is being saved the next
// gathers, for up to saveLinger if it is not full.
type SnapshotSaver struct {
	db    *store.DB
	log   *slog.Logger
	group *batch.Group[store.SnapshotSave, store.SnapshotResult]
	// groups and saved count the groups run and the practices in them.
	groups, saved atomic.Int64
}

// Groups of up to SaveGroupMax practices (~460 slots each in a 28-day
// window), saveFlushers groups in flight at once. A group that is not full
// waits up to saveLinger for more: when providers are slow, practices finish
// a few milliseconds apart, and without it a region's sync at 1 s median
// latency saved 2.6-3.5 practices a transaction (8.7-9.2 with it, and 8-15%
// less machine CPU a slot; at 200 ms saves queue up and groups fill anyway).
// A practice's save waits at most that long. 32 rather than 16 since a
// group's rows go into COPY in start order (store.copySlots): four
// alternating pairs of a region's sync at 200 ms, 16.9/16.6/16.0/17.4 ->
// 16.0/15.8/16.1/16.1 us of machine CPU a slot.
const (
	SaveGroupMax = 32
	saveFlushers = 4
	saveLinger   = 50 * time.Millisecond
	// saveGroupTimeout bounds one group's transaction (milliseconds when well).
	saveGroupTimeout = time.Minute
)

// NewSnapshotSaver returns a saver; run it with Run before the capacity
// handlers that use it start, and stop it after them.
func NewSnapshotSaver(db *store.DB, log *slog.Logger) *SnapshotSaver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &SnapshotSaver{db: db, log: log.With("component", "capacity")}
	s.group = batch.New(s.saveGroup, SaveGroupMax, saveFlushers).WithLinger(saveLinger)
	return s
}

// Run saves groups until ctx ends, then saves what is still queued.
func (s *SnapshotSaver) Run(ctx context.Context) { s.group.Run(ctx) }

// Groups returns how many groups this saver has run and how many practices
// they held (the same as the gpfed_snapshot_save_group_size histogram, for
// a process without a scrape: sync --once prints it).
func (s *SnapshotSaver) Groups() (groups, practices int64) { return s.groups.Load(), s.saved.Load() }

// Save saves one practice's snapshot with whatever others are waiting.
func (s *SnapshotSaver) Save(ctx context.Context, in store.SnapshotSave) (store.SnapshotChanges, error) {
	r, err := s.group.Do(ctx, in)
	if err != nil {
		return store.SnapshotChanges{}, err
	}
	return r.Changes, r.Err
}

// saveGroup saves a group in one transaction. If that fails, each practice
// is saved alone, so that one practice's failure (bad data, a statement
// Postgres refuses) is its own and the others' snapshots still land.
func (s *SnapshotSaver) saveGroup(ctx context.Context, saves []store.SnapshotSave) ([]store.SnapshotResult, error) {
	// The group outlives its callers' contexts (a caller that gave up finds
	// its lease released and its save refused); a stuck database must not
	// hold the flusher for ever.
	ctx, cancel := context.WithTimeout(ctx, saveGroupTimeout)
	defer cancel()
	metrics.SnapshotSaveGroups.Observe(float64(len(saves)))
	s.groups.Add(1)
	s.saved.Add(int64(len(saves)))
	defer func(start time.Time) { metrics.SnapshotSaveSeconds.Observe(time.Since(start).Seconds()) }(time.Now())
	rs, err := s.db.SaveSnapshots(ctx, saves)
	if err == nil || len(saves) == 1 {
		return rs, err
	}
	s.log.Warn("saving a group of snapshots failed; saving each alone", "practices", len(saves), "error", err)
	rs = make([]store.SnapshotResult, len(saves))
	for i := range saves {
		one, err := s.db.SaveSnapshots(ctx, saves[i:i+1])
		if err != nil {
			rs[i].Err = err
			continue
		}
		rs[i] = one[0]
	}
	return rs, nil
}
