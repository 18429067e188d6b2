package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Circuit states of a recipient endpoint.
const (
	CircuitClosed = "closed"
	CircuitOpen   = "open"
)

// BreakerPolicy is the per-endpoint circuit breaker: FailuresToOpen
// consecutive failed attempts open the circuit; while open, nothing is sent
// to the endpoint (its deliveries wait, uncounted) except one probe at
// next_probe_at; a failed probe doubles the wait (ProbeMin up to ProbeMax),
// a success closes the circuit. Openings are announced to the federation
// admins and the practice at most once per NotifyEvery.
type BreakerPolicy struct {
	FailuresToOpen     int
	ProbeMin, ProbeMax time.Duration
	NotifyEvery        time.Duration
}

// DefaultBreakerPolicy is the breaker gpfed runs unless configured.
var DefaultBreakerPolicy = BreakerPolicy{FailuresToOpen: 5, ProbeMin: 10 * time.Second, ProbeMax: 10 * time.Minute,
	NotifyEvery: time.Hour}

// EndpointHealth is one endpoint's circuit.
type EndpointHealth struct {
	ODSCode             string
	State               string
	ConsecutiveFailures int
	OpenedAt            *time.Time
	NextProbeAt         *time.Time
	ProbeBackoff        time.Duration
	LastStatus          int
	LastError           string
	LastFailureAt       *time.Time
	LastSuccessAt       *time.Time
	NotifiedAt          *time.Time
}

// EndpointSummary is what one batch of outcomes says about an endpoint, in
// the order the attempts finished.
type EndpointSummary struct {
	ODSCode          string
	Successes        int
	TrailingFailures int // failed attempts after the batch's last success
	ProbeFailed      bool
	LastStatus       int
	LastError        string
}

// Endpoint changes worth telling someone about.
const (
	EndpointOpened      = "opened"
	EndpointProbeFailed = "probe_failed"
	EndpointRecovered   = "recovered"
)

// EndpointTransition is a change of an endpoint's circuit.
type EndpointTransition struct {
	Health EndpointHealth
	Change string
	// Notified: this transition created notifications for the admins and the practice.
	Notified bool
}

// Apply returns h after the attempts s summarises, at now, and the change
// it made ("" for none).
func (p BreakerPolicy) Apply(h EndpointHealth, s EndpointSummary, now time.Time) (EndpointHealth, string) {
	change := ""
	wasOpen := h.State == CircuitOpen
	if s.Successes > 0 {
		h.ConsecutiveFailures = s.TrailingFailures
		h.LastSuccessAt = &now
		if wasOpen {
			h.State, h.NextProbeAt, h.ProbeBackoff = CircuitClosed, nil, 0
			change = EndpointRecovered
		}
	} else {
		h.ConsecutiveFailures += s.TrailingFailures
	}
	if s.TrailingFailures > 0 {
		h.LastStatus, h.LastError, h.LastFailureAt = s.LastStatus, s.LastError, &now
	}
	switch {
	case h.State != CircuitOpen && h.ConsecutiveFailures >= max(p.FailuresToOpen, 1):
		probe := now.Add(p.ProbeMin)
		h.State, h.OpenedAt, h.NextProbeAt, h.ProbeBackoff = CircuitOpen, &now, &probe, p.ProbeMin
		change = EndpointOpened
	case wasOpen && h.State == CircuitOpen && s.ProbeFailed:
		h.ProbeBackoff = min(max(2*h.ProbeBackoff, p.ProbeMin), p.ProbeMax)
		probe := now.Add(h.ProbeBackoff)
		h.NextProbeAt = &probe
		change = EndpointProbeFailed
	}
	return h, change
}

