package jobs_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/gpfed/gpfed/internal/practice"
	"github.com/gpfed/gpfed/internal/store"
	"github.com/gpfed/gpfed/internal/testdb"
)

type deliveryFixture struct {
	db *store.DB
}

// newDeliveryFixture: practices A and B (low-capacity threshold 100
// minutes each) and C.
func newDeliveryFixture(t *testing.T) *deliveryFixture {
	t.Helper()
	db, _ := testdb.New(t)
	f := &deliveryFixture{db: db}
	low := 100
	a, b, c := testdb.Practice("A20047"), testdb.Practice("B82001"), testdb.Practice("C81002")
	a.LowCapacityThresholdMinutes, b.LowCapacityThresholdMinutes = &low, &low
	if _, err := db.ImportPractices(context.Background(), []practice.Practice{a, b, c}, false); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *deliveryFixture) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	testdb.Exec(t, f.db, sql, args...)
}

// task accepts an A -> B task expiring expiresIn from now; extra is SQL
// assignments applied afterwards (e.g. "state = 'delivered'"), for states
// the test needs as given. A task no longer accepted loses its queue row,
// as the engine would have removed it.
func (f *deliveryFixture) task(t *testing.T, expiresIn string, extra string) uuid.UUID {
	t.Helper()
	id := testdb.Task(t, f.db, "A20047", "B82001")
	f.exec(t, `UPDATE tasks SET expires_at = now() + $2::interval WHERE id = $1`, id, expiresIn)
	if extra != "" {
		f.exec(t, `UPDATE tasks SET `+extra+` WHERE id = $1`, id)
		f.exec(t, `DELETE FROM delivery_queue q USING tasks t WHERE q.ref_id = t.id AND t.id = $1 AND t.state <> 'accepted'`, id)
	}
	return id
}

func (f *deliveryFixture) notification(t *testing.T, kind, key string) uuid.UUID {
	t.Helper()
	id := uuid.New()
	err := f.db.InTx(context.Background(), func(tx pgx.Tx) error {
		_, err := store.CreateNotificationTx(context.Background(), tx, store.Notification{ID: id, RecipientODS: "B82001",
			Kind: kind, SubjectODS: "B82001", CoalesceKey: key})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *deliveryFixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	return testdb.Count(t, f.db, sql, args...)
}
