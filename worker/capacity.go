package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/ctxwait"
	"github.com/gpfed/gpfed/internal/flight"
	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/sds"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// SlotSearcher is the part of the GP Connect client the handler uses.
type SlotSearcher interface {
	SearchFreeSlots(ctx context.Context, p gpconnect.Provider, from, to time.Time) (*gpconnect.SlotSearchResult, error)
}

// EndpointResolver resolves a practice's endpoint for one interaction within
// a session (an *sds.Cache: one lookup per practice per run).
type EndpointResolver interface {
	Lookup(ctx context.Context, session, ods, interaction string) (sds.Endpoint, error)
}

// CapacityDeps is what the capacity fetch handler needs.
type CapacityDeps struct {
	GPC SlotSearcher
	// OnRunFinished, when set, is called once by the handler that completes a run.
	OnRunFinished func(ctx context.Context, run store.SyncRun)
}

// FetchDeps are the capacity fetch's other parts: endpoint discovery and
// the per-practice fetch leases.
type FetchDeps struct {
	// SDS resolves practices that have no endpoint override. nil: SDS is not
	// configured, and such practices fail with SDS_NOT_CONFIGURED.
	SDS EndpointResolver
	// Instance names this process in fetch leases (default host-pid-random).
	Instance string
	// LeaseTTL is how long a fetch lease outlives its last renewal (default
	// 30s): how long a killed worker keeps its practices from other runs.
	LeaseTTL time.Duration
	// Budget bounds the provider response bytes this process holds at once,
	// from their arrival until the practice is saved (nil: unbounded).
	Budget *flight.Budget
	// Saver saves snapshots in groups (nil: each practice in its own
	// transaction).
	Saver *SnapshotSaver
}

func registerCapacity(mux *asynq.ServeMux, d Deps) {
	if d.Capacity.GPC == nil {
		return
	}
	mux.HandleFunc(queue.TypeCapacityFetch, newCapacityHandler(d).ProcessTask)
}

type capacityHandler struct {
	db         *store.DB
	gpc        SlotSearcher
	sds        EndpointResolver
	log        *slog.Logger
	instance   string
	ttl        time.Duration
	leases     *leaseKeeper
	budget     *flight.Budget
	saver      *SnapshotSaver
	onFinished func(ctx context.Context, run store.SyncRun)
}

func newCapacityHandler(d Deps) *capacityHandler {
	c := d.Fetch
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	log := d.Log.With("component", "capacity")
	return &capacityHandler{db: d.DB, gpc: d.Capacity.GPC, sds: c.SDS, log: log, instance: c.Instance, ttl: c.LeaseTTL,
		leases: &leaseKeeper{db: d.DB, instance: c.Instance, ttl: c.LeaseTTL, log: log}, budget: c.Budget,
		saver: c.Saver, onFinished: d.Capacity.OnRunFinished}
}

// interaction is what a capacity fetch calls, and so what SDS is asked about.
const interaction = gpconnect.InteractionSearchSlots

// ProcessTask fetches one practice's free slots for one run and stores the
// outcome. It is idempotent: a practice that already has an outcome in the
// run is skipped. It first claims the practice's fetch lease, so no other
// run or process fetches or saves the practice at the same time: while
// another run's fetch holds it, this one waits, and then reports the
// practice as skipped when that fetch saved it after this run began.
// Provider and SDS failures are outcomes; only our own failures (database
// down, shutdown) return an error so asynq retries the task.
func (h *capacityHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p queue.CapacityFetch
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.RunID == 0 || p.ODS == "" {
		return fmt.Errorf("bad capacity payload: %v: %w", err, asynq.SkipRetry)
	}
	claim, err := h.claim(ctx, p)
	if err != nil || claim == nil {
		return err
	}
	h.leases.hold()
	defer h.leases.drop()
	if err := h.process(ctx, p, claim); err != nil {
		// Hand the lease back so that the retry (or another run) need not wait for it to lapse.
		if rerr := h.db.ReleaseFetchLease(context.WithoutCancel(ctx), p.ODS, claim.Token); rerr != nil {
			h.log.Warn("release fetch lease", "ods_code", p.ODS, "error", rerr)
		}
		return err
	}
	return h.finish(ctx, p.RunID)
}

// claim takes the practice's fetch lease for the run, waiting while another
// run's fetch holds it. It returns nil when the practice has an outcome.
func (h *capacityHandler) claim(ctx context.Context, p queue.CapacityFetch) (*store.FetchClaim, error) {
	wait, waited := 200*time.Millisecond, time.Time{}
	for {
		c, err := h.db.ClaimFetch(ctx, p.RunID, p.ODS, interaction, h.instance, h.ttl)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("run %d has no practice %s: %w", p.RunID, p.ODS, asynq.SkipRetry)
		case err != nil:
			return nil, fmt.Errorf("claim %s for run %d: %w", p.ODS, p.RunID, err)
		case c.Status != "pending":
			return nil, nil
		case c.Acquired:
			if !waited.IsZero() {
				h.log.Info("fetch lease free; continuing", "run_id", p.RunID, "ods_code", p.ODS,
					"waited_ms", time.Since(waited).Milliseconds())
			}
			return &c, nil
		}
		if waited.IsZero() {
			waited = time.Now()
			h.log.Info("practice is being fetched by another run; waiting", "run_id", p.RunID, "ods_code", p.ODS,
				"holder_run_id", c.HolderRun)
		}
		if err := ctxwait.Sleep(ctx, wait/2+rand.N(wait/2+1)); err != nil {
			return nil, fmt.Errorf("waiting for run %d's fetch of %s: %w", c.HolderRun, p.ODS, err)
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (h *capacityHandler) finish(ctx context.Context, runID int64) error {
	run, err := h.db.FinishRunIfDone(context.WithoutCancel(ctx), runID)
	if err != nil {
		return err
	}
	if run == nil {
		return nil
	}
	if ender, ok := h.sds.(interface{ EndSession(string) }); ok {
		ender.EndSession(session(runID))
	}
	d := time.Since(run.StartedAt)
	metrics.SyncRunDuration.Observe(d.Seconds())
	h.log.Info("sync run completed", "run_id", run.ID, "practices_ok", run.PracticesOK,
		"practices_failed", run.PracticesFailed, "practices_not_enabled", run.PracticesNotEnabled,
		"practices_skipped", run.PracticesSkipped, "slots", run.SlotsTotal, "duration_ms", d.Milliseconds())
	if h.onFinished != nil {
		h.onFinished(ctx, *run)
	}
	return nil
}

// session is the SDS caching session of a run: lookups are kept for the
// run and never reused by another (GP Connect's rule for consumers).
func session(runID int64) string { return fmt.Sprintf("run:%d", runID) }
