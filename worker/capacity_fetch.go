package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gpfed/gpfed/internal/flight"
	"github.com/gpfed/gpfed/internal/gpconnect"
	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/sds"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/queue"
)

// estimateBytes is the byte budget a practice's fetch reserves with its first response bytes:
// one window's worth, since a practice's windows seldom arrive together and its later bytes never
// wait. GP Connect slot searches run to ~450 bytes of JSON per free slot with their includes (given
// back once decoded), a decoded slot to ~320; a 28-day fetch is two windows. A practice never
// synced is assumed larger than most.
func estimateBytes(previousSlots int) int64 {
	if previousSlots == 0 {
		return 192 << 10
	}
	return max(32<<10, int64(previousSlots)*450/2)
}

// codeSDSNotConfigured fails a practice that has no endpoint override while
// GPFED_SDS_URL is not set.
const codeSDSNotConfigured = "SDS_NOT_CONFIGURED"

// process records one outcome for a claimed practice: skipped, not GP
// Connect enabled, failed, or its new snapshot.
func (h *capacityHandler) process(ctx context.Context, p queue.CapacityFetch, c *store.FetchClaim) error {
	started := time.Now()
	out := store.FetchOutcome{RunID: p.RunID, ODSCode: p.ODS, LeaseToken: c.Token}
	if c.FreshFromOtherRun(p.RunID) {
		out.Diagnostics = fmt.Sprintf("run %d saved this practice at %s, after this run started; that snapshot stands",
			c.LastRunID, c.LastSuccessAt.UTC().Format(time.RFC3339))
		if err := h.db.RecordSkipped(context.WithoutCancel(ctx), out, c.LastRunID); err != nil {
			return fmt.Errorf("record %s skipped: %w", p.ODS, err)
		}
		metrics.SyncPractices.WithLabelValues(store.OutcomeSkipped, "").Inc()
		h.log.Info("practice skipped: another run fetched it during this run", "run_id", p.RunID, "ods_code", p.ODS,
			"by_run_id", c.LastRunID)
		return nil
	}
	// The practice's response bytes count against the process's budget until it is saved.
	mem := h.budget.Claim(estimateBytes(c.PreviousSlots))
	defer mem.Release()
	ctx = flight.WithClaim(ctx, mem)
	prov, rec, err := h.resolve(ctx, p, c)
	out.Endpoint = rec
	if err != nil {
		out.Duration = time.Since(started)
		return h.unresolved(ctx, out, err)
	}
	res, err := h.gpc.SearchFreeSlots(ctx, prov, c.From, c.To)
	out.Duration = time.Since(started)
	if res != nil {
		out.Calls = res.Calls
	}
	if err != nil {
		return h.fail(ctx, out, err)
	}
	return h.save(ctx, out, c, res)
}

func (h *capacityHandler) save(ctx context.Context, out store.FetchOutcome, c *store.FetchClaim, res *gpconnect.SlotSearchResult) error {
	slots := res.Slots // the snapshot stores the decoded slots themselves: a sync copies none
	var ch store.SnapshotChanges
	var err error
	if h.saver != nil {
		ch, err = h.saver.Save(ctx, store.SnapshotSave{Outcome: out, From: c.From, To: c.To, Slots: slots})
	} else {
		ch, err = h.db.SaveSnapshot(ctx, out, c.From, c.To, slots)
	}
	if err != nil {
		return fmt.Errorf("save snapshot for %s: %w", out.ODSCode, err)
	}
	metrics.SyncPractices.WithLabelValues(store.OutcomeOK, "").Inc()
	metrics.SlotsFetched.Add(float64(len(slots)))
	h.log.Info("practice synced", "run_id", out.RunID, "ods_code", out.ODSCode, "slots", len(slots), "calls", out.Calls,
		"added", ch.Added, "removed", ch.Removed, "expired", ch.Expired, "duration_ms", out.Duration.Milliseconds())
	return nil
}

