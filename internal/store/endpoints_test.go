package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

func TestBreakerPolicyApply(t *testing.T) {
	t.Parallel()
	p := store.BreakerPolicy{FailuresToOpen: 3, ProbeMin: 10 * time.Second, ProbeMax: 35 * time.Second, NotifyEvery: time.Hour}
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	closed := store.EndpointHealth{ODSCode: odsB, State: store.CircuitClosed}
	open := store.EndpointHealth{ODSCode: odsB, State: store.CircuitOpen, ConsecutiveFailures: 3, OpenedAt: at(-time.Minute),
		NextProbeAt: at(0), ProbeBackoff: 20 * time.Second}
	tests := []struct {
		name       string
		h          store.EndpointHealth
		s          store.EndpointSummary
		wantState  string
		wantFails  int
		wantProbe  *time.Time
		wantChange string
	}{
		{"failures below the threshold", closed, store.EndpointSummary{TrailingFailures: 2}, "closed", 2, nil, ""},
		{"reaching the threshold opens", store.EndpointHealth{ODSCode: odsB, State: "closed", ConsecutiveFailures: 2},
			store.EndpointSummary{TrailingFailures: 1}, "open", 3, at(10 * time.Second), store.EndpointOpened},
		{"a success resets the count", store.EndpointHealth{ODSCode: odsB, State: "closed", ConsecutiveFailures: 2},
			store.EndpointSummary{Successes: 1, TrailingFailures: 1}, "closed", 1, nil, ""},
		{"a failed probe doubles the wait", open, store.EndpointSummary{TrailingFailures: 1, ProbeFailed: true},
			"open", 4, at(35 * time.Second), store.EndpointProbeFailed},
		{"a straggler failing changes no probe time", open, store.EndpointSummary{TrailingFailures: 1},
			"open", 4, at(0), ""},
		{"one success closes", open, store.EndpointSummary{Successes: 1}, "closed", 0, nil, store.EndpointRecovered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, change := p.Apply(tc.h, tc.s, now)
			if diff := cmp.Diff([]any{tc.wantState, tc.wantFails, tc.wantProbe, tc.wantChange},
				[]any{got.State, got.ConsecutiveFailures, got.NextProbeAt, change}); diff != "" {
				t.Fatalf("state, failures, next probe, change (-want +got):\n%s", diff)
			}
		})
	}
}

// Through the store: consecutive failures open B's circuit; the admins and
// B (in its feed) are told once; claims then skip B until its probe time,
// when exactly one probe goes; the probe's success closes the circuit and
// says so.
func TestCircuitOpensDefersProbesAndCloses(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	policy := store.BreakerPolicy{FailuresToOpen: 3, ProbeMin: 500 * time.Millisecond, ProbeMax: time.Second, NotifyEvery: time.Hour}
	opt := store.RecordOptions{Breaker: policy}
	for range 6 {
		testdb.Task(t, db, odsA, odsB)
	}
	toC := testdb.Task(t, db, odsA, odsC)
	items := claim(t, db, 10, 3, time.Minute)
	var outs []store.Outcome
	for _, it := range items {
		if it.Endpoint != odsB {
			continue
		}
		outs = append(outs, store.Outcome{Kind: it.Kind, ID: it.ID, Endpoint: it.Endpoint, Token: it.Token, Result: store.Retry,
			Tried: true, Status: 500, Error: "webhook answered 500", RetryAt: time.Now()})
	}
	rep, err := db.RecordOutcomes(ctx, outs, opt)
	if err != nil || len(rep.Transitions) != 1 || rep.Transitions[0].Change != store.EndpointOpened || !rep.Transitions[0].Notified {
		t.Fatalf("3 failures: %+v %v; want the circuit opened and notified", rep.Transitions, err)
	}
	notes := func() []string {
		rows, err := db.Pool.Query(ctx, `SELECT kind || ':' || audience || ':' || COALESCE(recipient_ods, '-') || ':' || state
			FROM notifications WHERE kind LIKE 'endpoint.%' ORDER BY created_at, audience`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			out = append(out, s)
		}
		return out
	}
	if diff := cmp.Diff([]string{"endpoint.failing:admin:-:delivered", "endpoint.failing:practice:" + odsB + ":delivered"}, notes()); diff != "" {
		t.Fatalf("failing notifications (-want +got):\n%s", diff)
	}
	// Open: B's due tasks are deferred (not claimed, not counted); C's
	// task went in the first claim and is in flight.
	if !containsID(items, toC) {
		t.Fatalf("first claim %v lacks the task to C", ids(items))
	}
	if got := claim(t, db, 10, 3, time.Minute); len(got) != 0 {
		t.Fatalf("claims while open: %v", ids(got))
	}
	time.Sleep(600 * time.Millisecond)
	probe := claim(t, db, 10, 3, time.Minute)
	if len(probe) != 1 || !probe[0].Probe || probe[0].Endpoint != odsB {
		t.Fatalf("at the probe time: %+v, want one probe to B", probe)
	}
	if more := claim(t, db, 10, 3, time.Minute); len(more) != 0 {
		t.Fatalf("a second probe went out: %v", ids(more))
	}
	rep, err = db.RecordOutcomes(ctx, []store.Outcome{{Kind: store.KindTask, ID: probe[0].ID, Endpoint: odsB, Token: probe[0].Token,
		Result: store.Delivered, Channel: "webhook", Tried: true, Status: 200, At: time.Now(), Probe: true}}, opt)
	if err != nil || len(rep.Transitions) != 1 || rep.Transitions[0].Change != store.EndpointRecovered {
		t.Fatalf("probe success: %+v %v", rep.Transitions, err)
	}
	st, err := db.EndpointStatuses(ctx)
	if err != nil || st[odsB].State != store.CircuitClosed || st[odsB].ConsecutiveFailures != 0 {
		t.Fatalf("after the probe: %+v %v", st[odsB], err)
	}
	toB := 0
	for _, it := range claim(t, db, 10, 3, time.Minute) {
		if it.Endpoint == odsB {
			toB++
		}
	}
	if toB != 3 {
		t.Fatalf("closed again: claimed %d for B, want its cap of 3", toB)
	}
	if diff := cmp.Diff([]string{"endpoint.failing:admin:-:delivered", "endpoint.failing:practice:" + odsB + ":delivered",
		"endpoint.recovered:admin:-:delivered", "endpoint.recovered:practice:" + odsB + ":delivered"}, notes()); diff != "" {
		t.Fatalf("notifications (-want +got):\n%s", diff)
	}
}

func containsID(items []store.ClaimedItem, id uuid.UUID) bool {
	for _, it := range items {
		if it.ID == id {
			return true
		}
	}
	return false
}