// summariseEndpoints splits a batch's attempted outcomes by endpoint: those
// that only succeeded (reset in the batch's own round trip) and the rest.
func summariseEndpoints(outs []Outcome) (healthy []string, failing []EndpointSummary) {
	byEP := map[string]*EndpointSummary{}
	var order []string
	for _, o := range outs {
		if !o.Tried {
			continue
		}
		s := byEP[o.Endpoint]
		if s == nil {
			s = &EndpointSummary{ODSCode: o.Endpoint}
			byEP[o.Endpoint] = s
			order = append(order, o.Endpoint)
		}
		if o.Result == Delivered {
			s.Successes++
			s.TrailingFailures = 0
			continue
		}
		s.TrailingFailures++
		s.LastStatus, s.LastError = o.Status, o.Error
		if o.Probe {
			s.ProbeFailed = true
		}
	}
	for _, ep := range order {
		if s := byEP[ep]; s.TrailingFailures == 0 {
			healthy = append(healthy, ep)
		} else {
			failing = append(failing, *s)
		}
	}
	return healthy, failing
}

const healthColumns = `ods_code, state, consecutive_failures, opened_at, next_probe_at,
	COALESCE(probe_backoff_ms, 0), COALESCE(last_status, 0), COALESCE(last_error, ''), last_failure_at,
	last_success_at, notified_at`

func scanHealth(row pgx.Row) (EndpointHealth, error) {
	var h EndpointHealth
	var backoffMS int64
	err := row.Scan(&h.ODSCode, &h.State, &h.ConsecutiveFailures, &h.OpenedAt, &h.NextProbeAt, &backoffMS,
		&h.LastStatus, &h.LastError, &h.LastFailureAt, &h.LastSuccessAt, &h.NotifiedAt)
	h.ProbeBackoff = time.Duration(backoffMS) * time.Millisecond
	return h, err
}

// endpointsSucceededStmt resets endpoints whose attempts in a batch all
// succeeded, touching only rows that need it (a healthy endpoint costs one
// index probe), and returns those whose circuit it closed.
func endpointsSucceededStmt(eps []string, recovered *[]EndpointHealth) stmt {
	return stmt{sql: `WITH old AS (
			SELECT h.ods_code, h.state FROM endpoint_health h
			WHERE h.ods_code = ANY($1) AND (h.state = 'open' OR h.consecutive_failures > 0) FOR UPDATE OF h),
		up AS (UPDATE endpoint_health h SET state = 'closed', consecutive_failures = 0, next_probe_at = NULL,
				probe_backoff_ms = NULL, last_success_at = now(), updated_at = now()
			FROM old WHERE h.ods_code = old.ods_code AND old.state = 'open'
			RETURNING h.*),
		reset AS (UPDATE endpoint_health h SET consecutive_failures = 0, last_success_at = now(), updated_at = now()
			FROM old WHERE h.ods_code = old.ods_code AND old.state <> 'open')
		SELECT ` + healthColumns + ` FROM up`,
		args: []any{eps},
		rows: func(rows pgx.Rows) error {
			for rows.Next() {
				h, err := scanHealth(rows)
				if err != nil {
					return err
				}
				*recovered = append(*recovered, h)
			}
			return rows.Err()
		}}
}

