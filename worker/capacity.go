package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"

	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// SlotSearcher is the part of the GP Connect client the handler uses.
type SlotSearcher interface {
	SearchFreeSlots(ctx context.Context, p gpconnect.Provider, from, to time.Time) (*gpconnect.SlotSearchResult, error)
}

// CapacityDeps is what the capacity fetch handler needs.
type CapacityDeps struct {
	GPC SlotSearcher
	// OnRunFinished, when set, is called once by the handler that completes a run.
	OnRunFinished func(ctx context.Context, run store.SyncRun)
}

func registerCapacity(mux *asynq.ServeMux, d Deps) {
	if d.Capacity.GPC == nil {
		return
	}
	h := &capacityHandler{db: d.DB, gpc: d.Capacity.GPC, log: d.Log.With("component", "capacity"), onFinished: d.Capacity.OnRunFinished}
	mux.HandleFunc(queue.TypeCapacityFetch, h.ProcessTask)
}

type capacityHandler struct {
	db         *store.DB
	gpc        SlotSearcher
	log        *slog.Logger
	onFinished func(ctx context.Context, run store.SyncRun)
}

// ProcessTask fetches one practice's free slots for one run and stores the
// outcome. It is idempotent: a practice that already has an outcome in the
// run is skipped. Provider failures are outcomes (the client already applied
// the GP Connect retry policy); only our own failures (database down,
// shutdown) return an error so asynq retries the task.
func (h *capacityHandler) ProcessTask(ctx context.Context, t *asynq.Task) error {
	var p queue.CapacityFetch
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.RunID == 0 || p.ODS == "" {
		return fmt.Errorf("bad capacity payload: %v: %w", err, asynq.SkipRetry)
	}
	status, from, to, err := h.db.RunPracticeStatus(ctx, p.RunID, p.ODS)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("run %d has no practice %s: %w", p.RunID, p.ODS, asynq.SkipRetry)
	}
	if err != nil {
		return fmt.Errorf("load run %d: %w", p.RunID, err)
	}
	if status != "pending" {
		return nil
	}
	if err := h.db.RecordAttempt(ctx, p.RunID, p.ODS); err != nil {
		return err
	}
	if err := h.fetch(ctx, p, from, to); err != nil {
		return err
	}
	return h.finish(ctx, p.RunID)
}

func (h *capacityHandler) fetch(ctx context.Context, p queue.CapacityFetch, from, to time.Time) error {
	started := time.Now()
	out := store.FetchOutcome{RunID: p.RunID, ODSCode: p.ODS}
	pr, err := h.db.GetPractice(ctx, p.ODS)
	if err != nil {
		return fmt.Errorf("load practice %s: %w", p.ODS, err)
	}
	res, err := h.gpc.SearchFreeSlots(ctx, gpconnect.Provider{ODS: pr.ODSCode, ASID: pr.ASID, ServiceRoot: pr.Endpoint}, from, to)
	out.Duration = time.Since(started)
	if res != nil {
		out.Calls = res.Calls
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			// Shutting down: hand the task back rather than record a failure.
			return fmt.Errorf("fetch %s interrupted: %w", p.ODS, ctx.Err())
		}
		return h.fail(ctx, out, err)
	}
	recs := make([]store.SlotRecord, len(res.Slots))
	for i, s := range res.Slots {
		recs[i] = store.SlotRecord{SlotID: s.ID, Start: s.Start, End: s.End, StartText: s.StartText, EndText: s.EndText,
			LocalDate: s.LocalDate, DurationMinutes: s.DurationMinutes, LocationID: s.LocationID, SiteName: s.SiteName,
			ScheduleID: s.ScheduleID, SessionName: s.SessionName, PractitionerID: s.PractitionerID,
			PractitionerName: s.PractitionerName, RoleCode: s.RoleCode, RoleDisplay: s.RoleDisplay,
			DeliveryChannel: s.DeliveryChannel, SlotType: s.SlotType}
	}
	ch, err := h.db.SaveSnapshot(ctx, out, from, to, recs)
	if err != nil {
		return fmt.Errorf("save snapshot for %s: %w", p.ODS, err)
	}
	metrics.SyncPractices.WithLabelValues("ok", "").Inc()
	metrics.SlotsFetched.Add(float64(len(recs)))
	h.log.Info("practice synced", "run_id", p.RunID, "ods_code", p.ODS, "slots", len(recs), "calls", out.Calls,
		"added", ch.Added, "removed", ch.Removed, "expired", ch.Expired, "duration_ms", out.Duration.Milliseconds())
	return nil
}

func (h *capacityHandler) fail(ctx context.Context, out store.FetchOutcome, err error) error {
	var gerr *gpconnect.Error
	switch {
	case errors.As(err, &gerr):
		out.HTTPStatus, out.SpineCode, out.Diagnostics = gerr.Status, gerr.SpineCode, gerr.Diagnostics
		if out.Diagnostics == "" && gerr.Err != nil {
			out.Diagnostics = gerr.Err.Error()
		}
	case errors.Is(err, context.DeadlineExceeded):
		out.SpineCode, out.Diagnostics = gpconnect.CodeTimeout, "fetch exceeded the task deadline"
	default:
		out.SpineCode, out.Diagnostics = "CLIENT_ERROR", err.Error()
	}
	if len(out.Diagnostics) > 1000 {
		out.Diagnostics = out.Diagnostics[:1000]
	}
	if err := h.db.MarkPracticeFailed(context.WithoutCancel(ctx), out); err != nil {
		return fmt.Errorf("record failure for %s: %w", out.ODSCode, err)
	}
	metrics.SyncPractices.WithLabelValues("failed", metrics.SpineCodeLabel(out.SpineCode)).Inc()
	h.log.Warn("practice sync failed", "run_id", out.RunID, "ods_code", out.ODSCode, "http_status", out.HTTPStatus,
		"spine_code", out.SpineCode, "duration_ms", out.Duration.Milliseconds(), "error", err)
	return nil
}

func (h *capacityHandler) finish(ctx context.Context, runID int64) error {
	run, err := h.db.FinishRunIfDone(context.WithoutCancel(ctx), runID)
	if err != nil {
		return err
	}
	if run == nil {
		return nil
	}
	d := time.Since(run.StartedAt)
	metrics.SyncRunDuration.Observe(d.Seconds())
	h.log.Info("sync run completed", "run_id", run.ID, "practices_ok", run.PracticesOK,
		"practices_failed", run.PracticesFailed, "slots", run.SlotsTotal, "duration_ms", d.Milliseconds())
	if h.onFinished != nil {
		h.onFinished(ctx, *run)
	}
	return nil
}
