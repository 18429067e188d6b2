package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// Finished tasks past the cutoff lose their patient data, idempotency key
// and request hash, get redacted_at and a 'redacted' audit event; open
// work, recent tasks and already-redacted ones are left alone, and the
// database refuses a redacted row that still holds patient data.
func TestRedactFinishedTasks(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	now := time.Now()
	type row struct {
		state    string
		finished time.Duration // ago; 0 = not finished
	}
	rows := map[string]row{
		"old acknowledged":   {"acknowledged", 40 * 24 * time.Hour},
		"old failed":         {"failed", 31 * 24 * time.Hour},
		"old cancelled":      {"cancelled", 90 * 24 * time.Hour},
		"recent ack":         {"acknowledged", 29 * 24 * time.Hour},
		"delivered, no ack":  {"delivered", 0},
		"accepted":           {"accepted", 0},
		"old ack, 2nd batch": {"acknowledged", 35 * 24 * time.Hour},
	}
	ids := map[string]uuid.UUID{}
	for name, r := range rows {
		id := uuid.New()
		var finished *time.Time
		if r.finished > 0 {
			f := now.Add(-r.finished)
			finished = &f
		}
		_, err := db.Pool.Exec(ctx, `INSERT INTO tasks (id, sender_ods, recipient_ods, patient_nhs_number, type, priority,
			subject, body, state, idempotency_key, request_hash, created_at, finished_at, expires_at)
			VALUES ($1, 'A20047', 'B82001', '9434765919', 'information', 'routine', 'Bloods', 'Please review',
			$2, $3, '\x01', now() - interval '100 days', $4, now() + interval '1 day')`, id, r.state, "key-"+name, finished)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	cutoff := now.Add(-30 * 24 * time.Hour)
	n, err := db.RedactFinishedTasks(ctx, cutoff, 3)
	if err != nil || n != 3 {
		t.Fatalf("first batch: %d, %v; want 3 (the limit)", n, err)
	}
	n, err = db.RedactFinishedTasks(ctx, cutoff, 3)
	if err != nil || n != 1 {
		t.Fatalf("second batch: %d, %v; want the 1 left", n, err)
	}
	if n, err = db.RedactFinishedTasks(ctx, cutoff, 3); err != nil || n != 0 {
		t.Fatalf("third batch: %d, %v; want 0 (idempotent)", n, err)
	}

	for name, id := range ids {
		var nhs, key *string
		var subject, body, state string
		var hash []byte
		var redacted *time.Time
		var events []string
		err := db.Pool.QueryRow(ctx, `SELECT patient_nhs_number, subject, body, state, idempotency_key, request_hash, redacted_at,
			ARRAY(SELECT action || ':' || actor || ':' || from_state || '>' || to_state FROM task_events WHERE task_id = $1 ORDER BY id)
			FROM tasks WHERE id = $1`, id).Scan(&nhs, &subject, &body, &state, &key, &hash, &redacted, &events)
		if err != nil {
			t.Fatal(err)
		}
		r := rows[name]
		want := r.finished > 30*24*time.Hour
		if got := redacted != nil; got != want {
			t.Errorf("%s: redacted %v, want %v", name, got, want)
			continue
		}
		if !want {
			if nhs == nil || *nhs != "9434765919" || subject != "Bloods" || body != "Please review" || key == nil || len(events) != 0 {
				t.Errorf("%s: changed though not due: nhs %v subject %q body %q key %v events %v", name, nhs, subject, body, key, events)
			}
			continue
		}
		if nhs != nil || subject != "" || body != "" || key != nil || hash != nil || state != r.state {
			t.Errorf("%s: after redaction nhs %v subject %q body %q key %v hash %x state %s", name, nhs, subject, body, key, hash, state)
		}
		if diff := cmp.Diff([]string{"redacted:system:" + r.state + ">" + r.state}, events); diff != "" {
			t.Errorf("%s: audit trail (-want +got):\n%s", name, diff)
		}
	}

	// The schema keeps redaction honest: no half-redacted or open redacted rows.
	for _, tc := range []struct {
		why, sql string
		id       uuid.UUID
	}{
		{"marked but data kept", `UPDATE tasks SET redacted_at = now() WHERE id = $1`, ids["recent ack"]},
		{"data gone but not marked", `UPDATE tasks SET patient_nhs_number = NULL WHERE id = $1`, ids["recent ack"]},
		{"open task redacted", `UPDATE tasks SET redacted_at = now(), patient_nhs_number = NULL, subject = '', body = ''
			WHERE id = $1`, ids["delivered, no ack"]},
	} {
		if _, err := db.Pool.Exec(ctx, tc.sql, tc.id); err == nil {
			t.Errorf("%s: accepted, want a check violation", tc.why)
		}
	}
}

// History older than the cutoff goes, in batches: slot changes, and
// delivered or failed notifications; pending notifications and anything
// newer stay.
func TestPruneHistory(t *testing.T) {
	t.Parallel()
	db := deliveryDB(t)
	ctx := context.Background()
	for _, ago := range []string{"100 days", "95 days", "91 days", "10 days"} {
		if _, err := db.Pool.Exec(ctx, `INSERT INTO slot_changes (ods_code, slot_id, change, start_at, local_date,
			duration_minutes, changed_at) VALUES ('A20047', 's', 'added', now(), current_date, 10, now() - $1::interval)`, ago); err != nil {
			t.Fatal(err)
		}
	}
	notes := map[string]struct {
		state, ago string
		kept       bool
	}{
		"old delivered": {"delivered", "100 days", false},
		"old failed":    {"failed", "92 days", false},
		"old pending":   {"pending", "", true},
		"new delivered": {"delivered", "5 days", true},
	}
	for name, n := range notes {
		var finished any
		if n.ago != "" {
			finished = n.ago
		}
		if _, err := db.Pool.Exec(ctx, `INSERT INTO notifications (id, recipient_ods, kind, state, coalesce_key, created_at,
			finished_at, expires_at) VALUES ($1, 'A20047', 'sync.failed', $2, $3, now() - interval '200 days',
			now() - $4::interval, now() + interval '1 day')`, uuid.New(), n.state, name, finished); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := time.Now().Add(-90 * 24 * time.Hour)
	var changes, deleted []int
	for range 3 {
		c, n, err := db.PruneHistory(ctx, cutoff, 2)
		if err != nil {
			t.Fatal(err)
		}
		changes, deleted = append(changes, c), append(deleted, n)
	}
	if diff := cmp.Diff([]int{2, 1, 0}, changes); diff != "" {
		t.Errorf("slot changes deleted per batch of 2 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{2, 0, 0}, deleted); diff != "" {
		t.Errorf("notifications deleted per batch of 2 (-want +got):\n%s", diff)
	}
	var left []string
	rows, err := db.Pool.Query(ctx, `SELECT coalesce_key FROM notifications ORDER BY coalesce_key`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		left = append(left, k)
	}
	if diff := cmp.Diff([]string{"new delivered", "old pending"}, left); diff != "" {
		t.Errorf("notifications left (-want +got):\n%s", diff)
	}
	var changesLeft int
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM slot_changes`).Scan(&changesLeft); err != nil || changesLeft != 1 {
		t.Errorf("slot changes left: %d, %v; want the 10-day-old one", changesLeft, err)
	}
}