// applyBreaker runs the breaker, in tx, for endpoints with failures: it
// locks their rows, applies p and notifies openings (and recoveries within
// the same batch).
func applyBreaker(ctx context.Context, tx pgx.Tx, failing []EndpointSummary, p BreakerPolicy) ([]EndpointTransition, error) {
	if p.FailuresToOpen <= 0 {
		p = DefaultBreakerPolicy
	}
	now, err := txNow(ctx, tx)
	if err != nil {
		return nil, err
	}
	current, err := lockEndpoints(ctx, tx, failing)
	if err != nil {
		return nil, err
	}
	var out []EndpointTransition
	for _, s := range failing {
		next, change := p.Apply(current[s.ODSCode], s, now)
		t := EndpointTransition{Health: next, Change: change}
		if change == EndpointOpened || change == EndpointRecovered {
			if t.Notified, err = notifyEndpoint(ctx, tx, t, now, p); err != nil {
				return nil, err
			}
			if t.Notified && change == EndpointOpened {
				t.Health.NotifiedAt = &now
			}
		}
		if err := saveEndpoint(ctx, tx, t.Health); err != nil {
			return nil, err
		}
		if change != "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// notifyRecovered announces endpoints whose circuit a batch of successes
// closed (endpointsSucceededStmt), in a transaction of its own.
func (db *DB) notifyRecovered(ctx context.Context, recovered []EndpointHealth, p BreakerPolicy) ([]EndpointTransition, error) {
	if p.FailuresToOpen <= 0 {
		p = DefaultBreakerPolicy
	}
	var out []EndpointTransition
	err := db.InTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		now, err := txNow(ctx, tx)
		if err != nil {
			return err
		}
		for _, h := range recovered {
			t := EndpointTransition{Health: h, Change: EndpointRecovered}
			if t.Notified, err = notifyEndpoint(ctx, tx, t, now, p); err != nil {
				return err
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

func txNow(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	var now time.Time
	err := tx.QueryRow(ctx, `SELECT now()`).Scan(&now)
	return now, err
}

// lockEndpoints creates missing health rows and locks those of summaries.
func lockEndpoints(ctx context.Context, tx pgx.Tx, ss []EndpointSummary) (map[string]EndpointHealth, error) {
	codes := make([]string, len(ss))
	for i, s := range ss {
		codes[i] = s.ODSCode
	}
	if _, err := tx.Exec(ctx, `INSERT INTO endpoint_health (ods_code)
		SELECT c FROM unnest($1::text[]) c WHERE EXISTS (SELECT 1 FROM practices WHERE ods_code = c)
		ON CONFLICT (ods_code) DO NOTHING`, codes); err != nil {
		return nil, fmt.Errorf("create endpoint health: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT `+healthColumns+` FROM endpoint_health WHERE ods_code = ANY($1)
		ORDER BY ods_code FOR UPDATE`, codes)
	if err != nil {
		return nil, fmt.Errorf("lock endpoint health: %w", err)
	}
	defer rows.Close()
	out := map[string]EndpointHealth{}
	for rows.Next() {
		h, err := scanHealth(rows)
		if err != nil {
			return nil, fmt.Errorf("scan endpoint health: %w", err)
		}
		out[h.ODSCode] = h
	}
	return out, rows.Err()
}

func saveEndpoint(ctx context.Context, tx pgx.Tx, h EndpointHealth) error {
	if h.ODSCode == "" {
		return nil // the practice row is gone: nothing to keep
	}
	_, err := tx.Exec(ctx, `UPDATE endpoint_health SET state = $2, consecutive_failures = $3, opened_at = $4,
			next_probe_at = $5, probe_backoff_ms = NULLIF($6, 0), last_status = NULLIF($7, 0), last_error = NULLIF($8, ''),
			last_failure_at = $9, last_success_at = $10, notified_at = $11, updated_at = now()
		WHERE ods_code = $1`,
		h.ODSCode, h.State, h.ConsecutiveFailures, h.OpenedAt, h.NextProbeAt, h.ProbeBackoff.Milliseconds(),
		h.LastStatus, h.LastError, h.LastFailureAt, h.LastSuccessAt, h.NotifiedAt)
	if err != nil {
		return fmt.Errorf("save endpoint health of %s: %w", h.ODSCode, err)
	}
	return nil
}

// notifyEndpoint tells the federation admins and the practice itself (in
// its feed: its webhook is the failing channel) that its circuit opened,
// at most once per p.NotifyEvery, or that it recovered after an opening
// they were told about. It reports whether it created notifications.
func notifyEndpoint(ctx context.Context, tx pgx.Tx, t EndpointTransition, now time.Time, p BreakerPolicy) (bool, error) {
	h := t.Health
	kind := NotifyEndpointFailing
	switch t.Change {
	case EndpointOpened:
		if h.NotifiedAt != nil && now.Sub(*h.NotifiedAt) < p.NotifyEvery {
			return false, nil
		}
	case EndpointRecovered:
		if h.NotifiedAt == nil || h.OpenedAt == nil || h.NotifiedAt.Before(*h.OpenedAt) {
			return false, nil
		}
		kind = NotifyEndpointRecovered
	default:
		return false, nil
	}
	data := map[string]any{"ods_code": h.ODSCode, "consecutive_failures": h.ConsecutiveFailures,
		"last_status": h.LastStatus, "last_error": h.LastError}
	if h.OpenedAt != nil {
		data["opened_at"] = h.OpenedAt.UTC().Format(time.RFC3339)
	}
	if h.NextProbeAt != nil {
		data["next_probe_at"] = h.NextProbeAt.UTC().Format(time.RFC3339)
	}
	episode := now.UTC().Format(time.RFC3339Nano)
	if h.OpenedAt != nil {
		episode = h.OpenedAt.UTC().Format(time.RFC3339Nano)
	}
	for _, n := range []Notification{
		{Audience: AudienceAdmin, SubjectODS: h.ODSCode},
		{Audience: AudiencePractice, RecipientODS: h.ODSCode, SubjectODS: h.ODSCode, FeedOnly: true},
	} {
		n.Kind, n.Data = kind, data
		n.CoalesceKey = kind + ":" + h.ODSCode + ":" + n.Audience + ":" + episode
		if _, err := CreateNotificationTx(ctx, tx, n); err != nil {
			return false, err
		}
	}
	return true, nil
}

// EndpointStatus is an endpoint's circuit with its queue: what the API,
// the dashboard and /metrics show.
type EndpointStatus struct {
	EndpointHealth
	InFlight int // live claims
	Queued   int // open deliveries waiting (not in flight)
	// OldestQueued is the creation time of its oldest waiting delivery.
	OldestQueued *time.Time
}

// EndpointStatuses returns every practice's circuit and queue, by ODS code
// (practices with no history are closed with zero counts).
func (db *DB) EndpointStatuses(ctx context.Context) (map[string]EndpointStatus, error) {
	rows, err := db.Pool.Query(ctx, `SELECT p.ods_code, COALESCE(h.state, 'closed'), COALESCE(h.consecutive_failures, 0),
			h.opened_at, h.next_probe_at, COALESCE(h.probe_backoff_ms, 0), COALESCE(h.last_status, 0),
			COALESCE(h.last_error, ''), h.last_failure_at, h.last_success_at, h.notified_at,
			COALESCE(q.in_flight, 0), COALESCE(q.queued, 0), q.oldest
		FROM practices p
		LEFT JOIN endpoint_health h ON h.ods_code = p.ods_code
		LEFT JOIN (SELECT endpoint,
				count(*) FILTER (WHERE claim_token IS NOT NULL AND due_at > now())::int AS in_flight,
				count(*) FILTER (WHERE claim_token IS NULL OR due_at <= now())::int AS queued,
				min(created_at) FILTER (WHERE claim_token IS NULL OR due_at <= now()) AS oldest
			FROM delivery_queue GROUP BY endpoint) q ON q.endpoint = p.ods_code
		ORDER BY p.ods_code`)
	if err != nil {
		return nil, translate(fmt.Errorf("endpoint statuses: %w", err))
	}
	defer rows.Close()
	out := map[string]EndpointStatus{}
	for rows.Next() {
		var s EndpointStatus
		var backoffMS int64
		if err := rows.Scan(&s.ODSCode, &s.State, &s.ConsecutiveFailures, &s.OpenedAt, &s.NextProbeAt, &backoffMS,
			&s.LastStatus, &s.LastError, &s.LastFailureAt, &s.LastSuccessAt, &s.NotifiedAt,
			&s.InFlight, &s.Queued, &s.OldestQueued); err != nil {
			return nil, translate(fmt.Errorf("scan endpoint status: %w", err))
		}
		s.ProbeBackoff = time.Duration(backoffMS) * time.Millisecond
		out[s.ODSCode] = s
	}
	return out, translate(rows.Err())
}
