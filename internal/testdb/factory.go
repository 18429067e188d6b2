package testdb

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
)

// Tests build rows through this factory, through the store's own write
// paths, rather than with INSERTs of their own: a schema change then
// touches one place.

// Practice is an active practice with a generated name, ASID and endpoint.
func Practice(ods string) practice.Practice {
	return practice.Practice{ODSCode: ods, Name: "Practice " + ods, ASID: "918999198993", Active: true,
		Endpoint: "https://p.example/" + ods + "/STU3/1/gpconnect"}
}

// Federation imports active practices with these ODS codes (and
// deactivates any other).
func Federation(t testing.TB, db *store.DB, codes ...string) {
	t.Helper()
	ps := make([]practice.Practice, len(codes))
	for i, c := range codes {
		ps[i] = Practice(c)
	}
	if _, err := db.ImportPractices(context.Background(), ps, false); err != nil {
		t.Fatalf("testdb: import practices: %v", err)
	}
}

// NumberedFederation imports n active practices coded prefix followed by
// a five-digit number from 00000 (and deactivates any other), and returns
// their codes in that order.
func NumberedFederation(t testing.TB, db *store.DB, prefix string, n int) []string {
	t.Helper()
	codes := make([]string, n)
	for i := range codes {
		codes[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	Federation(t, db, codes...)
	return codes
}

// TaskSpec returns a routine information task from sender to recipient
// that expires in an hour; tests change what they need before Accept.
func TaskSpec(sender, recipient string) store.Task {
	return store.Task{ID: uuid.New(), SenderODS: sender, RecipientODS: recipient, PatientNHSNumber: "9434765919",
		Type: "information", Priority: "routine", Subject: "Please review bloods", Body: "Seen at the hub today.",
		RequestHash: []byte{1}, ExpiresAt: time.Now().Add(time.Hour)}
}

// Accept stores t as the API does (store.CreateTasks) and returns its id.
func Accept(t testing.TB, db *store.DB, task store.Task) uuid.UUID {
	t.Helper()
	got, created, err := db.CreateTask(context.Background(), task)
	if err != nil || !created {
		t.Fatalf("testdb: accept task: created=%v err=%v", created, err)
	}
	return got.ID
}

// Task accepts a routine task from sender to recipient and returns its id.
func Task(t testing.TB, db *store.DB, sender, recipient string) uuid.UUID {
	t.Helper()
	return Accept(t, db, TaskSpec(sender, recipient))
}

// SetWebhook gives a practice a webhook channel.
func SetWebhook(t testing.TB, db *store.DB, ods, url, secret string) {
	t.Helper()
	if err := db.SetWebhook(context.Background(), ods, url, secret, 0); err != nil {
		t.Fatalf("testdb: set webhook of %s: %v", ods, err)
	}
}

// Exec runs one statement in a test database (for states a test must set
// up that no write path produces, such as a task that is already old).
func Exec(t testing.TB, db *store.DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("testdb: %s: %v", sql, err)
	}
}

// Count runs a count query.
func Count(t testing.TB, db *store.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("testdb: %s: %v", sql, fmt.Errorf("%w", err))
	}
	return n
}
