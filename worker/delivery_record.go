package worker

import (
	"context"
	"time"

	"github.com/gpfed/gpfed/internal/metrics"
	"github.com/gpfed/gpfed/internal/store"
)

// recordPatience is how long the completer keeps retrying a batch the
// database refuses before giving up on it; the items' leases then run out
// and they are delivered again under the same Idempotency-Key.
const recordPatience = 10 * time.Second

// record is the completer's group function: it records a batch of
// outcomes in one round trip, then pokes the sweeper when it scheduled
// retries (each recorded delivery pokes the claim loop itself: it may
// have created a notification or freed an endpoint's slot).
func (e *Engine) record(ctx context.Context, outs []store.Outcome) ([]struct{}, error) {
	opt := store.RecordOptions{NotificationTTL: e.cfg.NotificationTTL, Breaker: e.cfg.Breaker}
	var rep store.RecordReport
	var err error
	wait := 50 * time.Millisecond
	for give := time.Now().Add(recordPatience); ; wait = min(2*wait, 2*time.Second) {
		started := time.Now()
		rep, err = e.db.RecordOutcomes(ctx, outs, opt)
		metrics.DeliveryRecordSeconds.Observe(time.Since(started).Seconds())
		if err == nil || time.Now().Add(wait).After(give) {
			break
		}
		e.log.Warn("recording delivery outcomes failed; retrying", "outcomes", len(outs), "error", err)
		time.Sleep(wait)
	}
	if err != nil {
		return nil, err
	}
	for _, t := range rep.Transitions {
		e.logTransition(t)
	}
	retries := false
	for _, o := range outs {
		retries = retries || o.Result == store.Retry
	}
	if retries {
		e.sweeper.Poke()
	}
	return make([]struct{}, len(outs)), nil
}

// logTransition reports a circuit change: an opening is what an operator
// must see (the admins and the practice also get notifications).
func (e *Engine) logTransition(t store.EndpointTransition) {
	h := t.Health
	metrics.EndpointTransitions.WithLabelValues(t.Change).Inc()
	log := e.log.With("recipient_ods", h.ODSCode, "consecutive_failures", h.ConsecutiveFailures,
		"last_status", h.LastStatus, "last_error", h.LastError, "notified", t.Notified)
	switch t.Change {
	case store.EndpointOpened:
		log.Error("endpoint circuit opened: deliveries to it are deferred", "next_probe_at", fmtTime(h.NextProbeAt))
	case store.EndpointProbeFailed:
		log.Warn("endpoint probe failed; circuit stays open", "next_probe_at", fmtTime(h.NextProbeAt),
			"probe_backoff", h.ProbeBackoff.String())
	case store.EndpointRecovered:
		log.Info("endpoint circuit closed: deliveries resume")
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