// resolve finds the service root and ASID to call: the practice's override,
// else SDS for this interaction within the run's session.
func (h *capacityHandler) resolve(ctx context.Context, p queue.CapacityFetch, c *store.FetchClaim) (gpconnect.Provider, *store.EndpointRecord, error) {
	if c.Endpoint != "" && c.ASID != "" {
		rec := &store.EndpointRecord{Interaction: interaction, Status: "found", Source: "override", Address: c.Endpoint, ASID: c.ASID}
		return gpconnect.Provider{ODS: p.ODS, ASID: c.ASID, ServiceRoot: c.Endpoint}, rec, nil
	}
	if h.sds == nil {
		return gpconnect.Provider{}, nil, errSDSNotConfigured
	}
	ep, err := h.sds.Lookup(ctx, session(p.RunID), p.ODS, interaction)
	if errors.Is(err, sds.ErrNotEnabled) {
		return gpconnect.Provider{}, &store.EndpointRecord{Interaction: interaction, Status: "not_enabled", Source: "sds"}, err
	}
	if err != nil {
		return gpconnect.Provider{}, nil, err
	}
	rec := &store.EndpointRecord{Interaction: interaction, Status: "found", Source: "sds", Address: ep.Address,
		ASID: ep.ASID, PartyKey: ep.PartyKey}
	if prev := c.PreviousEndpoint; prev != nil && prev.Status == "found" && (prev.Address != ep.Address || prev.ASID != ep.ASID) {
		// The fresh lookup wins; operators should still hear that the directory changed.
		h.log.Warn("practice endpoint changed in SDS; using the new one", "run_id", p.RunID, "ods_code", p.ODS,
			"previous_address", prev.Address, "previous_asid", prev.ASID, "address", ep.Address, "asid", ep.ASID)
	}
	return gpconnect.Provider{ODS: p.ODS, ASID: ep.ASID, ServiceRoot: ep.Address}, rec, nil
}

var errSDSNotConfigured = errors.New("the practice has no endpoint override and GPFED_SDS_URL is not set")

// unresolved records an outcome for a practice SDS could not resolve: "not
// GP Connect enabled" (not a failure), or a failure that keeps the previous
// snapshot (an outage, bad directory data, gpfed's key refused).
func (h *capacityHandler) unresolved(ctx context.Context, out store.FetchOutcome, err error) error {
	if isShutdown(ctx) {
		return fmt.Errorf("resolve %s interrupted: %w", out.ODSCode, ctx.Err())
	}
	var serr *sds.Error
	switch {
	case errors.As(err, &serr) && serr.Kind == sds.NotEnabled:
		out.SpineCode = serr.Code()
		out.Diagnostics = "SDS lists no GP Connect endpoint for search:slot-1 at this practice (not enabled for slot search, or not a GP practice ODS code)"
		if err := h.db.MarkPracticeNotEnabled(context.WithoutCancel(ctx), out); err != nil {
			return fmt.Errorf("record %s not enabled: %w", out.ODSCode, err)
		}
		metrics.SyncPractices.WithLabelValues(store.OutcomeNotEnabled, out.SpineCode).Inc()
		h.log.Info("practice not GP Connect enabled for slot search (SDS)", "run_id", out.RunID, "ods_code", out.ODSCode)
		return nil
	case errors.As(err, &serr):
		out.SpineCode, out.Diagnostics = serr.Code(), serr.Error()+"; the previous snapshot is kept"
		if serr.Status != 200 {
			out.HTTPStatus = serr.Status
		}
	case errors.Is(err, errSDSNotConfigured):
		out.SpineCode, out.Diagnostics = codeSDSNotConfigured, err.Error()
	default:
		out.SpineCode, out.Diagnostics = "CLIENT_ERROR", err.Error()
	}
	return h.recordFailure(ctx, out, err)
}

// isShutdown reports a cancelled (not timed-out) context: the worker is
// stopping, so the task goes back to the queue instead of failing.
func isShutdown(ctx context.Context) bool { return errors.Is(ctx.Err(), context.Canceled) }

func (h *capacityHandler) fail(ctx context.Context, out store.FetchOutcome, err error) error {
	if isShutdown(ctx) {
		return fmt.Errorf("fetch %s interrupted: %w", out.ODSCode, ctx.Err())
	}
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
	return h.recordFailure(ctx, out, err)
}

func (h *capacityHandler) recordFailure(ctx context.Context, out store.FetchOutcome, err error) error {
	if len(out.Diagnostics) > 1000 {
		out.Diagnostics = out.Diagnostics[:1000]
	}
	if err := h.db.MarkPracticeFailed(context.WithoutCancel(ctx), out); err != nil {
		return fmt.Errorf("record failure for %s: %w", out.ODSCode, err)
	}
	metrics.SyncPractices.WithLabelValues(store.OutcomeFailed, out.SpineCode).Inc()
	h.log.Warn("practice sync failed", "run_id", out.RunID, "ods_code", out.ODSCode, "http_status", out.HTTPStatus,
		"spine_code", out.SpineCode, "duration_ms", out.Duration.Milliseconds(), "error", err)
	return nil
}
